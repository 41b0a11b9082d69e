//! What is wrong with one pod: CrashLoopBackOff, image pulls, OOMKilled,
//! config errors, scheduling, probes, evictions. Reads the pod and its
//! events only; no host calls.

use crate::model::{Container, ContainerStatus, Event, Pod, resolve_port};
use crate::reasons as r;

use super::super::{history, patterns};
use super::events::EventIndex;

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
pub(super) fn priority(reason: &str) -> u8 {
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

pub(super) fn is_job_pod(pod: &Pod) -> bool {
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
                && killed_by_probe(cs, pod_events, events.latest())
            {
                p.reason = r::PROBE_FAILING;
                p.recovered = false;
            }
            // Restarts that stopped long ago, the container Ready since:
            // history, not a failure now.
            if p.recovered && history::recovered_long_ago(cs, events.latest()) {
                continue;
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
pub(super) fn killed_by_probe(
    cs: &ContainerStatus,
    pod_events: &[&Event],
    now: Option<&str>,
) -> bool {
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
                // A probe that failed before the container's current
                // instance started, which runs and is ready since.
                _ if history::before_current_state(e, cs, now) => false,
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let scope_events = EventIndex::of_events([]);
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
        let none = EventIndex::of_events([]);
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
        let events = EventIndex::of_events([&event]);
        let c = classify(&p, &events).unwrap();
        assert_eq!((c.reason, c.recovered), (r::PROBE_FAILING, false));
        // The same probe failure, before an instance that has run Ready
        // for 40 minutes since: history, not the cause of a restart now.
        let started = |p: &mut Pod, at: &str| {
            p.status.container_statuses[0].state.running = Some(crate::model::StateDetail {
                started_at: Some(at.into()),
                ..Default::default()
            });
        };
        let mut old = p.clone();
        started(&mut old, "2026-11-20T08:20:00Z");
        let mut event = event.clone();
        event.last_timestamp = Some("2026-11-20T08:19:40Z".into());
        let now: Event = serde_json::from_value(serde_json::json!({
            "involvedObject": {"kind": "Pod", "name": "other"}, "reason": "Pulled",
            "lastTimestamp": "2026-11-20T09:00:00Z"}))
        .unwrap();
        let events = EventIndex::of_events([&event, &now]);
        assert_ne!(classify(&old, &events).unwrap().reason, r::PROBE_FAILING);
        // Started after that event but only a minute ago: the loop goes on.
        let mut recent = p.clone();
        started(&mut recent, "2026-11-20T08:59:00Z");
        event.last_timestamp = Some("2026-11-20T08:58:50Z".into());
        let events = EventIndex::of_events([&event, &now]);
        assert_eq!(classify(&recent, &events).unwrap().reason, r::PROBE_FAILING);
        // The same restarts without a probe event stay a container failure.
        let none = EventIndex::of_events([]);
        assert_eq!(classify(&p, &none).unwrap().reason, r::CONTAINER_FAILING);
    }

    #[test]
    fn restarts_that_stopped_days_ago_are_history() {
        let oom = |started: &str| {
            pod(
                serde_json::json!({"metadata": {"name": "c"}, "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "c", "ready": true, "restartCount": 1,
                    "state": {"running": {"startedAt": started}},
                    "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137,
                        "startedAt": "2026-11-14T07:00:00Z", "finishedAt": "2026-11-15T07:00:04Z"}}}]}}),
            )
        };
        let now: Event = serde_json::from_value(serde_json::json!({
            "involvedObject": {"kind": "Pod", "name": "other"}, "reason": "Pulled",
            "lastTimestamp": "2026-11-20T09:00:00Z"}))
        .unwrap();
        let events = EventIndex::of_events([&now]);
        // Ready for five days since the kill (its previous run: one day).
        assert!(classify(&oom("2026-11-15T07:00:05Z"), &events).is_none());
        // Ready for a day only: three previous lifetimes have not passed.
        let c = classify(&oom("2026-11-19T09:00:00Z"), &events).unwrap();
        assert_eq!((c.reason, c.recovered), (r::OOM_KILLED, true));
        // Without a time to measure from, nothing is history.
        let none = EventIndex::of_events([]);
        assert!(classify(&oom("2026-11-15T07:00:05Z"), &none).is_some());
    }
}
