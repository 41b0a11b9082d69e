//! How a request is built and checked before it goes out: the permit is
//! for this very call, names are names, paths are encoded; and what a
//! request is called in messages.

use guardian_policy::Permit;

use super::errors::Op;
use crate::{BrokerError, ResourceKind, ResourceTable};

pub(super) fn build_error(e: &http::Error, op: &Op) -> BrokerError {
    BrokerError::Invalid(format!(
        "{} {}: cannot build the request: {e}",
        op.verb, op.what
    ))
}

/// Refuses a permit minted for another verb or resource: a permit to list
/// Secrets does not read pods' logs.
pub(super) fn check_permit(
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

pub(super) fn pod_kind() -> ResourceKind {
    ResourceTable::builtin()
        .by_group_kind("", "Pod")
        .cloned()
        .expect("the built-in table has Pod")
}

/// The group/resource part of an [`Op`].
pub(super) fn resource_op(kind: &ResourceKind) -> Op {
    Op {
        group: kind.group.clone(),
        resource: kind.plural.clone(),
        ..Op::default()
    }
}

/// `deployments.apps "web" in namespace "staging"` / `nodes "n1"`.
pub(super) fn object_label(kind: &ResourceKind, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if kind.namespaced => {
            format!("{} \"{name}\" in namespace \"{ns}\"", kind.grant_name())
        }
        _ => format!("{} \"{name}\"", kind.grant_name()),
    }
}

/// The namespace a call on one object uses: required for namespaced kinds,
/// ignored for cluster-scoped ones (as kubectl does).
pub(super) fn scope<'a>(
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

pub(super) fn check_plain_name(what: &str, name: &str) -> Result<(), BrokerError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(BrokerError::Invalid(format!(
            "\"{name}\" is not a valid {what} name: names are non-empty and contain no '/'"
        )));
    }
    Ok(())
}

pub(super) fn check_name(kind: &ResourceKind, name: &str) -> Result<(), BrokerError> {
    check_plain_name(&kind.kind, name)
}

/// Percent-encode a path segment (names may hold `:` — RBAC objects — and
/// must never smuggle a `/`, `?` or `#`).
pub(super) fn encode_segment(segment: &str) -> String {
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
pub(super) fn collection_path(kind: &ResourceKind, namespace: Option<&str>) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(api_version: &str, kind: &str, plural: &str, namespaced: bool) -> ResourceKind {
        let mut k = ResourceKind::discovered(api_version, kind, namespaced);
        k.plural = plural.to_string();
        k
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
}
