//! Small throwaway projects for the tests, built with a fluent helper, and the means to run
//! drydock on them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The base image every fixture's default image starts from, bootstrapped like the bundled
/// example's.
pub const BASE: &str = "    base:\n      image: debian:bookworm-slim\n      bootstrap: { debootstrap: { suite: bookworm, variant: minbase, include: [python3] } }\n";

/// A project in a temporary folder, removed (with its images) when dropped.
pub struct Project {
    pub dir: PathBuf,
    pub name: String,
}

impl Project {
    /// An empty project folder for project `name` (unique per test).
    pub fn new(name: &str) -> Project {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "drydock-it-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create fixture folder");
        Project {
            dir,
            name: name.to_string(),
        }
    }

    /// A project with a Debian default image, the given provisioner block and check file.
    pub fn debian(name: &str, provision: &str, checks: &str) -> Project {
        let config = format!(
            "name: {name}\nimages:\n  default:\n    dockerfile: images/default/Dockerfile\n{BASE}provision:\n{provision}\nproduction:\n  ref: main\nchecks: [checks.yaml]\ndiff:\n  paths: [/etc, /opt, /srv]\n"
        );
        Project::new(name)
            .file("drydock.yaml", &config)
            .file("images/default/Dockerfile", "FROM debian:bookworm-slim\n")
            .file("checks.yaml", checks)
    }

    /// Writes a file (creating folders).
    pub fn file(self, path: &str, content: &str) -> Project {
        let full = self.dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("create folder");
        }
        std::fs::write(&full, content).expect("write fixture file");
        self
    }

    /// Appends to a file.
    pub fn append(self, path: &str, content: &str) -> Project {
        let full = self.dir.join(path);
        let mut text = std::fs::read_to_string(&full).unwrap_or_default();
        text.push_str(content);
        std::fs::write(&full, text).expect("append to fixture file");
        self
    }

    /// A new bare repository beside the project, added as its `origin` (for pushes); the
    /// caller removes it.
    pub fn bare_origin(&self) -> PathBuf {
        let remote = self.dir.with_extension("remote.git");
        let _ = std::fs::remove_dir_all(&remote);
        git(
            &self.dir,
            &["init", "-q", "--bare", remote.to_str().unwrap()],
        );
        git(
            &self.dir,
            &["remote", "add", "origin", remote.to_str().unwrap()],
        );
        remote
    }

    /// Commits everything on `main` (initialising the repository the first time).
    pub fn commit(self, message: &str) -> Project {
        if !self.dir.join(".git").exists() {
            git(&self.dir, &["init", "-q", "-b", "main"]);
        }
        git(&self.dir, &["add", "-A"]);
        git(
            &self.dir,
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-q",
                "-m",
                message,
            ],
        );
        self
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Runs drydock in the project folder.
    pub fn drydock(&self, args: &[&str]) -> Run {
        self.drydock_env(args, &[])
    }

    /// Runs drydock with extra environment variables.
    pub fn drydock_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = drydock_command();
        command.current_dir(&self.dir).args(args);
        for (k, v) in env {
            command.env(k, v);
        }
        Run::from(command.output().expect("run drydock"))
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        remove_everything_of(&self.name);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes every container and image labelled for `project` (never panics: it runs in `Drop`).
pub fn remove_everything_of(project: &str) {
    try_with_engine(|engine| async move {
        let label = drydock::docker::LABEL_PROJECT;
        for c in engine
            .containers_with_labels(&[(label, project)])
            .await
            .unwrap_or_default()
        {
            let _ = engine
                .remove_container(c.id.as_deref().unwrap_or_default())
                .await;
        }
        for network in engine
            .networks_with_labels(&[(label, project)])
            .await
            .unwrap_or_default()
        {
            let _ = engine.remove_network(&network.id).await;
        }
        // Newest first: an image may be built on an older one of the project.
        let mut images = engine
            .images_with_label(label, project)
            .await
            .unwrap_or_default();
        images.reverse();
        for (id, tags) in images {
            for tag in tags {
                let _ = engine.remove_image(&tag).await;
            }
            let _ = engine.remove_image(&id).await;
        }
    });
}

/// Runs `work` with a connected engine on a throwaway runtime; `None` when there is none.
pub fn try_with_engine<T, F>(work: impl FnOnce(drydock::docker::Engine) -> F) -> Option<T>
where
    F: std::future::Future<Output = T>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let engine = drydock::docker::Engine::connect().await.ok()?;
        Some(work(engine).await)
    })
}

/// Runs `work` with a connected engine on a throwaway runtime.
pub fn with_engine<T, F>(work: impl FnOnce(drydock::docker::Engine) -> F) -> T
where
    F: std::future::Future<Output = T>,
{
    try_with_engine(work).expect("a Docker engine answers")
}

/// The drydock binary, with plain output.
pub fn drydock_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_drydock"));
    command
        .env("NO_COLOR", "1")
        .env_remove("DRYDOCK_CONFIG")
        .env_remove("DRYDOCK_FORMAT");
    command
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .current_dir(dir)
        .args(args)
        .status()
        .expect("run git");
    assert!(status.success(), "git {args:?} failed");
}

/// The outcome of one drydock invocation.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// The JSON report on stdout.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The scenario called `name` in the JSON report.
    pub fn scenario(&self, name: &str) -> serde_json::Value {
        let json = self.json();
        json["scenarios"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no scenario {name} in {json:#}"))
    }

    /// Panics with the whole output unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Containers carrying `io.drydock.project=<project>`, through the engine API.
pub fn containers_of(project: &str) -> Vec<String> {
    crate::fixture::with_engine(|engine| async move {
        engine
            .containers_with_labels(&[(drydock::docker::LABEL_PROJECT, project)])
            .await
            .expect("list containers")
            .into_iter()
            .filter_map(|c| c.id)
            .collect()
    })
}

/// The networks labelled for `project`.
pub fn networks_of(project: &str) -> Vec<String> {
    crate::fixture::with_engine(|engine| async move {
        engine
            .networks_with_labels(&[(drydock::docker::LABEL_PROJECT, project)])
            .await
            .expect("list networks")
            .into_iter()
            .map(|n| n.id)
            .collect()
    })
}

/// A tiny image built `FROM scratch` with Debian's busybox-static and the given files
/// (`path`, content, mode; a content starting with `->` makes a symlink). Builds in about a
/// second and needs no network.
pub fn busybox_image(project: &str, tag: &str, files: &[(&str, &str, u32)]) -> String {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir()
        .join(format!("drydock-it-ctx-{tag}-{}", std::process::id()).replace([':', '/'], "-"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("rootfs")).expect("context folder");
    std::fs::copy("/bin/busybox", dir.join("busybox"))
        .expect("busybox-static is installed (/bin/busybox)");
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nCOPY rootfs/ /\n",
    )
    .expect("Dockerfile");
    for (path, content, mode) in files {
        let full = dir.join("rootfs").join(path.trim_start_matches('/'));
        std::fs::create_dir_all(full.parent().expect("parent")).expect("folder");
        if let Some(target) = content.strip_prefix("->") {
            std::os::unix::fs::symlink(target, &full).expect("symlink");
        } else {
            std::fs::write(&full, content).expect("file");
            std::fs::set_permissions(&full, std::fs::Permissions::from_mode(*mode)).expect("mode");
        }
    }
    build_context(project, tag, &dir)
}

/// Builds the context folder `dir` (then removed) as `tag`, labelled for `project`.
fn build_context(project: &str, tag: &str, dir: &Path) -> String {
    let packed = drydock::image::context::pack(dir).expect("pack context");
    let _ = std::fs::remove_dir_all(dir);
    crate::fixture::with_engine(|engine| async move {
        let labels = std::collections::HashMap::from([(
            drydock::docker::LABEL_PROJECT.to_string(),
            project.to_string(),
        )]);
        engine
            .build_image(tag, "Dockerfile", packed.tar, labels, |_| {})
            .await
            .expect("build the image")
    })
}

/// A running container from `image`, labelled for `project`; removed when dropped.
pub struct Container {
    pub id: String,
}

impl Container {
    pub fn start(project: &str, image: &str, setup: &[&str]) -> Container {
        Container::start_on(project, image, None, setup)
    }

    /// A container named `name` on network `network`, when given (`(network, name)`).
    pub fn start_on(
        project: &str,
        image: &str,
        place: Option<(&str, &str)>,
        setup: &[&str],
    ) -> Container {
        let id = crate::fixture::with_engine(|engine| async move {
            let spec = drydock::docker::ContainerSpec {
                image: image.to_string(),
                name: place.map(|(_, name)| name.to_string()),
                labels: std::collections::HashMap::from([
                    (
                        drydock::docker::LABEL_PROJECT.to_string(),
                        project.to_string(),
                    ),
                    (
                        drydock::docker::LABEL_PID.to_string(),
                        std::process::id().to_string(),
                    ),
                ]),
                hostname: None,
                network: place.map(|(network, name)| (network.to_string(), vec![name.to_string()])),
                systemd: false,
                cap_add: Vec::new(),
            };
            let id = engine.run_container(&spec).await.expect("start container");
            for command in setup {
                let out = engine
                    .exec(&id, &["/bin/sh", "-c", command], &[], None)
                    .await
                    .expect("setup");
                assert_eq!(
                    out.exit_code,
                    0,
                    "setup `{command}` failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            id
        });
        Container { id }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let id = self.id.clone();
        try_with_engine(|engine| async move {
            let _ = engine.remove_container(&id).await;
        });
    }
}

/// An image built from `dockerfile` (no build context), labelled for `project`.
pub fn dockerfile_image(project: &str, tag: &str, dockerfile: &str) -> String {
    let dir = std::env::temp_dir()
        .join(format!("drydock-it-df-{tag}-{}", std::process::id()).replace([':', '/'], "-"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("context folder");
    std::fs::write(dir.join("Dockerfile"), dockerfile).expect("Dockerfile");
    build_context(project, tag, &dir)
}

/// A bridge network `name` labelled for `project` (removed with the project's things).
pub fn network(project: &str, name: &str) -> String {
    with_engine(|engine| async move {
        let labels = std::collections::HashMap::from([(
            drydock::docker::LABEL_PROJECT.to_string(),
            project.to_string(),
        )]);
        engine
            .create_network(name, labels)
            .await
            .expect("create the network")
    })
}

/// A container's address and prefix length on its first network, as `docker inspect` says.
pub fn address_of(container: &str) -> (String, String) {
    let out = Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.IPPrefixLen}}{{end}}",
            container,
        ])
        .output()
        .expect("docker inspect");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    (
        words.next().expect("an address").to_string(),
        words.next().expect("a prefix").to_string(),
    )
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A background process (a receiver, a server), killed when dropped.
pub struct Daemon {
    pub child: std::process::Child,
}

impl Daemon {
    /// Starts `program` with `args`, its output going to `log`.
    pub fn start(program: &str, args: &[&str], log: &Path) -> Daemon {
        let out = std::fs::File::create(log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        Daemon { child }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

/// An HTTP response, as `http_get` read it.
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.head, self.body))
    }
}

/// `GET path` on 127.0.0.1:`port` (HTTP/1.1, one connection, read to its end).
pub fn http_get(port: u16, path: &str) -> Response {
    http_get_with(port, path, &format!("Host: 127.0.0.1:{port}"))
}

/// `GET path` on 127.0.0.1:`port` with the header lines `headers` (the `Host` among them).
pub fn http_get_with(port: u16, path: &str, headers: &str) -> Response {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\n{}\r\nConnection: close\r\n\r\n",
        headers.trim_end()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head}"));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        unchunk(body)
    } else {
        body.to_string()
    };
    Response {
        status,
        head: head.to_string(),
        body,
    }
}

fn unchunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// Debian's sshd on a loopback port, accepting a throwaway key for root; `ssh_config` is a
/// client configuration that uses the key and knows the host key.
pub struct Sshd {
    pub port: u16,
    pub dir: PathBuf,
    _daemon: Daemon,
}

impl Sshd {
    /// Starts sshd with its keys and configuration in `dir`.
    pub fn start(dir: &Path) -> Sshd {
        let keygen = |path: &Path| {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(path)
                .status()
                .expect("ssh-keygen");
            assert!(status.success());
        };
        std::fs::create_dir_all(dir).unwrap();
        keygen(&dir.join("host_key"));
        keygen(&dir.join("client_key"));
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = free_port();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {0}/host_key\nAuthorizedKeysFile {0}/authorized_keys\nPidFile {0}/sshd.pid\nUsePAM no\nPermitRootLogin prohibit-password\nStrictModes no\n",
                dir.display()
            ),
        )
        .unwrap();
        let daemon = Daemon::start(
            "/usr/sbin/sshd",
            &[
                "-D",
                "-e",
                "-f",
                &dir.join("sshd_config").display().to_string(),
            ],
            &dir.join("sshd.log"),
        );
        wait_for_port(port);
        let host_key = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
        std::fs::write(
            dir.join("known_hosts"),
            format!("[127.0.0.1]:{port} {host_key}"),
        )
        .unwrap();
        std::fs::write(
            dir.join("ssh_config"),
            format!(
                "Host 127.0.0.1\n  IdentityFile {0}/client_key\n  UserKnownHostsFile {0}/known_hosts\n  IdentitiesOnly yes\n",
                dir.display()
            ),
        )
        .unwrap();
        Sshd {
            port,
            dir: dir.to_path_buf(),
            _daemon: daemon,
        }
    }

    /// The client configuration.
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    /// What sshd logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }
}

/// A throwaway CA (ca.pem, ca-key.pem) in `dir`, a server certificate for 127.0.0.1
/// (server-cert.pem, server-key.pem) and a client certificate (cert.pem, key.pem, as
/// `DOCKER_CERT_PATH` expects them), all signed by it.
pub fn certificates(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=drydock test CA",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, ext) in [("server", "server.ext"), ("client", "client.ext")] {
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}-key.pem"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            &format!("{name}-cert.pem"),
            "-days",
            "2",
            "-extfile",
            ext,
        ]);
    }
    std::fs::copy(dir.join("client-cert.pem"), dir.join("cert.pem")).unwrap();
    std::fs::copy(dir.join("client-key.pem"), dir.join("key.pem")).unwrap();
}
