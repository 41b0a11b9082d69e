//! The serve loop: gRPC (with health and reflection), MCP over streamable
//! HTTP, and an HTTP port with `/healthz`, `/readyz` and `/metrics`. On
//! SIGTERM (or Ctrl-C) it stops taking calls, lets the calls in flight
//! finish within a bound, and exits. Skills in the skills directory are
//! reloaded when it changes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use futures::StreamExt;
use guardian_runtime::SkillSource;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::grpc::GrpcService;
use crate::mcp::McpServer;
use crate::mcp_http::{self, Guard, OriginPolicy, Sessions};
use crate::{Api, metrics};

/// TLS for the gRPC port: the server's certificate and key, and (for
/// mutual TLS) the CA client certificates must chain to.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// Where and how to serve.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// gRPC; `None`: not served.
    pub grpc_listen: Option<String>,
    /// MCP streamable HTTP (path `/mcp`); `None`: not served.
    pub mcp_listen: Option<String>,
    /// `/healthz`, `/readyz`, `/metrics`; `None`: not served.
    pub http_listen: Option<String>,
    /// How long calls in flight may take to finish after SIGTERM.
    pub drain_timeout: Duration,
    pub tls: Option<TlsFiles>,
    /// Watched for changes; its skills are reloaded.
    pub skills_dir: Option<PathBuf>,
    pub reload_interval: Duration,
    /// Browser origins MCP admits besides loopback ones on a loopback
    /// listener (`https://app.example.com`, `http://host:*`, `null`).
    pub mcp_allowed_origins: Vec<String>,
    /// `Host` names MCP admits besides loopback names; given on a
    /// non-loopback listener, only these (and loopback names) are admitted.
    pub mcp_allowed_hosts: Vec<String>,
}

/// The addresses actually bound (a port of 0 picks a free one).
#[derive(Clone, Debug, Default)]
pub struct Bound {
    pub grpc: Option<SocketAddr>,
    pub mcp: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
}

impl Bound {
    /// `listening grpc=127.0.0.1:50051 mcp=127.0.0.1:8765 http=127.0.0.1:9464`
    pub fn line(&self) -> String {
        let a = |x: &Option<SocketAddr>| x.map_or("-".to_owned(), |a| a.to_string());
        format!(
            "listening grpc={} mcp={} http={}",
            a(&self.grpc),
            a(&self.mcp),
            a(&self.http)
        )
    }
}

async fn bind(addr: &str, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for {what}"))
}

/// Resolves when SIGTERM or Ctrl-C arrives.
pub async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves until `stop` resolves, then drains. `on_bound` hears the bound
/// addresses once every port listens.
pub async fn serve(
    api: Arc<Api>,
    options: ServeOptions,
    stop: impl std::future::Future<Output = ()> + Send,
    on_bound: impl FnOnce(&Bound),
) -> anyhow::Result<()> {
    let mut bound = Bound::default();
    let grpc_listener = match &options.grpc_listen {
        Some(a) => Some(bind(a, "gRPC").await?),
        None => None,
    };
    let mcp_listener = match &options.mcp_listen {
        Some(a) => Some(bind(a, "MCP").await?),
        None => None,
    };
    let http_listener = match &options.http_listen {
        Some(a) => Some(bind(a, "health and metrics").await?),
        None => None,
    };
    bound.grpc = grpc_listener.as_ref().and_then(|l| l.local_addr().ok());
    bound.mcp = mcp_listener.as_ref().and_then(|l| l.local_addr().ok());
    bound.http = http_listener.as_ref().and_then(|l| l.local_addr().ok());
    let gate = api
        .gate
        .clone()
        .context("serve needs authentication: a tokens file (--tokens-file)")?;

    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut servers = tokio::task::JoinSet::new();

    // gRPC, with health and reflection.
    let (health, health_service) = tonic_health::server::health_reporter();
    if let Some(listener) = grpc_listener {
        health
            .set_serving::<crate::proto::guardian_server::GuardianServer<GrpcService>>()
            .await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .build_v1()
            .context("the reflection service")?;
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = &options.tls {
            builder = builder
                .tls_config(tls_config(tls)?)
                .context("the gRPC TLS configuration")?;
        }
        let router = builder
            .add_service(health_service)
            .add_service(reflection)
            .add_service(GrpcService::new(Arc::clone(&api)).server());
        let stop = shutdown.clone();
        servers.spawn(async move {
            router
                .serve_with_incoming_shutdown(
                    // No Nagle delay: a small answer goes out at once.
                    TcpListenerStream::new(listener).map(|conn| {
                        conn.inspect(|tcp| {
                            let _ = tcp.set_nodelay(true);
                        })
                    }),
                    stop.cancelled_owned(),
                )
                .await
                .map_err(|e| anyhow::anyhow!("gRPC server: {e}"))
        });
    }

    // MCP over streamable HTTP, behind the guard: Host and Origin, the
    // bearer token, and each session bound to the identity that opened it.
    let mcp_cancel = tokio_util::sync::CancellationToken::new();
    if let Some(listener) = mcp_listener {
        let loopback = bound.mcp.is_some_and(|a| a.ip().is_loopback());
        let policy = OriginPolicy::new(
            loopback,
            &options.mcp_allowed_origins,
            &options.mcp_allowed_hosts,
        )?;
        // The guard checks Host and Origin itself, so that its refusals are
        // audited; rmcp's own check would answer first, unaudited.
        let config = StreamableHttpServerConfig::default()
            .with_cancellation_token(mcp_cancel.clone())
            .disable_allowed_hosts();
        let sessions = Arc::new(LocalSessionManager::default());
        let mcp_api = Arc::clone(&api);
        let service = StreamableHttpService::new(
            move || Ok(McpServer::http(Arc::clone(&mcp_api))),
            Arc::clone(&sessions),
            config,
        );
        let guard = Arc::new(Guard {
            gate: gate.clone(),
            policy,
            sessions: Sessions::new(sessions),
        });
        let app = Router::new()
            .route_service("/mcp", service)
            .layer(axum::middleware::from_fn_with_state(guard, mcp_http::guard));
        let stop = shutdown.clone();
        servers.spawn(async move {
            axum::serve(listener.tap_io(nodelay), app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
                .map_err(|e| anyhow::anyhow!("MCP server: {e}"))
        });
    }

    // Slack (the config's `slack:`): its notifier, and its interactions
    // route on the HTTP listener.
    let slack = crate::slack::start(&api, &gate, shutdown.clone())?;
    if slack.is_some() && http_listener.is_none() {
        tracing::warn!(
            "slack: no --http-listen, so Slack's button clicks (POST /slack/interactions) cannot arrive"
        );
    }

    // Health and metrics: up until the very end of the drain.
    let http_stop = tokio_util::sync::CancellationToken::new();
    let http_task = http_listener.map(|listener| {
        let app = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics_handler))
            .route("/alertmanager", crate::alertmanager::route())
            .with_state(Arc::clone(&api))
            // The web console, under /console/.
            .merge(crate::console::router(Arc::clone(&api), gate.clone()));
        let app = match slack {
            Some(slack) => app.merge(slack),
            None => app,
        };
        let stop = http_stop.clone();
        tokio::spawn(async move {
            axum::serve(listener.tap_io(nodelay), app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        })
    });

    // Skills dropped into the skills directory are picked up.
    let reload = options.skills_dir.clone().map(|dir| {
        let api = Arc::clone(&api);
        let stop = shutdown.clone();
        let interval = options.reload_interval;
        tokio::spawn(async move { watch_skills(api, dir, interval, stop).await })
    });

    on_bound(&bound);
    tracing::info!("{}", bound.line());

    tokio::select! {
        _ = stop => {}
        Some(ended) = servers.join_next() => {
            // A server stopped by itself: that is an error worth exiting on.
            shutdown.cancel();
            http_stop.cancel();
            return match ended {
                Ok(Ok(())) => Err(anyhow::anyhow!("a server stopped unexpectedly")),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(anyhow::anyhow!("a server task failed: {e}")),
            };
        }
    }

    // Drain: refuse new calls, end watches and MCP sessions, let the calls
    // in flight finish within the bound.
    let in_flight = metrics::global().in_flight();
    eprintln!(
        "guardian serve: draining ({in_flight} call{} in flight, up to {:?})",
        if in_flight == 1 { "" } else { "s" },
        options.drain_timeout
    );
    api.draining.cancel();
    health
        .set_not_serving::<crate::proto::guardian_server::GuardianServer<GrpcService>>()
        .await;
    shutdown.cancel();
    let drained = tokio::time::timeout(options.drain_timeout, async {
        // In-flight calls first (the MCP sessions end once they answer).
        while metrics::global().in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        mcp_cancel.cancel();
        while servers.join_next().await.is_some() {}
    })
    .await;
    mcp_cancel.cancel();
    if let Some(r) = reload {
        r.abort();
    }
    match drained {
        Ok(()) => eprintln!("guardian serve: drained; exiting"),
        Err(_) => eprintln!(
            "guardian serve: {} call(s) still in flight after {:?}; exiting anyway",
            metrics::global().in_flight(),
            options.drain_timeout
        ),
    }
    http_stop.cancel();
    if let Some(t) = http_task {
        let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
    }
    Ok(())
}

fn nodelay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

fn tls_config(tls: &TlsFiles) -> anyhow::Result<tonic::transport::ServerTlsConfig> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    let mut config = tonic::transport::ServerTlsConfig::new().identity(
        tonic::transport::Identity::from_pem(read(&tls.cert)?, read(&tls.key)?),
    );
    if let Some(ca) = &tls.client_ca {
        config = config.client_ca_root(tonic::transport::Certificate::from_pem(read(ca)?));
    }
    Ok(config)
}

async fn readyz(State(api): State<Arc<Api>>) -> Response {
    if api.draining.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else if api.runtime().skills().is_empty() {
        (StatusCode::SERVICE_UNAVAILABLE, "no skills loaded\n").into_response()
    } else {
        "ready\n".into_response()
    }
}

async fn metrics_handler(State(api): State<Arc<Api>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        api.metrics_text(),
    )
        .into_response()
}

/// What a skills directory holds: per skill folder, the size and mtime of
/// its skill.toml and skill.wasm.
type Fingerprint = BTreeMap<PathBuf, Vec<(u64, Option<SystemTime>)>>;

fn fingerprint(dir: &Path) -> Fingerprint {
    let mut out = Fingerprint::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if !p.is_dir() {
            continue;
        }
        let files = ["skill.toml", "skill.wasm"]
            .iter()
            .map(|f| match std::fs::metadata(p.join(f)) {
                Ok(m) => (m.len(), m.modified().ok()),
                Err(_) => (0, None),
            })
            .collect();
        out.insert(p, files);
    }
    out
}

/// Reloads the skills of `dir` when its contents change. A call in flight
/// keeps the skill it started with; a changed skill is unloaded and loaded
/// again, a removed one unloaded, a new one loaded.
pub async fn watch_skills(
    api: Arc<Api>,
    dir: PathBuf,
    interval: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut last = fingerprint(&dir);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.cancelled() => return,
        }
        let now = fingerprint(&dir);
        if now == last {
            continue;
        }
        // Let a copy in progress finish before reading it.
        tokio::time::sleep(interval.min(Duration::from_millis(500))).await;
        let now = fingerprint(&dir);
        reload_skills(&api, &dir, &last, &now).await;
        last = now;
    }
}

async fn reload_skills(api: &Api, dir: &Path, before: &Fingerprint, after: &Fingerprint) {
    let changed: Vec<&PathBuf> = before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .collect();
    for skill in api.runtime().skills() {
        if let SkillSource::Dir(path) = &skill.source
            && changed.contains(&path)
        {
            api.runtime().unload(&skill.manifest.name);
            tracing::info!(skill = %skill.manifest.name, "skill unloaded for reload");
        }
    }
    match api.runtime().load_dir(dir).await {
        Ok(errors) => {
            for e in errors {
                if !e.reason.contains("already loaded") {
                    eprintln!("warning: {e}");
                }
            }
        }
        Err(e) => eprintln!("warning: {e}"),
    }
    eprintln!(
        "guardian serve: skills reloaded from {} ({} loaded)",
        dir.display(),
        api.runtime().skills().len()
    );
}
