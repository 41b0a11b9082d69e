//! A snapshot served as a Kubernetes API endpoint, over plain HTTP on
//! loopback: `guardian snapshot serve PATH --listen 127.0.0.1:8001`.
//!
//! What it is for: pointing real clients — `kubectl --server`, `kube::Client`,
//! Guardian's own live backend in tests — at a captured cluster. It answers
//! discovery (legacy documents), get and list with label and field selectors
//! and paging, server-side `Table`s for kubectl, `pods/{name}/log`, watches,
//! and patches of every type (JSON Patch, merge patch, strategic merge patch
//! of built-in kinds) as dry runs. Every object served passes through
//! [`guardian_redact`] first: Secret values never leave, keys do.
//!
//! **Architecture invariant:** the snapshot is read-only unless the server was
//! started writable. Without `--writable`, any write that is not a dry run
//! (`?dryRun=All`) is refused with a 405 `Status` naming the flag; with it,
//! writes are applied in memory by the [`Snapshot`]'s inherent write
//! methods (the snapshot's files never change).
//!
//! **API boundary:** this crate reads the snapshot store itself, never
//! through the broker: it serves the snapshot to a client, it does not act
//! for a skill, so there is no policy decision to take.
//!
//! Watches are served: the current objects as `ADDED` events (unless the
//! client resumes from a resourceVersion, as reflectors do after a list),
//! then the writes of a writable server as `MODIFIED`/`DELETED`, until the
//! client's `timeoutSeconds` (30 minutes by default) or shutdown.
//!
//! Subresources: `pods/{name}/log`, `{name}/status` (read), and `scale` of
//! Deployments, ReplicaSets, StatefulSets and ReplicationControllers (what
//! `kubectl scale` uses). Not served: create, deletecollection, other
//! subresources, OpenAPI documents (404: kubectl copes, except `explain`, and
//! `apply`/`replace`/`create`, which then need `--validate=false`).

mod api;
mod discovery;
mod status;
mod table;
mod watch;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use guardian_kube_types::ListQuery;
use guardian_snapshot::Snapshot;
use serde_json::Value;

pub use status::ApiError;
pub use table::human_duration;

/// How the server treats writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Apply writes (patch, replace, delete) in memory instead of refusing
    /// them with 405.
    pub writable: bool,
}

/// The server: a snapshot plus the rules it is served by. Cheap to clone.
#[derive(Clone)]
pub struct ApiServer {
    state: Arc<State>,
}

pub(crate) struct State {
    pub snapshot: Snapshot,
    pub writable: bool,
    /// `/version`, from the snapshot's nodes.
    pub version: Value,
    /// What discovery shows (metrics.k8s.io only when the snapshot has
    /// metrics).
    pub served: Vec<guardian_kube_types::ResourceKind>,
    /// Every write applied, for the watches.
    pub changes: tokio::sync::broadcast::Sender<watch::Change>,
    /// Set when the server shuts down, so that open watches end.
    pub stopping: tokio::sync::watch::Sender<bool>,
}

impl ApiServer {
    pub fn new(snapshot: Snapshot, options: Options) -> Self {
        let kubelet_versions: Vec<String> = snapshot
            .table()
            .by_group_kind("", "Node")
            .cloned()
            .and_then(|nodes| {
                snapshot
                    .list_objects_shared(&nodes, &ListQuery::default())
                    .ok()
            })
            .map(|list| {
                list.items
                    .iter()
                    .filter_map(|n| {
                        n.to_value()
                            .pointer("/status/nodeInfo/kubeletVersion")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let has_metrics = ["PodMetrics", "NodeMetrics"].iter().any(|kind| {
            snapshot
                .table()
                .by_group_kind("metrics.k8s.io", kind)
                .cloned()
                .and_then(|k| {
                    let one = ListQuery {
                        limit: Some(1),
                        ..Default::default()
                    };
                    snapshot.list_objects_shared(&k, &one).ok()
                })
                .is_some_and(|list| !list.items.is_empty())
        });
        let served = discovery::served(snapshot.table(), has_metrics);
        Self {
            state: Arc::new(State {
                version: discovery::version(&kubelet_versions),
                served,
                snapshot,
                writable: options.writable,
                changes: tokio::sync::broadcast::channel(1024).0,
                stopping: tokio::sync::watch::channel(false).0,
            }),
        }
    }

    /// The HTTP routes, for serving or for driving in tests.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/version", get(api::version))
            .route("/version/", get(api::version))
            .route("/api", get(api::core_versions))
            .route("/api/", get(api::core_versions))
            .route("/apis", get(api::group_list))
            .route("/apis/", get(api::group_list))
            .route("/healthz", get(api::ok))
            .route("/livez", get(api::ok))
            .route("/readyz", get(api::ok))
            .fallback(api::handle)
            .layer(middleware::from_fn(log_request))
            .with_state(Arc::clone(&self.state))
    }

    /// Serve on `listener` until `shutdown` completes, then end the open
    /// watches, finish the requests in flight and return.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = Arc::clone(&self.state);
        let shutdown = async move {
            shutdown.await;
            state.stopping.send_replace(true);
        };
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// One debug line per request.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::debug!(
        %method,
        %uri,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
