//! Pods the scheduler cannot place: the nodes against the pod's selector,
//! tolerations and requests, and a toleration fix for nodes the pods select
//! that only a taint keeps them off.

use serde_json::Value;

use crate::analyzers::refs::Issue;
use crate::ctx::name_of;
use crate::fix;
use crate::model::{Container, PodSpec};

use super::diagnosis::Diagnosis;
use super::quantity::{parse_quantity, quantity_of};

impl<'a> Diagnosis<'a, '_> {
    /// Why the pod cannot be scheduled: an unbound claim, else the nodes
    /// against its selector, tolerations and requests (evidence, and a
    /// toleration fix when only a taint keeps it off the nodes it selects).
    /// `status` is what the pod's status says.
    pub(super) fn unschedulable(&mut self, status: &str, issues: &[&Issue]) {
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
            let (why, untolerated) = misfit(node, spec, req_cpu, req_mem);
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
    pub(super) fn toleration_fix(&mut self, taint_only: &[(&str, Vec<&Value>)]) {
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
fn pod_requests(spec: &PodSpec) -> (f64, f64) {
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

/// Why `node` cannot take a pod with `spec` requesting `req_cpu` cores and
/// `req_mem` bytes (empty when it can), and the taints it does not
/// tolerate.
fn misfit<'n>(
    node: &'n Value,
    spec: &PodSpec,
    req_cpu: f64,
    req_mem: f64,
) -> (Vec<String>, Vec<&'n Value>) {
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
    (why, untolerated)
}
