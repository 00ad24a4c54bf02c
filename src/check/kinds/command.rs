//! `command: SHELL COMMAND`: its exit status and what it printed; one exec of its own.

use std::time::Duration;

use super::{Exec, Kind, Parse, Ran, Spec};
use crate::check::facts::{Script, Wants};
use crate::check::judge::{nearest_line, Judgement};
use crate::check::matcher::{substring, Matcher};
use crate::outcome::Verdict;

/// The `command` kind.
pub const KIND: Kind = Kind {
    name: "command",
    asserts: &["exit_status", "stdout", "stderr"],
    parse,
    gather,
};

/// How long a command may take unless the check says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A `command` check.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Run with `/bin/sh -c`.
    pub command: String,
    /// `exit_status` (default 0).
    pub exit_status: Matcher,
    /// `stdout`: each must hold (plain text: a substring).
    pub stdout: Vec<Matcher>,
    /// `stderr`.
    pub stderr: Vec<Matcher>,
}

fn parse(p: &mut Parse<'_, '_>) -> Option<Spec> {
    let command = p.subject_text()?;
    let exit_status = p.number("exit_status", 0, 255);
    let stdout = p.patterns("stdout");
    let stderr = p.patterns("stderr");
    Some(Spec::new(Command {
        command,
        exit_status: exit_status?.unwrap_or_else(|| Matcher::equal("0")),
        stdout: stdout?,
        stderr: stderr?,
    }))
}

fn gather(_: &Wants, _: &mut Script) {}

impl super::Assertion for Command {
    fn kind(&self) -> &'static str {
        "command"
    }

    fn exec(&self, timeout: Option<Duration>) -> Option<Exec> {
        Some(Exec {
            argv: vec!["/bin/sh".into(), "-c".into(), self.command.clone()],
            limit: timeout.unwrap_or(DEFAULT_TIMEOUT),
        })
    }

    fn judge_exec(&self, ran: Ran<'_>, timeout: Option<Duration>) -> Judgement {
        match ran {
            Ran::TimedOut => Judgement {
                status: Verdict::Fail,
                message: format!(
                    "timed out after {} s",
                    timeout.unwrap_or(DEFAULT_TIMEOUT).as_secs_f64()
                ),
            },
            Ran::Failed(e) => Judgement::error(format!("could not run the command: {e}")),
            Ran::Cut(why) => Judgement::error(why),
            Ran::Output(out) => self.judge_output(
                out.exit_code,
                &String::from_utf8_lossy(&out.stdout),
                &String::from_utf8_lossy(&out.stderr),
            ),
        }
    }
}

impl Command {
    /// Judges the exit status and output.
    pub fn judge_output(&self, exit_code: i64, stdout: &str, stderr: &str) -> Judgement {
        let mut problems = Vec::new();
        // What the command said on stderr is the why of most failures: its last lines.
        let said = last_lines(stderr, 3);
        let code = exit_code.to_string();
        let status_ok = self.exit_status.matches(&code);
        if !status_ok {
            let mut problem = format!(
                "exit status: expected {}, found {exit_code}",
                self.exit_status
            );
            let tail = said.clone().or_else(|| last_line(stdout).map(String::from));
            if let Some(tail) = tail {
                problem.push_str(&format!(" ({tail:?})"));
            }
            problems.push(problem);
        }
        for p in &self.stdout {
            if !p.matches_with(stdout, &substring) {
                let mut problem = format!("stdout: {}{}", p.miss(), near(p, stdout));
                if status_ok {
                    if let Some(said) = &said {
                        problem.push_str(&format!("; stderr: {said:?}"));
                    }
                }
                problems.push(problem);
            }
        }
        for p in &self.stderr {
            if !p.matches_with(stderr, &substring) {
                problems.push(format!("stderr: {}{}", p.miss(), near(p, stderr)));
            }
        }
        Judgement::from_problems(problems, format!("exited {exit_code}"))
    }
}

/// `; nearest line: "..."` when a line comes close to plain text that was not found.
pub fn near(pattern: &Matcher, text: &str) -> String {
    nearest_line(pattern, text)
        .map(|l| format!("; nearest line: {l:?}"))
        .unwrap_or_default()
}

/// The last `n` non-blank lines, joined with ` | `, at most 300 bytes.
fn last_lines(text: &str, n: usize) -> Option<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return None;
    }
    let tail = lines[lines.len().saturating_sub(n)..].join(" | ");
    Some(crate::outcome::bounded(&tail, 300))
}

fn last_line(text: &str) -> Option<&str> {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(exit_status: &str, stdout: &[&str], stderr: &[&str]) -> Command {
        Command {
            command: "x".into(),
            exit_status: Matcher::equal(exit_status),
            stdout: stdout.iter().map(|s| Matcher::equal(*s)).collect(),
            stderr: stderr.iter().map(|s| Matcher::equal(*s)).collect(),
        }
    }

    #[test]
    fn says_why_a_command_failed() {
        let cmd = command("0", &[], &["syntax is ok"]);
        let j = cmd.judge_output(1, "", "nginx: [emerg] unknown directive \"lissen\"\n");
        assert_eq!(j.status, Verdict::Fail);
        assert!(j.message.starts_with("exit status: expected 0, found 1 (\"nginx: [emerg] unknown directive \\\"lissen\\\"\")"), "{}", j.message);
        // Several lines of stderr: the last three say why.
        let j = cmd.judge_output(
            1,
            "",
            "nginx: [emerg] unknown directive \"lissen\" in /etc/nginx/sites-enabled/default:2\nnginx: configuration file /etc/nginx/nginx.conf test failed\n",
        );
        assert!(j.message.starts_with("exit status: expected 0, found 1 (\"nginx: [emerg] unknown directive \\\"lissen\\\" in /etc/nginx/sites-enabled/default:2 | nginx: configuration file /etc/nginx/nginx.conf test failed\")"), "{}", j.message);
        let out = command("1", &["port=80"], &[]);
        assert_eq!(
            out.judge_output(1, "", "cat: /etc/x: Permission denied\n")
                .message,
            "stdout: \"port=80\" not found; stderr: \"cat: /etc/x: Permission denied\""
        );
    }

    #[test]
    fn exit_status_and_output_take_matchers() {
        let mut cmd = command("0", &[], &[]);
        cmd.exit_status = Matcher::Any(vec![Matcher::equal("0"), Matcher::equal("3")]);
        cmd.stdout = vec![Matcher::NotRegex(regex::Regex::new("error").unwrap())];
        assert_eq!(cmd.judge_output(3, "all fine", "").status, Verdict::Pass);
        assert_eq!(
            cmd.judge_output(4, "an error", "").message,
            "exit status: expected { any: [\"0\", \"3\"] }, found 4 (\"an error\"); stdout: !/error/ does not hold"
        );
    }
}
