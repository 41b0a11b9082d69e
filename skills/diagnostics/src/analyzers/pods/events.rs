//! The namespace's events, indexed by the object they are about.

use std::collections::BTreeMap;

use crate::ctx::Scope;
use crate::model::Event;

/// Events by the object they are about, built once per namespace.
pub struct EventIndex<'s> {
    by_object: BTreeMap<&'s str, BTreeMap<&'s str, Vec<&'s Event>>>,
    /// The time of the newest event, or of the nodes' newest heartbeat when
    /// later: the latest moment the data shows (the scan's "now" as far as
    /// the data can tell).
    latest: Option<&'s str>,
}

impl<'s> EventIndex<'s> {
    pub fn new(scope: &'s Scope) -> Self {
        let mut index = Self::of_events(&scope.events);
        // The nodes' heartbeats say what "now" is when events have expired.
        if let Some(t) = scope.cluster.observed_at.as_deref()
            && index.latest.is_none_or(|l| l < t)
        {
            index.latest = Some(t);
        }
        index
    }

    /// The index of `events` (oldest first).
    pub fn of_events(events: impl IntoIterator<Item = &'s Event>) -> Self {
        let mut by_object: BTreeMap<&str, BTreeMap<&str, Vec<&Event>>> = BTreeMap::new();
        let mut latest: Option<&str> = None;
        for e in events {
            if let Some(t) = e.time()
                && latest.is_none_or(|l| l < t)
            {
                latest = Some(t);
            }
            by_object
                .entry(e.involved_object.kind.as_str())
                .or_default()
                .entry(e.involved_object.name.as_str())
                .or_default()
                .push(e);
        }
        EventIndex { by_object, latest }
    }

    /// The time of the newest event of the namespace.
    pub fn latest(&self) -> Option<&'s str> {
        self.latest
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
