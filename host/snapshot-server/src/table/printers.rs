//! The printers: for each kind an SRE looks at first, the columns the API
//! server prints (`pkg/printers/internalversion`) and how a row's cells are
//! filled; every other kind gets NAME and AGE.

use guardian_kube_types::ResourceKind;
use guardian_kube_types::time::parse_rfc3339_micros;
use serde_json::{Value, json};

use super::cells::{
    age, containers, count, human_duration, int, load_balancer, name, or_none, seconds_between,
    selector, since, text,
};
use super::{Printer, col};

/// The printer of `kind`.
pub(super) fn of(kind: &ResourceKind) -> &'static Printer {
    let key = (kind.group.as_str(), kind.kind.as_str());
    PRINTERS
        .iter()
        .find(|p| p.kinds.contains(&key))
        .unwrap_or(&OTHER)
}

static PRINTERS: &[Printer] = &[
    POD,
    DEPLOYMENT,
    REPLICA_SET,
    STATEFUL_SET,
    DAEMON_SET,
    SERVICE,
    NODE,
    NAMESPACE,
    CONFIG_MAP,
    SECRET,
    EVENT,
    PERSISTENT_VOLUME_CLAIM,
    HORIZONTAL_POD_AUTOSCALER,
    INGRESS,
];

/// Any other kind.
const OTHER: Printer = Printer {
    kinds: &[],
    columns: &[col("Name", "string", 0), col("Age", "string", 0)],
    cells: |o, now| vec![name(o), age(o, now)],
};

const POD: Printer = Printer {
    kinds: &[("", "Pod")],
    columns: &[
        col("Name", "string", 0),
        col("Ready", "string", 0),
        col("Status", "string", 0),
        col("Restarts", "string", 0),
        col("Age", "string", 0),
        col("IP", "string", 1),
        col("Node", "string", 1),
    ],
    cells: pod_cells,
};

const DEPLOYMENT: Printer = Printer {
    kinds: &[("apps", "Deployment")],
    columns: &[
        col("Name", "string", 0),
        col("Ready", "string", 0),
        col("Up-to-date", "integer", 0),
        col("Available", "integer", 0),
        col("Age", "string", 0),
        col("Containers", "string", 1),
        col("Images", "string", 1),
        col("Selector", "string", 1),
    ],
    cells: |o, now| {
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
};

const REPLICA_SET: Printer = Printer {
    kinds: &[("apps", "ReplicaSet"), ("", "ReplicationController")],
    columns: &[
        col("Name", "string", 0),
        col("Desired", "integer", 0),
        col("Current", "integer", 0),
        col("Ready", "integer", 0),
        col("Age", "string", 0),
        col("Containers", "string", 1),
        col("Images", "string", 1),
        col("Selector", "string", 1),
    ],
    cells: |o, now| {
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
};

const STATEFUL_SET: Printer = Printer {
    kinds: &[("apps", "StatefulSet")],
    columns: &[
        col("Name", "string", 0),
        col("Ready", "string", 0),
        col("Age", "string", 0),
        col("Containers", "string", 1),
        col("Images", "string", 1),
    ],
    cells: |o, now| {
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
};

const DAEMON_SET: Printer = Printer {
    kinds: &[("apps", "DaemonSet")],
    columns: &[
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
    cells: daemon_set_cells,
};

const SERVICE: Printer = Printer {
    kinds: &[("", "Service")],
    columns: &[
        col("Name", "string", 0),
        col("Type", "string", 0),
        col("Cluster-IP", "string", 0),
        col("External-IP", "string", 0),
        col("Port(s)", "string", 0),
        col("Age", "string", 0),
        col("Selector", "string", 1),
    ],
    cells: service_cells,
};

const NODE: Printer = Printer {
    kinds: &[("", "Node")],
    columns: &[
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
    cells: node_cells,
};

const NAMESPACE: Printer = Printer {
    kinds: &[("", "Namespace")],
    columns: &[
        col("Name", "string", 0),
        col("Status", "string", 0),
        col("Age", "string", 0),
    ],
    cells: |o, now| vec![name(o), json!(text(o, "/status/phase")), age(o, now)],
};

const CONFIG_MAP: Printer = Printer {
    kinds: &[("", "ConfigMap")],
    columns: &[
        col("Name", "string", 0),
        col("Data", "integer", 0),
        col("Age", "string", 0),
    ],
    cells: |o, now| {
        vec![
            name(o),
            json!(count(o, "/data") + count(o, "/binaryData")),
            age(o, now),
        ]
    },
};

const SECRET: Printer = Printer {
    kinds: &[("", "Secret")],
    columns: &[
        col("Name", "string", 0),
        col("Type", "string", 0),
        col("Data", "integer", 0),
        col("Age", "string", 0),
    ],
    cells: |o, now| {
        vec![
            name(o),
            json!(text(o, "/type")),
            json!(count(o, "/data") + count(o, "/stringData")),
            age(o, now),
        ]
    },
};

const EVENT: Printer = Printer {
    kinds: &[("", "Event")],
    columns: &[
        col("Last Seen", "string", 0),
        col("Type", "string", 0),
        col("Reason", "string", 0),
        col("Object", "string", 0),
        col("Message", "string", 0),
        col("Count", "integer", 1),
        col("Name", "string", 1),
    ],
    cells: event_cells,
};

const PERSISTENT_VOLUME_CLAIM: Printer = Printer {
    kinds: &[("", "PersistentVolumeClaim")],
    columns: &[
        col("Name", "string", 0),
        col("Status", "string", 0),
        col("Volume", "string", 0),
        col("Capacity", "string", 0),
        col("Access Modes", "string", 0),
        col("StorageClass", "string", 0),
        col("Age", "string", 0),
    ],
    cells: persistent_volume_claim_cells,
};

const HORIZONTAL_POD_AUTOSCALER: Printer = Printer {
    kinds: &[("autoscaling", "HorizontalPodAutoscaler")],
    columns: &[
        col("Name", "string", 0),
        col("Reference", "string", 0),
        col("Targets", "string", 0),
        col("MinPods", "string", 0),
        col("MaxPods", "integer", 0),
        col("Replicas", "integer", 0),
        col("Age", "string", 0),
    ],
    cells: hpa_cells,
};

const INGRESS: Printer = Printer {
    kinds: &[("networking.k8s.io", "Ingress")],
    columns: &[
        col("Name", "string", 0),
        col("Class", "string", 0),
        col("Hosts", "string", 0),
        col("Address", "string", 0),
        col("Ports", "string", 0),
        col("Age", "string", 0),
    ],
    cells: ingress_cells,
};

/// `printPod`: READY, the one-word STATUS kubectl users know
/// (`CrashLoopBackOff`, `Init:0/1`, `Terminating`…), RESTARTS with the age of
/// the last one.
fn pod_cells(o: &Value, now: i64) -> Vec<Value> {
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
    // Microseconds since the epoch.
    let mut last_restart: Option<i64> = None;
    let mut note_restart = |status: &Value| {
        if let Some(t) = status
            .pointer("/lastState/terminated/finishedAt")
            .and_then(Value::as_str)
            .and_then(parse_rfc3339_micros)
        {
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
            human_duration(seconds_between(t, now))
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

fn daemon_set_cells(o: &Value, now: i64) -> Vec<Value> {
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
}

fn service_cells(o: &Value, now: i64) -> Vec<Value> {
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

fn node_cells(o: &Value, now: i64) -> Vec<Value> {
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

fn event_cells(o: &Value, now: i64) -> Vec<Value> {
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
}

fn persistent_volume_claim_cells(o: &Value, now: i64) -> Vec<Value> {
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
}

/// `cpu: 45%/70%` per metric, `<unknown>` where the status has no current
/// value (which is exactly what a broken HPA shows).
fn hpa_cells(o: &Value, now: i64) -> Vec<Value> {
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

fn ingress_cells(o: &Value, now: i64) -> Vec<Value> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_printer_and_the_rest_name_and_age() {
        let kind = |group: &str, kind: &str| ResourceKind {
            group: group.into(),
            kind: kind.into(),
            ..ResourceKind::discovered("v1", kind, true)
        };
        for printer in PRINTERS {
            for (group, k) in printer.kinds {
                assert!(std::ptr::eq(of(&kind(group, k)), printer), "{group}/{k}");
            }
        }
        let other = of(&kind("example.com", "Widget"));
        let names: Vec<&str> = other.columns.iter().map(|c| c.name).collect();
        assert_eq!(names, ["Name", "Age"]);
        assert_eq!(of(&kind("", "ReplicationController")).columns.len(), 8);
    }

    #[test]
    fn pod_status_words() {
        let now = parse_rfc3339_micros("2026-11-23T13:30:00Z").unwrap();
        let pod = json!({
            "metadata": {"name": "p", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 7,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-11-23T13:25:00Z"}}}
            ]}
        });
        let cells = pod_cells(&pod, now);
        assert_eq!(cells[1], "1/2");
        assert_eq!(cells[2], "CrashLoopBackOff");
        assert_eq!(cells[3], "7 (5m ago)");
        assert_eq!(cells[4], "6y328d");
        let pending = json!({"metadata": {"name": "q"}, "spec": {"containers": [{"name": "a"}]},
                             "status": {"phase": "Pending"}});
        assert_eq!(pod_cells(&pending, now)[2], "Pending");
    }
}
