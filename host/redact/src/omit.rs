//! ConfigMap values are left out of list answers.
//!
//! Analyzers need a ConfigMap's keys (does the key a pod references
//! exist?), not its values, and real namespaces hold many large ConfigMaps
//! (dashboards, bundled certificates, generated configuration): listed with
//! their values, fifty of 900 KiB fill a skill's memory before anything is
//! analyzed. So a list answer carries each value's size instead (keys kept),
//! and the `kubectl.kubernetes.io/last-applied-configuration` annotation,
//! which repeats the data, is replaced the same way. A caller that needs a
//! value gets that one ConfigMap (`get`), which is answered whole.

use serde_json::Value;

/// The annotation `kubectl apply` writes: a copy of the object as applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What stands for an omitted value.
pub fn marker(len: usize) -> String {
    format!("<omitted from lists: {len} bytes; get the ConfigMap to read it>")
}

/// Whether a list item of `list_kind` has values to omit.
pub fn applies_to(list_kind: &str) -> bool {
    list_kind == "ConfigMapList"
}

/// Replaces the values of a ConfigMap's `data` and `binaryData` (and its
/// last-applied annotation) by their sizes.
pub fn config_map_values(object: &mut Value) {
    for field in ["data", "binaryData"] {
        if let Some(map) = object.get_mut(field).and_then(Value::as_object_mut) {
            for value in map.values_mut() {
                let len = value.as_str().map_or(0, str::len);
                *value = Value::String(marker(len));
            }
        }
    }
    if let Some(slot) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
        .and_then(|a| a.get_mut(LAST_APPLIED))
    {
        let len = slot.as_str().map_or(0, str::len);
        *slot = Value::String(marker(len));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_become_sizes_and_keys_stay() {
        let mut cm = json!({
            "metadata": {"name": "big", "annotations": {LAST_APPLIED: "{\"data\":{}}", "team": "x"}},
            "data": {"app.conf": "a".repeat(900 * 1024), "empty": ""},
            "binaryData": {"logo.png": "iVBORw0KGgo="}
        });
        config_map_values(&mut cm);
        assert_eq!(cm["data"]["app.conf"], marker(900 * 1024));
        assert_eq!(cm["data"]["empty"], marker(0));
        assert_eq!(cm["binaryData"]["logo.png"], marker(12));
        assert_eq!(cm["metadata"]["annotations"][LAST_APPLIED], marker(11));
        assert_eq!(cm["metadata"]["annotations"]["team"], "x");
        assert!(cm.to_string().len() < 1024);
    }
}
