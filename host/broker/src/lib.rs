//! The broker: the only door between Guardian and a Kubernetes cluster.
//!
//! Every call a skill makes arrives here (via the runtime's host imports) and is
//! answered by a backend: a live API server (`live`) or a snapshot
//! ([`Snapshot`], from `guardian-snapshot`). Every call is decided by policy
//! first (backends take a [`Permit`], which only a policy decision mints) and
//! written to the audit log. Whatever leaves the broker is redacted
//! ([`redact`]): Secret values, credential-shaped env values, and
//! credential-shaped text in logs and event messages.
//!
//! **Architecture invariant:** nothing outside this crate talks to a cluster.
//! The backends are private to it: a [`Broker`] is built over a live cluster
//! ([`Broker::live`]) or a snapshot ([`Broker::snapshot`]), and everything the
//! host needs from a cluster — objects, logs, events, dry runs, the approved
//! write, the server's version, access and token reviews, a capture — is a
//! `Broker` operation, decided by policy and audited.

mod audit;
mod backend;
mod context;
pub mod forge;
mod gate;
pub mod git;
mod host;
pub mod kubelet;
pub mod live;
pub mod metrics;
mod node;
pub mod registry;

use std::path::Path;
use std::sync::Arc;

use guardian_redact::omit;
use serde_json::Value;

pub use audit::{ActionAuditRecord, Audit, AuditRecord};
pub use context::{CallContext, CallScope};
pub use forge::{NewPullRequest, PrState, PullRequest};
pub use git::{
    BranchPush, Checkout, ForgeAccess, ForgeKind, GitCredential, GitOptions, PushedBranch,
    RepositoryAccess,
};
pub use guardian_kube_types::{
    BrokerError, ListQuery, LogQuery, ObjectRef, ResourceKind, ResourceTable, SharedItem,
    SharedList, Stored, resources, selectors,
};
pub use guardian_policy::{GrantSets, Permit, Policy};
pub use guardian_redact as redact;
pub use guardian_snapshot::{LoadProblem, Snapshot};
pub use host::AccessReview;
pub use live::{ClusterOptions, ServerVersion, TokenUser};
pub use metrics::{ContainerUsage, MetricsSourceReport, PrometheusOptions};
pub use node::{KubeletRoute, NodeOptions};
pub use registry::{RegistryOptions, RegistryTags, TagSuggestion, suggest_tags};

use backend::{Backend, SnapshotBackend};
use gate::{Request, WRITE_VERBS};
use live::LiveBackend;

/// The broker: a backend, the policy every call is decided by, and the audit
/// log every decision goes to. Whatever leaves it is redacted.
#[derive(Clone)]
pub struct Broker {
    backend: Arc<dyn Backend>,
    /// The same backend when it is a live cluster: what only an API server
    /// answers (its version, reviews, a capture) is asked of it.
    live: Option<LiveBackend>,
    policy: Arc<Policy>,
    audit: Arc<Audit>,
    /// Where Prometheus is (configured, or found in the live cluster).
    metrics: Arc<metrics::MetricsState>,
    /// The repositories and forges Guardian may reach.
    git: Arc<git::GitOptions>,
    /// Which registries may be asked, and the client that asks them.
    registry: Arc<registry::RegistryState>,
    /// The one node this broker reads (`guardian serve --node NAME`);
    /// `None` reads the whole cluster.
    node: Option<Arc<node::NodeScope>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("source", &self.describe())
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// A broker over the live cluster `cluster` names. Reads the kubeconfig
    /// (or the in-cluster service account) but does not contact the server:
    /// the first call does, and a dead server is reported then, naming its
    /// URL.
    pub async fn live(
        cluster: &ClusterOptions,
        policy: Arc<Policy>,
        audit: Arc<Audit>,
    ) -> Result<Broker, BrokerError> {
        let live = LiveBackend::connect(cluster).await?;
        Ok(Self {
            backend: Arc::new(live.clone()),
            live: Some(live),
            policy,
            audit,
            metrics: Arc::new(metrics::MetricsState::new(Default::default())),
            git: Default::default(),
            registry: Default::default(),
            node: None,
        })
    }

    /// A broker over the snapshot folder (or file) at `path`, and what in it
    /// could not be used (skipped; the rest loaded). Fails only when nothing
    /// could be loaded. Blocks while the files are read.
    pub fn snapshot(
        path: &Path,
        policy: Arc<Policy>,
        audit: Arc<Audit>,
    ) -> Result<(Broker, Vec<LoadProblem>), BrokerError> {
        let (snapshot, problems) = Snapshot::load(path)?;
        Ok((Self::from_snapshot(snapshot, policy, audit), problems))
    }

    /// A broker over a snapshot already loaded (or built in memory with
    /// [`Snapshot::from_values`]).
    pub fn from_snapshot(snapshot: Snapshot, policy: Arc<Policy>, audit: Arc<Audit>) -> Broker {
        Self::new(Arc::new(SnapshotBackend(snapshot)), policy, audit)
    }

    pub(crate) fn new(backend: Arc<dyn Backend>, policy: Arc<Policy>, audit: Arc<Audit>) -> Self {
        Self {
            backend,
            live: None,
            policy,
            audit,
            metrics: Arc::new(metrics::MetricsState::new(Default::default())),
            git: Default::default(),
            registry: Default::default(),
            node: None,
        }
    }

    /// `snapshot PATH`, or `context kind-dev (https://127.0.0.1:6443)` (plus
    /// `as USER` when impersonating).
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// The namespace kubectl would use without `-n` on this live cluster:
    /// the context's, else `default` (in a pod: the pod's own). `None` for a
    /// snapshot, which is read whole.
    pub fn default_namespace(&self) -> Option<&str> {
        self.live.as_ref().map(LiveBackend::default_namespace)
    }

    /// Records a call refused before policy was asked (outside the skill's
    /// grants), so every refusal is in the audit log.
    #[allow(clippy::too_many_arguments)]
    pub fn record_refusal(
        &self,
        cx: &CallContext,
        verb: &str,
        kind: &ResourceKind,
        subresource: &str,
        namespace: Option<&str>,
        name: &str,
        reason: &str,
    ) {
        let mut req = Request::new(verb, kind, namespace, name).on(subresource);
        req.dry_run = WRITE_VERBS.contains(&verb);
        let reasons = [reason.to_owned()];
        let now = std::time::Instant::now();
        self.audit(cx, &req, "deny", "outside-grants", &reasons, None, now);
    }

    /// Discovery: resolving a resource name reads no object, so it needs no
    /// permit.
    pub async fn resolve(&self, resource: &str) -> Result<ResourceKind, BrokerError> {
        self.backend.resolve(resource).await
    }

    /// Discovery (no object data; needs no permit).
    pub async fn api_resources(&self, _cx: &CallContext) -> Result<Vec<ResourceKind>, BrokerError> {
        self.backend.api_resources().await
    }

    pub async fn get(
        &self,
        cx: &CallContext,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, BrokerError> {
        self.call(
            cx,
            &Request::new("get", kind, namespace, name),
            async |permit| {
                let Some(scope) = self.node.as_deref() else {
                    return self.backend.get(permit, kind, namespace, name).await;
                };
                scope.check_node_get(kind, name)?;
                let object = self.backend.get(permit, kind, namespace, name).await?;
                if kind.group.is_empty() && kind.plural == "pods" {
                    scope.check_pod(&object, namespace.unwrap_or_default(), name)?;
                }
                Ok(object)
            },
            |object| self.mask_object(object),
        )
        .await
    }

    pub async fn list(
        &self,
        cx: &CallContext,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<Value, BrokerError> {
        Ok(self.list_shared(cx, kind, query).await?.into_value())
    }

    /// Like [`Broker::list`], with items shared with the backend instead of
    /// copied (redaction copies only what it changes).
    pub async fn list_shared(
        &self,
        cx: &CallContext,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<SharedList, BrokerError> {
        // A node daemon lists its node's pods (and node) only.
        let scoped = self
            .node
            .as_deref()
            .and_then(|scope| scope.scope_list(kind, query));
        let (query, note) = match &scoped {
            Some((narrowed, note)) => (narrowed, note.as_str()),
            None => (query, ""),
        };
        self.call(
            cx,
            &Request::new("list", kind, query.namespace.as_deref(), "").noting(note),
            async |permit| self.backend.list_shared(permit, kind, query).await,
            |list| self.mask_list(list),
        )
        .await
    }

    pub async fn logs(
        &self,
        cx: &CallContext,
        namespace: &str,
        pod: &str,
        query: &LogQuery,
    ) -> Result<String, BrokerError> {
        let pods = self.backend.resolve("pods").await?;
        self.call(
            cx,
            &Request::new("logs", &pods, Some(namespace), pod).on("log"),
            async |permit| {
                // A node daemon reads the logs of its node's pods only.
                self.pod_on_node(namespace, pod).await?;
                self.backend.logs(permit, namespace, pod, query).await
            },
            |text| self.mask_log(text),
        )
        .await
    }

    pub async fn events(&self, cx: &CallContext, object: &ObjectRef) -> Result<Value, BrokerError> {
        let events = self.backend.resolve("events").await?;
        self.call(
            cx,
            &Request::new("events", &events, object.namespace.as_deref(), &object.name),
            async |permit| self.backend.events(permit, object).await,
            |list| self.mask_events(list),
        )
        .await
    }

    /// A server-side dry run of a JSON Patch. Policy sees a `patch` with
    /// `dry_run: true`; nothing is persisted whatever it says.
    pub async fn dry_run_patch(
        &self,
        cx: &CallContext,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        json_patch: &Value,
    ) -> Result<Value, BrokerError> {
        self.call(
            cx,
            &Request::new("patch", kind, namespace, name).dry_run(),
            async |permit| {
                let backend = &self.backend;
                backend
                    .dry_run_patch(permit, kind, namespace, name, json_patch)
                    .await
            },
            mask_patched,
        )
        .await
    }

    /// The real write of a stored, human-approved action: a JSON Patch
    /// applied with `resource_version` as precondition.
    ///
    /// Policy decides it again now (a `patch`, `dry_run: false`, with
    /// `input.action` set), whatever it said when the action was proposed;
    /// the decision is audited like every other, naming the action and who
    /// approved it. Only a permit for a real write reaches the backend: a
    /// decision that allows only a dry run (no human approval) is refused
    /// and audited as a denial. A read-only backend (a snapshot) refuses the
    /// write. The patch is sent exactly as given, after a `test` of the
    /// resourceVersion, so a changed object is a [`BrokerError::Conflict`]
    /// and nothing is written.
    ///
    /// Only the apply step of the action store calls this (DESIGN.md §4
    /// invariant 1); nothing reachable from a skill does.
    #[allow(clippy::too_many_arguments)]
    pub async fn apply_approved(
        &self,
        cx: &CallContext,
        action: &guardian_policy::ActionRef,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        json_patch: &Value,
        resource_version: &str,
    ) -> Result<Value, BrokerError> {
        let approved = format!("action {} approved by {}", action.id, action.approver);
        self.call(
            cx,
            &Request::new("patch", kind, namespace, name)
                .with_action(action)
                .noting(&approved),
            async |permit| {
                let backend = &self.backend;
                backend
                    .apply_patch(permit, kind, namespace, name, json_patch, resource_version)
                    .await
            },
            mask_patched,
        )
        .await
    }

    /// The policy decision the real apply of a proposal would get, asked
    /// now: a `patch` with `dry_run: false` carrying a placeholder
    /// human-approved action. Audited as a decision (`dry_run: false`, reason
    /// `preview of an apply`); nothing reaches the backend and no permit
    /// leaves this function. Returns (allowed for a real write, rule,
    /// reasons).
    pub async fn preview_apply(
        &self,
        cx: &CallContext,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
    ) -> (bool, String, Vec<String>) {
        let started = std::time::Instant::now();
        let approver = if cx.caller.starts_with("human:") {
            cx.caller.clone()
        } else {
            "human:approver".to_owned()
        };
        let action = guardian_policy::ActionRef {
            id: "act-preview".into(),
            approved: true,
            approver,
        };
        let req = Request::new("patch", kind, namespace, name).with_action(&action);
        let (decision, permit) = self.policy.decide(self.input(cx, &req).await);
        // A permit that allows only a dry run would not let the apply write.
        let allowed = permit.is_some_and(|p| !p.dry_run());
        let mut reasons = vec!["preview of an apply".to_owned()];
        reasons.extend(decision.reasons.iter().cloned());
        let verdict = if allowed { "allow" } else { "deny" };
        self.audit(cx, &req, verdict, &decision.rule, &reasons, None, started);
        (allowed, decision.rule, decision.reasons)
    }

    // ----- what leaves the broker ---------------------------------------

    /// An object read: Secret values; env values, annotations and messages
    /// unless the backend masked them at source.
    fn mask_object(&self, object: &mut Value) {
        redact::object(object);
        if !self.backend.redacted_at_source() {
            redact::env_values(object);
        }
    }

    /// A list: each item as [`Broker::mask_object`] would, copying only the
    /// items that change; ConfigMap values left out.
    fn mask_list(&self, list: &mut SharedList) {
        let scan = !self.backend.redacted_at_source();
        let omit = omit::applies_to(&list.kind);
        for item in &mut list.items {
            redact::shared_item(item, &list.kind);
            if omit {
                omit::config_map_values(item.make_mut());
            }
            if !scan {
                continue;
            }
            if let SharedItem::Stored(stored) = item {
                // Only a snapshot stores items, and it is redacted at source;
                // a backend that is not gets its items scanned as trees.
                *item = SharedItem::Tree(Arc::new(stored.value()));
            }
            if let SharedItem::Tree(tree) = item
                && redact::env_values_needed(tree)
            {
                redact::env_values(item.make_mut());
            }
            if list.kind == "EventList" {
                redact::event_messages(item.make_mut());
            }
        }
    }

    /// A container's log, unless the backend masked it at source.
    fn mask_log(&self, text: &mut String) {
        if self.backend.redacted_at_source() {
            return;
        }
        if let std::borrow::Cow::Owned(masked) = redact::text(text) {
            *text = masked;
        }
    }

    /// An EventList's messages, unless the backend masked them at source.
    fn mask_events(&self, events: &mut Value) {
        if !self.backend.redacted_at_source() {
            redact::event_messages(events);
        }
    }
}

/// An object after a patch (a dry run or the real write): always masked
/// whole, since the patch may have put anything in it.
fn mask_patched(object: &mut Value) {
    redact::object(object);
    redact::env_values(object);
}
