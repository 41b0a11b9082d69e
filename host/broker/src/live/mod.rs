//! The live backend: a real API server through `kube::Client`.
//!
//! Configuration follows kubectl (`--kubeconfig`, `KUBECONFIG`,
//! `~/.kube/config`, the in-cluster service account; `--context`; `--as` /
//! `--as-group`), see [`config`]. Requests are raw `http::Request`s built
//! with kube's request builders (`request.rs`: paths, names, permit checks),
//! so every answer is the API server's JSON as it sent it — shaped like the
//! snapshot's (list items carry `apiVersion` and `kind`, lists are `XList`s)
//! — and every error becomes a [`BrokerError`] that says what to do
//! ([`errors`]), a 403 included.
//!
//! The operations are inherent async methods, one file per job:
//! `discovery.rs` (which resources the server serves), `reads.rs` (get, list,
//! logs, events), `writes.rs` (the server-side dry run, and
//! [`LiveBackend::apply_json_patch`], the one real write, which only the
//! approved-action path may call) and `reviews.rs` (the server's version,
//! SelfSubjectAccessReview for `guardian doctor`, TokenReview for `guardian
//! serve`). [`Backend`] for `LiveBackend` only delegates to them. Every one
//! that reaches the server takes a [`Permit`] for exactly that call; only
//! [`crate::Broker`] holds a `LiveBackend`, and it asks policy for each
//! permit and audits it.

pub mod capture;
mod config;
mod discovery;
mod errors;
pub mod rbac;
mod reads;
mod request;
mod reviews;
mod writes;

use guardian_policy::Permit;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::{Backend, BrokerError, ListQuery, LogQuery, ObjectRef, ResourceKind};
pub use config::ClusterOptions;
use discovery::Discovered;
use errors::{Op, Target};
use request::build_error;
pub use reviews::{ServerVersion, TokenUser};
pub(crate) use reviews::{access_reviews, token_reviews, version_document};
pub use writes::FIELD_MANAGER;

/// A live cluster. Cheap to clone: the client and the discovery cache are
/// shared.
#[derive(Clone)]
pub(crate) struct LiveBackend {
    inner: Arc<Inner>,
}

/// Where the session's bearer token is.
enum Bearer {
    Token(String),
    /// Read at each use: a projected service account token rotates.
    File(std::path::PathBuf),
    /// Why there is none (client certificates, an exec plugin).
    None(String),
}

struct Inner {
    client: kube::Client,
    target: Target,
    context: Option<String>,
    default_namespace: String,
    impersonating: Option<String>,
    /// The bearer token the session authenticates with, for the kubelet's
    /// direct route (never shown).
    bearer: Bearer,
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
        let bearer = {
            use secrecy::ExposeSecret;
            let auth = &resolved.config.auth_info;
            match (&auth.token, &auth.token_file) {
                (Some(token), _) => Bearer::Token(token.expose_secret().to_owned()),
                (None, Some(file)) => Bearer::File(file.into()),
                (None, None) => Bearer::None(format!(
                    "{} authenticates without a bearer token (a client certificate or a                      credential plugin)",
                    resolved.label
                )),
            }
        };
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
                bearer,
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

    /// A Prometheus query sent through the API server's service proxy
    /// (`request`'s path is under `/api/v1/namespaces/NS/services/…/proxy`),
    /// with the permit of that query. The raw answer: the caller reads it
    /// within its bounds and maps its status.
    pub(crate) async fn proxy_prometheus(
        &self,
        permit: &Permit,
        request: http::Request<kube::client::Body>,
    ) -> Result<http::Response<kube::client::Body>, BrokerError> {
        let resource = &permit.input().resource;
        let path = request.uri().path();
        if permit.verb() != "get"
            || resource.group != crate::metrics::PROMETHEUS_GROUP
            || !path.starts_with("/api/v1/namespaces/")
            || !path.contains("/proxy/api/v1/query")
        {
            return Err(BrokerError::Internal(format!(
                "a permit for {} {} was used to proxy {path}",
                permit.verb(),
                resource.grant
            )));
        }
        tracing::debug!(uri = %request.uri(), "proxied Prometheus request");
        self.inner
            .client
            .send(request)
            .await
            .map_err(|e| errors::transport(&e, &self.inner.target))
    }

    /// The session's bearer token (for the kubelet's direct route), or why
    /// there is none.
    pub(crate) fn bearer_token(&self) -> Result<String, String> {
        match &self.inner.bearer {
            Bearer::Token(t) => Ok(t.clone()),
            Bearer::File(path) => std::fs::read_to_string(path)
                .map(|t| t.trim().to_owned())
                .map_err(|e| format!("cannot read the token file {}: {e}", path.display())),
            Bearer::None(why) => Err(why.clone()),
        }
    }

    /// The kubelet's `/stats/summary` through the API server's node proxy
    /// (`path` is `/api/v1/nodes/NODE/proxy/stats/summary`), with the
    /// permit of that read: the status and at most `max_bytes` of the body
    /// (64 KiB of an error).
    pub(crate) async fn proxy_kubelet_stats(
        &self,
        permit: &Permit,
        path: &str,
        max_bytes: u64,
    ) -> Result<(http::StatusCode, Vec<u8>), BrokerError> {
        let resource = &permit.input().resource;
        let expected = format!("/api/v1/nodes/{}/proxy/stats/summary", permit.input().name);
        if permit.verb() != "get" || resource.grant != "nodes/stats" || path != expected {
            return Err(BrokerError::Internal(format!(
                "a permit for {} {} was used to proxy {path}",
                permit.verb(),
                resource.grant
            )));
        }
        let request = http::Request::get(path)
            .header("Accept", "application/json")
            .body(kube::client::Body::from(Vec::new()))
            .map_err(|e| BrokerError::Internal(format!("cannot build GET {path}: {e}")))?;
        let response = self
            .inner
            .client
            .send(request)
            .await
            .map_err(|e| errors::transport(&e, &self.inner.target))?;
        let status = response.status();
        let max = if status.is_success() {
            max_bytes
        } else {
            64 << 10
        };
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        use http_body_util::BodyExt;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                BrokerError::Unavailable(format!("the answer to GET {path} broke off: {e}"))
            })?;
            if let Ok(data) = frame.into_data() {
                bytes.extend_from_slice(&data);
                if bytes.len() as u64 > max {
                    if status.is_success() {
                        return Err(BrokerError::TooLarge(format!(
                            "GET {path} answered more than {max_bytes} bytes"
                        )));
                    }
                    bytes.truncate(max as usize);
                    break;
                }
            }
        }
        Ok((status, bytes))
    }

    async fn get_path(&self, path: &str, op: &Op) -> Result<Value, BrokerError> {
        let request = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| build_error(&e, op))?;
        self.send_json(request, op).await
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::live::rbac::Permission;

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
}
