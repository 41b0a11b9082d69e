//! What the skill reads from the cluster, one namespace at a time: the
//! workloads (Deployments, StatefulSets, DaemonSets, CronJobs, Jobs and bare
//! ReplicaSets) with their containers, the owner chain of their pods, the
//! HPAs, and the OOM kills the pods and events show.
//!
//! Pods are mapped to their top-level workload through ownerReferences
//! (Pod → ReplicaSet → Deployment, Pod → Job → CronJob). A pod that is in the
//! usage history but no longer in the cluster is mapped by its name only
//! when the object its name points to exists: `<replicaset>-<5>` (the
//! ReplicaSet's owner), `<job>-<5>` (the Job's owner), `<daemonset>-<5>`,
//! `<cronjob>-<digits>-<5>` (a CronJob's Job that was cleaned up) and
//! `<statefulset>-<ordinal>`, where `<5>` is the five characters Kubernetes
//! appends to generated names. Anything else is left out, never guessed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::finding::ObjRef;

/// Everything the skill reads, in kubectl grant spelling. `skill.toml`'s
/// `read` grant is exactly this list (a test holds them equal).
#[cfg(test)]
pub const READS: &[&str] = &[
    "namespaces",
    "pods",
    "events",
    "deployments.apps",
    "replicasets.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "jobs.batch",
    "cronjobs.batch",
    "horizontalpodautoscalers.autoscaling",
];

/// (kind, name) of a workload within its namespace.
pub type Key = (String, String);

/// One container of a workload's pod template.
#[derive(Clone, Debug)]
pub struct Container {
    pub name: String,
    /// Its index in `containers` or `initContainers`.
    pub index: usize,
    pub init: bool,
    /// A native sidecar: an init container with `restartPolicy: Always`,
    /// which runs as long as the pod.
    pub sidecar: bool,
    /// `resources` as written in the template (`Null` when absent).
    pub resources: Value,
    /// Not in the template: added to the pods by an admission webhook
    /// (a service-mesh proxy); its resources are the pods'.
    pub injected: bool,
}

impl Container {
    /// An init container that runs to completion before the others (not a
    /// native sidecar).
    pub fn plain_init(&self) -> bool {
        self.init && !self.sidecar
    }

    /// The JSON Pointer of this container in its workload.
    pub fn pointer(&self, spec_path: &str) -> String {
        let list = if self.init {
            "initContainers"
        } else {
            "containers"
        };
        format!("{spec_path}/{list}/{}", self.index)
    }
}

/// A workload: what a recommendation is about and what its patch targets.
#[derive(Clone, Debug)]
pub struct Workload {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// The object as read (JSON text, less `managedFields` and the
    /// last-applied annotation): the fixes' YAML diffs are computed on it.
    /// Text rather than a tree: a thousand Deployments fit in the skill's
    /// memory.
    object: String,
    /// Where the pod spec is: `/spec/template/spec`, or
    /// `/spec/jobTemplate/spec/template/spec` for a CronJob.
    pub spec_path: &'static str,
    pub containers: Vec<Container>,
    /// How many pods run it (replicas, DaemonSet's scheduled pods, Job
    /// parallelism): the multiplier of the summary's totals.
    pub replicas: u64,
}

impl Workload {
    pub fn obj_ref(&self) -> ObjRef {
        ObjRef::new(
            &self.api_version,
            &self.kind,
            Some(&self.namespace),
            &self.name,
        )
    }

    /// The object as read.
    pub fn object(&self) -> Value {
        serde_json::from_str(&self.object).unwrap_or(Value::Null)
    }

    pub fn key(&self) -> Key {
        (self.kind.clone(), self.name.clone())
    }

    /// `deployment/checkout`.
    pub fn display(&self) -> String {
        format!("{}/{}", self.kind.to_lowercase(), self.name)
    }

    fn from_object(mut object: Value, namespace: &str) -> Option<Workload> {
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
            if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
            }
        }
        let kind = object["kind"].as_str()?.to_string();
        let name = object["metadata"]["name"].as_str()?.to_string();
        let api_version = object["apiVersion"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| crate::kinds::api_version_of(&kind).to_string());
        let spec_path = if kind == "CronJob" {
            "/spec/jobTemplate/spec/template/spec"
        } else {
            "/spec/template/spec"
        };
        let spec = object.pointer(spec_path)?;
        let mut containers = Vec::new();
        for (list, init) in [("containers", false), ("initContainers", true)] {
            for (index, c) in spec[list].as_array().into_iter().flatten().enumerate() {
                let Some(cname) = c["name"].as_str() else {
                    continue;
                };
                containers.push(Container {
                    name: cname.to_string(),
                    index,
                    init,
                    sidecar: init && c["restartPolicy"].as_str() == Some("Always"),
                    resources: c["resources"].clone(),
                    injected: false,
                });
            }
        }
        let replicas = match kind.as_str() {
            "DaemonSet" => object["status"]["desiredNumberScheduled"]
                .as_u64()
                .unwrap_or(0),
            "Job" => object["spec"]["parallelism"].as_u64().unwrap_or(1),
            "CronJob" => object["spec"]["jobTemplate"]["spec"]["parallelism"]
                .as_u64()
                .unwrap_or(1),
            _ => object["spec"]["replicas"].as_u64().unwrap_or(1),
        };
        Some(Workload {
            api_version,
            kind,
            namespace: namespace.to_string(),
            name,
            object: object.to_string(),
            spec_path,
            containers,
            replicas,
        })
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Meta {
    name: String,
    owner_references: Vec<OwnerRef>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OwnerRef {
    kind: String,
    name: String,
    controller: Option<bool>,
}

impl Meta {
    fn controller(&self) -> Option<Key> {
        self.owner_references
            .iter()
            .find(|o| o.controller == Some(true))
            .or_else(|| self.owner_references.first())
            .map(|o| (o.kind.clone(), o.name.clone()))
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodObject {
    metadata: Meta,
    spec: PodSpecObject,
    status: PodStatusObject,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpecObject {
    containers: Vec<ContainerObject>,
    init_containers: Vec<ContainerObject>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ContainerObject {
    name: String,
    resources: Value,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodStatusObject {
    container_statuses: Vec<StatusObject>,
    init_container_statuses: Vec<StatusObject>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StatusObject {
    name: String,
    restart_count: u64,
    last_state: Value,
    state: Value,
}

/// The metadata of a ReplicaSet or Job: all the skill needs of them.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct OwnedObject {
    pub metadata: Meta,
}

/// The fields of an Event the skill reads (OOM kills).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EventObject {
    reason: Option<String>,
    message: Option<String>,
    count: Option<u64>,
    series: Option<Value>,
    involved_object: Value,
}

/// A pod as the skill keeps it.
#[derive(Clone, Debug, Default)]
pub struct Pod {
    pub owner: Option<Key>,
    /// Container name → what its status and spec say.
    pub containers: BTreeMap<String, PodContainer>,
}

#[derive(Clone, Debug, Default)]
pub struct PodContainer {
    pub resources: Value,
    pub init: bool,
    pub restarts: u64,
    /// `lastState.terminated.reason` (or the current state's) is OOMKilled.
    pub oom_killed: bool,
}

/// One namespace as read.
#[derive(Clone, Debug, Default)]
pub struct Namespace {
    pub name: String,
    pub workloads: BTreeMap<Key, Workload>,
    /// ReplicaSet name → its controller.
    pub replicasets: BTreeMap<String, Option<Key>>,
    /// Job name → its controller.
    pub jobs: BTreeMap<String, Option<Key>>,
    pub pods: BTreeMap<String, Pod>,
    pub hpas: Vec<Value>,
    /// (pod, container or "") → OOM kills the events count.
    pub oom_events: BTreeMap<(String, String), u64>,
}

/// The lists of one namespace, each as the host returned it (the unit
/// tests' way in; the skill adds objects one at a time).
#[cfg(test)]
#[derive(Default)]
pub struct Lists {
    pub deployments: Vec<Value>,
    pub statefulsets: Vec<Value>,
    pub daemonsets: Vec<Value>,
    pub replicasets: Vec<Value>,
    pub jobs: Vec<Value>,
    pub cronjobs: Vec<Value>,
    pub pods: Vec<Value>,
    pub hpas: Vec<Value>,
    pub events: Vec<Value>,
}

#[cfg(test)]
fn meta(object: &Value) -> Meta {
    Meta::deserialize(&object["metadata"]).unwrap_or_default()
}

fn with_kind(mut object: Value, kind: &str, api_version: &str) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.entry("kind").or_insert_with(|| kind.into());
        map.entry("apiVersion")
            .or_insert_with(|| api_version.into());
    }
    object
}

impl Namespace {
    /// An empty namespace, filled with the `add_*` methods then
    /// [`Namespace::finish`].
    pub fn new(name: &str) -> Namespace {
        Namespace {
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// The namespace of these lists, in one go.
    #[cfg(test)]
    pub fn build(name: &str, lists: Lists) -> Namespace {
        let mut ns = Namespace::new(name);
        for (items, kind, api) in [
            (lists.deployments, "Deployment", "apps/v1"),
            (lists.statefulsets, "StatefulSet", "apps/v1"),
            (lists.daemonsets, "DaemonSet", "apps/v1"),
            (lists.cronjobs, "CronJob", "batch/v1"),
        ] {
            for object in items {
                ns.add_workload(object, kind, api);
            }
        }
        for rs in lists.replicasets {
            let m = meta(&rs);
            ns.add_owned("ReplicaSet", m, || rs);
        }
        for job in lists.jobs {
            let m = meta(&job);
            ns.add_owned("Job", m, || job);
        }
        for pod in lists.pods {
            if let Ok(p) = PodObject::deserialize(&pod) {
                ns.add_pod(p);
            }
        }
        ns.hpas = lists.hpas;
        for e in lists.events {
            if let Ok(e) = EventObject::deserialize(&e) {
                ns.add_event(&e);
            }
        }
        ns.finish();
        ns
    }

    /// A Deployment, StatefulSet, DaemonSet, CronJob (or an unowned
    /// ReplicaSet or Job).
    pub fn add_workload(&mut self, object: Value, kind: &str, api_version: &str) {
        if let Some(w) = Workload::from_object(with_kind(object, kind, api_version), &self.name) {
            self.workloads.insert(w.key(), w);
        }
    }

    /// A ReplicaSet or Job: its owner for the chain; when it has none, it is
    /// a workload of its own (`whole` gives the object, only then).
    pub fn add_owned(&mut self, kind: &str, meta: Meta, whole: impl FnOnce() -> Value) {
        if meta.name.is_empty() {
            return;
        }
        let owner = meta.controller();
        if owner.is_none() {
            let api = if kind == "Job" { "batch/v1" } else { "apps/v1" };
            self.add_workload(whole(), kind, api);
        }
        match kind {
            "Job" => self.jobs.insert(meta.name, owner),
            _ => self.replicasets.insert(meta.name, owner),
        };
    }

    pub fn add_pod(&mut self, p: PodObject) {
        let mut containers = BTreeMap::new();
        for (list, init) in [(&p.spec.containers, false), (&p.spec.init_containers, true)] {
            for c in list {
                containers.insert(
                    c.name.clone(),
                    PodContainer {
                        resources: c.resources.clone(),
                        init,
                        ..Default::default()
                    },
                );
            }
        }
        for s in p
            .status
            .container_statuses
            .iter()
            .chain(&p.status.init_container_statuses)
        {
            let entry = containers.entry(s.name.clone()).or_default();
            entry.restarts = s.restart_count;
            entry.oom_killed = s.last_state["terminated"]["reason"] == "OOMKilled"
                || s.state["terminated"]["reason"] == "OOMKilled";
        }
        self.pods.insert(
            p.metadata.name.clone(),
            Pod {
                owner: p.metadata.controller(),
                containers,
            },
        );
    }

    /// An Event: counted when it is a pod's OOM kill.
    pub fn add_event(&mut self, e: &EventObject) {
        let involved = &e.involved_object;
        if involved["kind"] != "Pod" {
            return;
        }
        let reason = e.reason.as_deref().unwrap_or("");
        let message = e.message.as_deref().unwrap_or("");
        if !(reason == "OOMKilling" || reason == "OOMKilled" || message.contains("OOMKilled")) {
            return;
        }
        let pod = involved["name"].as_str().unwrap_or("").to_string();
        // `spec.containers{app}`
        let container = involved["fieldPath"]
            .as_str()
            .and_then(|f| f.split_once('{'))
            .map(|(_, rest)| rest.trim_end_matches('}').to_string())
            .unwrap_or_default();
        let count = e
            .count
            .or_else(|| e.series.as_ref().and_then(|s| s["count"].as_u64()))
            .unwrap_or(1);
        *self.oom_events.entry((pod, container)).or_insert(0) += count;
    }

    /// What needs everything read: DaemonSet pod counts, injected sidecars.
    pub fn finish(&mut self) {
        // A DaemonSet without a status counts the pods seen.
        let mut seen: BTreeMap<Key, u64> = BTreeMap::new();
        for pod in self.pods.keys() {
            if let Some(key) = self.workload_of(pod) {
                *seen.entry(key).or_insert(0) += 1;
            }
        }
        for (key, w) in self.workloads.iter_mut() {
            if w.kind == "DaemonSet" && w.replicas == 0 {
                w.replicas = seen.get(key).copied().unwrap_or(0);
            }
        }
        self.add_injected_containers();
    }

    /// Containers the pods have and the template does not (injected by a
    /// webhook): recommended on too, from the pods' resources.
    fn add_injected_containers(&mut self) {
        let mut injected: BTreeMap<Key, BTreeMap<String, Value>> = BTreeMap::new();
        for (name, pod) in &self.pods {
            let Some(key) = self.workload_of(name) else {
                continue;
            };
            let Some(w) = self.workloads.get(&key) else {
                continue;
            };
            for (cname, c) in &pod.containers {
                if c.init || w.containers.iter().any(|t| &t.name == cname) {
                    continue;
                }
                injected
                    .entry(key.clone())
                    .or_default()
                    .entry(cname.clone())
                    .or_insert_with(|| c.resources.clone());
            }
        }
        for (key, containers) in injected {
            if let Some(w) = self.workloads.get_mut(&key) {
                for (name, resources) in containers {
                    w.containers.push(Container {
                        name,
                        index: usize::MAX,
                        init: false,
                        sidecar: true,
                        resources,
                        injected: true,
                    });
                }
            }
        }
    }

    /// The top-level workload of `owner` (a pod's controller).
    fn resolve(&self, owner: &Key) -> Option<Key> {
        let (kind, name) = owner;
        let via = |map: &BTreeMap<String, Option<Key>>, own_kind: &str| -> Option<Key> {
            match map.get(name)? {
                Some(parent) if self.workloads.contains_key(parent) => Some(parent.clone()),
                Some(_) => None,
                None => {
                    let me = (own_kind.to_string(), name.clone());
                    self.workloads.contains_key(&me).then_some(me)
                }
            }
        };
        match kind.as_str() {
            "ReplicaSet" => via(&self.replicasets, "ReplicaSet"),
            "Job" => via(&self.jobs, "Job"),
            _ => self.workloads.contains_key(owner).then(|| owner.clone()),
        }
    }

    /// The workload a pod belongs to: through its ownerReferences when the
    /// pod exists, else through its name when what the name points to
    /// exists (see the module's documentation).
    pub fn workload_of(&self, pod: &str) -> Option<Key> {
        if let Some(p) = self.pods.get(pod) {
            return self.resolve(p.owner.as_ref()?);
        }
        if let Some((prefix, suffix)) = pod.rsplit_once('-') {
            if is_generated_suffix(suffix) {
                if self.replicasets.contains_key(prefix) {
                    return self.resolve(&("ReplicaSet".into(), prefix.into()));
                }
                if self.jobs.contains_key(prefix) {
                    return self.resolve(&("Job".into(), prefix.into()));
                }
                let ds = ("DaemonSet".to_string(), prefix.to_string());
                if self.workloads.contains_key(&ds) {
                    return Some(ds);
                }
                if let Some((cronjob, scheduled)) = prefix.rsplit_once('-')
                    && !scheduled.is_empty()
                    && scheduled.bytes().all(|b| b.is_ascii_digit())
                {
                    let cj = ("CronJob".to_string(), cronjob.to_string());
                    if self.workloads.contains_key(&cj) {
                        return Some(cj);
                    }
                }
            }
            if !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()) {
                let sts = ("StatefulSet".to_string(), prefix.to_string());
                if self.workloads.contains_key(&sts) {
                    return Some(sts);
                }
            }
        }
        None
    }
}

/// The five characters Kubernetes appends to a generated name (its
/// `rand.String` alphabet, without vowels and confusable characters).
fn is_generated_suffix(s: &str) -> bool {
    s.len() == 5
        && s.bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub fn deployment(name: &str, containers: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": name, "namespace": "shop"},
               "spec": {"replicas": 3, "template": {"spec": {"containers": containers}}}})
    }

    fn owned(kind: &str, name: &str, owner_kind: &str, owner: &str) -> Value {
        json!({"kind": kind, "metadata": {"name": name, "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": owner_kind, "name": owner, "controller": true}]}})
    }

    fn sample() -> Namespace {
        Namespace::build(
            "shop",
            Lists {
                deployments: vec![deployment(
                    "checkout",
                    json!([{"name": "app", "resources": {"requests": {"cpu": "500m"}}}]),
                )],
                statefulsets: vec![json!({"kind": "StatefulSet", "metadata": {"name": "db"},
                    "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "pg"}]}}}})],
                cronjobs: vec![json!({"kind": "CronJob", "metadata": {"name": "report"},
                    "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "run"}]}}}}}})],
                replicasets: vec![
                    owned(
                        "ReplicaSet",
                        "checkout-7d9f8b6c5d",
                        "Deployment",
                        "checkout",
                    ),
                    owned(
                        "ReplicaSet",
                        "checkout-5f6d7c8b9x",
                        "Deployment",
                        "checkout",
                    ),
                ],
                jobs: vec![owned("Job", "report-29012345", "CronJob", "report")],
                pods: vec![
                    {
                        let mut p = owned(
                            "Pod",
                            "checkout-7d9f8b6c5d-abcde",
                            "ReplicaSet",
                            "checkout-7d9f8b6c5d",
                        );
                        p["spec"] = json!({"containers": [{"name": "app"}, {"name": "istio-proxy",
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]});
                        p["status"] = json!({"containerStatuses": [{"name": "app", "restartCount": 4,
                            "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]});
                        p
                    },
                    owned("Pod", "report-29012345-q7w2x", "Job", "report-29012345"),
                    owned("Pod", "db-0", "StatefulSet", "db"),
                    owned("Pod", "stray", "Node", "n1"),
                ],
                events: vec![json!({"reason": "OOMKilling", "count": 3,
                    "involvedObject": {"kind": "Pod", "name": "checkout-7d9f8b6c5d-abcde",
                                       "fieldPath": "spec.containers{app}"}})],
                ..Default::default()
            },
        )
    }

    fn key(kind: &str, name: &str) -> Option<Key> {
        Some((kind.into(), name.into()))
    }

    #[test]
    fn pods_map_to_the_top_workload_through_owner_references() {
        let ns = sample();
        assert_eq!(
            ns.workload_of("checkout-7d9f8b6c5d-abcde"),
            key("Deployment", "checkout")
        );
        assert_eq!(
            ns.workload_of("report-29012345-q7w2x"),
            key("CronJob", "report")
        );
        assert_eq!(ns.workload_of("db-0"), key("StatefulSet", "db"));
        // Owned by something that is not a workload: left out.
        assert_eq!(ns.workload_of("stray"), None);
        // ReplicaSets owned by a Deployment are not workloads themselves.
        assert!(
            !ns.workloads
                .contains_key(&("ReplicaSet".into(), "checkout-7d9f8b6c5d".into()))
        );
        let w = &ns.workloads[&("CronJob".into(), "report".into())];
        assert_eq!(w.spec_path, "/spec/jobTemplate/spec/template/spec");
        assert_eq!(
            w.containers[0].pointer(w.spec_path),
            "/spec/jobTemplate/spec/template/spec/containers/0"
        );
    }

    #[test]
    fn vanished_pods_map_by_name_only_when_the_owner_exists() {
        let ns = sample();
        // An older ReplicaSet of the Deployment still exists.
        assert_eq!(
            ns.workload_of("checkout-5f6d7c8b9x-zz9kq"),
            key("Deployment", "checkout")
        );
        // A ReplicaSet that no longer exists: not guessed from the name.
        assert_eq!(ns.workload_of("checkout-6b7c8d9f4-zz9kq"), None);
        // Not a generated suffix.
        assert_eq!(ns.workload_of("checkout-7d9f8b6c5d-aaaaa"), None);
        // A CronJob's Job that was cleaned up.
        assert_eq!(
            ns.workload_of("report-29012400-h4k2m"),
            key("CronJob", "report")
        );
        assert_eq!(ns.workload_of("db-3"), key("StatefulSet", "db"));
        assert_eq!(ns.workload_of("dbx-3"), None);
    }

    #[test]
    fn pod_status_events_and_injected_sidecars() {
        let ns = sample();
        let pod = &ns.pods["checkout-7d9f8b6c5d-abcde"];
        assert!(pod.containers["app"].oom_killed);
        assert_eq!(pod.containers["app"].restarts, 4);
        assert_eq!(
            ns.oom_events[&("checkout-7d9f8b6c5d-abcde".into(), "app".into())],
            3
        );
        let w = &ns.workloads[&("Deployment".into(), "checkout".into())];
        let proxy = w
            .containers
            .iter()
            .find(|c| c.name == "istio-proxy")
            .unwrap();
        assert!(proxy.injected);
        assert_eq!(proxy.resources["requests"]["memory"], "128Mi");
        assert_eq!(w.replicas, 3);
    }

    #[test]
    fn a_job_or_replicaset_without_an_owner_is_a_workload() {
        let ns = Namespace::build(
            "shop",
            Lists {
                jobs: vec![json!({"kind": "Job", "metadata": {"name": "migrate"},
                    "spec": {"template": {"spec": {"containers": [{"name": "run"}]}}}})],
                replicasets: vec![json!({"kind": "ReplicaSet", "metadata": {"name": "legacy"},
                    "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "app"}]}}}})],
                pods: vec![
                    owned("Pod", "migrate-x7k2p", "Job", "migrate"),
                    owned("Pod", "legacy-q4n8r", "ReplicaSet", "legacy"),
                ],
                ..Default::default()
            },
        );
        assert_eq!(ns.workload_of("migrate-x7k2p"), key("Job", "migrate"));
        assert_eq!(ns.workload_of("legacy-q4n8r"), key("ReplicaSet", "legacy"));
        let job = &ns.workloads[&("Job".into(), "migrate".into())];
        assert_eq!((job.api_version.as_str(), job.replicas), ("batch/v1", 1));
        assert_eq!(
            ns.workloads[&("ReplicaSet".into(), "legacy".into())].replicas,
            2
        );
    }

    /// What `read_namespace` keeps of pods, events and owned objects is
    /// what `build` reads.
    #[test]
    fn the_slim_objects_keep_what_is_read() {
        fn slim<T: serde::de::DeserializeOwned + Serialize>(v: Value) -> Value {
            serde_json::to_value(serde_json::from_value::<T>(v).unwrap()).unwrap()
        }
        let mut pod = owned(
            "Pod",
            "checkout-7d9f8b6c5d-b2x4q",
            "ReplicaSet",
            "checkout-7d9f8b6c5d",
        );
        pod["metadata"]["managedFields"] = json!([{"manager": "kubelet"}]);
        pod["spec"] = json!({"volumes": [{"name": "x"}], "containers": [{"name": "app", "image": "a",
            "env": [{"name": "A", "value": "1"}], "resources": {"limits": {"memory": "1Gi"}}}]});
        pod["status"] = json!({"containerStatuses": [{"name": "app", "restartCount": 2,
            "lastState": {"terminated": {"reason": "OOMKilled"}}}]});
        let event = json!({"reason": "OOMKilling", "count": 2, "message": "m",
            "involvedObject": {"kind": "Pod", "name": "checkout-7d9f8b6c5d-b2x4q", "fieldPath": "spec.containers{app}"}});
        let small = slim::<PodObject>(pod.clone());
        assert!(small.to_string().len() < pod.to_string().len());
        assert!(small["metadata"].get("managedFields").is_none());
        let ns = Namespace::build(
            "shop",
            Lists {
                deployments: vec![deployment("checkout", json!([{"name": "app"}]))],
                replicasets: vec![slim::<OwnedObject>(owned(
                    "ReplicaSet",
                    "checkout-7d9f8b6c5d",
                    "Deployment",
                    "checkout",
                ))],
                pods: vec![small],
                events: vec![slim::<EventObject>(event)],
                ..Default::default()
            },
        );
        let p = &ns.pods["checkout-7d9f8b6c5d-b2x4q"];
        assert!(p.containers["app"].oom_killed);
        assert_eq!(p.containers["app"].restarts, 2);
        assert_eq!(p.containers["app"].resources["limits"]["memory"], "1Gi");
        assert_eq!(
            ns.workload_of("checkout-7d9f8b6c5d-b2x4q"),
            key("Deployment", "checkout")
        );
        assert_eq!(
            ns.oom_events[&("checkout-7d9f8b6c5d-b2x4q".into(), "app".into())],
            2
        );
    }

    #[test]
    fn reads_are_the_grant() {
        let manifest: toml::Value =
            toml::from_str(include_str!("../skill.toml")).expect("skill.toml parses");
        let read: Vec<&str> = manifest["grants"]["read"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(read, READS);
        assert_eq!(manifest["grants"]["metrics"].as_bool(), Some(true));
    }
}
