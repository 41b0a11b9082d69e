//! A list answer whose items are shared rather than copied.

use std::sync::Arc;

use serde::Serialize;
use serde::ser::SerializeStruct;
use serde_json::Value;

use crate::Stored;

/// A list answer whose items are shared with where they are held instead of
/// copied.
///
/// A list as one owned `Value` means deep-copying every item — for thousands
/// of pods that copy dominates the call. Callers that only read or serialize
/// the answer (the runtime handing JSON to a skill) take a `SharedList`
/// (the broker's `list_shared`): items are `Arc`s into the snapshot's data,
/// and redaction copies only the Secrets it changes. Serializes exactly like
/// the equivalent list object.
#[derive(Clone, Debug, PartialEq)]
pub struct SharedList {
    /// `v1`, `apps/v1`
    pub api_version: String,
    /// `PodList`
    pub kind: String,
    /// The list's metadata (`resourceVersion`, `remainingItemCount`).
    pub metadata: Value,
    pub items: Vec<SharedItem>,
}

/// One item of a [`SharedList`]: a parsed tree, or an object held as JSON
/// text ([`Stored`], serialized as it is, parsed only if someone needs the
/// tree).
#[derive(Clone, Debug)]
pub enum SharedItem {
    Tree(Arc<Value>),
    Stored(Arc<Stored>),
}

impl SharedItem {
    /// The item as a tree (parses a stored one).
    pub fn to_value(&self) -> Value {
        match self {
            SharedItem::Tree(v) => Value::clone(v),
            SharedItem::Stored(s) => s.value(),
        }
    }

    /// The item as a shared tree (parses a stored one).
    pub fn into_tree(self) -> Arc<Value> {
        match self {
            SharedItem::Tree(v) => v,
            SharedItem::Stored(s) => Arc::new(s.value()),
        }
    }

    /// The tree, to change: a stored item is parsed, a shared tree copied if
    /// someone else holds it.
    pub fn make_mut(&mut self) -> &mut Value {
        if let SharedItem::Stored(s) = self {
            *self = SharedItem::Tree(Arc::new(s.value()));
        }
        match self {
            SharedItem::Tree(v) => Arc::make_mut(v),
            SharedItem::Stored(_) => unreachable!("replaced above"),
        }
    }
}

impl PartialEq for SharedItem {
    fn eq(&self, other: &Self) -> bool {
        self.to_value() == other.to_value()
    }
}

impl Serialize for SharedItem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            SharedItem::Tree(v) => v.serialize(serializer),
            SharedItem::Stored(s) => s.serialize(serializer),
        }
    }
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
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| SharedItem::Tree(Arc::new(item)))
                .collect(),
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
            .map(|item| match item {
                SharedItem::Tree(v) => {
                    Arc::try_unwrap(v).unwrap_or_else(|shared| (*shared).clone())
                }
                SharedItem::Stored(s) => s.value(),
            })
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
        struct Items<'a>(&'a [SharedItem]);
        impl Serialize for Items<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.iter())
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
