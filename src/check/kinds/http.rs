//! `http: URL`: a request made from inside the target (python3, curl or wget, whichever it
//! has), its status, headers and body, and the days left on a TLS certificate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{command::near, expect, Exec, Kind, Parse, Ran, Spec};
use crate::check::facts::{Script, Wants};
use crate::check::judge::Judgement;
use crate::check::matcher::{substring, Matcher};
use crate::outcome::Verdict;

/// The `http` kind.
pub const KIND: Kind = Kind {
    name: "http",
    asserts: &[
        "status",
        "body",
        "headers",
        "method",
        "request_body",
        "request_headers",
        "no_follow_redirects",
        "insecure",
        "ca_file",
        "cert_days_left",
    ],
    parse,
    gather,
};

/// How long a request may take unless the check says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// An `http` check.
#[derive(Debug, Clone, PartialEq)]
pub struct Http {
    /// The URL, fetched from inside the target.
    pub url: String,
    /// `status` (default 200).
    pub status: Matcher,
    /// `body`: each must hold (plain text: a substring).
    pub body: Vec<Matcher>,
    /// `headers`: `Name: matcher` (plain text: a substring), names in lower case.
    pub headers: Vec<(String, Matcher)>,
    /// `method` (default GET).
    pub method: Option<String>,
    /// `request_body`.
    pub request_body: Option<String>,
    /// `request_headers`: `Name: value`.
    pub request_headers: Vec<(String, String)>,
    /// `no_follow_redirects`: judge a redirect itself, not where it leads.
    pub no_follow_redirects: bool,
    /// `insecure`: do not verify the server's certificate.
    pub insecure: bool,
    /// `ca_file`: verify against this CA bundle (a path in the target).
    pub ca_file: Option<String>,
    /// `cert_days_left`: whole days until the server's certificate expires.
    pub cert_days_left: Option<Matcher>,
}

impl Http {
    fn target_only(&self) -> Option<&'static str> {
        if self.no_follow_redirects {
            Some("no_follow_redirects")
        } else if self.insecure {
            Some("insecure")
        } else if self.ca_file.is_some() {
            Some("ca_file")
        } else if self.cert_days_left.is_some() {
            Some("cert_days_left")
        } else {
            None
        }
    }
}

fn parse(p: &mut Parse<'_, '_>) -> Option<Spec> {
    let url = p.subject_text()?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        p.subject_error(format!("`{url}` is not an http(s) URL"));
        return None;
    }
    let status = p.number("status", 100, 599);
    let body = p.patterns("body");
    let headers = p.opt("headers", |d, n| {
        let entries = d.map(n, "headers")?;
        let read: Vec<Option<(String, Matcher)>> = entries
            .iter()
            .map(|e| {
                let m = crate::check::matcher::parse(
                    d,
                    &e.value,
                    "headers",
                    &crate::check::matcher::any_text,
                )?;
                Some((e.key.to_ascii_lowercase(), m))
            })
            .collect();
        read.into_iter().collect::<Option<Vec<_>>>()
    });
    let method = p.opt("method", |d, n| {
        let m = d.non_empty_text(n, "method")?.to_ascii_uppercase();
        if !m.chars().all(|c| c.is_ascii_uppercase()) {
            d.error(
                n.pos,
                "method",
                format!("`{m}` is not an HTTP method; expected GET, POST, PUT, DELETE, HEAD, ..."),
            );
            return None;
        }
        Some(m)
    });
    let request_body = p.opt("request_body", |d, n| d.text(n, "request_body"));
    let request_headers = p.opt("request_headers", |d, n| {
        let entries = d.map(n, "request_headers")?;
        let read: Vec<Option<(String, String)>> = entries
            .iter()
            .map(|e| {
                let value = d.text(&e.value, "request_headers")?;
                let broken = |s: &str| s.contains(['\n', '\r']);
                if broken(&e.key) || broken(&value) || e.key.contains(':') {
                    d.error(
                        e.value.pos,
                        "request_headers",
                        "a header cannot hold a line break, nor its name a colon",
                    );
                    return None;
                }
                Some((e.key.clone(), value))
            })
            .collect();
        read.into_iter().collect::<Option<Vec<_>>>()
    });
    let no_follow_redirects = p.flag("no_follow_redirects", false);
    let insecure = p.flag("insecure", false);
    let ca_file = p.opt("ca_file", |d, n| d.non_empty_text(n, "ca_file"));
    let cert_days_left = p.number("cert_days_left", -100_000, 100_000)?;
    if cert_days_left.is_some() && !url.starts_with("https://") {
        p.subject_error(format!(
            "`cert_days_left` needs an https:// URL; `{url}` has no certificate"
        ));
        return None;
    }
    Some(Spec::new(Http {
        url,
        status: status?.unwrap_or_else(|| Matcher::equal("200")),
        body: body?,
        headers: headers?.unwrap_or_default(),
        method: method?,
        request_body: request_body?,
        request_headers: request_headers?.unwrap_or_default(),
        no_follow_redirects: no_follow_redirects?,
        insecure: insecure?,
        ca_file: ca_file?,
        cert_days_left,
    }))
}

fn gather(_: &Wants, _: &mut Script) {}

/// Fetches a URL from inside the target with python3, curl or wget, printing `CERT <expiry
/// as Unix seconds>` when asked, then the status line, the headers, a blank line and the body.
/// Arguments: url, timeout, method, follow (1/0), insecure (1/0), CA file, certificate (1/0),
/// request body, then request headers as `Name: value`.
const HTTP_SCRIPT: &str = r#"url=$1; t=$2; method=$3; follow=$4; insecure=$5; ca=$6; cert=$7; data=$8; shift 8
if command -v python3 >/dev/null 2>&1; then
exec python3 - "$url" "$t" "$method" "$follow" "$insecure" "$ca" "$cert" "$data" "$@" <<'EOF'
import sys, ssl, socket, os, tempfile, urllib.request, urllib.error, urllib.parse
url, t, method, follow, insecure, ca, cert, data = sys.argv[1:9]
out = sys.stdout.buffer
def context(verify):
    c = ssl.create_default_context(cafile=ca or None)
    if not verify:
        c.check_hostname = False
        c.verify_mode = ssl.CERT_NONE
    return c
try:
    if cert == "1":
        u = urllib.parse.urlsplit(url)
        with socket.create_connection((u.hostname, u.port or 443), timeout=float(t)) as s:
            with context(False).wrap_socket(s, server_hostname=u.hostname) as ts:
                der = ts.getpeercert(True)
        fd, path = tempfile.mkstemp()
        try:
            os.write(fd, ssl.DER_cert_to_PEM_cert(der).encode()); os.close(fd)
            after = ssl._ssl._test_decode_cert(path)["notAfter"]
        finally:
            os.unlink(path)
        out.write(b"CERT %d\n" % ssl.cert_time_to_seconds(after))
    handlers = []
    if url.startswith("https://"):
        handlers.append(urllib.request.HTTPSHandler(context=context(insecure != "1")))
    if follow != "1":
        class Stay(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None
        handlers.append(Stay())
    req = urllib.request.Request(url, data=data.encode() if data else None, method=method or None)
    for h in sys.argv[9:]:
        k, _, v = h.partition(":")
        req.add_header(k.strip(), v.strip())
    try:
        r = urllib.request.build_opener(*handlers).open(req, timeout=float(t))
    except urllib.error.HTTPError as e:
        r = e
except Exception as e:
    sys.stderr.write("request failed: %s\n" % e); sys.exit(7)
out.write(b"HTTP %d\n" % r.status)
for k, v in r.headers.items():
    out.write(("%s: %s\n" % (k, v)).encode())
out.write(b"\n"); out.write(r.read())
EOF
elif [ "$cert" = 1 ]; then
echo "reading a certificate's expiry needs python3 in the target" >&2; exit 127
elif command -v curl >/dev/null 2>&1; then
for h do set -- "$@" -H "$h"; shift; done
[ "$follow" = 1 ] && set -- "$@" -L
[ "$insecure" = 1 ] && set -- "$@" -k
[ -n "$ca" ] && set -- "$@" --cacert "$ca"
[ -n "$method" ] && set -- "$@" -X "$method"
[ -n "$data" ] && set -- "$@" --data-binary "$data"
exec curl -sS -i --max-time "$t" "$@" -- "$url"
elif command -v wget >/dev/null 2>&1; then
if [ -n "$method$data$ca" ] || [ $# -gt 0 ] || [ "$follow" != 1 ] || [ "$insecure" = 1 ]; then
echo "this request (method, body, headers, redirects or TLS options) needs python3 or curl in the target" >&2; exit 127
fi
# busybox wget prints the response headers indented on stderr (its -T crashes some builds).
# Its files go to a private folder with an unpredictable name (mktemp -d: mode 0700).
d=$(mktemp -d) || { echo "cannot make a private temporary folder" >&2; exit 7; }
wget -S -q -O "$d/body" "$url" 2>"$d/head"
grep -q '^  HTTP/' "$d/head" || cat "$d/head" >&2
sed -n 's/^  //p' "$d/head"; echo; cat "$d/body" 2>/dev/null
rm -rf "$d"
else
echo "no HTTP client in the container: install python3, curl or wget" >&2; exit 127
fi
"#;

impl super::Assertion for Http {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn exec(&self, timeout: Option<Duration>) -> Option<Exec> {
        let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
        let flag = |b: bool| if b { "1" } else { "0" }.to_string();
        let mut argv = vec![
            "/bin/sh".to_string(),
            "-c".into(),
            HTTP_SCRIPT.into(),
            "http".into(),
            self.url.clone(),
            format!("{}", timeout.as_secs_f64()),
            self.method.clone().unwrap_or_default(),
            flag(!self.no_follow_redirects),
            flag(self.insecure),
            self.ca_file.clone().unwrap_or_default(),
            flag(self.cert_days_left.is_some()),
            self.request_body.clone().unwrap_or_default(),
        ];
        argv.extend(
            self.request_headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}")),
        );
        Some(Exec {
            argv,
            limit: timeout + Duration::from_secs(5),
        })
    }

    fn target_only_key(&self) -> Option<&'static str> {
        self.target_only()
    }

    fn judge_exec(&self, ran: Ran<'_>, timeout: Option<Duration>) -> Judgement {
        let out = match ran {
            Ran::TimedOut => {
                return Judgement {
                    status: Verdict::Fail,
                    message: format!(
                        "no answer within {} s",
                        timeout.unwrap_or(DEFAULT_TIMEOUT).as_secs_f64()
                    ),
                }
            }
            Ran::Failed(e) => return Judgement::error(format!("could not run the request: {e}")),
            Ran::Cut(why) => return Judgement::error(why),
            Ran::Output(out) => out,
        };
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if out.exit_code == 127 {
            return Judgement::error(stderr);
        }
        let (expiry, raw) = split_cert(&out.stdout);
        match parse_http(raw) {
            Some((status, headers, body)) => {
                let judgement = self.judge_response(status, &headers, &body);
                match (&self.cert_days_left, expiry) {
                    (None, _) => judgement,
                    (Some(_), None) => {
                        Judgement::error("the certificate's expiry could not be read")
                    }
                    (Some(want), Some(expiry)) => cert_days(judgement, want, expiry),
                }
            }
            None if out.exit_code != 0
                || !stderr.is_empty()
                || raw.iter().all(u8::is_ascii_whitespace) =>
            {
                Judgement::fail(format!(
                    "{} {} failed: {}",
                    self.method.as_deref().unwrap_or("GET"),
                    self.url,
                    if stderr.is_empty() {
                        "no response".to_string()
                    } else {
                        stderr
                    }
                ))
            }
            None => Judgement::error(format!("unreadable HTTP response from {}", self.url)),
        }
    }
}

/// Adds the certificate's days left (expiry in Unix seconds) to the response's judgement.
fn cert_days(judgement: Judgement, want: &Matcher, expiry: i64) -> Judgement {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = (expiry - now).div_euclid(86_400);
    if want.matches(&days.to_string()) {
        return match judgement.status {
            Verdict::Pass => Judgement::pass(format!(
                "{}; certificate valid {days} more days",
                judgement.message
            )),
            _ => judgement,
        };
    }
    let problem = format!("cert_days_left: expected {want}, found {days}");
    match judgement.status {
        Verdict::Pass => Judgement::fail(problem),
        _ => Judgement::fail(format!("{}; {problem}", judgement.message)),
    }
}

impl Http {
    /// Judges a response's status, headers and body.
    pub fn judge_response(
        &self,
        status: u16,
        headers: &[(String, String)],
        body: &str,
    ) -> Judgement {
        let mut problems = Vec::new();
        expect(&mut problems, "status", Some(&self.status),
            &status.to_string(),
        );
        for p in &self.body {
            if !p.matches_with(body, &substring) {
                problems.push(format!("body: {}{}", p.miss(), near(p, body)));
            }
        }
        for (name, p) in &self.headers {
            match headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
                Some((_, value)) if p.matches_with(value, &substring) => {}
                Some((_, value)) => problems.push(format!(
                    "header {name}: expected {}, found {value:?}",
                    p.quoted()
                )),
                None => problems.push(format!("header {name}: expected {}, not sent", p.quoted())),
            }
        }
        Judgement::from_problems(problems, format!("HTTP {status}"))
    }
}

/// The `CERT <seconds>` line the script prints first, when it does.
fn split_cert(raw: &[u8]) -> (Option<i64>, &[u8]) {
    let Some(rest) = raw.strip_prefix(b"CERT ") else {
        return (None, raw);
    };
    let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let seconds = std::str::from_utf8(&rest[..end])
        .ok()
        .and_then(|s| s.trim().parse().ok());
    (seconds, &rest[(end + 1).min(rest.len())..])
}

/// A parsed HTTP response: status, headers, body.
pub type Response = (u16, Vec<(String, String)>, String);

/// Splits `HTTP/1.1 200 OK\r\nK: V\r\n\r\nbody` (or the python form) into its parts; for
/// curl's output after redirects or `100 Continue`, the last response counts.
pub fn parse_http(raw: &[u8]) -> Option<Response> {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let mut rest = text.as_str();
    loop {
        let (head, body) = rest.split_once("\n\n").unwrap_or((rest, ""));
        let mut lines = head.lines();
        let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        if body.starts_with("HTTP") && (status == 100 || (300..400).contains(&status)) {
            rest = body;
            continue;
        }
        return Some((status, headers, body.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http() -> Http {
        Http {
            url: "http://localhost/".into(),
            status: Matcher::equal("200"),
            body: vec![Matcher::equal("Hello world")],
            headers: vec![("server".into(), Matcher::equal("nginx"))],
            method: None,
            request_body: None,
            request_headers: vec![],
            no_follow_redirects: false,
            insecure: false,
            ca_file: None,
            cert_days_left: None,
        }
    }

    #[test]
    fn judges_status_headers_and_body() {
        let j = http().judge_response(
            200,
            &[("Server".into(), "nginx/1.22.1".into())],
            "Hello world\n",
        );
        assert_eq!(j.status, Verdict::Pass);
        let j = http().judge_response(404, &[], "Not found");
        assert_eq!(j.message, "status: expected 200, found 404; body: \"Hello world\" not found; header server: expected \"nginx\", not sent");
    }

    #[test]
    fn parses_http_from_python_and_curl() {
        let (status, headers, body) =
            parse_http(b"HTTP 200\nServer: nginx\n\nHello world\n").unwrap();
        assert_eq!(status, 200);
        assert_eq!(headers, vec![("Server".to_string(), "nginx".to_string())]);
        assert_eq!(body, "Hello world\n");
        let (status, _, body) =
            parse_http(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nA: b\r\n\r\nnope")
                .unwrap();
        assert_eq!(status, 404);
        assert_eq!(body, "nope");
        assert!(parse_http(b"garbage").is_none());
    }

    #[test]
    fn certificate_days_pass_or_fail_with_the_count() {
        let (expiry, rest) = split_cert(b"CERT 1900000000\nHTTP 200\n\nok");
        assert_eq!(expiry, Some(1_900_000_000));
        assert_eq!(rest, b"HTTP 200\n\nok");
        assert_eq!(split_cert(b"HTTP 200\n\n").0, None);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let ok = Judgement::pass("HTTP 200");
        let ten_days = now + 10 * 86_400 + 3600;
        let j = cert_days(
            ok.clone(),
            &Matcher::Compare(crate::check::matcher::Compare::Ge, 30.0),
            ten_days,
        );
        assert_eq!(j.message, "cert_days_left: expected { ge: 30 }, found 10");
        let j = cert_days(
            ok,
            &Matcher::Compare(crate::check::matcher::Compare::Gt, 5.0),
            ten_days,
        );
        assert_eq!(j.message, "HTTP 200; certificate valid 10 more days");
    }
}
