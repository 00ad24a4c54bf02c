//! Which paths a state comparison skips (sane defaults plus the project's `diff.ignore`), and
//! which it compares without their content (per-machine secrets, plus `diff.content_ignore`).

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// The built-in ignores, each with the reason it is noise rather than state.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("/proc/**", "kernel view of processes, not files"),
    ("/sys/**", "kernel view of devices, not files"),
    ("/dev/**", "device nodes made by the engine"),
    ("/run/**", "runtime state (pids, sockets), rebuilt at boot"),
    ("/tmp/**", "temporary files"),
    ("/var/tmp/**", "temporary files"),
    ("/var/log/**", "logs differ with every run"),
    (
        "/var/cache/**",
        "caches (apt archives, man-db, debconf templates)",
    ),
    ("/var/lib/apt/lists/**", "downloaded package indexes, dated"),
    ("/var/lib/dpkg/*-old", "dpkg's backup of its own databases"),
    ("/var/lib/dpkg/lock*", "dpkg lock files"),
    ("/var/backups/**", "dated backups of system files"),
    ("/etc/hostname", "written by the engine per container"),
    ("/etc/hosts", "written by the engine per container"),
    ("/etc/resolv.conf", "written by the engine per container"),
    ("/etc/mtab", "a view of the mounts"),
    (
        "/etc/*-",
        "backups shadow-utils and adduser keep (passwd-, group-, shadow-)",
    ),
    ("/etc/.pwd.lock", "lock file of the passwd tools"),
    (
        "/etc/ld.so.cache",
        "binary cache rebuilt by ldconfig, order-dependent",
    ),
    ("/etc/machine-id", "per-machine identifier"),
    (
        "/etc/.updated",
        "systemd's boot-time stamp (ConditionNeedsUpdate), dated",
    ),
    (
        "/var/.updated",
        "systemd's boot-time stamp (ConditionNeedsUpdate), dated",
    ),
    ("/var/lib/systemd/timers/**", "when systemd timers last ran"),
    (
        "/var/lib/systemd/catalog/database",
        "binary message catalog systemd rebuilds",
    ),
    ("**/__pycache__", "Python bytecode caches"),
    ("**/__pycache__/**", "Python bytecode caches"),
    ("**/*.pyc", "Python bytecode"),
    (
        "/tmp/drydock-provision.sh",
        "the shell provisioner's copy of the script",
    ),
];

/// Paths whose content is per-machine by design: compared on existence, type, mode and owner,
/// never on content. Each with the reason.
pub const CONTENT_DEFAULTS: &[(&str, &str)] = &[
    (
        "/etc/ssh/ssh_host_*",
        "SSH host keys, generated at random when openssh-server is installed",
    ),
    (
        "/etc/ssl/private/ssl-cert-snakeoil.key",
        "the snakeoil TLS key ssl-cert generates at install",
    ),
    (
        "/etc/ssl/certs/ssl-cert-snakeoil.pem",
        "the snakeoil certificate ssl-cert generates at install",
    ),
    (
        "/etc/dropbear/dropbear_*_host_key",
        "Dropbear SSH host keys, generated at first start",
    ),
    (
        "/etc/pki/tls/private/localhost.key",
        "mod_ssl's generated TLS key (RPM systems)",
    ),
    (
        "/etc/pki/tls/certs/localhost.crt",
        "mod_ssl's generated certificate (RPM systems)",
    ),
    (
        "/etc/pki/tls/certs/localhost.pem",
        "mod_ssl's generated certificate (RPM systems)",
    ),
    (
        "/var/lib/dbus/machine-id",
        "the D-Bus machine id, per machine",
    ),
    (
        "/var/lib/systemd/random-seed",
        "the random seed systemd saves at shutdown",
    ),
    (
        "/var/lib/systemd/credential.secret",
        "systemd's per-machine credential key",
    ),
];

/// A compiled ignore list.
pub struct Ignore {
    set: GlobSet,
    content: GlobSet,
    dated: bool,
}

impl Ignore {
    /// The defaults (when `defaults`) plus `extra` globs.
    pub fn new(defaults: bool, extra: &[String]) -> Result<Ignore, globset::Error> {
        let mut builder = GlobSetBuilder::new();
        let mut add = |pattern: &str| -> Result<(), globset::Error> {
            builder.add(GlobBuilder::new(pattern).literal_separator(true).build()?);
            // `/var/log/**` also means the folder's own entry.
            if let Some(dir) = pattern.strip_suffix("/**") {
                if !dir.contains('*') {
                    builder.add(GlobBuilder::new(dir).literal_separator(true).build()?);
                }
            }
            Ok(())
        };
        if defaults {
            for (pattern, _) in DEFAULTS {
                add(pattern)?;
            }
        }
        for pattern in extra {
            add(pattern)?;
        }
        Ok(Ignore {
            set: builder.build()?,
            content: GlobSet::empty(),
            dated: defaults,
        })
    }

    /// The same list, also comparing the per-machine defaults (when `defaults`) and `extra`
    /// globs without their content.
    pub fn with_content(
        mut self,
        defaults: bool,
        extra: &[String],
    ) -> Result<Ignore, globset::Error> {
        let mut builder = GlobSetBuilder::new();
        let defaults = if defaults { CONTENT_DEFAULTS } else { &[] };
        for pattern in defaults
            .iter()
            .map(|(p, _)| *p)
            .chain(extra.iter().map(String::as_str))
        {
            builder.add(GlobBuilder::new(pattern).literal_separator(true).build()?);
        }
        self.content = builder.build()?;
        Ok(self)
    }

    /// Nothing ignored.
    pub fn none() -> Ignore {
        Ignore {
            set: GlobSet::empty(),
            content: GlobSet::empty(),
            dated: false,
        }
    }

    /// Whether `path` (absolute) is skipped.
    pub fn is_ignored(&self, path: &str) -> bool {
        self.set.is_match(path)
    }

    /// Whether `path`'s content is per-machine and left out of the comparison.
    pub fn is_content_ignored(&self, path: &str) -> bool {
        self.content.is_match(path)
    }

    /// Whether dated fields (the last-change day in `/etc/shadow`) are left out.
    pub fn skips_dated_fields(&self) -> bool {
        self.dated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_skip_noise_and_keep_state() {
        let ignore = Ignore::new(true, &[]).unwrap();
        for noisy in [
            "/var/log/nginx/access.log",
            "/var/log",
            "/etc/hostname",
            "/etc/passwd-",
            "/usr/lib/python3/dist-packages/x/__pycache__/y.cpython-311.pyc",
            "/var/cache/apt/pkgcache.bin",
            "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
        ] {
            assert!(ignore.is_ignored(noisy), "{noisy} should be ignored");
        }
        for kept in [
            "/etc/passwd",
            "/etc/nginx/nginx.conf",
            "/var/www/html/index.html",
            "/etc/hosts.allow",
        ] {
            assert!(!ignore.is_ignored(kept), "{kept} should be kept");
        }
    }

    #[test]
    fn per_machine_secrets_are_compared_without_content() {
        let ignore = Ignore::new(true, &[])
            .unwrap()
            .with_content(true, &["/etc/myapp/node.key".to_string()])
            .unwrap();
        for secret in [
            "/etc/ssh/ssh_host_ed25519_key",
            "/etc/ssh/ssh_host_rsa_key.pub",
            "/etc/ssl/private/ssl-cert-snakeoil.key",
            "/etc/ssl/certs/ssl-cert-snakeoil.pem",
            "/etc/myapp/node.key",
        ] {
            assert!(ignore.is_content_ignored(secret), "{secret}");
            assert!(
                !ignore.is_ignored(secret),
                "{secret} must still be compared"
            );
        }
        assert!(!ignore.is_content_ignored("/etc/ssh/sshd_config"));
        let off = Ignore::new(false, &[])
            .unwrap()
            .with_content(false, &[])
            .unwrap();
        assert!(!off.is_content_ignored("/etc/ssh/ssh_host_ed25519_key"));
        assert!(!off.skips_dated_fields());
    }

    #[test]
    fn user_globs_add_to_or_replace_defaults() {
        let extra = vec!["/etc/nginx/conf.d/*.conf".to_string()];
        let with = Ignore::new(true, &extra).unwrap();
        assert!(with.is_ignored("/etc/nginx/conf.d/a.conf"));
        assert!(with.is_ignored("/etc/hostname"));
        let without = Ignore::new(false, &extra).unwrap();
        assert!(without.is_ignored("/etc/nginx/conf.d/a.conf"));
        assert!(!without.is_ignored("/etc/hostname"));
        assert!(!without.is_ignored("/etc/nginx/conf.d/sub/a.conf"));
    }
}
