//! The bridge between the engine and the state diff: a container's paths, read as archive
//! streams, become a [`Manifest`].

use std::sync::Arc;

use crate::config::DiffSettings;
use crate::docker::Addresses;
use crate::docker::Engine;
use crate::ids::short_id;
use crate::state::{self, Identity, Ignore, Manifest, ValueKind};

/// The manifest of `roots` in `container`, one archive stream per root, read concurrently. A
/// root that does not exist contributes nothing. The values of `identity` are normalised in
/// file content, so two containers of one host compare as one.
pub async fn manifest(
    engine: &Engine,
    container: &str,
    roots: &[String],
    ignore: Arc<Ignore>,
    identity: Arc<Identity>,
) -> Result<Manifest, String> {
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

/// The manifest of one container on its own, normalised by its own identity.
pub async fn manifest_of(
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
    manifest(engine, container, roots, ignore, identity).await
}

/// The manifests of a scenario's `machines` (host name, container), read concurrently, each
/// normalised by its identity among the others ([`identities`]).
pub async fn manifests(
    engine: &Engine,
    machines: &[(String, String)],
    roots: &[String],
    ignore: Arc<Ignore>,
) -> Result<Vec<(String, Manifest)>, String> {
    let identities = identities(engine, machines).await?;
    let reads = machines
        .iter()
        .zip(identities)
        .map(|((host, container), identity)| {
            let ignore = ignore.clone();
            async move {
                let manifest =
                    manifest(engine, container, roots, ignore, Arc::new(identity)).await?;
                Ok::<_, String>((host.clone(), manifest))
            }
        });
    futures_util::future::join_all(reads)
        .await
        .into_iter()
        .collect()
}

/// The identity of each of `machines` (host name, container), in order: its own id and
/// addresses, the addresses of the scenario's other hosts and of its network, all of which
/// differ between scenarios only because they are other containers on another network (a
/// load balancer's config lists its backends' addresses).
pub async fn identities(
    engine: &Engine,
    machines: &[(String, String)],
) -> Result<Vec<Identity>, String> {
    let mut all = Vec::new();
    for (_, container) in machines {
        all.push(
            engine
                .addresses(container)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(all
        .iter()
        .enumerate()
        .map(|(i, own)| {
            let peers = machines
                .iter()
                .zip(&all)
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, ((host, _), addresses))| (host.as_str(), addresses));
            identity_among(own, peers)
        })
        .collect())
}

/// The values that make `addresses` a different container from its twin in another scenario.
pub fn identity(addresses: &Addresses) -> Identity {
    identity_among(addresses, std::iter::empty())
}

fn identity_among<'a>(
    own: &Addresses,
    peers: impl Iterator<Item = (&'a str, &'a Addresses)>,
) -> Identity {
    let mut values: Vec<(ValueKind, String, String)> = Vec::new();
    let mut add = |kind: ValueKind, value: &str, placeholder: String| {
        values.push((kind, value.to_string(), placeholder));
    };
    for id in [own.id.as_str(), short_id(&own.id)] {
        add(
            ValueKind::ContainerId,
            id,
            ValueKind::ContainerId.placeholder().into(),
        );
    }
    for v in &own.ipv4 {
        add(ValueKind::Ipv4, v, ValueKind::Ipv4.placeholder().into());
    }
    for v in &own.ipv6 {
        add(ValueKind::Ipv6, v, ValueKind::Ipv6.placeholder().into());
    }
    for v in &own.macs {
        add(ValueKind::Mac, v, ValueKind::Mac.placeholder().into());
    }
    for (host, peer) in peers {
        for v in &peer.ipv4 {
            add(ValueKind::Ipv4, v, format!("<host:{host}:ipv4>"));
        }
        for v in &peer.ipv6 {
            add(ValueKind::Ipv6, v, format!("<host:{host}:ipv6>"));
        }
    }
    for v in &own.gateways {
        add(ValueKind::Ipv4, v, "<network:gateway>".into());
    }
    for (ip, prefix) in own.ipv4.iter().zip(&own.ipv4_prefix) {
        if let Some((network, broadcast)) = network_of(ip, *prefix) {
            add(ValueKind::Ipv4, &network, "<network:address>".into());
            add(ValueKind::Ipv4, &broadcast, "<network:broadcast>".into());
        }
    }
    Identity::with_placeholders(values)
}

/// The network and broadcast addresses of `ip`/`prefix`.
fn network_of(ip: &str, prefix: u8) -> Option<(String, String)> {
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    if prefix == 0 || prefix >= 31 {
        return None;
    }
    let mask = u32::MAX << (32 - u32::from(prefix));
    let bits = u32::from(ip);
    Some((
        std::net::Ipv4Addr::from(bits & mask).to_string(),
        std::net::Ipv4Addr::from(bits | !mask).to_string(),
    ))
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
/// host, as `NAME:/path` for several or when `named` (a project with platforms, where names are
/// `PLATFORM/HOST` even when a run covers one of them).
pub fn combined(manifests: Vec<(String, Manifest)>, named: bool) -> Manifest {
    let several = named || manifests.len() > 1;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosts_network_values_are_computed_from_its_address() {
        assert_eq!(
            network_of("192.168.176.4", 20),
            Some(("192.168.176.0".to_string(), "192.168.191.255".to_string()))
        );
        assert_eq!(network_of("10.0.0.1", 32), None);
        assert_eq!(network_of("not an address", 16), None);
    }

    #[test]
    fn peers_and_the_network_are_normalised_with_their_own_placeholders() {
        let own = Addresses {
            id: "0123456789abcdef".into(),
            ipv4: vec!["192.168.176.3".into()],
            ipv4_prefix: vec![20],
            gateways: vec!["192.168.176.1".into()],
            ..Default::default()
        };
        let web1 = Addresses {
            ipv4: vec!["192.168.176.4".into()],
            ..Default::default()
        };
        let identity = identity_among(&own, [("web1", &web1)].into_iter());
        let text =
            b"listen 192.168.176.3; server 192.168.176.4; net 192.168.176.0/20 gw 192.168.176.1";
        assert_eq!(
            String::from_utf8(identity.normalise(text).unwrap()).unwrap(),
            "listen <container-ipv4>; server <host:web1:ipv4>; net <network:address>/20 gw <network:gateway>"
        );
    }
}
