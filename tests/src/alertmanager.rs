//! A real Alertmanager for tests: Debian's `prometheus-alertmanager` on a
//! free loopback port, with one webhook receiver pointing at a given URL
//! and sending `Authorization: Bearer TOKEN` (`http_config.authorization`),
//! short group timings, and alerts fed through its own API
//! (`POST /api/v2/alerts`).
//!
//! ```no_run
//! use guardian_tests::alertmanager::Alertmanager;
//! if !Alertmanager::available() { return } // skipped, says why
//! let am = Alertmanager::start("http://127.0.0.1:9464/alertmanager", "a-token-of-16-chars").unwrap();
//! am.fire(&[("alertname", "KubePodCrashLooping"), ("namespace", "shop"), ("pod", "web-1")]).unwrap();
//! ```
//!
//! The binary is `$ALERTMANAGER_BIN`, else `/usr/bin/prometheus-alertmanager`,
//! else `alertmanager` or `prometheus-alertmanager` on `PATH`. Without one the
//! tests that need it are skipped with a line saying how to enable them; with
//! `GUARDIAN_REQUIRE_ALERTMANAGER=1` (CI) a missing one fails them instead.
//! The server is killed when its [`Alertmanager`] is dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// Makes a missing Alertmanager a failure instead of a skip (CI sets it).
pub const REQUIRE_ENV: &str = "GUARDIAN_REQUIRE_ALERTMANAGER";

/// The Alertmanager binary, if there is one.
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ALERTMANAGER_BIN").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let debian = PathBuf::from("/usr/bin/prometheus-alertmanager");
    if debian.is_file() {
        return Some(debian);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| [d.join("alertmanager"), d.join("prometheus-alertmanager")])
        .find(|p| p.is_file())
}

/// A running Alertmanager.
pub struct Alertmanager {
    url: String,
    dir: tempfile::TempDir,
    child: Child,
}

impl Alertmanager {
    /// Whether a binary is there; prints why not (or panics under
    /// [`REQUIRE_ENV`]).
    pub fn available() -> bool {
        if binary().is_some() {
            return true;
        }
        let why = "skipped: no real Alertmanager. Install Debian's `prometheus-alertmanager` \
                   (scripts/setup.sh does it) or set ALERTMANAGER_BIN";
        if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
            panic!("{REQUIRE_ENV}=1 but {why}");
        }
        eprintln!("{why}");
        false
    }

    /// Starts Alertmanager with a webhook receiver sending every group (one
    /// alert each: grouped by all labels) to `webhook_url` with
    /// `Authorization: Bearer token`, resolved notifications included;
    /// group_wait and group_interval of one second. Returns once it is
    /// ready.
    pub fn start(webhook_url: &str, token: &str) -> anyhow::Result<Alertmanager> {
        let bin = binary().context("no Alertmanager binary")?;
        let dir = tempfile::Builder::new()
            .prefix("guardian-alertmanager")
            .tempdir()?;
        let config = dir.path().join("alertmanager.yml");
        let yaml = json!({
            "route": {
                "receiver": "guardian",
                "group_by": ["..."],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [{
                "name": "guardian",
                "webhook_configs": [{
                    "url": webhook_url,
                    "send_resolved": true,
                    "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
                }],
            }],
        });
        std::fs::write(&config, serde_yaml::to_string(&yaml)?)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::fs::File::create(dir.path().join("alertmanager.log"))?;
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // No gossip: one instance, nothing listening beyond its API.
            .arg("--cluster.listen-address=")
            .arg("--log.level=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut am = Alertmanager {
            url: format!("http://127.0.0.1:{port}"),
            dir,
            child,
        };
        let started = Instant::now();
        loop {
            if let Ok((200, _)) =
                crate::prometheus::http(&am.url, "GET", "/-/ready", None, Duration::from_secs(2))
            {
                return Ok(am);
            }
            if let Ok(Some(status)) = am.child.try_wait() {
                bail!("Alertmanager exited ({status}); its log:\n{}", am.log());
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!(
                    "Alertmanager was not ready within 30s; its log:\n{}",
                    am.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its log so far (notification errors are there, with the answer's
    /// body).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }

    /// `POST /api/v2/alerts` with `alerts` (Alertmanager's postable
    /// alerts: `labels`, `annotations`, `startsAt`, `endsAt`).
    pub fn post(&self, alerts: &Value) -> anyhow::Result<()> {
        let body = alerts.to_string();
        let (status, answer) = post_json(&self.url, "/api/v2/alerts", &body)?;
        if status != 200 {
            bail!(
                "POST /api/v2/alerts: {status} {}",
                String::from_utf8_lossy(&answer)
            );
        }
        Ok(())
    }

    /// Fires one alert with `labels` (and a summary annotation).
    pub fn fire(&self, labels: &[(&str, &str)]) -> anyhow::Result<()> {
        self.post(&json!([alert(labels, None)]))
    }

    /// Resolves the alert with `labels` (ends it a second ago).
    pub fn resolve(&self, labels: &[(&str, &str)]) -> anyhow::Result<()> {
        let ended = chrono_like_now(-1);
        self.post(&json!([alert(labels, Some(ended))]))
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A postable alert with `labels`, ending at `ends_at` (RFC 3339) if given.
pub fn alert(labels: &[(&str, &str)], ends_at: Option<String>) -> Value {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let mut a = json!({
        "labels": labels,
        "annotations": {"summary": "raised by a Guardian test"},
        "startsAt": chrono_like_now(-60),
        "generatorURL": "http://prometheus.invalid/graph",
    });
    if let Some(e) = ends_at {
        a["endsAt"] = json!(e);
    }
    a
}

/// Now plus `offset` seconds, as RFC 3339 UTC.
fn chrono_like_now(offset: i64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
        + offset;
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// One HTTP/1.0 POST of a JSON body, with an optional bearer token: status
/// and body.
pub fn post_json(base: &str, path: &str, body: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    post_json_as(base, path, body, None)
}

/// [`post_json`] with `Authorization: Bearer token`.
pub fn post_json_as(
    base: &str,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> anyhow::Result<(u16, Vec<u8>)> {
    use std::io::{Read, Write};
    let host = base
        .strip_prefix("http://")
        .context("only http:// URLs")?
        .trim_end_matches('/');
    let mut conn =
        std::net::TcpStream::connect(host).with_context(|| format!("cannot connect to {base}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        conn,
        "POST {path} HTTP/1.0\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = Vec::new();
    conn.read_to_end(&mut out)?;
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no HTTP answer")?;
    let head = String::from_utf8_lossy(&out[..end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("bad status line")?;
    Ok((status, out[end + 4..].to_vec()))
}
