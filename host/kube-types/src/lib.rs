//! The vocabulary every Guardian crate that touches Kubernetes data shares:
//! what a call asks for ([`ListQuery`], [`LogQuery`], [`ObjectRef`]), which
//! resource it names ([`ResourceKind`], resolved kubectl-style by a
//! [`ResourceTable`]), label and field selectors ([`selectors`]), how an
//! object is held ([`Stored`]) and a list answered ([`SharedList`]), which
//! Events are about an object ([`events`]), RFC 3339 timestamps ([`time`]),
//! and the one error type every such call returns ([`BrokerError`]).
//!
//! **Architecture invariant:** data and parsing only — no IO, no cluster, no
//! policy. The broker, the snapshot store and `snapshot serve` all speak it;
//! it depends on none of them.

mod error;
pub mod events;
mod list;
pub mod quantity;
pub mod resources;
pub mod selectors;
mod stored;
pub mod time;

use serde::Serialize;

pub use error::BrokerError;
pub use list::{SharedItem, SharedList};
pub use resources::{ResourceKind, ResourceTable, split_api_version};
pub use stored::{Stored, resource_version_of};

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
