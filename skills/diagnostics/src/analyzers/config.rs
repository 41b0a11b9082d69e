//! ConfigMaps no pod and no workload template references (hygiene, info).

use std::collections::BTreeSet;

use serde_json::Value;

use super::selectors::{obj_ref, pod_spec_of, workloads};
use crate::ctx::{Scope, name_of};
use crate::finding::{Finding, Severity, Source};
use crate::fix;
use crate::model::Pod;
use crate::reasons;

/// ConfigMaps that components create and read by name, not through a pod
/// reference.
const WELL_KNOWN: &[&str] = &[
    "kube-root-ca.crt",
    "istio-ca-root-cert",
    "openshift-service-ca.crt",
];

/// Past this many unused ConfigMaps in a namespace, one finding names them
/// all (a namespace holding thousands of generated ConfigMaps must not
/// drown the report).
const MAX_UNUSED_FINDINGS: usize = 25;

/// Names quoted in the evidence of the one finding for many.
const NAMES_QUOTED: usize = 20;

/// Namespaces whose ConfigMaps belong to the control plane.
const SYSTEM_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

fn pod_refs<'p>(pod: &'p Pod, into: &mut BTreeSet<&'p str>) {
    for c in pod.spec.containers.iter().chain(&pod.spec.init_containers) {
        for e in &c.env {
            if let Some(r) = e
                .value_from
                .as_ref()
                .and_then(|v| v.config_map_key_ref.as_ref())
            {
                into.insert(&r.name);
            }
        }
        for e in &c.env_from {
            if let Some(r) = &e.config_map_ref {
                into.insert(&r.name);
            }
        }
    }
    for v in &pod.spec.volumes {
        if let Some(cm) = &v.config_map {
            into.insert(&cm.name);
        }
        for s in v.projected.iter().flat_map(|p| &p.sources) {
            if let Some(cm) = &s.config_map {
                into.insert(&cm.name);
            }
        }
    }
}

/// The same references, in a pod template read as JSON.
fn template_refs(spec: &Value, into: &mut BTreeSet<String>) {
    let containers = ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().into_iter().flatten());
    for c in containers {
        for e in c["env"].as_array().into_iter().flatten() {
            if let Some(n) = e["valueFrom"]["configMapKeyRef"]["name"].as_str() {
                into.insert(n.to_string());
            }
        }
        for e in c["envFrom"].as_array().into_iter().flatten() {
            if let Some(n) = e["configMapRef"]["name"].as_str() {
                into.insert(n.to_string());
            }
        }
    }
    for v in spec["volumes"].as_array().into_iter().flatten() {
        if let Some(n) = v["configMap"]["name"].as_str() {
            into.insert(n.to_string());
        }
        for s in v["projected"]["sources"].as_array().into_iter().flatten() {
            if let Some(n) = s["configMap"]["name"].as_str() {
                into.insert(n.to_string());
            }
        }
    }
}

pub fn analyze(scope: &Scope, out: &mut Vec<Finding>) {
    let ns = scope.namespace.as_str();
    if SYSTEM_NAMESPACES.contains(&ns) {
        return;
    }
    let configmaps = scope.objects("configmaps");
    if configmaps.is_empty() {
        return;
    }
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for pod in &scope.pods {
        pod_refs(pod, &mut used);
    }
    // Workloads scaled to zero, suspended CronJobs: no pod, still a user.
    let mut templated: BTreeSet<String> = BTreeSet::new();
    for (kind, object) in workloads(scope) {
        if let Some(spec) = pod_spec_of(object, kind) {
            template_refs(spec, &mut templated);
        }
    }
    for job in scope.objects("jobs.batch") {
        template_refs(&job["spec"]["template"]["spec"], &mut templated);
    }
    let unused: Vec<&Value> = configmaps
        .iter()
        .filter(|cm| {
            let name = name_of(cm);
            let meta = &cm["metadata"];
            !(WELL_KNOWN.contains(&name)
                || used.contains(name)
                || templated.contains(name)
                || meta["ownerReferences"].as_array().is_some_and(|o| !o.is_empty())
                // Leader-election locks and Helm release records.
                || meta["annotations"]["control-plane.alpha.kubernetes.io/leader"].is_string()
                || meta["labels"]["owner"].as_str() == Some("helm"))
        })
        .collect();
    if unused.len() > MAX_UNUSED_FINDINGS {
        out.push(many_unused(scope, &unused));
        return;
    }
    for cm in unused {
        let name = name_of(cm);
        let keys: Vec<&str> = cm["data"]
            .as_object()
            .into_iter()
            .chain(cm["binaryData"].as_object())
            .flat_map(|m| m.keys().map(String::as_str))
            .collect();
        let cref = obj_ref(cm, "ConfigMap", Some(ns));
        out.push(
            Finding::new(
                cref.clone(),
                Severity::Info,
                reasons::CONFIG_MAP_UNUSED,
                format!("ConfigMap {ns}/{name} is not referenced by any pod or workload in {ns}"),
            )
            .root_cause(format!(
                "No pod, Deployment, StatefulSet, DaemonSet, Job or CronJob in {ns} mounts ConfigMap {name} or reads \
                 it through env/envFrom; it is left over from a removed workload, or read by an application through \
                 the API (which this check cannot see)."
            ))
            .evidence(
                Source::Config,
                format!("ConfigMap {ns}/{name} keys"),
                if keys.is_empty() { "no keys".to_string() } else { keys.join(", ") },
            )
            .fix(fix::needs_input(
                cref,
                "Delete it once you have checked nothing reads it through the API.",
                format!("kubectl delete configmap {name} -n {ns}"),
            )),
        );
    }
}

/// One finding for a namespace with many unused ConfigMaps.
fn many_unused(scope: &Scope, unused: &[&Value]) -> Finding {
    let ns = scope.namespace.as_str();
    let names: Vec<&str> = unused.iter().map(|cm| name_of(cm)).collect();
    let mut quoted = names
        .iter()
        .take(NAMES_QUOTED)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > NAMES_QUOTED {
        quoted.push_str(&format!(", … ({} in all)", names.len()));
    }
    let nref = crate::finding::ObjRef::new("v1", "Namespace", None, ns);
    Finding::new(
        nref.clone(),
        Severity::Info,
        reasons::CONFIG_MAP_UNUSED,
        format!(
            "{} ConfigMaps in {ns} are not referenced by any pod or workload in {ns}",
            names.len()
        ),
    )
    .root_cause(format!(
        "No pod, Deployment, StatefulSet, DaemonSet, Job or CronJob in {ns} mounts these ConfigMaps or reads \
         them through env/envFrom; they are left over from removed workloads, or read by applications through \
         the API (which this check cannot see)."
    ))
    .evidence(Source::Config, format!("unused ConfigMaps in {ns}"), quoted)
    .fix(fix::needs_input(
        nref,
        "Delete the ones nothing reads through the API.",
        format!("kubectl get configmaps -n {ns}"),
    ))
}
