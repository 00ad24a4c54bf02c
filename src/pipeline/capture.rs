//! The bridge between the engine and the state diff: a container's paths, read as archive
//! streams, become a [`Manifest`].

use std::sync::Arc;

use crate::config::DiffSettings;
use crate::docker::Addresses;
use crate::docker::Engine;
use crate::ids::short_id;
use crate::state::{self, Identity, Ignore, Manifest, ValueKind};

/// The manifest of `roots` in `container`, one archive stream per root, read concurrently. A
/// root that does not exist contributes nothing. The container's own id and addresses are
/// normalised in file content, so two containers of one host compare as one.
pub async fn manifest(
    engine: &Engine,
    container: &str,
    roots: &[String],
    ignore: Arc<Ignore>,
) -> Result<Manifest, String> {
    let addresses = engine
        .addresses(container)
        .await
        .map_err(|e| e.to_string())?;
    let identity = Arc::new(identity(&addresses));
    let parts = futures_util::future::join_all(roots.iter().map(|root| {
        let ignore = ignore.clone();
        let identity = identity.clone();
        async move {
            let stream = engine
                .download(container, root)
                .await
                .map_err(|e| e.to_string())?;
            match stream {
                Some(stream) => state::read_stream(stream, root, ignore, identity).await,
                None => Ok(Manifest::default()),
            }
        }
    }))
    .await;
    let mut all = Manifest::default();
    for part in parts {
        all.entries.extend(part?.entries);
    }
    Ok(all)
}

/// The values that make `addresses` a different container from its twin in another scenario.
pub fn identity(addresses: &Addresses) -> Identity {
    let id = [addresses.id.clone(), short_id(&addresses.id).to_string()]
        .map(|v| (ValueKind::ContainerId, v));
    let ipv4 = addresses.ipv4.iter().map(|v| (ValueKind::Ipv4, v.clone()));
    let ipv6 = addresses.ipv6.iter().map(|v| (ValueKind::Ipv6, v.clone()));
    let macs = addresses.macs.iter().map(|v| (ValueKind::Mac, v.clone()));
    Identity::new(id.into_iter().chain(ipv4).chain(ipv6).chain(macs))
}

/// What reading state skips and compares without content, from the `diff` settings; the error
/// names the key whose glob is bad.
pub fn rules(settings: &DiffSettings) -> Result<Arc<Ignore>, String> {
    let defaults = settings.ignore_defaults;
    let ignore =
        Ignore::new(defaults, &settings.ignore).map_err(|e| format!("diff.ignore: {e}"))?;
    let ignore = ignore
        .with_content(defaults, &settings.content_ignore)
        .map_err(|e| format!("diff.content_ignore: {e}"))?;
    Ok(Arc::new(ignore))
}

/// Every host's state as one manifest, for the reviewable snapshot: paths as they are for one
/// host, as `HOST:/path` for several.
pub fn combined(manifests: Vec<(String, Manifest)>) -> Manifest {
    let several = manifests.len() > 1;
    let mut all = Manifest::default();
    for (host, manifest) in manifests {
        all.entries
            .extend(manifest.entries.into_iter().map(|(path, entry)| {
                let path = if several {
                    format!("{host}:{path}")
                } else {
                    path
                };
                (path, entry)
            }));
    }
    all
}
