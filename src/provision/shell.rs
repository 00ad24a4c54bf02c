//! The `shell` provisioner: the script is copied into the container and run with `/bin/sh`.
//! It cannot say what it changed, so idempotence rests on the filesystem comparison alone.

use std::path::Path;

use super::{
    infrastructure_cause, last_lines, Failure, Machine, Outcome, Output, ProvisionError,
    Provisioner, Request,
};
use crate::docker::{Engine, OutputStream};

/// Where the shell provisioner puts its script in the container.
pub const SCRIPT_PATH: &str = "/tmp/drydock-provision.sh";

/// Runs a script.
pub struct Shell<'a> {
    /// The script, relative to the request's root.
    pub script: &'a Path,
}

impl Provisioner for Shell<'_> {
    fn preflight(&self) -> Result<(), ProvisionError> {
        Ok(())
    }

    async fn provision(
        &self,
        engine: &Engine,
        request: &Request<'_>,
        output: &Output<'_>,
    ) -> Result<Outcome, ProvisionError> {
        let path = request.root.join(self.script);
        let content = tokio::fs::read(&path)
            .await
            .map_err(|e| ProvisionError::Io(format!("reading {}: {e}", path.display())))?;
        let tar = script_archive(&content)
            .map_err(|e| ProvisionError::Io(format!("packing {}: {e}", path.display())))?;
        // Output lines name their host when there are several.
        let several = request.machines.len() > 1;
        let runs = request.machines.iter().map(|machine| {
            let prefix = if several {
                format!("[{}] ", machine.host.name)
            } else {
                String::new()
            };
            self.run_on(engine, request, machine, tar.clone(), prefix, output)
        });
        let failures = futures_util::future::join_all(runs).await;
        let mut log = output.take_log();
        let mut outcome = Outcome::new(request.machines, String::new());
        for (host, (failure, rest)) in outcome.hosts.iter_mut().zip(failures) {
            log.push_str(&rest);
            if let Some(failure) = failure {
                host.status = failure.status();
                host.failure = Some(failure);
            }
        }
        outcome.log = log;
        if let Some(first) = outcome.hosts.iter().find_map(|h| h.failure.clone()) {
            outcome.status = first.status();
            outcome.failure = Some(first);
        }
        Ok(outcome)
    }
}

impl Shell<'_> {
    /// Runs the script on one machine; returns its failure, if any, and output left without a
    /// final newline.
    async fn run_on(
        &self,
        engine: &Engine,
        request: &Request<'_>,
        machine: &Machine,
        tar: Vec<u8>,
        prefix: String,
        output: &Output<'_>,
    ) -> (Option<Failure>, String) {
        let on_host = |failure: Failure| Failure {
            host: Some(machine.host.name.clone()),
            ..failure
        };
        if let Err(e) = engine.upload(&machine.container, "/tmp", tar).await {
            let message = format!("copying the script into the container failed: {e}");
            return (
                Some(on_host(Failure::infrastructure(message, "container"))),
                String::new(),
            );
        }
        let env: Vec<String> = request
            .env
            .iter()
            .map(|v| format!("{}={}", v.name, v.value))
            .collect();
        let mut pending = String::new();
        let mut kept = String::new();
        let result = engine
            .exec_streaming(
                &machine.container,
                &["/bin/sh", SCRIPT_PATH],
                &env,
                None,
                |_stream: OutputStream, bytes| {
                    pending.push_str(&String::from_utf8_lossy(bytes));
                    while let Some(end) = pending.find('\n') {
                        let line = output.line(&format!("{prefix}{}", &pending[..end]));
                        kept.push_str(&line);
                        kept.push('\n');
                        if !line.trim().is_empty() {
                            output.progress(&line);
                        }
                        pending.drain(..=end);
                    }
                },
            )
            .await;
        let rest = if pending.is_empty() {
            String::new()
        } else {
            output.mask(&format!("{prefix}{pending}"))
        };
        kept.push_str(&rest);
        let code = match result {
            Ok(code) => code,
            Err(e) => {
                let failure =
                    Failure::infrastructure(format!("running the script failed: {e}"), "container");
                return (Some(on_host(failure)), rest);
            }
        };
        if code == 0 {
            return (None, rest);
        }
        let failure = Failure {
            infrastructure: infrastructure_cause(&kept).map(String::from),
            ..Failure::code(format!(
                "{} exited with code {code}: {}",
                self.script.display(),
                last_lines(&kept, 5)
            ))
        };
        (Some(on_host(failure)), rest)
    }
}

/// A tar holding the script as `SCRIPT_PATH`'s file name, executable.
fn script_archive(content: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o755);
    header.set_mtime(0);
    let name = SCRIPT_PATH.trim_start_matches("/tmp/");
    builder.append_data(&mut header, name, content)?;
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_archive_holds_one_executable_file() {
        let tar = script_archive(b"echo hi\n").unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u32)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(entries, [("drydock-provision.sh".to_string(), 0o755)]);
    }
}
