//! The `shell` provisioner: the script is copied into the container and run with `/bin/sh`.
//! It cannot say what it changed, so idempotence rests on the filesystem comparison alone.

use std::path::Path;

use super::{
    infrastructure_cause, last_lines, Failure, Outcome, Output, ProvisionError, Provisioner,
    Request,
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
        if let Err(e) = engine.upload(request.container, "/tmp", tar).await {
            let message = format!("copying the script into the container failed: {e}");
            let failure = Failure::infrastructure(message, "container");
            return Ok(Outcome::failed(failure, Vec::new(), output.take_log()));
        }
        let env: Vec<String> = request
            .env
            .iter()
            .map(|v| format!("{}={}", v.name, v.value))
            .collect();
        let mut pending = String::new();
        let result = engine
            .exec_streaming(
                request.container,
                &["/bin/sh", SCRIPT_PATH],
                &env,
                None,
                |_stream: OutputStream, bytes| {
                    pending.push_str(&String::from_utf8_lossy(bytes));
                    while let Some(end) = pending.find('\n') {
                        let line = output.line(&pending[..end]);
                        if !line.trim().is_empty() {
                            output.progress(&line);
                        }
                        pending.drain(..=end);
                    }
                },
            )
            .await;
        let mut log = output.take_log();
        if !pending.is_empty() {
            log.push_str(&output.mask(&pending));
        }
        let code = match result {
            Ok(code) => code,
            Err(e) => {
                let failure =
                    Failure::infrastructure(format!("running the script failed: {e}"), "container");
                return Ok(Outcome::failed(failure, Vec::new(), log));
            }
        };
        if code == 0 {
            return Ok(Outcome::ok(None, Vec::new(), log));
        }
        let failure = Failure {
            task: None,
            message: format!(
                "{} exited with code {code}: {}",
                self.script.display(),
                last_lines(&log, 5)
            ),
            infrastructure: infrastructure_cause(&log).map(String::from),
        };
        Ok(Outcome::failed(failure, Vec::new(), log))
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
