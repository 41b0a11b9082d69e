//! The Pod analyzer: classifies each failing pod (CrashLoopBackOff, image
//! pulls, OOMKilled, config errors, scheduling, probes…), groups the pods of
//! one workload into one finding about the workload, and builds the evidence
//! chain: container states, events, the previous container's log through the
//! pattern library, and cross-checks of everything the pod spec references.
//! The root cause links them (an env var the log says is unset ← a missing
//! optional ConfigMap key) and the fixes patch the workload's pod template.
//!
//! Host calls (logs) happen only for failing workloads, at most two per
//! workload, so a namespace of thousands of healthy pods costs nothing.

use std::collections::{BTreeMap, BTreeSet};

use guardian_skill_sdk::{LogOptions, kube};
use serde_json::Value;

use crate::ctx::{Scope, name_of};
use crate::finding::{Evidence, Finding, Fix, ObjRef, Severity, Source};
use crate::fix;
use crate::model::{Container, ContainerStatus, Event, Pod, resolve_port};
use crate::reasons as r;

use super::patterns::{self, Kind, Match};
use super::refs::{self, Issue, Problem as RefProblem, key_list};
use super::template::{self, Owners, ReplicaSets, Revision, Template, split_image, template_of};

/// Lines of the previous container's log read for a failing container.
const LOG_TAIL: u32 = 50;
/// Lines read when the tail is all stack trace.
const LONG_LOG_TAIL: u32 = 300;
/// Pods whose state is quoted per finding.
const MAX_POD_STATES: usize = 3;
/// Event lines quoted per finding.
const MAX_EVENTS: usize = 6;
/// Log lines quoted per finding.
const MAX_LOG_LINES: usize = 4;

/// Events by the object they are about, built once per namespace.
pub struct EventIndex<'s> {
    by_object: BTreeMap<&'s str, BTreeMap<&'s str, Vec<&'s Event>>>,
}

impl<'s> EventIndex<'s> {
    pub fn new(scope: &'s Scope) -> Self {
        let mut by_object: BTreeMap<&str, BTreeMap<&str, Vec<&Event>>> = BTreeMap::new();
        for e in &scope.events {
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

/// What is wrong with one pod.
#[derive(Clone, Debug)]
pub struct Problem {
    pub reason: &'static str,
    /// The failing container.
    pub container: Option<String>,
    pub init: bool,
    /// The container restarted or was killed but runs and is ready now.
    pub recovered: bool,
    /// What the pod status shows, for evidence.
    pub status: String,
    /// Worth reading the container log.
    pub wants_log: bool,
    /// Read the previous instance's log first.
    pub previous: bool,
}

/// Lower is worse: the reason a group of pods is reported under.
fn priority(reason: &str) -> u8 {
    match reason {
        r::CREATE_CONTAINER_CONFIG_ERROR => 0,
        r::CREATE_CONTAINER_ERROR => 1,
        r::INVALID_IMAGE_NAME => 2,
        r::IMAGE_PULL_BACK_OFF => 3,
        r::OOM_KILLED => 4,
        r::INIT_CONTAINER_FAILING => 5,
        r::CRASH_LOOP_BACK_OFF => 6,
        r::CONTAINER_FAILING => 7,
        r::UNSCHEDULABLE => 8,
        r::MISSING_CONFIG_REFERENCE => 9,
        r::POD_PENDING => 10,
        r::PROBE_FAILING => 11,
        _ => 12,
    }
}

pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

fn is_job_pod(pod: &Pod) -> bool {
    pod.metadata.controller().is_some_and(|o| o.kind == "Job")
}

/// `waiting CrashLoopBackOff (back-off 5m0s …); last terminated Error, exit
/// code 1 at …; 7 restarts`.
pub fn container_state(cs: &ContainerStatus) -> String {
    let mut parts = Vec::new();
    if let Some(w) = &cs.state.waiting {
        let mut s = format!("waiting {}", w.reason.as_deref().unwrap_or("(no reason)"));
        if let Some(m) = w.message.as_deref().filter(|m| !m.is_empty()) {
            s.push_str(&format!(" ({})", patterns::clip(m, 240)));
        }
        parts.push(s);
    } else if let Some(t) = &cs.state.terminated {
        parts.push(format!("terminated {}", terminated_text(t)));
    } else if cs.state.running.is_some() {
        parts.push(if cs.ready {
            "running, ready".into()
        } else {
            "running, not ready".into()
        });
    }
    if let Some(t) = &cs.last_state.terminated {
        parts.push(format!("last terminated {}", terminated_text(t)));
    }
    if cs.restart_count > 0 {
        parts.push(format!(
            "{} restart{}",
            cs.restart_count,
            if cs.restart_count == 1 { "" } else { "s" }
        ));
    }
    parts.join("; ")
}

fn terminated_text(t: &crate::model::StateDetail) -> String {
    let mut s = format!(
        "{}, exit code {}",
        t.reason.as_deref().unwrap_or("(no reason)"),
        t.exit_code.map_or("?".to_string(), |c| c.to_string())
    );
    if let Some(at) = &t.finished_at {
        s.push_str(&format!(" at {at}"));
    }
    if let Some(m) = t.message.as_deref().filter(|m| !m.trim().is_empty()) {
        s.push_str(&format!(" ({})", patterns::clip(m.trim(), 200)));
    }
    s
}

/// The problem of one pod, if it has one. No host calls.
pub fn classify(pod: &Pod, events: &EventIndex) -> Option<Problem> {
    let st = &pod.status;
    let phase = st.phase.as_deref().unwrap_or("");
    let mk = |reason, container: Option<&str>, status: String| Problem {
        reason,
        container: container.map(Into::into),
        init: false,
        recovered: false,
        status,
        wants_log: false,
        previous: false,
    };
    if phase == "Succeeded" {
        return None;
    }
    if phase == "Failed" && st.reason.as_deref() == Some("Evicted") {
        return Some(mk(
            r::EVICTED,
            None,
            format!("Evicted: {}", st.message.as_deref().unwrap_or("")),
        ));
    }
    if let Some(c) = st
        .conditions
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    {
        let msg = c.message.clone().or_else(|| {
            events
                .of("Pod", &pod.metadata.name)
                .iter()
                .rev()
                .find(|e| e.reason.as_deref() == Some("FailedScheduling"))
                .and_then(|e| e.message.clone())
        });
        return Some(mk(
            r::UNSCHEDULABLE,
            None,
            format!(
                "PodScheduled=False {}: {}",
                c.reason.as_deref().unwrap_or(""),
                msg.unwrap_or_default()
            ),
        ));
    }

    // Init containers, in order: the first one not done is the one that matters.
    for cs in &st.init_container_statuses {
        let done = cs
            .state
            .terminated
            .as_ref()
            .is_some_and(|t| t.exit_code == Some(0));
        if done {
            continue;
        }
        // Still running or waiting to start: the pod is initializing (a
        // volume may block it: see the Pending checks below).
        let Some(mut p) = container_problem(cs) else {
            break;
        };
        if matches!(
            p.reason,
            r::CRASH_LOOP_BACK_OFF | r::CONTAINER_FAILING | r::OOM_KILLED
        ) {
            p.reason = r::INIT_CONTAINER_FAILING;
        }
        p.init = true;
        return Some(p);
    }

    let pod_events = events.of("Pod", &pod.metadata.name);
    let mut worst: Option<Problem> = None;
    for cs in &st.container_statuses {
        if let Some(mut p) = container_problem(cs) {
            // Restarts the kubelet made because a liveness (or startup)
            // probe failed: the probe is the problem, not the app's exit.
            if matches!(p.reason, r::CRASH_LOOP_BACK_OFF | r::CONTAINER_FAILING)
                && killed_by_probe(cs, pod_events)
            {
                p.reason = r::PROBE_FAILING;
                p.recovered = false;
            }
            if worst
                .as_ref()
                .is_none_or(|w| priority(p.reason) < priority(w.reason))
            {
                worst = Some(p);
            }
        }
    }
    if worst.is_some() {
        return worst;
    }
    if phase == "Running" && !is_ready(pod) {
        let unhealthy = pod_events
            .iter()
            .any(|e| e.reason.as_deref() == Some("Unhealthy"));
        // Events expire after an hour; a probe aimed at an undeclared port
        // explains a not-ready container on its own.
        let misaimed = st.container_statuses.iter().any(|cs| {
            !cs.ready
                && cs.state.running.is_some()
                && pod
                    .spec
                    .containers
                    .iter()
                    .any(|c| c.name == cs.name && probe_misaimed(c))
        });
        if unhealthy || misaimed {
            let cs = st.container_statuses.iter().find(|c| !c.ready);
            return Some(Problem {
                wants_log: true,
                ..mk(
                    r::PROBE_FAILING,
                    cs.map(|c| c.name.as_str()),
                    cs.map(container_state)
                        .unwrap_or_else(|| "running, not ready".into()),
                )
            });
        }
    }
    if phase == "Pending" {
        let warning = pod_events.iter().rev().find(|e| {
            e.type_.as_deref() == Some("Warning") && e.reason.as_deref() != Some("FailedScheduling")
        });
        if let Some(e) = warning {
            let msg = e.message.as_deref().unwrap_or("");
            let lower = msg.to_ascii_lowercase();
            // `configmap "x" not found`, `secret "x" not found`, `configmap
            // references non-existent config key: k`, `references
            // non-existent secret key: k`, `couldn't find key k in Secret …`.
            let missing_ref = e.reason.as_deref() == Some("FailedMount")
                && (lower.contains("not found")
                    || lower.contains("non-existent")
                    || lower.contains("couldn't find key"))
                && (lower.contains("configmap")
                    || lower.contains("secret")
                    || lower.contains("config key"));
            let reason = if missing_ref {
                r::MISSING_CONFIG_REFERENCE
            } else {
                r::POD_PENDING
            };
            return Some(mk(
                reason,
                None,
                format!(
                    "Pending; {}: {}",
                    e.reason.as_deref().unwrap_or(""),
                    patterns::clip(msg, 300)
                ),
            ));
        }
    }
    if phase == "Failed" {
        return Some(mk(
            r::CONTAINER_FAILING,
            None,
            format!(
                "Failed: {} {}",
                st.reason.as_deref().unwrap_or(""),
                st.message.as_deref().unwrap_or("")
            ),
        ));
    }
    None
}

fn container_problem(cs: &ContainerStatus) -> Option<Problem> {
    let last_oom = cs
        .last_state
        .terminated
        .as_ref()
        .and_then(|t| t.reason.as_deref())
        == Some("OOMKilled");
    let mk = |reason: &'static str, wants_log: bool, previous: bool, recovered: bool| Problem {
        reason,
        container: Some(cs.name.clone()),
        init: false,
        recovered,
        status: container_state(cs),
        wants_log,
        previous,
    };
    if let Some(w) = &cs.state.waiting {
        match w.reason.as_deref().unwrap_or("") {
            "ImagePullBackOff"
            | "ErrImagePull"
            | "ErrImageNeverPull"
            | "RegistryUnavailable"
            | "SignatureValidationFailed" => {
                return Some(mk(r::IMAGE_PULL_BACK_OFF, false, false, false));
            }
            "InvalidImageName" => return Some(mk(r::INVALID_IMAGE_NAME, false, false, false)),
            "CreateContainerConfigError" => {
                return Some(mk(r::CREATE_CONTAINER_CONFIG_ERROR, false, false, false));
            }
            "CreateContainerError"
            | "RunContainerError"
            | "PreCreateHookError"
            | "PostStartHookError"
            | "PreStartHookError" => {
                return Some(mk(
                    r::CREATE_CONTAINER_ERROR,
                    cs.restart_count > 0,
                    true,
                    false,
                ));
            }
            "CrashLoopBackOff" => {
                let reason = if last_oom {
                    r::OOM_KILLED
                } else {
                    r::CRASH_LOOP_BACK_OFF
                };
                return Some(mk(reason, true, true, false));
            }
            _ => {}
        }
    }
    if let Some(t) = &cs.state.terminated {
        if t.reason.as_deref() == Some("OOMKilled") {
            return Some(mk(r::OOM_KILLED, true, false, false));
        }
        if t.exit_code.unwrap_or(0) != 0 {
            return Some(mk(r::CONTAINER_FAILING, true, false, false));
        }
    }
    if let Some(t) = &cs.last_state.terminated
        && cs.restart_count > 0
    {
        if last_oom {
            return Some(mk(r::OOM_KILLED, true, true, cs.ready));
        }
        let benign = matches!(
            t.reason.as_deref(),
            Some("Completed") | Some("Unknown") | Some("ContainerStatusUnknown")
        );
        let failed = t.exit_code.unwrap_or(0) != 0 && !benign;
        // A few restarts long recovered are noise; many are not.
        if failed && (!cs.ready || cs.restart_count >= 3) {
            return Some(mk(r::CONTAINER_FAILING, true, true, cs.ready));
        }
    }
    None
}

/// Whether the last restart of `cs` was the kubelet killing it over a failed
/// liveness or startup probe: it ended on a signal (exit 137/143, not an
/// OOM kill) and the pod's recent events say a probe failed.
fn killed_by_probe(cs: &ContainerStatus, pod_events: &[&Event]) -> bool {
    let signalled = cs.last_state.terminated.as_ref().is_some_and(|t| {
        matches!(t.exit_code, Some(137) | Some(143)) && t.reason.as_deref() != Some("OOMKilled")
    });
    signalled
        && pod_events.iter().any(|e| {
            let msg = e.message.as_deref().unwrap_or("");
            // `spec.containers{name}`: an event about another container.
            let other = e
                .involved_object
                .field_path
                .as_deref()
                .is_some_and(|f| f.contains('{') && !f.contains(&format!("{{{}}}", cs.name)));
            match e.reason.as_deref() {
                _ if other => false,
                Some("Unhealthy") => {
                    msg.starts_with("Liveness probe failed")
                        || msg.starts_with("Startup probe failed")
                }
                Some("Killing") => {
                    msg.contains(&format!("Container {} failed", cs.name))
                        && (msg.contains("liveness probe") || msg.contains("startup probe"))
                }
                _ => false,
            }
        })
}

/// Whether the readiness probe of `c` targets a port none of its declared
/// ports has (containers that declare no ports are not judged).
fn probe_misaimed(c: &Container) -> bool {
    let Some(probe) = &c.readiness_probe else {
        return false;
    };
    let Some(port) = probe
        .http_get
        .as_ref()
        .or(probe.tcp_socket.as_ref())
        .or(probe.grpc.as_ref())
    else {
        return false;
    };
    !c.ports.is_empty()
        && !resolve_port(&port.port, &c.ports)
            .is_some_and(|p| c.ports.iter().any(|cp| cp.container_port == p))
}

/// Pods of one workload: the failing ones with their problem, the others.
#[derive(Default)]
pub struct Group<'s> {
    pub failing: Vec<(&'s Pod, Problem)>,
    pub others: Vec<&'s Pod>,
}

pub fn analyze(scope: &Scope, out: &mut Vec<Finding>) {
    let owners = Owners::new(scope);
    let events = EventIndex::new(scope);
    let replicasets = ReplicaSets::new(scope);
    let mut groups: BTreeMap<ObjRef, Group> = BTreeMap::new();
    for pod in &scope.pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let phase = pod.status.phase.as_deref().unwrap_or("");
        // Finished Job pods are the Job analyzer's.
        if is_job_pod(pod) && matches!(phase, "Succeeded" | "Failed") {
            continue;
        }
        let problem = classify(pod, &events);
        let workload = owners.workload_of(pod);
        let group = groups.entry(workload).or_default();
        match problem {
            Some(p) => group.failing.push((pod, p)),
            None if phase != "Succeeded" => group.others.push(pod),
            None => {}
        }
    }
    for (workload, group) in groups {
        if group.failing.is_empty() {
            continue;
        }
        out.push(build(scope, &events, &replicasets, workload, group));
    }
}

/// Everything known about a failing group, then one finding.
pub fn build(
    scope: &Scope,
    events: &EventIndex,
    replicasets: &ReplicaSets,
    workload: ObjRef,
    mut group: Group,
) -> Finding {
    group.failing.sort_by(|a, b| {
        priority(a.1.reason)
            .cmp(&priority(b.1.reason))
            .then(a.1.recovered.cmp(&b.1.recovered))
            .then(a.0.metadata.name.cmp(&b.0.metadata.name))
    });
    let (rep, problem) = (group.failing[0].0, group.failing[0].1.clone());
    let report = refs::check(scope, &rep.spec);
    // A pod stuck creating its containers while a volume names a ConfigMap or
    // Secret (or key) that does not exist is blocked on that reference, even
    // when its FailedMount events have expired.
    let reason = if problem.reason == r::POD_PENDING
        && report.issues.iter().any(|i| {
            i.blocking()
                && matches!(
                    i.via,
                    refs::Via::Volume { .. } | refs::Via::Projected { .. }
                )
        }) {
        r::MISSING_CONFIG_REFERENCE
    } else {
        problem.reason
    };
    let total = group.failing.len() + group.others.len();
    let ready = group.others.iter().filter(|p| is_ready(p)).count()
        + group.failing.iter().filter(|(p, _)| is_ready(p)).count();
    let all_recovered = group.failing.iter().all(|(_, p)| p.recovered);
    let kind = workload.kind.as_str();
    let severity = if all_recovered || (reason == r::EVICTED && ready > 0) {
        Severity::Warning
    } else if ready == 0 && !matches!(kind, "Job" | "CronJob" | "Pod") {
        Severity::Critical
    } else {
        Severity::Error
    };
    let wl = workload.display();
    let container = problem.container.clone();
    let spec_container: Option<&Container> = container.as_deref().and_then(|c| {
        rep.spec
            .containers
            .iter()
            .chain(&rep.spec.init_containers)
            .find(|x| x.name == c)
    });
    let cs = container.as_deref().and_then(|c| {
        rep.status
            .container_statuses
            .iter()
            .chain(&rep.status.init_container_statuses)
            .find(|x| x.name == c)
    });

    let n = group.failing.len();
    let pods_word = if n == 1 { "pod" } else { "pods" };
    let cname = container.as_deref().unwrap_or("");
    let symptom = match reason {
        r::CRASH_LOOP_BACK_OFF => format!(
            "in CrashLoopBackOff: container `{cname}` {}",
            cs.and_then(|c| c.last_state.terminated.as_ref())
                .map(|t| format!(
                    "exits with code {} ({})",
                    t.exit_code.unwrap_or(-1),
                    t.reason.as_deref().unwrap_or("?")
                ))
                .unwrap_or_else(|| "keeps exiting".into())
        ),
        r::OOM_KILLED => {
            format!("OOMKilled: container `{cname}` is killed for exceeding its memory limit")
        }
        r::IMAGE_PULL_BACK_OFF => format!(
            "in ImagePullBackOff: image `{}` cannot be pulled",
            spec_container
                .and_then(|c| c.image.as_deref())
                .unwrap_or("?")
        ),
        r::INVALID_IMAGE_NAME => format!(
            "in InvalidImageName: `{}`",
            spec_container
                .and_then(|c| c.image.as_deref())
                .unwrap_or("?")
        ),
        r::CREATE_CONTAINER_CONFIG_ERROR => format!(
            "in CreateContainerConfigError: {}",
            cs.and_then(|c| c.state.waiting.as_ref())
                .and_then(|w| w.message.clone())
                .unwrap_or_else(|| format!("container `{cname}` cannot be configured"))
        ),
        r::CREATE_CONTAINER_ERROR => format!(
            "in CreateContainerError: {}",
            cs.and_then(|c| c.state.waiting.as_ref())
                .and_then(|w| w.message.clone())
                .unwrap_or_else(|| format!("container `{cname}` cannot be created"))
        ),
        r::INIT_CONTAINER_FAILING => format!("stuck initializing: init container `{cname}` fails"),
        r::CONTAINER_FAILING => format!("failing: container `{cname}` exits with a non-zero code"),
        r::UNSCHEDULABLE => "Pending: the scheduler cannot place them"
            .replace("them", if n == 1 { "it" } else { "them" }),
        r::PROBE_FAILING
            if cs.is_some_and(|c| killed_by_probe(c, events.of("Pod", &rep.metadata.name))) =>
        {
            format!(
                "restarted by the kubelet: the liveness probe of container `{cname}` fails ({} restarts)",
                cs.map_or(0, |c| c.restart_count)
            )
        }
        r::PROBE_FAILING => {
            format!("Running but not Ready: the probes of container `{cname}` fail")
        }
        r::EVICTED => "Evicted".into(),
        r::MISSING_CONFIG_REFERENCE => {
            "stuck in ContainerCreating: a volume references a missing ConfigMap, Secret or key"
                .into()
        }
        _ => "Pending".into(),
    };
    let cause = format!(
        "{n} {pods_word} of {wl} {} {symptom}; {ready}/{total} ready",
        if n == 1 { "is" } else { "are" },
    );
    let mut finding = Finding::new(workload.clone(), severity, reason, cause);
    finding.pods = group
        .failing
        .iter()
        .map(|(p, _)| p.metadata.name.clone())
        .collect();
    finding.pods.sort();

    // 1. Status of the failing pods.
    for (pod, p) in group.failing.iter().take(MAX_POD_STATES) {
        let reference = match &p.container {
            Some(c) => format!(
                "Pod {}/{} container {c}",
                scope.namespace, pod.metadata.name
            ),
            None => format!("Pod {}/{}", scope.namespace, pod.metadata.name),
        };
        finding
            .evidence
            .push(Evidence::new(Source::Status, reference, p.status.clone()));
    }
    if n > MAX_POD_STATES {
        finding.evidence.push(Evidence::new(
            Source::Status,
            format!("{wl} pods"),
            format!("and {} more pods in the same state", n - MAX_POD_STATES),
        ));
    }
    // Healthy pods of the same workload still serving (an older revision).
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
        finding.evidence.push(Evidence::new(
            Source::Status,
            format!("Pod {}/{}", scope.namespace, pod.metadata.name),
            format!(
                "Ready and still serving ({owner}, image {})",
                images.join(", ")
            ),
        ));
    }

    // 2. Events.
    finding
        .evidence
        .extend(event_evidence(scope, events, &workload, &group));

    // 3. The log.
    let mut log_matches: Vec<Match> = Vec::new();
    let mut log_ref = String::new();
    let mut log_text = String::new();
    if problem.wants_log
        && let Some(c) = &container
    {
        let log = read_log(scope, &rep.metadata.name, c, problem.previous);
        finding.evidence.extend(log.evidence(reason));
        log_matches = log.matches;
        log_ref = log.reference;
        log_text = log.text;
    }

    // 4. Cross-checks of what the spec references.
    let template = template_of(scope, &workload);
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
    let pull_secrets: BTreeSet<&str> = rep
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
            finding
                .evidence
                .push(Evidence::new(*source, reference.clone(), text.clone()));
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
        finding.evidence.push(Evidence::new(s, rf, t));
    }

    // 5. Spec: revisions, probes, resources, nodes.
    let mut ctx = Ctx {
        scope,
        replicasets,
        workload: &workload,
        template: template.as_ref(),
        rep,
        container: container.as_deref(),
        spec_container,
        finding: &mut finding,
        root: None,
        fixes: Vec::new(),
    };
    if kind == "Deployment" {
        ctx.revision_evidence();
    }
    let probe = ctx.probe_check(&log_matches);
    match reason {
        r::OOM_KILLED => ctx.oom(&log_text),
        r::IMAGE_PULL_BACK_OFF | r::INVALID_IMAGE_NAME => ctx.image(events),
        r::UNSCHEDULABLE => ctx.unschedulable(&problem.status, &relevant),
        _ => {}
    }

    // Root cause: config references, linked to the log when it names a variable.
    if ctx.root.is_none() {
        ctx.config_root(&relevant, &log_matches, &log_ref);
    }
    if ctx.root.is_none()
        && let Some(p) = probe
    {
        ctx.root = Some(p.0);
        ctx.fixes.extend(p.1);
    }
    if ctx.root.is_none()
        && matches!(
            reason,
            r::PROBE_FAILING | r::CRASH_LOOP_BACK_OFF | r::CONTAINER_FAILING
        )
    {
        ctx.probe_path(events, cs, &log_text);
    }
    if ctx.root.is_none()
        && reason == r::PROBE_FAILING
        && let Some(e) = events
            .of("Pod", &rep.metadata.name)
            .iter()
            .rev()
            .find(|e| e.reason.as_deref() == Some("Unhealthy"))
    {
        ctx.root = Some(format!(
            "the probe of container `{cname}` of {wl} fails: {}",
            e.message.as_deref().unwrap_or("")
        ));
    }
    // The kubelet kills a container whose liveness probe fails.
    if ctx.root.is_none()
        && matches!(reason, r::CRASH_LOOP_BACK_OFF | r::CONTAINER_FAILING)
        && let Some(e) = events.of("Pod", &rep.metadata.name).iter().rev().find(|e| {
            e.reason.as_deref() == Some("Unhealthy")
                && e.message.as_deref().is_some_and(|m| {
                    m.starts_with("Liveness probe failed") || m.starts_with("Startup probe failed")
                })
        })
    {
        ctx.root = Some(format!(
            "the kubelet restarts container `{cname}` of {wl} because its probe fails: {}",
            e.message.as_deref().unwrap_or("")
        ));
    }
    if ctx.root.is_none()
        && let Some(m) = patterns::most_telling(&log_matches, 1).first()
        && matches!(
            reason,
            r::CRASH_LOOP_BACK_OFF
                | r::CONTAINER_FAILING
                | r::INIT_CONTAINER_FAILING
                | r::CREATE_CONTAINER_ERROR
        )
    {
        ctx.root = Some(match (m.kind, m.target.as_deref()) {
            (Kind::MissingModule, Some(module)) => format!(
                "container `{cname}` of {wl} exits at startup because module `{module}` is not in its image{}: `{}`",
                spec_container
                    .and_then(|c| c.image.as_deref())
                    .map(|i| format!(" `{i}`"))
                    .unwrap_or_default(),
                patterns::quote(m, 200)
            ),
            _ => format!(
                "container `{cname}` of {wl} fails with {}: `{}`",
                m.kind.label(),
                patterns::quote(m, 200)
            ),
        });
        ctx.host_path_link(m);
    }
    if ctx.root.is_none()
        && matches!(
            reason,
            r::CREATE_CONTAINER_CONFIG_ERROR | r::CREATE_CONTAINER_ERROR
        )
        && let Some(msg) = cs
            .and_then(|c| c.state.waiting.as_ref())
            .and_then(|w| w.message.clone())
    {
        ctx.root = Some(format!(
            "the kubelet cannot create container `{cname}` of {wl}: {msg}"
        ));
    }
    if ctx.root.is_none() && reason == r::EVICTED {
        let msg = rep.status.message.as_deref().unwrap_or("").trim();
        ctx.root = Some(format!(
            "the kubelet evicted {n} {pods_word} of {wl} under node pressure: {msg}{}",
            if ready > 0 {
                " (their replacements run; the Failed pods are left over until deleted)"
            } else {
                ""
            }
        ));
    }
    let root = ctx.root.take();
    let mut fixes = std::mem::take(&mut ctx.fixes);
    if kind == "Pod" {
        let note = "the Pod has no controller and a Pod's spec is immutable: no patch is proposed; fix the manifest it was created from and re-create it";
        fixes.retain(|f| f.target.kind != "Pod");
        finding.evidence.push(Evidence::new(
            Source::Spec,
            format!("Pod {}/{}", scope.namespace, rep.metadata.name),
            note,
        ));
    }
    if let Some(root) = root {
        finding.root_cause = Some(root);
    }
    finding.fixes = fixes;
    finding
}

/// Warning (and back-off) events of the failing pods, then of the workload
/// and its ReplicaSets; one line per reason and message.
fn event_evidence(
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

/// A container log, read and scanned.
pub struct Log {
    pub reference: String,
    pub text: String,
    pub matches: Vec<Match>,
    pub error: Option<String>,
}

/// Reads the previous instance's log (when `previous`), falling back to the
/// current one, and scans it.
pub fn read_log(scope: &Scope, pod: &str, container: &str, previous: bool) -> Log {
    let mut error = None;
    let attempts: &[bool] = if previous { &[true, false] } else { &[false] };
    for &prev in attempts {
        if !super::budget::failing_log() {
            error.get_or_insert_with(|| {
                format!(
                    "not read: this scan already read its share of {} logs in this namespace; re-run the scan on namespace {} alone",
                    super::budget::failing_share(),
                    scope.namespace
                )
            });
            break;
        }
        let options = LogOptions {
            container: Some(container.to_string()),
            tail_lines: Some(LOG_TAIL),
            previous: prev,
        };
        match kube::logs(&scope.namespace, pod, &options) {
            Ok(mut text) => {
                let mut matches = patterns::scan(&text);
                // A long stack trace fills the tail: what caused it (an unset
                // variable, a refused connection) is logged above it.
                let full = text.lines().count() >= LOG_TAIL as usize;
                let trace = matches
                    .iter()
                    .any(|m| matches!(m.kind, Kind::Exception | Kind::StackTrace | Kind::Panic));
                let specific = matches.iter().any(|m| m.kind < Kind::Panic);
                if full && trace && !specific {
                    let longer = LogOptions {
                        tail_lines: Some(LONG_LOG_TAIL),
                        ..options
                    };
                    if super::budget::failing_log()
                        && let Ok(more) = kube::logs(&scope.namespace, pod, &longer)
                    {
                        matches = patterns::scan(&more);
                        text = more;
                    }
                }
                return Log {
                    reference: format!(
                        "log of Pod {}/{pod} container {container}{}",
                        scope.namespace,
                        if prev { " (previous)" } else { "" }
                    ),
                    text,
                    matches,
                    error: None,
                };
            }
            Err(e) => {
                if error.is_none() {
                    error = Some(e.describe());
                }
            }
        }
    }
    Log {
        reference: format!("log of Pod {}/{pod} container {container}", scope.namespace),
        text: String::new(),
        matches: Vec::new(),
        error,
    }
}

impl Log {
    /// The lines worth quoting; for a log without telling lines, how it ends.
    pub fn evidence(&self, reason: &str) -> Vec<Evidence> {
        let mut out = Vec::new();
        if let Some(e) = &self.error {
            out.push(Evidence::new(
                Source::Log,
                self.reference.clone(),
                format!("log unavailable: {e}"),
            ));
            return out;
        }
        let telling = patterns::most_telling(&self.matches, MAX_LOG_LINES);
        for m in &telling {
            out.push(Evidence::new(
                Source::Log,
                format!("{} line {}", self.reference, m.line_no),
                format!("{}: {}", m.kind.label(), m.line),
            ));
        }
        if telling.is_empty() || reason == r::OOM_KILLED || reason == r::PROBE_FAILING {
            if reason == r::PROBE_FAILING {
                if let Some(m) = self.matches.iter().find(|m| m.kind == Kind::Listening) {
                    out.push(Evidence::new(
                        Source::Log,
                        format!("{} line {}", self.reference, m.line_no),
                        format!(
                            "the app says it listens on port {}: {}",
                            m.port.unwrap_or(0),
                            m.line
                        ),
                    ));
                }
            } else if let Some((i, last)) = self
                .text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .last()
            {
                out.push(Evidence::new(
                    Source::Log,
                    format!("{} line {}", self.reference, i + 1),
                    format!(
                        "the log ends with: {}",
                        patterns::clip(last.trim(), patterns::MAX_LINE)
                    ),
                ));
            }
        }
        out
    }
}

struct Ctx<'a, 's> {
    scope: &'a Scope<'s>,
    replicasets: &'a ReplicaSets<'a>,
    workload: &'a ObjRef,
    template: Option<&'a Template<'a>>,
    rep: &'a Pod,
    container: Option<&'a str>,
    spec_container: Option<&'a Container>,
    finding: &'a mut Finding,
    root: Option<String>,
    fixes: Vec<Fix>,
}

impl<'a> Ctx<'a, '_> {
    /// Current and previous ReplicaSet of the workload (a Deployment).
    fn revisions(&self) -> (Option<Revision<'a>>, Option<Revision<'a>>) {
        match self.scope.find("deployments.apps", &self.workload.name) {
            Some(d) if self.workload.kind == "Deployment" => self.replicasets.revisions(d),
            _ => (None, None),
        }
    }

    fn spec(&mut self, reference: String, text: String) {
        self.finding
            .evidence
            .push(Evidence::new(Source::Spec, reference, text));
    }

    fn template_fix(&self, ops: Vec<Value>, description: String) -> Option<Fix> {
        let t = self.template?;
        let mut desc = description;
        if let Some(why) = t.immutable {
            desc.push_str(&format!(" ({why})"));
        }
        let mut f = fix::patch(t.target.clone(), t.object, ops, desc);
        if let Some(why) = t.immutable {
            refs::skip_dry_run(&mut f, why);
        }
        Some(f)
    }

    /// The image the current revision runs vs the previous one.
    fn revision_evidence(&mut self) {
        let (current, previous) = self.revisions();
        let (Some((cur, cur_rev)), Some(c)) = (current, self.container) else {
            return;
        };
        let cur_image = template::template_image(cur, c).unwrap_or("?");
        let text = match previous
            .and_then(|(p, rev)| Some((p, rev, template::template_image(p, c)?)))
        {
            Some((p, rev, img)) if img != cur_image => format!(
                "ReplicaSet {} (revision {cur_rev}) runs image {cur_image}; the previous revision {rev} (ReplicaSet {}) ran {img}",
                name_of(cur),
                name_of(p)
            ),
            Some((p, rev, _)) => format!(
                "ReplicaSet {} (revision {cur_rev}) runs the same image as revision {rev} (ReplicaSet {}): {cur_image}",
                name_of(cur),
                name_of(p)
            ),
            None => format!(
                "ReplicaSet {} (revision {cur_rev}) runs image {cur_image}; no earlier revision is kept",
                name_of(cur)
            ),
        };
        self.spec(format!("{} revisions", self.workload.display()), text);
    }

    /// Probe ports that match no container port. Returns a root cause and
    /// fixes when the mismatch explains the failure.
    fn probe_check(&mut self, log: &[Match]) -> Option<(String, Vec<Fix>)> {
        let reason = self.finding.reason.clone();
        let wl = self.workload.display();
        let mut result = None;
        let containers: Vec<&Container> = match (reason.as_str(), self.spec_container) {
            (r::PROBE_FAILING, _) => self.rep.spec.containers.iter().collect(),
            (_, Some(c)) => vec![c],
            _ => return None,
        };
        for c in containers {
            for (field, probe) in [
                ("readinessProbe", &c.readiness_probe),
                ("livenessProbe", &c.liveness_probe),
                ("startupProbe", &c.startup_probe),
            ] {
                let Some(probe) = probe else { continue };
                let (kind, port_ref) = match (&probe.http_get, &probe.tcp_socket, &probe.grpc) {
                    (Some(p), _, _) => ("httpGet", p),
                    (_, Some(p), _) => ("tcpSocket", p),
                    (_, _, Some(p)) => ("grpc", p),
                    _ => continue,
                };
                if c.ports.is_empty() {
                    continue;
                }
                let resolved = resolve_port(&port_ref.port, &c.ports);
                let declared =
                    resolved.is_some_and(|p| c.ports.iter().any(|cp| cp.container_port == p));
                if declared {
                    continue;
                }
                let port_text = match &port_ref.port {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let ports: Vec<String> = c
                    .ports
                    .iter()
                    .map(|p| match &p.name {
                        Some(n) => format!("{n}={}", p.container_port),
                        None => p.container_port.to_string(),
                    })
                    .collect();
                let listening = log
                    .iter()
                    .find(|m| m.kind == Kind::Listening)
                    .and_then(|m| m.port.map(|p| (p, patterns::quote(m, 120))));
                let mut text = format!(
                    "{field} of container `{}` targets port {port_text}, which no container port declares (ports: {})",
                    c.name,
                    ports.join(", ")
                );
                if let Some((p, _)) = &listening {
                    text.push_str(&format!("; the app's log says it listens on {p}"));
                }
                self.spec(format!("{wl} container {} {field}", c.name), text.clone());
                if result.is_some() {
                    continue;
                }
                // The port to use: the one the log names, else the only (or `http`) port.
                let choice = listening
                    .as_ref()
                    .and_then(|(p, _)| c.ports.iter().find(|cp| cp.container_port == i64::from(*p)))
                    .or_else(|| {
                        if c.ports.len() == 1 {
                            c.ports.first()
                        } else {
                            None
                        }
                    })
                    .or_else(|| c.ports.iter().find(|cp| cp.name.as_deref() == Some("http")));
                let mut fixes = Vec::new();
                if let Some(choice) = choice
                    && let Some(t) = self.template
                    && let Some((cpath, tc)) = t.container(&c.name)
                    && let Some(old) = tc[field][kind].get("port")
                {
                    let new: Value = match &choice.name {
                        Some(n) => Value::String(n.clone()),
                        None => Value::from(choice.container_port),
                    };
                    let path = format!("{cpath}/{field}/{kind}/port");
                    let ops = vec![
                        fix::test(&format!("{cpath}/name"), c.name.as_str()),
                        fix::test(&path, old.clone()),
                        fix::replace(&path, new.clone()),
                    ];
                    let shown = match &new {
                        Value::String(s) => format!("`{s}` ({})", choice.container_port),
                        v => v.to_string(),
                    };
                    if let Some(f) = self.template_fix(
                        ops,
                        format!(
                            "Point the {field} of container `{}` at the container port {shown}",
                            c.name
                        ),
                    ) {
                        fixes.push(f);
                    }
                }
                let mut root = format!(
                    "the {field} of container `{}` of {wl} targets port {port_text}, which no container port declares (ports: {})",
                    c.name,
                    ports.join(", ")
                );
                if let Some((p, line)) = &listening {
                    root.push_str(&format!(", while the app listens on {p} (`{line}`)"));
                }
                let explains = reason == r::PROBE_FAILING
                    || (field == "livenessProbe" && reason == r::CRASH_LOOP_BACK_OFF);
                if explains {
                    result = Some((root, fixes));
                }
            }
        }
        result
    }

    /// The definition of `var` in container `container` of the previous
    /// revision (a Deployment's previous ReplicaSet), with the revision and
    /// the ReplicaSet's name.
    fn previous_env(&self, container: &str, var: &str) -> Option<(Value, i64, String)> {
        let (_, previous) = self.revisions();
        let (rs, rev) = previous?;
        let spec = &rs["spec"]["template"]["spec"];
        let entry = ["containers", "initContainers"]
            .iter()
            .filter_map(|list| spec[*list].as_array())
            .flatten()
            .find(|c| c["name"].as_str() == Some(container))?["env"]
            .as_array()?
            .iter()
            .find(|e| e["name"].as_str() == Some(var))?;
        Some((entry.clone(), rev, name_of(rs).to_string()))
    }

    /// An HTTP probe whose path the app answers 404: the root cause, and a
    /// fix pointing it at a path that answers (another probe of the same
    /// container on the same port that passes, or a health path the app's
    /// log shows served with a 2xx).
    fn probe_path(&mut self, events: &EventIndex, cs: Option<&ContainerStatus>, log_text: &str) {
        let wl = self.workload.display();
        let pod_events = events.of("Pod", &self.rep.metadata.name);
        let Some((field, event, code)) = pod_events.iter().rev().find_map(|e| {
            if e.reason.as_deref() != Some("Unhealthy") {
                return None;
            }
            let msg = e.message.as_deref()?;
            let field = if msg.starts_with("Liveness probe failed") {
                "livenessProbe"
            } else if msg.starts_with("Readiness probe failed") {
                "readinessProbe"
            } else if msg.starts_with("Startup probe failed") {
                "startupProbe"
            } else {
                return None;
            };
            let code: u16 = msg
                .split_once("statuscode: ")?
                .1
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()?;
            matches!(code, 404 | 410).then_some((field, msg, code))
        }) else {
            return;
        };
        let probe_of = |c: &'a Container, f: &str| match f {
            "livenessProbe" => c.liveness_probe.as_ref(),
            "readinessProbe" => c.readiness_probe.as_ref(),
            _ => c.startup_probe.as_ref(),
        };
        let has_http = |c: &&'a Container| probe_of(c, field).is_some_and(|p| p.http_get.is_some());
        let Some(c) = self
            .spec_container
            .filter(has_http)
            .or_else(|| self.rep.spec.containers.iter().find(has_http))
        else {
            return;
        };
        let Some(http) = probe_of(c, field).and_then(|p| p.http_get.as_ref()) else {
            return;
        };
        let old = http.path.clone().unwrap_or_else(|| "/".into());
        let port = resolve_port(&http.port, &c.ports);
        let status = cs.filter(|s| s.name == c.name).or_else(|| {
            self.rep
                .status
                .container_statuses
                .iter()
                .find(|s| s.name == c.name)
        });
        let liveness_fails = pod_events.iter().any(|e| {
            e.reason.as_deref() == Some("Unhealthy")
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("Liveness probe failed"))
        });
        // Another probe of the container, on the same port, that passes.
        let sibling = ["readinessProbe", "livenessProbe", "startupProbe"]
            .into_iter()
            .filter(|f| *f != field)
            .find_map(|f| {
                let h = probe_of(c, f)?.http_get.as_ref()?;
                let path = h.path.clone().unwrap_or_else(|| "/".into());
                let passes = match f {
                    "readinessProbe" => status.is_some_and(|s| s.ready),
                    "startupProbe" => status.is_some_and(|s| s.started == Some(true)),
                    _ => !liveness_fails,
                };
                (passes && path != old && resolve_port(&h.port, &c.ports) == port)
                    .then_some((f, path))
            });
        let served = patterns::served_health_path(log_text, &old);
        let new = sibling
            .map(|(f, p)| (format!("the {f}'s path `{p}` on the same port succeeds"), p))
            .or_else(|| {
                served.map(|(p, st)| {
                    (
                        format!("the app's log shows it serves `{p}` with status {st}"),
                        p,
                    )
                })
            });
        let what = if field == "livenessProbe" {
            ", so the kubelet keeps restarting it"
        } else if field == "startupProbe" {
            ", so the container never finishes starting"
        } else {
            ", so the pod is never Ready"
        };
        let mut root = format!(
            "the {field} of container `{}` of {wl} requests path `{old}`, which the app answers with {code} (`{}`){what}",
            c.name,
            patterns::clip(event, 160)
        );
        if let Some((why, _)) = &new {
            root.push_str(&format!("; {why}"));
        }
        self.root = Some(root);
        let Some((why, new)) = new else { return };
        let Some(t) = self.template else { return };
        let Some((cpath, tc)) = t.container(&c.name) else {
            return;
        };
        let path = format!("{cpath}/{field}/httpGet/path");
        let mut ops = vec![fix::test(&format!("{cpath}/name"), c.name.as_str())];
        if tc[field]["httpGet"]["path"].is_string() {
            ops.push(fix::test(&path, old.as_str()));
            ops.push(fix::replace(&path, new.as_str()));
        } else {
            ops.push(fix::add(&path, new.as_str()));
        }
        if let Some(f) = self.template_fix(
            ops,
            format!(
                "Point the {field} of container `{}` at `{new}` instead of `{old}` ({why})",
                c.name
            ),
        ) {
            self.fixes.push(f);
        }
    }

    /// A missing path the log names that the container mounts from the
    /// node (a hostPath volume): evidence, and the root cause says so.
    fn host_path_link(&mut self, m: &Match) {
        if m.kind != Kind::MissingFile {
            return;
        }
        let (Some(path), Some(c)) = (m.target.as_deref(), self.spec_container) else {
            return;
        };
        let Some((mount, host)) = c.volume_mounts.iter().find_map(|vm| {
            let inside = path == vm.mount_path
                || path
                    .strip_prefix(vm.mount_path.as_str())
                    .is_some_and(|rest| rest.starts_with('/'));
            if !inside {
                return None;
            }
            let v = self.rep.spec.volumes.iter().find(|v| v.name == vm.name)?;
            let host = v.host_path.as_ref()?["path"].as_str()?.to_string();
            Some((vm, host))
        }) else {
            return;
        };
        let node = self.rep.spec.node_name.as_deref().unwrap_or("its node");
        let text = format!(
            "container `{}` mounts volume `{}` (hostPath `{host}` of the node) at {}; the log says {path} cannot be opened, so `{host}` is likely missing (or unreadable) on node {node}",
            c.name, mount.name, mount.mount_path
        );
        self.spec(
            format!(
                "{} container {} volumeMounts",
                self.workload.display(),
                c.name
            ),
            text,
        );
        if let Some(root) = &mut self.root {
            root.push_str(&format!(
                "; {path} is the hostPath `{host}` of node {node} (volume `{}`), which is missing there",
                mount.name
            ));
        }
    }

    fn oom(&mut self, log_text: &str) {
        let wl = self.workload.display();
        let Some(c) = self.spec_container else { return };
        let limit = c
            .resources
            .limits
            .get("memory")
            .and_then(Value::as_str)
            .map(str::to_string);
        let request = c
            .resources
            .requests
            .get("memory")
            .and_then(Value::as_str)
            .map(str::to_string);
        let gauge = patterns::last_memory_gauge(log_text);
        self.spec(
            format!("{wl} container {} resources", c.name),
            format!(
                "limits.memory {}, requests.memory {}",
                limit.as_deref().unwrap_or("(none)"),
                request.as_deref().unwrap_or("(none)")
            ),
        );
        let gauge_text = gauge
            .as_ref()
            .map(|(k, v)| format!("; its last log shows {k} {v} before the kill"))
            .unwrap_or_default();
        let Some(limit) = limit else {
            self.root = Some(format!(
                "container `{}` of {wl} is OOMKilled without a memory limit of its own: the node ran out of memory{gauge_text}",
                c.name
            ));
            return;
        };
        self.root = Some(format!(
            "container `{}` of {wl} is killed for exceeding its memory limit {limit} (request {}){gauge_text}",
            c.name,
            request.as_deref().unwrap_or("none")
        ));
        let Some(bytes) = parse_quantity(&limit) else {
            return;
        };
        let mib = ((bytes * 2.0) / (1024.0 * 1024.0)).ceil() as u64;
        let new_limit = format!("{mib}Mi");
        let Some(t) = self.template else { return };
        let Some((cpath, _)) = t.container(&c.name) else {
            return;
        };
        let path = format!("{cpath}/resources/limits/memory");
        let ops = vec![
            fix::test(&format!("{cpath}/name"), c.name.as_str()),
            fix::test(&path, limit.as_str()),
            fix::replace(&path, new_limit.as_str()),
        ];
        let keep = request
            .as_deref()
            .map(|r| format!(" (the request {r} stays)"))
            .unwrap_or_default();
        if let Some(f) = self.template_fix(
            ops,
            format!(
                "Raise the memory limit of container `{}` from {limit} to {new_limit}{keep}",
                c.name
            ),
        ) {
            self.fixes.push(f);
        }
    }

    fn image(&mut self, events: &EventIndex) {
        let wl = self.workload.display();
        let Some(c) = self.spec_container else { return };
        let Some(image) = c.image.clone() else { return };
        let (repo, tag) = split_image(&image);
        let failed = events
            .of("Pod", &self.rep.metadata.name)
            .iter()
            .rev()
            .find(|e| {
                e.reason.as_deref() == Some("Failed")
                    && e.message.as_deref().is_some_and(|m| m.contains("pull"))
            })
            .and_then(|e| e.message.clone())
            .unwrap_or_default();
        let lower = failed.to_ascii_lowercase();
        let invalid = self.finding.reason == r::INVALID_IMAGE_NAME;
        // The valid form of an invalid reference, when it is clear (an
        // upper-case repository, a URL scheme, stray spaces).
        let valid = if invalid {
            template::normalize_image(&image)
        } else {
            None
        };
        let why = if invalid {
            // `… couldn't parse image name "…": invalid reference format: repository name (finance/Billing) must be lowercase`.
            let kubelet = events
                .of("Pod", &self.rep.metadata.name)
                .iter()
                .rev()
                .filter_map(|e| e.message.as_deref())
                .find_map(|m| m.find("invalid reference format").map(|i| &m[i..]));
            let mut why = format!(
                "image reference `{image}` of container `{}` of {wl} is not a valid image name",
                c.name
            );
            if let Some(k) = kubelet {
                why.push_str(&format!(" ({})", patterns::clip(k, 200)));
            }
            if let Some(v) = &valid {
                why.push_str(&format!("; its valid form is `{v}`"));
            }
            why
        } else if lower.contains("not found")
            || lower.contains("manifest unknown")
            || lower.contains("notfound")
        {
            match tag {
                Some(t) => format!(
                    "tag `{t}` of image `{repo}` (container `{}` of {wl}) does not exist in the registry",
                    c.name
                ),
                None => format!(
                    "image `{image}` (container `{}` of {wl}) does not exist in the registry",
                    c.name
                ),
            }
        } else if lower.contains("unauthorized")
            || lower.contains("authentication required")
            || lower.contains("denied")
            || lower.contains("403")
        {
            let secrets: Vec<String> = self
                .rep
                .spec
                .image_pull_secrets
                .iter()
                .map(|s| s.name.clone())
                .collect();
            format!(
                "the registry refuses to serve image `{image}` (container `{}` of {wl}) with the pull credentials given (imagePullSecrets: {})",
                c.name,
                key_list(&secrets)
            )
        } else if lower.contains("no such host")
            || lower.contains("i/o timeout")
            || lower.contains("connection refused")
        {
            format!(
                "the registry of image `{image}` (container `{}` of {wl}) is unreachable from the node",
                c.name
            )
        } else {
            format!(
                "image `{image}` of container `{}` of {wl} cannot be pulled",
                c.name
            )
        };
        // The image the previous revision ran.
        let mut previous_image = None;
        if self.workload.kind == "Deployment" {
            let (_, previous) = self.revisions();
            if let Some((p, rev)) = previous
                && let Some(img) = template::template_image(p, &c.name)
                && img != image
            {
                previous_image = Some((img.to_string(), rev, name_of(p).to_string()));
            }
        }
        let mut root = why;
        if let Some(v) = &valid
            && let Some(t) = self.template
            && let Some((cpath, _)) = t.container(&c.name)
        {
            let ops = vec![
                fix::test(&format!("{cpath}/name"), c.name.as_str()),
                fix::test(&format!("{cpath}/image"), image.as_str()),
                fix::replace(&format!("{cpath}/image"), v.as_str()),
            ];
            if let Some(f) = self.template_fix(
                ops,
                format!(
                    "Set the image of container `{}` to the valid reference `{v}` (a repository name must be lower-case, without a scheme or spaces)",
                    c.name
                ),
            ) {
                self.fixes.push(f);
            }
        }
        if let Some((img, rev, rs)) = &previous_image {
            root.push_str(&format!(
                "; the previous revision {rev} (ReplicaSet {rs}) ran `{img}`"
            ));
            if let Some(t) = self.template
                && let Some((cpath, _)) = t.container(&c.name)
            {
                let ops = vec![
                    fix::test(&format!("{cpath}/name"), c.name.as_str()),
                    fix::test(&format!("{cpath}/image"), image.as_str()),
                    fix::replace(&format!("{cpath}/image"), img.as_str()),
                ];
                if let Some(f) = self.template_fix(
                    ops,
                    if invalid {
                        format!("Set the image of container `{}` back to `{img}`, which revision {rev} ran", c.name)
                    } else {
                        format!("Set the image of container `{}` back to `{img}`, which revision {rev} ran, until `{image}` can be pulled", c.name)
                    },
                ) {
                    self.fixes.push(f);
                }
            }
        }
        if invalid {
            if valid.is_none()
                && let Some(t) = self.template
            {
                self.fixes.push(fix::needs_input(
                    t.target.clone(),
                    format!(
                        "Set the image of container `{}` to a valid image reference",
                        c.name
                    ),
                    format!(
                        "kubectl set image {}/{} -n {} {}=<image>",
                        t.target.kind.to_ascii_lowercase(),
                        t.target.name,
                        self.scope.namespace,
                        c.name
                    ),
                ));
            }
        } else if let Some(t) = self.template {
            self.fixes.push(fix::needs_input(
                t.target.clone(),
                format!(
                    "Set the image of container `{}` to a tag that exists in the registry",
                    c.name
                ),
                format!(
                    "kubectl set image {}/{} -n {} {}={repo}:<tag>",
                    t.target.kind.to_ascii_lowercase(),
                    t.target.name,
                    self.scope.namespace,
                    c.name
                ),
            ));
        }
        self.root = Some(root);
    }

    fn unschedulable(&mut self, status: &str, issues: &[&Issue]) {
        let wl = self.workload.display();
        let pod = &self.rep.metadata.name;
        if let Some(claim) = issues.iter().find(|i| i.kind == "PersistentVolumeClaim") {
            self.root = Some(format!(
                "pod {pod} of {wl} cannot be scheduled because {} {}",
                claim.reference(),
                claim.problem_text()
            ));
        }
        // Nodes against the pod's selector, tolerations and requests.
        let nodes = self.scope.cluster.objects("nodes");
        if nodes.is_empty() {
            return;
        }
        let spec = &self.rep.spec;
        let (req_cpu, req_mem) = pod_requests(spec);
        let mut fitting = Vec::new();
        let mut lines = Vec::new();
        // Nodes the pod selects that only their taints keep it off.
        let mut taint_only: Vec<(&str, Vec<&Value>)> = Vec::new();
        for node in nodes.iter().take(50) {
            let name = name_of(node);
            let mut why = Vec::new();
            let mut untolerated: Vec<&Value> = Vec::new();
            if node["spec"]["unschedulable"].as_bool() == Some(true) {
                why.push("cordoned".to_string());
            }
            let labels = &node["metadata"]["labels"];
            let missing: Vec<String> = spec
                .node_selector
                .iter()
                .filter(|(k, v)| labels[k.as_str()].as_str() != Some(v.as_str()))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if !missing.is_empty() {
                why.push(format!("nodeSelector {} does not match", missing.join(",")));
            }
            for taint in node["spec"]["taints"].as_array().into_iter().flatten() {
                let effect = taint["effect"].as_str().unwrap_or("");
                if effect == "PreferNoSchedule" || tolerates(&spec.tolerations, taint) {
                    continue;
                }
                untolerated.push(taint);
                why.push(format!(
                    "taint {}={}:{effect} not tolerated",
                    taint["key"].as_str().unwrap_or(""),
                    taint["value"].as_str().unwrap_or("")
                ));
            }
            let alloc = &node["status"]["allocatable"];
            let cpu = alloc["cpu"].as_str().and_then(parse_quantity);
            let mem = alloc["memory"].as_str().and_then(parse_quantity);
            if let Some(cpu) = cpu
                && req_cpu > cpu
            {
                why.push(format!(
                    "requests {} CPU, allocatable {}",
                    fmt_cpu(req_cpu),
                    fmt_cpu(cpu)
                ));
            }
            if let Some(mem) = mem
                && req_mem > mem
            {
                why.push(format!(
                    "requests {} memory, allocatable {}",
                    fmt_mem(req_mem),
                    fmt_mem(mem)
                ));
            }
            if !untolerated.is_empty() && why.len() == untolerated.len() {
                taint_only.push((name, untolerated));
            }
            if why.is_empty() {
                fitting.push(name.to_string());
            } else if lines.len() < 6 {
                lines.push(format!("{name}: {}", why.join("; ")));
            }
        }
        let mut text = format!(
            "pod requests cpu {} memory {}; nodes that fit its selector, tolerations and requests: {}",
            fmt_cpu(req_cpu),
            fmt_mem(req_mem),
            if fitting.is_empty() {
                "none".to_string()
            } else {
                fitting.join(", ")
            }
        );
        if !lines.is_empty() {
            text.push_str(&format!("; excluded: {}", lines.join(" | ")));
        }
        self.spec(
            format!("Pod {}/{pod} placement", self.scope.namespace),
            text.clone(),
        );
        if fitting.is_empty() {
            self.toleration_fix(&taint_only);
        }
        if self.root.is_none() {
            let msg = status.split_once(": ").map_or(status, |(_, m)| m);
            self.root = Some(if fitting.is_empty() && !lines.is_empty() {
                format!(
                    "pod {pod} of {wl} fits no node ({}); the scheduler says: {msg}",
                    lines.join(" | ")
                )
            } else {
                format!("pod {pod} of {wl} cannot be scheduled: {msg}")
            });
        }
    }

    /// Tolerations for the taints of the nodes the pod deliberately selects
    /// (its nodeSelector matches them) and that only their taints keep it
    /// off. Taints the system sets (not-ready, unreachable, control-plane,
    /// pressure, cordon) are never proposed.
    fn toleration_fix(&mut self, taint_only: &[(&str, Vec<&Value>)]) {
        if self.rep.spec.node_selector.is_empty() {
            return;
        }
        let system = |key: &str| {
            key.starts_with("node.kubernetes.io/")
                || key.starts_with("node-role.kubernetes.io/")
                || key.starts_with("node.cloudprovider.kubernetes.io/")
                || key.starts_with("node.cluster.x-k8s.io/")
                || key.starts_with("ToBeDeletedByClusterAutoscaler")
        };
        let Some((node, taints)) = taint_only
            .iter()
            .find(|(_, ts)| ts.iter().all(|t| !system(t["key"].as_str().unwrap_or(""))))
        else {
            return;
        };
        let Some(t) = self.template else { return };
        let tolerations: Vec<Value> = taints
            .iter()
            .map(|taint| {
                let key = taint["key"].as_str().unwrap_or("");
                let effect = taint["effect"].as_str().unwrap_or("");
                match taint["value"].as_str().filter(|v| !v.is_empty()) {
                    Some(v) => serde_json::json!({"key": key, "operator": "Equal", "value": v, "effect": effect}),
                    None => serde_json::json!({"key": key, "operator": "Exists", "effect": effect}),
                }
            })
            .collect();
        let shown: Vec<String> = taints
            .iter()
            .map(|t| {
                format!(
                    "{}={}:{}",
                    t["key"].as_str().unwrap_or(""),
                    t["value"].as_str().unwrap_or(""),
                    t["effect"].as_str().unwrap_or("")
                )
            })
            .collect();
        let path = format!("{}/tolerations", t.prefix);
        let ops = if t.spec()["tolerations"].is_array() {
            tolerations
                .into_iter()
                .map(|tol| fix::add(&format!("{path}/-"), tol))
                .collect()
        } else {
            vec![fix::add(&path, Value::Array(tolerations))]
        };
        let selector: Vec<String> = self
            .rep
            .spec
            .node_selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if let Some(f) = self.template_fix(
            ops,
            format!(
                "Tolerate the taint {} of node {node}, which the pods select (nodeSelector {}): only the taint keeps them off it",
                shown.join(", "),
                selector.join(",")
            ),
        ) {
            self.fixes.push(f);
        }
    }

    /// Root cause from the spec's references, linked to the log.
    fn config_root(&mut self, issues: &[&Issue], log: &[Match], log_ref: &str) {
        let wl = self.workload.display();
        let missing_vars: Vec<&Match> = log.iter().filter(|m| m.kind == Kind::MissingEnv).collect();
        // 1. The log names a variable that comes from a broken reference.
        let linked = missing_vars.iter().find_map(|m| {
            let var = m.var.as_deref()?;
            issues
                .iter()
                .find(|i| i.env_var() == Some(var))
                .map(|i| (*i, *m))
        });
        let chosen: Option<(&Issue, Option<&Match>)> = linked
            .map(|(i, m)| (i, Some(m)))
            .or_else(|| {
                // 2. A reference that blocks the container, for config errors.
                issues
                    .iter()
                    .find(|i| {
                        i.blocking() && !matches!(i.problem, RefProblem::ClaimNotBound { .. })
                    })
                    .map(|i| (*i, None))
            })
            .or_else(|| {
                // 3. An optional reference silently unset, for crashes.
                matches!(
                    self.finding.reason.as_str(),
                    r::CRASH_LOOP_BACK_OFF | r::CONTAINER_FAILING | r::INIT_CONTAINER_FAILING
                )
                .then(|| {
                    issues
                        .iter()
                        .find(|i| i.optional && i.env_var().is_some())
                        .map(|i| (*i, None))
                })
                .flatten()
            });
        if let Some((issue, m)) = chosen {
            let mut root = format!(
                "{}, {}",
                in_workload(&issue.reference(), &wl),
                issue.problem_text()
            );
            if let Some(m) = m {
                let var = m.var.as_deref().unwrap_or("");
                root.push_str(&format!(
                    ", so {var} is unset and the app fails at startup (`{}`)",
                    patterns::quote(m, 160)
                ));
                self.finding.evidence.push(Evidence::new(
                    Source::Config,
                    format!("{log_ref} line {} ↔ {} {}", m.line_no, issue.kind, issue.name),
                    format!(
                        "the log says {var} is not set; {var} comes from {} `{}` key `{}`{}, which is missing",
                        issue.kind,
                        issue.name,
                        issue.key.as_deref().unwrap_or(""),
                        if issue.optional { " with optional: true (so the pod starts without it)" } else { "" }
                    ),
                ));
            } else if issue.optional && issue.env_var().is_some() {
                let var = issue.env_var().unwrap_or("");
                root.push_str(&format!(", so {var} is silently unset"));
            }
            self.root = Some(root);
            self.fixes.extend(issue.fixes(self.scope, self.template));
            // Other broken references get their fixes too.
            for other in issues
                .iter()
                .filter(|i| !std::ptr::eq(**i, issue) && i.blocking())
            {
                self.fixes.extend(other.fixes(self.scope, self.template));
            }
            return;
        }
        // The log names a variable the container does not set at all.
        if let Some(m) = missing_vars.first()
            && let (Some(var), Some(c)) = (m.var.as_deref(), self.spec_container)
        {
            let set = c.env.iter().any(|e| e.name == var);
            let from_env_from = !c.env_from.is_empty();
            if !set {
                let mut root = format!(
                    "the app in container `{}` of {wl} needs {var} (`{}`), which the container does not set",
                    c.name,
                    patterns::quote(m, 160)
                );
                if from_env_from {
                    root.push_str(" (nor do the ConfigMaps/Secrets of its envFrom)");
                }
                // The previous revision set it: put its definition back.
                let restored = self.previous_env(&c.name, var).and_then(|(entry, rev, rs)| {
                    let shown = env_source(&entry);
                    root.push_str(&format!(
                        "; the previous revision {rev} (ReplicaSet {rs}) set it ({shown})"
                    ));
                    self.spec(
                        format!("{wl} revisions"),
                        format!(
                            "ReplicaSet {rs} (revision {rev}) sets {var} in container `{}` ({shown}); the current template does not",
                            c.name
                        ),
                    );
                    let t = self.template?;
                    let (cpath, tc) = t.container(&c.name)?;
                    let mut ops = vec![fix::test(&format!("{cpath}/name"), c.name.as_str())];
                    if tc["env"].is_array() {
                        ops.push(fix::add(&format!("{cpath}/env/-"), entry));
                    } else {
                        ops.push(fix::add(&format!("{cpath}/env"), Value::Array(vec![entry])));
                    }
                    self.template_fix(
                        ops,
                        format!(
                            "Set {var} in container `{}` again as revision {rev} did ({shown})",
                            c.name
                        ),
                    )
                });
                self.root = Some(root);
                if let Some(f) = restored {
                    self.fixes.push(f);
                } else if let Some(t) = self.template {
                    self.fixes.push(fix::needs_input(
                        t.target.clone(),
                        format!("Set {var} in container `{}`", c.name),
                        format!(
                            "kubectl set env {}/{} -n {} -c {} {var}=<value>",
                            t.target.kind.to_ascii_lowercase(),
                            t.target.name,
                            self.scope.namespace,
                            c.name
                        ),
                    ));
                }
            }
        }
    }
}

/// How an env entry is set, for a sentence: `value `x``, `from Secret `s`
/// key `k``.
fn env_source(entry: &Value) -> String {
    if let Some(v) = entry["value"].as_str() {
        return format!("value `{}`", patterns::clip(v, 120));
    }
    let from = &entry["valueFrom"];
    for (field, kind) in [("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")] {
        if let Some(name) = from[field]["name"].as_str() {
            return format!(
                "from {kind} `{name}` key `{}`",
                from[field]["key"].as_str().unwrap_or("")
            );
        }
    }
    if let Some(path) = from["fieldRef"]["fieldPath"].as_str() {
        return format!("from field `{path}`");
    }
    "from a valueFrom source".into()
}

/// `container `x` reads …` → `container `x` of Deployment ns/d reads …`.
fn in_workload(reference: &str, wl: &str) -> String {
    for subject in ["container `", "volume `"] {
        if let Some(rest) = reference.strip_prefix(subject)
            && let Some(end) = rest.find('`')
        {
            let (name, tail) = rest.split_at(end + 1);
            return format!("{subject}{name} of {wl}{tail}");
        }
    }
    format!("{wl}: {reference}")
}

fn tolerates(tolerations: &[Value], taint: &Value) -> bool {
    let key = taint["key"].as_str().unwrap_or("");
    let value = taint["value"].as_str().unwrap_or("");
    let effect = taint["effect"].as_str().unwrap_or("");
    tolerations.iter().any(|t| {
        let tkey = t["key"].as_str().unwrap_or("");
        let op = t["operator"].as_str().unwrap_or("Equal");
        let teffect = t["effect"].as_str().unwrap_or("");
        let key_ok = tkey == key || (tkey.is_empty() && op == "Exists");
        let value_ok = op == "Exists" || t["value"].as_str().unwrap_or("") == value;
        let effect_ok = teffect.is_empty() || teffect == effect;
        key_ok && value_ok && effect_ok
    })
}

/// Sum of the containers' requests (init containers: the largest), as
/// (cores, bytes).
fn pod_requests(spec: &crate::model::PodSpec) -> (f64, f64) {
    let get = |c: &Container, k: &str| {
        c.resources
            .requests
            .get(k)
            .and_then(quantity_of)
            .unwrap_or(0.0)
    };
    let cpu: f64 = spec.containers.iter().map(|c| get(c, "cpu")).sum();
    let mem: f64 = spec.containers.iter().map(|c| get(c, "memory")).sum();
    let init_cpu = spec
        .init_containers
        .iter()
        .map(|c| get(c, "cpu"))
        .fold(0.0, f64::max);
    let init_mem = spec
        .init_containers
        .iter()
        .map(|c| get(c, "memory"))
        .fold(0.0, f64::max);
    (cpu.max(init_cpu), mem.max(init_mem))
}

fn quantity_of(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => parse_quantity(s),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// A Kubernetes quantity (`256Mi`, `1.5G`, `250m`, `2`) as a plain number
/// (bytes, cores).
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0_f64.powi(4),
        s if s.starts_with('e') || s.starts_with('E') => 10f64.powi(s[1..].parse().ok()?),
        _ => return None,
    };
    Some(n * mult)
}

fn fmt_cpu(cores: f64) -> String {
    if cores < 1.0 {
        format!("{}m", (cores * 1000.0).round())
    } else {
        format!("{cores}")
    }
}

fn fmt_mem(bytes: f64) -> String {
    format!("{}Mi", (bytes / (1024.0 * 1024.0)).round())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("256Mi"), Some(268435456.0));
        assert_eq!(parse_quantity("250m"), Some(0.25));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("1Gi"), Some(1073741824.0));
        assert_eq!(parse_quantity("x"), None);
    }

    #[test]
    fn subject() {
        assert_eq!(
            in_workload(
                "container `payments` reads DB_PASSWORD from Secret `payments-db` key `password`",
                "Deployment staging/payments"
            ),
            "container `payments` of Deployment staging/payments reads DB_PASSWORD from Secret `payments-db` key `password`"
        );
    }

    #[test]
    fn classify_crashloop() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "a"},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "app", "ready": false, "restartCount": 7,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}
            }]}
        }))
        .unwrap();
        let scope_events = EventIndex {
            by_object: BTreeMap::new(),
        };
        let p = classify(&pod, &scope_events).unwrap();
        assert_eq!(p.reason, r::CRASH_LOOP_BACK_OFF);
        assert!(p.previous && p.wants_log);
        assert!(p.status.contains("exit code 1"), "{}", p.status);
    }

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn classify_more() {
        let none = EventIndex {
            by_object: BTreeMap::new(),
        };
        // OOMKilled and recovered: a warning-level problem.
        let p = pod(
            serde_json::json!({"metadata": {"name": "s"}, "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "s", "ready": true, "restartCount": 5, "state": {"running": {}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}}),
        );
        let c = classify(&p, &none).unwrap();
        assert_eq!((c.reason, c.recovered), (r::OOM_KILLED, true));
        // One old restart long recovered is not reported.
        let p = pod(
            serde_json::json!({"metadata": {"name": "s"}, "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "s", "ready": true, "restartCount": 1, "state": {"running": {}},
                "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]}}),
        );
        assert!(classify(&p, &none).is_none());
        // Not ready, no events left, readiness probe on an undeclared port.
        let p = pod(serde_json::json!({"metadata": {"name": "f"},
            "spec": {"containers": [{"name": "f", "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/", "port": 8081}}}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [{"name": "f", "ready": false, "state": {"running": {}}}]}}));
        assert_eq!(classify(&p, &none).unwrap().reason, r::PROBE_FAILING);
        // Evicted.
        let p = pod(
            serde_json::json!({"metadata": {"name": "e"}, "status": {"phase": "Failed", "reason": "Evicted"}}),
        );
        assert_eq!(classify(&p, &none).unwrap().reason, r::EVICTED);
        // Completed pods are fine; an initializing pod with no warning is fine.
        let p =
            pod(serde_json::json!({"metadata": {"name": "d"}, "status": {"phase": "Succeeded"}}));
        assert!(classify(&p, &none).is_none());
        let p = pod(
            serde_json::json!({"metadata": {"name": "i"}, "status": {"phase": "Pending",
            "initContainerStatuses": [{"name": "w", "state": {"running": {}}}],
            "containerStatuses": [{"name": "a", "state": {"waiting": {"reason": "PodInitializing"}}}]}}),
        );
        assert!(classify(&p, &none).is_none());
    }

    #[test]
    fn liveness_restarts_are_probe_failures() {
        let p = pod(
            serde_json::json!({"metadata": {"name": "l"}, "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 9, "state": {"running": {}},
                "lastState": {"terminated": {"reason": "Error", "exitCode": 143}}}]}}),
        );
        let event: Event = serde_json::from_value(serde_json::json!({
            "involvedObject": {"kind": "Pod", "name": "l", "fieldPath": "spec.containers{app}"},
            "reason": "Unhealthy", "type": "Warning",
            "message": "Liveness probe failed: HTTP probe failed with statuscode: 404"}))
        .unwrap();
        let mut by_name = BTreeMap::new();
        by_name.insert("l", vec![&event]);
        let mut by_object = BTreeMap::new();
        by_object.insert("Pod", by_name);
        let events = EventIndex { by_object };
        let c = classify(&p, &events).unwrap();
        assert_eq!((c.reason, c.recovered), (r::PROBE_FAILING, false));
        // The same restarts without a probe event stay a container failure.
        let none = EventIndex {
            by_object: BTreeMap::new(),
        };
        assert_eq!(classify(&p, &none).unwrap().reason, r::CONTAINER_FAILING);
    }
}
