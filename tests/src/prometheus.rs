//! A real Prometheus for tests: history written as OpenMetrics text, turned
//! into TSDB blocks by `promtool tsdb create-blocks-from openmetrics`, served
//! by the `prometheus` binary on a free loopback port.
//!
//! ```no_run
//! use guardian_tests::prometheus::Prometheus;
//! if !Prometheus::available() { return } // skipped, says why
//! let om = "# TYPE up gauge\nup{job=\"x\"} 1 1700000000\n# EOF\n";
//! let p = Prometheus::start(om).unwrap();
//! let data = p.query("up", Some(1_700_000_000.0)).unwrap(); // Prometheus' `data` object
//! ```
//!
//! Both binaries come from Debian's `prometheus` package (installed by
//! `scripts/setup.sh`), or from the folder `PROMETHEUS_BIN` names. Without
//! them the tests that need Prometheus are skipped with a line that says how
//! to enable them; with `GUARDIAN_REQUIRE_PROMETHEUS=1` (CI) a missing
//! Prometheus fails them instead, so a CI run can never skip them silently.
//!
//! A server started here outlives nothing: it is killed when its
//! [`Prometheus`] is dropped, and a watchdog shell kills it and removes its
//! folder when the test process exits, however it exits (so a shared
//! instance, [`shared`], which is never dropped, goes too). The machine
//! running the tests may be small: start one server per data set and test
//! binary ([`shared`]), not one per test.
//!
//! For the bad-input tests: [`dead_url`] (nothing listens there),
//! [`stalled_url`] (accepts connections and never answers: a hung server),
//! [`answering_url`] (answers every request with a fixed status and body:
//! garbage, an HTTP error), and [`Prometheus::pause`] (a real server stopped
//! with SIGSTOP: it accepts connections and answers nothing until
//! [`Prometheus::resume`]).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The environment variable that makes a missing Prometheus a failure
/// instead of a skip (CI sets it to `1`).
pub const REQUIRE_ENV: &str = "GUARDIAN_REQUIRE_PROMETHEUS";

/// A running Prometheus serving the history it was started with.
#[derive(Debug)]
pub struct Prometheus {
    url: String,
    dir: PathBuf,
    child: Option<Child>,
    /// How long `promtool` took to write the blocks.
    pub promtool_time: Duration,
    /// How long the server took to become ready once started.
    pub startup_time: Duration,
}

/// How to start a [`Prometheus`] beyond its data.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Extra command-line flags for `prometheus` (e.g. `--query.timeout=1ms`,
    /// `--query.max-samples=10`).
    pub flags: Vec<String>,
    /// Where to keep the OpenMetrics file and the TSDB (a fresh folder under
    /// the system's temporary folder when `None`). It is removed when the
    /// server goes unless [`Options::keep`].
    pub dir: Option<PathBuf>,
    /// Keep the folder after the server is gone.
    pub keep: bool,
}

/// The folder holding `prometheus` and `promtool`: `$PROMETHEUS_BIN`, else
/// the first folder of `PATH` with both.
pub fn bin_dir() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("prometheus").is_file() && d.join("promtool").is_file();
    if let Some(d) = std::env::var_os("PROMETHEUS_BIN").filter(|d| !d.is_empty()) {
        let d = PathBuf::from(d);
        return has_both(&d).then_some(d);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|d| has_both(d))
}

impl Prometheus {
    /// Whether the tests can start a real Prometheus. `false` (after printing
    /// why, as a skip) when the binaries are not there; panics when they are
    /// not there and `GUARDIAN_REQUIRE_PROMETHEUS=1`.
    pub fn available() -> bool {
        if bin_dir().is_some() {
            return true;
        }
        let why = "skipped: no real Prometheus. Install Debian's `prometheus` package (it has \
                   `prometheus` and `promtool`; scripts/setup.sh does it) or set PROMETHEUS_BIN \
                   to a folder holding both";
        if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
            panic!("{REQUIRE_ENV}=1 but {why}");
        }
        eprintln!("{why}");
        false
    }

    /// Writes `openmetrics` (OpenMetrics text: timestamps in seconds, each
    /// series' samples in time order, ending with `# EOF`) to a fresh folder,
    /// turns it into TSDB blocks with `promtool`, and starts Prometheus on
    /// it; returns once the server answers `/-/ready`.
    pub fn start(openmetrics: &str) -> anyhow::Result<Prometheus> {
        Self::start_with(openmetrics, &Options::default())
    }

    /// [`Prometheus::start`] with [`Options`].
    pub fn start_with(openmetrics: &str, options: &Options) -> anyhow::Result<Prometheus> {
        let dir = match &options.dir {
            Some(d) => d.clone(),
            None => fresh_dir("guardian-prometheus"),
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
        let file = dir.join("history.om.txt");
        std::fs::write(&file, openmetrics).with_context(|| format!("{}", file.display()))?;
        Self::start_from_file(&file, options)
    }

    /// Like [`Prometheus::start_with`], for OpenMetrics text already in
    /// `file` (too big to hold in memory, e.g. the benchmark's). The TSDB is
    /// written beside it, in `<file's folder>/tsdb`.
    pub fn start_from_file(file: &Path, options: &Options) -> anyhow::Result<Prometheus> {
        let bin = bin_dir().context(
            "no `prometheus` and `promtool` on PATH (install Debian's `prometheus` package, or \
             set PROMETHEUS_BIN)",
        )?;
        let dir = file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let tsdb = dir.join("tsdb");
        let _ = std::fs::remove_dir_all(&tsdb);
        let started = Instant::now();
        let out = Command::new(bin.join("promtool"))
            .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
            .arg(file)
            .arg(&tsdb)
            .output()
            .context("cannot run promtool")?;
        if !out.status.success() {
            bail!(
                "promtool tsdb create-blocks-from openmetrics {} failed ({}): {}{}",
                file.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
        let promtool_time = started.elapsed();
        let mut attempt = 0;
        loop {
            match start_server(&bin, &dir, &tsdb, options, promtool_time) {
                Err(e) if format!("{e:#}").contains("address already in use") && attempt < 3 => {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The folder holding the OpenMetrics file, the TSDB and the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// An instant query (`/api/v1/query`, POST form) at `at` (Unix seconds;
    /// the server's now when `None`): Prometheus' `data` object.
    pub fn query(&self, promql: &str, at: Option<f64>) -> anyhow::Result<serde_json::Value> {
        let mut form = vec![("query", promql.to_owned())];
        if let Some(at) = at {
            form.push(("time", format!("{at}")));
        }
        api(&self.url, "/api/v1/query", &form)
    }

    /// A range query (`/api/v1/query_range`, POST form): Prometheus' `data`
    /// object.
    pub fn query_range(
        &self,
        promql: &str,
        start: f64,
        end: f64,
        step: &str,
    ) -> anyhow::Result<serde_json::Value> {
        let form = [
            ("query", promql.to_owned()),
            ("start", format!("{start}")),
            ("end", format!("{end}")),
            ("step", step.to_owned()),
        ];
        api(&self.url, "/api/v1/query_range", &form)
    }

    /// The server's own metrics (`/metrics`, Prometheus text format).
    pub fn self_metrics(&self) -> anyhow::Result<String> {
        let (status, body) = http(&self.url, "GET", "/metrics", None, Duration::from_secs(30))?;
        if status != 200 {
            bail!("{}/metrics answered {status}", self.url);
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// Stops the server with SIGSTOP: it still accepts connections (the
    /// kernel queues them) but answers nothing, as a hung server does.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Lets a [`Prometheus::pause`]d server run again.
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, sig: &str) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(pid.to_string())
                .status();
        }
    }

    /// Kills the server now (its folder goes unless kept).
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let keep = self.dir.join(".keep").exists();
        self.kill();
        if !keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn start_server(
    bin: &Path,
    dir: &Path,
    tsdb: &Path,
    options: &Options,
    promtool_time: Duration,
) -> anyhow::Result<Prometheus> {
    let config = dir.join("prometheus.yml");
    // No scrape jobs: the server holds the history it was given, nothing more.
    std::fs::write(&config, "global:\n  evaluation_interval: 1h\n")
        .with_context(|| format!("{}", config.display()))?;
    if options.keep {
        std::fs::write(dir.join(".keep"), "")?;
    }
    let port = free_port();
    let log = dir.join("prometheus.log");
    let log_file = std::fs::File::create(&log).with_context(|| format!("{}", log.display()))?;
    let started = Instant::now();
    let mut child = Command::new(bin.join("prometheus"))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", tsdb.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        // The history is old by the time a test reads it: keep it all.
        .arg("--storage.tsdb.retention.time=3650d")
        // Blocks stay as promtool wrote them: no compaction work (CPU, disk)
        // while the tests query. Overlapping blocks are always allowed
        // since Prometheus 2.39.
        .arg("--storage.tsdb.min-block-duration=2h")
        .arg("--storage.tsdb.max-block-duration=2h")
        .arg("--log.level=warn")
        .args(&options.flags)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_file.try_clone()?))
        .stderr(Stdio::from(log_file))
        .spawn()
        .context("cannot start prometheus")?;
    // The watchdog: when this process is gone, so is the server (and its
    // folder, unless kept).
    let rm = if options.keep {
        String::new()
    } else {
        format!("rm -rf '{}'", dir.display())
    };
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill -CONT {pid} 2>/dev/null; \
         kill {pid} 2>/dev/null; sleep 1; kill -9 {pid} 2>/dev/null; {rm}",
        me = std::process::id(),
        pid = child.id(),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start the watchdog")?;
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok((200, _)) = http(&url, "GET", "/-/ready", None, Duration::from_secs(5)) {
            break;
        }
        let tail = || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().rev().take(10).collect();
            lines.into_iter().rev().collect::<Vec<_>>().join("\n")
        };
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "prometheus exited ({status}) before it was ready; last lines of its log \
                 ({}):\n{}",
                log.display(),
                tail()
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "prometheus not ready after 300 s; last lines of its log:\n{}",
                tail()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Prometheus {
        url,
        dir: dir.to_path_buf(),
        child: Some(child),
        promtool_time,
        startup_time: started.elapsed(),
    })
}

type Shared = Mutex<HashMap<&'static str, &'static OnceLock<Result<Prometheus, String>>>>;

static SHARED: OnceLock<Shared> = OnceLock::new();

/// The Prometheus of this test binary for the data set `name`, started on
/// first use with the OpenMetrics text `history()` makes; later calls with
/// the same name share it (never dropped: the watchdog ends it with the
/// process). `None` (after printing why) when Prometheus is not
/// [`available`](Prometheus::available); panics when it is there but does
/// not start.
pub fn shared(name: &'static str, history: impl FnOnce() -> String) -> Option<&'static Prometheus> {
    if !Prometheus::available() {
        return None;
    }
    let cell: &'static OnceLock<Result<Prometheus, String>> = {
        let mut map = SHARED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.entry(name)
            .or_insert_with(|| Box::leak(Box::new(OnceLock::new())))
    };
    let started = cell.get_or_init(|| Prometheus::start(&history()).map_err(|e| format!("{e:#}")));
    match started {
        Ok(p) => Some(p),
        Err(e) => panic!("the real Prometheus for {name}: {e}"),
    }
}

/// A URL where nothing listens (a port bound and released): a Prometheus
/// that is down. Connecting is refused.
pub fn dead_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

/// A URL whose server accepts connections, reads the request and never
/// answers (held for the life of the process): a hung Prometheus. A client
/// without a timeout waits forever.
pub fn stalled_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    format!("http://{addr}")
}

/// A URL whose server answers every request with `status`, content type
/// `content_type` and `body` after `delay` (for the life of the process):
/// garbage (`200`, `text/html`, `<html>…`), an error
/// (`503`, `text/plain`, `overloaded`), Prometheus' error JSON
/// (`422`, `application/json`, `{"status":"error",…}`), a slow server.
pub fn answering_url(status: u16, content_type: &str, body: &str, delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n\
         Connection: close\r\n\r\n{body}",
        reason = if status < 400 { "OK" } else { "Error" },
        len = body.len()
    );
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let response = response.clone();
            std::thread::spawn(move || {
                let mut conn = conn;
                let _ = read_request(&mut conn);
                std::thread::sleep(delay);
                let _ = conn.write_all(response.as_bytes());
            });
        }
    });
    format!("http://{addr}")
}

/// Reads one HTTP request's head and its body (by Content-Length).
fn read_request(conn: &mut TcpStream) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = conn.read(&mut chunk)?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(());
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A POST to Prometheus' HTTP API; the `data` of a `success` answer, else an
/// error naming the URL and Prometheus' error text.
pub fn api(base: &str, path: &str, form: &[(&str, String)]) -> anyhow::Result<serde_json::Value> {
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let (status, bytes) = http(base, "POST", path, Some(&body), Duration::from_secs(300))?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{base}{path} answered {status} with no JSON: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        )
    })?;
    if v["status"] != "success" {
        bail!(
            "{base}{path} answered {status}: {}: {}",
            v["errorType"].as_str().unwrap_or("?"),
            v["error"].as_str().unwrap_or("?")
        );
    }
    Ok(v["data"].clone())
}

/// One HTTP/1.0 exchange (the server closes the connection after the body,
/// never chunks): status and body.
pub fn http(
    base: &str,
    method: &str,
    path: &str,
    form: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let host = base
        .strip_prefix("http://")
        .with_context(|| format!("{base}: only http:// URLs"))?
        .trim_end_matches('/');
    let addr: SocketAddr = host
        .parse()
        .with_context(|| format!("{base}: not an IP:port URL"))?;
    let mut conn = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("cannot connect to {base}"))?;
    conn.set_read_timeout(Some(timeout))?;
    conn.set_write_timeout(Some(timeout))?;
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {host}\r\n");
    if let Some(body) = form {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    } else {
        req.push_str("\r\n");
    }
    conn.write_all(req.as_bytes())
        .with_context(|| format!("{base}{path}: cannot send"))?;
    let mut out = Vec::new();
    conn.read_to_end(&mut out)
        .with_context(|| format!("{base}{path}: no answer"))?;
    let end = find(&out, b"\r\n\r\n").with_context(|| format!("{base}{path}: no HTTP answer"))?;
    let status_line = String::from_utf8_lossy(&out[..end]);
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .with_context(|| format!("{base}{path}: bad status line {status_line:?}"))?;
    Ok((status, out[end + 4..].to_vec()))
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn fresh_dir(prefix: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples every 5 minutes ending at an aligned `end`: a counter rising
    /// 60 per 5 minutes (0.2/s) and a gauge.
    fn history(end: i64) -> String {
        let mut om = String::from("# TYPE c counter\n");
        for i in 0..=24 {
            om.push_str(&format!(
                "c_total{{a=\"x\"}} {} {}\n",
                i * 60,
                end - (24 - i) * 300
            ));
        }
        om.push_str("# TYPE g gauge\n");
        for i in 0..=24 {
            om.push_str(&format!("g{{a=\"x\"}} {i} {}\n", end - (24 - i) * 300));
        }
        om.push_str("# EOF\n");
        om
    }

    fn value(data: &serde_json::Value) -> f64 {
        data["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("one sample: {data}"))
    }

    #[test]
    fn serves_the_history_it_was_given_and_dies_with_its_handle() {
        if !Prometheus::available() {
            return;
        }
        let end = 1_700_000_100 / 300 * 300;
        let p = Prometheus::start(&history(end)).expect("prometheus starts");
        let at = Some(end as f64);
        // Closed ranges (Prometheus 2.x): two samples in [t-5m, t], the rate
        // exact.
        assert_eq!(value(&p.query("rate(c_total[5m])", at).unwrap()), 0.2);
        assert_eq!(
            value(&p.query("max_over_time(g[2h:5m])", at).unwrap()),
            24.0
        );
        assert_eq!(
            value(&p.query("count_over_time(g[1h:5m])", at).unwrap()),
            13.0
        );
        let range = p
            .query_range("g", (end - 600) as f64, end as f64, "5m")
            .unwrap();
        assert_eq!(
            range["result"][0]["values"].as_array().map(Vec::len),
            Some(3)
        );
        let err = p.query("rate(g[5m]", at).unwrap_err().to_string();
        assert!(err.contains("bad_data"), "{err}");
        assert!(
            p.self_metrics()
                .unwrap()
                .contains("prometheus_http_requests_total")
        );
        let url = p.url().to_owned();
        let dir = p.dir().to_path_buf();
        drop(p);
        assert!(http(&url, "GET", "/-/ready", None, Duration::from_secs(2)).is_err());
        assert!(!dir.exists(), "{} removed", dir.display());
    }

    #[test]
    fn bad_servers_fail_as_they_should() {
        let dead = dead_url();
        let err = format!("{:#}", api(&dead, "/api/v1/query", &[]).unwrap_err());
        assert!(
            err.contains("cannot connect") && err.contains(&dead),
            "{err}"
        );

        let stalled = stalled_url();
        let started = Instant::now();
        let err = http(
            &stalled,
            "GET",
            "/-/ready",
            None,
            Duration::from_millis(300),
        );
        assert!(err.is_err() && started.elapsed() >= Duration::from_millis(300));

        let garbage = answering_url(200, "text/html", "<html>hi</html>", Duration::ZERO);
        let err = format!("{:#}", api(&garbage, "/api/v1/query", &[]).unwrap_err());
        assert!(err.contains("no JSON") && err.contains("<html>hi"), "{err}");

        let error = answering_url(
            422,
            "application/json",
            r#"{"status":"error","errorType":"execution","error":"boom"}"#,
            Duration::ZERO,
        );
        let err = format!("{:#}", api(&error, "/api/v1/query", &[]).unwrap_err());
        assert!(err.contains("422") && err.contains("boom"), "{err}");
    }
}
