//! The namespace's events, indexed by the object they are about.

use std::collections::BTreeMap;

use crate::ctx::Scope;
use crate::model::Event;

/// Events by the object they are about, built once per namespace.
pub struct EventIndex<'s> {
    by_object: BTreeMap<&'s str, BTreeMap<&'s str, Vec<&'s Event>>>,
}

impl<'s> EventIndex<'s> {
    pub fn new(scope: &'s Scope) -> Self {
        Self::of_events(&scope.events)
    }

    /// The index of `events` (oldest first).
    pub fn of_events(events: impl IntoIterator<Item = &'s Event>) -> Self {
        let mut by_object: BTreeMap<&str, BTreeMap<&str, Vec<&Event>>> = BTreeMap::new();
        for e in events {
            by_object
                .entry(e.involved_object.kind.as_str())
                .or_default()
                .entry(e.involved_object.name.as_str())
                .or_default()
                .push(e);
        }
        EventIndex { by_object }
    }

    /// Events about `kind`/`name`, oldest first.
    pub fn of(&self, kind: &str, name: &str) -> &[&'s Event] {
        self.by_object
            .get(kind)
            .and_then(|m| m.get(name))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}
