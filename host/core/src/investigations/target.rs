//! What an alert is about: its labels mapped to one Kubernetes object, and
//! the findings of a diagnosis that concern it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The object an investigation is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvestigationTarget {
    /// `Deployment`, `StatefulSet`, `DaemonSet`, `Job`, `Pod`, `Service`,
    /// `PersistentVolumeClaim`, `Node`, `Namespace`.
    pub kind: String,
    /// Empty for a Node or a Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// The label it came from (`pod`, `deployment`, …); `pod → owner` when
    /// a pod's owning workload was read.
    pub from: String,
}

impl InvestigationTarget {
    /// `Deployment shop/checkout`, `Node worker-1`.
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// The labels that name an object, in the order they are tried: a
/// workload label names the workload itself; a pod is more precise than a
/// Service or a claim (an alert from kube-state-metrics carries
/// `service="kube-state-metrics"` beside the pod it is about).
pub const LABELS: &[(&str, &str)] = &[
    ("deployment", "Deployment"),
    ("statefulset", "StatefulSet"),
    ("daemonset", "DaemonSet"),
    ("pod", "Pod"),
    ("job_name", "Job"),
    ("persistentvolumeclaim", "PersistentVolumeClaim"),
    ("service", "Service"),
    ("node", "Node"),
];

/// The target the labels name, or why none could be mapped.
pub fn map_labels(labels: &BTreeMap<String, String>) -> Result<InvestigationTarget, String> {
    let get = |k: &str| labels.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let namespace = get("namespace").map(str::to_owned);
    for (label, kind) in LABELS {
        let Some(name) = get(label) else { continue };
        if !valid_name(name) {
            return Err(format!(
                "label {label}={name:?} is not a Kubernetes object name, so the alert names no object Guardian can read"
            ));
        }
        if *kind == "Node" {
            return Ok(InvestigationTarget {
                kind: (*kind).into(),
                namespace: None,
                name: name.into(),
                from: (*label).into(),
            });
        }
        let Some(ns) = &namespace else {
            return Err(format!(
                "label {label}={name} names a namespaced object but the alert has no namespace label; add `namespace` to the alert's labels"
            ));
        };
        return Ok(InvestigationTarget {
            kind: (*kind).into(),
            namespace: Some(ns.clone()),
            name: name.into(),
            from: (*label).into(),
        });
    }
    if let Some(ns) = namespace {
        if !valid_name(&ns) {
            return Err(format!("label namespace={ns:?} is not a namespace name"));
        }
        return Ok(InvestigationTarget {
            kind: "Namespace".into(),
            namespace: Some(ns.clone()),
            name: ns,
            from: "namespace".into(),
        });
    }
    let known: Vec<&str> = std::iter::once("namespace")
        .chain(LABELS.iter().map(|(l, _)| *l))
        .collect();
    Err(format!(
        "the alert's labels ({}) name no Kubernetes object: none of {} is set",
        labels.keys().cloned().collect::<Vec<_>>().join(", "),
        known.join(", ")
    ))
}

/// A DNS-1123 name (subdomain, as object names are) of at most 253
/// characters.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !s.starts_with(['-', '.'])
        && !s.ends_with(['-', '.'])
}

/// The owning workload of a pod from its `ownerReferences` and, for a
/// ReplicaSet, the ReplicaSet's own: `(kind, name)`. `rs_owner` answers
/// the owner of a ReplicaSet (read through the broker by the caller).
pub fn pod_owner(pod: &Value) -> Option<(String, String)> {
    let owners = pod["metadata"]["ownerReferences"].as_array()?;
    let owner = owners
        .iter()
        .find(|o| o["controller"].as_bool() == Some(true))
        .or_else(|| owners.first())?;
    Some((
        owner["kind"].as_str()?.to_owned(),
        owner["name"].as_str()?.to_owned(),
    ))
}

/// The findings of `report` that concern `target`: those about it (as the
/// object, its owner, or one of its pods), and what they are caused by,
/// transitively. A Namespace target keeps every finding of the namespace.
pub fn findings_for(report: &Value, target: &InvestigationTarget) -> Vec<Value> {
    let all: Vec<&Value> = report["findings"]
        .as_array()
        .map(|f| f.iter().collect())
        .unwrap_or_default();
    if target.kind == "Namespace" {
        return all.into_iter().cloned().collect();
    }
    let is_target = |o: &Value| {
        o["kind"]
            .as_str()
            .is_some_and(|k| k.eq_ignore_ascii_case(&target.kind))
            && o["name"].as_str() == Some(target.name.as_str())
            && (target.namespace.is_none()
                || o["namespace"].as_str() == target.namespace.as_deref())
    };
    let about = |f: &Value| {
        is_target(&f["object"])
            || is_target(&f["owner"])
            || (target.kind == "Pod"
                && f["pods"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p.as_str() == Some(target.name.as_str()))))
    };
    let mut keep: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = all
        .iter()
        .filter(|f| about(f))
        .filter_map(|f| f["id"].as_str().map(str::to_owned))
        .collect();
    while let Some(id) = todo.pop() {
        if !keep.insert(id.clone()) {
            continue;
        }
        if let Some(f) = all.iter().find(|f| f["id"].as_str() == Some(id.as_str()))
            && let Some(causes) = f["caused_by"].as_array()
        {
            todo.extend(causes.iter().filter_map(|c| c.as_str().map(str::to_owned)));
        }
    }
    all.into_iter()
        .filter(|f| f["id"].as_str().is_some_and(|id| keep.contains(id)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn labels_map_to_the_object_they_name() {
        let t = map_labels(&labels(&[
            ("namespace", "shop"),
            ("deployment", "checkout"),
        ]))
        .unwrap();
        assert_eq!(
            (
                t.kind.as_str(),
                t.namespace.as_deref(),
                t.name.as_str(),
                t.from.as_str()
            ),
            ("Deployment", Some("shop"), "checkout", "deployment")
        );
        // kube-state-metrics' own service label does not win over the pod.
        let t = map_labels(&labels(&[
            ("namespace", "shop"),
            ("pod", "checkout-7d9f-abcde"),
            ("service", "kube-state-metrics"),
        ]))
        .unwrap();
        assert_eq!(
            (t.kind.as_str(), t.name.as_str()),
            ("Pod", "checkout-7d9f-abcde")
        );
        for (label, kind) in LABELS {
            let t = map_labels(&labels(&[("namespace", "ns"), (label, "x")])).unwrap();
            assert_eq!(t.kind, *kind);
            assert_eq!(t.from, *label);
        }
        let t = map_labels(&labels(&[("node", "worker-1"), ("alertname", "NodeDown")])).unwrap();
        assert_eq!(
            (t.kind.as_str(), t.namespace, t.name.as_str()),
            ("Node", None, "worker-1")
        );
        let t = map_labels(&labels(&[("namespace", "shop"), ("alertname", "X")])).unwrap();
        assert_eq!((t.kind.as_str(), t.name.as_str()), ("Namespace", "shop"));
    }

    #[test]
    fn unmappable_labels_say_why() {
        let e =
            map_labels(&labels(&[("alertname", "Watchdog"), ("severity", "none")])).unwrap_err();
        assert!(
            e.contains("name no Kubernetes object") && e.contains("alertname, severity"),
            "{e}"
        );
        let e = map_labels(&labels(&[("deployment", "checkout")])).unwrap_err();
        assert!(e.contains("no namespace label"), "{e}");
        let e = map_labels(&labels(&[("namespace", "shop"), ("pod", "Bad Name")])).unwrap_err();
        assert!(e.contains("not a Kubernetes object name"), "{e}");
    }

    #[test]
    fn a_pods_owner_is_its_controller() {
        let pod = json!({"metadata": {"ownerReferences": [
            {"kind": "Node", "name": "n"},
            {"kind": "ReplicaSet", "name": "checkout-7d9f", "controller": true}]}});
        assert_eq!(
            pod_owner(&pod),
            Some(("ReplicaSet".into(), "checkout-7d9f".into()))
        );
        assert_eq!(pod_owner(&json!({"metadata": {}})), None);
    }

    #[test]
    fn findings_are_the_targets_and_their_causes() {
        let report = json!({"findings": [
            {"id": "a", "object": {"kind": "Deployment", "namespace": "shop", "name": "checkout"},
             "caused_by": ["b"]},
            {"id": "b", "object": {"kind": "Service", "namespace": "shop", "name": "payments"},
             "caused_by": ["c"]},
            {"id": "c", "object": {"kind": "Deployment", "namespace": "shop", "name": "payments"}},
            {"id": "d", "object": {"kind": "Deployment", "namespace": "shop", "name": "web"}},
            {"id": "e", "object": {"kind": "Pod", "namespace": "shop", "name": "x"},
             "owner": {"kind": "Deployment", "namespace": "shop", "name": "checkout"}},
        ]});
        let t = InvestigationTarget {
            kind: "Deployment".into(),
            namespace: Some("shop".into()),
            name: "checkout".into(),
            from: "deployment".into(),
        };
        let ids: Vec<String> = findings_for(&report, &t)
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, ["a", "b", "c", "e"]);
        let ns = InvestigationTarget {
            kind: "Namespace".into(),
            namespace: Some("shop".into()),
            name: "shop".into(),
            from: "namespace".into(),
        };
        assert_eq!(findings_for(&report, &ns).len(), 5);
        let other = InvestigationTarget {
            kind: "Deployment".into(),
            namespace: Some("other".into()),
            name: "checkout".into(),
            from: "deployment".into(),
        };
        assert!(findings_for(&report, &other).is_empty());
    }
}
