//! Reads: one object, a list (in pages, as kubectl reads it), a container's
//! logs, the events about an object.

use guardian_kube_types::events;
use guardian_policy::Permit;
use kube::core::Request;
use kube::core::params::ListParams;
use kube::core::subresource::LogParams;
use serde_json::{Value, json};

use super::LiveBackend;
use super::errors::Op;
use super::request::{
    check_name, check_permit, check_plain_name, collection_path, encode_segment, object_label,
    pod_kind, resource_op, scope,
};
use crate::{BrokerError, ListQuery, LogQuery, ObjectRef, ResourceKind, ResourceTable};

/// Items per page when a list is read whole (kubectl's `--chunk-size`).
const LIST_PAGE: u32 = 500;

impl LiveBackend {
    /// One object.
    pub(crate) async fn get_object(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, BrokerError> {
        check_permit(permit, &["get"], kind, "")?;
        let namespace = scope(kind, namespace, name)?;
        check_name(kind, name)?;
        let op = Op {
            verb: "get",
            namespace: namespace.map(str::to_string),
            name: Some(name.to_string()),
            what: object_label(kind, namespace, name),
            ..resource_op(kind)
        };
        let path = format!(
            "{}/{}",
            collection_path(kind, namespace),
            encode_segment(name)
        );
        let mut object = self.get_path(&path, &op).await?;
        fill_type(&mut object, kind);
        Ok(object)
    }

    /// A list object, items carrying `apiVersion` and `kind`. `limit` cuts
    /// the list (the server then sets `metadata.continue` and, usually,
    /// `remainingItemCount`).
    pub(crate) async fn list_objects(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<Value, BrokerError> {
        check_permit(permit, &["list", "events"], kind, "")?;
        if query.limit.is_some_and(|l| l > 0) {
            return self.list_page(kind, query, None).await;
        }
        // Without a limit, read the list in pages as kubectl does, so no
        // single answer from the server is the whole of a large list.
        self.list_pages(kind, query).await
    }

    /// Every item of `query`, [`LIST_PAGE`] at a time, following
    /// `continue` tokens; one list object.
    async fn list_pages(
        &self,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<Value, BrokerError> {
        let query = ListQuery {
            limit: Some(LIST_PAGE),
            ..query.clone()
        };
        let mut list = self.list_page(kind, &query, None).await?;
        let mut items: Vec<Value> = take_items(&mut list);
        while let Some(token) = list
            .pointer("/metadata/continue")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
        {
            list = self.list_page(kind, &query, Some(token)).await?;
            items.extend(take_items(&mut list));
        }
        if let Some(meta) = list.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("continue");
            meta.remove("remainingItemCount");
        }
        list["items"] = Value::Array(items);
        Ok(list)
    }

    /// One page of a list; `continue_token` from the previous page's
    /// `metadata.continue`.
    async fn list_page(
        &self,
        kind: &ResourceKind,
        query: &ListQuery,
        continue_token: Option<String>,
    ) -> Result<Value, BrokerError> {
        let namespace = query
            .namespace
            .as_deref()
            .filter(|ns| !ns.is_empty() && kind.namespaced);
        let op = Op {
            verb: "list",
            namespace: namespace.map(str::to_string),
            what: match namespace {
                Some(ns) => format!("{} in namespace \"{ns}\"", kind.grant_name()),
                None if kind.namespaced => format!("{} in all namespaces", kind.grant_name()),
                None => kind.grant_name(),
            },
            ..resource_op(kind)
        };
        let params = ListParams {
            label_selector: query
                .label_selector
                .clone()
                .filter(|s| !s.trim().is_empty()),
            field_selector: query
                .field_selector
                .clone()
                .filter(|s| !s.trim().is_empty()),
            limit: query.limit.filter(|&l| l > 0),
            continue_token,
            ..ListParams::default()
        };
        let request = Request::new(collection_path(kind, namespace))
            .list(&params)
            .map_err(|e| BrokerError::Invalid(format!("list {}: {e}", op.what)))?;
        let mut list = self.send_json(request, &op).await?;
        normalize_list(&mut list, kind);
        Ok(list)
    }

    /// Every object of a kind, following `continue` tokens page by page
    /// (500 a page, as kubectl does).
    pub(crate) async fn list_all(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        namespace: Option<&str>,
    ) -> Result<Value, BrokerError> {
        check_permit(permit, &["list"], kind, "")?;
        let query = ListQuery {
            namespace: namespace.map(str::to_string),
            ..ListQuery::default()
        };
        self.list_pages(kind, &query).await
    }

    /// A container's logs (`kubectl logs [-c C] [--tail N] [--previous]`).
    pub(crate) async fn pod_logs(
        &self,
        permit: &Permit,
        namespace: &str,
        pod: &str,
        query: &LogQuery,
    ) -> Result<String, BrokerError> {
        check_permit(permit, &["get", "logs"], &pod_kind(), "log")?;
        if namespace.is_empty() {
            return Err(BrokerError::Invalid(format!(
                "pods are namespaced: give the namespace of pod \"{pod}\""
            )));
        }
        check_plain_name("pod", pod)?;
        let op = Op {
            verb: "get",
            resource: "pods".into(),
            subresource: Some("log"),
            namespace: Some(namespace.to_string()),
            name: Some(pod.to_string()),
            what: format!(
                "{}logs of pod {namespace}/{pod}{}",
                if query.previous { "previous " } else { "" },
                query
                    .container
                    .as_deref()
                    .map(|c| format!(" container {c}"))
                    .unwrap_or_default()
            ),
            ..Op::default()
        };
        let params = LogParams {
            container: query.container.clone().filter(|c| !c.is_empty()),
            tail_lines: query.tail_lines.map(i64::from),
            previous: query.previous,
            ..LogParams::default()
        };
        let request = Request::new(format!(
            "/api/v1/namespaces/{}/pods",
            encode_segment(namespace)
        ))
        .logs(&encode_segment(pod), &params)
        .map_err(|e| BrokerError::Invalid(format!("get {}: {e}", op.what)))?;
        self.send_text(request, &op).await
    }

    /// The core/v1 Events whose involvedObject is `object`, oldest first, as
    /// an EventList.
    pub(crate) async fn events_of(
        &self,
        permit: &Permit,
        object: &ObjectRef,
    ) -> Result<Value, BrokerError> {
        let mut selector = format!(
            "involvedObject.kind={},involvedObject.name={}",
            object.kind, object.name
        );
        let namespace = object.namespace.as_deref().filter(|ns| !ns.is_empty());
        if let Some(ns) = namespace {
            selector.push_str(&format!(",involvedObject.namespace={ns}"));
        }
        let events = ResourceTable::builtin()
            .by_group_kind("", "Event")
            .cloned()
            .ok_or_else(|| BrokerError::Internal("no core Event kind".to_string()))?;
        // A cluster-scoped object's events live in `default` (nodes) or
        // elsewhere: look everywhere.
        let mut list = self
            .list_objects(
                permit,
                &events,
                &ListQuery {
                    namespace: namespace.map(str::to_string),
                    field_selector: Some(selector),
                    ..ListQuery::default()
                },
            )
            .await?;
        let mut items = take_items(&mut list);
        // The field selector already did this on a real server; checking
        // again keeps the answer right whatever the server supports, and
        // matches the snapshot's rules (group, not version).
        items.retain(|event| events::involves(event, object));
        events::sort_oldest_first(&mut items);
        Ok(json!({
            "apiVersion": "v1",
            "kind": "EventList",
            "metadata": list.get("metadata").cloned().unwrap_or_else(|| json!({})),
            "items": items,
        }))
    }
}

/// Objects served by `get` always say what they are.
pub(super) fn fill_type(object: &mut Value, kind: &ResourceKind) {
    if let Some(map) = object.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(kind.api_version()));
        map.entry("kind")
            .or_insert_with(|| Value::String(kind.kind.clone()));
    }
}

/// A list as the snapshot backend serves it: `XList` of the served
/// apiVersion, every item with its `apiVersion` and `kind`.
fn normalize_list(list: &mut Value, kind: &ResourceKind) {
    let Some(map) = list.as_object_mut() else {
        return;
    };
    map.insert("apiVersion".into(), Value::String(kind.api_version()));
    map.insert("kind".into(), Value::String(kind.list_kind()));
    map.entry("metadata").or_insert_with(|| json!({}));
    match map.get_mut("items") {
        Some(Value::Array(items)) => {
            for item in items {
                fill_type(item, kind);
            }
        }
        // The API server writes `"items": null` for an empty list at times.
        _ => {
            map.insert("items".into(), Value::Array(Vec::new()));
        }
    }
}

fn take_items(list: &mut Value) -> Vec<Value> {
    match list.get_mut("items").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
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
    fn lists_look_like_the_snapshots() {
        let pods = kind("v1", "Pod", "pods", true);
        let mut list = json!({"kind": "PodList", "apiVersion": "v1",
            "metadata": {"resourceVersion": "7"}, "items": [{"metadata": {"name": "a"}}]});
        normalize_list(&mut list, &pods);
        assert_eq!(list["items"][0]["kind"], "Pod");
        assert_eq!(list["items"][0]["apiVersion"], "v1");
        let mut empty =
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": null});
        normalize_list(&mut empty, &pods);
        assert_eq!(empty["items"], json!([]));
    }
}
