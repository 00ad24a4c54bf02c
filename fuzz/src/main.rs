//! A mutation fuzzer for drydock's parsers of outside input (stable Rust, no extra tools).
//!
//! `drydock-fuzz [SECONDS]` mutates the inputs under `fuzz/corpus/` and feeds each result to the
//! project and check-file parsers, the goss importer, the fact tables, the reader of Ansible's event lines, the failure diagnosis,
//! target and size parsers, URL redaction and the API's Host check; any panic is written to
//! `fuzz/regressions/` (which the test suite replays) and makes the run exit 1.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Tokens that YAML and drydock's schema care about.
const TOKENS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "!!str ",
    "!!binary ",
    "\t",
    "'",
    "\"",
    "0644",
    "{ gt: ",
    "{ version: \">= ",
    "{ any: [",
    "{ not: ",
    "{ contains: [",
    "\"!/",
    "/^",
    "kernel_param: ",
    "dns: ",
    "mount: ",
    "addr: tcp://",
    "interface: ",
    "cert_days_left: ",
    "file:\n  /etc/x:\n    contents: ",
    "semver-constraint: ",
    "0o777",
    "~",
    "null",
    "---\n",
    "...\n",
    "? ",
    "|\n  ",
    ">-\n  ",
    "é",
    "\u{feff}",
    "\u{0}",
    "#",
    "\\",
    "%YAML 1.2\n",
    "name",
    "file",
    "package",
    "port",
    "user",
    "group",
    "process",
    "command",
    "http",
    "contains",
    "mode",
    "retries",
    "timeout",
    "scenarios",
    "tags",
    "images",
    "provision",
    "ansible",
    "shell",
    "diff",
    "checks",
    "99999999999999999999",
    "-1",
    "1e999",
    "/(/",
    "/[a-/",
    "..",
    "../../etc/passwd",
    "\n",
    "\n  ",
    "\n    ",
    "cap_add",
    "SYS_ADMIN",
    "CAP_",
    "max_output",
    "16MiB",
    "99999999999GiB",
    "ssh://",
    "container:",
    "-o",
    "@",
    "?token=",
    "https://u:p@",
    "[::1]:",
    "\"detail\": {\"rc\": ",
    "not found",
    "Unable to start service ",
    "' is undefined",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i.min(s.len())
}

fn mutate(input: &str, rng: &mut Rng) -> String {
    let mut s = input.to_string();
    for _ in 0..=rng.below(4) {
        let at = boundary(&s, rng.below(s.len() + 1));
        match rng.below(6) {
            0 => s.insert_str(at, TOKENS[rng.below(TOKENS.len())]),
            1 => {
                let end = boundary(&s, at + rng.below(16));
                s.replace_range(at..end, "");
            }
            2 => {
                let end = boundary(&s, at + rng.below(40));
                let piece = s[at..end].to_string();
                let to = boundary(&s, rng.below(s.len() + 1));
                s.insert_str(to, &piece);
            }
            3 => {
                let lines: Vec<&str> = s.lines().collect();
                if lines.len() > 1 {
                    let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                    let mut lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                    lines.swap(a, b);
                    s = lines.join("\n");
                }
            }
            4 => {
                let depth = rng.below(200);
                s.insert_str(at, &"[".repeat(depth));
            }
            _ => {
                let end = boundary(&s, at + 1);
                let replacement = TOKENS[rng.below(TOKENS.len())];
                s.replace_range(at..end, replacement);
            }
        }
    }
    s
}

/// Feeds one input to both parsers; `Err` carries the panic message.
fn exercise(input: &str) -> Result<(), String> {
    std::panic::catch_unwind(|| {
        let _ = drydock::config::parse_project(
            Path::new("/nonexistent"),
            Path::new("drydock.yaml"),
            input,
        );
        let _ = drydock::check::parse_checks(Path::new("checks.yaml"), input);
        let _ = drydock::check::goss::import(Path::new("goss.yaml"), input);
        let facts = drydock::check::facts::parse(input.as_bytes(), "@@m");
        let _ = drydock::check::kinds::port::sockets(&facts);
        let _ = drydock::check::kinds::interface::links(&facts);
        let _ = drydock::check::kinds::mount::mounts(&facts);
        let _ = drydock::check::kinds::package::packages(&facts);
        for line in input.lines() {
            let _ = drydock::provision::ansible::events::parse(
                &format!("{}{line}", drydock::provision::ansible::events::MARKER),
                |_| {},
            );
            let _ = drydock::check::runner::Ssh::parse(line, None);
            let _ = drydock::config::diag::parse_size(line);
            let _ = drydock::api::Access::default().host_allowed(line);
        }
        let _ = drydock::secret::redact_urls(input);
        let _ = drydock::provision::explain::diagnose(&drydock::provision::Failure::code(
            input.to_string(),
        ));
    })
    .map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into())
    })
}

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut corpus: Vec<String> = std::fs::read_dir(root.join("corpus"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    if corpus.is_empty() {
        eprintln!(
            "drydock-fuzz: no corpus under {}",
            root.join("corpus").display()
        );
        std::process::exit(2);
    }
    std::panic::set_hook(Box::new(|_| {}));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut runs, mut crashes) = (0u64, 0u64);
    while Instant::now() < deadline {
        let base = corpus[rng.below(corpus.len())].clone();
        let input = mutate(&base, &mut rng);
        runs += 1;
        if let Err(message) = exercise(&input) {
            crashes += 1;
            let name = format!(
                "crash-{}.yaml",
                blake3::hash(input.as_bytes())
                    .to_hex()
                    .get(..16)
                    .unwrap_or("x")
            );
            let _ = std::fs::write(root.join("regressions").join(&name), &input);
            eprintln!("drydock-fuzz: panic ({message}); input saved as fuzz/regressions/{name}");
        } else if rng.below(1000) == 0 && corpus.len() < 200 {
            corpus.push(input);
        }
    }
    println!("drydock-fuzz: {runs} inputs in {seconds} s (seed {seed}), {crashes} panic(s)");
    std::process::exit(i32::from(crashes > 0));
}
