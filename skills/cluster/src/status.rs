//! Reading health out of Kubernetes objects (as JSON), the way `kubectl get`
//! and `kubectl describe` show it.

use serde::Serialize;
use serde_json::{Map, Value, json};

fn s<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn n(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

fn arr<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Why a pod is not healthy, compactly.
#[derive(Serialize, Debug)]
pub struct PodHealth {
    pub name: String,
    pub phase: String,
    /// Ready containers / containers: `1/2`.
    pub ready: String,
    pub restarts: i64,
    /// The most telling reason: `Evicted`, `CrashLoopBackOff`, `Init:ImagePullBackOff`,
    /// `Unschedulable`, `OOMKilled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Containers that are not ready, are waiting or have restarted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerHealth>,
    #[serde(skip)]
    pod_ready: bool,
}

impl PodHealth {
    /// Not Ready, and not a pod that completed its work.
    pub fn is_unhealthy(&self) -> bool {
        self.phase != "Succeeded" && !self.pod_ready
    }
}

#[derive(Serialize, Debug)]
pub struct ContainerHealth {
    pub name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub init: bool,
    pub ready: bool,
    pub restarts: i64,
    /// `waiting`, `running` or `terminated`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// How the previous instance ended: `{reason: OOMKilled, exit_code: 137, finished_at}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_termination: Option<Value>,
}

fn container_health(status: &Value, init: bool) -> ContainerHealth {
    let state_obj = status.get("state").and_then(Value::as_object);
    let (state, detail) = match state_obj {
        Some(m) if m.contains_key("waiting") => ("waiting", &m["waiting"]),
        Some(m) if m.contains_key("terminated") => ("terminated", &m["terminated"]),
        Some(m) if m.contains_key("running") => ("running", &m["running"]),
        _ => ("waiting", &Value::Null),
    };
    let last = status
        .pointer("/lastState/terminated")
        .filter(|v| v.is_object())
        .map(|t| {
            let mut m = Map::new();
            for (key, out) in [
                ("reason", "reason"),
                ("exitCode", "exit_code"),
                ("finishedAt", "finished_at"),
            ] {
                if let Some(v) = t.get(key).filter(|v| !v.is_null()) {
                    m.insert(out.to_string(), v.clone());
                }
            }
            Value::Object(m)
        });
    ContainerHealth {
        name: s(status, "/name").unwrap_or_default().to_string(),
        init,
        ready: status
            .get("ready")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        restarts: n(status, "/restartCount").unwrap_or(0),
        state,
        reason: s(detail, "/reason").map(str::to_string),
        message: s(detail, "/message").map(|m| truncate(m, 300)),
        exit_code: n(detail, "/exitCode"),
        last_termination: last,
    }
}

pub fn pod_health(pod: &Value) -> PodHealth {
    let phase = s(pod, "/status/phase").unwrap_or("Unknown").to_string();
    let containers = arr(pod, "/status/containerStatuses");
    let inits = arr(pod, "/status/initContainerStatuses");
    let total = arr(pod, "/spec/containers").len().max(containers.len());
    let ready_count = containers
        .iter()
        .filter(|c| c["ready"].as_bool() == Some(true))
        .count();
    let ready_condition = arr(pod, "/status/conditions")
        .iter()
        .find(|c| c["type"] == "Ready")
        .map(|c| c["status"] == "True");
    let pod_ready =
        ready_condition.unwrap_or(total > 0 && ready_count == total) && phase == "Running";

    let init_health: Vec<ContainerHealth> =
        inits.iter().map(|c| container_health(c, true)).collect();
    let health: Vec<ContainerHealth> = containers
        .iter()
        .map(|c| container_health(c, false))
        .collect();

    // kubectl's STATUS column, roughly: pod reason, then a stuck init container,
    // then a waiting or terminated container, then scheduling.
    let unschedulable = arr(pod, "/status/conditions")
        .iter()
        .find(|c| c["type"] == "PodScheduled" && c["status"] == "False");
    let init_reason = init_health
        .iter()
        .find(|c| c.state != "running" && c.reason.as_deref().is_some_and(|r| r != "Completed"))
        .and_then(|c| c.reason.as_ref().map(|r| format!("Init:{r}")));
    let container_reason = health
        .iter()
        .find(|c| c.state == "waiting" && c.reason.is_some())
        .or_else(|| {
            health
                .iter()
                .find(|c| c.state == "terminated" && c.reason.is_some())
        })
        .and_then(|c| c.reason.clone());
    let last_reason = health.iter().filter(|c| !c.ready).find_map(|c| {
        c.last_termination
            .as_ref()
            .and_then(|t| t["reason"].as_str())
            .map(str::to_string)
    });
    let reason = s(pod, "/status/reason")
        .map(str::to_string)
        .or(init_reason)
        .or(container_reason)
        .or_else(|| {
            unschedulable
                .and_then(|c| s(c, "/reason"))
                .map(str::to_string)
        })
        .or(last_reason);
    let message = s(pod, "/status/message")
        .or_else(|| unschedulable.and_then(|c| s(c, "/message")))
        .map(|m| truncate(m, 300));

    let restarts = health.iter().chain(&init_health).map(|c| c.restarts).sum();
    let interesting = |c: &ContainerHealth| {
        c.restarts > 0
            || (c.reason.is_some() && c.reason.as_deref() != Some("Completed"))
            || (!c.init && !c.ready)
    };
    PodHealth {
        name: s(pod, "/metadata/name").unwrap_or_default().to_string(),
        phase,
        ready: format!("{ready_count}/{total}"),
        restarts,
        reason,
        message,
        node: s(pod, "/spec/nodeName").map(str::to_string),
        containers: init_health
            .into_iter()
            .chain(health)
            .filter(interesting)
            .collect(),
        pod_ready,
    }
}

/// A workload with fewer ready replicas than it wants.
#[derive(Serialize, Debug)]
pub struct Workload {
    pub kind: &'static str,
    pub name: String,
    pub desired: i64,
    pub ready: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<i64>,
    pub unavailable: i64,
    /// Conditions that are failing (`Available=False`, `Progressing=False`
    /// with `ProgressDeadlineExceeded`, `ReplicaFailure=True`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Value>,
}

/// `key` is `deployments`, `statefulsets` or `daemonsets`.
pub fn degraded_workload(key: &str, item: &Value) -> Option<Workload> {
    let ready = n(item, "/status/readyReplicas").unwrap_or(0);
    let (kind, desired, ready, available, unavailable) = match key {
        "deployments" => {
            let desired = n(item, "/spec/replicas").unwrap_or(1);
            let available = n(item, "/status/availableReplicas").unwrap_or(0);
            let unavailable = n(item, "/status/unavailableReplicas")
                .unwrap_or(0)
                .max(desired - available)
                .max(0);
            ("Deployment", desired, ready, Some(available), unavailable)
        }
        "statefulsets" => {
            let desired = n(item, "/spec/replicas").unwrap_or(1);
            (
                "StatefulSet",
                desired,
                ready,
                None,
                (desired - ready).max(0),
            )
        }
        "daemonsets" => {
            let desired = n(item, "/status/desiredNumberScheduled").unwrap_or(0);
            let ready = n(item, "/status/numberReady").unwrap_or(0);
            let unavailable = n(item, "/status/numberUnavailable")
                .unwrap_or(0)
                .max(desired - ready)
                .max(0);
            (
                "DaemonSet",
                desired,
                ready,
                n(item, "/status/numberAvailable"),
                unavailable,
            )
        }
        _ => return None,
    };
    if unavailable == 0 && ready >= desired {
        return None;
    }
    let conditions = arr(item, "/status/conditions")
        .iter()
        .filter(|c| {
            let failing_when_false =
                matches!(c["type"].as_str(), Some("Available" | "Progressing"));
            (failing_when_false && c["status"] == "False")
                || (c["type"] == "ReplicaFailure" && c["status"] == "True")
                || c["reason"] == "ProgressDeadlineExceeded"
        })
        .map(condition_row)
        .collect();
    Some(Workload {
        kind,
        name: s(item, "/metadata/name").unwrap_or_default().to_string(),
        desired,
        ready,
        available,
        unavailable,
        conditions,
    })
}

fn condition_row(c: &Value) -> Value {
    let mut m = Map::new();
    for key in ["type", "status", "reason"] {
        if let Some(v) = c.get(key).filter(|v| !v.is_null()) {
            m.insert(key.to_string(), v.clone());
        }
    }
    if let Some(msg) = s(c, "/message") {
        m.insert("message".into(), Value::String(truncate(msg, 300)));
    }
    Value::Object(m)
}

/// A node that is not Ready, under pressure or cordoned; `None` when fine.
pub fn node_problem(node: &Value) -> Option<Value> {
    let conditions = arr(node, "/status/conditions");
    let ready = conditions
        .iter()
        .find(|c| c["type"] == "Ready")
        .and_then(|c| c["status"].as_str())
        .unwrap_or("Unknown");
    let problems: Vec<Value> = conditions
        .iter()
        .filter(|c| {
            if c["type"] == "Ready" {
                c["status"] != "True"
            } else {
                c["status"] == "True"
            }
        })
        .map(condition_row)
        .collect();
    let unschedulable = node
        .pointer("/spec/unschedulable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if ready == "True" && problems.is_empty() && !unschedulable {
        return None;
    }
    Some(json!({
        "name": s(node, "/metadata/name").unwrap_or_default(),
        "ready": ready,
        "unschedulable": unschedulable,
        "conditions": problems,
    }))
}

/// How `list` renders the rows of one resource.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    Pod,
    Deployment,
    StatefulSet,
    ReplicaSet,
    DaemonSet,
    Job,
    Node,
    Service,
    Other,
}

/// From the list's kind (`Pod` out of `PodList`) or else the resource name
/// the caller used (`pods`, `deployments.apps`, `deploy`, `Pod`).
pub fn shape_of(kind: Option<&str>, resource: &str) -> Shape {
    let name = kind
        .unwrap_or_else(|| resource.split('.').next().unwrap_or(resource))
        .to_ascii_lowercase();
    match name.as_str() {
        "pod" | "pods" | "po" => Shape::Pod,
        "deployment" | "deployments" | "deploy" => Shape::Deployment,
        "statefulset" | "statefulsets" | "sts" => Shape::StatefulSet,
        "replicaset" | "replicasets" | "rs" => Shape::ReplicaSet,
        "daemonset" | "daemonsets" | "ds" => Shape::DaemonSet,
        "job" | "jobs" => Shape::Job,
        "node" | "nodes" | "no" => Shape::Node,
        "service" | "services" | "svc" => Shape::Service,
        _ => Shape::Other,
    }
}

/// One compact row: namespace, name, and what `kubectl get` shows for the shape.
pub fn row(shape: Shape, item: &Value) -> Value {
    let mut m = Map::new();
    if let Some(ns) = s(item, "/metadata/namespace") {
        m.insert("namespace".into(), ns.into());
    }
    m.insert(
        "name".into(),
        s(item, "/metadata/name").unwrap_or_default().into(),
    );
    let ratio = |ready: &str, desired: &str| {
        format!(
            "{}/{}",
            n(item, ready).unwrap_or(0),
            n(item, desired).unwrap_or(0)
        )
    };
    match shape {
        Shape::Pod => {
            let h = pod_health(item);
            let status = match &h.reason {
                Some(r) if !h.pod_ready => r.clone(),
                _ => h.phase.clone(),
            };
            m.insert("status".into(), status.into());
            m.insert("phase".into(), h.phase.into());
            m.insert("ready".into(), h.ready.into());
            m.insert("restarts".into(), h.restarts.into());
            if let Some(node) = h.node {
                m.insert("node".into(), node.into());
            }
        }
        Shape::Deployment => {
            let desired = n(item, "/spec/replicas").unwrap_or(1);
            m.insert(
                "ready".into(),
                format!(
                    "{}/{desired}",
                    n(item, "/status/readyReplicas").unwrap_or(0)
                )
                .into(),
            );
            m.insert(
                "up_to_date".into(),
                n(item, "/status/updatedReplicas").unwrap_or(0).into(),
            );
            m.insert(
                "available".into(),
                n(item, "/status/availableReplicas").unwrap_or(0).into(),
            );
        }
        Shape::StatefulSet => {
            let desired = n(item, "/spec/replicas").unwrap_or(1);
            m.insert(
                "ready".into(),
                format!(
                    "{}/{desired}",
                    n(item, "/status/readyReplicas").unwrap_or(0)
                )
                .into(),
            );
        }
        Shape::ReplicaSet => {
            m.insert(
                "ready".into(),
                ratio("/status/readyReplicas", "/spec/replicas").into(),
            );
        }
        Shape::DaemonSet => {
            m.insert(
                "ready".into(),
                ratio("/status/numberReady", "/status/desiredNumberScheduled").into(),
            );
            m.insert(
                "available".into(),
                n(item, "/status/numberAvailable").unwrap_or(0).into(),
            );
        }
        Shape::Job => {
            let completions = n(item, "/spec/completions").unwrap_or(1);
            m.insert(
                "completions".into(),
                format!(
                    "{}/{completions}",
                    n(item, "/status/succeeded").unwrap_or(0)
                )
                .into(),
            );
            m.insert(
                "failed".into(),
                n(item, "/status/failed").unwrap_or(0).into(),
            );
        }
        Shape::Node => {
            let ready = arr(item, "/status/conditions")
                .iter()
                .find(|c| c["type"] == "Ready")
                .and_then(|c| c["status"].as_str())
                .unwrap_or("Unknown");
            m.insert("ready".into(), ready.into());
            if item.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
                m.insert("unschedulable".into(), true.into());
            }
            if let Some(v) = s(item, "/status/nodeInfo/kubeletVersion") {
                m.insert("version".into(), v.into());
            }
        }
        Shape::Service => {
            m.insert(
                "type".into(),
                s(item, "/spec/type").unwrap_or("ClusterIP").into(),
            );
            if let Some(ip) = s(item, "/spec/clusterIP") {
                m.insert("cluster_ip".into(), ip.into());
            }
            let ports: Vec<Value> = arr(item, "/spec/ports")
                .iter()
                .map(|p| format!("{}/{}", p["port"], s(p, "/protocol").unwrap_or("TCP")).into())
                .collect();
            m.insert("ports".into(), ports.into());
        }
        Shape::Other => {}
    }
    Value::Object(m)
}

/// `pod` → `Pod`, `deployments` → `Deployment`; other kinds as given.
pub fn canonical_kind(kind: &str) -> String {
    let known = [
        "Pod",
        "Node",
        "Service",
        "ConfigMap",
        "PersistentVolumeClaim",
        "PersistentVolume",
        "Namespace",
        "ServiceAccount",
        "Endpoints",
        "ReplicationController",
        "ResourceQuota",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "Job",
        "CronJob",
        "HorizontalPodAutoscaler",
        "Ingress",
        "NetworkPolicy",
        "PodDisruptionBudget",
    ];
    let lower = kind.to_ascii_lowercase();
    known
        .iter()
        .find(|k| {
            let k = k.to_ascii_lowercase();
            lower == k || lower == format!("{k}s") || lower == format!("{k}es")
        })
        .map_or_else(|| kind.to_string(), |k| k.to_string())
}

/// The apiVersion of the common kinds.
pub fn api_version_of(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Pod"
        | "Node"
        | "Service"
        | "ConfigMap"
        | "PersistentVolumeClaim"
        | "PersistentVolume"
        | "Namespace"
        | "ServiceAccount"
        | "Endpoints"
        | "ReplicationController"
        | "ResourceQuota" => "v1",
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => "apps/v1",
        "Job" | "CronJob" => "batch/v1",
        "HorizontalPodAutoscaler" => "autoscaling/v2",
        "Ingress" | "NetworkPolicy" => "networking.k8s.io/v1",
        "PodDisruptionBudget" => "policy/v1",
        _ => return None,
    })
}

/// One event, from either `v1` or `events.k8s.io/v1` shape.
pub fn event_row(ev: &Value) -> Value {
    let first = |ptrs: &[&str]| {
        ptrs.iter()
            .find_map(|p| ev.pointer(p).filter(|v| !v.is_null()).cloned())
    };
    let mut m = Map::new();
    let fields: [(&str, &[&str]); 7] = [
        ("type", &["/type"]),
        ("reason", &["/reason"]),
        ("message", &["/message", "/note"]),
        ("count", &["/count", "/series/count", "/deprecatedCount"]),
        (
            "first_seen",
            &["/firstTimestamp", "/deprecatedFirstTimestamp", "/eventTime"],
        ),
        (
            "last_seen",
            &[
                "/lastTimestamp",
                "/series/lastObservedTime",
                "/deprecatedLastTimestamp",
                "/eventTime",
            ],
        ),
        (
            "source",
            &[
                "/source/component",
                "/reportingComponent",
                "/reportingController",
            ],
        ),
    ];
    for (key, ptrs) in fields {
        if let Some(v) = first(ptrs).filter(|v| v != "") {
            m.insert(key.into(), v);
        }
    }
    Value::Object(m)
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crashloop_oom_pod() {
        let pod = json!({
            "metadata": {"name": "web-1", "namespace": "shop"},
            "spec": {"nodeName": "n1", "containers": [{"name": "app"}]},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [{
                    "name": "app", "ready": false, "restartCount": 7,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                    "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
                }]
            }
        });
        let h = pod_health(&pod);
        assert!(h.is_unhealthy());
        assert_eq!(h.reason.as_deref(), Some("CrashLoopBackOff"));
        assert_eq!(h.restarts, 7);
        assert_eq!(h.ready, "0/1");
        assert_eq!(
            h.containers[0].last_termination.as_ref().unwrap()["reason"],
            "OOMKilled"
        );
        assert_eq!(row(Shape::Pod, &pod)["status"], "CrashLoopBackOff");
    }

    #[test]
    fn healthy_and_completed_pods() {
        let running = json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "c", "ready": true, "state": {"running": {}}}]}});
        assert!(!pod_health(&running).is_unhealthy());
        let done = json!({"metadata": {"name": "b"}, "status": {"phase": "Succeeded"}});
        assert!(!pod_health(&done).is_unhealthy());
        let pending = json!({"metadata": {"name": "c"}, "status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes"}]}});
        assert_eq!(
            pod_health(&pending).reason.as_deref(),
            Some("Unschedulable")
        );
    }

    #[test]
    fn degraded_deployment() {
        let d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 3},
            "status": {"readyReplicas": 1, "availableReplicas": 1, "unavailableReplicas": 2,
                "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}]}});
        let w = degraded_workload("deployments", &d).unwrap();
        assert_eq!((w.desired, w.ready, w.unavailable), (3, 1, 2));
        assert_eq!(w.conditions.len(), 1);
        let ok = json!({"metadata": {"name": "ok"}, "spec": {"replicas": 2},
            "status": {"readyReplicas": 2, "availableReplicas": 2}});
        assert!(degraded_workload("deployments", &ok).is_none());
    }

    #[test]
    fn kinds() {
        assert_eq!(canonical_kind("pods"), "Pod");
        assert_eq!(canonical_kind("ingresses"), "Ingress");
        assert_eq!(canonical_kind("Widget"), "Widget");
        assert_eq!(shape_of(Some("Pod"), "x"), Shape::Pod);
        assert_eq!(shape_of(None, "deployments.apps"), Shape::Deployment);
    }
}
