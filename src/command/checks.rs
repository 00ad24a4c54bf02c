//! `drydock checks import GOSS.yaml`: a goss file as drydock checks.

use std::path::Path;

use super::{Exit, Outcome};
use crate::cli::{ChecksAction, ChecksCommand};
use crate::error::Error;

/// `drydock checks`.
pub fn checks(args: &ChecksCommand) -> Result<Outcome, Error> {
    match &args.action {
        ChecksAction::Import(import) => {
            let shown = import.goss.display().to_string();
            let text = std::fs::read_to_string(&import.goss)
                .map_err(|e| Error::Usage(format!("{shown}: {e}")))?;
            let imported = crate::check::goss::import(&import.goss, &text).map_err(Error::Usage)?;
            if imported.checks == 0 {
                return Err(Error::Usage(format!(
                    "{shown}: nothing could be converted:\n  {}",
                    imported.notes.join("\n  ")
                )));
            }
            // What is written must be a check file drydock reads.
            crate::check::parse_checks(Path::new("imported.yaml"), &imported.yaml).map_err(
                |d| Error::Usage(format!("the converted checks do not read back: {}", d[0])),
            )?;
            let summary = format!(
                "{} check(s) converted from {shown}{}",
                imported.checks,
                if imported.notes.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; not converted, or converted with another meaning:\n  {}",
                        imported.notes.join("\n  ")
                    )
                }
            );
            match &import.output {
                Some(path) => {
                    super::init::write_new(
                        Path::new("."),
                        path,
                        &imported.yaml,
                        "drydock checks import",
                    )?;
                    Ok(Outcome::text(
                        format!("wrote {}: {summary}", path.display()),
                        Exit::Pass,
                    ))
                }
                None => {
                    eprintln!("{summary}");
                    Ok(Outcome::text(
                        imported.yaml.trim_end().to_string(),
                        Exit::Pass,
                    ))
                }
            }
        }
    }
}
