//! A real browser for tests: Debian's headless Chromium driven through
//! WebDriver by `chromedriver` (package `chromium-driver`), started on a
//! free loopback port.
//!
//! ```no_run
//! use guardian_tests::browser::Browser;
//! let Some(b) = Browser::start_if_available() else { return }; // skipped, says why
//! let url = b.webdriver_url();           // http://127.0.0.1:PORT, for a WebDriver client
//! let caps = b.capabilities(1280, 900);  // headless Chromium in a window of that size
//! ```
//!
//! Both come from `/usr/bin` (installed by `scripts/setup.sh`), or from the
//! paths `CHROMEDRIVER` and `CHROMIUM` name. Without them the tests that
//! need a browser are skipped with a line that says how to enable them;
//! with `GUARDIAN_REQUIRE_BROWSER=1` (CI) a missing browser fails them
//! instead. The driver is killed when its [`Browser`] is dropped, and a
//! watchdog shell kills it when the test process exits, however it exits.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

/// The environment variable that makes a missing browser a failure instead
/// of a skip (CI sets it to `1`).
pub const REQUIRE_ENV: &str = "GUARDIAN_REQUIRE_BROWSER";

fn find(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

/// `chromedriver`: `$CHROMEDRIVER`, else on `PATH`.
pub fn chromedriver() -> Option<PathBuf> {
    find("CHROMEDRIVER", &["chromedriver"])
}

/// The Chromium binary: `$CHROMIUM`, else `chromium` on `PATH`.
pub fn chromium() -> Option<PathBuf> {
    find("CHROMIUM", &["chromium", "chromium-browser"])
}

/// A running `chromedriver` that starts headless Chromium sessions.
#[derive(Debug)]
pub struct Browser {
    url: String,
    chromium: PathBuf,
    child: Child,
    /// Chromium's profile folders live here; removed on drop.
    dir: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Whether the tests can drive a real browser. `false` (after printing
    /// why, as a skip) when Chromium or chromedriver is missing; panics
    /// then when `GUARDIAN_REQUIRE_BROWSER=1`.
    pub fn available() -> bool {
        if chromedriver().is_some() && chromium().is_some() {
            return true;
        }
        let why = "skipped: no real browser. Install Debian's `chromium` and `chromium-driver` \
                   packages (scripts/setup.sh does it), or set CHROMIUM and CHROMEDRIVER to their \
                   binaries";
        if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
            panic!("{REQUIRE_ENV}=1 but {why}");
        }
        eprintln!("{why}");
        false
    }

    /// [`Browser::start`] when [`Browser::available`]; `None` (skipped)
    /// otherwise. A browser that is there but does not start fails.
    pub fn start_if_available() -> Option<Browser> {
        if !Self::available() {
            return None;
        }
        Some(Self::start().expect("chromedriver starts"))
    }

    /// Starts `chromedriver` on a free loopback port and waits until it is
    /// ready for sessions.
    pub fn start() -> anyhow::Result<Browser> {
        let driver = chromedriver().context("no chromedriver (install chromium-driver)")?;
        let chromium = chromium().context("no chromium (install chromium)")?;
        let dir = tempfile::Builder::new()
            .prefix("guardian-browser")
            .tempdir()
            .context("a folder for the browser")?;
        let mut attempt = 0;
        loop {
            match Self::spawn(&driver, &dir) {
                Ok((child, url)) => {
                    return Ok(Browser {
                        url,
                        chromium,
                        child,
                        dir,
                    });
                }
                Err(e) if attempt < 3 => {
                    attempt += 1;
                    eprintln!("chromedriver did not start ({e:#}); trying another port");
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn spawn(driver: &Path, dir: &tempfile::TempDir) -> anyhow::Result<(Child, String)> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = dir.path().join(format!("chromedriver-{port}.log"));
        let mut child = Command::new(driver)
            .arg(format!("--port={port}"))
            // Only loopback clients (the default, said explicitly).
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot run {}", driver.display()))?;
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill {pid} 2>/dev/null; \
             pkill -P {pid} 2>/dev/null; sleep 1; kill -9 {pid} 2>/dev/null",
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
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(body) = get(port, "/status")
                && serde_json::from_str::<Value>(&body).is_ok_and(|v| v["value"]["ready"] == true)
            {
                return Ok((child, url));
            }
            if let Ok(Some(status)) = child.try_wait() {
                bail!(
                    "chromedriver exited ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("chromedriver on port {port} was not ready within 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The WebDriver endpoint: `http://127.0.0.1:PORT`.
    pub fn webdriver_url(&self) -> &str {
        &self.url
    }

    /// Capabilities for a new session: headless Chromium (no sandbox when
    /// run as root, as in CI), in a `width` × `height` window, with its own
    /// fresh profile, and nothing that would reach the network by itself.
    pub fn capabilities(&self, width: u32, height: u32) -> Map<String, Value> {
        let profile = self.dir.path().join(format!("profile-{}", unique()));
        let mut args = vec![
            "--headless=new".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-extensions".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        if is_root() {
            args.push("--no-sandbox".to_owned());
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.chromium.display().to_string(),
                "args": args,
            },
        });
        match caps {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A plain HTTP/1.1 GET to loopback `port`: the body. Read up to its
/// `Content-Length` (chromedriver keeps the connection open).
fn get(port: u16, path: &str) -> anyhow::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())
                    .flatten()
            });
            if length.is_some_and(|len| body.len() >= len) {
                return Ok(body.to_owned());
            }
        }
    }
    let text = String::from_utf8_lossy(&data);
    Ok(text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default())
}
