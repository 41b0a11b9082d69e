//! Nodes: not ready, under memory/disk/PID pressure, cordoned.

use serde_json::Value;

use super::selectors::{condition, describe_condition, obj_ref};
use crate::ctx::{Cluster, name_of};
use crate::finding::{DryRun, Finding, Fix, Severity, Source};
use crate::reasons;

pub fn analyze(cluster: &Cluster, out: &mut Vec<Finding>) {
    for node in cluster.objects("nodes") {
        let name = name_of(node);
        let nref = obj_ref(node, "Node", None);
        let taints: Vec<String> = node["spec"]["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                format!(
                    "{}{}:{}",
                    t["key"].as_str().unwrap_or(""),
                    t["value"]
                        .as_str()
                        .map(|v| format!("={v}"))
                        .unwrap_or_default(),
                    t["effect"].as_str().unwrap_or("")
                )
            })
            .collect();
        let taint_text = if taints.is_empty() {
            "none".to_string()
        } else {
            taints.join(", ")
        };

        // Ready
        let ready = condition(node, "Ready");
        if ready.is_none_or(|c| c["status"].as_str() != Some("True")) {
            let status = ready
                .and_then(|c| c["status"].as_str())
                .unwrap_or("missing");
            let message = ready.and_then(|c| c["message"].as_str()).unwrap_or("");
            let since = ready
                .and_then(|c| c["lastTransitionTime"].as_str())
                .map(|t| format!(" since {t}"))
                .unwrap_or_default();
            let why = if status == "Unknown" || message.contains("stopped posting") {
                format!(
                    "the kubelet on {name} stopped reporting{since} (the node is down, partitioned from the control plane, \
                     or its kubelet is not running); its pods are evicted once the unreachable taint's toleration expires"
                )
            } else if message.contains("cni")
                || message.contains("network plugin")
                || message.contains("NetworkReady=false")
            {
                format!(
                    "the container network is not ready on {name}{since} (the CNI plugin is not running or not configured): {message}"
                )
            } else if message.contains("runtime") {
                format!("the container runtime on {name} is not ready{since}: {message}")
            } else if message.is_empty() {
                format!("the kubelet on {name} reports the node not ready{since}")
            } else {
                format!("the kubelet on {name} reports it not ready{since}: {message}")
            };
            let mut f = Finding::new(
                nref.clone(),
                Severity::Critical,
                reasons::NODE_NOT_READY,
                format!("Node {name} is not Ready (Ready={status})"),
            )
            .root_cause(format!("Node {name} cannot run pods: {why}."))
            .evidence(
                Source::Status,
                format!("Node {name} taints"),
                taint_text.clone(),
            );
            for c in node["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let normal = if c["type"].as_str() == Some("Ready") {
                    "True"
                } else {
                    "False"
                };
                if c["status"].as_str() != Some(normal) {
                    f = f.evidence(
                        Source::Status,
                        format!("Node {name} condition {}", c["type"].as_str().unwrap_or("")),
                        describe_condition(c),
                    );
                }
            }
            out.push(f);
        }

        // Pressure
        let pressures: Vec<&Value> = ["MemoryPressure", "DiskPressure", "PIDPressure"]
            .iter()
            .filter_map(|t| condition(node, t))
            .filter(|c| c["status"].as_str() == Some("True"))
            .collect();
        if !pressures.is_empty() {
            let kinds: Vec<&str> = pressures
                .iter()
                .filter_map(|c| c["type"].as_str())
                .collect();
            let messages: Vec<String> = pressures
                .iter()
                .map(|c| {
                    format!(
                        "{} ({})",
                        c["type"].as_str().unwrap_or(""),
                        c["message"].as_str().unwrap_or("").trim_end_matches('.')
                    )
                })
                .collect();
            let advice: Vec<&str> = kinds
                .iter()
                .map(|k| match *k {
                    "MemoryPressure" => "pods using more memory than they request are evicted first",
                    "DiskPressure" => {
                        "the kubelet garbage-collects images and evicts pods with the most ephemeral storage (logs, emptyDir)"
                    }
                    _ => "a workload forks too many processes",
                })
                .collect();
            let mut f = Finding::new(
                nref.clone(),
                Severity::Warning,
                reasons::NODE_PRESSURE,
                format!("Node {name} is under {}", kinds.join(", ")),
            )
            .root_cause(format!(
                "The kubelet on {name} reports {}: it stops admitting new pods and evicts running ones ({}).",
                messages.join("; "),
                advice.join("; ")
            ))
            .evidence(Source::Status, format!("Node {name} taints"), taint_text.clone());
            for c in &pressures {
                f = f.evidence(
                    Source::Status,
                    format!("Node {name} condition {}", c["type"].as_str().unwrap_or("")),
                    describe_condition(c),
                );
            }
            let alloc = &node["status"]["allocatable"];
            if alloc.is_object() {
                f = f.evidence(
                    Source::Status,
                    format!("Node {name} status.allocatable"),
                    format!(
                        "cpu {}, memory {}, ephemeral-storage {}, pods {}",
                        alloc["cpu"].as_str().unwrap_or("?"),
                        alloc["memory"].as_str().unwrap_or("?"),
                        alloc["ephemeral-storage"].as_str().unwrap_or("?"),
                        alloc["pods"].as_str().unwrap_or("?")
                    ),
                );
            }
            out.push(f);
        }

        // Cordoned
        if node["spec"]["unschedulable"].as_bool() == Some(true) {
            out.push(
                Finding::new(
                    nref.clone(),
                    Severity::Info,
                    reasons::NODE_UNSCHEDULABLE,
                    format!("Node {name} is cordoned (spec.unschedulable): no new pod is scheduled on it"),
                )
                .root_cause(format!(
                    "Node {name} was cordoned (`kubectl cordon`/`drain`, or a node upgrade); running pods stay, new ones \
                     go elsewhere."
                ))
                .evidence(Source::Spec, format!("Node {name} spec.unschedulable"), "true")
                .evidence(Source::Status, format!("Node {name} taints"), taint_text)
                .fix(Fix {
                    target: nref,
                    description: format!(
                        "When the maintenance on {name} is over, make it schedulable again."
                    ),
                    json_patch: None,
                    yaml_diff: None,
                    kubectl: Some(format!("kubectl uncordon {name}")),
                    dry_run: Some(DryRun::Skipped {
                        why: "cordoning is deliberate: uncordon only when the node's maintenance is done".into(),
                    }),
                    requires_input: true,
                    gitops: None,
                }),
            );
        }
    }
}
