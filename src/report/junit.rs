//! JUnit XML, in the form Jenkins, GitLab and GitHub test reporters read: a testsuite per
//! scenario (plus one for the state diff), a testcase per check, one for provisioning, one for
//! idempotence and one for the state diff.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use super::{RunReport, ScenarioKind, ScenarioReport, Verdict};

/// How many log lines a provisioning testcase carries in `<system-out>`.
const LOG_LINES: usize = 200;

fn status(verdict: Verdict, message: &str, kind: &str) -> TestCaseStatus {
    match verdict {
        Verdict::Pass => TestCaseStatus::success(),
        Verdict::Fail => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(message.to_string())
                .set_type(kind.to_string());
            s
        }
        Verdict::Error => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(message.to_string())
                .set_type("infrastructure");
            s
        }
        Verdict::Skipped => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(message.to_string());
            s
        }
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines.len().saturating_sub(LOG_LINES);
    lines[start..].join("\n")
}

/// The suite of scenario `s` on `host` (`None`: a single-host project, every result).
fn scenario_suite(s: &ScenarioReport, host: Option<&str>) -> TestSuite {
    // With platforms, suites are grouped by platform: `trixie fresh web`.
    let scenario = match &s.platform {
        Some(p) => format!("{p} {}", s.name),
        None => s.name.name(),
    };
    let name = match host {
        Some(h) => format!("{scenario} {h}"),
        None => scenario,
    };
    let classname = format!("drydock.{}", name.replace(' ', "."));
    let mut suite = TestSuite::new(name);
    suite.set_time(std::time::Duration::from_millis(s.duration_ms));
    if let Some(p) = &s.provision {
        let (verdict, message) = match host.and_then(|h| p.hosts.iter().find(|x| x.host == h)) {
            Some(on_host) => (on_host.status, on_host.message.clone().unwrap_or_default()),
            None => (p.status, p.message.clone().unwrap_or_default()),
        };
        let case_name = if s.name == ScenarioKind::Idempotence {
            "second provisioning"
        } else {
            "provision"
        };
        let mut case = TestCase::new(case_name, status(verdict, &message, "provisioning"));
        case.set_classname(classname.clone());
        case.set_time(std::time::Duration::from_millis(p.duration_ms));
        case.set_system_out(tail(&p.log));
        suite.add_test_case(case);
    }
    let on_host = |path: &str| match host {
        Some(h) => path.starts_with(&format!("{h}:")),
        None => true,
    };
    if s.name == ScenarioKind::Idempotence {
        let paths: Vec<String> = s
            .changed_paths
            .iter()
            .filter(|c| on_host(&c.path))
            .map(|c| format!("{} ({})", c.path, c.fields.join(", ")))
            .collect();
        let mut verdict = s.status;
        let mut message = s.message.clone().unwrap_or_default();
        // Several hosts: this host is judged on its own second run and its own paths.
        let on_this_host = host.and_then(|h| {
            s.provision
                .as_ref()
                .and_then(|p| p.hosts.iter().find(|x| x.host == h))
        });
        if let (Some(h), Some(mine)) = (host, on_this_host) {
            if s.status != Verdict::Error {
                let mut problems = Vec::new();
                if mine.status != Verdict::Pass {
                    problems.push(mine.message.clone().unwrap_or_default());
                }
                if let Some(n) = mine.changed.filter(|n| *n > 0) {
                    problems.push(format!("{h}: {n} change(s) on the second run"));
                }
                if !paths.is_empty() {
                    problems.push(format!("{h}: {} path(s) changed", paths.len()));
                }
                verdict = if mine.status == Verdict::Error {
                    Verdict::Error
                } else if problems.is_empty() {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                };
                message = problems.join("; ");
            }
        }
        let mut case = TestCase::new("idempotence", status(verdict, &message, "idempotence"));
        case.set_classname(classname.clone());
        if !paths.is_empty() {
            case.set_system_out(paths.join("\n"));
        }
        suite.add_test_case(case);
    } else if s.provision.is_none() && s.checks.is_empty() && s.status != Verdict::Pass {
        // The scenario broke before provisioning (container could not start).
        let message = s.message.clone().unwrap_or_default();
        let mut case = TestCase::new("scenario", status(s.status, &message, "scenario"));
        case.set_classname(classname.clone());
        suite.add_test_case(case);
    }
    let checks = s
        .checks
        .iter()
        .filter(|c| host.is_none() || c.host.as_deref() == host);
    for c in checks {
        let mut st = status(c.status, &c.message, &c.kind);
        if c.flaky {
            // A pass after a failed attempt: reporters show it as flaky.
            let mut rerun = TestRerun::new(NonSuccessKind::Failure);
            rerun.set_message("failed before passing on a retry");
            st.add_rerun(rerun);
        }
        let mut case = TestCase::new(c.name.clone(), st);
        case.set_classname(format!("{}:{}", c.file, c.line));
        suite.add_test_case(case);
    }
    suite
}

/// Renders the report as JUnit XML.
pub fn render(report: &RunReport) -> String {
    let mut junit = Report::new(format!("drydock {}", report.project));
    junit.set_time(std::time::Duration::from_millis(report.duration_ms));
    // One suite per scenario, and per host when there are several.
    let hosts: Vec<Option<&str>> = if report.hosts.len() > 1 {
        report.hosts.iter().map(|h| Some(h.name.as_str())).collect()
    } else {
        vec![None]
    };
    for s in &report.scenarios {
        for host in &hosts {
            junit.add_test_suite(scenario_suite(s, *host));
        }
    }
    if report.diff.is_some() || report.snapshot.is_some() {
        let mut suite = TestSuite::new("diff");
        if let Some(d) = &report.diff {
            let blamed = |line: String, path: &str| match d.written_by.get(path) {
                Some(by) => format!("{line}, written by {}", by.describe()),
                None => line,
            };
            let mut lines: Vec<String> = Vec::new();
            lines.extend(
                d.only_in_fresh
                    .iter()
                    .map(|p| blamed(format!("only in fresh: {p}"), p)),
            );
            lines.extend(
                d.only_in_upgrade
                    .iter()
                    .map(|p| blamed(format!("only in upgrade: {p}"), p)),
            );
            lines.extend(d.changed.iter().map(|c| {
                blamed(
                    format!("changed: {} ({})", c.path, c.fields.join(", ")),
                    &c.path,
                )
            }));
            let message = format!(
                "{} only in fresh, {} only in upgrade, {} changed",
                d.only_in_fresh.len(),
                d.only_in_upgrade.len(),
                d.changed.len()
            );
            let mut st = status(d.status, &message, "state-diff");
            if d.status != Verdict::Pass {
                st.set_description(lines.join("\n"));
            }
            let mut case = TestCase::new("fresh and upgrade states match", st);
            case.set_classname("drydock.diff");
            suite.add_test_case(case);
        }
        if let Some(s) = &report.snapshot {
            let message = format!("{} difference(s) from {}", s.differences.len(), s.file);
            let mut case = TestCase::new(
                format!("fresh state matches {}", s.file),
                status(s.status, &message, "snapshot"),
            );
            case.set_classname("drydock.snapshot");
            if !s.differences.is_empty() {
                case.set_system_out(s.differences.join("\n"));
            }
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    if report.scenarios.is_empty() {
        if let Some(e) = &report.error {
            let mut suite = TestSuite::new("drydock");
            let mut case = TestCase::new(
                "run",
                status(
                    Verdict::Error,
                    &format!("{}: {}", e.part, e.message),
                    "infrastructure",
                ),
            );
            case.set_classname("drydock");
            suite.add_test_case(case);
            junit.add_test_suite(suite);
        }
    }
    junit
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot render JUnit: {e} -->"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{HostProvision, HostReport, PathChange, ProvisionReport};

    #[test]
    fn idempotence_is_judged_per_host_from_its_own_findings() {
        let provision = ProvisionReport {
            platform: None,
            host: None,
            status: Verdict::Pass,
            changed: Some(1),
            changed_tasks: vec!["Stamp".into()],
            failed_task: None,
            failed_task_file: None,
            failed_task_line: None,
            message: None,
            detail: None,
            infrastructure: None,
            log: String::new(),
            duration_ms: 0,
            hosts: ["web", "app"]
                .iter()
                .map(|h| HostProvision {
                    host: h.to_string(),
                    status: Verdict::Pass,
                    changed: Some(u32::from(*h == "web")),
                    changed_tasks: vec![],
                    failed_task: None,
                    message: None,
                    detail: None,
                })
                .collect(),
        };
        let mut idempotence = ScenarioReport::new(ScenarioKind::Idempotence);
        idempotence.status = Verdict::Fail;
        idempotence.message = Some("web: the provisioner reported 1 change(s)".into());
        idempotence.provision = Some(provision);
        idempotence.changed_paths = vec![PathChange::presence("web:/etc/stamp", "added")];
        let mut report = RunReport::new(super::super::Command::Run, "site", "r1");
        report.hosts = ["web", "app"]
            .iter()
            .map(|h| HostReport {
                name: h.to_string(),
                groups: vec![],
            })
            .collect();
        report.scenarios.push(idempotence);
        let xml = render(&report);
        let web = &xml[xml.find("name=\"idempotence web\"").unwrap()..];
        let web = &web[..web.find("</testsuite>").unwrap()];
        assert!(web.contains("<failure"), "{web}");
        assert!(
            web.contains("web: 1 change(s) on the second run; web: 1 path(s) changed"),
            "{web}"
        );
        let app = &xml[xml.find("name=\"idempotence app\"").unwrap()..];
        let app = &app[..app.find("</testsuite>").unwrap()];
        assert!(!app.contains("<failure"), "{app}");
    }

    #[test]
    fn a_diff_finding_names_its_older_version_and_the_task_that_wrote_it() {
        let mut diff = crate::report::DiffReport::empty(Verdict::Fail);
        diff.only_in_upgrade = vec!["upgrade@v1:/etc/legacy.conf".into()];
        diff.only_in_fresh = vec!["/etc/new.conf".into()];
        diff.written_by.insert(
            "upgrade@v1:/etc/legacy.conf".into(),
            crate::report::WrittenBy {
                scenario: "production".into(),
                task: "Legacy config".into(),
                file: "site.yml".into(),
                line: 7,
                git_ref: Some("0123456789abcdef0123".into()),
            },
        );
        let mut report = RunReport::new(super::super::Command::Run, "site", "r1");
        report.diff = Some(diff);
        let xml = render(&report);
        assert!(
            xml.contains(
                "only in upgrade: upgrade@v1:/etc/legacy.conf, written by task &quot;Legacy config&quot; (site.yml:7) in the production build of 0123456789ab"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("only in fresh: /etc/new.conf\nonly in upgrade: upgrade@v1:"),
            "{xml}"
        );
    }
}
