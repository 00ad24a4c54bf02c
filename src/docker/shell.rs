//! A shell kept open in a container (see [`crate::session`]): one exec when it opens, none
//! for each script it runs.

use futures_util::StreamExt;

use super::{Engine, EngineError};
use crate::session::{Chunk, Session};

impl Engine {
    /// Opens a shell in `container`, reading commands from its input.
    pub async fn open_shell(&self, container: &str) -> Result<Session, EngineError> {
        use bollard::container::LogOutput;
        let (_, output, input) = self.attach(container, &["/bin/sh"], &[], true).await?;
        let output = output.filter_map(|item| async move {
            match item {
                Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                    Some(Ok(Chunk::Out(message.to_vec())))
                }
                Ok(LogOutput::StdErr { message }) => Some(Ok(Chunk::Err(message.to_vec()))),
                Ok(LogOutput::StdIn { .. }) => None,
                Err(e) => Some(Err(e.to_string())),
            }
        });
        Ok(Session::new(input, Box::pin(output), None))
    }
}
