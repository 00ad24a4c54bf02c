//! What drydock tells about itself: `drydock schema` (JSON Schemas of its files and its
//! report), `drydock completions` and `drydock man`.

use clap::CommandFactory;

use super::{Exit, Outcome};
use crate::cli::{Cli, SchemaKind};
use crate::error::Error;

/// The JSON Schema of drydock.yaml.
pub const CONFIG_SCHEMA: &str = include_str!("../../schema/config.schema.json");
/// The JSON Schema of a check file.
pub const CHECKS_SCHEMA: &str = include_str!("../../schema/checks.schema.json");
/// The JSON Schema of the JSON report.
pub const REPORT_SCHEMA: &str = include_str!("../../schema/report.schema.json");

/// `drydock schema config|checks|report`.
pub fn schema(which: SchemaKind) -> Outcome {
    let text = match which {
        SchemaKind::Config => CONFIG_SCHEMA,
        SchemaKind::Checks => CHECKS_SCHEMA,
        SchemaKind::Report => REPORT_SCHEMA,
    };
    Outcome::text(text.to_string(), Exit::Pass)
}

/// `drydock completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> Outcome {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "drydock", &mut script);
    Outcome::text(String::from_utf8_lossy(&script).into_owned(), Exit::Pass)
}

/// `drydock man`.
pub fn man() -> Result<Outcome, Error> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| Error::Usage(format!("cannot render the manual page: {e}")))?;
    Ok(Outcome::text(
        String::from_utf8_lossy(&page).into_owned(),
        Exit::Pass,
    ))
}
