//! Writes to a snapshot, in memory: what `guardian snapshot serve --writable`
//! applies, and the dry run of every write (patch of each type, replace,
//! delete).
//!
//! Writes behave the way the API server's do, because the clients of a served
//! snapshot (kubectl, the live backend) rely on it:
//! - every write bumps the snapshot's one resourceVersion counter (like etcd)
//!   and stamps it on the object it wrote;
//! - an object whose `metadata.resourceVersion` (or `uid`) differs from the
//!   stored one after the change is a 409 conflict — the optimistic lock;
//! - a change to the main resource keeps the stored `status` of kinds that
//!   have a status subresource, and bumps `metadata.generation` when `spec`
//!   changes;
//! - a dry run goes through every check and stores nothing.
//!
//! Nothing is written to disk: the snapshot folder never changes. Stored
//! objects are replaced whole (a new `Arc`), so a reader holding the old one
//! keeps a consistent copy and listing never waits on a deep copy.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::Value;

use guardian_kube_types::{BrokerError, ResourceKind, Stored};

use super::{Data, Snapshot, by_namespace, not_found, patch};

/// A patch, by its content type.
#[derive(Clone, Debug, PartialEq)]
pub enum PatchKind {
    /// RFC 6902 JSON Patch (`application/json-patch+json`): a list of
    /// operations.
    Json(Value),
    /// RFC 7386 JSON merge patch (`application/merge-patch+json`).
    Merge(Value),
    /// Kubernetes strategic merge patch
    /// (`application/strategic-merge-patch+json`): a merge patch whose lists
    /// merge by key. Built-in kinds only; see [`PatchKind::unsupported`].
    StrategicMerge(Value),
}

impl PatchKind {
    /// Why this patch cannot be applied to objects of `kind` at all, or
    /// `None` if it can: strategic merge patches need the merge keys that
    /// only built-in kinds have (the API server answers 415 for others).
    pub fn unsupported(&self, snapshot: &Snapshot, kind: &ResourceKind) -> Option<String> {
        match self {
            Self::StrategicMerge(_) => patch::unsupported(snapshot.table(), kind),
            Self::Json(_) | Self::Merge(_) => None,
        }
    }
}

/// The preconditions of a delete (`DeleteOptions.preconditions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

/// Built-in kinds with a status subresource: a write to the main resource
/// keeps their stored status, as the API server's update strategies do.
fn has_status_subresource(kind: &ResourceKind) -> bool {
    matches!(
        (kind.group.as_str(), kind.kind.as_str()),
        (
            "",
            "Pod"
                | "Node"
                | "Namespace"
                | "Service"
                | "PersistentVolume"
                | "PersistentVolumeClaim"
                | "ReplicationController"
                | "ResourceQuota"
        ) | (
            "apps",
            "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet"
        ) | ("batch", "Job" | "CronJob")
            | ("autoscaling", "HorizontalPodAutoscaler")
            | ("policy", "PodDisruptionBudget")
            | ("networking.k8s.io", "Ingress")
            | ("certificates.k8s.io", "CertificateSigningRequest")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("apiregistration.k8s.io", "APIService")
            | ("storage.k8s.io", "VolumeAttachment")
    )
}

/// `deployments.apps "x" in namespace "staging"`.
fn describe(kind: &ResourceKind, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if kind.namespaced => {
            format!("{} \"{name}\" in namespace \"{ns}\"", kind.grant_name())
        }
        _ => format!("{} \"{name}\"", kind.grant_name()),
    }
}

fn metadata_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get("metadata")?.get(field)?.as_str()
}

/// The API server's optimistic-lock message.
fn modified(kind: &ResourceKind, name: &str) -> BrokerError {
    BrokerError::Conflict(format!(
        "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please \
         apply your changes to the latest version and try again",
        kind.grant_name()
    ))
}

impl Snapshot {
    /// Apply a patch to an object. With `dry_run` the patched object is
    /// returned and nothing is stored; otherwise it replaces the stored one
    /// with a new resourceVersion. Errors: the object does not exist
    /// (`NotFound`), the patch does not apply or changes the object's identity
    /// (`Invalid`; a failed JSON Patch `test` is `Invalid` too, as the API
    /// server's 422), the patch sets a stale `metadata.resourceVersion`
    /// (`Conflict`).
    pub fn patch_object(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        patch: &PatchKind,
        dry_run: bool,
    ) -> Result<Value, BrokerError> {
        let what = describe(kind, namespace, name);
        if let Some(reason) = patch.unsupported(self, kind) {
            return Err(BrokerError::Invalid(reason));
        }
        let inner = &self.inner;
        let ns = inner.namespace_key(kind, namespace, name)?;
        // One write lock across read-modify-write, so two writers cannot
        // both pass the resourceVersion check against the same object.
        let mut objects = inner.write();
        let current = by_namespace(&objects, kind)
            .and_then(|m| m.get(ns))
            .and_then(|m| m.get(name))
            .map(|stored| stored.value())
            .ok_or_else(|| not_found(kind, namespace, name))?;
        let patched = match patch {
            PatchKind::Json(operations) => apply_json_patch(&current, operations, &what)?,
            PatchKind::Merge(merge) => {
                if !merge.is_object() {
                    return Err(BrokerError::Invalid(format!(
                        "the merge patch for {what} must be a JSON object, not {merge}"
                    )));
                }
                let mut patched = Value::clone(&current);
                json_patch::merge(&mut patched, merge);
                patched
            }
            PatchKind::StrategicMerge(smp) => patch::apply(kind, &current, smp, &what)?,
        };
        let updated = inner.checked_update(kind, &current, patched, name, &what)?;
        if dry_run {
            return Ok(updated);
        }
        let key = (kind.group.clone(), kind.kind.clone());
        Ok(inner.store(&mut objects, key, ns, name, updated))
    }

    /// Replace an object whole (HTTP PUT). `object` may omit `apiVersion`,
    /// `kind`, `metadata.name` and `metadata.namespace` (they are taken from
    /// the request); a `metadata.resourceVersion` in it must be the stored one
    /// (`Conflict` otherwise); without one the replace is unconditional, as the
    /// API server allows for built-in kinds.
    pub fn replace_object(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        mut object: Value,
        dry_run: bool,
    ) -> Result<Value, BrokerError> {
        let what = describe(kind, namespace, name);
        let inner = &self.inner;
        let ns = inner.namespace_key(kind, namespace, name)?;
        let Some(map) = object.as_object_mut() else {
            return Err(BrokerError::Invalid(format!(
                "the new {what} must be a JSON object"
            )));
        };
        match map.get("kind").and_then(Value::as_str) {
            None | Some("") => {
                map.insert("kind".into(), Value::String(kind.kind.clone()));
            }
            Some(k) if k == kind.kind => {}
            Some(k) => {
                return Err(BrokerError::Invalid(format!(
                    "the object sent to replace {what} is a {k}, not a {}",
                    kind.kind
                )));
            }
        }
        if map.get("apiVersion").and_then(Value::as_str).is_none() {
            map.insert("apiVersion".into(), Value::String(kind.api_version()));
        }
        let metadata = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        let Some(metadata) = metadata.as_object_mut() else {
            return Err(BrokerError::Invalid(format!(
                "the metadata of the object sent to replace {what} is not an object"
            )));
        };
        match metadata.get("name").and_then(Value::as_str) {
            None | Some("") => {
                metadata.insert("name".into(), Value::String(name.to_string()));
            }
            Some(n) if n == name => {}
            Some(n) => {
                return Err(BrokerError::Invalid(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
        }
        if kind.namespaced {
            match metadata.get("namespace").and_then(Value::as_str) {
                None | Some("") => {
                    metadata.insert("namespace".into(), Value::String(ns.to_string()));
                }
                Some(n) if n == ns => {}
                Some(_) => {
                    return Err(BrokerError::Invalid(
                        "the namespace of the provided object does not match the namespace \
                         sent on the request"
                            .to_string(),
                    ));
                }
            }
        }
        let mut objects = inner.write();
        let current = by_namespace(&objects, kind)
            .and_then(|m| m.get(ns))
            .and_then(|m| m.get(name))
            .map(|stored| stored.value())
            .ok_or_else(|| not_found(kind, namespace, name))?;
        let updated = inner.checked_update(kind, &current, object, name, &what)?;
        if dry_run {
            return Ok(updated);
        }
        let key = (kind.group.clone(), kind.kind.clone());
        Ok(inner.store(&mut objects, key, ns, name, updated))
    }

    /// Delete an object, returning it as it was. No cascade: dependents
    /// (a Deployment's ReplicaSets) stay, as with `--cascade=orphan`.
    /// Namespaces are refused (`Denied`): deleting one would have to cascade.
    pub fn delete_object(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        preconditions: &Preconditions,
        dry_run: bool,
    ) -> Result<Value, BrokerError> {
        if kind.group.is_empty() && kind.kind == "Namespace" {
            return Err(BrokerError::Denied(format!(
                "namespaces \"{name}\" cannot be deleted from a snapshot: deleting a namespace \
                 deletes everything in it, which a snapshot does not emulate; delete the objects \
                 in it one by one"
            )));
        }
        let inner = &self.inner;
        let ns = inner.namespace_key(kind, namespace, name)?;
        let mut objects = inner.write();
        let current = by_namespace(&objects, kind)
            .and_then(|m| m.get(ns))
            .and_then(|m| m.get(name))
            .map(|stored| stored.value())
            .ok_or_else(|| not_found(kind, namespace, name))?;
        let stored_uid = metadata_str(&current, "uid").unwrap_or("");
        if let Some(uid) = preconditions.uid.as_deref()
            && uid != stored_uid
        {
            return Err(BrokerError::Conflict(format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {stored_uid}"
            )));
        }
        let stored_rv = metadata_str(&current, "resourceVersion").unwrap_or("");
        if let Some(rv) = preconditions.resource_version.as_deref()
            && rv != stored_rv
        {
            return Err(BrokerError::Conflict(format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in \
                 object meta: {stored_rv}"
            )));
        }
        if !dry_run {
            let key = (kind.group.clone(), kind.kind.clone());
            if let Some(by_name) = objects.get_mut(&key).and_then(|m| m.get_mut(ns)) {
                by_name.remove(name);
            }
            inner.resource_version.fetch_add(1, Ordering::SeqCst);
        }
        Ok(Value::clone(&current))
    }
}

impl Data {
    /// The checks and fix-ups every update of `current` into `updated` goes
    /// through, dry run or not.
    fn checked_update(
        &self,
        kind: &ResourceKind,
        current: &Value,
        mut updated: Value,
        name: &str,
        what: &str,
    ) -> Result<Value, BrokerError> {
        if !updated.is_object() {
            return Err(BrokerError::Invalid(format!(
                "the change to {what} does not leave an object"
            )));
        }
        for pointer in [
            "/apiVersion",
            "/kind",
            "/metadata/name",
            "/metadata/namespace",
        ] {
            if current.pointer(pointer) != updated.pointer(pointer) {
                return Err(BrokerError::Invalid(format!(
                    "the change to {what} changes {pointer}, which identifies the object and \
                     cannot be changed; create a new object instead"
                )));
            }
        }
        if !updated.get("metadata").is_some_and(Value::is_object) {
            return Err(BrokerError::Invalid(format!(
                "the change to {what} removes its metadata"
            )));
        }
        // The optimistic lock: a resourceVersion (or uid) in the new object
        // must be the stored one; none at all means "whatever is stored".
        let stored_uid = metadata_str(current, "uid");
        match metadata_str(&updated, "uid") {
            Some(uid) if !uid.is_empty() && Some(uid) != stored_uid => {
                return Err(BrokerError::Conflict(format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    stored_uid.unwrap_or("")
                )));
            }
            _ => {}
        }
        match metadata_str(&updated, "resourceVersion") {
            Some(rv) if !rv.is_empty() && Some(rv) != metadata_str(current, "resourceVersion") => {
                return Err(modified(kind, name));
            }
            _ => {}
        }
        let metadata = updated["metadata"]
            .as_object_mut()
            .expect("checked to be an object above");
        // System fields are the server's, whatever the client sent.
        for field in ["uid", "resourceVersion", "creationTimestamp"] {
            match current.get("metadata").and_then(|m| m.get(field)) {
                Some(value) => {
                    metadata.insert(field.to_string(), value.clone());
                }
                None => {
                    metadata.remove(field);
                }
            }
        }
        if has_status_subresource(kind) {
            let map = updated.as_object_mut().expect("checked to be an object");
            match current.get("status") {
                Some(status) => {
                    map.insert("status".into(), status.clone());
                }
                None => {
                    map.remove("status");
                }
            }
        }
        let stored_generation = current
            .get("metadata")
            .and_then(|m| m.get("generation"))
            .and_then(Value::as_i64);
        if let Some(generation) = stored_generation
            && current.get("spec") != updated.get("spec")
        {
            updated["metadata"]["generation"] = Value::from(generation + 1);
        }
        Ok(updated)
    }

    /// Store `object` under a new resourceVersion and return it. The caller
    /// holds the write lock (`objects`).
    fn store(
        &self,
        objects: &mut super::Index,
        key: super::GroupKind,
        ns: &str,
        name: &str,
        mut object: Value,
    ) -> Value {
        let rv = self.resource_version.fetch_add(1, Ordering::SeqCst) + 1;
        object["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        objects
            .entry(key)
            .or_default()
            .entry(ns.to_string())
            .or_default()
            .insert(name.to_string(), Arc::new(Stored::new(&object)));
        object
    }
}

/// Apply RFC 6902 operations to a copy of `current`, with messages that say
/// which operation failed and why.
fn apply_json_patch(current: &Value, operations: &Value, what: &str) -> Result<Value, BrokerError> {
    let operations: json_patch::Patch =
        serde_json::from_value(operations.clone()).map_err(|e| {
            BrokerError::Invalid(format!(
                "the patch for {what} is not an RFC 6902 JSON Patch ({e}); it must be a list of \
                 operations such as {{\"op\": \"replace\", \"path\": \"/spec/replicas\", \
                 \"value\": 3}}"
            ))
        })?;
    let mut patched = Value::clone(current);
    if let Err(e) = json_patch::patch(&mut patched, &operations.0) {
        let path = e.path.to_string();
        let number = e.operation + 1;
        let message = match (operations.0.get(e.operation), &e.kind) {
            (Some(json_patch::PatchOperation::Test(test)), _) => {
                let found = current.pointer(&path).map_or_else(
                    || "nothing (the path does not exist)".to_string(),
                    Value::to_string,
                );
                // The API server's (evanphx/json-patch) wording first, which
                // clients recognise, then what it leaves out.
                format!(
                    "testing value {path} failed: test failed (JSON Patch operation {number} \
                     on {what}: expected {}, found {found}; the object is not what the patch \
                     was written against)",
                    test.value
                )
            }
            (_, json_patch::PatchErrorKind::InvalidFromPointer) => format!(
                "JSON Patch operation {number} on {what} has a \"from\" path that does not exist \
                 in the object"
            ),
            (_, json_patch::PatchErrorKind::CannotMoveInsideItself) => {
                format!("JSON Patch operation {number} on {what} moves {path} inside itself")
            }
            _ => format!(
                "JSON Patch operation {number} on {what}: path {path} does not exist in the \
                 object (or its parent does not)"
            ),
        };
        return Err(BrokerError::Invalid(message));
    }
    Ok(patched)
}
