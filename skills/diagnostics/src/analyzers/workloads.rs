//! Deployment, ReplicaSet, StatefulSet and DaemonSet analyzers: rollouts
//! past their deadline, replicas that are not available, ReplicaSets that
//! cannot create pods (quota, PodSecurity), StatefulSets without their
//! governing Service, misscheduled DaemonSets.
//!
//! They run after the Pod analyzer: when it already reported on a workload
//! (its pods crash, cannot pull…), the workload's condition is added to that
//! finding as evidence instead of a second finding.

use std::cell::OnceCell;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::ctx::{Scope, controller_of, name_of};
use crate::finding::{Evidence, Finding, ObjRef, Severity, Source};
use crate::model::Pod;
use crate::reasons as r;

use super::pods::{EventIndex, container_state, is_ready};
use super::template::{Owners, ReplicaSets, existing, template_of};

/// Pods by workload, built on first use.
struct PodsBy<'s> {
    scope: &'s Scope<'s>,
    map: OnceCell<BTreeMap<ObjRef, Vec<&'s Pod>>>,
}

impl<'s> PodsBy<'s> {
    fn new(scope: &'s Scope<'s>) -> Self {
        PodsBy {
            scope,
            map: OnceCell::new(),
        }
    }

    fn of(&self, workload: &ObjRef) -> &[&'s Pod] {
        let map = self.map.get_or_init(|| {
            let owners = Owners::new(self.scope);
            let mut map: BTreeMap<ObjRef, Vec<&Pod>> = BTreeMap::new();
            for pod in &self.scope.pods {
                map.entry(owners.workload_of(pod)).or_default().push(pod);
            }
            map
        });
        map.get(workload).map(Vec::as_slice).unwrap_or(&[])
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// The condition `type_` of an object's status.
fn condition<'v>(object: &'v Value, type_: &str) -> Option<&'v Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"].as_str() == Some(type_))
}

fn condition_text(c: &Value) -> String {
    format!(
        "{}={} {}: {}",
        c["type"].as_str().unwrap_or(""),
        c["status"].as_str().unwrap_or(""),
        c["reason"].as_str().unwrap_or(""),
        c["message"].as_str().unwrap_or("")
    )
}

/// Adds `evidence` to `finding` unless the same text is there already.
fn add_once(finding: &mut Finding, evidence: Evidence) {
    if !finding.evidence.iter().any(|e| e.text == evidence.text) {
        finding.evidence.push(evidence);
    }
}

/// Evidence lines for the pods of a workload that are not ready.
fn pod_states(scope: &Scope, pods: &[&Pod]) -> Vec<Evidence> {
    let mut out = Vec::new();
    for pod in pods.iter().filter(|p| !is_ready(p)).take(3) {
        let phase = pod.status.phase.as_deref().unwrap_or("Unknown");
        let states: Vec<String> = pod
            .status
            .container_statuses
            .iter()
            .map(|c| format!("{}: {}", c.name, container_state(c)))
            .collect();
        let text = if states.is_empty() {
            format!("{phase}, not ready")
        } else {
            format!("{phase}, not ready; {}", states.join("; "))
        };
        out.push(Evidence::new(
            Source::Status,
            format!("Pod {}/{}", scope.namespace, pod.metadata.name),
            text,
        ));
    }
    out
}

/// Why a ReplicaSet (or any controller) cannot create pods: its
/// `ReplicaFailure` condition, else its latest `FailedCreate` event.
fn create_failure(events: &EventIndex, kind: &str, object: &Value) -> Option<(String, Evidence)> {
    let name = name_of(object);
    if let Some(c) = condition(object, "ReplicaFailure")
        && c["status"].as_str() == Some("True")
    {
        let msg = c["message"].as_str().unwrap_or("").to_string();
        let ev = Evidence::new(
            Source::Status,
            format!("{kind} {name} condition ReplicaFailure"),
            condition_text(c),
        );
        return Some((msg, ev));
    }
    let e = events.of(kind, name).iter().rev().find(|e| {
        e.type_.as_deref() == Some("Warning") && e.reason.as_deref() == Some("FailedCreate")
    })?;
    let msg = e.message.clone().unwrap_or_default();
    let count = e.occurrences();
    let ev = Evidence::new(
        Source::Event,
        format!("Event FailedCreate on {kind} {name}"),
        format!(
            "FailedCreate{}: {msg}",
            if count > 1 {
                format!(" (×{count})")
            } else {
                String::new()
            }
        ),
    );
    Some((msg, ev))
}

/// `exceeded quota: …` / `violates PodSecurity …`: the part of a
/// FailedCreate message worth a sentence.
fn failure_summary(msg: &str) -> String {
    let m = msg.strip_prefix("Error creating: ").unwrap_or(msg);
    super::patterns::clip(m, 300)
}

pub fn deployments(scope: &Scope, out: &mut Vec<Finding>) {
    let events = EventIndex::new(scope);
    let pods = PodsBy::new(scope);
    let replicasets = ReplicaSets::new(scope);
    for d in scope.objects("deployments.apps") {
        let name = name_of(d);
        let obj = ObjRef::new("apps/v1", "Deployment", Some(&scope.namespace), name);
        let spec_replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
        let st = &d["status"];
        let available = int(&st["availableReplicas"]);
        let updated = int(&st["updatedReplicas"]);
        let unavailable = int(&st["unavailableReplicas"]);
        let paused = d["spec"]["paused"].as_bool() == Some(true);
        let deadline = condition(d, "Progressing").filter(|c| {
            c["status"].as_str() == Some("False")
                && c["reason"].as_str() == Some("ProgressDeadlineExceeded")
        });
        let failure =
            condition(d, "ReplicaFailure").filter(|c| c["status"].as_str() == Some("True"));
        let not_available =
            condition(d, "Available").filter(|c| c["status"].as_str() == Some("False"));
        let (current, _) = replicasets.revisions(d);
        let rs_failure = current.and_then(|(rs, _)| {
            // Only while the ReplicaSet still lacks pods.
            let missing =
                rs["spec"]["replicas"].as_i64().unwrap_or(0) > int(&rs["status"]["replicas"]);
            if missing {
                create_failure(&events, "ReplicaSet", rs).map(|f| (name_of(rs), f))
            } else {
                None
            }
        });
        if spec_replicas == 0
            || (deadline.is_none()
                && failure.is_none()
                && not_available.is_none()
                && rs_failure.is_none())
        {
            continue;
        }
        if paused && failure.is_none() && rs_failure.is_none() && not_available.is_none() {
            continue;
        }
        let mut status = format!(
            "{available}/{spec_replicas} available, {updated} updated, {unavailable} unavailable"
        );
        for c in [deadline, failure, not_available].into_iter().flatten() {
            status.push_str(&format!("; {}", condition_text(c)));
        }
        let status_ev = Evidence::new(
            Source::Status,
            format!("Deployment {}/{name} status", scope.namespace),
            status,
        );
        if let Some(f) = existing(out, &obj) {
            add_once(f, status_ev);
            if let Some((_, (_, ev))) = &rs_failure {
                add_once(f, ev.clone());
            }
            continue;
        }
        let severity = if available == 0 {
            Severity::Critical
        } else {
            Severity::Error
        };
        let mut finding = if let Some((rs_name, (msg, ev))) = rs_failure {
            let mut f = Finding::new(
                obj.clone(),
                severity,
                r::REPLICA_SET_CREATE_FAILED,
                format!("ReplicaSet {rs_name} of Deployment {}/{name} cannot create pods; {available}/{spec_replicas} available", scope.namespace),
            )
            .root_cause(format!(
                "the API server refuses the pods of ReplicaSet {rs_name} (Deployment {}/{name}): {}",
                scope.namespace,
                failure_summary(&msg)
            ));
            f.evidence.push(status_ev);
            f.evidence.push(ev);
            let template = template_of(scope, &obj);
            if let Some(a) = super::admission::explain(scope, template.as_ref(), &msg) {
                f.root_cause = Some(format!(
                    "the API server refuses the pods of ReplicaSet {rs_name} (Deployment {}/{name}): {}",
                    scope.namespace, a.root
                ));
                f.evidence.extend(a.evidence);
                f.fixes.extend(a.fixes);
            }
            f
        } else if let Some(c) = deadline {
            let mut f = Finding::new(
                obj.clone(),
                severity,
                r::PROGRESS_DEADLINE_EXCEEDED,
                format!(
                    "the rollout of Deployment {}/{name} exceeded its progress deadline: {}",
                    scope.namespace,
                    c["message"].as_str().unwrap_or("")
                ),
            );
            f.evidence.push(status_ev);
            f
        } else {
            let mut f = Finding::new(
                obj.clone(),
                severity,
                r::REPLICAS_UNAVAILABLE,
                format!(
                    "Deployment {}/{name} has {available}/{spec_replicas} replicas available",
                    scope.namespace
                ),
            );
            f.evidence.push(status_ev);
            f
        };
        finding.evidence.extend(pod_states(scope, pods.of(&obj)));
        for e in events
            .of("Deployment", name)
            .iter()
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .take(3)
        {
            finding.evidence.push(Evidence::new(
                Source::Event,
                format!(
                    "Event {} on Deployment {}/{name}",
                    e.reason.as_deref().unwrap_or(""),
                    scope.namespace
                ),
                e.message.clone().unwrap_or_default(),
            ));
        }
        out.push(finding);
    }
}

pub fn replicasets(scope: &Scope, out: &mut Vec<Finding>) {
    let events = EventIndex::new(scope);
    for rs in scope.objects("replicasets.apps") {
        let name = name_of(rs);
        let missing = rs["spec"]["replicas"].as_i64().unwrap_or(1) > int(&rs["status"]["replicas"]);
        if !missing {
            continue;
        }
        let Some((msg, ev)) = create_failure(&events, "ReplicaSet", rs) else {
            continue;
        };
        let owner = controller_of(rs)
            .map(|(api, kind, n)| ObjRef::new(&api, &kind, Some(&scope.namespace), &n));
        let obj = ObjRef::new("apps/v1", "ReplicaSet", Some(&scope.namespace), name);
        if let Some(o) = &owner
            && let Some(f) = existing(out, o)
        {
            add_once(f, ev);
            continue;
        }
        if let Some(f) = existing(out, &obj) {
            add_once(f, ev);
            continue;
        }
        let mut f = Finding::new(
            obj,
            Severity::Error,
            r::REPLICA_SET_CREATE_FAILED,
            format!("ReplicaSet {}/{name} cannot create pods", scope.namespace),
        )
        .root_cause(format!(
            "the API server refuses the pods of ReplicaSet {}/{name}: {}",
            scope.namespace,
            failure_summary(&msg)
        ));
        f.evidence.push(ev);
        f.owner = owner;
        out.push(f);
    }
}

pub fn statefulsets(scope: &Scope, out: &mut Vec<Finding>) {
    let events = EventIndex::new(scope);
    let pods = PodsBy::new(scope);
    for s in scope.objects("statefulsets.apps") {
        let name = name_of(s);
        let ns = scope.namespace.as_str();
        let obj = ObjRef::new("apps/v1", "StatefulSet", Some(ns), name);
        // The governing Service gives the pods their stable DNS names.
        if let Some(svc) = s["spec"]["serviceName"].as_str().filter(|n| !n.is_empty())
            && scope.readable("services")
            && scope.find("services", svc).is_none()
        {
            let f = Finding::new(
                obj.clone(),
                Severity::Warning,
                r::STATEFUL_SET_SERVICE_MISSING,
                format!("StatefulSet {ns}/{name} names the governing Service `{svc}`, which does not exist"),
            )
            .root_cause(format!(
                "spec.serviceName of StatefulSet {ns}/{name} is `{svc}`, but there is no Service `{svc}` in {ns}, so its pods get no stable DNS names"
            ))
            .evidence(Source::Spec, format!("StatefulSet {ns}/{name} spec.serviceName"), svc.to_string());
            out.push(f);
        }
        let replicas = s["spec"]["replicas"].as_i64().unwrap_or(1);
        let ready = int(&s["status"]["readyReplicas"]);
        if replicas == 0 || ready >= replicas {
            continue;
        }
        let status = format!(
            "{ready}/{replicas} ready, {} current, {} updated (currentRevision {}, updateRevision {})",
            int(&s["status"]["currentReplicas"]),
            int(&s["status"]["updatedReplicas"]),
            s["status"]["currentRevision"].as_str().unwrap_or("?"),
            s["status"]["updateRevision"].as_str().unwrap_or("?"),
        );
        not_ready(
            scope,
            &events,
            &pods,
            out,
            NotReady {
                object: s,
                obj,
                ready,
                status,
                cause: format!("StatefulSet {ns}/{name} has {ready}/{replicas} replicas ready"),
                other_finding: r::STATEFUL_SET_SERVICE_MISSING,
            },
        );
    }
}

pub fn daemonsets(scope: &Scope, out: &mut Vec<Finding>) {
    let events = EventIndex::new(scope);
    let pods = PodsBy::new(scope);
    for d in scope.objects("daemonsets.apps") {
        let name = name_of(d);
        let ns = scope.namespace.as_str();
        let obj = ObjRef::new("apps/v1", "DaemonSet", Some(ns), name);
        let st = &d["status"];
        let desired = int(&st["desiredNumberScheduled"]);
        let ready = int(&st["numberReady"]);
        let unavailable =
            int(&st["numberUnavailable"]).max(desired - int(&st["numberAvailable"]).max(ready));
        let misscheduled = int(&st["numberMisscheduled"]);
        let status = format!(
            "desired {desired}, scheduled {}, ready {ready}, available {}, unavailable {unavailable}, misscheduled {misscheduled}",
            int(&st["currentNumberScheduled"]),
            int(&st["numberAvailable"]),
        );
        if misscheduled > 0 {
            let f = Finding::new(
                obj.clone(),
                Severity::Warning,
                r::DAEMON_SET_MISSCHEDULED,
                format!("{misscheduled} pod(s) of DaemonSet {ns}/{name} run on nodes they should not run on"),
            )
            .root_cause(format!(
                "{misscheduled} node(s) run a pod of DaemonSet {ns}/{name} although the DaemonSet's node selector, affinity or tolerations no longer select them (node labels or taints changed)"
            ))
            .evidence(Source::Status, format!("DaemonSet {ns}/{name} status"), status.clone());
            out.push(f);
        }
        if unavailable <= 0 || desired == 0 {
            continue;
        }
        not_ready(
            scope,
            &events,
            &pods,
            out,
            NotReady {
                object: d,
                obj,
                ready,
                status,
                cause: format!(
                    "DaemonSet {ns}/{name} has {unavailable} of {desired} pods unavailable"
                ),
                other_finding: r::DAEMON_SET_MISSCHEDULED,
            },
        );
    }
}

/// A StatefulSet or DaemonSet some of whose pods are not ready.
struct NotReady<'v> {
    object: &'v Value,
    obj: ObjRef,
    ready: i64,
    /// Its status, in one line.
    status: String,
    /// The finding's cause when it makes one.
    cause: String,
    /// The reason of the other finding this analyzer makes about the same
    /// object (the missing Service, misscheduled pods), which is not the
    /// one to add to.
    other_finding: &'static str,
}

/// Reports a StatefulSet or DaemonSet whose pods are not all ready: its
/// status, and why its controller cannot create pods, are added to the
/// finding the Pod analyzer made about it, or make a finding of their own
/// with the states of its pods.
fn not_ready(
    scope: &Scope,
    events: &EventIndex,
    pods: &PodsBy,
    out: &mut Vec<Finding>,
    n: NotReady,
) {
    let kind = n.obj.kind.as_str();
    let (ns, name) = (scope.namespace.as_str(), n.obj.name.as_str());
    let status_ev = Evidence::new(
        Source::Status,
        format!("{kind} {ns}/{name} status"),
        n.status,
    );
    let failure = create_failure(events, kind, n.object);
    if let Some(f) = existing(out, &n.obj)
        && f.reason != n.other_finding
    {
        add_once(f, status_ev);
        if let Some((_, ev)) = failure {
            add_once(f, ev);
        }
        return;
    }
    let severity = if n.ready == 0 {
        Severity::Critical
    } else {
        Severity::Error
    };
    let mut f = Finding::new(n.obj.clone(), severity, r::REPLICAS_UNAVAILABLE, n.cause);
    f.evidence.push(status_ev);
    if let Some((msg, ev)) = failure {
        f.root_cause = Some(format!(
            "the {kind} controller cannot create the pods of {kind} {ns}/{name}: {}",
            failure_summary(&msg)
        ));
        f.evidence.push(ev);
    }
    f.evidence.extend(pod_states(scope, pods.of(&n.obj)));
    out.push(f);
}
