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

type Cells = fn(&Value, DateTime<Utc>) -> Vec<Value>;

/// The columns and the cell function of a kind.
fn printer(kind: &ResourceKind) -> (Vec<Column>, Cells) {
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Pod") => (
            vec![
                col("Name", "string", 0),
                col("Ready", "string", 0),
                col("Status", "string", 0),
                col("Restarts", "string", 0),
                col("Age", "string", 0),
                col("IP", "string", 1),
                col("Node", "string", 1),
            ],
            pod_cells,
        ),
        ("apps", "Deployment") => (
            vec![
                col("Name", "string", 0),
                col("Ready", "string", 0),
                col("Up-to-date", "integer", 0),
                col("Available", "integer", 0),
                col("Age", "string", 0),
                col("Containers", "string", 1),
                col("Images", "string", 1),
                col("Selector", "string", 1),
            ],
            |o, now| {
                vec![
                    name(o),
                    json!(format!(
                        "{}/{}",
                        int(o, "/status/readyReplicas"),
                        int(o, "/spec/replicas")
                    )),
                    json!(int(o, "/status/updatedReplicas")),
                    json!(int(o, "/status/availableReplicas")),
                    age(o, now),
                    containers(o, "name"),
                    containers(o, "image"),
                    selector(o),
                ]
            },
        ),
        ("apps", "ReplicaSet") | ("", "ReplicationController") => (
            vec![
                col("Name", "string", 0),
                col("Desired", "integer", 0),
                col("Current", "integer", 0),
                col("Ready", "integer", 0),
                col("Age", "string", 0),
                col("Containers", "string", 1),
                col("Images", "string", 1),
                col("Selector", "string", 1),
            ],
            |o, now| {
                vec![
                    name(o),
                    json!(int(o, "/spec/replicas")),
                    json!(int(o, "/status/replicas")),
                    json!(int(o, "/status/readyReplicas")),
                    age(o, now),
                    containers(o, "name"),
                    containers(o, "image"),
                    selector(o),
                ]
            },
        ),
        ("apps", "StatefulSet") => (
            vec![
                col("Name", "string", 0),
                col("Ready", "string", 0),
                col("Age", "string", 0),
                col("Containers", "string", 1),
                col("Images", "string", 1),
            ],
            |o, now| {
                vec![
                    name(o),
                    json!(format!(
                        "{}/{}",
                        int(o, "/status/readyReplicas"),
                        int(o, "/spec/replicas")
                    )),
                    age(o, now),
                    containers(o, "name"),
                    containers(o, "image"),
                ]
            },
        ),
        ("apps", "DaemonSet") => (
            vec![
                col("Name", "string", 0),
                col("Desired", "integer", 0),
                col("Current", "integer", 0),
                col("Ready", "integer", 0),
                col("Up-to-date", "integer", 0),
                col("Available", "integer", 0),
                col("Node Selector", "string", 0),
                col("Age", "string", 0),
                col("Containers", "string", 1),
                col("Images", "string", 1),
            ],
            |o, now| {
                let node_selector = o
                    .pointer("/spec/template/spec/nodeSelector")
                    .and_then(Value::as_object)
                    .filter(|m| !m.is_empty())
                    .map_or_else(
                        || "<none>".to_string(),
                        |m| {
                            m.iter()
                                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                                .collect::<Vec<_>>()
                                .join(",")
                        },
                    );
                vec![
                    name(o),
                    json!(int(o, "/status/desiredNumberScheduled")),
                    json!(int(o, "/status/currentNumberScheduled")),
                    json!(int(o, "/status/numberReady")),
                    json!(int(o, "/status/updatedNumberScheduled")),
                    json!(int(o, "/status/numberAvailable")),
                    json!(node_selector),
                    age(o, now),
                    containers(o, "name"),
                    containers(o, "image"),
                ]
            },
        ),
        ("", "Service") => (
            vec![
                col("Name", "string", 0),
                col("Type", "string", 0),
                col("Cluster-IP", "string", 0),
                col("External-IP", "string", 0),
                col("Port(s)", "string", 0),
                col("Age", "string", 0),
                col("Selector", "string", 1),
            ],
            service_cells,
        ),
        ("", "Node") => (
            vec![
                col("Name", "string", 0),
                col("Status", "string", 0),
                col("Roles", "string", 0),
                col("Age", "string", 0),
                col("Version", "string", 0),
                col("Internal-IP", "string", 1),
                col("OS-Image", "string", 1),
                col("Kernel-Version", "string", 1),
                col("Container-Runtime", "string", 1),
            ],
            node_cells,
        ),
        ("", "Namespace") => (
            vec![
                col("Name", "string", 0),
                col("Status", "string", 0),
                col("Age", "string", 0),
            ],
            |o, now| vec![name(o), json!(text(o, "/status/phase")), age(o, now)],
        ),
        ("", "ConfigMap") => (
            vec![
                col("Name", "string", 0),
                col("Data", "integer", 0),
                col("Age", "string", 0),
            ],
            |o, now| {
                vec![
                    name(o),
                    json!(count(o, "/data") + count(o, "/binaryData")),
                    age(o, now),
                ]
            },
        ),
        ("", "Secret") => (
            vec![
                col("Name", "string", 0),
                col("Type", "string", 0),
                col("Data", "integer", 0),
                col("Age", "string", 0),
            ],
            |o, now| {
                vec![
                    name(o),
                    json!(text(o, "/type")),
                    json!(count(o, "/data") + count(o, "/stringData")),
                    age(o, now),
                ]
            },
        ),
        ("", "Event") => (
            vec![
                col("Last Seen", "string", 0),
                col("Type", "string", 0),
                col("Reason", "string", 0),
                col("Object", "string", 0),
                col("Message", "string", 0),
                col("Count", "integer", 1),
                col("Name", "string", 1),
            ],
            |o, now| {
                let last_seen = ["/lastTimestamp", "/series/lastObservedTime", "/eventTime"]
                    .iter()
                    .filter_map(|p| o.pointer(p).and_then(Value::as_str))
                    .find(|s| !s.is_empty())
                    .map_or_else(|| age(o, now), |t| since(t, now));
                vec![
                    last_seen,
                    json!(text(o, "/type")),
                    json!(text(o, "/reason")),
                    json!(format!(
                        "{}/{}",
                        text(o, "/involvedObject/kind").to_ascii_lowercase(),
                        text(o, "/involvedObject/name")
                    )),
                    json!(text(o, "/message").trim()),
                    json!(int(o, "/count")),
                    name(o),
                ]
            },
        ),
        ("", "PersistentVolumeClaim") => (
            vec![
                col("Name", "string", 0),
                col("Status", "string", 0),
                col("Volume", "string", 0),
                col("Capacity", "string", 0),
                col("Access Modes", "string", 0),
                col("StorageClass", "string", 0),
                col("Age", "string", 0),
            ],
            |o, now| {
                let modes = o
                    .pointer("/status/accessModes")
                    .and_then(Value::as_array)
                    .map(|modes| {
                        modes
                            .iter()
                            .filter_map(Value::as_str)
                            .map(|m| match m {
                                "ReadWriteOnce" => "RWO",
                                "ReadOnlyMany" => "ROX",
                                "ReadWriteMany" => "RWX",
                                "ReadWriteOncePod" => "RWOP",
                                other => other,
                            })
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                vec![
                    name(o),
                    json!(text(o, "/status/phase")),
                    json!(text(o, "/spec/volumeName")),
                    json!(text(o, "/status/capacity/storage")),
                    json!(modes),
                    json!(or_none(text(o, "/spec/storageClassName"))),
                    age(o, now),
                ]
            },
        ),
        ("autoscaling", "HorizontalPodAutoscaler") => (
            vec![
                col("Name", "string", 0),
                col("Reference", "string", 0),
                col("Targets", "string", 0),
                col("MinPods", "string", 0),
                col("MaxPods", "integer", 0),
                col("Replicas", "integer", 0),
                col("Age", "string", 0),
            ],
            hpa_cells,
        ),
        ("networking.k8s.io", "Ingress") => (
            vec![
                col("Name", "string", 0),
                col("Class", "string", 0),
                col("Hosts", "string", 0),
                col("Address", "string", 0),
                col("Ports", "string", 0),
                col("Age", "string", 0),
            ],
            |o, now| {
                let hosts: Vec<&str> = o
                    .pointer("/spec/rules")
                    .and_then(Value::as_array)
                    .map(|rules| {
                        rules
                            .iter()
                            .map(|r| r.get("host").and_then(Value::as_str).unwrap_or("*"))
                            .collect()
                    })
                    .unwrap_or_default();
                let tls = o
                    .pointer("/spec/tls")
                    .and_then(Value::as_array)
                    .is_some_and(|t| !t.is_empty());
                vec![
                    name(o),
                    json!(or_none(text(o, "/spec/ingressClassName"))),
                    json!(if hosts.is_empty() {
                        "*".to_string()
                    } else {
                        hosts.join(",")
                    }),
                    json!(load_balancer(o).join(",")),
                    json!(if tls { "80, 443" } else { "80" }),
                    age(o, now),
                ]
            },
        ),
        _ => (
            vec![col("Name", "string", 0), col("Age", "string", 0)],
            |o, now| vec![name(o), age(o, now)],
        ),
    }
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
    let (columns, cells) = printer(kind);
    let definitions: Vec<Value> = columns
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
            let mut row = json!({"cells": cells(item, now)});
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

fn text<'a>(o: &'a Value, pointer: &str) -> &'a str {
    o.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn int(o: &Value, pointer: &str) -> i64 {
    o.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn count(o: &Value, pointer: &str) -> usize {
    o.pointer(pointer)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "<none>" } else { s }
}

fn name(o: &Value) -> Value {
    json!(text(o, "/metadata/name"))
}

fn age(o: &Value, now: DateTime<Utc>) -> Value {
    match o
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
    {
        Some(t) => since(t, now),
        None => json!("<unknown>"),
    }
}

/// `translateTimestampSince`: how long ago, as kubectl words it.
fn since(timestamp: &str, now: DateTime<Utc>) -> Value {
    match DateTime::parse_from_rfc3339(timestamp) {
        Ok(t) => json!(human_duration(
            now.signed_duration_since(t.with_timezone(&Utc))
                .num_seconds()
        )),
        Err(_) => json!("<unknown>"),
    }
}

/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The pod template's containers' `field`, comma-joined (wide output).
fn containers(o: &Value, field: &str) -> Value {
    let joined = o
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get(field).and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!(joined)
}

fn selector(o: &Value) -> Value {
    let Some(selector) = o.pointer("/spec/selector").and_then(Value::as_object) else {
        return json!("<none>");
    };
    // A workload's LabelSelector, or a ReplicationController's plain map.
    let labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .unwrap_or(selector);
    let mut terms: Vec<String> = labels
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
        .collect();
    if let Some(expressions) = selector.get("matchExpressions").and_then(Value::as_array) {
        for e in expressions {
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|vs| vs.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            terms.push(match e.get("operator").and_then(Value::as_str) {
                Some("In") => format!("{key} in ({})", values.join(",")),
                Some("NotIn") => format!("{key} notin ({})", values.join(",")),
                Some("DoesNotExist") => format!("!{key}"),
                _ => key.to_string(),
            });
        }
    }
    json!(if terms.is_empty() {
        "<none>".to_string()
    } else {
        terms.join(",")
    })
}

fn load_balancer(o: &Value) -> Vec<String> {
    o.pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .map(|ingress| {
            ingress
                .iter()
                .filter_map(|i| {
                    i.get("ip")
                        .or_else(|| i.get("hostname"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `printPod`: READY, the one-word STATUS kubectl users know
/// (`CrashLoopBackOff`, `Init:0/1`, `Terminating`…), RESTARTS with the age of
/// the last one.
fn pod_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let empty = Vec::new();
    let array = |pointer: &str| {
        o.pointer(pointer)
            .and_then(Value::as_array)
            .unwrap_or(&empty)
    };
    let total = array("/spec/containers").len();
    let mut reason = text(o, "/status/phase").to_string();
    if !text(o, "/status/reason").is_empty() {
        reason = text(o, "/status/reason").to_string();
    }
    let mut restarts = 0i64;
    let mut ready = 0;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut note_restart = |status: &Value| {
        if let Some(t) = status
            .pointer("/lastState/terminated/finishedAt")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        {
            let t = t.with_timezone(&Utc);
            last_restart = Some(last_restart.map_or(t, |l| l.max(t)));
        }
    };
    let init_containers = array("/spec/initContainers");
    let mut initializing = false;
    for (i, status) in array("/status/initContainerStatuses").iter().enumerate() {
        restarts += status
            .get("restartCount")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        note_restart(status);
        let terminated = status.pointer("/state/terminated");
        let waiting_reason = text(status, "/state/waiting/reason");
        let sidecar = init_containers
            .iter()
            .find(|c| c.get("name") == status.get("name"))
            .is_some_and(|c| text(c, "/restartPolicy") == "Always");
        if terminated.is_some_and(|t| t.get("exitCode").and_then(Value::as_i64) == Some(0)) {
            continue;
        }
        if sidecar && status.get("started").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        initializing = true;
        reason = if let Some(t) = terminated {
            let r = text(t, "/reason");
            if !r.is_empty() {
                format!("Init:{r}")
            } else if int(t, "/signal") != 0 {
                format!("Init:Signal:{}", int(t, "/signal"))
            } else {
                format!("Init:ExitCode:{}", int(t, "/exitCode"))
            }
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_containers.len())
        };
        break;
    }
    let initialized = array("/status/conditions")
        .iter()
        .any(|c| text(c, "/type") == "Initialized" && text(c, "/status") == "True");
    if !initializing || initialized {
        let mut has_running = false;
        for status in array("/status/containerStatuses").iter().rev() {
            restarts += status
                .get("restartCount")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            note_restart(status);
            let waiting = text(status, "/state/waiting/reason");
            let terminated = status.pointer("/state/terminated");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = terminated {
                let r = text(t, "/reason");
                reason = if !r.is_empty() {
                    r.to_string()
                } else if int(t, "/signal") != 0 {
                    format!("Signal:{}", int(t, "/signal"))
                } else {
                    format!("ExitCode:{}", int(t, "/exitCode"))
                };
            } else if status.get("ready").and_then(Value::as_bool) == Some(true)
                && status.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = array("/status/conditions")
                .iter()
                .any(|c| text(c, "/type") == "Ready" && text(c, "/status") == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.to_string();
        }
    }
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        reason = if text(o, "/status/reason") == "NodeLost" {
            "Unknown".to_string()
        } else {
            "Terminating".to_string()
        };
    }
    let restarts = match last_restart {
        Some(t) if restarts != 0 => format!(
            "{restarts} ({} ago)",
            human_duration(now.signed_duration_since(t).num_seconds())
        ),
        _ => restarts.to_string(),
    };
    vec![
        name(o),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts),
        age(o, now),
        json!(or_none(text(o, "/status/podIP"))),
        json!(or_none(text(o, "/spec/nodeName"))),
    ]
}

fn service_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let service_type = text(o, "/spec/type");
    let service_type = if service_type.is_empty() {
        "ClusterIP"
    } else {
        service_type
    };
    let mut external: Vec<String> = o
        .pointer("/spec/externalIPs")
        .and_then(Value::as_array)
        .map(|ips| {
            ips.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let external = match service_type {
        "ExternalName" => text(o, "/spec/externalName").to_string(),
        "LoadBalancer" => {
            external.extend(load_balancer(o));
            if external.is_empty() {
                "<pending>".to_string()
            } else {
                external.join(",")
            }
        }
        _ if external.is_empty() => "<none>".to_string(),
        _ => external.join(","),
    };
    let ports: Vec<String> = o
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .map(|p| {
                    let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                    let port = int(p, "/port");
                    match p.get("nodePort").and_then(Value::as_i64) {
                        Some(node_port) => format!("{port}:{node_port}/{protocol}"),
                        None => format!("{port}/{protocol}"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let selector = o
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
        .map_or_else(
            || "<none>".to_string(),
            |m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            },
        );
    vec![
        name(o),
        json!(service_type),
        json!(or_none(text(o, "/spec/clusterIP"))),
        json!(external),
        json!(if ports.is_empty() {
            "<none>".to_string()
        } else {
            ports.join(",")
        }),
        age(o, now),
        json!(selector),
    ]
}

fn node_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ready = o
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| text(c, "/type") == "Ready"))
        .map(|c| text(c, "/status"));
    let mut status = match ready {
        Some("True") => "Ready".to_string(),
        Some("False") => "NotReady".to_string(),
        _ => "Unknown".to_string(),
    };
    if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<String> = o
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| {
                    if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                        Some(role.to_string())
                    } else if k == "kubernetes.io/role" {
                        v.as_str().map(str::to_string)
                    } else {
                        None
                    }
                })
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    let address = |kind: &str| {
        o.pointer("/status/addresses")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|x| text(x, "/type") == kind))
            .map_or("<none>", |x| text(x, "/address"))
            .to_string()
    };
    vec![
        name(o),
        json!(status),
        json!(if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles.join(",")
        }),
        age(o, now),
        json!(text(o, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(text(o, "/status/nodeInfo/osImage")),
        json!(text(o, "/status/nodeInfo/kernelVersion")),
        json!(text(o, "/status/nodeInfo/containerRuntimeVersion")),
    ]
}

/// `cpu: 45%/70%` per metric, `<unknown>` where the status has no current
/// value (which is exactly what a broken HPA shows).
fn hpa_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let empty = Vec::new();
    let specs = o
        .pointer("/spec/metrics")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let current = o
        .pointer("/status/currentMetrics")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let targets: Vec<String> = specs
        .iter()
        .map(|m| {
            if text(m, "/type") != "Resource" {
                return format!("<unknown>/{}", text(m, "/type"));
            }
            let resource = text(m, "/resource/name");
            let target = &m["resource"]["target"];
            let now_value = current
                .iter()
                .find(|c| text(c, "/type") == "Resource" && text(c, "/resource/name") == resource)
                .map(|c| &c["resource"]["current"]);
            match target.get("averageUtilization").and_then(Value::as_i64) {
                Some(utilization) => {
                    let current = now_value
                        .and_then(|c| c.get("averageUtilization"))
                        .and_then(Value::as_i64)
                        .map_or_else(|| "<unknown>".to_string(), |u| format!("{u}%"));
                    format!("{resource}: {current}/{utilization}%")
                }
                None => {
                    let field = if target.get("averageValue").is_some() {
                        "averageValue"
                    } else {
                        "value"
                    };
                    let wanted = target.get(field).and_then(Value::as_str).unwrap_or("");
                    let current = now_value
                        .and_then(|c| c.get(field))
                        .and_then(Value::as_str)
                        .unwrap_or("<unknown>");
                    format!("{resource}: {current}/{wanted}")
                }
            }
        })
        .collect();
    let min = o
        .pointer("/spec/minReplicas")
        .and_then(Value::as_i64)
        .map_or_else(|| "<unset>".to_string(), |m| m.to_string());
    vec![
        name(o),
        json!(format!(
            "{}/{}",
            text(o, "/spec/scaleTargetRef/kind"),
            text(o, "/spec/scaleTargetRef/name")
        )),
        json!(if targets.is_empty() {
            "<none>".to_string()
        } else {
            targets.join(", ")
        }),
        json!(min),
        json!(int(o, "/spec/maxReplicas")),
        json!(int(o, "/status/currentReplicas")),
        age(o, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_match_kubectl() {
        for (seconds, text) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (59, "59s"),
            (119, "119s"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (30 * 3600, "30h"),
            (3 * 86400 + 3600, "3d1h"),
            (40 * 86400, "40d"),
            (3 * 365 * 86400 + 86400, "3y1d"),
        ] {
            assert_eq!(human_duration(seconds), text, "{seconds}");
        }
    }

    #[test]
    fn accept_headers_that_ask_for_tables() {
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json, */*"));
    }

    #[test]
    fn pod_status_words() {
        let now = Utc::now();
        let pod = json!({
            "metadata": {"name": "p", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 7,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2020-01-01T00:00:00Z"}}}
            ]}
        });
        let cells = pod_cells(&pod, now);
        assert_eq!(cells[1], "1/2");
        assert_eq!(cells[2], "CrashLoopBackOff");
        assert!(
            cells[3].as_str().unwrap().starts_with("7 ("),
            "{}",
            cells[3]
        );
        let pending = json!({"metadata": {"name": "q"}, "spec": {"containers": [{"name": "a"}]},
                             "status": {"phase": "Pending"}});
        assert_eq!(pod_cells(&pending, now)[2], "Pending");
    }
}
