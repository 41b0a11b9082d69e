//! The broker: the only door between Guardian and a Kubernetes cluster.
//!
//! Every call a skill makes arrives here (via the runtime's host imports) and is
//! answered by a [`Backend`]: a live API server or an offline snapshot. Whatever
//! leaves the broker has Secret values redacted ([`redact`]).
//!
//! **Architecture invariant:** nothing outside this crate talks to a cluster.
//! The runtime holds a [`Broker`], never a backend's client.

mod error;
pub mod redact;
pub mod resources;
pub mod selectors;
pub mod snapshot;

use std::sync::Arc;

use serde::Serialize;
use serde::ser::SerializeStruct;
use serde_json::Value;

pub use error::BrokerError;
pub use resources::{ResourceKind, ResourceTable};
pub use snapshot::{LoadProblem, SnapshotBackend};

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
    pub items: Vec<Arc<Value>>,
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
            Some(Value::Array(items)) => items.into_iter().map(Arc::new).collect(),
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
            .map(|item| Arc::try_unwrap(item).unwrap_or_else(|shared| (*shared).clone()))
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
        struct Items<'a>(&'a [Arc<Value>]);
        impl Serialize for Items<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.iter().map(|item| item.as_ref()))
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

/// A source of Kubernetes objects. Implemented by the snapshot backend (here)
/// and the live backend. Backends return raw objects; [`Broker`] redacts.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Human-readable description: `snapshot examples/staging`, `context kind-dev`.
    fn describe(&self) -> String;
    /// Resolve a kubectl-style resource name (`pods`, `deploy`, `Deployment`,
    /// `deployments.apps`, `deployments.v1.apps`) to the resource it names.
    async fn resolve(&self, resource: &str) -> Result<ResourceKind, BrokerError>;
    async fn get(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, BrokerError>;
    /// A list object: `{"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [...]}`.
    async fn list(&self, kind: &ResourceKind, query: &ListQuery) -> Result<Value, BrokerError>;
    /// The same answer as [`Backend::list`] with items shared rather than
    /// copied. The default wraps `list`; backends that keep objects in
    /// memory (the snapshot) override it to avoid the copy.
    async fn list_shared(
        &self,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<SharedList, BrokerError> {
        Ok(SharedList::from_value(self.list(kind, query).await?))
    }
    async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        query: &LogQuery,
    ) -> Result<String, BrokerError>;
    /// An EventList of the events whose involvedObject matches, oldest first.
    async fn events(&self, object: &ObjectRef) -> Result<Value, BrokerError>;
    /// Apply an RFC 6902 JSON Patch to a copy of the object and return it;
    /// nothing is persisted.
    async fn dry_run_patch(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        json_patch: &Value,
    ) -> Result<Value, BrokerError>;
    async fn api_resources(&self) -> Result<Vec<ResourceKind>, BrokerError>;
}

/// The broker: a backend plus the rules every answer obeys on its way out.
#[derive(Clone)]
pub struct Broker {
    backend: Arc<dyn Backend>,
}

impl Broker {
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }

    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    pub async fn resolve(&self, resource: &str) -> Result<ResourceKind, BrokerError> {
        self.backend.resolve(resource).await
    }

    pub async fn get(
        &self,
        _cx: &CallContext,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, BrokerError> {
        let mut object = self.backend.get(kind, namespace, name).await?;
        redact::object(&mut object);
        Ok(object)
    }

    pub async fn list(
        &self,
        _cx: &CallContext,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<Value, BrokerError> {
        let mut list = self.backend.list(kind, query).await?;
        redact::object(&mut list);
        Ok(list)
    }

    /// [`Broker::list`] without copying the items: Secrets are redacted
    /// copy-on-write, every other item stays shared with the backend.
    pub async fn list_shared(
        &self,
        _cx: &CallContext,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<SharedList, BrokerError> {
        let mut list = self.backend.list_shared(kind, query).await?;
        for item in &mut list.items {
            if redact::list_item_needs_redaction(item, &list.kind) {
                redact::list_item(Arc::make_mut(item), &list.kind);
            }
        }
        Ok(list)
    }

    pub async fn logs(
        &self,
        _cx: &CallContext,
        namespace: &str,
        pod: &str,
        query: &LogQuery,
    ) -> Result<String, BrokerError> {
        self.backend.logs(namespace, pod, query).await
    }

    pub async fn events(
        &self,
        _cx: &CallContext,
        object: &ObjectRef,
    ) -> Result<Value, BrokerError> {
        self.backend.events(object).await
    }

    pub async fn dry_run_patch(
        &self,
        _cx: &CallContext,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        json_patch: &Value,
    ) -> Result<Value, BrokerError> {
        let mut object = self
            .backend
            .dry_run_patch(kind, namespace, name, json_patch)
            .await?;
        redact::object(&mut object);
        Ok(object)
    }

    pub async fn api_resources(&self, _cx: &CallContext) -> Result<Vec<ResourceKind>, BrokerError> {
        self.backend.api_resources().await
    }
}
