//! State manifests: one line of facts per path, built from a tar stream.
//!
//! The tar is read entry by entry and file contents are hashed as they stream past, so memory
//! holds the list of paths, never the tree. Small text files also keep their text, for the
//! unified diffs a reviewer reads.

use std::collections::BTreeMap;
use std::io::Read;

use super::dated;
use super::identity::Identity;
use super::ignore::Ignore;

/// Text files up to this size keep their content for unified diffs.
pub const MAX_TEXT: u64 = 64 * 1024;

/// Text files up to this size are normalised (per-container values, dated fields) before they
/// are hashed; larger ones are hashed as they stream past.
pub const MAX_NORMALISED: u64 = 1024 * 1024;

/// The type of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Device, fifo, socket.
    Special,
}

impl Kind {
    /// One-word name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
            Kind::Special => "special",
        }
    }
}

/// The facts of one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Type.
    pub kind: Kind,
    /// Permission bits (with setuid/setgid/sticky).
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Size in bytes (files).
    pub size: u64,
    /// blake3 of the content as compared (files): after normalisation, `None` for content that
    /// is per-machine by design.
    pub hash: Option<[u8; 32]>,
    /// blake3 of the content as it is on disk, when that differs from what `hash` covers.
    pub raw_hash: Option<[u8; 32]>,
    /// Symlink target.
    pub target: Option<String>,
    /// The content, for small UTF-8 files.
    pub text: Option<String>,
}

impl Entry {
    /// The content hash in hex, shortened to `n` digits.
    pub fn short_hash(&self, n: usize) -> String {
        match &self.hash {
            Some(h) => blake3::Hash::from_bytes(*h).to_hex()[..n].to_string(),
            None => "-".to_string(),
        }
    }
}

/// All paths of a state, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// By absolute path.
    pub entries: BTreeMap<String, Entry>,
}

/// Reads a tar stream of the container path `root` (as the archive API returns it: entries
/// named after `root`'s last component) into `manifest`, skipping ignored paths.
pub fn read_tar(
    reader: impl Read,
    root: &str,
    ignore: &Ignore,
    manifest: &mut Manifest,
) -> std::io::Result<()> {
    read_tar_of(reader, root, ignore, &Identity::none(), manifest)
}

/// [`read_tar`] for a container whose per-container values `identity` are normalised in file
/// content before hashing.
pub fn read_tar_of(
    reader: impl Read,
    root: &str,
    ignore: &Ignore,
    identity: &Identity,
    manifest: &mut Manifest,
) -> std::io::Result<()> {
    let parent = match root.trim_end_matches('/').rfind('/') {
        Some(0) | None => String::new(),
        Some(i) => root[..i].to_string(),
    };
    read_entries(reader, &parent, ignore, identity, manifest)
}

fn read_entries(
    reader: impl Read,
    parent: &str,
    ignore: &Ignore,
    identity: &Identity,
    manifest: &mut Manifest,
) -> std::io::Result<()> {
    let mut archive = tar::Archive::new(reader);
    let mut buffer = Vec::with_capacity(64 * 1024);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        // Archives of `/` name entries `/etc/...` or `./etc/...`; of `/etc`, `etc/...`.
        let name = name
            .trim_start_matches("./")
            .trim_start_matches('/')
            .trim_end_matches('/');
        if name.is_empty() || name == "." {
            continue;
        }
        let path = format!("{parent}/{name}");
        if ignore.is_ignored(&path) {
            continue;
        }
        let header = entry.header();
        let mode = header.mode().unwrap_or(0) & 0o7777;
        let uid = header.uid().unwrap_or(0);
        let gid = header.gid().unwrap_or(0);
        let entry_type = header.entry_type();
        let record = match entry_type {
            tar::EntryType::Directory => Entry {
                kind: Kind::Dir,
                mode,
                uid,
                gid,
                size: 0,
                hash: None,
                raw_hash: None,
                target: None,
                text: None,
            },
            tar::EntryType::Symlink => Entry {
                kind: Kind::Symlink,
                mode,
                uid,
                gid,
                size: 0,
                hash: None,
                raw_hash: None,
                target: entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned()),
                text: None,
            },
            tar::EntryType::Link => {
                // A hard link has the facts of the file it links to, read earlier in the stream.
                let target = entry
                    .link_name_bytes()
                    .map(|t| {
                        String::from_utf8_lossy(&t)
                            .trim_start_matches("./")
                            .to_string()
                    })
                    .unwrap_or_default();
                let linked = manifest.entries.get(&format!("{parent}/{target}")).cloned();
                match linked {
                    Some(mut e) => {
                        e.mode = mode;
                        e.uid = uid;
                        e.gid = gid;
                        e
                    }
                    None => Entry {
                        kind: Kind::File,
                        mode,
                        uid,
                        gid,
                        size: 0,
                        hash: None,
                        raw_hash: None,
                        target: Some(target),
                        text: None,
                    },
                }
            }
            t if t.is_file() => {
                let content = read_file(&mut entry, &path, ignore, identity, &mut buffer)?;
                Entry {
                    kind: Kind::File,
                    mode,
                    uid,
                    gid,
                    size: entry.size(),
                    hash: content.hash,
                    raw_hash: content.raw_hash,
                    target: None,
                    text: content.text,
                }
            }
            _ => Entry {
                kind: Kind::Special,
                mode,
                uid,
                gid,
                size: 0,
                hash: None,
                raw_hash: None,
                target: None,
                text: None,
            },
        };
        manifest.entries.insert(path, record);
    }
    Ok(())
}

/// What a file's content contributes to its entry.
struct Content {
    hash: Option<[u8; 32]>,
    raw_hash: Option<[u8; 32]>,
    text: Option<String>,
}

/// Reads one file's content. Per-machine content is hashed as it is but not compared
/// (`raw_hash` only); small text files are normalised (per-container values, dated fields)
/// before they are hashed; everything else is hashed as it streams past.
fn read_file(
    entry: &mut impl Read,
    path: &str,
    ignore: &Ignore,
    identity: &Identity,
    buffer: &mut Vec<u8>,
) -> std::io::Result<Content> {
    if ignore.is_content_ignored(path) {
        let (raw, _) = stream_hash(entry, buffer, 0)?;
        return Ok(Content {
            hash: None,
            raw_hash: Some(raw),
            text: None,
        });
    }
    let dated = ignore.skips_dated_fields() && dated::applies(path);
    let limit = if identity.is_empty() && !dated {
        MAX_TEXT
    } else {
        MAX_NORMALISED
    };
    let (hash, whole) = stream_hash(entry, buffer, limit)?;
    if !whole || buffer.contains(&0) {
        return Ok(Content {
            hash: Some(hash),
            raw_hash: None,
            text: None,
        });
    }
    let mut normalised = identity.normalise(buffer);
    if dated {
        if let Some(d) = dated::normalise(path, normalised.as_deref().unwrap_or(buffer)) {
            normalised = Some(d);
        }
    }
    let text = |bytes: &[u8]| {
        (bytes.len() as u64 <= MAX_TEXT)
            .then(|| std::str::from_utf8(bytes).ok().map(String::from))
            .flatten()
    };
    Ok(match normalised {
        Some(compared) => Content {
            hash: Some(*blake3::hash(&compared).as_bytes()),
            raw_hash: Some(hash),
            text: text(&compared),
        },
        None => Content {
            hash: Some(hash),
            raw_hash: None,
            text: text(buffer),
        },
    })
}

/// Hashes everything `entry` holds. Returns the hash and whether the whole content is in
/// `kept`, which holds it only while it fits in `limit` bytes.
fn stream_hash(
    entry: &mut impl Read,
    kept: &mut Vec<u8>,
    limit: u64,
) -> std::io::Result<([u8; 32], bool)> {
    kept.clear();
    let mut hasher = blake3::Hasher::new();
    let mut chunk = [0u8; 64 * 1024];
    let mut whole = true;
    loop {
        let n = entry.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        hasher.update(&chunk[..n]);
        if whole {
            if (kept.len() + n) as u64 <= limit {
                kept.extend_from_slice(&chunk[..n]);
            } else {
                whole = false;
                kept.clear();
            }
        }
    }
    Ok((*hasher.finalize().as_bytes(), whole))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tar with `(name, content or None for a dir, mode)` entries and symlinks `name -> target`.
    pub fn tar_of(files: &[(&str, Option<&str>, u32)], links: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, content, mode) in files {
            let mut header = tar::Header::new_gnu();
            header.set_mode(*mode);
            header.set_uid(0);
            header.set_gid(0);
            match content {
                Some(text) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(text.len() as u64);
                    builder
                        .append_data(&mut header, name, text.as_bytes())
                        .unwrap();
                }
                None => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    builder
                        .append_data(&mut header, name, std::io::empty())
                        .unwrap();
                }
            }
        }
        for (name, target) in links {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            builder.append_link(&mut header, name, target).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn reads_paths_under_the_requested_root() {
        let tar = tar_of(
            &[
                ("www", None, 0o755),
                ("www/html", None, 0o755),
                ("www/html/index.html", Some("Hello world\n"), 0o644),
            ],
            &[("www/link", "html/index.html")],
        );
        let mut m = Manifest::default();
        read_tar(tar.as_slice(), "/var/www", &Ignore::none(), &mut m).unwrap();
        let paths: Vec<&String> = m.entries.keys().collect();
        assert_eq!(
            paths,
            [
                "/var/www",
                "/var/www/html",
                "/var/www/html/index.html",
                "/var/www/link"
            ]
        );
        let index = &m.entries["/var/www/html/index.html"];
        assert_eq!(index.kind, Kind::File);
        assert_eq!(index.mode, 0o644);
        assert_eq!(index.size, 12);
        assert_eq!(index.text.as_deref(), Some("Hello world\n"));
        assert_eq!(
            m.entries["/var/www/link"].target.as_deref(),
            Some("html/index.html")
        );
    }

    #[test]
    fn skips_ignored_paths_while_streaming() {
        let tar = tar_of(
            &[
                ("etc", None, 0o755),
                ("etc/hostname", Some("abc\n"), 0o644),
                ("etc/motd", Some("hi\n"), 0o644),
            ],
            &[],
        );
        let mut m = Manifest::default();
        read_tar(
            tar.as_slice(),
            "/etc",
            &Ignore::new(true, &[]).unwrap(),
            &mut m,
        )
        .unwrap();
        assert!(m.entries.contains_key("/etc/motd"));
        assert!(!m.entries.contains_key("/etc/hostname"));
    }
}
