//! A real OCI registry for tests: Debian's `docker-registry` (CNCF
//! distribution 2.8, `/usr/bin/docker-registry serve CONFIG.yml`) on a free
//! loopback port with token authentication, images pushed through its own
//! HTTP API.
//!
//! ```no_run
//! use guardian_tests::registry;
//! let Some(r) = registry::shared() else { return }; // skipped, says why
//! let host = r.host();                 // 127.0.0.1:PORT
//! // `shop/web` holds registry::SHOP_WEB_TAGS tags, readable by `puller`;
//! // `public/tools` is readable anonymously.
//! ```
//!
//! What runs:
//!
//! - the registry, configured with `auth: token:` — its realm is a loopback
//!   token server written here (axum), which checks the users of [`USERS`]
//!   (Basic auth) and issues JWTs signed (ES256) by a key whose self-signed
//!   certificate is the registry's `rootcertbundle`; the certificate rides in
//!   the token's `x5c` header, which distribution verifies against the
//!   bundle. `puller` may pull every repository, `pusher` push and pull,
//!   `nobody` (right password) nothing, and anyone — without credentials —
//!   may pull repositories under [`PUBLIC_PREFIX`];
//! - a front on the address clients use ([`Registry::host`]), which passes
//!   every request to the registry and back unchanged, except one: the
//!   registry of Debian (distribution 2.8) answers a tags list whole,
//!   whatever `n` says, where the Distribution spec (and distribution 3,
//!   Docker Hub, GHCR) pages it. The front pages the registry's own answer
//!   as the spec says: tags in lexical order, at most `n`, after `last`, with
//!   `Link: </v2/NAME/tags/list?n=N&last=TAG>; rel="next"` when more
//!   follow. It records every request it sees ([`Registry::requests`]).
//!
//! Images are pushed to the registry directly (blob uploads, then a
//! manifest PUT per tag: OCI image manifests with an uncompressed tar
//! layer), with a push token minted here.
//!
//! A registry started here outlives nothing: it is killed when its
//! [`Registry`] is dropped, and a watchdog shell kills it and removes its
//! folder when the test process exits, however it exits (so the shared
//! instance goes too). Start one per test binary ([`shared`]); a test that
//! stops a registry ([`Registry::stop`], [`Registry::restart`]) starts its
//! own ([`Registry::start`]).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The environment variable that makes a missing registry a failure instead
/// of a skip (CI sets it to `1`).
pub const REQUIRE_ENV: &str = "GUARDIAN_REQUIRE_REGISTRY";

/// The `service` the registry names in its challenges and tokens are for.
pub const SERVICE: &str = "guardian-test-registry";
/// The issuer of the tokens.
pub const ISSUER: &str = "guardian-test-token-issuer";

/// The users of the token server: (user, password).
pub const USERS: &[(&str, &str)] = &[
    ("puller", "puller-pw-Zq8rT2vX9kLm4N"),
    ("pusher", "pusher-pw-Hb7cW3yP5sQd1R"),
    ("nobody", "nobody-pw-Jt6eU4aK8fGh2M"),
];

/// The password of `user` (one of [`USERS`]).
pub fn password(user: &str) -> &'static str {
    USERS
        .iter()
        .find(|(u, _)| *u == user)
        .map(|(_, p)| *p)
        .unwrap_or_else(|| panic!("no registry user {user}"))
}

/// Repositories under this prefix may be pulled without credentials.
pub const PUBLIC_PREFIX: &str = "public/";

/// The repository of [`shared`] with many tags, and their count.
pub const SHOP_WEB: &str = "shop/web";
pub const SHOP_WEB_TAGS: usize = 120;
/// The anonymous repository of [`shared`] and its tags.
pub const PUBLIC_TOOLS: &str = "public/tools";
pub const PUBLIC_TOOLS_TAGS: &[&str] = &["1.0.0", "1.1.0", "latest"];

/// The tags of [`SHOP_WEB`] in [`shared`]: releases `1.0.0` … (semantic
/// versions across majors and minors), pre-releases, `latest` and a few
/// others.
pub fn shop_web_tags() -> Vec<String> {
    let mut tags = Vec::new();
    'out: for major in 1..=3 {
        for minor in 0..10 {
            for patch in 0..4 {
                tags.push(format!("{major}.{minor}.{patch}"));
                if tags.len() == SHOP_WEB_TAGS - 6 {
                    break 'out;
                }
            }
        }
    }
    for extra in [
        "latest",
        "3.9.0-rc.1",
        "4.0.0-beta.2",
        "main",
        "sha-3f9c2e1",
        "v2.4.7",
    ] {
        tags.push(extra.to_owned());
    }
    assert_eq!(tags.len(), SHOP_WEB_TAGS);
    tags
}

/// A request the front saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// The scheme of its `Authorization` header (`Bearer`, `Basic`), if any.
    pub auth: Option<String>,
    /// The status the front answered.
    pub status: u16,
}

/// A request the token server saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// The Basic user, if credentials came.
    pub user: Option<String>,
    pub service: String,
    pub scopes: Vec<String>,
    /// 200, or 401 for wrong credentials.
    pub status: u16,
}

/// The token server's signing key and certificate.
struct Signer {
    key: EcdsaKeyPair,
    /// The certificate (DER, base64) for the `x5c` header.
    x5c: String,
}

impl Signer {
    fn new(dir: &Path) -> anyhow::Result<Signer> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|e| anyhow::anyhow!("cannot generate the token key: {e}"))?;
        let key_pem = dir.join("token.key");
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(pkcs8.as_ref())
        );
        std::fs::write(&key_pem, pem)?;
        let cert_pem = dir.join("token.crt");
        let out = Command::new("openssl")
            .args(["req", "-new", "-x509", "-days", "3650", "-subj"])
            .arg(format!("/CN={ISSUER}"))
            .arg("-key")
            .arg(&key_pem)
            .arg("-out")
            .arg(&cert_pem)
            .stdin(Stdio::null())
            .output()
            .context("cannot run openssl")?;
        if !out.status.success() {
            bail!(
                "openssl req failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = std::fs::read_to_string(&cert_pem)?;
        let x5c: String = text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|e| anyhow::anyhow!("cannot load the token key: {e}"))?;
        let _ = key.public_key();
        Ok(Signer { key, x5c })
    }

    /// A token for `subject` granting `access` (`[{type, name, actions}]`).
    fn token(&self, subject: &str, access: Value) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        static JTI: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]});
        let claims = json!({
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + 600,
            "nbf": now.saturating_sub(60),
            "iat": now,
            "jti": format!("t{}", JTI.fetch_add(1, std::sync::atomic::Ordering::Relaxed)),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = ring::rand::SystemRandom::new();
        let signature = self
            .key
            .sign(&rng, signing_input.as_bytes())
            .expect("ECDSA signing");
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}

/// What `user` (`None`: anonymous) may do on `repository`, of `wanted`.
fn allowed_actions(user: Option<&str>, repository: &str, wanted: &[&str]) -> Vec<String> {
    let may: &[&str] = match user {
        Some("pusher") => &["pull", "push"],
        Some("puller") => &["pull"],
        Some(_) => &[],
        None if repository.starts_with(PUBLIC_PREFIX) => &["pull"],
        None => &[],
    };
    wanted
        .iter()
        .filter(|a| may.contains(a))
        .map(|a| (*a).to_owned())
        .collect()
}

struct State {
    signer: Signer,
    registry_port: u16,
    seen: Mutex<Vec<Seen>>,
    tokens: Mutex<Vec<TokenRequest>>,
    /// Every token the token server issued (to prove none leaks).
    issued: Mutex<Vec<String>>,
    http: reqwest::Client,
}

/// A running registry, its token server and its front.
pub struct Registry {
    dir: PathBuf,
    /// The front's port: what clients use.
    port: u16,
    token_port: u16,
    state: Arc<State>,
    child: Mutex<Option<Child>>,
    runtime: tokio::runtime::Handle,
    /// Stops the front when sent (or dropped).
    front: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    /// Keeps the servers' runtime thread; ended on drop.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("host", &self.host())
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Whether the tests can start a real registry: `docker-registry` and
/// `openssl` are on `PATH`. `false` (after printing why, as a skip) when not;
/// panics then when `GUARDIAN_REQUIRE_REGISTRY=1`.
pub fn available() -> bool {
    let on_path = |bin: &str| {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
            .unwrap_or(false)
    };
    if on_path("docker-registry") && on_path("openssl") {
        return true;
    }
    let why = "skipped: no real registry. Install Debian's `docker-registry` package \
               (scripts/setup.sh does it) and `openssl`";
    if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
        panic!("{REQUIRE_ENV}=1 but {why}");
    }
    eprintln!("{why}");
    false
}

static SHARED: OnceLock<Result<Registry, String>> = OnceLock::new();

/// The registry of this test binary, started on first use with
/// [`SHOP_WEB`] ([`shop_web_tags`]) and [`PUBLIC_TOOLS`] pushed. `None`
/// (after printing why) when no registry is [`available`]; panics when it is
/// there but does not start.
pub fn shared() -> Option<&'static Registry> {
    if !available() {
        return None;
    }
    let started = SHARED.get_or_init(|| {
        let start = || -> anyhow::Result<Registry> {
            let r = Registry::start()?;
            r.push_image(SHOP_WEB, &shop_web_tags())?;
            let public: Vec<String> = PUBLIC_TOOLS_TAGS.iter().map(|t| (*t).to_owned()).collect();
            r.push_image(PUBLIC_TOOLS, &public)?;
            Ok(r)
        };
        // Started on a thread of its own: a caller inside a runtime cannot
        // block on one.
        std::thread::spawn(start)
            .join()
            .map_err(|_| "the registry start panicked".to_owned())
            .and_then(|r| r.map_err(|e| format!("{e:#}")))
    });
    match started {
        Ok(r) => Some(r),
        Err(e) => panic!("the test registry did not start: {e}"),
    }
}

/// A plain-HTTP client (rustls' ring provider installed, as the broker does).
fn http_client() -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Runs `future` to its end on a thread of its own (callers may be inside a
/// runtime, where blocking on another is refused).
fn block<T: Send + 'static>(
    handle: &tokio::runtime::Handle,
    future: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let handle = handle.clone();
    std::thread::spawn(move || handle.block_on(future))
        .join()
        .expect("the blocking thread panicked")
}

impl Registry {
    /// Starts a registry with its own data folder, token server and front
    /// on free loopback ports; returns once it answers.
    pub fn start() -> anyhow::Result<Registry> {
        let dir = crate::prometheus::fresh_dir("guardian-registry");
        let started = Self::start_in(dir.clone());
        if started.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        started
    }

    fn start_in(dir: PathBuf) -> anyhow::Result<Registry> {
        std::fs::create_dir_all(dir.join("data"))?;
        let signer = Signer::new(&dir)?;
        let registry_port = free_port();
        let state = Arc::new(State {
            signer,
            registry_port,
            seen: Mutex::new(Vec::new()),
            tokens: Mutex::new(Vec::new()),
            issued: Mutex::new(Vec::new()),
            http: http_client()?,
        });

        // The servers' runtime, on a thread that lives as long as `self`.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("test-registry".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let _ = stopped.await;
                });
            })?;

        let token_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        token_listener.set_nonblocking(true)?;
        let token_port = token_listener.local_addr()?.port();
        {
            let _in = handle.enter();
            let listener = tokio::net::TcpListener::from_std(token_listener)?;
            let app = token_router(Arc::clone(&state));
            handle.spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
        }

        let port = free_port();
        let registry = Registry {
            dir,
            port,
            token_port,
            state,
            child: Mutex::new(None),
            runtime: handle,
            front: Mutex::new(None),
            _stop: stop,
        };
        registry.write_config()?;
        registry.start_registry()?;
        registry.start_front()?;
        Ok(registry)
    }

    /// `127.0.0.1:PORT`: the registry host as an image names it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT/token`: the token server (the realm).
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.token_port)
    }

    /// Every request the front saw, in order.
    pub fn requests(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Every request the token server saw, in order.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.state.tokens.lock().unwrap().clone()
    }

    /// Every token the token server issued, in order.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.issued.lock().unwrap().clone()
    }

    /// The registry process's log (its access log included).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }

    /// Stops the registry and its front: connections to [`Registry::host`]
    /// are refused until [`Registry::restart`].
    pub fn stop(&self) {
        if let Some(tx) = self.front.lock().unwrap().take() {
            let _ = tx.send(());
        }
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The front's listener is closed once its task has seen the stop.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the registry and its front again on the same ports and data.
    pub fn restart(&self) -> anyhow::Result<()> {
        self.stop();
        self.start_registry()?;
        self.start_front()
    }

    fn write_config(&self) -> anyhow::Result<()> {
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  formatter: text\n\
             storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: guardian-test-registry-http-secret\n\
             auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    \
             rootcertbundle: {cert}\n",
            data = self.dir.join("data").display(),
            port = self.state.registry_port,
            realm = self.realm(),
            cert = self.dir.join("token.crt").display(),
        );
        std::fs::write(self.dir.join("config.yml"), config)?;
        Ok(())
    }

    fn start_registry(&self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("registry.log"))?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start docker-registry")?;
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do kill -0 {pid} 2>/dev/null || exit 0; sleep 1; \
             done; kill {pid} 2>/dev/null; sleep 1; kill -9 {pid} 2>/dev/null; rm -rf '{dir}'",
            me = std::process::id(),
            pid = child.id(),
            dir = self.dir.display(),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the watchdog")?;
        *self.child.lock().unwrap() = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("http://127.0.0.1:{}/v2/", self.state.registry_port);
        let http = self.state.http.clone();
        loop {
            let probe = block(&self.runtime, {
                let (http, url) = (http.clone(), url.clone());
                async move { http.get(url).send().await.map(|r| r.status().as_u16()) }
            });
            // 401: up, and asking for a token.
            if let Ok(401) = probe {
                return Ok(());
            }
            if let Some(child) = self.child.lock().unwrap().as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!(
                    "docker-registry exited ({status}) before it answered; its log:\n{}",
                    self.log()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "docker-registry did not answer within 60 s ({probe:?}); its log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn start_front(&self) -> anyhow::Result<()> {
        let listener = bind_again(self.port)?;
        listener.set_nonblocking(true)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let _in = self.runtime.enter();
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let app = front_router(Arc::clone(&self.state));
        self.runtime.spawn(async move {
            tokio::select! {
                _ = axum::serve(listener, app).into_future() => {}
                _ = rx => {}
            }
        });
        *self.front.lock().unwrap() = Some(tx);
        Ok(())
    }

    /// Pushes a small generated image to `repository` under every tag of
    /// `tags`, through the registry's HTTP API with a push token: the layer
    /// and config blobs (POST an upload, PUT its content with the digest),
    /// then the OCI image manifest once per tag.
    pub fn push_image(&self, repository: &str, tags: &[String]) -> anyhow::Result<()> {
        let token = self.state.signer.token(
            "pusher",
            json!([{"type": "repository", "name": repository, "actions": ["pull", "push"]}]),
        );
        let base = format!("http://127.0.0.1:{}", self.state.registry_port);
        let http = self.state.http.clone();
        let repository = repository.to_owned();
        let tags = tags.to_vec();
        block(&self.runtime, async move {
            let layer = tar_with(&format!("{repository}\n"));
            let layer_digest = digest(&layer);
            let config = json!({
                "architecture": "amd64",
                "os": "linux",
                "config": {"Cmd": ["/hello"]},
                "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            })
            .to_string()
            .into_bytes();
            let config_digest = digest(&config);
            for blob in [&layer, &config] {
                upload(&http, &base, &token, &repository, blob).await?;
            }
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest,
                    "size": config.len(),
                },
                "layers": [{
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": layer.len(),
                }],
            })
            .to_string();
            for tag in &tags {
                let url = format!("{base}/v2/{repository}/manifests/{tag}");
                let response = http
                    .put(&url)
                    .bearer_auth(&token)
                    .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                    .body(manifest.clone())
                    .send()
                    .await?;
                let status = response.status();
                if status.as_u16() != 201 {
                    let text = response.text().await.unwrap_or_default();
                    bail!("PUT {url}: {status}: {text}");
                }
            }
            Ok(())
        })
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Binds `port` again (it was just closed: retried for a while).
fn bind_again(port: u16) -> anyhow::Result<TcpListener> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => return Ok(l),
            Err(e) if Instant::now() > deadline => {
                return Err(e).with_context(|| format!("cannot bind 127.0.0.1:{port}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn digest(bytes: &[u8]) -> String {
    let sum = Sha256::digest(bytes);
    let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// An uncompressed tar holding one file, `hello.txt`, with `text`.
fn tar_with(text: &str) -> Vec<u8> {
    let mut header = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, value: &[u8]| {
        h[at..at + value.len()].copy_from_slice(value);
    };
    put(&mut header, 0, b"hello.txt");
    put(&mut header, 100, b"0000644\0");
    put(&mut header, 108, b"0000000\0");
    put(&mut header, 116, b"0000000\0");
    put(
        &mut header,
        124,
        format!("{:011o}\0", text.len()).as_bytes(),
    );
    put(&mut header, 136, b"00000000000\0");
    put(&mut header, 156, b"0");
    put(&mut header, 257, b"ustar\0");
    put(&mut header, 263, b"00");
    put(&mut header, 148, b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    put(&mut header, 148, format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(text.as_bytes());
    out.resize(512 + text.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

async fn upload(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    repository: &str,
    blob: &[u8],
) -> anyhow::Result<()> {
    let started = http
        .post(format!("{base}/v2/{repository}/blobs/uploads/"))
        .bearer_auth(token)
        .send()
        .await?;
    if started.status().as_u16() != 202 {
        let status = started.status();
        bail!(
            "POST blobs/uploads: {status}: {}",
            started.text().await.unwrap_or_default()
        );
    }
    let location = started
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("no Location on the upload")?
        .to_owned();
    let mut url = if location.starts_with("http") {
        reqwest::Url::parse(&location)?
    } else {
        reqwest::Url::parse(&format!("{base}{location}"))?
    };
    url.query_pairs_mut().append_pair("digest", &digest(blob));
    let done = http
        .put(url)
        .bearer_auth(token)
        .header("Content-Type", "application/octet-stream")
        .body(blob.to_vec())
        .send()
        .await?;
    if done.status().as_u16() != 201 {
        let status = done.status();
        bail!(
            "PUT blob: {status}: {}",
            done.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

// ----- the token server ---------------------------------------------------

fn token_router(state: Arc<State>) -> axum::Router {
    use axum::extract::{RawQuery, State as S};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    async fn token(
        S(state): S<Arc<State>>,
        headers: HeaderMap,
        RawQuery(query): RawQuery,
    ) -> axum::response::Response {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let service = pairs
            .iter()
            .find(|(k, _)| k == "service")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let scopes: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
            .collect();
        let basic = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| STANDARD.decode(b.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())));
        let record = |user: Option<String>, status: u16| {
            state.tokens.lock().unwrap().push(TokenRequest {
                user,
                service: service.clone(),
                scopes: scopes.clone(),
                status,
            });
        };
        let user = match &basic {
            Some((user, password)) => {
                if USERS.iter().any(|(u, p)| u == user && p == password) {
                    Some(user.clone())
                } else {
                    record(Some(user.clone()), 401);
                    let body = json!({"errors": [{"code": "UNAUTHORIZED",
                        "message": "authentication required",
                        "detail": "incorrect username or password"}]});
                    return (
                        StatusCode::UNAUTHORIZED,
                        [("www-authenticate", "Basic realm=\"guardian-test\"")],
                        axum::Json(body),
                    )
                        .into_response();
                }
            }
            None => None,
        };
        if service != SERVICE {
            record(user.clone(), 400);
            return (StatusCode::BAD_REQUEST, "unknown service").into_response();
        }
        let mut access = Vec::new();
        for scope in &scopes {
            let mut parts = scope.splitn(3, ':');
            let (Some(kind), Some(name), Some(actions)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if kind != "repository" {
                continue;
            }
            let wanted: Vec<&str> = actions.split(',').collect();
            let granted = allowed_actions(user.as_deref(), name, &wanted);
            if !granted.is_empty() {
                access.push(json!({"type": "repository", "name": name, "actions": granted}));
            }
        }
        record(user.clone(), 200);
        let token = state
            .signer
            .token(user.as_deref().unwrap_or(""), Value::Array(access));
        state.issued.lock().unwrap().push(token.clone());
        axum::Json(json!({"token": token, "access_token": token, "expires_in": 600}))
            .into_response()
    }

    axum::Router::new()
        .route("/token", axum::routing::get(token))
        .with_state(state)
}

// ----- the front ----------------------------------------------------------

fn front_router(state: Arc<State>) -> axum::Router {
    use axum::extract::{Request, State as S};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    async fn pass(S(state): S<Arc<State>>, request: Request) -> axum::response::Response {
        let method = request.method().clone();
        let target = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        let path = request.uri().path().to_owned();
        let query: Vec<(String, String)> =
            url::form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let authorization = request.headers().get("authorization").cloned();
        let auth = authorization
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(' ').next())
            .map(str::to_owned);
        let n: Option<usize> = query
            .iter()
            .find(|(k, _)| k == "n")
            .and_then(|(_, v)| v.parse().ok());
        let last = query
            .iter()
            .find(|(k, _)| k == "last")
            .map(|(_, v)| v.clone());
        let paged =
            method == axum::http::Method::GET && path.ends_with("/tags/list") && n.is_some();
        let upstream_target = if paged { path.clone() } else { target.clone() };
        let url = format!("http://127.0.0.1:{}{upstream_target}", state.registry_port);
        let mut forward = state.http.request(method.clone(), url);
        for name in ["authorization", "accept", "content-type"] {
            if let Some(v) = request.headers().get(name) {
                forward = forward.header(name, v.clone());
            }
        }
        let body = axum::body::to_bytes(request.into_body(), 64 << 20)
            .await
            .unwrap_or_default();
        let answer = forward.body(body).send().await;
        let record = |status: u16| {
            state.seen.lock().unwrap().push(Seen {
                method: method.to_string(),
                target: target.clone(),
                auth: auth.clone(),
                status,
            });
        };
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                record(502);
                return (StatusCode::BAD_GATEWAY, format!("registry: {e}")).into_response();
            }
        };
        let status = answer.status();
        let mut headers = axum::http::HeaderMap::new();
        for name in [
            "content-type",
            "www-authenticate",
            "docker-distribution-api-version",
            "link",
            "location",
            "retry-after",
            "docker-content-digest",
        ] {
            if let Some(v) = answer.headers().get(name) {
                headers.insert(name, v.clone());
            }
        }
        // No connection outlives a stop of the front.
        headers.insert("connection", axum::http::HeaderValue::from_static("close"));
        let bytes = answer.bytes().await.unwrap_or_default();
        if paged && status.is_success() {
            let mut listed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let mut tags: Vec<String> = listed["tags"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            tags.sort();
            if let Some(last) = &last {
                tags.retain(|t| t > last);
            }
            let n = n.unwrap_or(usize::MAX);
            let more = tags.len() > n;
            tags.truncate(n);
            if more && let Some(last) = tags.last() {
                let mut next = url::form_urlencoded::Serializer::new(String::new());
                next.append_pair("n", &n.to_string());
                next.append_pair("last", last);
                let link = format!("<{path}?{}>; rel=\"next\"", next.finish());
                if let Ok(v) = axum::http::HeaderValue::from_str(&link) {
                    headers.insert("link", v);
                }
            }
            listed["tags"] = json!(tags);
            record(status.as_u16());
            return (status, headers, listed.to_string()).into_response();
        }
        record(status.as_u16());
        (status, headers, bytes).into_response()
    }

    axum::Router::new().fallback(pass).with_state(state)
}

/// The address nothing listens on (a port just closed), for "unreachable".
pub fn dead_host() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// A loopback listener that counts the connections it accepts (and
/// answers none): proof a client did, or did not, connect.
pub fn canary() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a canary");
    let addr: SocketAddr = listener.local_addr().expect("its address");
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(conn);
        }
    });
    (addr.to_string(), count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tags_of_shop_web_are_many_and_distinct() {
        let tags = shop_web_tags();
        let unique: std::collections::BTreeSet<&String> = tags.iter().collect();
        assert_eq!(unique.len(), SHOP_WEB_TAGS);
        assert!(tags.contains(&"1.0.0".to_owned()) && tags.contains(&"latest".to_owned()));
    }

    /// The registry trusts the token server's tokens (the `x5c` chain),
    /// and the front pages the tags list.
    #[test]
    fn a_token_from_the_realm_opens_the_tags_list_page_by_page() {
        let Some(r) = shared() else { return };
        let host = r.host();
        let realm = r.realm();
        let (status, challenge, pages) = block(&r.runtime, async move {
            let http = http_client().unwrap();
            let url = format!("http://{host}/v2/{SHOP_WEB}/tags/list?n=50");
            let first = http.get(&url).send().await.unwrap();
            let status = first.status().as_u16();
            let challenge = first.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .to_owned();
            let token: Value = http
                .get(format!(
                    "{realm}?service={SERVICE}&scope=repository:{SHOP_WEB}:pull"
                ))
                .basic_auth("puller", Some(password("puller")))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .map(|b| serde_json::from_slice(&b).unwrap())
                .unwrap();
            let token = token["token"].as_str().unwrap().to_owned();
            let mut pages = Vec::new();
            let mut next = Some(url);
            while let Some(url) = next.take() {
                let answer = http.get(&url).bearer_auth(&token).send().await.unwrap();
                assert_eq!(answer.status().as_u16(), 200, "{url}");
                next = answer.headers().get("link").map(|l| {
                    let l = l.to_str().unwrap();
                    format!("http://{host}{}", &l[1..l.find('>').unwrap()])
                });
                let body: Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
                pages.push(body["tags"].as_array().unwrap().len());
            }
            (status, challenge, pages)
        });
        assert_eq!(status, 401);
        assert!(challenge.starts_with("Bearer realm="), "{challenge}");
        assert_eq!(pages, vec![50, 50, 20]);
    }

    #[test]
    fn a_tar_layer_is_whole_blocks() {
        let tar = tar_with("x\n");
        assert_eq!(tar.len() % 512, 0);
        assert_eq!(&tar[257..262], b"ustar");
    }
}
