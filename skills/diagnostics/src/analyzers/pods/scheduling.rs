//! Pods the scheduler cannot place: the nodes against the pod's selector,
//! tolerations and requests, and a toleration fix for nodes the pods select
//! that only a taint keeps them off.

use serde_json::Value;

use crate::analyzers::refs::Issue;
use crate::ctx::name_of;
use crate::fix;
use crate::model::{Container, PodSpec};

use super::diagnosis::Diagnosis;
use super::quantity::{format_bytes, format_cpu, parse_quantity, quantity_of};

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
        let requests = pod_requests(spec);
        let mut fitting = Vec::new();
        let mut lines = Vec::new();
        // Nodes the pod selects that only their taints keep it off.
        let mut taint_only: Vec<(&str, Vec<&Value>)> = Vec::new();
        for node in nodes.iter().take(50) {
            let name = name_of(node);
            let (why, untolerated) = misfit(node, spec, &requests);
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
            requests.cpu.1,
            requests.memory.1,
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

/// A pod's request for one resource: the amount, and how it is written
/// (as the spec writes it when one container holds it all: `64Gi`).
type Request = (f64, String);

/// The pod's CPU and memory requests.
struct Requests {
    cpu: Request,
    memory: Request,
}

/// Sum of the containers' requests (init containers: the largest), each as
/// its amount and as the spec writes it.
fn pod_requests(spec: &PodSpec) -> Requests {
    let request = |k: &str| -> Request {
        let get = |c: &Container| {
            let raw = c.resources.requests.get(k);
            let n = raw.and_then(quantity_of).unwrap_or(0.0);
            let written = raw.map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            (n, written)
        };
        let main: Vec<(f64, Option<String>)> = spec
            .containers
            .iter()
            .map(get)
            .filter(|(n, _)| *n > 0.0)
            .collect();
        let sum: f64 = main.iter().map(|(n, _)| n).sum();
        let init = spec
            .init_containers
            .iter()
            .map(get)
            .fold((0.0, None), |a, b| if b.0 > a.0 { b } else { a });
        let (n, single) = if init.0 > sum {
            init.clone()
        } else if main.len() == 1 {
            main[0].clone()
        } else {
            (sum, None)
        };
        let like = main
            .iter()
            .chain([&init])
            .find_map(|(_, w)| w.clone())
            .unwrap_or_default();
        let written = single.unwrap_or_else(|| {
            if k == "cpu" {
                format_cpu(n)
            } else {
                format_bytes(n, &like)
            }
        });
        (n, written)
    };
    Requests {
        cpu: request("cpu"),
        memory: request("memory"),
    }
}

/// Why `node` cannot take a pod with `spec` requesting `req_cpu` cores and
/// `req_mem` bytes (empty when it can), and the taints it does not
/// tolerate.
fn misfit<'n>(
    node: &'n Value,
    spec: &PodSpec,
    requests: &Requests,
) -> (Vec<String>, Vec<&'n Value>) {
    let (req_cpu, req_mem) = (requests.cpu.0, requests.memory.0);
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
    // Each quantity as written: the pod's as its spec, the node's as its
    // status.
    let alloc = &node["status"]["allocatable"];
    let cpu = alloc["cpu"].as_str();
    let mem = alloc["memory"].as_str();
    if let Some(cpu) = cpu
        && parse_quantity(cpu).is_some_and(|n| req_cpu > n)
    {
        why.push(format!(
            "requests {} CPU, allocatable {cpu}",
            requests.cpu.1
        ));
    }
    if let Some(mem) = mem
        && parse_quantity(mem).is_some_and(|n| req_mem > n)
    {
        why.push(format!(
            "requests {} memory, allocatable {mem}",
            requests.memory.1
        ));
    }
    (why, untolerated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn requests_are_quoted_as_the_spec_writes_them() {
        let one = spec(serde_json::json!({"containers": [
            {"name": "loader", "resources": {"requests": {"cpu": "1500m", "memory": "64Gi"}}}
        ]}));
        let r = pod_requests(&one);
        assert_eq!((r.cpu.1.as_str(), r.memory.1.as_str()), ("1500m", "64Gi"));
        assert_eq!(r.memory.0, 64.0 * 1024.0 * 1024.0 * 1024.0);
        // Two containers: their sum, in the units they are written in.
        let two = spec(serde_json::json!({"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "2", "memory": "32Gi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "500m", "memory": "32Gi"}}}
        ]}));
        let r = pod_requests(&two);
        assert_eq!((r.cpu.1.as_str(), r.memory.1.as_str()), ("2500m", "64Gi"));
        // A node too small says so with both quantities as written.
        let node = serde_json::json!({"metadata": {"name": "w1"}, "spec": {},
            "status": {"allocatable": {"cpu": "4", "memory": "16Gi"}}});
        let (why, _) = misfit(&node, &one, &pod_requests(&one));
        assert_eq!(
            why,
            vec!["requests 64Gi memory, allocatable 16Gi".to_string()]
        );
    }
}
