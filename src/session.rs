//! A shell kept open somewhere — in a container, over ssh — that runs scripts written to its
//! input and answers with their output up to a marker and their exit status. Starting a
//! process for every script costs more than the script (a runc run in a container, a
//! handshake over ssh); a monitor asking the same targets every round keeps one shell each.

use std::pin::Pin;

use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// A piece of the shell's output.
#[derive(Debug)]
pub enum Chunk {
    /// Written to stdout.
    Out(Vec<u8>),
    /// Written to stderr.
    Err(Vec<u8>),
}

/// What a script printed and how it ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ran {
    /// Its exit status.
    pub exit_code: i64,
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
    /// Whether it printed more than the cap it ran with: the output is cut there, and the
    /// session is left mid-output (the caller drops it).
    pub truncated: bool,
}

/// An open `/bin/sh` reading commands from its input.
pub struct Session {
    input: Pin<Box<dyn AsyncWrite + Send>>,
    output: Pin<Box<dyn Stream<Item = Result<Chunk, String>> + Send>>,
    runs: u64,
    /// False while a run is under way: a run cut short leaves the shell unusable.
    clean: bool,
    /// The local process behind it, when there is one (ssh); killed with the session.
    _child: Option<tokio::process::Child>,
}

impl Session {
    /// A session over `input` and `output`, owning `child` when a local process carries it.
    pub fn new(
        input: Pin<Box<dyn AsyncWrite + Send>>,
        output: Pin<Box<dyn Stream<Item = Result<Chunk, String>> + Send>>,
        child: Option<tokio::process::Child>,
    ) -> Session {
        Session {
            input,
            output,
            runs: 0,
            clean: true,
            _child: child,
        }
    }

    /// A shell run by `command` (e.g. `ssh host /bin/sh`), its stdout and stderr merged.
    pub fn spawn(mut command: tokio::process::Command) -> Result<Session, String> {
        use std::process::Stdio;
        use tokio_util::io::ReaderStream;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the shell: {e}"))?;
        let (Some(input), Some(out), Some(err)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err("the shell has no pipes".into());
        };
        let out = ReaderStream::new(out)
            .map(|r| r.map(|b| Chunk::Out(b.to_vec())).map_err(|e| e.to_string()));
        let err = ReaderStream::new(err)
            .map(|r| r.map(|b| Chunk::Err(b.to_vec())).map_err(|e| e.to_string()));
        Ok(Session::new(
            Box::pin(input),
            Box::pin(futures_util::stream::select(out, err)),
            Some(child),
        ))
    }

    /// Runs `script` with positional parameters `args` in a subshell (so that its `exit` ends
    /// only itself, and it cannot read the session's input). An `Err` means the shell is gone
    /// or garbled: open another.
    pub async fn run(&mut self, script: &str, args: &[&str], cap: usize) -> Result<Ran, String> {
        if !self.clean {
            return Err("an earlier run was cut short".into());
        }
        self.clean = false;
        self.runs += 1;
        let marker = format!(
            "@@drydock-session-{}-{:x}",
            self.runs,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let quoted: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
        let set = if quoted.is_empty() {
            String::new()
        } else {
            format!("set -- {}\n", quoted.join(" "))
        };
        let text =
            format!("( {set}{script}\n) </dev/null\nprintf '\\n%s %s\\n' '{marker}' \"$?\"\n");
        self.input
            .write_all(text.as_bytes())
            .await
            .map_err(|e| format!("writing to the shell: {e}"))?;
        self.input
            .flush()
            .await
            .map_err(|e| format!("writing to the shell: {e}"))?;
        let mut ran = Ran::default();
        let end = format!("\n{marker} ");
        // Only what arrived since the last look (and a marker's length before it) is searched.
        let mut searched: usize = 0;
        let mut found = None;
        loop {
            if found.is_none() {
                let from = searched.saturating_sub(end.len());
                found = rfind(&ran.stdout[from..], end.as_bytes()).map(|i| i + from);
                searched = ran.stdout.len();
            }
            if let Some(at) = found {
                let tail = String::from_utf8_lossy(&ran.stdout[at + end.len()..]).to_string();
                if let Some(code) = tail.strip_suffix('\n') {
                    ran.exit_code = code.trim().parse().unwrap_or(-1);
                    ran.stdout.truncate(at);
                    self.clean = true;
                    return Ok(ran);
                }
            }
            match self.output.next().await {
                Some(Ok(Chunk::Out(bytes))) => ran.stdout.extend_from_slice(&bytes),
                Some(Ok(Chunk::Err(bytes))) => ran.stderr.extend_from_slice(&bytes),
                Some(Err(e)) => return Err(format!("reading from the shell: {e}")),
                None => return Err("the shell ended".into()),
            }
            // The marker and the exit status follow the output: room for them past the cap.
            if ran.stdout.len() > cap + end.len() + 32 || ran.stderr.len() > cap {
                ran.stdout.truncate(cap);
                ran.stderr.truncate(cap);
                ran.truncated = true;
                ran.exit_code = -1;
                return Ok(ran);
            }
        }
    }
}

/// `text` as one word of a POSIX shell command line.
pub fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_the_remote_shell() {
        assert_eq!(shell_quote("/bin/sh"), "/bin/sh");
        assert_eq!(shell_quote("echo 'hi' $HOME"), r"'echo '\''hi'\'' $HOME'");
        assert_eq!(shell_quote(""), "''");
    }

    #[tokio::test]
    async fn scripts_run_one_after_another_in_one_shell() {
        let mut shell = Session::spawn(tokio::process::Command::new("/bin/sh")).unwrap();
        let ran = shell
            .run("echo out; echo err >&2; exit 3", &[], 1 << 20)
            .await
            .unwrap();
        assert_eq!(ran.exit_code, 3);
        assert_eq!(ran.stdout, b"out\n");
        let ran = shell
            .run(
                "printf '%s|' \"$@\"; read x || echo no-input",
                &["a b", "it's"],
                1 << 20,
            )
            .await
            .unwrap();
        assert_eq!(ran.exit_code, 0);
        assert_eq!(String::from_utf8_lossy(&ran.stdout), "a b|it's|no-input\n");
        // stderr arrives on its own pipe, possibly later; it is never mixed into stdout.
        let ran = shell
            .run("printf 'no newline'", &[], 1 << 20)
            .await
            .unwrap();
        assert_eq!(ran.stdout, b"no newline");
        let ran = shell.run("yes runaway", &[], 4096).await.unwrap();
        assert!(ran.truncated);
        assert_eq!(ran.stdout.len(), 4096);
    }
}
