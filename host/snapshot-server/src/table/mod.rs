//! Server-side printing: the `meta.k8s.io/v1` `Table` kubectl asks for with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.
//!
//! Columns and cells follow the API server's printers (`pkg/printers/
//! internalversion`) for the kinds an SRE looks at first; every other kind
//! gets NAME and AGE. Ages are relative to the clock of the machine serving
//! the snapshot, as a live API server's are (so an old snapshot shows old
//! ages, which is true).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use guardian_kube_types::ResourceKind;
use serde_json::{Value, json};

/// What each row carries besides its cells (`?includeObject=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    /// A `PartialObjectMetadata`: what kubectl needs for `-A` (namespace)
    /// and `--show-labels`. The API server's default.
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(value: Option<&str>) -> Self {
        match value {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// Whether an `Accept` header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|media| {
        let params: Vec<&str> = media.split(';').map(str::trim).collect();
        params.contains(&"as=Table") && params.contains(&"g=meta.k8s.io")
    })
}

mod cells;
mod printers;

pub use cells::human_duration;

/// One column of a Table.
struct Column {
    name: &'static str,
    kind: &'static str,
    priority: u8,
}

const fn col(name: &'static str, kind: &'static str, priority: u8) -> Column {
    Column {
        name,
        kind,
        priority,
    }
}

/// The cells of one row: the object, and now in microseconds since the
/// epoch (ages are relative to it).
type Cells = fn(&Value, i64) -> Vec<Value>;

/// How the API server prints the kinds it names: their columns and the
/// cells of a row.
struct Printer {
    /// (group, kind) of each kind printed this way.
    kinds: &'static [(&'static str, &'static str)],
    columns: &'static [Column],
    cells: Cells,
}

/// The Table for these objects. `metadata` is the list's (resourceVersion,
/// continue); items are already redacted.
pub fn table(
    kind: &ResourceKind,
    items: &[Arc<Value>],
    include: IncludeObject,
    metadata: Value,
    now: DateTime<Utc>,
) -> Value {
    let printer = printers::of(kind);
    let now = now.timestamp_micros();
    let definitions: Vec<Value> = printer
        .columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.kind,
                "format": if c.name == "Name" { "name" } else { "" },
                "description": "",
                "priority": c.priority,
            })
        })
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let mut row = json!({"cells": (printer.cells)(item, now)});
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": item.get("metadata").cloned().unwrap_or(json!({})),
                    });
                }
                IncludeObject::Object => row["object"] = Value::clone(item),
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_that_ask_for_tables() {
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json, */*"));
    }
}
