//! What the broker asks a cluster: the [`Backend`] trait, private to this
//! crate, and the snapshot as one (the live cluster is `live::LiveBackend`).
//! Backends return raw objects; [`crate::Broker`] decides, audits and
//! redacts.

use guardian_policy::Permit;
use serde_json::Value;

use crate::{BrokerError, ListQuery, LogQuery, ObjectRef, ResourceKind, SharedList, Snapshot};

/// A source of Kubernetes objects: the snapshot ([`SnapshotBackend`]) or a
/// live API server (`live::LiveBackend`).
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
    /// invariant 1); only [`crate::Broker::apply_approved`] calls this. The default
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
    /// through [`crate::redact`] (env values, event messages, log text) when it was
    /// loaded, so the broker can skip scanning them per call. Secret values
    /// are checked on every call regardless.
    fn redacted_at_source(&self) -> bool {
        false
    }
}

/// A loaded snapshot behind the broker. Cheap to clone: the data is shared.
#[derive(Clone, Debug)]
pub(crate) struct SnapshotBackend(pub(crate) Snapshot);

#[async_trait::async_trait]
impl Backend for SnapshotBackend {
    fn describe(&self) -> String {
        self.0.description()
    }

    /// Objects and logs are redacted when the snapshot loads.
    fn redacted_at_source(&self) -> bool {
        true
    }

    async fn resolve(&self, resource: &str) -> Result<ResourceKind, BrokerError> {
        self.0.table().resolve(resource)
    }

    async fn get(
        &self,
        _permit: &Permit,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, BrokerError> {
        self.0
            .get_object(kind, namespace, name)
            .map(|object| Value::clone(&object))
    }

    async fn list(
        &self,
        _permit: &Permit,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<Value, BrokerError> {
        self.0.list_objects(kind, query)
    }

    async fn list_shared(
        &self,
        _permit: &Permit,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<SharedList, BrokerError> {
        self.0.list_objects_shared(kind, query)
    }

    async fn logs(
        &self,
        _permit: &Permit,
        namespace: &str,
        pod: &str,
        query: &LogQuery,
    ) -> Result<String, BrokerError> {
        self.0.pod_logs(namespace, pod, query)
    }

    async fn events(&self, _permit: &Permit, object: &ObjectRef) -> Result<Value, BrokerError> {
        Ok(self.0.events_of(object))
    }

    async fn dry_run_patch(
        &self,
        _permit: &Permit,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        json_patch: &Value,
    ) -> Result<Value, BrokerError> {
        self.0.dry_run_json_patch(kind, namespace, name, json_patch)
    }

    async fn api_resources(&self) -> Result<Vec<ResourceKind>, BrokerError> {
        Ok(self.0.table().kinds().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{Audit, Broker, CallContext, GrantSets, Policy, redact};

    /// A backend with only the required methods: `list_shared` is the
    /// trait's default, which wraps `list`.
    struct Plain(SnapshotBackend);

    #[async_trait::async_trait]
    impl Backend for Plain {
        fn describe(&self) -> String {
            self.0.describe()
        }
        async fn resolve(&self, r: &str) -> Result<ResourceKind, BrokerError> {
            self.0.resolve(r).await
        }
        async fn get(
            &self,
            permit: &Permit,
            k: &ResourceKind,
            ns: Option<&str>,
            n: &str,
        ) -> Result<Value, BrokerError> {
            self.0.get(permit, k, ns, n).await
        }
        async fn list(
            &self,
            permit: &Permit,
            k: &ResourceKind,
            q: &ListQuery,
        ) -> Result<Value, BrokerError> {
            self.0.list(permit, k, q).await
        }
        async fn logs(
            &self,
            permit: &Permit,
            ns: &str,
            p: &str,
            q: &LogQuery,
        ) -> Result<String, BrokerError> {
            self.0.logs(permit, ns, p, q).await
        }
        async fn events(&self, permit: &Permit, o: &ObjectRef) -> Result<Value, BrokerError> {
            self.0.events(permit, o).await
        }
        async fn dry_run_patch(
            &self,
            permit: &Permit,
            k: &ResourceKind,
            ns: Option<&str>,
            n: &str,
            p: &Value,
        ) -> Result<Value, BrokerError> {
            self.0.dry_run_patch(permit, k, ns, n, p).await
        }
        async fn api_resources(&self) -> Result<Vec<ResourceKind>, BrokerError> {
            self.0.api_resources().await
        }
    }

    #[tokio::test]
    async fn the_default_shared_list_agrees_with_the_snapshots_own() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/staging");
        let (snapshot, _) = Snapshot::load(&root).unwrap();
        let secrets = snapshot.table().resolve("secrets").unwrap();
        let over = |backend: Arc<dyn Backend>| {
            Broker::new(
                backend,
                Arc::new(Policy::defaults().unwrap()),
                Arc::new(Audit::Off),
            )
        };
        let cx = CallContext {
            caller: "human:test".into(),
            skill: "test".into(),
            tool: "test".into(),
            grants: GrantSets {
                read: vec!["*".into()],
                propose: vec![],
            },
            scope: Default::default(),
        };
        let direct = over(Arc::new(SnapshotBackend(snapshot.clone())));
        let shared = direct
            .list_shared(&cx, &secrets, &ListQuery::default())
            .await
            .unwrap();
        assert!(!shared.items.is_empty(), "the example has Secrets");
        assert!(
            serde_json::to_string(&shared)
                .unwrap()
                .contains("<redacted: "),
            "values are markers: {}",
            redact::marker(b"x")
        );
        let plain = over(Arc::new(Plain(SnapshotBackend(snapshot))));
        let via_default = plain
            .list_shared(&cx, &secrets, &ListQuery::default())
            .await
            .unwrap();
        assert_eq!(via_default, shared);
    }
}
