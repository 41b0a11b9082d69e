//! Which Events are about an object, and when each last happened: the one
//! rule the snapshot store and the live backend share, so both answer
//! `events` with the same items in the same order.

use serde_json::Value;

use crate::{ObjectRef, split_api_version, time};

/// Whether `event`'s involvedObject is `object`: same kind, name and
/// namespace, and the same API group when both say one (versions differ
/// between writers, `extensions/v1beta1` vs `apps/v1`; the group identifies
/// the kind).
pub fn involves(event: &Value, object: &ObjectRef) -> bool {
    let Some(involved) = event.get("involvedObject") else {
        return false;
    };
    let field = |f: &str| involved.get(f).and_then(Value::as_str).unwrap_or("");
    if field("kind") != object.kind || field("name") != object.name {
        return false;
    }
    if field("namespace") != object.namespace.as_deref().unwrap_or("") {
        return false;
    }
    let (want_group, _) = split_api_version(&object.api_version);
    let (group, _) = split_api_version(field("apiVersion"));
    field("apiVersion").is_empty() || object.api_version.is_empty() || group == want_group
}

/// When an event last happened, in microseconds since the epoch, for
/// ordering: `lastTimestamp`, then the events.k8s.io-style
/// `series.lastObservedTime` and `eventTime`, then `firstTimestamp`, then
/// the object's creation. `None` when it has none of them.
pub fn last_seen(event: &Value) -> Option<i64> {
    [
        event.get("lastTimestamp"),
        event.get("series").and_then(|s| s.get("lastObservedTime")),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        event.pointer("/metadata/creationTimestamp"),
    ]
    .into_iter()
    .flatten()
    .filter_map(Value::as_str)
    .find_map(time::parse_rfc3339_micros)
}

/// Events oldest first (those with no time at all first of all), ties by
/// name.
pub fn sort_oldest_first(events: &mut [Value]) {
    events.sort_by_cached_key(|event| {
        let name = event
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        (last_seen(event), name)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_match_by_kind_name_namespace_and_group() {
        let object = ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("a".into()),
            name: "web".into(),
        };
        let event = |api: &str, ns: &str| {
            json!({"involvedObject": {"apiVersion": api, "kind": "Deployment", "name": "web",
                   "namespace": ns}})
        };
        assert!(involves(&event("apps/v1", "a"), &object));
        assert!(involves(&event("apps/v1beta1", "a"), &object));
        assert!(involves(&event("", "a"), &object));
        assert!(!involves(&event("extensions/v1beta1", "a"), &object));
        assert!(!involves(&event("apps/v1", "b"), &object));
        assert!(!involves(&json!({}), &object));
    }

    #[test]
    fn events_order_by_when_they_last_happened() {
        let at = |name: &str, field: &str, t: &str| {
            let mut e = json!({"metadata": {"name": name}});
            e[field] = json!(t);
            e
        };
        let mut events = vec![
            at("late", "lastTimestamp", "2026-11-23T15:28:00+02:00"),
            at("early", "eventTime", "2026-11-23T13:27:00.5Z"),
            json!({"metadata": {"name": "timeless"}}),
            at("b-tie", "firstTimestamp", "2026-11-23T13:27:00.5Z"),
        ];
        sort_oldest_first(&mut events);
        let names: Vec<&str> = events
            .iter()
            .map(|e| e["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["timeless", "b-tie", "early", "late"]);
    }
}
