//! The evidence chain of a failing group, in the order a finding lists it:
//! the states of its failing pods (and of the healthy ones still serving),
//! the events of the pods and their owners, and the objects the pod spec
//! references. The log comes from `log.rs`, the spec evidence from the
//! root-cause search.

use std::collections::BTreeSet;

use crate::analyzers::patterns;
use crate::analyzers::refs::{self, Issue, Problem as RefProblem, Report};
use crate::ctx::Scope;
use crate::finding::{Evidence, ObjRef, Source};
use crate::model::{Event, Pod};
use crate::reasons as r;

use super::Group;
use super::classify::is_ready;
use super::events::EventIndex;

/// Pods whose state is quoted per finding.
const MAX_POD_STATES: usize = 3;
/// Event lines quoted per finding.
const MAX_EVENTS: usize = 6;

/// The states of the failing pods (the first few), then the ready pods of
/// the same workload still serving (an older revision). `wl` is the
/// workload as displayed.
pub(super) fn pod_states(scope: &Scope, wl: &str, group: &Group) -> Vec<Evidence> {
    let mut out = Vec::new();
    let n = group.failing.len();
    for (pod, p) in group.failing.iter().take(MAX_POD_STATES) {
        let reference = match &p.container {
            Some(c) => format!(
                "Pod {}/{} container {c}",
                scope.namespace, pod.metadata.name
            ),
            None => format!("Pod {}/{}", scope.namespace, pod.metadata.name),
        };
        out.push(Evidence::new(Source::Status, reference, p.status.clone()));
    }
    if n > MAX_POD_STATES {
        out.push(Evidence::new(
            Source::Status,
            format!("{wl} pods"),
            format!("and {} more pods in the same state", n - MAX_POD_STATES),
        ));
    }
    for pod in group.others.iter().filter(|p| is_ready(p)).take(2) {
        let owner = pod
            .metadata
            .controller()
            .map(|o| format!("{} {}", o.kind, o.name))
            .unwrap_or_default();
        let images: Vec<&str> = pod
            .spec
            .containers
            .iter()
            .filter_map(|c| c.image.as_deref())
            .collect();
        out.push(Evidence::new(
            Source::Status,
            format!("Pod {}/{}", scope.namespace, pod.metadata.name),
            format!(
                "Ready and still serving ({owner}, image {})",
                images.join(", ")
            ),
        ));
    }
    out
}

/// Warning (and back-off) events of the failing pods, then of the workload
/// and its ReplicaSets; one line per reason and message.
pub(super) fn events(
    scope: &Scope,
    events: &EventIndex,
    workload: &ObjRef,
    group: &Group,
) -> Vec<Evidence> {
    let mut out = Vec::new();
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut push = |kind: &str, name: &str, e: &Event, out: &mut Vec<Evidence>| {
        let reason = e.reason.clone().unwrap_or_default();
        let message = e.message.clone().unwrap_or_default();
        // The same event on sibling pods differs only in names and IPs.
        let key: String = message
            .replace(name, "")
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .take(120)
            .collect();
        if out.len() >= MAX_EVENTS || !seen.insert((reason.clone(), key)) {
            return;
        }
        let count = e.occurrences();
        let times = if count > 1 {
            format!(" (×{count})")
        } else {
            String::new()
        };
        out.push(Evidence::new(
            Source::Event,
            format!("Event {reason} on {kind} {}/{name}", scope.namespace),
            format!("{reason}{times}: {}", patterns::clip(&message, 400)),
        ));
    };
    let mut reasons_seen: BTreeSet<String> = BTreeSet::new();
    for (i, (pod, _)) in group.failing.iter().enumerate() {
        let mut reasons_here = BTreeSet::new();
        for e in events.of("Pod", &pod.metadata.name) {
            let warning = e.type_.as_deref() == Some("Warning");
            let reason = e.reason.clone().unwrap_or_default();
            // Sibling pods repeat the first pod's events: only new reasons.
            if i > 0 && reasons_seen.contains(&reason) {
                continue;
            }
            if warning || reason == "BackOff" {
                push("Pod", &pod.metadata.name, e, &mut out);
                reasons_here.insert(reason);
            }
        }
        reasons_seen.extend(reasons_here);
    }
    // The workload and the ReplicaSets/Jobs that created the pods.
    let mut owners: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (pod, _) in &group.failing {
        if let Some(o) = pod.metadata.controller() {
            owners.insert((o.kind.as_str(), o.name.as_str()));
        }
    }
    owners.insert((workload.kind.as_str(), workload.name.as_str()));
    for (kind, name) in owners {
        for e in events.of(kind, name) {
            if e.type_.as_deref() == Some("Warning") {
                push(kind, name, e, &mut out);
            }
        }
    }
    out
}

/// What the objects the pod spec references hold, and the references that
/// do not resolve, kept to those that matter for `reason` (claims for
/// scheduling, pull secrets for image pulls, ConfigMaps and Secrets for
/// config errors and crashes). Returns the evidence and those issues.
pub(super) fn references<'r>(
    scope: &Scope,
    pod: &Pod,
    report: &'r Report,
    reason: &str,
) -> (Vec<Evidence>, Vec<&'r Issue>) {
    let mut out = Vec::new();
    let config_reason = matches!(
        reason,
        r::CREATE_CONTAINER_CONFIG_ERROR
            | r::CREATE_CONTAINER_ERROR
            | r::CRASH_LOOP_BACK_OFF
            | r::CONTAINER_FAILING
            | r::INIT_CONTAINER_FAILING
            | r::MISSING_CONFIG_REFERENCE
            | r::POD_PENDING
    );
    let pull_secrets: BTreeSet<&str> = pod
        .spec
        .image_pull_secrets
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    for (source, reference, text) in &report.evidence {
        let is_claim = reference.starts_with("PersistentVolumeClaim");
        let is_pull = reference
            .strip_prefix(&format!("Secret {}/", scope.namespace))
            .is_some_and(|n| pull_secrets.contains(n));
        let keep = if is_claim {
            matches!(reason, r::UNSCHEDULABLE | r::POD_PENDING)
        } else if is_pull {
            reason == r::IMAGE_PULL_BACK_OFF
        } else {
            config_reason
        };
        if keep {
            out.push(Evidence::new(*source, reference.clone(), text.clone()));
        }
    }
    let relevant: Vec<&Issue> = report
        .issues
        .iter()
        .filter(|i| match &i.problem {
            RefProblem::ClaimNotBound { .. } => matches!(reason, r::UNSCHEDULABLE | r::POD_PENDING),
            _ if matches!(i.via, refs::Via::PullSecret) => reason == r::IMAGE_PULL_BACK_OFF,
            _ => true,
        })
        .collect();
    for issue in &relevant {
        let (s, rf, t) = issue.evidence();
        out.push(Evidence::new(s, rf, t));
    }
    (out, relevant)
}
