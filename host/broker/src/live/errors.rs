//! API-server answers turned into [`BrokerError`]s a person can act on.
//!
//! The API server's own messages are kept (they are precise), and each class
//! gets what to do next. A 403 is the one that matters most: it is rewritten
//! into the verb and resource refused, the scope, the user, and the RBAC rule
//! that would allow it — including the classic `pods` vs `pods/log` trap.

use kube::core::Status;

use super::rbac::{Permission, Rule};
use crate::BrokerError;

/// What was being asked when an error came back: fills in what the server's
/// message leaves out.
#[derive(Clone, Debug, Default)]
pub(crate) struct Op {
    /// The Kubernetes verb: get, list, patch, create.
    pub verb: &'static str,
    pub group: String,
    /// Plural resource name.
    pub resource: String,
    pub subresource: Option<&'static str>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// `deployments.apps "web" in namespace "staging"`, for messages.
    pub what: String,
}

/// Where the request went, for messages.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// `https://127.0.0.1:6443`
    pub server: String,
    /// `context kind-dev`
    pub label: String,
}

/// Map a client error (API status or transport failure).
pub(crate) fn from_kube(err: kube::Error, op: &Op, target: &Target) -> BrokerError {
    match err {
        kube::Error::Api(status) => from_status(&status, op, target),
        other => transport(&other, target),
    }
}

/// The whole error chain on one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

fn is_timeout(err: &kube::Error) -> bool {
    let mut current: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        if e.to_string().to_ascii_lowercase().contains("timed out") {
            return true;
        }
        current = e.source();
    }
    false
}

/// A request that never got an HTTP answer.
pub(crate) fn transport(err: &kube::Error, target: &Target) -> BrokerError {
    let detail = chain(err);
    if is_timeout(err) {
        return BrokerError::Timeout(format!(
            "the API server at {} ({}) did not answer in time: {detail}; check that the cluster \
             is up and reachable from here, then retry",
            target.server, target.label
        ));
    }
    let lower = detail.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        return BrokerError::Unavailable(format!(
            "TLS with the API server at {} ({}) failed: {detail}; check the kubeconfig's \
             certificate-authority / certificate-authority-data (the CA that signed the \
             server's certificate) and that the server URL's host is in the certificate",
            target.server, target.label
        ));
    }
    if let kube::Error::Auth(_) = err {
        return BrokerError::Denied(format!(
            "cannot get credentials for the API server at {} ({}): {detail}; fix the user entry \
             of the kubeconfig (an exec plugin or token file that fails) or log in again",
            target.server, target.label
        ));
    }
    BrokerError::Unavailable(format!(
        "cannot reach the API server at {} ({}): {detail}; check that the cluster is up and \
         reachable from here (VPN, port-forward, firewall) and that the kubeconfig's server URL \
         is right",
        target.server, target.label
    ))
}

/// The causes of an Invalid status, as `field: message` pairs.
fn causes(status: &Status) -> String {
    let Some(details) = &status.details else {
        return String::new();
    };
    details
        .causes
        .iter()
        .map(|c| {
            if c.field.is_empty() {
                c.message.clone()
            } else {
                format!("{}: {}", c.field, c.message)
            }
        })
        .filter(|c| !c.is_empty() && !status.message.contains(c.as_str()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Map an API status (an HTTP error answer).
pub(crate) fn from_status(status: &Status, op: &Op, target: &Target) -> BrokerError {
    let message = status.message.trim();
    // kube fills in this reason when the body was not a Status (a proxy's
    // HTML page, `404 page not found` for a path nothing serves).
    let raw_body = status.reason == "Failed to parse error data";
    match status.code {
        401 => BrokerError::Denied(format!(
            "the API server at {} refused the credentials of {} (401 Unauthorized{}): the token \
             or client certificate is missing, expired or not trusted; log in again to refresh \
             the kubeconfig, or pick another context with --context",
            target.server,
            target.label,
            if message.is_empty() || raw_body {
                String::new()
            } else {
                format!(": {message}")
            }
        )),
        403 => BrokerError::Denied(forbidden_message(message, op)),
        404 if raw_body || op.name.is_none() => BrokerError::NotFound(format!(
            "the API server at {} does not serve {} ({}){}; the resource type may not exist on \
             this cluster (a CRD not installed?) — `api-resources` lists what it serves",
            target.server,
            op_resource_name(op),
            if raw_body {
                message.to_string()
            } else {
                "404".to_string()
            },
            if raw_body || message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            },
        )),
        404 => BrokerError::NotFound(not_found_message(op, message)),
        409 => BrokerError::Conflict(format!(
            "{}: {message}; re-read {} and re-propose the change",
            op_label(op),
            op.what
        )),
        422 if is_failed_test(status, op) => BrokerError::Conflict(format!(
            "{}: a JSON Patch test operation failed, or a path it changes is gone ({}); {} is \
             not what the patch was written against — re-read it and re-propose the change",
            op_label(op),
            with_causes(message, status),
            op.what
        )),
        400 if message.contains("previous terminated container")
            && message.contains("not found") =>
        {
            BrokerError::NotFound(message.to_string())
        }
        400 | 422 => BrokerError::Invalid(format!(
            "{}: the API server rejected the request: {}",
            op_label(op),
            with_causes(message, status)
        )),
        405 => BrokerError::Denied(format!(
            "{}: the API server at {} does not allow {} here: {message}",
            op_label(op),
            target.server,
            op.verb
        )),
        410 => BrokerError::Unavailable(format!(
            "{}: {message} (410 Gone: the list changed while it was read page by page); retry",
            op_label(op)
        )),
        413 => BrokerError::TooLarge(format!(
            "{}: {message}; narrow the request with a namespace, selector, limit or tail",
            op_label(op)
        )),
        504 => BrokerError::Timeout(format!(
            "{}: the API server at {} timed out: {message}; retry, or narrow the request",
            op_label(op),
            target.server
        )),
        429 | 500..=599 => BrokerError::Unavailable(format!(
            "{}: the API server at {} answered {} {}: {message}; retry later",
            op_label(op),
            target.server,
            status.code,
            status.reason
        )),
        code => BrokerError::Internal(format!(
            "{}: unexpected answer {code} {} from the API server at {}: {message}",
            op_label(op),
            status.reason,
            target.server
        )),
    }
}

fn with_causes(message: &str, status: &Status) -> String {
    let causes = causes(status);
    if causes.is_empty() {
        message.to_string()
    } else {
        format!("{message} ({causes})")
    }
}

/// Whether a 422 is a JSON Patch `test` operation that did not hold. Some
/// servers say so ("test failed", "testing value"); a real 1.36 API server
/// answers only its generic "the server rejected our request due to an
/// error in our request", with no causes, for a JSON Patch operation that
/// did not apply (a `test` that no longer holds, or a `replace`/`remove`
/// of a path that is gone): an object that is not what the patch was
/// written against, either way.
fn is_failed_test(status: &Status, op: &Op) -> bool {
    let mut text = status.message.to_ascii_lowercase();
    text.push(' ');
    text.push_str(&causes(status).to_ascii_lowercase());
    text.contains("test failed")
        || text.contains("testing value")
        || (op.verb == "patch"
            && causes(status).is_empty()
            && status
                .message
                .contains("the server rejected our request due to an error in our request"))
}

/// `get pods/log` — what was asked, for message prefixes.
fn op_label(op: &Op) -> String {
    format!("{} {}", op.verb, op.what)
}

/// `pods`, `deployments.apps`, `pods/log`.
fn op_resource_name(op: &Op) -> String {
    let base = if op.group.is_empty() {
        op.resource.clone()
    } else {
        format!("{}.{}", op.resource, op.group)
    };
    match op.subresource {
        Some(sub) => format!("{base}/{sub}"),
        None => base,
    }
}

/// The snapshot backend's wording: `pods "x" not found in namespace "staging"`.
fn not_found_message(op: &Op, server_message: &str) -> String {
    let resource = if op.group.is_empty() {
        op.resource.clone()
    } else {
        format!("{}.{}", op.resource, op.group)
    };
    let name = op.name.as_deref().unwrap_or_default();
    match &op.namespace {
        Some(ns) => format!("{resource} \"{name}\" not found in namespace \"{ns}\""),
        None if !server_message.is_empty() => server_message.to_string(),
        None => format!("{resource} \"{name}\" not found"),
    }
}

/// What the API server's RBAC message says was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub user: String,
    pub verb: String,
    /// `pods/log` — as the server wrote it.
    pub resource: String,
    pub group: String,
    /// `None` at the cluster scope.
    pub namespace: Option<String>,
    /// What the authorizer added after the scope (`RBAC: clusterrole … not found`).
    pub extra: Option<String>,
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<(&'a str, &'a str)> {
    let from = text.find(start)? + start.len();
    let rest = &text[from..];
    let to = rest.find(end)?;
    Some((&rest[..to], &rest[to + end.len()..]))
}

/// Parse the authorizer's wording, e.g.
/// `pods "web" is forbidden: User "alice" cannot get resource "pods/log" in
/// API group "" in the namespace "staging"`.
pub(crate) fn parse_refusal(message: &str) -> Option<Refusal> {
    let (user, rest) = between(message, "User \"", "\" cannot ")?;
    let (verb, rest) = rest.split_once(" resource \"")?;
    let (resource, rest) = rest.split_once("\" in API group \"")?;
    let (group, rest) = rest.split_once('"')?;
    let (namespace, rest) = if let Some(rest) = rest.strip_prefix(" in the namespace \"") {
        let (ns, rest) = rest.split_once('"')?;
        (Some(ns.to_string()), rest)
    } else if let Some(rest) = rest.strip_prefix(" at the cluster scope") {
        (None, rest)
    } else {
        return None;
    };
    let extra = rest.trim_start_matches(':').trim().to_string();
    Some(Refusal {
        user: user.to_string(),
        verb: verb.trim().to_string(),
        resource: resource.to_string(),
        group: group.to_string(),
        namespace,
        extra: (!extra.is_empty()).then_some(extra),
    })
}

/// The message of a 403: the refusal in RBAC terms and the rule that would
/// allow it, or — when the refusal is not RBAC's (admission, quota) — the
/// server's words with what was asked.
pub(crate) fn forbidden_message(server_message: &str, op: &Op) -> String {
    let Some(refusal) = parse_refusal(server_message) else {
        return format!(
            "the API server forbids {} {}: {server_message}",
            op.verb, op.what
        );
    };
    let (resource, subresource) = match refusal.resource.split_once('/') {
        Some((r, s)) => (r.to_string(), Some(s.to_string())),
        None => (refusal.resource.clone(), None),
    };
    let permission = Permission {
        group: refusal.group.clone(),
        resource: resource.clone(),
        subresource: subresource.clone(),
        verb: refusal.verb.clone(),
    };
    let rule = Rule {
        api_groups: vec![refusal.group.clone()],
        resources: vec![permission.rule_resource()],
        verbs: vec![refusal.verb.clone()],
    };
    let (scope, role) = match &refusal.namespace {
        Some(ns) => (format!("in namespace {ns}"), "Role"),
        None => (
            "cluster-wide".to_string(),
            "ClusterRole (bound with a ClusterRoleBinding)",
        ),
    };
    let mut text = format!(
        "RBAC forbids {} on {} {scope} for user \"{}\"; a {role} rule that allows it: {}",
        refusal.verb,
        permission.grant_name(),
        refusal.user,
        rule.inline()
    );
    if let Some(sub) = &subresource {
        text.push_str(&format!(
            " — {resource}/{sub} is a subresource: a rule for \"{resource}\" alone does not \
             cover it"
        ));
    }
    if let Some(extra) = &refusal.extra {
        text.push_str(&format!(" (the authorizer added: {extra})"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(body: &str) -> Status {
        serde_json::from_str(body).unwrap()
    }

    fn target() -> Target {
        Target {
            server: "https://10.0.0.1:6443".into(),
            label: "context prod".into(),
        }
    }

    fn logs_op() -> Op {
        Op {
            verb: "get",
            resource: "pods".into(),
            subresource: Some("log"),
            namespace: Some("staging".into()),
            name: Some("billing-64aaedb81a-9acc7".into()),
            what: "pods/log of pod staging/billing-64aaedb81a-9acc7".into(),
            ..Op::default()
        }
    }

    /// A 403 body exactly as kube-apiserver 1.30 sends it for
    /// `kubectl logs` by a service account bound only to `pods`.
    const POD_LOG_403: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"billing-64aaedb81a-9acc7\" is forbidden: User \"system:serviceaccount:guardian:guardian\" cannot get resource \"pods/log\" in API group \"\" in the namespace \"staging\"","reason":"Forbidden","details":{"name":"billing-64aaedb81a-9acc7","kind":"pods"},"code":403}"#;

    #[test]
    fn forbidden_pods_log_names_the_subresource_rule() {
        let err = from_status(&status(POD_LOG_403), &logs_op(), &target());
        assert_eq!(err.kind_str(), "denied");
        assert_eq!(
            err.message(),
            "RBAC forbids get on pods/log in namespace staging for user \
             \"system:serviceaccount:guardian:guardian\"; a Role rule that allows it: \
             {apiGroups: [\"\"], resources: [\"pods/log\"], verbs: [\"get\"]} — pods/log is a \
             subresource: a rule for \"pods\" alone does not cover it"
        );
    }

    #[test]
    fn forbidden_cluster_scope_and_groups() {
        let body = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps is forbidden: User \"alice\" cannot list resource \"deployments\" in API group \"apps\" at the cluster scope: RBAC: clusterrole.rbac.authorization.k8s.io \"viewer\" not found","reason":"Forbidden","details":{"group":"apps","kind":"deployments"},"code":403}"#;
        let op = Op {
            verb: "list",
            group: "apps".into(),
            resource: "deployments".into(),
            what: "deployments.apps in all namespaces".into(),
            ..Op::default()
        };
        let err = from_status(&status(body), &op, &target());
        assert_eq!(
            err.message(),
            "RBAC forbids list on deployments.apps cluster-wide for user \"alice\"; a \
             ClusterRole (bound with a ClusterRoleBinding) rule that allows it: {apiGroups: \
             [\"apps\"], resources: [\"deployments\"], verbs: [\"list\"]} (the authorizer \
             added: RBAC: clusterrole.rbac.authorization.k8s.io \"viewer\" not found)"
        );
    }

    #[test]
    fn forbidden_impersonation_is_parsed_too() {
        let message = "users \"bob\" is forbidden: User \"alice\" cannot impersonate resource \
                       \"users\" in API group \"\" at the cluster scope";
        let r = parse_refusal(message).unwrap();
        assert_eq!(r.verb, "impersonate");
        assert_eq!(r.resource, "users");
        assert_eq!(r.namespace, None);
        assert!(forbidden_message(message, &Op::default()).contains("verbs: [\"impersonate\"]"));
    }

    #[test]
    fn forbidden_by_admission_keeps_the_servers_words() {
        let body = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"x\" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=9, limited: cpu=10","reason":"Forbidden","details":{"name":"x","kind":"pods"},"code":403}"#;
        let op = Op {
            verb: "patch",
            resource: "pods".into(),
            what: "pods \"x\" in namespace \"a\"".into(),
            ..Op::default()
        };
        let err = from_status(&status(body), &op, &target());
        assert_eq!(err.kind_str(), "denied");
        assert!(
            err.message()
                .starts_with("the API server forbids patch pods \"x\" in namespace \"a\": "),
            "{err}"
        );
        assert!(err.message().contains("exceeded quota"), "{err}");
    }

    #[test]
    fn other_statuses_map_to_their_class() {
        let get = Op {
            verb: "get",
            resource: "pods".into(),
            namespace: Some("staging".into()),
            name: Some("nope".into()),
            what: "pods \"nope\" in namespace \"staging\"".into(),
            ..Op::default()
        };
        let not_found = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"nope\" not found","reason":"NotFound","details":{"name":"nope","kind":"pods"},"code":404}"#;
        let err = from_status(&status(not_found), &get, &target());
        assert_eq!(
            err,
            BrokerError::NotFound("pods \"nope\" not found in namespace \"staging\"".into())
        );

        let unauthorized = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;
        let err = from_status(&status(unauthorized), &get, &target());
        assert_eq!(err.kind_str(), "denied");
        assert!(
            err.message()
                .contains("refused the credentials of context prod"),
            "{err}"
        );
        assert!(err.message().contains("https://10.0.0.1:6443"), "{err}");

        let conflict = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"web","group":"apps","kind":"deployments"},"code":409}"#;
        assert_eq!(
            from_status(&status(conflict), &get, &target()).kind_str(),
            "conflict"
        );

        let test_failed = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server rejected our request due to an error in our request","reason":"Invalid","details":{"causes":[{"message":"testing value /spec/replicas failed: test failed"}]},"code":422}"#;
        let err = from_status(&status(test_failed), &get, &target());
        assert_eq!(err.kind_str(), "conflict");
        assert!(err.message().contains("/spec/replicas"), "{err}");

        let invalid = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0","reason":"Invalid","details":{"name":"web","group":"apps","kind":"Deployment","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: -1: must be greater than or equal to 0","field":"spec.replicas"}]},"code":422}"#;
        let err = from_status(&status(invalid), &get, &target());
        assert_eq!(err.kind_str(), "invalid");
        assert!(
            err.message().contains("must be greater than or equal to 0"),
            "{err}"
        );

        let previous = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"previous terminated container \"web\" in pod \"web-1\" not found","reason":"BadRequest","code":400}"#;
        assert_eq!(
            from_status(&status(previous), &get, &target()).kind_str(),
            "not-found"
        );

        // A path nothing serves: kube makes a Status from the plain body.
        let unserved =
            Status::failure("404 page not found", "Failed to parse error data").with_code(404);
        let list = Op {
            verb: "list",
            group: "argoproj.io".into(),
            resource: "applications".into(),
            what: "applications.argoproj.io".into(),
            ..Op::default()
        };
        let err = from_status(&unserved, &list, &target());
        assert_eq!(err.kind_str(), "not-found");
        assert!(
            err.message()
                .contains("does not serve applications.argoproj.io"),
            "{err}"
        );

        for (code, kind) in [(503, "unavailable"), (504, "timeout"), (413, "too-large")] {
            let s = Status::failure("x", "y").with_code(code);
            assert_eq!(from_status(&s, &get, &target()).kind_str(), kind, "{code}");
        }
    }
}
