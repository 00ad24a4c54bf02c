//! What `drydock check` and `drydock diff` run against: a running container, or an image in a
//! throwaway container.

use super::janitor::Boot;
use super::session::Session;
use crate::error::Error;

/// A target named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A running container.
    Container(String),
    /// An image; a throwaway container is started from it.
    Image(String),
}

impl Target {
    /// Parses `container:NAME` or `image:REF`.
    pub fn parse(text: &str) -> Result<Target, String> {
        match text.split_once(':') {
            Some(("container", name)) if !name.is_empty() => {
                Ok(Target::Container(name.to_string()))
            }
            Some(("image", reference)) if !reference.is_empty() => {
                Ok(Target::Image(reference.to_string()))
            }
            _ => Err(format!(
                "`{text}` is not a target; expected container:NAME_OR_ID or image:REF"
            )),
        }
    }

    /// `container:NAME` or `image:REF`, as reports name it.
    pub fn label(&self) -> String {
        match self {
            Target::Container(c) => format!("container:{c}"),
            Target::Image(i) => format!("image:{i}"),
        }
    }

    /// The id of a running container for this target, starting one (labelled with the
    /// session, removed with it) for an image.
    pub async fn start(&self, session: &Session, role: &str, boot: &Boot) -> Result<String, Error> {
        let engine = &session.engine;
        match self {
            Target::Container(name) => {
                let id = engine
                    .container_id(name)
                    .await?
                    .ok_or_else(|| Error::Usage(format!("no container named {name}")))?;
                if !engine.is_running(&id).await? {
                    return Err(Error::Usage(format!("container {name} is not running")));
                }
                Ok(id)
            }
            Target::Image(reference) => {
                if engine.image_id(reference).await?.is_none() {
                    engine.pull(reference).await.map_err(|e| {
                        Error::Usage(format!(
                            "image {reference} is not present and cannot be pulled: {e}"
                        ))
                    })?;
                }
                let container = session
                    .janitor
                    .run_container(reference, role, None, None, boot)
                    .await?;
                session
                    .wait_for_boot(std::slice::from_ref(&container), boot)
                    .await?;
                Ok(container)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            Target::parse("container:web"),
            Ok(Target::Container("web".into()))
        );
        assert_eq!(
            Target::parse("image:drydock/hello:default"),
            Ok(Target::Image("drydock/hello:default".into()))
        );
        assert!(Target::parse("web").is_err());
        assert!(Target::parse("image:").is_err());
    }
}
