//! The broker: the only door between Guardian and a Kubernetes cluster.
//!
//! Every call a skill makes arrives here (via the runtime's host imports) and is
//! answered by a [`Backend`]: a live API server or an offline snapshot. Every
//! call is decided by policy first (backends take a [`Permit`], which only a
//! policy decision mints) and written to the audit log. Whatever leaves the
//! broker is redacted ([`redact`]): Secret values, credential-shaped env
//! values, and credential-shaped text in logs and event messages.
//!
//! **Architecture invariant:** nothing outside this crate talks to a cluster.
//! The backends are private to it: a [`Broker`] is built over a live cluster
//! ([`Broker::live`]) or a snapshot ([`Broker::snapshot`]), and everything the
//! host needs from a cluster — objects, logs, events, dry runs, the approved
//! write, the server's version, access and token reviews, a capture — is a
//! `Broker` operation, decided by policy and audited.

mod audit;
mod error;
mod host;
pub mod live;
pub mod omit;
pub mod redact;
pub mod resources;
pub mod selectors;
pub mod snapshot;
mod snapshot_backend;

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::SerializeStruct;
use serde_json::Value;

pub use audit::{ActionAuditRecord, Audit, AuditRecord};
pub use error::BrokerError;
pub use guardian_policy::{GrantSets, Permit, Policy};
pub use host::AccessReview;
pub use live::{ClusterOptions, ServerVersion, TokenUser};
pub use resources::{ResourceKind, ResourceTable};
pub use snapshot::stored::Stored;
pub use snapshot::{LoadProblem, Snapshot};

use live::LiveBackend;
use snapshot_backend::SnapshotBackend;

/// Options of a list call, in kubectl's terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// `None` lists across all namespaces.
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: Option<u32>,
}

/// Options of a pod-log call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogQuery {
    pub container: Option<String>,
    pub tail_lines: Option<u32>,
    pub previous: bool,
}

/// An object as an ownerReference or an Event's involvedObject names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

/// Who is asking, carried into every decision (and, later, the policy input
/// and the audit log).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CallContext {
    /// `human:alice`, `automation:ci`, `mcp:claude-desktop`, `agent`.
    pub caller: String,
    pub skill: String,
    pub tool: String,
    /// The skill's effective grants; policy allows reads and dry runs only
    /// within them. Callers that are not skills (capture, doctor) pass `*`.
    pub grants: GrantSets,
    /// What the broker learned during this call (one tool call, one host
    /// operation): the namespaces' labels, read once per call.
    #[serde(skip)]
    pub scope: CallScope,
}

/// What one call has learned about namespaces, kept for the rest of that
/// call: each namespace's labels (or why they could not be read), read the
/// first time the call writes there. Clones share it; a new
/// [`CallContext`] starts empty. It is not part of a call's identity
/// (every scope compares equal).
#[derive(Clone, Default)]
pub struct CallScope {
    labels: Arc<std::sync::Mutex<std::collections::HashMap<String, NamespaceLabels>>>,
}

/// A namespace's labels, or why they could not be read.
type NamespaceLabels = Result<std::collections::BTreeMap<String, String>, String>;

impl CallScope {
    fn get(&self, namespace: &str) -> Option<NamespaceLabels> {
        self.labels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(namespace)
            .cloned()
    }

    fn put(&self, namespace: &str, labels: NamespaceLabels) {
        self.labels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(namespace.to_owned(), labels);
    }
}

impl PartialEq for CallScope {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for CallScope {}

impl std::fmt::Debug for CallScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.labels.lock().map(|m| m.len()).unwrap_or(0);
        write!(f, "CallScope({n} namespaces)")
    }
}

impl CallContext {
    /// The host itself acting for the person at the CLI (`snapshot capture`,
    /// `doctor`): caller `human:cli`, skill `guardian`, every read granted
    /// (policy still decides each call).
    pub fn host(tool: &str) -> Self {
        CallContext {
            caller: "human:cli".into(),
            skill: "guardian".into(),
            tool: tool.into(),
            grants: GrantSets {
                read: vec!["*".into()],
                propose: Vec::new(),
            },
            scope: CallScope::default(),
        }
    }
}

/// A list answer whose items are shared with the backend instead of copied.
///
/// [`Backend::list`] must hand out an owned `Value`, which means deep-copying
/// every item — for thousands of pods that copy dominates the call. Callers
/// that only read or serialize the answer (the runtime handing JSON to a
/// skill) should use [`Broker::list_shared`]: items are `Arc`s into the
/// backend's data, and redaction copies only the Secrets it changes.
/// Serializes exactly like the equivalent list object.
#[derive(Clone, Debug, PartialEq)]
pub struct SharedList {
    /// `v1`, `apps/v1`
    pub api_version: String,
    /// `PodList`
    pub kind: String,
    /// The list's metadata (`resourceVersion`, `remainingItemCount`).
    pub metadata: Value,
    pub items: Vec<SharedItem>,
}

/// One item of a [`SharedList`]: a parsed tree, or a snapshot's stored JSON
/// text (serialized as it is, parsed only if someone needs the tree).
#[derive(Clone, Debug)]
pub enum SharedItem {
    Tree(Arc<Value>),
    Stored(Arc<snapshot::stored::Stored>),
}

impl SharedItem {
    /// The item as a tree (parses a stored one).
    pub fn to_value(&self) -> Value {
        match self {
            SharedItem::Tree(v) => Value::clone(v),
            SharedItem::Stored(s) => s.value(),
        }
    }

    /// The item as a shared tree (parses a stored one).
    pub fn into_tree(self) -> Arc<Value> {
        match self {
            SharedItem::Tree(v) => v,
            SharedItem::Stored(s) => Arc::new(s.value()),
        }
    }

    /// The tree, to change: a stored item is parsed, a shared tree copied if
    /// someone else holds it.
    pub fn make_mut(&mut self) -> &mut Value {
        if let SharedItem::Stored(s) = self {
            *self = SharedItem::Tree(Arc::new(s.value()));
        }
        match self {
            SharedItem::Tree(v) => Arc::make_mut(v),
            SharedItem::Stored(_) => unreachable!("replaced above"),
        }
    }

    /// Whether [`redact::list_item`] must look at this item. A stored item
    /// was redacted at load; only Secrets are checked again, on every call.
    pub fn needs_redaction(&self, list_kind: &str) -> bool {
        match self {
            SharedItem::Tree(v) => redact::list_item_needs_redaction(v, list_kind),
            SharedItem::Stored(_) => list_kind == "SecretList",
        }
    }
}

impl PartialEq for SharedItem {
    fn eq(&self, other: &Self) -> bool {
        self.to_value() == other.to_value()
    }
}

impl Serialize for SharedItem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            SharedItem::Tree(v) => v.serialize(serializer),
            SharedItem::Stored(s) => s.serialize(serializer),
        }
    }
}

impl SharedList {
    /// Split a list object into its parts (items that are not an array make
    /// an empty list).
    pub fn from_value(list: Value) -> Self {
        let mut list = match list {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        let text = |v: Option<Value>| match v {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        let items = match list.remove("items") {
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| SharedItem::Tree(Arc::new(item)))
                .collect(),
            _ => Vec::new(),
        };
        Self {
            api_version: text(list.remove("apiVersion")),
            kind: text(list.remove("kind")),
            metadata: list
                .remove("metadata")
                .unwrap_or_else(|| Value::Object(serde_json::Map::new())),
            items,
        }
    }

    /// The list as one owned object (deep-copies shared items).
    pub fn into_value(self) -> Value {
        let items: Vec<Value> = self
            .items
            .into_iter()
            .map(|item| match item {
                SharedItem::Tree(v) => {
                    Arc::try_unwrap(v).unwrap_or_else(|shared| (*shared).clone())
                }
                SharedItem::Stored(s) => s.value(),
            })
            .collect();
        serde_json::json!({
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": self.metadata,
            "items": items,
        })
    }
}

impl Serialize for SharedList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Items<'a>(&'a [SharedItem]);
        impl Serialize for Items<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.iter())
            }
        }
        let mut list = serializer.serialize_struct("List", 4)?;
        list.serialize_field("apiVersion", &self.api_version)?;
        list.serialize_field("kind", &self.kind)?;
        list.serialize_field("metadata", &self.metadata)?;
        list.serialize_field("items", &Items(&self.items))?;
        list.end()
    }
}

/// A source of Kubernetes objects. Implemented by the snapshot backend and
/// the live backend, both private to this crate. Backends return raw objects;
/// [`Broker`] redacts.
#[async_trait::async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// Human-readable description: `snapshot examples/staging`, `context kind-dev`.
    fn describe(&self) -> String;
    /// Resolve a kubectl-style resource name (`pods`, `deploy`, `Deployment`,
    /// `deployments.apps`, `deployments.v1.apps`) to the resource it names.
    async fn resolve(&self, resource: &str) -> Result<ResourceKind, BrokerError>;
    async fn get(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, BrokerError>;
    /// A list object: `{"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [...]}`.
    async fn list(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<Value, BrokerError>;
    /// The same answer as [`Backend::list`] with items shared rather than
    /// copied. The default wraps `list`; backends that keep objects in
    /// memory (the snapshot) override it to avoid the copy.
    async fn list_shared(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<SharedList, BrokerError> {
        Ok(SharedList::from_value(
            self.list(permit, kind, query).await?,
        ))
    }
    async fn logs(
        &self,
        permit: &Permit,
        namespace: &str,
        pod: &str,
        query: &LogQuery,
    ) -> Result<String, BrokerError>;
    /// An EventList of the events whose involvedObject matches, oldest first.
    async fn events(&self, permit: &Permit, object: &ObjectRef) -> Result<Value, BrokerError>;
    /// Apply an RFC 6902 JSON Patch to a copy of the object and return it;
    /// nothing is persisted.
    async fn dry_run_patch(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        json_patch: &Value,
    ) -> Result<Value, BrokerError>;
    async fn api_resources(&self) -> Result<Vec<ResourceKind>, BrokerError>;
    /// Apply an RFC 6902 JSON Patch for real, guarded by `resource_version`
    /// (the object must still be at that version, otherwise
    /// [`BrokerError::Conflict`]); returns the object as stored.
    ///
    /// The `permit` must be a real-write permit for exactly this object,
    /// which policy mints only for a human-approved action (DESIGN.md §4
    /// invariant 1); only [`Broker::apply_approved`] calls this. The default
    /// refuses: a backend is read-only unless it says otherwise (a snapshot
    /// cannot be changed).
    async fn apply_patch(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        json_patch: &Value,
        resource_version: &str,
    ) -> Result<Value, BrokerError> {
        let _ = (permit, json_patch, resource_version);
        let what = match namespace {
            Some(ns) => format!("{} {ns}/{name}", kind.grant_name()),
            None => format!("{} {name}", kind.grant_name()),
        };
        Err(BrokerError::Invalid(format!(
            "cannot apply to {what}: this backend ({}) is read-only: a snapshot cannot be changed; apply against a cluster (--kubeconfig, --context)",
            self.describe()
        )))
    }
    /// True when every object and log this backend serves was already run
    /// through [`redact`] (env values, event messages, log text) when it was
    /// loaded, so the broker can skip scanning them per call. Secret values
    /// are checked on every call regardless.
    fn redacted_at_source(&self) -> bool {
        false
    }
}

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
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("source", &self.describe())
            .finish_non_exhaustive()
    }
}

/// What a call is, for policy and audit.
struct Request<'a> {
    verb: &'a str,
    kind: &'a ResourceKind,
    subresource: &'a str,
    namespace: Option<&'a str>,
    name: &'a str,
    dry_run: bool,
    /// Said in the audit line's reasons when not empty: what a review asked.
    note: &'a str,
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
        let req = Request {
            verb,
            kind,
            subresource,
            namespace,
            name,
            dry_run: WRITE_VERBS.contains(&verb),
            note: "",
        };
        self.audit(
            cx,
            &req,
            "deny",
            "outside-grants",
            &[reason.to_owned()],
            None,
            std::time::Instant::now(),
        );
    }

    /// A permit for a call the broker makes on the host's behalf outside the
    /// usual path (`snapshot capture`'s reads): policy decides as for any
    /// call and the decision is audited here, since the caller then talks to
    /// the backend directly. A denial is audited and returned as
    /// [`BrokerError::Denied`].
    pub(crate) async fn permit(
        &self,
        cx: &CallContext,
        verb: &str,
        kind: &ResourceKind,
        subresource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Permit, BrokerError> {
        let req = Request {
            verb,
            kind,
            subresource,
            namespace,
            name,
            dry_run: WRITE_VERBS.contains(&verb),
            note: "",
        };
        let (permit, started) = self.authorize(cx, &req).await?;
        self.done::<()>(cx, &req, &permit, started, &Ok(()));
        Ok(permit)
    }

    /// Discovery: resolving a resource name reads no object, so it needs no
    /// permit.
    pub async fn resolve(&self, resource: &str) -> Result<ResourceKind, BrokerError> {
        self.backend.resolve(resource).await
    }

    /// Asks policy; audits a denial; returns the permit and the start time.
    async fn authorize(
        &self,
        cx: &CallContext,
        req: &Request<'_>,
    ) -> Result<(Permit, std::time::Instant), BrokerError> {
        self.authorize_action(cx, req, None).await
    }

    /// [`Broker::authorize`] for a call that carries an action (the real
    /// write of an approved action): policy sees it as `input.action`.
    async fn authorize_action(
        &self,
        cx: &CallContext,
        req: &Request<'_>,
        action: Option<&guardian_policy::ActionRef>,
    ) -> Result<(Permit, std::time::Instant), BrokerError> {
        let started = std::time::Instant::now();
        let (namespace_labels, namespace_read_error) = if WRITE_VERBS.contains(&req.verb) {
            split_labels(self.namespace_labels(cx, req.namespace).await)
        } else {
            Default::default()
        };
        let input = guardian_policy::PolicyInput {
            caller: guardian_policy::Caller::parse(&cx.caller),
            skill: cx.skill.clone(),
            tool: cx.tool.clone(),
            verb: req.verb.to_owned(),
            resource: guardian_policy::Resource::new(
                &req.kind.group,
                &req.kind.version,
                &req.kind.plural,
                req.subresource,
                &req.kind.kind,
            ),
            namespace: req.namespace.unwrap_or_default().to_owned(),
            name: req.name.to_owned(),
            namespace_labels,
            namespace_read_error,
            dry_run: req.dry_run,
            action: action.cloned(),
            grants: cx.grants.clone(),
        };
        let (decision, permit) = self.policy.decide(input);
        match permit {
            Some(permit) => Ok((permit, started)),
            None => {
                let mut reasons = decision.reasons.clone();
                if !req.note.is_empty() {
                    reasons.push(req.note.to_owned());
                }
                self.audit(cx, req, "deny", &decision.rule, &reasons, None, started);
                let what = match req.namespace {
                    Some(ns) if !req.name.is_empty() => format!("{ns}/{}", req.name),
                    Some(ns) => format!("in namespace {ns}"),
                    None => req.name.to_owned(),
                };
                Err(BrokerError::Denied(format!(
                    "policy denied {} {} {what}: {} (rule {})",
                    req.verb,
                    grant_display(req.kind, req.subresource),
                    decision.reasons.join("; "),
                    decision.rule
                )))
            }
        }
    }

    /// Audits an allowed call once the backend has answered.
    fn done<T>(
        &self,
        cx: &CallContext,
        req: &Request<'_>,
        permit: &Permit,
        started: std::time::Instant,
        outcome: &Result<T, BrokerError>,
    ) {
        let error = outcome.as_ref().err().map(BrokerError::kind_str);
        let mut reasons = vec![format!("allowed by {}", permit.rule())];
        if !req.note.is_empty() {
            reasons.push(req.note.to_owned());
        }
        let req = Request {
            dry_run: permit.dry_run(),
            ..*req
        };
        self.audit(cx, &req, "allow", permit.rule(), &reasons, error, started);
    }

    #[allow(clippy::too_many_arguments)]
    fn audit(
        &self,
        cx: &CallContext,
        req: &Request<'_>,
        decision: &'static str,
        rule: &str,
        reasons: &[String],
        error: Option<&'static str>,
        started: std::time::Instant,
    ) {
        let k = req.kind;
        // `/version` is not an API resource: its path is its name.
        let mut resource = if k.version.is_empty() {
            format!("/{}", k.plural)
        } else {
            format!("{}/{}/{}", k.group, k.version, k.plural)
        };
        if !req.subresource.is_empty() {
            resource.push('/');
            resource.push_str(req.subresource);
        }
        self.audit.record(&AuditRecord {
            time: audit::now_rfc3339(),
            caller: cx.caller.clone(),
            skill: &cx.skill,
            tool: &cx.tool,
            verb: req.verb,
            resource,
            namespace: req.namespace.unwrap_or_default(),
            name: req.name,
            dry_run: req.dry_run,
            decision,
            rule,
            reasons,
            error,
            latency_us: started.elapsed().as_micros() as u64,
        });
    }

    /// The labels of the namespace a write of `cx` lands in, read as
    /// Guardian itself (the protected-namespace rule needs them) once per
    /// call. A namespace the backend does not have (a snapshot without
    /// Namespace objects; on a live server the write then fails anyway) has
    /// no labels. A namespace Guardian may not read, or could not reach, is
    /// an `Err` saying why: policy treats it as protected (fail closed).
    async fn namespace_labels(&self, cx: &CallContext, namespace: Option<&str>) -> NamespaceLabels {
        let Some(ns) = namespace.filter(|ns| !ns.is_empty()) else {
            return Ok(Default::default());
        };
        if let Some(known) = cx.scope.get(ns) {
            return known;
        }
        let labels = self.read_namespace_labels(ns).await;
        cx.scope.put(ns, labels.clone());
        labels
    }

    async fn read_namespace_labels(&self, ns: &str) -> NamespaceLabels {
        let kind = self
            .backend
            .resolve("namespaces")
            .await
            .map_err(|e| format!("cannot resolve the namespaces resource: {e}"))?;
        let cx = CallContext::guardian("namespace-labels", &["namespaces"]);
        let req = Request {
            verb: "get",
            kind: &kind,
            subresource: "",
            namespace: None,
            name: ns,
            dry_run: false,
            note: "",
        };
        let (permit, started) = Box::pin(self.authorize(&cx, &req))
            .await
            .map_err(|e| e.to_string())?;
        let out = self.backend.get(&permit, &kind, None, ns).await;
        self.done(&cx, &req, &permit, started, &out);
        match out {
            Ok(object) => Ok(object["metadata"]["labels"]
                .as_object()
                .map(|labels| {
                    labels
                        .iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                        .collect()
                })
                .unwrap_or_default()),
            Err(BrokerError::NotFound(_)) => Ok(Default::default()),
            Err(e @ BrokerError::Denied(_)) => Err(format!(
                "Guardian may not get namespace {ns:?}: {e}; grant `get` on namespaces to Guardian's identity"
            )),
            Err(e) => Err(format!("reading namespace {ns:?} failed: {e}")),
        }
    }

    pub async fn get(
        &self,
        cx: &CallContext,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, BrokerError> {
        let req = Request {
            verb: "get",
            kind,
            subresource: "",
            namespace,
            name,
            dry_run: false,
            note: "",
        };
        let (permit, started) = self.authorize(cx, &req).await?;
        let out = self.backend.get(&permit, kind, namespace, name).await;
        self.done(cx, &req, &permit, started, &out);
        let mut object = out?;
        redact::object(&mut object);
        if !self.backend.redacted_at_source() {
            redact::env_values(&mut object);
        }
        Ok(object)
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
        let req = Request {
            verb: "list",
            kind,
            subresource: "",
            namespace: query.namespace.as_deref(),
            name: "",
            dry_run: false,
            note: "",
        };
        let (permit, started) = self.authorize(cx, &req).await?;
        let out = self.backend.list_shared(&permit, kind, query).await;
        self.done(cx, &req, &permit, started, &out);
        let mut list = out?;
        let scan = !self.backend.redacted_at_source();
        let omit = omit::applies_to(&list.kind);
        for item in &mut list.items {
            if item.needs_redaction(&list.kind) {
                redact::list_item(item.make_mut(), &list.kind);
            }
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
        Ok(list)
    }

    pub async fn logs(
        &self,
        cx: &CallContext,
        namespace: &str,
        pod: &str,
        query: &LogQuery,
    ) -> Result<String, BrokerError> {
        let kind = self.backend.resolve("pods").await?;
        let req = Request {
            verb: "logs",
            kind: &kind,
            subresource: "log",
            namespace: Some(namespace),
            name: pod,
            dry_run: false,
            note: "",
        };
        let (permit, started) = self.authorize(cx, &req).await?;
        let out = self.backend.logs(&permit, namespace, pod, query).await;
        self.done(cx, &req, &permit, started, &out);
        let text = out?;
        if self.backend.redacted_at_source() {
            return Ok(text);
        }
        Ok(redact::text(&text).into_owned())
    }

    pub async fn events(&self, cx: &CallContext, object: &ObjectRef) -> Result<Value, BrokerError> {
        let kind = self.backend.resolve("events").await?;
        let req = Request {
            verb: "events",
            kind: &kind,
            subresource: "",
            namespace: object.namespace.as_deref(),
            name: &object.name,
            dry_run: false,
            note: "",
        };
        let (permit, started) = self.authorize(cx, &req).await?;
        let out = self.backend.events(&permit, object).await;
        self.done(cx, &req, &permit, started, &out);
        let mut events = out?;
        if !self.backend.redacted_at_source() {
            redact::event_messages(&mut events);
        }
        Ok(events)
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
        let req = Request {
            verb: "patch",
            kind,
            subresource: "",
            namespace,
            name,
            dry_run: true,
            note: "",
        };
        let (permit, started) = self.authorize(cx, &req).await?;
        let out = self
            .backend
            .dry_run_patch(&permit, kind, namespace, name, json_patch)
            .await;
        self.done(cx, &req, &permit, started, &out);
        let mut object = out?;
        redact::object(&mut object);
        redact::env_values(&mut object);
        Ok(object)
    }

    /// The real write of a stored, human-approved action: a JSON Patch
    /// applied with `resource_version` as precondition.
    ///
    /// Policy decides it again now (a `patch`, `dry_run: false`, with
    /// `input.action` set), whatever it said when the action was proposed;
    /// the decision is audited like every other. Only a permit for a real
    /// write reaches the backend: a decision that allows only a dry run (no
    /// human approval) is refused and audited as a denial. A read-only
    /// backend (a snapshot) refuses the write. The patch is sent exactly as
    /// given, after a `test` of the resourceVersion, so a changed object is a
    /// [`BrokerError::Conflict`] and nothing is written.
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
        let req = Request {
            verb: "patch",
            kind,
            subresource: "",
            namespace,
            name,
            dry_run: false,
            note: "",
        };
        let (permit, started) = self.authorize_action(cx, &req, Some(action)).await?;
        if permit.dry_run() {
            let reason = format!(
                "action {}: policy allows only a dry run (rule {}); a real write needs an action approved by a person on a human channel",
                action.id,
                permit.rule()
            );
            self.audit(
                cx,
                &req,
                "deny",
                permit.rule(),
                std::slice::from_ref(&reason),
                None,
                started,
            );
            return Err(BrokerError::Denied(format!(
                "policy denied the apply of {}: {reason}",
                grant_display(kind, "")
            )));
        }
        let out = self
            .backend
            .apply_patch(&permit, kind, namespace, name, json_patch, resource_version)
            .await;
        let error = out.as_ref().err().map(BrokerError::kind_str);
        let reasons = [
            format!("allowed by {}", permit.rule()),
            format!("action {} approved by {}", action.id, action.approver),
        ];
        self.audit(cx, &req, "allow", permit.rule(), &reasons, error, started);
        let mut object = out?;
        redact::object(&mut object);
        redact::env_values(&mut object);
        Ok(object)
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
        let req = Request {
            verb: "patch",
            kind,
            subresource: "",
            namespace,
            name,
            dry_run: false,
            note: "",
        };
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
        let (namespace_labels, namespace_read_error) =
            split_labels(self.namespace_labels(cx, namespace).await);
        let input = guardian_policy::PolicyInput {
            caller: guardian_policy::Caller::parse(&cx.caller),
            skill: cx.skill.clone(),
            tool: cx.tool.clone(),
            verb: "patch".into(),
            resource: guardian_policy::Resource::new(
                &kind.group,
                &kind.version,
                &kind.plural,
                "",
                &kind.kind,
            ),
            namespace: namespace.unwrap_or_default().to_owned(),
            name: name.to_owned(),
            namespace_labels,
            namespace_read_error,
            dry_run: false,
            action: Some(action),
            grants: cx.grants.clone(),
        };
        let (decision, permit) = self.policy.decide(input);
        // A permit that allows only a dry run would not let the apply write.
        let allowed = permit.is_some_and(|p| !p.dry_run());
        let mut reasons = vec!["preview of an apply".to_owned()];
        reasons.extend(decision.reasons.iter().cloned());
        self.audit(
            cx,
            &req,
            if allowed { "allow" } else { "deny" },
            &decision.rule,
            &reasons,
            None,
            started,
        );
        (allowed, decision.rule, decision.reasons)
    }

    /// Discovery (no object data; needs no permit).
    pub async fn api_resources(&self, _cx: &CallContext) -> Result<Vec<ResourceKind>, BrokerError> {
        self.backend.api_resources().await
    }
}

/// The policy input's `namespace_labels` and `namespace_read_error`.
fn split_labels(labels: NamespaceLabels) -> (std::collections::BTreeMap<String, String>, String) {
    match labels {
        Ok(labels) => (labels, String::new()),
        Err(why) => (Default::default(), why),
    }
}

const WRITE_VERBS: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

fn grant_display(kind: &ResourceKind, subresource: &str) -> String {
    guardian_policy::Resource::new(
        &kind.group,
        &kind.version,
        &kind.plural,
        subresource,
        &kind.kind,
    )
    .grant
}
