//! The gate every call passes: what the call is ([`Request`]), what policy
//! says about it, the audit line it leaves, and — in [`Broker::call`] — the
//! one shape of every broker operation: decide, ask the backend with the
//! permit, audit the outcome, mask what leaves.

use std::collections::BTreeMap;
use std::time::Instant;

use guardian_policy::{ActionRef, Caller, PolicyInput, Resource};

use crate::audit::{self, AuditRecord};
use crate::context::NamespaceLabels;
use crate::{Broker, BrokerError, CallContext, Permit, ResourceKind};

/// Verbs that change something; policy reads the namespace's labels for them.
pub(crate) const WRITE_VERBS: &[&str] =
    &["create", "update", "patch", "delete", "deletecollection"];

/// What a call is, for policy and audit.
#[derive(Clone, Copy)]
pub(crate) struct Request<'a> {
    pub(crate) verb: &'a str,
    pub(crate) kind: &'a ResourceKind,
    pub(crate) subresource: &'a str,
    pub(crate) namespace: Option<&'a str>,
    /// Empty for lists.
    pub(crate) name: &'a str,
    pub(crate) dry_run: bool,
    /// The approved action a real write carries (policy sees it as
    /// `input.action`); a call that carries one must be a real write.
    pub(crate) action: Option<&'a ActionRef>,
    /// Said in the audit line's reasons when not empty: what a review
    /// asked, who approved a write.
    pub(crate) note: &'a str,
}

impl<'a> Request<'a> {
    /// `verb` on `kind` (`name` empty for a list), not a dry run.
    pub(crate) fn new(
        verb: &'a str,
        kind: &'a ResourceKind,
        namespace: Option<&'a str>,
        name: &'a str,
    ) -> Self {
        Request {
            verb,
            kind,
            subresource: "",
            namespace,
            name,
            dry_run: false,
            action: None,
            note: "",
        }
    }

    /// On a subresource (`log` of pods).
    pub(crate) fn on(self, subresource: &'a str) -> Self {
        Request {
            subresource,
            ..self
        }
    }

    /// Asked as a dry run.
    pub(crate) fn dry_run(self) -> Self {
        Request {
            dry_run: true,
            ..self
        }
    }

    /// Carrying an approved action: a real write.
    pub(crate) fn with_action(self, action: &'a ActionRef) -> Self {
        Request {
            action: Some(action),
            ..self
        }
    }

    /// With a note for the audit line.
    pub(crate) fn noting(self, note: &'a str) -> Self {
        Request { note, ..self }
    }

    /// `pods/log`, `deployments.apps`: the resource as grants name it.
    fn grant(&self) -> String {
        resource_of(self.kind, self.subresource).grant
    }
}

fn resource_of(kind: &ResourceKind, subresource: &str) -> Resource {
    Resource::new(
        &kind.group,
        &kind.version,
        &kind.plural,
        subresource,
        &kind.kind,
    )
}

impl Broker {
    /// The shape of every broker operation: policy decides `req` for `cx`
    /// (a denial is audited and returned), `call` asks the backend with the
    /// permit, the outcome is audited, and `mask` redacts what leaves. A
    /// request that carries an approved action must get a real write: a
    /// decision that allows only a dry run is refused (and audited as a
    /// denial) before the backend is asked.
    pub(crate) async fn call<T>(
        &self,
        cx: &CallContext,
        req: &Request<'_>,
        call: impl AsyncFnOnce(&Permit) -> Result<T, BrokerError>,
        mask: impl FnOnce(&mut T),
    ) -> Result<T, BrokerError> {
        let (permit, started) = self.authorize(cx, req).await?;
        if let Some(action) = req.action
            && permit.dry_run()
        {
            let reason = format!(
                "action {}: policy allows only a dry run (rule {}); a real write needs an action \
                 approved by a person on a human channel",
                action.id,
                permit.rule()
            );
            let reasons = std::slice::from_ref(&reason);
            self.audit(cx, req, "deny", permit.rule(), reasons, None, started);
            return Err(BrokerError::Denied(format!(
                "policy denied the apply of {}: {reason}",
                req.grant()
            )));
        }
        let mut out = call(&permit).await;
        self.done(cx, req, &permit, started, &out);
        if let Ok(value) = &mut out {
            mask(value);
        }
        out
    }

    /// The policy input of `req` for `cx`, with the namespace's labels for
    /// writes.
    pub(crate) async fn input(&self, cx: &CallContext, req: &Request<'_>) -> PolicyInput {
        let (namespace_labels, namespace_read_error) = if WRITE_VERBS.contains(&req.verb) {
            match self.namespace_labels(cx, req.namespace).await {
                Ok(labels) => (labels, String::new()),
                Err(why) => (BTreeMap::new(), why),
            }
        } else {
            Default::default()
        };
        PolicyInput {
            caller: Caller::parse(&cx.caller),
            skill: cx.skill.clone(),
            tool: cx.tool.clone(),
            verb: req.verb.to_owned(),
            resource: resource_of(req.kind, req.subresource),
            namespace: req.namespace.unwrap_or_default().to_owned(),
            name: req.name.to_owned(),
            namespace_labels,
            namespace_read_error,
            dry_run: req.dry_run,
            action: req.action.cloned(),
            grants: cx.grants.clone(),
            node: self.node_scope().map(str::to_owned),
        }
    }

    /// Asks policy; audits a denial; returns the permit and the start time.
    pub(crate) async fn authorize(
        &self,
        cx: &CallContext,
        req: &Request<'_>,
    ) -> Result<(Permit, Instant), BrokerError> {
        let started = Instant::now();
        let (decision, permit) = self.policy.decide(self.input(cx, req).await);
        if let Some(permit) = permit {
            return Ok((permit, started));
        }
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
            req.grant(),
            decision.reasons.join("; "),
            decision.rule
        )))
    }

    /// Audits an allowed call once the backend has answered.
    fn done<T>(
        &self,
        cx: &CallContext,
        req: &Request<'_>,
        permit: &Permit,
        started: Instant,
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

    /// Writes one audit line.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn audit(
        &self,
        cx: &CallContext,
        req: &Request<'_>,
        decision: &'static str,
        rule: &str,
        reasons: &[String],
        error: Option<&'static str>,
        started: Instant,
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
            // Object names are short; a PromQL query may not be.
            name: truncate(req.name, MAX_AUDITED_NAME),
            dry_run: req.dry_run,
            decision,
            rule,
            reasons,
            error,
            node: self.node_scope(),
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
        let req = Request::new("get", &kind, None, ns);
        let mut asked = false;
        // Boxed: deciding a write reads labels, which is itself decided.
        let read = Box::pin(self.call(
            &cx,
            &req,
            async |permit| {
                asked = true;
                self.backend.get(permit, &kind, None, ns).await
            },
            |_| {},
        ));
        match read.await {
            // Policy refused the read itself: its own words.
            Err(e) if !asked => Err(e.to_string()),
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
                "Guardian may not get namespace {ns:?}: {e}; grant `get` on namespaces to \
                 Guardian's identity"
            )),
            Err(e) => Err(format!("reading namespace {ns:?} failed: {e}")),
        }
    }
}

/// How much of a call's name (a PromQL query's text) an audit line keeps.
pub(crate) const MAX_AUDITED_NAME: usize = 1024;

/// Cuts `s` to at most `max` bytes on a char boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
