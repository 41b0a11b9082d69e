//! The live backend: a real API server through `kube::Client`.
//!
//! Configuration follows kubectl (`--kubeconfig`, `KUBECONFIG`,
//! `~/.kube/config`, the in-cluster service account; `--context`; `--as` /
//! `--as-group`), see [`config`]. Requests are raw `http::Request`s built
//! with kube's request builders, so every answer is the API server's JSON as
//! it sent it — shaped like the snapshot backend's (list items carry
//! `apiVersion` and `kind`, lists are `XList`s) — and every error becomes a
//! [`BrokerError`] that says what to do ([`errors`]), a 403 included.
//!
//! The operations are inherent async methods; [`Backend`] for `LiveBackend`
//! only delegates to them. Besides the [`Backend`] calls there are
//! [`LiveBackend::server_version`], [`LiveBackend::access_review`] (for
//! `guardian doctor`), [`LiveBackend::token_review`] (for `guardian serve`)
//! and [`LiveBackend::apply_json_patch`], the one real write, which only the
//! approved-action path may call. Every one that reaches the server takes a
//! [`Permit`] for exactly that call; only [`crate::Broker`] holds a
//! `LiveBackend`, and it asks policy for each permit and audits it.

pub mod capture;
mod config;
mod errors;
pub mod rbac;

use guardian_policy::Permit;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::core::Request;
use kube::core::params::ListParams;
use kube::core::subresource::LogParams;
use serde_json::{Map, Value, json};

use crate::resources::{ResourceKind, ResourceTable, split_api_version};
use crate::{Backend, BrokerError, ListQuery, LogQuery, ObjectRef};
pub use config::ClusterOptions;
use errors::{Op, Target};
use rbac::Permission;

/// Items per page when a list is read whole (kubectl's `--chunk-size`).
const LIST_PAGE: u32 = 500;

/// The field manager Guardian's writes (and dry-runs) are recorded under.
pub const FIELD_MANAGER: &str = "guardian";

/// How long a discovery answer is trusted before a name that does not
/// resolve triggers a fresh discovery (a CRD installed meanwhile).
const DISCOVERY_REFRESH: Duration = Duration::from_secs(10);

/// A live cluster. Cheap to clone: the client and the discovery cache are
/// shared.
#[derive(Clone)]
pub(crate) struct LiveBackend {
    inner: Arc<Inner>,
}

struct Inner {
    client: kube::Client,
    target: Target,
    context: Option<String>,
    default_namespace: String,
    impersonating: Option<String>,
    discovery: tokio::sync::Mutex<Option<(Instant, Arc<Discovered>)>>,
}

impl std::fmt::Debug for LiveBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveBackend")
            .field("server", &self.inner.target.server)
            .field("via", &self.inner.target.label)
            .finish_non_exhaustive()
    }
}

/// What discovery found: the resources the server serves, and the table that
/// resolves kubectl-style names against them.
#[derive(Debug)]
struct Discovered {
    /// Served resources, the built-in kinds first in kubectl's priority
    /// order, then the rest (custom resources) in discovery order.
    served: Vec<ResourceKind>,
    /// Built-ins plus every served kind: kubectl's name resolution.
    table: ResourceTable,
}

impl LiveBackend {
    /// Build a client for the cluster `opts` names. Reads the kubeconfig (or
    /// the in-cluster service account) but does not contact the server: the
    /// first call does, and a dead server is reported then, naming its URL.
    pub(crate) async fn connect(opts: &ClusterOptions) -> Result<LiveBackend, BrokerError> {
        // TLS is rustls with ring (pure Rust and assembly, no cmake). With a
        // single provider compiled in this is what rustls picks anyway;
        // installing it makes that hold whatever else enables aws-lc-rs.
        // Fails only when a provider is already installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let resolved = config::resolve(opts, &config::Environment::current()).await?;
        let server = resolved
            .config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string();
        let default_namespace = resolved.config.default_namespace.clone();
        let impersonating = resolved.config.auth_info.impersonate.clone();
        let client = kube::Client::try_from(resolved.config).map_err(|e| {
            BrokerError::Invalid(format!(
                "cannot build a client for {} ({}): {e}; check the certificates and \
                 credentials of that kubeconfig entry",
                server, resolved.label
            ))
        })?;
        Ok(LiveBackend {
            inner: Arc::new(Inner {
                client,
                target: Target {
                    server,
                    label: resolved.label,
                },
                context: resolved.context,
                default_namespace,
                impersonating,
                discovery: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// The API server's URL, e.g. `https://127.0.0.1:6443`.
    pub(crate) fn server_url(&self) -> &str {
        &self.inner.target.server
    }

    /// The kubeconfig context in use; `None` in-cluster.
    pub(crate) fn context(&self) -> Option<&str> {
        self.inner.context.as_deref()
    }

    /// The namespace kubectl would use without `-n`: the context's, else
    /// `default` (in a pod: the pod's own).
    pub(crate) fn default_namespace(&self) -> &str {
        &self.inner.default_namespace
    }

    /// `context kind-dev (https://127.0.0.1:6443)`, plus `as USER` when
    /// impersonating.
    pub(crate) fn description(&self) -> String {
        let mut text = format!("{} ({})", self.inner.target.label, self.inner.target.server);
        if let Some(user) = &self.inner.impersonating {
            text.push_str(&format!(" as {user}"));
        }
        text
    }

    // ----- transport --------------------------------------------------

    async fn send_text(
        &self,
        request: http::Request<Vec<u8>>,
        op: &Op,
    ) -> Result<String, BrokerError> {
        tracing::debug!(method = %request.method(), uri = %request.uri(), "live request");
        self.inner
            .client
            .request_text(request)
            .await
            .map_err(|e| errors::from_kube(e, op, &self.inner.target))
    }

    async fn send_json(
        &self,
        request: http::Request<Vec<u8>>,
        op: &Op,
    ) -> Result<Value, BrokerError> {
        let text = self.send_text(request, op).await?;
        serde_json::from_str(&text).map_err(|e| {
            BrokerError::Unavailable(format!(
                "{} {}: the API server at {} answered with something that is not JSON ({e}); is \
                 the kubeconfig's server URL really a Kubernetes API server?",
                op.verb, op.what, self.inner.target.server
            ))
        })
    }

    async fn get_path(&self, path: &str, op: &Op) -> Result<Value, BrokerError> {
        let request = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| build_error(&e, op))?;
        self.send_json(request, op).await
    }

    // ----- discovery --------------------------------------------------

    async fn discovered(&self, refresh: bool) -> Result<Arc<Discovered>, BrokerError> {
        let mut cache = self.inner.discovery.lock().await;
        if let Some((at, data)) = cache.as_ref()
            && !(refresh && at.elapsed() >= DISCOVERY_REFRESH)
        {
            return Ok(data.clone());
        }
        let data = Arc::new(self.discover().await?);
        *cache = Some((Instant::now(), data.clone()));
        Ok(data)
    }

    /// The legacy discovery documents (`/api/v1`, `/apis`, `/apis/G/V` for
    /// each group's preferred version), which every API server serves.
    async fn discover(&self) -> Result<Discovered, BrokerError> {
        let op = |what: &str| Op {
            verb: "get",
            what: what.to_string(),
            ..Op::default()
        };
        let mut lists: Vec<Value> = vec![self.get_path("/api/v1", &op("discovery /api/v1")).await?];
        let groups = self.get_path("/apis", &op("discovery /apis")).await?;
        let preferred: Vec<String> = groups
            .get("groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|g| {
                g.get("preferredVersion")
                    .and_then(|p| p.get("groupVersion"))
                    .or_else(|| {
                        g.get("versions")
                            .and_then(|v| v.get(0))
                            .and_then(|v| v.get("groupVersion"))
                    })
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for group_version in preferred {
            let this = self.clone();
            tasks.spawn(async move {
                let path = format!("/apis/{group_version}");
                let result = this
                    .get_path(&path, &op(&format!("discovery {path}")))
                    .await;
                (group_version, result)
            });
        }
        let mut by_group: Vec<(String, Value)> = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (group_version, result) =
                joined.map_err(|e| BrokerError::Internal(format!("discovery task failed: {e}")))?;
            match result {
                Ok(list) => by_group.push((group_version, list)),
                // kubectl does the same: an aggregated API that is down
                // (metrics-server, a broken webhook) costs only its group.
                Err(e) => tracing::warn!(%group_version, error = %e, "discovery: group skipped"),
            }
        }
        by_group.sort_by(|a, b| a.0.cmp(&b.0));
        lists.extend(by_group.into_iter().map(|(_, list)| list));
        Ok(discovered_from(&lists))
    }

    /// Resolve a kubectl-style name to a resource the server serves.
    pub(crate) async fn resolve_resource(
        &self,
        resource: &str,
    ) -> Result<ResourceKind, BrokerError> {
        let first = self.discovered(false).await?;
        match resolve_in(&first, resource, &self.inner.target.server) {
            Ok(kind) => Ok(kind),
            Err(first_error) => {
                let fresh = self.discovered(true).await?;
                if Arc::ptr_eq(&first, &fresh) {
                    return Err(first_error);
                }
                resolve_in(&fresh, resource, &self.inner.target.server)
            }
        }
    }

    /// Every resource the server serves (`kubectl api-resources`).
    pub(crate) async fn served_resources(&self) -> Result<Vec<ResourceKind>, BrokerError> {
        Ok(self.discovered(false).await?.served.clone())
    }

    // ----- reads ------------------------------------------------------

    /// One object.
    pub(crate) async fn get_object(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, BrokerError> {
        check_permit(permit, &["get"], kind, "")?;
        let namespace = scope(kind, namespace, name)?;
        check_name(kind, name)?;
        let op = Op {
            verb: "get",
            namespace: namespace.map(str::to_string),
            name: Some(name.to_string()),
            what: object_label(kind, namespace, name),
            ..resource_op(kind)
        };
        let path = format!(
            "{}/{}",
            collection_path(kind, namespace),
            encode_segment(name)
        );
        let mut object = self.get_path(&path, &op).await?;
        fill_type(&mut object, kind);
        Ok(object)
    }

    /// A list object, items carrying `apiVersion` and `kind`. `limit` cuts
    /// the list (the server then sets `metadata.continue` and, usually,
    /// `remainingItemCount`).
    pub(crate) async fn list_objects(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<Value, BrokerError> {
        check_permit(permit, &["list", "events"], kind, "")?;
        if query.limit.is_some_and(|l| l > 0) {
            return self.list_page(kind, query, None).await;
        }
        // Without a limit, read the list in pages as kubectl does, so no
        // single answer from the server is the whole of a large list.
        self.list_pages(kind, query).await
    }

    /// Every item of `query`, [`LIST_PAGE`] at a time, following
    /// `continue` tokens; one list object.
    async fn list_pages(
        &self,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<Value, BrokerError> {
        let query = ListQuery {
            limit: Some(LIST_PAGE),
            ..query.clone()
        };
        let mut list = self.list_page(kind, &query, None).await?;
        let mut items: Vec<Value> = take_items(&mut list);
        while let Some(token) = list
            .pointer("/metadata/continue")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
        {
            list = self.list_page(kind, &query, Some(token)).await?;
            items.extend(take_items(&mut list));
        }
        if let Some(meta) = list.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("continue");
            meta.remove("remainingItemCount");
        }
        list["items"] = Value::Array(items);
        Ok(list)
    }

    /// One page of a list; `continue_token` from the previous page's
    /// `metadata.continue`.
    async fn list_page(
        &self,
        kind: &ResourceKind,
        query: &ListQuery,
        continue_token: Option<String>,
    ) -> Result<Value, BrokerError> {
        let namespace = query
            .namespace
            .as_deref()
            .filter(|ns| !ns.is_empty() && kind.namespaced);
        let op = Op {
            verb: "list",
            namespace: namespace.map(str::to_string),
            what: match namespace {
                Some(ns) => format!("{} in namespace \"{ns}\"", kind.grant_name()),
                None if kind.namespaced => format!("{} in all namespaces", kind.grant_name()),
                None => kind.grant_name(),
            },
            ..resource_op(kind)
        };
        let params = ListParams {
            label_selector: query
                .label_selector
                .clone()
                .filter(|s| !s.trim().is_empty()),
            field_selector: query
                .field_selector
                .clone()
                .filter(|s| !s.trim().is_empty()),
            limit: query.limit.filter(|&l| l > 0),
            continue_token,
            ..ListParams::default()
        };
        let request = Request::new(collection_path(kind, namespace))
            .list(&params)
            .map_err(|e| BrokerError::Invalid(format!("list {}: {e}", op.what)))?;
        let mut list = self.send_json(request, &op).await?;
        normalize_list(&mut list, kind);
        Ok(list)
    }

    /// Every object of a kind, following `continue` tokens page by page
    /// (500 a page, as kubectl does).
    pub(crate) async fn list_all(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        namespace: Option<&str>,
    ) -> Result<Value, BrokerError> {
        check_permit(permit, &["list"], kind, "")?;
        let query = ListQuery {
            namespace: namespace.map(str::to_string),
            ..ListQuery::default()
        };
        self.list_pages(kind, &query).await
    }

    /// A container's logs (`kubectl logs [-c C] [--tail N] [--previous]`).
    pub(crate) async fn pod_logs(
        &self,
        permit: &Permit,
        namespace: &str,
        pod: &str,
        query: &LogQuery,
    ) -> Result<String, BrokerError> {
        check_permit(permit, &["get", "logs"], &pod_kind(), "log")?;
        if namespace.is_empty() {
            return Err(BrokerError::Invalid(format!(
                "pods are namespaced: give the namespace of pod \"{pod}\""
            )));
        }
        check_plain_name("pod", pod)?;
        let op = Op {
            verb: "get",
            resource: "pods".into(),
            subresource: Some("log"),
            namespace: Some(namespace.to_string()),
            name: Some(pod.to_string()),
            what: format!(
                "{}logs of pod {namespace}/{pod}{}",
                if query.previous { "previous " } else { "" },
                query
                    .container
                    .as_deref()
                    .map(|c| format!(" container {c}"))
                    .unwrap_or_default()
            ),
            ..Op::default()
        };
        let params = LogParams {
            container: query.container.clone().filter(|c| !c.is_empty()),
            tail_lines: query.tail_lines.map(i64::from),
            previous: query.previous,
            ..LogParams::default()
        };
        let request = Request::new(format!(
            "/api/v1/namespaces/{}/pods",
            encode_segment(namespace)
        ))
        .logs(&encode_segment(pod), &params)
        .map_err(|e| BrokerError::Invalid(format!("get {}: {e}", op.what)))?;
        self.send_text(request, &op).await
    }

    /// The core/v1 Events whose involvedObject is `object`, oldest first, as
    /// an EventList.
    pub(crate) async fn events_of(
        &self,
        permit: &Permit,
        object: &ObjectRef,
    ) -> Result<Value, BrokerError> {
        let mut selector = format!(
            "involvedObject.kind={},involvedObject.name={}",
            object.kind, object.name
        );
        let namespace = object.namespace.as_deref().filter(|ns| !ns.is_empty());
        if let Some(ns) = namespace {
            selector.push_str(&format!(",involvedObject.namespace={ns}"));
        }
        let events = ResourceTable::builtin()
            .by_group_kind("", "Event")
            .cloned()
            .ok_or_else(|| BrokerError::Internal("no core Event kind".to_string()))?;
        // A cluster-scoped object's events live in `default` (nodes) or
        // elsewhere: look everywhere.
        let mut list = self
            .list_objects(
                permit,
                &events,
                &ListQuery {
                    namespace: namespace.map(str::to_string),
                    field_selector: Some(selector),
                    ..ListQuery::default()
                },
            )
            .await?;
        let mut items = take_items(&mut list);
        // The field selector already did this on a real server; checking
        // again keeps the answer right whatever the server supports, and
        // matches the snapshot backend's rules (group, not version).
        items.retain(|event| involves(event, object));
        items.sort_by_cached_key(|event| {
            let name = event
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (event_time(event), name)
        });
        Ok(json!({
            "apiVersion": "v1",
            "kind": "EventList",
            "metadata": list.get("metadata").cloned().unwrap_or_else(|| json!({})),
            "items": items,
        }))
    }

    // ----- writes -----------------------------------------------------

    /// Server-side dry run of an RFC 6902 JSON Patch (`dryRun=All`): the
    /// object as it would be after the patch, validated and defaulted by the
    /// API server and its admission webhooks. Nothing is persisted.
    pub(crate) async fn dry_run_json_patch(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        json_patch: &Value,
    ) -> Result<Value, BrokerError> {
        check_permit(permit, &["patch"], kind, "")?;
        self.patch(kind, namespace, name, json_patch, true).await
    }

    /// Apply an RFC 6902 JSON Patch for real, guarded by the object's
    /// `resourceVersion`: a `test` operation on `/metadata/resourceVersion`
    /// is put first, so the patch lands only on the exact version it was
    /// approved against (otherwise: [`BrokerError::Conflict`]).
    ///
    /// **The one write of the live backend.** Only the path that applies a
    /// stored, human-approved action may call it (DESIGN.md §4, invariant 1).
    pub(crate) async fn apply_json_patch(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        json_patch: &Value,
        resource_version: &str,
    ) -> Result<Value, BrokerError> {
        // A real write needs a permit for exactly this object that policy
        // granted as a real write, which only a human-approved action gets
        // (DESIGN.md §4 invariant 1). Anything else is refused here, before
        // a byte goes to the server.
        let input = permit.input();
        if permit.dry_run()
            || input.verb != "patch"
            || input.resource.group != kind.group
            || input.resource.resource != kind.plural
            || input.namespace != namespace.unwrap_or_default()
            || input.name != name
        {
            return Err(BrokerError::Denied(format!(
                "apply to {}: the permit does not allow a real write of this object (rule {}, dry run {}); only a human-approved action does",
                object_label(kind, namespace, name),
                permit.rule(),
                permit.dry_run()
            )));
        }
        if resource_version.is_empty() {
            return Err(BrokerError::Invalid(format!(
                "apply to {}: a resourceVersion precondition is required",
                object_label(kind, namespace, name)
            )));
        }
        let Some(operations) = json_patch.as_array() else {
            return Err(not_a_patch(kind, namespace, name, "not an array"));
        };
        let mut guarded = Vec::with_capacity(operations.len() + 1);
        guarded.push(json!({
            "op": "test",
            "path": "/metadata/resourceVersion",
            "value": resource_version,
        }));
        guarded.extend(operations.iter().cloned());
        self.patch(kind, namespace, name, &Value::Array(guarded), false)
            .await
    }

    async fn patch(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        json_patch: &Value,
        dry_run: bool,
    ) -> Result<Value, BrokerError> {
        let namespace = scope(kind, namespace, name)?;
        check_name(kind, name)?;
        if let Err(e) = serde_json::from_value::<json_patch::Patch>(json_patch.clone()) {
            return Err(not_a_patch(kind, namespace, name, &e.to_string()));
        }
        let what = object_label(kind, namespace, name);
        let op = Op {
            verb: "patch",
            namespace: namespace.map(str::to_string),
            name: Some(name.to_string()),
            what: if dry_run {
                format!("(dry run) {what}")
            } else {
                what
            },
            ..resource_op(kind)
        };
        let mut uri = format!(
            "{}/{}?fieldManager={FIELD_MANAGER}",
            collection_path(kind, namespace),
            encode_segment(name)
        );
        if dry_run {
            uri.push_str("&dryRun=All");
        }
        let body = serde_json::to_vec(json_patch)
            .map_err(|e| BrokerError::Internal(format!("serializing a patch: {e}")))?;
        let request = http::Request::patch(uri)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, "application/json-patch+json")
            .body(body)
            .map_err(|e| build_error(&e, &op))?;
        let mut object = self.send_json(request, &op).await?;
        fill_type(&mut object, kind);
        Ok(object)
    }

    // ----- about the server and ourselves -----------------------------

    /// The server's `gitVersion` (`v1.31.2`) and `platform` (`linux/amd64`).
    pub(crate) async fn server_version(
        &self,
        permit: &Permit,
    ) -> Result<ServerVersion, BrokerError> {
        check_permit(permit, &["get"], &version_document(), "")?;
        let op = Op {
            verb: "get",
            what: "/version".to_string(),
            ..Op::default()
        };
        let version = self.get_path("/version", &op).await?;
        let field = |f: &str| {
            version
                .get(f)
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string()
        };
        Ok(ServerVersion {
            git_version: field("gitVersion"),
            platform: field("platform"),
        })
    }

    /// Whether the identity in use (after impersonation) may do what
    /// `permission` names in `namespace` (`None`: all namespaces /
    /// cluster-scoped), by SelfSubjectAccessReview — what `kubectl auth
    /// can-i` asks.
    pub(crate) async fn access_review(
        &self,
        permit: &Permit,
        permission: &Permission,
        namespace: Option<&str>,
    ) -> Result<bool, BrokerError> {
        check_permit(permit, &["review"], &access_reviews(), "")?;
        let Permission {
            verb,
            group,
            resource,
            subresource,
        } = permission;
        let mut attributes = Map::new();
        attributes.insert("verb".into(), json!(verb));
        attributes.insert("group".into(), json!(group));
        attributes.insert("resource".into(), json!(resource));
        if let Some(sub) = subresource.as_deref().filter(|s| !s.is_empty()) {
            attributes.insert("subresource".into(), json!(sub));
        }
        if let Some(ns) = namespace.filter(|s| !s.is_empty()) {
            attributes.insert("namespace".into(), json!(ns));
        }
        let review = json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        });
        let op = Op {
            verb: "create",
            group: "authorization.k8s.io".into(),
            resource: "selfsubjectaccessreviews".into(),
            what: format!(
                "selfsubjectaccessreviews.authorization.k8s.io (can-i {verb} {})",
                if group.is_empty() || group == "*" {
                    resource.to_string()
                } else {
                    format!("{resource}.{group}")
                }
            ),
            ..Op::default()
        };
        let answer = self
            .post_review(
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                &review,
                &op,
            )
            .await?;
        Ok(answer
            .pointer("/status/allowed")
            .and_then(Value::as_bool)
            .unwrap_or(false))
    }

    /// Creates a review object (SelfSubjectAccessReview, TokenReview) and
    /// returns what the API server answered, status included.
    async fn post_review(&self, path: &str, review: &Value, op: &Op) -> Result<Value, BrokerError> {
        let body = serde_json::to_vec(review)
            .map_err(|e| BrokerError::Internal(format!("serializing {}: {e}", op.what)))?;
        let request = http::Request::post(path)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(|e| build_error(&e, op))?;
        self.send_json(request, op).await
    }

    /// Who a bearer token belongs to, by TokenReview (how the API server
    /// authenticates it), or `None` when the API server does not accept it.
    /// Used by `guardian serve` to admit Kubernetes service-account tokens;
    /// the token is sent to this cluster only.
    pub(crate) async fn token_review(
        &self,
        permit: &Permit,
        token: &str,
        audiences: &[String],
    ) -> Result<Option<TokenUser>, BrokerError> {
        check_permit(permit, &["review"], &token_reviews(), "")?;
        let mut spec = Map::new();
        spec.insert("token".into(), json!(token));
        if !audiences.is_empty() {
            spec.insert("audiences".into(), json!(audiences));
        }
        let review = json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": spec,
        });
        let op = Op {
            verb: "create",
            group: "authentication.k8s.io".into(),
            resource: "tokenreviews".into(),
            what: "tokenreviews.authentication.k8s.io".into(),
            ..Op::default()
        };
        let answer = self
            .post_review("/apis/authentication.k8s.io/v1/tokenreviews", &review, &op)
            .await?;
        if answer
            .pointer("/status/authenticated")
            .and_then(Value::as_bool)
            != Some(true)
        {
            return Ok(None);
        }
        let user = &answer["status"]["user"];
        let name = user["username"].as_str().unwrap_or_default().to_owned();
        if name.is_empty() {
            return Ok(None);
        }
        let groups = user["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g.as_str().map(str::to_owned))
            .collect();
        Ok(Some(TokenUser { name, groups }))
    }
}

/// What `/version` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerVersion {
    /// `v1.31.2`
    pub git_version: String,
    /// `linux/amd64`
    pub platform: String,
}

/// The user a TokenReview found a token to belong to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenUser {
    /// `system:serviceaccount:ci:deployer`
    pub name: String,
    pub groups: Vec<String>,
}

/// The API server's `/version` document as policy and the audit log name
/// it: `get` of resource `version`, with no group and no version (it is not
/// an API resource; the audit line says `/version`).
pub(crate) fn version_document() -> ResourceKind {
    host_kind("", "", "", "version")
}

/// SelfSubjectAccessReviews, which policy sees as verb `review`: a question
/// to the API server that stores nothing.
pub(crate) fn access_reviews() -> ResourceKind {
    host_kind(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
    )
}

/// TokenReviews, which policy sees as verb `review`.
pub(crate) fn token_reviews() -> ResourceKind {
    host_kind("authentication.k8s.io", "v1", "TokenReview", "tokenreviews")
}

fn host_kind(group: &str, version: &str, kind: &str, plural: &str) -> ResourceKind {
    ResourceKind {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_ascii_lowercase(),
        short_names: Vec::new(),
        namespaced: false,
        verbs: Vec::new(),
    }
}

#[async_trait::async_trait]
impl Backend for LiveBackend {
    fn describe(&self) -> String {
        self.description()
    }

    async fn resolve(&self, resource: &str) -> Result<ResourceKind, BrokerError> {
        self.resolve_resource(resource).await
    }

    async fn get(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, BrokerError> {
        self.get_object(permit, kind, namespace, name).await
    }

    async fn list(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<Value, BrokerError> {
        self.list_objects(permit, kind, query).await
    }

    async fn logs(
        &self,
        permit: &Permit,
        namespace: &str,
        pod: &str,
        query: &LogQuery,
    ) -> Result<String, BrokerError> {
        self.pod_logs(permit, namespace, pod, query).await
    }

    async fn events(&self, permit: &Permit, object: &ObjectRef) -> Result<Value, BrokerError> {
        self.events_of(permit, object).await
    }

    async fn dry_run_patch(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        json_patch: &Value,
    ) -> Result<Value, BrokerError> {
        self.dry_run_json_patch(permit, kind, namespace, name, json_patch)
            .await
    }

    async fn api_resources(&self) -> Result<Vec<ResourceKind>, BrokerError> {
        self.served_resources().await
    }

    async fn apply_patch(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        json_patch: &Value,
        resource_version: &str,
    ) -> Result<Value, BrokerError> {
        self.apply_json_patch(permit, kind, namespace, name, json_patch, resource_version)
            .await
    }
}

// ----- helpers ---------------------------------------------------------

fn build_error(e: &http::Error, op: &Op) -> BrokerError {
    BrokerError::Invalid(format!(
        "{} {}: cannot build the request: {e}",
        op.verb, op.what
    ))
}

fn not_a_patch(kind: &ResourceKind, namespace: Option<&str>, name: &str, why: &str) -> BrokerError {
    BrokerError::Invalid(format!(
        "the patch for {} is not an RFC 6902 JSON Patch ({why}); it must be an array of \
         operations such as {{\"op\": \"replace\", \"path\": \"/spec/replicas\", \"value\": 3}}",
        object_label(kind, namespace, name)
    ))
}

/// The group/resource part of an [`Op`].
/// Refuses a permit minted for another verb or resource: a permit to list
/// Secrets does not read pods' logs.
fn check_permit(
    permit: &Permit,
    verbs: &[&str],
    kind: &ResourceKind,
    subresource: &str,
) -> Result<(), BrokerError> {
    let input = permit.input();
    let resource = &input.resource;
    if verbs.contains(&input.verb.as_str())
        && resource.group == kind.group
        && resource.resource == kind.plural
        && resource.subresource == subresource
    {
        return Ok(());
    }
    Err(BrokerError::Internal(format!(
        "a permit for {} {} was used to {} {}{}",
        input.verb,
        resource.grant,
        verbs.first().copied().unwrap_or("?"),
        kind.grant_name(),
        if subresource.is_empty() {
            String::new()
        } else {
            format!("/{subresource}")
        }
    )))
}

fn pod_kind() -> ResourceKind {
    ResourceTable::builtin()
        .by_group_kind("", "Pod")
        .cloned()
        .expect("the built-in table has Pod")
}

fn resource_op(kind: &ResourceKind) -> Op {
    Op {
        group: kind.group.clone(),
        resource: kind.plural.clone(),
        ..Op::default()
    }
}

/// `deployments.apps "web" in namespace "staging"` / `nodes "n1"`.
fn object_label(kind: &ResourceKind, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if kind.namespaced => {
            format!("{} \"{name}\" in namespace \"{ns}\"", kind.grant_name())
        }
        _ => format!("{} \"{name}\"", kind.grant_name()),
    }
}

/// The namespace a call on one object uses: required for namespaced kinds,
/// ignored for cluster-scoped ones (as kubectl does).
fn scope<'a>(
    kind: &ResourceKind,
    namespace: Option<&'a str>,
    name: &str,
) -> Result<Option<&'a str>, BrokerError> {
    if !kind.namespaced {
        return Ok(None);
    }
    match namespace.filter(|ns| !ns.is_empty()) {
        Some(ns) => Ok(Some(ns)),
        None => Err(BrokerError::Invalid(format!(
            "{} is namespaced: give the namespace of {} \"{name}\"",
            kind.grant_name(),
            kind.kind
        ))),
    }
}

fn check_plain_name(what: &str, name: &str) -> Result<(), BrokerError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(BrokerError::Invalid(format!(
            "\"{name}\" is not a valid {what} name: names are non-empty and contain no '/'"
        )));
    }
    Ok(())
}

fn check_name(kind: &ResourceKind, name: &str) -> Result<(), BrokerError> {
    check_plain_name(&kind.kind, name)
}

/// Percent-encode a path segment (names may hold `:` — RBAC objects — and
/// must never smuggle a `/`, `?` or `#`).
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `/api/v1/namespaces/NS/pods`, `/apis/apps/v1/deployments`, `/api/v1/nodes`.
fn collection_path(kind: &ResourceKind, namespace: Option<&str>) -> String {
    let base = if kind.group.is_empty() {
        format!("/api/{}", kind.version)
    } else {
        format!("/apis/{}/{}", kind.group, kind.version)
    };
    match namespace {
        Some(ns) if kind.namespaced => {
            format!("{base}/namespaces/{}/{}", encode_segment(ns), kind.plural)
        }
        _ => format!("{base}/{}", kind.plural),
    }
}

/// Objects served by `get` always say what they are.
fn fill_type(object: &mut Value, kind: &ResourceKind) {
    if let Some(map) = object.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(kind.api_version()));
        map.entry("kind")
            .or_insert_with(|| Value::String(kind.kind.clone()));
    }
}

/// A list as the snapshot backend serves it: `XList` of the served
/// apiVersion, every item with its `apiVersion` and `kind`.
fn normalize_list(list: &mut Value, kind: &ResourceKind) {
    let Some(map) = list.as_object_mut() else {
        return;
    };
    map.insert("apiVersion".into(), Value::String(kind.api_version()));
    map.insert("kind".into(), Value::String(kind.list_kind()));
    map.entry("metadata").or_insert_with(|| json!({}));
    match map.get_mut("items") {
        Some(Value::Array(items)) => {
            for item in items {
                fill_type(item, kind);
            }
        }
        // The API server writes `"items": null` for an empty list at times.
        _ => {
            map.insert("items".into(), Value::Array(Vec::new()));
        }
    }
}

fn take_items(list: &mut Value) -> Vec<Value> {
    match list.get_mut("items").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// The snapshot backend's matching rule for an Event's involvedObject.
fn involves(event: &Value, object: &ObjectRef) -> bool {
    let Some(involved) = event.get("involvedObject") else {
        return false;
    };
    let field = |f: &str| involved.get(f).and_then(Value::as_str).unwrap_or("");
    if field("kind") != object.kind || field("name") != object.name {
        return false;
    }
    if field("namespace") != object.namespace.as_deref().unwrap_or("") {
        return false;
    }
    let (want_group, _) = split_api_version(&object.api_version);
    let (group, _) = split_api_version(field("apiVersion"));
    field("apiVersion").is_empty() || object.api_version.is_empty() || group == want_group
}

/// When an event last happened (the snapshot backend's order): lastTimestamp,
/// series.lastObservedTime, eventTime, firstTimestamp, creationTimestamp.
fn event_time(event: &Value) -> Option<i64> {
    [
        event.get("lastTimestamp"),
        event.get("series").and_then(|s| s.get("lastObservedTime")),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        event.pointer("/metadata/creationTimestamp"),
    ]
    .into_iter()
    .flatten()
    .filter_map(Value::as_str)
    .find_map(rfc3339_micros)
}

/// Microseconds since the epoch of an RFC 3339 timestamp as Kubernetes
/// writes them (`…Z`, `….123456Z`, `…+02:00`).
fn rfc3339_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> { s.get(from..to)?.parse().ok() };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut rest = &s[19..];
    let mut micros = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        let mut padded: String = fraction[..digits].chars().take(6).collect();
        while padded.len() < 6 {
            padded.push('0');
        }
        micros = padded.parse().ok()?;
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            let (h, m) = rest.get(1..)?.split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some((days * 86_400 + hour * 3600 + minute * 60 + second - offset) * 1_000_000 + micros)
}

/// Build the served list and the resolution table from discovery documents
/// (`APIResourceList`s).
fn discovered_from(lists: &[Value]) -> Discovered {
    let builtin = ResourceTable::builtin();
    let mut served: Vec<(usize, ResourceKind)> = Vec::new();
    for list in lists {
        let group_version = list
            .get("groupVersion")
            .and_then(Value::as_str)
            .unwrap_or("v1");
        let (group, version) = split_api_version(group_version);
        for resource in list
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let text = |f: &str| resource.get(f).and_then(Value::as_str).unwrap_or("");
            let (name, kind) = (text("name"), text("kind"));
            if name.is_empty() || kind.is_empty() || name.contains('/') {
                continue; // subresources (pods/log) are not kinds
            }
            let strings = |f: &str| -> Vec<String> {
                resource
                    .get(f)
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let singular = match text("singularName") {
                "" => kind.to_ascii_lowercase(),
                s => s.to_string(),
            };
            let kind = ResourceKind {
                group: group.to_string(),
                version: version.to_string(),
                kind: kind.to_string(),
                plural: name.to_string(),
                singular,
                short_names: strings("shortNames"),
                namespaced: resource
                    .get("namespaced")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                verbs: strings("verbs"),
            };
            // Built-ins in kubectl's priority order, then the rest.
            let rank = builtin
                .kinds()
                .iter()
                .position(|b| b.group == kind.group && b.kind == kind.kind)
                .unwrap_or(usize::MAX);
            if !served
                .iter()
                .any(|(_, k)| k.group == kind.group && k.kind == kind.kind)
            {
                served.push((rank, kind));
            }
        }
    }
    // Stable: discovery order among the non-built-ins.
    served.sort_by_key(|(rank, _)| *rank);
    let served: Vec<ResourceKind> = served.into_iter().map(|(_, k)| k).collect();
    let mut table = builtin;
    for kind in &served {
        table.insert(kind.clone());
    }
    Discovered { served, table }
}

/// Resolve `name` like kubectl, then find the resource as the server serves
/// it (its version, verbs and scope).
fn resolve_in(d: &Discovered, name: &str, server: &str) -> Result<ResourceKind, BrokerError> {
    let wanted = d.table.resolve(name)?;
    if let Some(served) = d
        .served
        .iter()
        .find(|k| k.group == wanted.group && k.kind == wanted.kind)
    {
        return Ok(served.clone());
    }
    // A built-in the server lacks may shadow a served custom resource with
    // the same name (`applications` of another group): try served kinds only.
    let lower = name.trim().to_ascii_lowercase();
    let (bare, group) = match lower.split_once('.') {
        Some((bare, group)) => (bare.to_string(), Some(group.to_string())),
        None => (lower.clone(), None),
    };
    let matches: Vec<&ResourceKind> = d
        .served
        .iter()
        .filter(|k| group.as_deref().is_none_or(|g| k.group == g))
        .filter(|k| {
            k.plural == bare
                || k.singular == bare
                || k.kind.eq_ignore_ascii_case(&bare)
                || k.short_names.iter().any(|s| s.eq_ignore_ascii_case(&bare))
        })
        .collect();
    if let [only] = matches.as_slice() {
        return Ok((*only).clone());
    }
    Err(BrokerError::NotFound(format!(
        "the API server at {server} does not serve {} ({}): the resource type does not exist on \
         this cluster (its CRD or API service is not installed); `api-resources` lists what it \
         serves",
        wanted.grant_name(),
        wanted.api_version()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(api_version: &str, kind: &str, plural: &str, namespaced: bool) -> ResourceKind {
        let mut k = ResourceKind::discovered(api_version, kind, namespaced);
        k.plural = plural.to_string();
        k
    }

    /// A permit from the default policy, for `verb` on `kind`.
    fn permit(verb: &str, kind: &ResourceKind, dry_run: bool) -> Permit {
        let input = guardian_policy::PolicyInput {
            caller: guardian_policy::Caller::parse("human:test"),
            verb: verb.into(),
            resource: guardian_policy::Resource::new(
                &kind.group,
                &kind.version,
                &kind.plural,
                "",
                &kind.kind,
            ),
            namespace: "staging".into(),
            name: "web".into(),
            dry_run,
            grants: guardian_policy::GrantSets {
                read: vec!["*".into()],
                propose: vec!["*".into()],
            },
            ..Default::default()
        };
        let (decision, permit) = guardian_policy::Policy::defaults().unwrap().decide(input);
        permit.unwrap_or_else(|| panic!("{verb} {}: {decision:?}", kind.grant_name()))
    }

    /// Every call checks its permit before a byte goes out: the server here
    /// does not exist, so reaching it would fail as `unavailable`.
    #[tokio::test]
    async fn a_permit_is_for_the_call_it_was_minted_for() {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  \
             cluster:\n    server: http://127.0.0.1:9\nusers:\n- name: u\n  user:\n    \
             token: t\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n",
        )
        .unwrap();
        let live = LiveBackend::connect(&ClusterOptions {
            kubeconfig: Some(kubeconfig),
            ..ClusterOptions::default()
        })
        .await
        .unwrap();
        let pods = kind("v1", "Pod", "pods", true);
        let secrets = kind("v1", "Secret", "secrets", true);
        let deployments = kind("apps/v1", "Deployment", "deployments", true);

        let wrong = live
            .get_object(
                &permit("get", &secrets, false),
                &pods,
                Some("staging"),
                "web",
            )
            .await
            .unwrap_err();
        assert_eq!(wrong.kind_str(), "internal", "{wrong}");
        assert!(
            wrong.message().contains("a permit for get secrets"),
            "{wrong}"
        );
        // A dry-run permit for the very object does not write it.
        let patch = json!([{"op": "replace", "path": "/spec/replicas", "value": 5}]);
        let err = live
            .apply_json_patch(
                &permit("patch", &deployments, true),
                &deployments,
                Some("staging"),
                "web",
                &patch,
                "7",
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind_str(), "denied", "{err}");
        // A read permit does not ask about the server or review anything.
        let read = permit("get", &pods, false);
        for err in [
            live.server_version(&read).await.unwrap_err(),
            live.token_review(&read, "token", &[]).await.unwrap_err(),
            live.access_review(
                &read,
                &Permission {
                    group: String::new(),
                    resource: "pods".into(),
                    subresource: None,
                    verb: "get".into(),
                },
                None,
            )
            .await
            .unwrap_err(),
        ] {
            assert_eq!(err.kind_str(), "internal", "{err}");
        }
        // The right permit does go out (and finds no server).
        let err = live
            .server_version(&permit("get", &version_document(), false))
            .await
            .unwrap_err();
        assert_eq!(err.kind_str(), "unavailable", "{err}");
    }

    #[test]
    fn paths_are_built_and_names_encoded() {
        let pods = kind("v1", "Pod", "pods", true);
        let deploy = kind("apps/v1", "Deployment", "deployments", true);
        let nodes = kind("v1", "Node", "nodes", false);
        assert_eq!(
            collection_path(&pods, Some("staging")),
            "/api/v1/namespaces/staging/pods"
        );
        assert_eq!(collection_path(&pods, None), "/api/v1/pods");
        assert_eq!(
            collection_path(&deploy, Some("a")),
            "/apis/apps/v1/namespaces/a/deployments"
        );
        assert_eq!(collection_path(&nodes, Some("ignored")), "/api/v1/nodes");
        assert_eq!(
            encode_segment("system:controller:x"),
            "system%3Acontroller%3Ax"
        );
        assert_eq!(encode_segment("a/b?c#d"), "a%2Fb%3Fc%23d");
        assert!(check_name(&pods, "../x").is_err());
        assert!(check_name(&pods, "..").is_err());
        assert!(check_name(&pods, "").is_err());
        assert!(check_name(&pods, "web-1").is_ok());
        assert!(scope(&pods, None, "x").is_err());
        assert_eq!(scope(&nodes, Some("ns"), "x").unwrap(), None);
    }

    #[test]
    fn lists_look_like_the_snapshots() {
        let pods = kind("v1", "Pod", "pods", true);
        let mut list = json!({"kind": "PodList", "apiVersion": "v1",
            "metadata": {"resourceVersion": "7"}, "items": [{"metadata": {"name": "a"}}]});
        normalize_list(&mut list, &pods);
        assert_eq!(list["items"][0]["kind"], "Pod");
        assert_eq!(list["items"][0]["apiVersion"], "v1");
        let mut empty =
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": null});
        normalize_list(&mut empty, &pods);
        assert_eq!(empty["items"], json!([]));
    }

    #[test]
    fn discovery_orders_builtins_first_and_resolves_crds() {
        let lists = [
            json!({"groupVersion": "v1", "resources": [
                {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
                 "verbs": ["get", "list"], "shortNames": ["po"]},
                {"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod",
                 "verbs": ["get"]},
                {"name": "nodes", "singularName": "node", "namespaced": false, "kind": "Node",
                 "verbs": ["get", "list"], "shortNames": ["no"]}]}),
            json!({"groupVersion": "example.com/v1alpha1", "resources": [
                {"name": "widgets", "singularName": "widget", "namespaced": true,
                 "kind": "Widget", "verbs": ["get", "list"], "shortNames": ["wdg"]}]}),
            json!({"groupVersion": "apps/v1", "resources": [
                {"name": "deployments", "singularName": "deployment", "namespaced": true,
                 "kind": "Deployment", "verbs": ["get", "list", "patch"], "shortNames": ["deploy"]}]}),
        ];
        let d = discovered_from(&lists);
        let names: Vec<String> = d.served.iter().map(ResourceKind::grant_name).collect();
        assert_eq!(
            names,
            ["pods", "nodes", "deployments.apps", "widgets.example.com"]
        );
        let server = "http://x";
        assert_eq!(resolve_in(&d, "wdg", server).unwrap().version, "v1alpha1");
        assert_eq!(
            resolve_in(&d, "deploy", server).unwrap().verbs,
            ["get", "list", "patch"]
        );
        let err = resolve_in(&d, "applications.argoproj.io", server).unwrap_err();
        assert_eq!(err.kind_str(), "not-found");
        assert!(
            err.message()
                .contains("does not serve applications.argoproj.io"),
            "{err}"
        );
        assert_eq!(
            resolve_in(&d, "nonsense", server).unwrap_err().kind_str(),
            "invalid"
        );
    }

    #[test]
    fn events_match_and_order_like_the_snapshot() {
        let object = ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("a".into()),
            name: "web".into(),
        };
        let event = |api: &str, ns: &str| {
            json!({"involvedObject": {"apiVersion": api, "kind": "Deployment", "name": "web",
                   "namespace": ns}})
        };
        assert!(involves(&event("apps/v1", "a"), &object));
        assert!(involves(&event("apps/v1beta1", "a"), &object));
        assert!(involves(&event("", "a"), &object));
        assert!(!involves(&event("extensions/v1beta1", "a"), &object));
        assert!(!involves(&event("apps/v1", "b"), &object));
        assert!(rfc3339_micros("2026-11-23T13:28:00.5Z") > rfc3339_micros("2026-11-23T13:28:00Z"));
        assert_eq!(
            rfc3339_micros("2026-11-23T15:28:00+02:00"),
            rfc3339_micros("2026-11-23T13:28:00Z")
        );
        assert_eq!(rfc3339_micros("1970-01-02T00:00:01Z"), Some(86_401_000_000));
    }
}
