//! Reports for machines and reviewers, checked on real runs: the JSON schema, JUnit parsed back,
//! and the GitHub Actions summary and annotations.

use crate::fixture::{drydock_command, Project, Run};

pub fn assert_valid(run: &Run) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/report.schema.json"))
            .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let instance = run.json();
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the report does not match schema/report.schema.json:\n{}\n{instance:#}",
        errors.join("\n")
    );
}

const SHELL: &str = "  shell:\n    script: p.sh";
const CHECKS: &str = "- name: config\n  file: /etc/app.conf\n  contains: [\"/^port=80$/\"]\n- name: passwd\n  file: /etc/passwd\n";

/// Counts of a JUnit document: (suites, cases, failures, errors, flaky).
pub fn junit_counts(xml: &str) -> (usize, usize, usize, usize, usize) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut suites, mut cases, mut failures, mut errors, mut flaky) = (0, 0, 0, 0, 0);
    loop {
        match reader.read_event().expect("well-formed JUnit XML") {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"testsuite" => suites += 1,
                b"testcase" => cases += 1,
                b"failure" => failures += 1,
                b"error" => errors += 1,
                b"flakyFailure" => flaky += 1,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    (suites, cases, failures, errors, flaky)
}

#[test]
fn json_matches_the_schema_and_junit_counts_match_on_pass_and_fail() {
    let project = Project::debian("it-reports", SHELL, CHECKS)
        .file("p.sh", "echo port=80 > /etc/app.conf\n")
        .commit("production");
    let junit = project.path().join("report.xml");
    let junit_arg = junit.display().to_string();
    let pass = project.drydock(&["run", "--format", "json", "--junit", &junit_arg]);
    pass.expect_code(0);
    assert_valid(&pass);
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    // fresh: provision + 2 checks; upgrade: provision + 2 checks; idempotence: second
    // provisioning + idempotence; diff: 1.
    assert_eq!(junit_counts(&xml), (4, 9, 0, 0, 0), "{xml}");

    // A failing check and drift: the upgrade keeps an orphan.
    let project = project
        .file(
            "p.sh",
            "echo port=80 > /etc/app.conf\necho old > /etc/old.conf\n",
        )
        .commit("production with an old file")
        .file("p.sh", "echo port=8080 > /etc/app.conf\n");
    let fail = project.drydock(&["run", "--format", "json", "--junit", &junit_arg]);
    fail.expect_code(1);
    assert_valid(&fail);
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    // The config check fails in fresh and upgrade; the diff fails (orphan + content).
    assert_eq!(junit_counts(&xml), (4, 9, 3, 0, 0), "{xml}");
    assert!(xml.contains("only in upgrade: /etc/old.conf"), "{xml}");
}

#[test]
fn a_run_that_cannot_start_still_writes_schema_valid_json_and_a_junit_error() {
    let root = env!("CARGO_MANIFEST_DIR");
    let junit = std::env::temp_dir().join(format!("drydock-it-error-{}.xml", std::process::id()));
    let out = drydock_command()
        .current_dir(root)
        .args([
            "run",
            "--format",
            "json",
            "--junit",
            junit.to_str().unwrap(),
        ])
        .env("DOCKER_HOST", "unix:///nonexistent")
        .output()
        .expect("run");
    let run = Run::from(out);
    run.expect_code(3);
    assert_valid(&run);
    let json = run.json();
    assert_eq!(json["verdict"], "error");
    assert_eq!(json["project"], "hello");
    assert_eq!(json["error"]["part"], "docker engine");
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let _ = std::fs::remove_file(&junit);
    assert_eq!(junit_counts(&xml), (1, 1, 0, 1, 0), "{xml}");
    assert!(xml.contains("does not answer"), "{xml}");
}

#[test]
fn github_actions_gets_a_step_summary_and_annotations_at_the_check_line() {
    let project = Project::debian("it-github", SHELL, CHECKS)
        .file("p.sh", "echo port=80 > /etc/app.conf\n")
        .commit("production")
        .file("p.sh", "echo port=8080 > /etc/app.conf\n");
    let summary = project.path().join("summary.md");
    let summary_arg = summary.display().to_string();
    let markdown = project.path().join("comment.md");
    let markdown_arg = markdown.display().to_string();
    let run = project.drydock_env(
        &["run", "--markdown", &markdown_arg],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", &summary_arg),
        ],
    );
    run.expect_code(1);
    let annotations: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect();
    assert_eq!(
        annotations,
        [
            "::error file=checks.yaml,line=1,title=drydock fresh%3A config::contains: /^port=80$/ not found",
            "::error file=checks.yaml,line=1,title=drydock upgrade%3A config::contains: /^port=80$/ not found",
        ]
    );
    let written = std::fs::read_to_string(&summary).expect("step summary appended");
    assert!(
        written.starts_with("## ❌ drydock: fail — it-github"),
        "{written}"
    );
    assert!(written.contains("| fresh | ❌ fail |"), "{written}");
    assert_eq!(
        std::fs::read_to_string(&markdown)
            .expect("markdown written")
            .trim(),
        written.trim()
    );
}
