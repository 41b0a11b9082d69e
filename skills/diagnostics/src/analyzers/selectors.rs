//! Label selectors (a Service's map, a `metav1.LabelSelector` with
//! `matchExpressions`), an index of pods by label so that matching many
//! selectors against thousands of pods stays cheap, and the few object
//! helpers the Service, storage, networking and policy analyzers share.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::ctx::name_of;
use crate::finding::ObjRef;
use crate::kinds;
use crate::model::{Condition, Pod};

/// One `matchExpressions` requirement.
#[derive(Clone, Debug)]
pub enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A label selector: `matchLabels` (or a Service's `selector` map) and
/// `matchExpressions`. Empty matches every pod.
#[derive(Clone, Debug, Default)]
pub struct Selector {
    pub labels: Vec<(String, String)>,
    pub expressions: Vec<Requirement>,
}

impl Selector {
    /// A Service's `spec.selector` (a plain map).
    pub fn from_map(map: &Value) -> Selector {
        let labels = map
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Selector {
            labels,
            expressions: Vec::new(),
        }
    }

    /// A `metav1.LabelSelector`; `None` when absent or null (which selects
    /// nothing), an empty selector when `{}` (which selects everything).
    pub fn from_label_selector(value: &Value) -> Option<Selector> {
        if !value.is_object() {
            return None;
        }
        let mut selector = Selector::from_map(&value["matchLabels"]);
        for expr in value["matchExpressions"].as_array().into_iter().flatten() {
            let key = expr["key"].as_str().unwrap_or_default().to_string();
            let values: Vec<String> = expr["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let requirement = match expr["operator"].as_str().unwrap_or_default() {
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                _ => continue,
            };
            selector.expressions.push(requirement);
        }
        Some(selector)
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.expressions.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.expressions.iter().all(|r| match r {
                Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
                Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
                Requirement::Exists(k) => labels.contains_key(k),
                Requirement::DoesNotExist(k) => !labels.contains_key(k),
            })
    }

    /// `app=web,tier in (api,backend)`, as `kubectl -l` takes it.
    pub fn display(&self) -> String {
        let mut parts: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for r in &self.expressions {
            parts.push(match r {
                Requirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                Requirement::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
                Requirement::Exists(k) => k.clone(),
                Requirement::DoesNotExist(k) => format!("!{k}"),
            });
        }
        if parts.is_empty() {
            "(all pods)".into()
        } else {
            parts.join(",")
        }
    }
}

/// Pods that carry every label of a selector but one.
pub struct NearMiss<'a> {
    /// The selector key the pods disagree on.
    pub key: String,
    /// The value the selector wants.
    pub wanted: String,
    /// The value the pods carry; `None` when they lack the label.
    pub actual: Option<String>,
    pub pods: Vec<&'a Pod>,
}

/// The pods of a namespace, indexed by label.
pub struct PodIndex<'a> {
    pods: Vec<&'a Pod>,
    by_pair: BTreeMap<(&'a str, &'a str), Vec<usize>>,
    by_key: BTreeMap<&'a str, Vec<usize>>,
}

impl<'a> PodIndex<'a> {
    /// Indexes the pods that count for selection: not terminated
    /// (`Succeeded`/`Failed` pods are never endpoints) and not being deleted.
    pub fn new(pods: &'a [Pod]) -> Self {
        let pods: Vec<&Pod> = pods.iter().filter(|p| is_live(p)).collect();
        Self::of(pods)
    }

    fn of(pods: Vec<&'a Pod>) -> Self {
        let mut by_pair: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
        let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, pod) in pods.iter().enumerate() {
            for (k, v) in &pod.metadata.labels {
                by_pair.entry((k.as_str(), v.as_str())).or_default().push(i);
                by_key.entry(k.as_str()).or_default().push(i);
            }
        }
        PodIndex {
            pods,
            by_pair,
            by_key,
        }
    }

    /// The pods `selector` selects, in the namespace's order.
    pub fn matching(&self, selector: &Selector) -> Vec<&'a Pod> {
        // Candidates: the shortest posting list among the selector's
        // equality labels (and `In`/`Exists` keys); every pod otherwise.
        let mut shortest: Option<&Vec<usize>> = None;
        for (k, v) in &selector.labels {
            match self.by_pair.get(&(k.as_str(), v.as_str())) {
                Some(list) => {
                    if shortest.is_none_or(|s| list.len() < s.len()) {
                        shortest = Some(list);
                    }
                }
                None => return Vec::new(),
            }
        }
        if shortest.is_none() {
            for r in &selector.expressions {
                if let Requirement::In(k, _) | Requirement::Exists(k) = r {
                    match self.by_key.get(k.as_str()) {
                        Some(list) => {
                            if shortest.is_none_or(|s| list.len() < s.len()) {
                                shortest = Some(list);
                            }
                        }
                        None => return Vec::new(),
                    }
                }
            }
        }
        match shortest {
            Some(list) => list
                .iter()
                .map(|&i| self.pods[i])
                .filter(|p| selector.matches(&p.metadata.labels))
                .collect(),
            None => self
                .pods
                .iter()
                .copied()
                .filter(|p| selector.matches(&p.metadata.labels))
                .collect(),
        }
    }

    /// Pods that match every equality label of `selector` but one, grouped
    /// by the key they disagree on and the value they carry, largest group
    /// first. For a one-label selector, only pods whose value for that key
    /// looks like a typo of the wanted one (so `app=web` does not "nearly
    /// match" every other app).
    pub fn near_misses(&self, selector: &Selector) -> Vec<NearMiss<'a>> {
        let wanted = &selector.labels;
        let mut groups: BTreeMap<(usize, Option<&'a str>), Vec<usize>> = BTreeMap::new();
        if wanted.len() == 1 {
            let (k, v) = &wanted[0];
            for &i in self.by_key.get(k.as_str()).into_iter().flatten() {
                let actual = self.pods[i].metadata.labels[k].as_str();
                if actual != v && similar(actual, v) {
                    groups.entry((0, Some(actual))).or_default().push(i);
                }
            }
        } else if wanted.len() > 1 {
            let mut hits: BTreeMap<usize, u32> = BTreeMap::new();
            for (k, v) in wanted {
                for &i in self
                    .by_pair
                    .get(&(k.as_str(), v.as_str()))
                    .into_iter()
                    .flatten()
                {
                    *hits.entry(i).or_default() += 1;
                }
            }
            let need = (wanted.len() - 1) as u32;
            for (i, n) in hits {
                if n != need {
                    continue;
                }
                let labels = &self.pods[i].metadata.labels;
                if let Some(pos) = wanted.iter().position(|(k, v)| labels.get(k) != Some(v)) {
                    let actual = labels.get(&wanted[pos].0).map(String::as_str);
                    groups.entry((pos, actual)).or_default().push(i);
                }
            }
        }
        let mut out: Vec<NearMiss> = groups
            .into_iter()
            .map(|((pos, actual), pods)| NearMiss {
                key: wanted[pos].0.clone(),
                wanted: wanted[pos].1.clone(),
                actual: actual.map(str::to_string),
                pods: pods.into_iter().map(|i| self.pods[i]).collect(),
            })
            .collect();
        out.sort_by_key(|m| std::cmp::Reverse(m.pods.len()));
        out
    }
}

/// The one name in `names` that `wanted` is most likely a typo or a
/// variant of (`storefront` → `store-front`, `api-gateway` → `gateway`);
/// `None` when nothing is close or two are equally close.
pub fn closest<'n>(wanted: &str, names: impl IntoIterator<Item = &'n str>) -> Option<&'n str> {
    let squash = |s: &str| s.replace(['-', '_', '.'], "").to_ascii_lowercase();
    let w = squash(wanted);
    let mut best: Option<(usize, &str)> = None;
    let mut tie = false;
    for name in names {
        if name == wanted {
            continue;
        }
        let n = squash(name);
        let score = if n == w {
            0
        } else if similar(&n, &w) {
            1 + distance(&n, &w)
        } else if n.len() >= 3 && w.len() >= 3 && (n.contains(&w) || w.contains(&n)) {
            10 + n.len().abs_diff(w.len())
        } else {
            continue;
        };
        match best {
            Some((b, _)) if b < score => {}
            Some((b, _)) if b == score => tie = true,
            _ => {
                best = Some((score, name));
                tie = false;
            }
        }
    }
    if tie { None } else { best.map(|(_, n)| n) }
}

fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// Whether two label values are close enough to be a typo of each other.
pub fn similar(a: &str, b: &str) -> bool {
    let longest = a.chars().count().max(b.chars().count());
    if a.chars().count().abs_diff(b.chars().count()) > 2 {
        return false;
    }
    let allowed = match longest {
        0..=4 => 1,
        5..=10 => 2,
        n => n / 5,
    };
    distance(a, b) <= allowed
}

/// A pod that can be selected: not terminated, not being deleted.
pub fn is_live(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && !matches!(pod.status.phase.as_deref(), Some("Succeeded" | "Failed"))
}

/// The pod's condition of `type_`.
pub fn pod_condition<'p>(pod: &'p Pod, type_: &str) -> Option<&'p Condition> {
    pod.status.conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the pod's `Ready` condition is `True`.
pub fn pod_ready(pod: &Pod) -> bool {
    pod_condition(pod, "Ready").is_some_and(|c| c.status == "True")
}

/// Why a pod is not ready, in a few words: its Ready condition, the waiting
/// or crash reason of its containers, the scheduler's message.
pub fn not_ready_summary(pod: &Pod) -> String {
    let phase = pod.status.phase.as_deref().unwrap_or("Unknown");
    let mut parts = vec![format!("phase {phase}")];
    match pod_condition(pod, "Ready") {
        Some(c) => parts.push(format!(
            "Ready={}{}",
            c.status,
            c.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        )),
        None => parts.push("no Ready condition".into()),
    }
    if let Some(c) = pod_condition(pod, "PodScheduled")
        && c.status != "True"
    {
        parts.push(format!(
            "not scheduled: {}",
            c.message.as_deref().or(c.reason.as_deref()).unwrap_or("")
        ));
    }
    for cs in &pod.status.container_statuses {
        if let Some(w) = &cs.state.waiting {
            parts.push(format!(
                "container {} waiting: {}",
                cs.name,
                w.reason.as_deref().unwrap_or("")
            ));
        } else if cs.state.running.is_some() && !cs.ready {
            parts.push(format!("container {} running but not ready", cs.name));
        }
    }
    parts.join(", ")
}

/// A status condition of an object (`status.conditions[type=...]`).
pub fn condition<'v>(object: &'v Value, type_: &str) -> Option<&'v Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"].as_str() == Some(type_))
}

/// `Type=Status (Reason): message` of a condition value.
pub fn describe_condition(c: &Value) -> String {
    let mut text = format!(
        "{}={}",
        c["type"].as_str().unwrap_or("?"),
        c["status"].as_str().unwrap_or("?")
    );
    if let Some(r) = c["reason"].as_str().filter(|r| !r.is_empty()) {
        text.push_str(&format!(" ({r})"));
    }
    if let Some(m) = c["message"].as_str().filter(|m| !m.is_empty()) {
        text.push_str(&format!(": {m}"));
    }
    if let Some(t) = c["lastTransitionTime"].as_str() {
        text.push_str(&format!(" [since {t}]"));
    }
    text
}

/// The reference of a namespaced or cluster-scoped object read as JSON
/// (list items carry no `kind`/`apiVersion`, so `kind` is given).
pub fn obj_ref(object: &Value, kind: &str, namespace: Option<&str>) -> ObjRef {
    let api_version = object["apiVersion"]
        .as_str()
        .unwrap_or_else(|| kinds::api_version_of(kind));
    ObjRef::new(api_version, kind, namespace, name_of(object))
}

/// Names, comma-separated, at most `max` of them (`a, b, c and 4 more`).
pub fn list_names<S: AsRef<str>>(names: &[S], max: usize) -> String {
    let shown: Vec<&str> = names.iter().take(max).map(AsRef::as_ref).collect();
    let mut text = shown.join(", ");
    if names.len() > max {
        text.push_str(&format!(" and {} more", names.len() - max));
    }
    text
}

/// The pod spec's JSON Pointer in a workload of `kind`
/// (`/spec/template/spec`), `None` for kinds without a pod template.
pub fn pod_spec_path(kind: &str) -> Option<&'static str> {
    match kind {
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => Some("/spec/template/spec"),
        "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// The pod template's spec of a workload object.
pub fn pod_spec_of<'v>(object: &'v Value, kind: &str) -> Option<&'v Value> {
    pod_spec_path(kind).and_then(|p| object.pointer(p))
}

/// The namespace's workloads that carry a pod template, as
/// (kind, resource, object).
pub fn workloads<'s>(scope: &'s crate::ctx::Scope) -> Vec<(&'static str, &'s Value)> {
    let mut out = Vec::new();
    for (kind, resource) in [
        ("Deployment", "deployments.apps"),
        ("StatefulSet", "statefulsets.apps"),
        ("DaemonSet", "daemonsets.apps"),
        ("CronJob", "cronjobs.batch"),
    ] {
        for object in scope.objects(resource) {
            out.push((kind, object));
        }
    }
    out
}
