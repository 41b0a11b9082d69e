//! Writes: the server-side dry run of a JSON Patch, and the one real write —
//! a JSON Patch guarded by the resourceVersion it was approved against.

use guardian_policy::Permit;
use serde_json::{Value, json};

use super::LiveBackend;
use super::errors::Op;
use super::reads::fill_type;
use super::request::{
    build_error, check_name, check_permit, collection_path, encode_segment, object_label,
    resource_op, scope,
};
use crate::{BrokerError, ResourceKind};

/// The field manager Guardian's writes (and dry-runs) are recorded under.
pub const FIELD_MANAGER: &str = "guardian";

impl LiveBackend {
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
}

fn not_a_patch(kind: &ResourceKind, namespace: Option<&str>, name: &str, why: &str) -> BrokerError {
    BrokerError::Invalid(format!(
        "the patch for {} is not an RFC 6902 JSON Patch ({why}); it must be an array of \
         operations such as {{\"op\": \"replace\", \"path\": \"/spec/replicas\", \"value\": 3}}",
        object_label(kind, namespace, name)
    ))
}
