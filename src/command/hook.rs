//! `drydock hook install|uninstall`: the git pre-push hook.

use super::{load_project, Exit, Outcome};
use crate::cli::{Cli, HookAction, HookArgs};
use crate::error::Error;

/// `drydock hook`.
pub fn hook(cli: &Cli, args: &HookArgs) -> Result<Outcome, Error> {
    let project = load_project(cli)?;
    let message = match args.action {
        HookAction::Install => {
            let exe = std::env::current_exe()
                .map_err(|e| Error::Usage(format!("cannot find the drydock binary: {e}")))?;
            let path = crate::hook::install(&project.root, &exe, args.force)
                .map_err(|e| Error::Usage(e.to_string()))?;
            format!(
                "installed {}: every `git push` runs `drydock run` first (skip once with --no-verify)",
                path.display()
            )
        }
        HookAction::Uninstall => {
            match crate::hook::uninstall(&project.root).map_err(|e| Error::Usage(e.to_string()))? {
                Some(path) => format!("removed {}", path.display()),
                None => "no drydock pre-push hook was installed".to_string(),
            }
        }
    };
    Ok(Outcome::text(message, Exit::Pass))
}
