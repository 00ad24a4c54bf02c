//! Reading a child process's stdout and stderr as one stream of lines, as they come.

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

/// Calls `on_line` with every line the child writes to stdout or stderr, in arrival order,
/// until both are closed. The caller waits for the child afterwards.
pub async fn for_each_line(child: &mut Child, mut on_line: impl FnMut(String)) {
    let stdout = child.stdout.take().map(|s| BufReader::new(s).lines());
    let stderr = child.stderr.take().map(|s| BufReader::new(s).lines());
    let (Some(mut out), Some(mut err)) = (stdout, stderr) else {
        return;
    };
    let (mut out_done, mut err_done) = (false, false);
    while !(out_done && err_done) {
        let line = tokio::select! {
            l = out.next_line(), if !out_done => l.ok().flatten().or_else(|| { out_done = true; None }),
            l = err.next_line(), if !err_done => l.ok().flatten().or_else(|| { err_done = true; None }),
        };
        if let Some(line) = line {
            on_line(line);
        }
    }
}
