//! What the analyzers read, loaded through the host: the cluster-scoped
//! objects once, then one namespace at a time (so memory is bounded by the
//! largest namespace, not the cluster). What is listed is what the selected
//! analyzers declare ([`Reads`], `analyzers::ANALYZERS`), and each analyzer
//! sees only what it declares ([`Cluster::reading`]).
//!
//! A resource that cannot be listed (not served by this cluster, denied, not
//! in the snapshot) is recorded in `unavailable` and read as empty: the scan
//! goes on and says what it could not see.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use guardian_skill_sdk::{ErrorKind, HostError, ListOptions, kube};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::finding::ObjRef;
use crate::kinds;
use crate::model::{Event, Pod};

/// What an analyzer reads, in kubectl grant spelling
/// (`deployments.apps`, `gateways.gateway.networking.k8s.io`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Reads {
    /// Namespaced resources, listed in every namespace the scan reads.
    pub namespaced: &'static [&'static str],
    /// Cluster-scoped resources, listed once per scan.
    pub cluster: &'static [&'static str],
    /// Resources read object by object through the host (`kube::get`),
    /// not listed by the loader: the Service behind a webhook, in whatever
    /// namespace it is.
    pub gets: &'static [&'static str],
}

impl Reads {
    /// Everything read, each resource once: namespaced, cluster-scoped,
    /// then the ones got by name.
    pub fn all(&self) -> Vec<&'static str> {
        let mut all: Vec<&'static str> = Vec::new();
        for r in self.namespaced.iter().chain(self.cluster).chain(self.gets) {
            if !all.contains(r) {
                all.push(r);
            }
        }
        all
    }
}

/// What the skill reads for itself, whatever analyzers run: the namespace
/// list (for every namespace), the pods and events of each namespace (its
/// pods say whether the namespace can be read at all), and container logs
/// (the evidence chain). Everything else is read because an analyzer
/// declares it (`analyzers::ANALYZERS`).
#[cfg(test)]
pub const OWN_READS: &[&str] = &["namespaces", "pods", "pods/log", "events"];

/// The union of several analyzers' [`Reads`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadSet {
    pub namespaced: Vec<&'static str>,
    pub cluster: Vec<&'static str>,
    pub gets: Vec<&'static str>,
}

impl ReadSet {
    /// The union of `reads`, each resource once, in the order first
    /// declared.
    pub fn union<'r>(reads: impl IntoIterator<Item = &'r Reads>) -> Self {
        let mut set = ReadSet::default();
        for r in reads {
            for (from, to) in [
                (r.namespaced, &mut set.namespaced),
                (r.cluster, &mut set.cluster),
                (r.gets, &mut set.gets),
            ] {
                for resource in from {
                    if !to.contains(resource) {
                        to.push(*resource);
                    }
                }
            }
        }
        set
    }
}

/// A scope the scan could not read at all (its pods could not be listed, or
/// none of the cluster-scoped resources): no finding about it means nothing.
#[derive(Clone, Debug, Serialize)]
pub struct NotRead {
    /// `namespace payments`, `cluster-scoped objects`.
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub error: String,
    /// The class of the failure that stopped it.
    #[serde(skip)]
    pub kind: Option<ErrorKind>,
}

/// A resource the scan could not read.
#[derive(Clone, Debug, Serialize)]
pub struct Unavailable {
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub error: String,
}

/// Lists through the host and keeps count of what it read.
pub struct Loader {
    pub objects_scanned: usize,
    pub unavailable: Vec<Unavailable>,
    pub not_read: Vec<NotRead>,
    /// What the selected analyzers read: the loader lists these.
    load: ReadSet,
    /// What any analyzer reads.
    known: ReadSet,
    /// Namespaced resources read only in some namespaces (Argo CD's
    /// Applications: where Argo CD keeps them): elsewhere they are not
    /// listed, and read as none.
    confined: Vec<(&'static str, Vec<String>)>,
}

impl Loader {
    /// A loader for the analyzers `selected` (of `all`): it lists what they
    /// declare, and nothing else.
    pub fn new<'r>(
        selected: impl IntoIterator<Item = &'r Reads>,
        all: impl IntoIterator<Item = &'r Reads>,
    ) -> Self {
        Loader {
            objects_scanned: 0,
            unavailable: Vec::new(),
            not_read: Vec::new(),
            load: ReadSet::union(selected),
            known: ReadSet::union(all),
            confined: Vec::new(),
        }
    }

    /// Lists `resource` only in `namespaces`; in any other namespace it is
    /// not read at all (no request, nothing unavailable) and holds nothing.
    pub fn confine(&mut self, resource: &'static str, namespaces: Vec<String>) {
        self.confined.push((resource, namespaces));
    }

    fn listed_in(&self, resource: &str, namespace: &str) -> bool {
        self.confined
            .iter()
            .filter(|(r, _)| *r == resource)
            .all(|(_, namespaces)| namespaces.iter().any(|n| n == namespace))
    }

    /// The resources this loader lists, namespaced and cluster-scoped.
    #[cfg(test)]
    pub fn loads(&self) -> &ReadSet {
        &self.load
    }

    /// Lists `resource` (in `namespace`, or cluster-wide), as `T`.
    pub fn list<T: DeserializeOwned>(&mut self, resource: &str, namespace: Option<&str>) -> Vec<T> {
        self.try_list(resource, namespace).unwrap_or_default()
    }

    /// Like [`Loader::list`], but `None` when the list failed (noted in
    /// `unavailable`), so "empty" and "could not read" stay apart.
    pub fn try_list<T: DeserializeOwned>(
        &mut self,
        resource: &str,
        namespace: Option<&str>,
    ) -> Option<Vec<T>> {
        let options = ListOptions {
            namespace: namespace.map(Into::into),
            ..Default::default()
        };
        match kube::list::<T>(resource, &options) {
            Ok(list) => {
                self.objects_scanned += list.items.len();
                Some(list.items)
            }
            Err(e) => {
                self.note(resource, namespace, &e);
                None
            }
        }
    }

    /// Lists `resource` in `namespace`, or the error that stopped it.
    pub fn list_or_error<T: DeserializeOwned>(
        &mut self,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<Vec<T>, HostError> {
        let options = ListOptions {
            namespace: namespace.map(Into::into),
            ..Default::default()
        };
        match kube::list::<T>(resource, &options) {
            Ok(list) => {
                self.objects_scanned += list.items.len();
                Ok(list.items)
            }
            Err(e) => {
                self.note(resource, namespace, &e);
                Err(e)
            }
        }
    }

    /// ConfigMaps, kept slim: what the analyzers read of them (names,
    /// labels, owners, annotations, the keys of `data` and `binaryData`),
    /// never their values — the host lists them with values replaced by
    /// their size, and a namespace full of large ConfigMaps must not fill
    /// the skill's memory.
    fn slim_list(&mut self, resource: &str, namespace: &str) -> Option<Vec<Value>> {
        let slim = self.try_list::<Slim>(resource, Some(namespace))?;
        Some(slim.into_iter().map(Slim::into_value).collect())
    }

    fn note(&mut self, resource: &str, namespace: Option<&str>, e: &HostError) {
        // A cluster without the Gateway API or Argo CD does not serve their
        // resources: that is not worth a line per namespace.
        let optional =
            resource.ends_with(".gateway.networking.k8s.io") || resource.ends_with(".argoproj.io");
        if optional && matches!(e.kind, ErrorKind::NotFound | ErrorKind::Invalid) {
            return;
        }
        if self
            .unavailable
            .iter()
            .any(|u| u.resource == resource && u.error == e.describe())
        {
            return;
        }
        self.unavailable.push(Unavailable {
            resource: resource.into(),
            namespace: namespace.map(Into::into),
            error: e.describe(),
        });
    }

    /// The cluster-scoped objects the selected analyzers read. When none
    /// of them could be read, the cluster-scoped objects are recorded as
    /// not read.
    pub fn cluster(&mut self) -> Cluster {
        let mut objects = BTreeMap::new();
        let mut failed = None;
        let mut read = 0;
        for resource in self.load.cluster.clone() {
            let items = match self.list_or_error::<Value>(resource, None) {
                Ok(items) => {
                    read += 1;
                    items
                }
                Err(e) => {
                    failed.get_or_insert(e);
                    Vec::new()
                }
            };
            objects.insert(resource, items);
        }
        // Nothing to list is not a failure.
        let readable = read > 0 || failed.is_none();
        if let (false, Some(e)) = (readable, failed) {
            self.not_read.push(NotRead {
                scope: "cluster-scoped objects".into(),
                namespace: None,
                error: e.describe(),
                kind: Some(e.kind),
            });
        }
        let observed_at = newest_heartbeat(objects.get("nodes").map_or(&[][..], Vec::as_slice));
        Cluster {
            objects,
            readable,
            reader: Reader::new(self.known.clone()),
            observed_at,
        }
    }

    /// Records the reads analyzers made of what they do not declare (see
    /// [`Cluster::reading`]): each is a bug in the skill, and the checks
    /// that made it saw nothing.
    pub fn undeclared(&mut self, cluster: &Cluster, namespace: Option<&str>) {
        for (analyzer, resource) in cluster.reader.undeclared.take() {
            let error = format!(
                "not loaded for the {analyzer} analyzer, which does not declare that it reads it (a bug in the diagnostics skill): its checks that need it were skipped"
            );
            if self
                .unavailable
                .iter()
                .any(|u| u.resource == resource && u.error == error)
            {
                continue;
            }
            self.unavailable.push(Unavailable {
                resource,
                namespace: namespace.map(Into::into),
                error,
            });
        }
    }

    /// Everything the analyzers read in `namespace`, or `None` when its pods
    /// could not be listed: then nothing can be said about the namespace,
    /// and it is recorded as not read.
    pub fn scope<'c>(&mut self, cluster: &'c Cluster, namespace: &str) -> Option<Scope<'c>> {
        let pods = match self.list_or_error::<Pod>("pods", Some(namespace)) {
            Ok(pods) => pods,
            Err(e) => {
                self.not_read.push(NotRead {
                    scope: format!("namespace {namespace}"),
                    namespace: Some(namespace.to_owned()),
                    error: e.describe(),
                    kind: Some(e.kind),
                });
                return None;
            }
        };
        let mut events = self.list::<Event>("events", Some(namespace));
        events.sort_by(|a, b| a.time().cmp(&b.time()));
        let mut objects = BTreeMap::new();
        let mut unreadable = BTreeSet::new();
        for resource in self.load.namespaced.clone() {
            let items = if !self.listed_in(resource, namespace) {
                Some(Vec::new())
            } else if SLIM_RESOURCES.contains(&resource) {
                self.slim_list(resource, namespace)
            } else {
                self.try_list::<Value>(resource, Some(namespace))
            };
            let items = match items {
                Some(items) => items,
                None => {
                    unreadable.insert(resource);
                    Vec::new()
                }
            };
            objects.insert(resource, items);
        }
        let memory_peaks = memory_peaks(namespace, &pods);
        Some(Scope {
            namespace: namespace.to_string(),
            cluster,
            pods,
            events,
            objects,
            unreadable,
            memory_peaks,
        })
    }
}

/// Resources kept slim in memory ([`Slim`]): their values are never needed,
/// and a namespace may hold thousands of them, or large ones.
const SLIM_RESOURCES: &[&str] = &["configmaps", "secrets"];

/// What the analyzers read of a ConfigMap or Secret; values are skipped
/// while parsing (the host sends sizes, not values, for ConfigMaps in lists,
/// and redacted markers for Secrets).
#[derive(serde::Deserialize)]
struct Slim {
    #[serde(default, rename = "apiVersion")]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: SlimMeta,
    #[serde(default, rename = "type")]
    type_: Option<String>,
    #[serde(default)]
    data: Option<BTreeMap<String, Value>>,
    #[serde(default, rename = "binaryData")]
    binary_data: Option<BTreeMap<String, serde::de::IgnoredAny>>,
    #[serde(default, rename = "stringData")]
    string_data: Option<BTreeMap<String, serde::de::IgnoredAny>>,
}

#[derive(Default, serde::Deserialize)]
struct SlimMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default, rename = "resourceVersion")]
    resource_version: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    /// Only short annotations: `last-applied-configuration` and the like
    /// repeat the data.
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "ownerReferences")]
    owner_references: Option<Value>,
}

/// Annotations longer than this are dropped from slim objects.
const SLIM_ANNOTATION_BYTES: usize = 1024;

impl Slim {
    fn into_value(self) -> Value {
        let mut meta = serde_json::Map::new();
        meta.insert("name".into(), Value::String(self.metadata.name));
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                meta.insert(k.into(), v);
            }
        };
        put("namespace", self.metadata.namespace.map(Value::String));
        put("uid", self.metadata.uid.map(Value::String));
        put(
            "resourceVersion",
            self.metadata.resource_version.map(Value::String),
        );
        put("labels", self.metadata.labels.map(map_of));
        put(
            "annotations",
            self.metadata.annotations.map(|a| {
                map_of(
                    a.into_iter()
                        .filter(|(_, v)| v.len() <= SLIM_ANNOTATION_BYTES)
                        .collect(),
                )
            }),
        );
        put("ownerReferences", self.metadata.owner_references);
        let mut object = serde_json::Map::new();
        if let Some(v) = self.api_version {
            object.insert("apiVersion".into(), Value::String(v));
        }
        if let Some(v) = self.kind {
            object.insert("kind".into(), Value::String(v));
        }
        object.insert("metadata".into(), Value::Object(meta));
        if let Some(t) = self.type_ {
            object.insert("type".into(), Value::String(t));
        }
        // `data` keeps short values (markers, or small values a snapshot
        // may still carry): a fix may quote one.
        if let Some(data) = self.data {
            let data = data
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) if s.len() <= SLIM_ANNOTATION_BYTES => (k, Value::String(s)),
                    _ => (k, Value::String(String::new())),
                })
                .collect();
            object.insert("data".into(), Value::Object(data));
        }
        let keys = |m: BTreeMap<String, serde::de::IgnoredAny>| {
            Value::Object(
                m.into_keys()
                    .map(|k| (k, Value::String(String::new())))
                    .collect(),
            )
        };
        if let Some(m) = self.binary_data {
            object.insert("binaryData".into(), keys(m));
        }
        if let Some(m) = self.string_data {
            object.insert("stringData".into(), keys(m));
        }
        Value::Object(object)
    }
}

fn map_of(m: BTreeMap<String, String>) -> Value {
    Value::Object(m.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

/// Which analyzer is reading, so that it sees only what it declares.
///
/// An analyzer that read a resource it does not declare would see its
/// objects only when another analyzer that declares it runs too (the loader
/// lists what the selected analyzers declare). So it sees nothing of it,
/// whichever analyzers run: the resource reads as not readable, and the
/// read is reported (`Loader::undeclared`). Resources no analyzer declares
/// (a custom owner's kind) are never loaded and read as empty, as before.
struct Reader {
    current: Cell<Option<(&'static str, Reads)>>,
    /// Every analyzer's reads.
    known: ReadSet,
    /// (analyzer, resource) read without a declaration.
    undeclared: RefCell<Vec<(&'static str, String)>>,
}

impl Reader {
    fn new(known: ReadSet) -> Self {
        Reader {
            current: Cell::new(None),
            known,
            undeclared: RefCell::new(Vec::new()),
        }
    }

    /// Whether the analyzer reading (if any) may see `resource`.
    fn may_read(&self, resource: &str, cluster_scoped: bool) -> bool {
        let Some((analyzer, reads)) = self.current.get() else {
            return true;
        };
        let (declared, known) = if cluster_scoped {
            (reads.cluster, &self.known.cluster)
        } else {
            (reads.namespaced, &self.known.namespaced)
        };
        if declared.contains(&resource) || !known.contains(&resource) {
            return true;
        }
        let mut undeclared = self.undeclared.borrow_mut();
        if !undeclared
            .iter()
            .any(|(a, r)| *a == analyzer && r == resource)
        {
            undeclared.push((analyzer, resource.to_owned()));
        }
        false
    }
}

/// Cluster-scoped objects, by kubectl resource name.
pub struct Cluster {
    objects: BTreeMap<&'static str, Vec<Value>>,
    /// At least one cluster-scoped resource was read (or none was asked).
    pub readable: bool,
    reader: Reader,
    /// The newest heartbeat of a node: kubelets renew it every few
    /// minutes, so it is the time the data describes (a live server's now,
    /// a snapshot's capture) — a skill has no clock of its own to trust.
    pub observed_at: Option<String>,
}

/// The newest `lastHeartbeatTime` of the nodes' conditions.
fn newest_heartbeat(nodes: &[Value]) -> Option<String> {
    nodes
        .iter()
        .flat_map(|n| n["status"]["conditions"].as_array().into_iter().flatten())
        .filter_map(|c| c["lastHeartbeatTime"].as_str())
        .max()
        .map(str::to_owned)
}

impl Cluster {
    /// Runs `f` as the analyzer `name`, which reads `reads`: it sees only
    /// those, here and in every [`Scope`] of this cluster.
    pub fn reading<T>(&self, name: &'static str, reads: Reads, f: impl FnOnce() -> T) -> T {
        let before = self.reader.current.replace(Some((name, reads)));
        let out = f();
        self.reader.current.set(before);
        out
    }

    /// The objects of `resource`, a cluster-scoped resource the analyzer
    /// reading declares.
    pub fn objects(&self, resource: &str) -> &[Value] {
        if !self.reader.may_read(resource, true) {
            return &[];
        }
        self.objects.get(resource).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The object of `resource` named `name`.
    pub fn find(&self, resource: &str, name: &str) -> Option<&Value> {
        self.objects(resource).iter().find(|o| name_of(o) == name)
    }

    /// The objects of `resource` when they were listed (for the skill
    /// itself, outside any analyzer): `None` when not loaded or not
    /// readable.
    pub fn loaded(&self, resource: &str) -> Option<&[Value]> {
        self.objects.get(resource).map(Vec::as_slice)
    }
}

/// One namespace, loaded.
pub struct Scope<'c> {
    pub namespace: String,
    pub cluster: &'c Cluster,
    pub pods: Vec<Pod>,
    /// Oldest first.
    pub events: Vec<Event>,
    objects: BTreeMap<&'static str, Vec<Value>>,
    /// Resources whose list failed (denied, not served): their absence
    /// proves nothing.
    unreadable: BTreeSet<&'static str>,
    /// The peak memory working set of each (pod, container) over
    /// [`PEAK_WINDOW`], from Prometheus — read only when a container of the
    /// namespace was OOMKilled, and empty when no metrics source answers.
    pub memory_peaks: BTreeMap<(String, String), f64>,
}

/// How far back an OOMKilled container's memory peak is read.
pub const PEAK_WINDOW: &str = "7d";

/// The memory peaks of `namespace`'s containers when one of its pods was
/// OOMKilled: one query for the whole namespace. Nothing (and no error)
/// when the skill has no metrics source: the finding stands on the status.
fn memory_peaks(namespace: &str, pods: &[Pod]) -> BTreeMap<(String, String), f64> {
    let oom = |s: &ContainerStatusRef| {
        [&s.state.terminated, &s.last_state.terminated]
            .iter()
            .any(|t| t.as_ref().and_then(|t| t.reason.as_deref()) == Some("OOMKilled"))
    };
    if !pods
        .iter()
        .any(|p| p.status.container_statuses.iter().any(oom))
    {
        return BTreeMap::new();
    }
    let promql = format!(
        "max by (pod, container) (max_over_time(container_memory_working_set_bytes{{namespace=\"{namespace}\",container!=\"\",container!=\"POD\"}}[{PEAK_WINDOW}]))"
    );
    let Ok(data) = guardian_skill_sdk::metrics::query(&promql, None) else {
        return BTreeMap::new();
    };
    peaks_of(&data)
}

/// `(pod, container) → value` of a Prometheus vector.
pub fn peaks_of(data: &Value) -> BTreeMap<(String, String), f64> {
    data["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let m = &r["metric"];
            let v = r["value"][1].as_str()?.parse::<f64>().ok()?;
            Some((
                (
                    m["pod"].as_str()?.to_owned(),
                    m["container"].as_str()?.to_owned(),
                ),
                v,
            ))
        })
        .collect()
}

type ContainerStatusRef = crate::model::ContainerStatus;

impl Scope<'_> {
    /// Whether `resource` was listed: when false, an object missing from
    /// [`Scope::objects`] may exist all the same.
    pub fn readable(&self, resource: &str) -> bool {
        self.cluster.reader.may_read(resource, false) && !self.unreadable.contains(resource)
    }

    /// Whether the analyzer reading declares the namespaced `resource`.
    pub fn declares(&self, resource: &str) -> bool {
        self.cluster
            .reader
            .current
            .get()
            .is_none_or(|(_, reads)| reads.namespaced.contains(&resource))
    }

    /// The objects of `resource`, a namespaced resource the analyzer
    /// reading declares.
    pub fn objects(&self, resource: &str) -> &[Value] {
        if !self.cluster.reader.may_read(resource, false) {
            return &[];
        }
        self.objects.get(resource).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The object of `resource` named `name` in this namespace.
    pub fn find(&self, resource: &str, name: &str) -> Option<&Value> {
        self.objects(resource).iter().find(|o| name_of(o) == name)
    }

    /// The objects of `resource` when they were listed (for the skill
    /// itself, outside any analyzer): `None` when not loaded or not
    /// readable.
    pub fn loaded(&self, resource: &str) -> Option<&[Value]> {
        if self.unreadable.contains(resource) {
            return None;
        }
        self.objects.get(resource).map(Vec::as_slice)
    }

    /// Events about the object `kind`/`name` in this namespace, oldest first.
    pub fn events_for<'a>(
        &'a self,
        kind: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Event> + 'a {
        self.events
            .iter()
            .filter(move |e| e.involved_object.kind == kind && e.involved_object.name == name)
    }

    /// The workload a pod belongs to, following ReplicaSet → Deployment and
    /// Job → CronJob; the pod itself when it has no owner.
    pub fn workload_of(&self, pod: &Pod) -> ObjRef {
        let ns = Some(self.namespace.as_str());
        let Some(owner) = pod.metadata.controller() else {
            return ObjRef::new("v1", "Pod", ns, &pod.metadata.name);
        };
        let parent_resource = kinds::resource_of(&owner.api_version, &owner.kind);
        if matches!(owner.kind.as_str(), "ReplicaSet" | "Job")
            && let Some(parent) = self.find(&parent_resource, &owner.name)
            && let Some(top) = controller_of(parent)
        {
            return ObjRef::new(&top.0, &top.1, ns, &top.2);
        }
        ObjRef::new(&owner.api_version, &owner.kind, ns, &owner.name)
    }
}

/// `metadata.name` of an object.
pub fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or("")
}

/// The controlling owner of an object as (apiVersion, kind, name).
pub fn controller_of(object: &Value) -> Option<(String, String, String)> {
    let owners = object["metadata"]["ownerReferences"].as_array()?;
    let owner = owners
        .iter()
        .find(|o| o["controller"].as_bool() == Some(true))
        .or_else(|| owners.first())?;
    Some((
        owner["apiVersion"].as_str()?.to_string(),
        owner["kind"].as_str()?.to_string(),
        owner["name"].as_str()?.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SERVICE: Reads = Reads {
        namespaced: &["services"],
        cluster: &["nodes"],
        gets: &[],
    };
    const ENDPOINTS: Reads = Reads {
        namespaced: &["endpoints"],
        cluster: &[],
        gets: &[],
    };

    fn named(name: &str) -> Value {
        json!({"metadata": {"name": name}})
    }

    #[test]
    fn an_analyzer_sees_only_what_it_declares() {
        let cluster = Cluster {
            objects: BTreeMap::from([("nodes", vec![named("n1")])]),
            readable: true,
            reader: Reader::new(ReadSet::union([&SERVICE, &ENDPOINTS])),
            observed_at: None,
        };
        let scope = Scope {
            namespace: "shop".into(),
            cluster: &cluster,
            pods: Vec::new(),
            events: Vec::new(),
            objects: BTreeMap::from([
                ("services", vec![named("web")]),
                ("endpoints", vec![named("web")]),
            ]),
            unreadable: BTreeSet::new(),
            memory_peaks: BTreeMap::new(),
        };
        // The skill itself (outside an analyzer) sees what was loaded.
        assert_eq!(scope.objects("endpoints").len(), 1);

        cluster.reading("Service", SERVICE, || {
            assert!(scope.find("services", "web").is_some());
            assert!(scope.readable("services"));
            assert_eq!(cluster.objects("nodes").len(), 1);
            assert!(scope.declares("services") && !scope.declares("endpoints"));
            // Loaded for another analyzer, not declared by this one: it
            // sees nothing of it, and cannot take that for absence.
            assert!(scope.objects("endpoints").is_empty());
            assert!(scope.find("endpoints", "web").is_none());
            assert!(!scope.readable("endpoints"));
            // Declared by no analyzer (a custom owner's kind): never
            // loaded, empty as it always was.
            assert!(scope.objects("rollouts.argoproj.io").is_empty());
            assert!(scope.readable("rollouts.argoproj.io"));
        });
        cluster.reading("Endpoints", ENDPOINTS, || {
            assert_eq!(scope.objects("endpoints").len(), 1);
            assert!(cluster.objects("nodes").is_empty());
        });

        let mut loader = Loader::new([], []);
        loader.undeclared(&cluster, Some("shop"));
        let got: Vec<(&str, &str)> = loader
            .unavailable
            .iter()
            .map(|u| (u.resource.as_str(), u.namespace.as_deref().unwrap()))
            .collect();
        assert_eq!(got, [("endpoints", "shop"), ("nodes", "shop")]);
        assert!(
            loader.unavailable[0]
                .error
                .contains("not loaded for the Service analyzer, which does not declare"),
            "{}",
            loader.unavailable[0].error
        );
        assert!(loader.unavailable[1].error.contains("Endpoints analyzer"));
        // Reported once, then cleared.
        loader.undeclared(&cluster, Some("shop"));
        assert_eq!(loader.unavailable.len(), 2);
    }
}
