//! The proposal step: the host side of `actions.propose` (DESIGN.md §1).
//!
//! [`propose`] checks that a JSON Patch pins what it changes with `test`
//! operations, reads the object for its resourceVersion, asks policy what
//! the real apply would get (and refuses a proposal it would deny), dry-runs
//! the patch server-side through the broker, computes the YAML diff, and
//! stores the result as a `pending` action. Nothing is written to the
//! cluster here: only a human approval followed by [`crate::apply`] writes.

use guardian_broker::{Broker, BrokerError, CallContext, ObjectRef, ResourceKind};
use serde_json::Value;

use crate::{Action, ActionError, ActionStore, Proposal, Proposer, Target};

/// Why a proposal was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// The proposal itself is wrong (not a pinned JSON Patch, unknown
    /// resource, missing namespace…). Fix it and propose again.
    #[error("invalid proposal: {0}")]
    Invalid(String),
    /// Policy would deny the apply (a protected namespace, outside grants).
    #[error("{0}")]
    Denied(String),
    /// Reading the object failed (not found, unavailable, denied…).
    #[error("cannot read {what}: {error}")]
    Read { what: String, error: BrokerError },
    /// The API server's dry run refused the patch.
    #[error("the dry run of the patch on {what} failed: {error}")]
    DryRun { what: String, error: BrokerError },
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] ActionError),
}

impl ProposeError {
    /// The class of the error, as a broker error names it: `invalid`,
    /// `denied`, `conflict`, `not-found`, `unavailable`, `internal`…
    pub fn kind_str(&self) -> &'static str {
        match self {
            ProposeError::Invalid(_) => "invalid",
            ProposeError::Denied(_) => "denied",
            ProposeError::Read { error, .. } | ProposeError::DryRun { error, .. } => {
                error.kind_str()
            }
            ProposeError::Store(ActionError::InvalidProposal(_)) => "invalid",
            ProposeError::Store(_) => "unavailable",
        }
    }
}

/// The message of a patch without `test` operations.
pub const UNPINNED: &str = "a proposal must pin what it changes with test operations";

/// Checks that `text` is an RFC 6902 JSON Patch (a non-empty array of
/// operations) that pins what it changes: it has `test` operations, and
/// every `replace` or `remove` path is covered by a `test` of the same
/// path, of a parent path, or of a field of the same array element (a
/// container's `name`). Returns the parsed patch.
pub fn validate_patch(text: &str) -> Result<Value, String> {
    let patch: Value =
        serde_json::from_str(text).map_err(|e| format!("the JSON Patch is not JSON: {e}"))?;
    let ops = patch
        .as_array()
        .ok_or("a JSON Patch is a JSON array of operations (RFC 6902)")?;
    if ops.is_empty() {
        return Err("the JSON Patch has no operations".into());
    }
    let mut tests = Vec::new();
    let mut changes = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let name = op["op"]
            .as_str()
            .ok_or_else(|| format!("operation {i} has no \"op\""))?;
        let path = op["path"]
            .as_str()
            .ok_or_else(|| format!("operation {i} ({name}) has no \"path\""))?;
        if !(path.is_empty() || path.starts_with('/')) {
            return Err(format!(
                "operation {i} ({name}): path {path:?} is not a JSON Pointer"
            ));
        }
        match name {
            "test" => {
                if op.get("value").is_none() {
                    return Err(format!("operation {i} (test {path}) has no \"value\""));
                }
                tests.push(path);
            }
            "replace" | "remove" => changes.push((name, path)),
            "add" => {
                if op.get("value").is_none() {
                    return Err(format!("operation {i} (add {path}) has no \"value\""));
                }
            }
            "move" | "copy" => {
                if op["from"].as_str().is_none() {
                    return Err(format!("operation {i} ({name} {path}) has no \"from\""));
                }
            }
            other => {
                return Err(format!(
                    "operation {i}: unknown op {other:?} (RFC 6902: add, remove, replace, move, copy, test)"
                ));
            }
        }
    }
    if tests.is_empty() {
        return Err(format!(
            "{UNPINNED}: the patch has no test operation; add a test of the current value (and of the container's name) before each change"
        ));
    }
    for (name, path) in changes {
        if !tests.iter().any(|t| pins(t, path)) {
            return Err(format!(
                "{UNPINNED}: `{name} {path}` is not pinned; add a test of {path} (or of its parent) with its current value"
            ));
        }
    }
    Ok(patch)
}

/// Whether a `test` at `test` pins a change at `path`: the same path, an
/// ancestor of it, or a field of an array element `path` lies in.
fn pins(test: &str, path: &str) -> bool {
    if test == path || is_ancestor(test, path) {
        return true;
    }
    // `/…/containers/0/name` pins `/…/containers/0/resources/limits/memory`.
    let segments: Vec<&str> = path.split('/').collect();
    (1..segments.len()).any(|end| {
        let last = segments[end - 1];
        if last.is_empty() || !last.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        let element = segments[..end].join("/");
        is_ancestor(&element, test) && is_ancestor(&element, path)
    })
}

fn is_ancestor(parent: &str, path: &str) -> bool {
    parent.is_empty()
        || path
            .strip_prefix(parent)
            .is_some_and(|r| r.starts_with('/'))
}

/// The group of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// The object as the diff shows it: without `managedFields`, `status` and
/// the fields every write changes.
fn for_diff(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in ["managedFields", "resourceVersion", "generation"] {
            meta.remove(field);
        }
    }
    object
}

/// The unified diff of the object's YAML before and after, with 3 lines of
/// context.
pub fn yaml_diff(label: &str, before: &Value, after: &Value) -> String {
    let a = serde_yaml::to_string(&for_diff(before)).unwrap_or_default();
    let b = serde_yaml::to_string(&for_diff(after)).unwrap_or_default();
    similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{label}"), &format!("b/{label}"))
        .to_string()
}

/// Proposes `json_patch` (JSON text, stored byte for byte) on `target`:
/// validated, read, policy-previewed, dry-run, diffed and stored as a
/// `pending` action. `cx` is who asks (its grants decide the reads and the
/// dry run); `proposer` is recorded on the action.
#[allow(clippy::too_many_arguments)]
pub async fn propose(
    store: &ActionStore,
    broker: &Broker,
    cx: &CallContext,
    target: &ObjectRef,
    json_patch: &str,
    rationale: &str,
    proposer: Proposer,
) -> Result<Action, ProposeError> {
    let patch = validate_patch(json_patch).map_err(ProposeError::Invalid)?;
    if rationale.trim().is_empty() {
        return Err(ProposeError::Invalid(
            "the rationale is empty: say why the change is needed".into(),
        ));
    }
    let kind = resolve(broker, target).await?;
    let namespace = target.namespace.as_deref().filter(|ns| !ns.is_empty());
    if kind.namespaced && namespace.is_none() {
        return Err(ProposeError::Invalid(format!(
            "{} is namespaced: the target needs a namespace",
            kind.grant_name()
        )));
    }
    let namespace = if kind.namespaced { namespace } else { None };
    let t = Target {
        api_version: target.api_version.clone(),
        kind: kind.kind.clone(),
        namespace: namespace.map(str::to_owned),
        name: target.name.clone(),
        resource: kind.grant_name(),
    };
    let what = t.label();

    let before = broker
        .get(cx, &kind, namespace, &target.name)
        .await
        .map_err(|error| ProposeError::Read {
            what: what.clone(),
            error,
        })?;
    let resource_version = before
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if resource_version.is_empty() {
        return Err(ProposeError::Read {
            what,
            error: BrokerError::Unavailable(
                "the object has no metadata.resourceVersion; the apply needs it as a precondition"
                    .into(),
            ),
        });
    }

    let (allowed, rule, reasons) = broker
        .preview_apply(cx, &kind, namespace, &target.name)
        .await;
    if !allowed {
        return Err(ProposeError::Denied(format!(
            "not proposed: policy would deny the apply of {what}: {} (rule {rule})",
            reasons.join("; ")
        )));
    }

    let after = broker
        .dry_run_patch(cx, &kind, namespace, &target.name, &patch)
        .await
        .map_err(|error| ProposeError::DryRun {
            what: what.clone(),
            error,
        })?;
    let diff = yaml_diff(&what, &before, &after);
    let dry_run_result = format!(
        "dry run accepted by {} (object at resourceVersion {resource_version})",
        broker.describe()
    );
    // The same patch on the same object version, still waiting for a
    // person: proposing it again (a second `diagnose --propose`) returns it.
    let sha = crate::model::sha256_hex(json_patch.as_bytes());
    if let Some(existing) = store
        .list(Some(crate::State::Pending))?
        .into_iter()
        .find(|a| {
            a.integrity.is_verified()
                && a.target == t
                && a.patch_sha256 == sha
                && a.resource_version == resource_version
        })
    {
        return Ok(existing);
    }
    let action = store.propose(Proposal {
        target: t,
        patch: json_patch.as_bytes().to_vec(),
        resource_version,
        rationale: rationale.trim().to_owned(),
        proposer,
        dry_run_result,
        diff,
        policy_decision: format!("allow ({rule})"),
        ttl: None,
    })?;
    Ok(action)
}

/// The resource `target` names, checked against its apiVersion's group.
async fn resolve(broker: &Broker, target: &ObjectRef) -> Result<ResourceKind, ProposeError> {
    if target.kind.trim().is_empty() || target.name.trim().is_empty() {
        return Err(ProposeError::Invalid(
            "the target needs a kind and a name".into(),
        ));
    }
    let group = group_of(&target.api_version);
    let kind = broker
        .resolve(&target.kind)
        .await
        .map_err(|e| ProposeError::Invalid(format!("target kind {}: {e}", target.kind)))?;
    if !target.api_version.is_empty() && kind.group != group {
        return Err(ProposeError::Invalid(format!(
            "target {} {}: the kind resolves to {}, not to group {group:?}",
            target.api_version,
            target.kind,
            kind.grant_name()
        )));
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_without_tests_is_refused_with_why() {
        let e =
            validate_patch(r#"[{"op":"replace","path":"/spec/replicas","value":3}]"#).unwrap_err();
        assert!(e.contains(UNPINNED), "{e}");
    }

    #[test]
    fn every_change_must_be_pinned() {
        let ok = r#"[
            {"op":"test","path":"/spec/template/spec/containers/0/name","value":"search"},
            {"op":"replace","path":"/spec/template/spec/containers/0/resources/limits/memory","value":"512Mi"}
        ]"#;
        validate_patch(ok).unwrap();
        let same = r#"[{"op":"test","path":"/spec/replicas","value":1},
                       {"op":"replace","path":"/spec/replicas","value":3}]"#;
        validate_patch(same).unwrap();
        let parent = r#"[{"op":"test","path":"/spec","value":{}},
                         {"op":"remove","path":"/spec/replicas"}]"#;
        validate_patch(parent).unwrap();
        let other = r#"[{"op":"test","path":"/spec/paused","value":false},
                        {"op":"replace","path":"/spec/replicas","value":3}]"#;
        let e = validate_patch(other).unwrap_err();
        assert!(e.contains("`replace /spec/replicas` is not pinned"), "{e}");
        let sibling_element = r#"[
            {"op":"test","path":"/spec/containers/1/name","value":"a"},
            {"op":"replace","path":"/spec/containers/0/image","value":"x"}
        ]"#;
        assert!(validate_patch(sibling_element).is_err());
        // `/spec/replicasX` is not under `/spec/replicas`.
        assert!(!pins("/spec/replicas", "/spec/replicasX"));
    }

    #[test]
    fn malformed_patches_are_refused() {
        assert!(validate_patch("{}").unwrap_err().contains("array"));
        assert!(validate_patch("[]").unwrap_err().contains("no operations"));
        assert!(validate_patch("not json").unwrap_err().contains("not JSON"));
        assert!(
            validate_patch(r#"[{"op":"frob","path":"/a"}]"#)
                .unwrap_err()
                .contains("unknown op")
        );
    }

    /// The host path against the example snapshot: a pinned patch is
    /// stored pending with its diff; an unpinned or stale one is refused
    /// and nothing is stored.
    #[tokio::test]
    async fn proposes_against_a_snapshot() {
        use std::sync::Arc;

        use guardian_broker::{Audit, GrantSets, Policy};

        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/staging");
        let (broker, _) = Broker::snapshot(
            &root,
            Arc::new(Policy::defaults().unwrap()),
            Arc::new(Audit::Off),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store =
            ActionStore::open(&dir.path().join("actions.db"), Arc::new(Audit::Off)).unwrap();
        let cx = CallContext {
            caller: "agent".into(),
            skill: "patch".into(),
            tool: "propose".into(),
            grants: GrantSets {
                read: vec!["deployments.apps".into()],
                propose: vec!["deployments.apps".into()],
            },
            scope: Default::default(),
        };
        let target = ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("staging".into()),
            name: "search".into(),
        };
        let proposer = Proposer {
            caller: "agent".into(),
            skill: "patch".into(),
            tool: "propose".into(),
        };
        let patch = |from: &str| {
            format!(
                r#"[{{"op":"test","path":"/spec/template/spec/containers/0/resources/limits/memory","value":"{from}"}},{{"op":"replace","path":"/spec/template/spec/containers/0/resources/limits/memory","value":"512Mi"}}]"#
            )
        };
        let text = patch("256Mi");
        let action = propose(
            &store,
            &broker,
            &cx,
            &target,
            &text,
            "OOMKilled",
            proposer.clone(),
        )
        .await
        .unwrap();
        assert_eq!(action.state, crate::State::Pending);
        assert_eq!(action.patch_bytes(), text.as_bytes());
        assert_eq!(action.target.resource, "deployments.apps");
        assert!(!action.resource_version.is_empty());
        assert!(
            action.diff.contains("+            memory: 512Mi"),
            "{}",
            action.diff
        );
        assert_eq!(action.policy_decision, "allow (approved-action)");
        // Proposed again while pending: the same action.
        let again = propose(
            &store,
            &broker,
            &cx,
            &target,
            &text,
            "OOMKilled",
            proposer.clone(),
        )
        .await
        .unwrap();
        assert_eq!(again.id, action.id);

        let stale = propose(
            &store,
            &broker,
            &cx,
            &target,
            &patch("1Gi"),
            "x",
            proposer.clone(),
        )
        .await
        .unwrap_err();
        assert_eq!(stale.kind_str(), "conflict", "{stale}");
        let unpinned = r#"[{"op":"replace","path":"/spec/replicas","value":3}]"#;
        let e = propose(&store, &broker, &cx, &target, unpinned, "x", proposer)
            .await
            .unwrap_err();
        assert_eq!(e.kind_str(), "invalid");
        assert!(e.to_string().contains(UNPINNED), "{e}");
        assert_eq!(store.list(None).unwrap().len(), 1);
    }

    #[test]
    fn the_diff_leaves_out_status_and_managed_fields() {
        let before = serde_json::json!({
            "metadata": {"name": "a", "resourceVersion": "1", "managedFields": [{"x": 1}]},
            "spec": {"replicas": 1}, "status": {"ready": 0}
        });
        let mut after = before.clone();
        after["spec"]["replicas"] = 3.into();
        after["metadata"]["resourceVersion"] = "2".into();
        let diff = yaml_diff("deployments.apps ns/a", &before, &after);
        assert!(diff.contains("-  replicas: 1\n+  replicas: 3"), "{diff}");
        assert!(
            !diff.contains("managedFields") && !diff.contains("status"),
            "{diff}"
        );
        assert!(diff.starts_with("--- a/deployments.apps ns/a"), "{diff}");
    }
}
