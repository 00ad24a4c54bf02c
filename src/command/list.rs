//! `drydock list`: the scenarios and checks a run would execute, with where each check comes
//! from; nothing runs.

use super::{load_project, Exit, Outcome};
use crate::check::Selection;
use crate::cli::{Cli, SelectArgs};
use crate::config::{self, Check, Project};
use crate::error::Error;

/// `drydock list`.
pub fn list(cli: &Cli, args: &SelectArgs) -> Result<Outcome, Error> {
    let project = load_project(cli)?;
    let checks = config::load_checks(&project)?;
    let selection = Selection::from(args);
    let any = checks.iter().any(|c| selection.selects(c));
    let exit = if any { Exit::Pass } else { Exit::NothingToRun };
    Ok(Outcome::text(render(&project, &checks, &selection), exit))
}

/// `drydock list`: what a run would execute.
fn render(project: &Project, checks: &[Check], selection: &Selection) -> String {
    let mut out = format!(
        "project {} ({})\n\nscenarios:\n",
        project.name,
        config::shown_path(&project.config_file).display()
    );
    if !project.hosts.is_empty() {
        let hosts: Vec<String> = project.hosts.iter().map(|h| h.to_string()).collect();
        out.push_str(&format!("  hosts        {}\n", hosts.join(", ")));
    }
    out.push_str("  fresh        default image + working tree\n");
    out.push_str(&format!(
        "  upgrade      production image ({}) + working tree\n",
        project.production.git_ref
    ));
    out.push_str("  idempotence  the fresh container provisioned a second time\n");
    out.push_str(&format!(
        "  diff         fresh vs upgrade state under {}\n\nchecks:\n",
        project.diff.paths.join(" ")
    ));
    let mut count = 0;
    for c in checks.iter().filter(|c| selection.selects(c)) {
        count += 1;
        let scenarios = c
            .scenarios
            .as_ref()
            .map(|s| s.join(","))
            .unwrap_or_else(|| "fresh,upgrade".into());
        let mut tags = if c.tags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", c.tags.join(","))
        };
        if let Some(hosts) = &c.hosts {
            tags.push_str(&format!(" (hosts: {})", hosts.join(",")));
        }
        out.push_str(&format!(
            "  {:<8} {:<40} {:<14} {}:{}{tags}\n",
            c.spec.kind(),
            c.name,
            scenarios,
            c.file.display(),
            c.line
        ));
    }
    out.push_str(&format!("\n{count} of {} check(s) selected", checks.len()));
    out
}
