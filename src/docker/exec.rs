//! Commands inside a running container, whole or streamed.

use futures_util::StreamExt;

use super::*;

impl Engine {
    /// Runs a command in the container and collects its output.
    pub async fn exec(
        &self,
        container: &str,
        cmd: &[&str],
        env: &[String],
        stdin: Option<Vec<u8>>,
    ) -> Result<ExecOutput, EngineError> {
        let mut out = ExecOutput::default();
        let code = self
            .exec_streaming(container, cmd, env, stdin, |stream, bytes| match stream {
                OutputStream::Stdout => out.stdout.extend_from_slice(bytes),
                OutputStream::Stderr => out.stderr.extend_from_slice(bytes),
            })
            .await?;
        out.exit_code = code;
        not_started(container, cmd, out)
    }

    /// Runs a command in the container and collects at most `cap` bytes of its stdout and of
    /// its stderr: past that, the output is cut (`truncated`) and the exec is left (its
    /// output connection closed, so the command's next write fails).
    pub async fn exec_capped(
        &self,
        container: &str,
        cmd: &[&str],
        cap: usize,
    ) -> Result<ExecOutput, EngineError> {
        use bollard::container::LogOutput;
        let operation = || {
            format!(
                "running `{}` in {}",
                cmd.first().unwrap_or(&""),
                crate::ids::short_id(container)
            )
        };
        let (id, mut output, input) = self.attach(container, cmd, &[], false).await?;
        drop(input);
        let mut out = ExecOutput::default();
        while let Some(item) = output.next().await {
            match item.map_err(|e| EngineError::op(operation(), e))? {
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    out.stdout.extend_from_slice(&message)
                }
                LogOutput::StdErr { message } => out.stderr.extend_from_slice(&message),
                LogOutput::StdIn { .. } => {}
            }
            if out.stdout.len() > cap || out.stderr.len() > cap {
                out.stdout.truncate(cap);
                out.stderr.truncate(cap);
                out.truncated = true;
                out.exit_code = -1;
                return Ok(out);
            }
        }
        let inspected = self
            .docker
            .inspect_exec(&id)
            .await
            .map_err(|e| EngineError::op(operation(), e))?;
        out.exit_code = inspected.exit_code.unwrap_or(-1);
        not_started(container, cmd, out)
    }

    /// Runs a command in the container, passing output chunks to `on_output` as they come.
    pub async fn exec_streaming(
        &self,
        container: &str,
        cmd: &[&str],
        env: &[String],
        stdin: Option<Vec<u8>>,
        mut on_output: impl FnMut(OutputStream, &[u8]),
    ) -> Result<i64, EngineError> {
        use bollard::container::LogOutput;
        use tokio::io::AsyncWriteExt;

        let operation = || {
            format!(
                "running `{}` in {}",
                cmd.join(" "),
                crate::ids::short_id(container)
            )
        };
        let (id, mut output, mut input) = self.attach(container, cmd, env, stdin.is_some()).await?;
        if let Some(data) = stdin {
            let written = async {
                input.write_all(&data).await?;
                input.shutdown().await
            }
            .await;
            written.map_err(|e| EngineError::Operation {
                operation: operation(),
                reason: format!("writing its input: {e}"),
            })?;
        }
        drop(input);
        while let Some(item) = output.next().await {
            match item.map_err(|e| EngineError::op(operation(), e))? {
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    on_output(OutputStream::Stdout, &message)
                }
                LogOutput::StdErr { message } => on_output(OutputStream::Stderr, &message),
                LogOutput::StdIn { .. } => {}
            }
        }
        let inspected = self
            .docker
            .inspect_exec(&id)
            .await
            .map_err(|e| EngineError::op(operation(), e))?;
        Ok(inspected.exit_code.unwrap_or(-1))
    }

    /// Starts `cmd` in `container` with its output (and, with `stdin`, its input) attached:
    /// the exec's id and both ends.
    pub(super) async fn attach(
        &self,
        container: &str,
        cmd: &[&str],
        env: &[String],
        stdin: bool,
    ) -> Result<(String, Attached, Input), EngineError> {
        use bollard::exec::{CreateExecOptions, StartExecResults};
        let operation = || {
            format!(
                "running `{}` in {}",
                cmd.join(" "),
                crate::ids::short_id(container)
            )
        };
        let options = CreateExecOptions {
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            env: Some(env.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            attach_stdin: Some(stdin),
            ..Default::default()
        };
        let created = self
            .docker
            .create_exec(container, options)
            .await
            .map_err(|e| EngineError::op(operation(), e))?;
        match self
            .docker
            .start_exec(&created.id, None)
            .await
            .map_err(|e| EngineError::op(operation(), e))?
        {
            StartExecResults::Attached { output, input } => Ok((created.id, output, input)),
            StartExecResults::Detached => Err(EngineError::Operation {
                operation: operation(),
                reason: "the engine did not attach to the command".into(),
            }),
        }
    }
}

/// The runtime reports a command it could not start as output and exit 126/127: that is an
/// engine failure, not the command's answer.
fn not_started(container: &str, cmd: &[&str], out: ExecOutput) -> Result<ExecOutput, EngineError> {
    if matches!(out.exit_code, 126 | 127) {
        let said = String::from_utf8_lossy(&out.stdout);
        if let Some(line) = said.lines().find(|l| l.contains("OCI runtime exec failed")) {
            return Err(EngineError::Operation {
                operation: format!(
                    "running `{}` in {}",
                    cmd.first().unwrap_or(&""),
                    crate::ids::short_id(container)
                ),
                reason: line.trim().to_string(),
            });
        }
    }
    Ok(out)
}

/// An attached exec's output.
pub(super) type Attached = std::pin::Pin<
    Box<
        dyn futures_util::Stream<
                Item = Result<bollard::container::LogOutput, bollard::errors::Error>,
            > + Send,
    >,
>;

/// An attached exec's input.
pub(super) type Input = std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>;
