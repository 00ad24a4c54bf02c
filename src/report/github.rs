//! GitHub Actions: `::error` annotations at the check-file line of each failing check and at
//! the playbook line of a failed provisioning task, and `::warning`s at the task behind each
//! state-diff finding (at most 10, as GitHub shows no more).

use super::{RunReport, Verdict};

/// GitHub shows at most this many annotations of a kind per step.
pub const MAX_ANNOTATIONS: usize = 10;

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The line of `- name: TASK` in the playbook text.
pub fn task_line(playbook: &str, task: &str) -> Option<usize> {
    playbook
        .lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches("- ").trim_start();
            l.strip_prefix("name:")
                .map(|n| n.trim().trim_matches('"').trim_matches('\'') == task)
                .unwrap_or(false)
        })
        .map(|i| i + 1)
}

/// The annotation lines; `playbook` is the playbook's path (as the workflow sees it) and text.
pub fn annotations(report: &RunReport, playbook: Option<(&str, &str)>) -> Vec<String> {
    let mut out = Vec::new();
    for s in &report.scenarios {
        if let (Some(p), Some((path, text))) = (&s.provision, playbook) {
            if let (Some(task), true) = (&p.failed_task, p.status == super::Verdict::Fail) {
                // Ansible said where the task is; the playbook's text is the fallback.
                let (file, line) = match (&p.failed_task_file, p.failed_task_line) {
                    (Some(file), Some(line)) if path.ends_with(file.as_str()) => {
                        (path.to_string(), line)
                    }
                    (Some(file), Some(line)) => (file.clone(), line),
                    _ => (path.to_string(), task_line(text, task).unwrap_or(1)),
                };
                out.push(format!(
                    "::error file={},line={line},title={}::{}",
                    escape_property(&file),
                    escape_property(&format!("drydock {}: task \"{task}\" failed", s.name)),
                    escape_data(p.message.as_deref().unwrap_or(""))
                ));
            }
        }
        for c in s.checks.iter().filter(|c| c.status == Verdict::Fail) {
            out.push(format!(
                "::error file={},line={},title={}::{}",
                escape_property(&c.file),
                c.line,
                escape_property(&format!("drydock {}: {}", s.name, c.name)),
                escape_data(&c.message)
            ));
        }
    }
    if let Some(d) = &report.diff {
        if d.status == Verdict::Fail {
            let count = d.only_in_fresh.len() + d.only_in_upgrade.len() + d.changed.len();
            out.push(format!(
                "::error title=drydock state diff::{}",
                escape_data(&format!(
                    "fresh and upgraded servers differ in {count} path(s); see the step summary"
                ))
            ));
            // At the task behind each finding (as the tree has it now, when the task is still
            // in the playbook).
            let findings = d
                .only_in_fresh
                .iter()
                .map(|p| (p, "is only on fresh servers"))
                .chain(d.only_in_upgrade.iter().map(|p| {
                    (
                        p,
                        "is only on upgraded servers; remove it with a cleanup task",
                    )
                }))
                .chain(
                    d.changed
                        .iter()
                        .map(|c| (&c.path, "differs between fresh and upgraded servers")),
                );
            for (path, what) in findings {
                let Some(by) = d.written_by.get(path) else {
                    continue;
                };
                // A production task is annotated where the current playbook still has it;
                // a task the change removed has no line to point at (the summary names it).
                let current = match playbook {
                    Some((shown, text)) if shown.ends_with(by.file.as_str()) => {
                        task_line(text, &by.task).map(|line| (shown.to_string(), line))
                    }
                    _ => None,
                };
                let (file, line) = match (current, by.git_ref.is_some()) {
                    (Some(at), _) => at,
                    (None, false) => (by.file.clone(), by.line),
                    (None, true) => continue,
                };
                out.push(format!(
                    "::warning file={},line={line},title={}::{}",
                    escape_property(&file),
                    escape_property(&format!("drydock state diff: {path}")),
                    escape_data(&format!(
                        "{path} {what}: last written by this task in {}",
                        by.place()
                    ))
                ));
            }
        }
    }
    out.truncate(MAX_ANNOTATIONS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_task_lines_and_escapes() {
        let playbook = "- hosts: all\n  tasks:\n    - name: Install nginx\n      apt: {}\n    - name: \"Write the page\"\n";
        assert_eq!(task_line(playbook, "Install nginx"), Some(3));
        assert_eq!(task_line(playbook, "Write the page"), Some(5));
        assert_eq!(task_line(playbook, "Nope"), None);
        assert_eq!(escape_data("a%b\nc"), "a%25b%0Ac");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }
}
