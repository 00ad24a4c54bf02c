//! Which paths a state comparison skips: sane defaults plus the project's `diff.ignore`.

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
    ("**/__pycache__", "Python bytecode caches"),
    ("**/__pycache__/**", "Python bytecode caches"),
    ("**/*.pyc", "Python bytecode"),
    (
        "/tmp/drydock-provision.sh",
        "the shell provisioner's copy of the script",
    ),
];

/// A compiled ignore list.
pub struct Ignore {
    set: GlobSet,
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
        })
    }

    /// Nothing ignored.
    pub fn none() -> Ignore {
        Ignore {
            set: GlobSet::empty(),
        }
    }

    /// Whether `path` (absolute) is skipped.
    pub fn is_ignored(&self, path: &str) -> bool {
        self.set.is_match(path)
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
