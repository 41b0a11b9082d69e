//! The pods of a namespace grouped by the workload they belong to, each
//! with its problem: one finding per failing workload, not one per pod.

use std::collections::BTreeMap;

use crate::analyzers::history;
use crate::analyzers::template::Owners;
use crate::ctx::Scope;
use crate::finding::ObjRef;
use crate::model::Pod;

use super::classify::{Problem, classify, is_job_pod, priority};
use super::events::EventIndex;

/// Pods of one workload: the failing ones with their problem, the others.
#[derive(Default)]
pub struct Group<'s> {
    pub failing: Vec<(&'s Pod, Problem)>,
    pub others: Vec<&'s Pod>,
}

impl Group<'_> {
    /// Orders the failing pods worst first: by reason, the ones that did
    /// not recover first, then by name.
    pub(super) fn sort_worst_first(&mut self) {
        self.failing.sort_by(|a, b| {
            priority(a.1.reason)
                .cmp(&priority(b.1.reason))
                .then(a.1.recovered.cmp(&b.1.recovered))
                .then(a.0.metadata.name.cmp(&b.0.metadata.name))
        });
    }

    /// The names of the failing pods, sorted.
    pub(super) fn failing_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .failing
            .iter()
            .map(|(p, _)| p.metadata.name.clone())
            .collect();
        names.sort();
        names
    }
}

/// The pods of `scope` by workload, classified. Pods being deleted are left
/// out, and so are finished Job pods (they are the Job analyzer's).
pub(super) fn by_workload<'s>(
    scope: &'s Scope,
    events: &EventIndex,
) -> BTreeMap<ObjRef, Group<'s>> {
    let owners = Owners::new(scope);
    let mut groups: BTreeMap<ObjRef, Group> = BTreeMap::new();
    for pod in &scope.pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let phase = pod.status.phase.as_deref().unwrap_or("");
        if is_job_pod(pod) && matches!(phase, "Succeeded" | "Failed") {
            continue;
        }
        // Left over by a node's graceful shutdown; the controller replaced it.
        if history::shut_down_with_node(pod) {
            continue;
        }
        let problem = classify(pod, events);
        let workload = owners.workload_of(pod);
        let group = groups.entry(workload).or_default();
        match problem {
            Some(p) => group.failing.push((pod, p)),
            None if phase != "Succeeded" => group.others.push(pod),
            None => {}
        }
    }
    groups
}
