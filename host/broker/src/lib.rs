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
mod host;
pub mod live;

use std::path::Path;
use std::sync::Arc;

use guardian_redact::omit;
use serde_json::Value;

pub use audit::{ActionAuditRecord, Audit, AuditRecord};
pub use context::{CallContext, CallScope};
pub use guardian_kube_types::{
    BrokerError, ListQuery, LogQuery, ObjectRef, ResourceKind, ResourceTable, SharedItem,
    SharedList, Stored, resources, selectors,
};
pub use guardian_policy::{GrantSets, Permit, Policy};
pub use guardian_redact as redact;
pub use guardian_snapshot::{LoadProblem, Snapshot};
pub use host::AccessReview;
pub use live::{ClusterOptions, ServerVersion, TokenUser};

use backend::{Backend, SnapshotBackend};
use context::NamespaceLabels;
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
