//! How a snapshot holds its objects: compact JSON text, not parsed trees.
//!
//! A `serde_json::Value` costs several times the object's JSON size (a heap
//! node per map and string); a 5,000-pod snapshot held as `Value`s takes
//! ~400 MB, as compact text ~40 MB. Objects are parsed back when a caller
//! needs a tree (get, a field selector, a patch) and handed out as text when
//! it only needs JSON (the lists a skill reads): no parse, no copy.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// One object of a snapshot, redacted, as compact JSON.
#[derive(Debug)]
pub struct Stored {
    json: Box<RawValue>,
    /// `metadata.labels`, kept parsed for label selectors.
    labels: Option<Map<String, Value>>,
    resource_version: Option<u64>,
}

impl Stored {
    /// Stores `object` (already redacted).
    pub fn new(object: &Value) -> Self {
        let json =
            serde_json::value::to_raw_value(object).expect("a serde_json::Value always serializes");
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .filter(|m| !m.is_empty())
            .cloned();
        Stored {
            json,
            labels,
            resource_version: resource_version_of(object),
        }
    }

    /// The object as a tree (parsed on every call).
    pub fn value(&self) -> Value {
        serde_json::from_str(self.json.get()).expect("stored JSON was written by serde_json")
    }

    /// The object's JSON text.
    pub fn json(&self) -> &RawValue {
        &self.json
    }

    pub fn labels(&self) -> Option<&Map<String, Value>> {
        self.labels.as_ref()
    }

    pub fn resource_version(&self) -> Option<u64> {
        self.resource_version
    }

    /// Bytes held for this object (JSON text and labels, roughly).
    pub fn size(&self) -> usize {
        self.json.get().len()
    }
}

impl Serialize for Stored {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

/// `metadata.resourceVersion` as a number. Resource versions are opaque in
/// the API, but etcd-backed servers (all real ones) use increasing integers,
/// which is what lets us pick the newer of two copies.
pub fn resource_version_of(object: &Value) -> Option<u64> {
    object
        .get("metadata")?
        .get("resourceVersion")?
        .as_str()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_and_serializes_as_is() {
        let object = json!({"kind": "Pod", "metadata": {"name": "a", "resourceVersion": "42",
            "labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}});
        let stored = Stored::new(&object);
        assert_eq!(stored.value(), object);
        assert_eq!(stored.resource_version(), Some(42));
        assert_eq!(stored.labels().unwrap()["app"], "web");
        assert_eq!(serde_json::to_value(&stored).unwrap(), object);
        assert!(!stored.json().get().contains(' '), "compact");
    }
}
