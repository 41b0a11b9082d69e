//! The snapshot store: a cluster snapshot on disk, held in memory.
//!
//! A snapshot folder may hold a `kubectl cluster-info dump --output-directory`
//! tree, any number of `kubectl get … -o yaml|json` files, or both (the dump
//! lacks ConfigMaps, Secrets, PVCs, HPAs, Ingresses…). See `docs/snapshots.md`
//! for the layout, the capture commands and the previous-logs block format.
//!
//! [`Snapshot`] answers reads the way the API server would, including its
//! error wording, so skills reading it through the broker cannot tell the
//! difference — except that nothing is ever written: dry-run patches are
//! applied to a copy. Its in-memory writes (`write.rs`) serve `guardian
//! snapshot serve --writable` only. Objects and logs are masked (`redact`)
//! when they are loaded, so they are held masked.

mod load;
mod logs;
mod nesting;
mod patch;
mod shape;
mod top;
mod write;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::Serialize;
use serde_json::{Map, Value, json};

use guardian_kube_types::selectors::{FieldSelector, LabelSelector};
use guardian_kube_types::{
    BrokerError, ListQuery, LogQuery, ObjectRef, ResourceKind, ResourceTable, SharedItem,
    SharedList, Stored, events,
};
use guardian_redact as redact;
pub use load::{DEFAULT_MAX_FILE_BYTES, LoadOptions, MAX_FILE_BYTES_ENV};
use load::{GroupKind, Index, Loader};
use logs::{LogBody, PodLogs};
pub use top::{TOP_NODES_FILE, TOP_PODS_FILE};
pub use write::{PatchKind, Preconditions};

/// Something in a snapshot that could not be used and was skipped; the rest
/// of the snapshot still loaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoadProblem {
    /// The file (or folder) concerned.
    pub file: PathBuf,
    /// What was wrong, where in the file, and what was done about it.
    pub message: String,
}

impl std::fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

/// A snapshot loaded into memory. Cheap to clone: the data is shared.
#[derive(Clone)]
pub struct Snapshot {
    inner: Arc<Data>,
}

struct Data {
    source: PathBuf,
    table: ResourceTable,
    /// Written only by the inherent write methods (`write.rs`), which swap
    /// whole `Arc`s: readers clone `Arc`s out under the read lock and never
    /// see an object change under them.
    objects: RwLock<Index>,
    logs: HashMap<(String, String), PodLogs>,
    /// The highest resourceVersion seen; every write bumps it, like etcd.
    resource_version: AtomicU64,
    scanned: usize,
    object_count: usize,
    /// Namespace objects made up for namespaces the files have no object for.
    synthesized: usize,
    namespaces: Vec<String>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("source", &self.inner.source)
            .field("objects", &self.inner.object_count)
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    /// Load a snapshot folder (recursively) or a single YAML/JSON file,
    /// with the bounds of [`LoadOptions::from_env`].
    ///
    /// Files that cannot be used are skipped and returned as problems.
    /// Fails only if `path` does not exist or cannot be read, or if nothing
    /// at all could be loaded from it.
    pub fn load(path: &Path) -> Result<(Snapshot, Vec<LoadProblem>), BrokerError> {
        Self::load_with(path, &LoadOptions::from_env()?)
    }

    /// [`Snapshot::load`] with explicit bounds.
    pub fn load_with(
        path: &Path,
        options: &LoadOptions,
    ) -> Result<(Snapshot, Vec<LoadProblem>), BrokerError> {
        let started = std::time::Instant::now();
        let mut loader = Loader::with_options(options.clone());
        loader.load_path(path)?;
        let (loaded, problems) = loader.finish(path)?;
        let backend = Self::from_loaded(path.to_path_buf(), loaded);
        tracing::info!(
            source = %path.display(),
            ms = started.elapsed().as_millis() as u64,
            objects = backend.inner.object_count,
            scanned = backend.inner.scanned,
            problems = problems.len(),
            "snapshot loaded"
        );
        Ok((backend, problems))
    }

    /// Build a snapshot from objects already in memory (each an object or a
    /// list, as a file would hold). `label` names the source in
    /// [`Snapshot::description`] and in problems. Useful for tests and fixtures.
    pub fn from_values(
        label: &str,
        values: Vec<Value>,
    ) -> Result<(Snapshot, Vec<LoadProblem>), BrokerError> {
        let label = PathBuf::from(label);
        let mut loader = Loader::new();
        loader.load_values(&label, values);
        let (loaded, problems) = loader.finish(&label)?;
        Ok((Self::from_loaded(label, loaded), problems))
    }

    fn from_loaded(source: PathBuf, loaded: load::Loaded) -> Self {
        let mut namespaces: BTreeSet<String> = BTreeSet::new();
        let mut object_count = 0;
        for ((group, kind), by_namespace) in &loaded.objects {
            for (namespace, by_name) in by_namespace {
                object_count += by_name.len();
                if !namespace.is_empty() {
                    namespaces.insert(namespace.clone());
                }
                if group.is_empty() && kind == "Namespace" {
                    namespaces.extend(by_name.keys().cloned());
                }
            }
        }
        namespaces.extend(loaded.logs.keys().map(|(ns, _)| ns.clone()));
        let mut loaded = loaded;
        // Not counted in `object_count`: that is what the files hold.
        let synthesized = synthesize_namespaces(&mut loaded.objects, &namespaces);
        Self {
            inner: Arc::new(Data {
                source,
                table: loaded.table,
                objects: RwLock::new(loaded.objects),
                logs: loaded.logs,
                resource_version: AtomicU64::new(loaded.resource_version),
                scanned: loaded.scanned,
                object_count,
                synthesized,
                namespaces: namespaces.into_iter().collect(),
            }),
        }
    }

    /// Objects read from the snapshot's files, duplicates included.
    pub fn objects_scanned(&self) -> usize {
        self.inner.scanned
    }

    /// Distinct objects held (after keeping the newest of duplicates, and
    /// after any in-memory writes), not counting synthesized Namespaces.
    pub fn object_count(&self) -> usize {
        let held: usize = self
            .inner
            .read()
            .values()
            .flat_map(|by_namespace| by_namespace.values())
            .map(BTreeMap::len)
            .sum();
        held.saturating_sub(self.inner.synthesized)
    }

    /// Every namespace the snapshot knows of — from Namespace objects, from
    /// namespaced objects and from pod logs — sorted.
    pub fn namespaces(&self) -> Vec<String> {
        self.inner.namespaces.clone()
    }

    /// The folder or file the snapshot was loaded from.
    pub fn source(&self) -> &Path {
        &self.inner.source
    }

    /// The resource table: built-ins plus kinds found in the snapshot.
    pub fn table(&self) -> &ResourceTable {
        &self.inner.table
    }

    // The read calls. They take no permit: a snapshot is data in memory, not
    // a cluster. The broker decides (and audits) each call a skill makes
    // before it asks the snapshot; `guardian snapshot serve` serves the
    // snapshot to its own clients.

    /// `snapshot PATH`.
    pub fn description(&self) -> String {
        format!("snapshot {}", self.inner.source.display())
    }

    /// The snapshot's current resourceVersion: the highest one loaded, bumped
    /// by every in-memory write.
    pub fn resource_version(&self) -> u64 {
        self.inner.current_resource_version()
    }

    /// One object. Cluster-scoped kinds ignore `namespace`; namespaced
    /// kinds require one.
    pub fn get_object(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Arc<Value>, BrokerError> {
        Ok(Arc::new(self.inner.get(kind, namespace, name)?.value()))
    }

    /// A list object with copies of the matching items.
    pub fn list_objects(
        &self,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<Value, BrokerError> {
        self.inner.list(kind, query)
    }

    /// The matching items, shared with the snapshot: no deep copy, whatever
    /// the count.
    pub fn list_objects_shared(
        &self,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<SharedList, BrokerError> {
        self.inner.list_shared(kind, query)
    }

    /// A container's logs, with the API server's error wording.
    pub fn pod_logs(
        &self,
        namespace: &str,
        pod: &str,
        query: &LogQuery,
    ) -> Result<String, BrokerError> {
        self.inner.logs(namespace, pod, query)
    }

    /// An EventList of the events about `object`, oldest first.
    pub fn events_of(&self, object: &ObjectRef) -> Value {
        self.inner.events(object)
    }

    /// An RFC 6902 JSON Patch applied to a copy; nothing is stored. A failed
    /// `test` operation is a [`BrokerError::Conflict`].
    pub fn dry_run_json_patch(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        json_patch: &Value,
    ) -> Result<Value, BrokerError> {
        self.inner.dry_run_patch(kind, namespace, name, json_patch)
    }
}

/// A cluster-info dump has no Namespace objects: each namespace that holds
/// objects but has no Namespace object gets a minimal one (phase Active,
/// annotated `guardian.io/synthesized: "true"`), so `list namespaces` answers
/// as a live API server would. Returns how many were added.
fn synthesize_namespaces(objects: &mut load::Index, namespaces: &BTreeSet<String>) -> usize {
    let by_name = objects
        .entry((String::new(), "Namespace".to_string()))
        .or_default()
        .entry(String::new())
        .or_default();
    let mut added = 0;
    for ns in namespaces {
        if by_name.contains_key(ns) {
            continue;
        }
        by_name.insert(
            ns.clone(),
            Arc::new(Stored::new(&json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": ns,
                    "labels": {"kubernetes.io/metadata.name": ns},
                    "annotations": {"guardian.io/synthesized": "true"},
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }))),
        );
        added += 1;
    }
    added
}

/// `pods "x" not found in namespace "staging"` / `nodes "x" not found`, as the
/// API server words it (with the namespace spelled out, since a snapshot
/// caller cannot see the URL).
fn not_found(kind: &ResourceKind, namespace: Option<&str>, name: &str) -> BrokerError {
    let resource = kind.grant_name();
    match namespace {
        Some(ns) if kind.namespaced => BrokerError::NotFound(format!(
            "{resource} \"{name}\" not found in namespace \"{ns}\""
        )),
        _ => BrokerError::NotFound(format!("{resource} \"{name}\" not found")),
    }
}

/// The objects of one kind, by namespace then name.
fn by_namespace<'a>(
    objects: &'a Index,
    kind: &ResourceKind,
) -> Option<&'a BTreeMap<String, BTreeMap<String, Arc<Stored>>>> {
    let key: GroupKind = (kind.group.clone(), kind.kind.clone());
    objects.get(&key)
}

impl Data {
    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.objects.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.objects.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn current_resource_version(&self) -> u64 {
        self.resource_version.load(Ordering::SeqCst)
    }

    /// The index key of `namespace` for this kind; cluster-scoped kinds
    /// ignore any namespace given, like kubectl does.
    fn namespace_key<'a>(
        &self,
        kind: &ResourceKind,
        namespace: Option<&'a str>,
        name: &str,
    ) -> Result<&'a str, BrokerError> {
        if !kind.namespaced {
            return Ok("");
        }
        namespace.filter(|ns| !ns.is_empty()).ok_or_else(|| {
            BrokerError::Invalid(format!(
                "{} is namespaced: give the namespace of {} \"{name}\"",
                kind.grant_name(),
                kind.kind
            ))
        })
    }

    fn get(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Arc<Stored>, BrokerError> {
        let ns = self.namespace_key(kind, namespace, name)?;
        by_namespace(&self.read(), kind)
            .and_then(|m| m.get(ns))
            .and_then(|m| m.get(name))
            .cloned()
            .ok_or_else(|| not_found(kind, namespace, name))
    }

    /// The objects a list call answers with, in order, plus how many more
    /// matched beyond the limit.
    fn select(
        &self,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<(Vec<Arc<Stored>>, usize), BrokerError> {
        let labels = match query.label_selector.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => Some(LabelSelector::parse(s)?),
            _ => None,
        };
        let fields = match query.field_selector.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => Some(FieldSelector::parse(s)?),
            _ => None,
        };
        // As in the API, a limit of 0 means no limit.
        let limit = query
            .limit
            .filter(|&l| l > 0)
            .map_or(usize::MAX, |l| l as usize);
        let namespace = query.namespace.as_deref().filter(|ns| !ns.is_empty());

        let mut items: Vec<Arc<Stored>> = Vec::new();
        let mut remaining = 0usize;
        let objects = self.read();
        if let Some(by_namespace) = by_namespace(&objects, kind) {
            let scopes: Box<dyn Iterator<Item = &BTreeMap<String, Arc<Stored>>>> = match namespace {
                // Cluster-scoped kinds ignore a namespace, as kubectl does.
                Some(ns) if kind.namespaced => Box::new(by_namespace.get(ns).into_iter()),
                _ => Box::new(by_namespace.values()),
            };
            let matching = scopes.flat_map(|m| m.values()).filter(|o| {
                labels.as_ref().is_none_or(|s| s.matches_labels(o.labels()))
                    && fields.as_ref().is_none_or(|s| s.matches(&o.value()))
            });
            for object in matching {
                if items.len() < limit {
                    items.push(Arc::clone(object));
                } else {
                    remaining += 1;
                }
            }
        }
        Ok((items, remaining))
    }

    fn list_metadata(&self, remaining: usize) -> Value {
        let mut metadata = Map::new();
        metadata.insert(
            "resourceVersion".into(),
            Value::String(self.current_resource_version().to_string()),
        );
        if remaining > 0 {
            // No continue token (a snapshot cannot page), but the caller must
            // know the answer was cut.
            metadata.insert("remainingItemCount".into(), json!(remaining));
        }
        Value::Object(metadata)
    }

    fn list(&self, kind: &ResourceKind, query: &ListQuery) -> Result<Value, BrokerError> {
        let (items, remaining) = self.select(kind, query)?;
        let items: Vec<Value> = items.into_iter().map(|o| o.value()).collect();
        Ok(json!({
            "apiVersion": kind.api_version(),
            "kind": kind.list_kind(),
            "metadata": self.list_metadata(remaining),
            "items": items,
        }))
    }

    fn list_shared(
        &self,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Result<SharedList, BrokerError> {
        let (items, remaining) = self.select(kind, query)?;
        Ok(SharedList {
            api_version: kind.api_version(),
            kind: kind.list_kind(),
            metadata: self.list_metadata(remaining),
            items: items.into_iter().map(SharedItem::Stored).collect(),
        })
    }

    fn logs(&self, namespace: &str, pod: &str, query: &LogQuery) -> Result<String, BrokerError> {
        let pod_object = self
            .read()
            .get(&(String::new(), "Pod".to_string()))
            .and_then(|m| m.get(namespace))
            .and_then(|m| m.get(pod))
            .map(|p| p.value());
        let pod_object = pod_object.as_ref();
        let pod_logs = self.logs.get(&(namespace.to_string(), pod.to_string()));
        if pod_object.is_none() && pod_logs.is_none() {
            return Err(BrokerError::NotFound(format!(
                "pods \"{pod}\" not found in namespace \"{namespace}\""
            )));
        }
        let names = |field: &str| -> Vec<String> {
            pod_object
                .and_then(|p| p.get("spec"))
                .and_then(|s| s.get(field))
                .and_then(Value::as_array)
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| c.get("name").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut containers = names("containers");
        if pod_object.is_none() {
            // Logs without the pod object: the blocks name the containers.
            containers = pod_logs
                .map(|l| l.keys().cloned().collect())
                .unwrap_or_default();
        }
        let init_containers = names("initContainers");
        let ephemeral = names("ephemeralContainers");
        let all_valid: Vec<&String> = containers
            .iter()
            .chain(&init_containers)
            .chain(&ephemeral)
            .chain(pod_logs.into_iter().flat_map(|l| l.keys()))
            .collect();
        let choices = || {
            let mut text = format!("[{}]", containers.join(" "));
            if !init_containers.is_empty() {
                text.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init_containers.join(" ")
                ));
            }
            text
        };
        let container = match query.container.as_deref().filter(|c| !c.is_empty()) {
            Some(c) if all_valid.iter().any(|v| v.as_str() == c) => c.to_string(),
            Some(c) => {
                return Err(BrokerError::Invalid(format!(
                    "container {c} is not valid for pod {namespace}/{pod}: choose one of: {}",
                    choices()
                )));
            }
            None => match containers.as_slice() {
                [only] => only.clone(),
                [] => {
                    return Err(BrokerError::Invalid(format!(
                        "pod {namespace}/{pod} has no containers in the snapshot; name one \
                         explicitly"
                    )));
                }
                _ => {
                    return Err(BrokerError::Invalid(format!(
                        "a container name must be specified for pod {namespace}/{pod}, choose \
                         one of: {}",
                        choices()
                    )));
                }
            },
        };
        let entry = pod_logs.and_then(|l| l.get(&container));
        let body = if query.previous {
            entry.and_then(|e| e.previous.as_ref())
        } else {
            entry.and_then(|e| e.current.as_ref())
        };
        match body {
            // Masked before any of it leaves the backend.
            Some(LogBody::Text(text)) => Ok(logs::tail(text.masked(), query.tail_lines)),
            Some(LogBody::FetchError(line)) => Err(BrokerError::Unavailable(format!(
                "{}logs of container {container} in pod {namespace}/{pod} could not be fetched \
                 when the snapshot was taken: \"{}\"; re-capture them (`kubectl logs -n \
                 {namespace} {pod} -c {container}{}`) once the node's kubelet is reachable",
                if query.previous { "previous " } else { "" },
                redact::text(line),
                if query.previous { " --previous" } else { "" },
            ))),
            None if query.previous => {
                match previous_instance(pod_object, &container) {
                    // The pod status proves there was a previous instance:
                    // its logs existed, the snapshot just did not keep them.
                    Some(restarts) => Err(BrokerError::Unavailable(format!(
                        "container {container} in pod {namespace}/{pod} has a previous \
                         terminated instance ({restarts} restart(s)) but the snapshot holds no \
                         previous logs for it; capture them with `kubectl logs -n {namespace} \
                         {pod} -c {container} --previous` into a `==== START previous logs for \
                         container {container} of pod {namespace}/{pod} ====` block"
                    ))),
                    None => Err(BrokerError::NotFound(format!(
                        "previous terminated container \"{container}\" in pod \
                         \"{namespace}/{pod}\" not found"
                    ))),
                }
            }
            None => Err(BrokerError::Unavailable(format!(
                "the snapshot holds no logs for container {container} of pod {namespace}/{pod} \
                 (no `==== START logs for container {container} of pod {namespace}/{pod} ====` \
                 block in any logs.txt); capture them with `kubectl logs -n {namespace} {pod} -c \
                 {container}`"
            ))),
        }
    }

    fn events(&self, object: &ObjectRef) -> Value {
        let objects = self.read();
        let mut items: Vec<Value> = Vec::new();
        if let Some(by_namespace) = objects.get(&(String::new(), "Event".to_string())) {
            // A namespaced object's events are in its namespace; a
            // cluster-scoped one's may be anywhere (`default` for nodes).
            let want_namespace = object.namespace.as_deref().unwrap_or("");
            let scopes: Box<dyn Iterator<Item = &BTreeMap<String, Arc<Stored>>>> =
                if want_namespace.is_empty() {
                    Box::new(by_namespace.values())
                } else {
                    Box::new(by_namespace.get(want_namespace).into_iter())
                };
            items = scopes
                .flat_map(|m| m.values())
                .map(|stored| stored.value())
                .filter(|event| events::involves(event, object))
                .collect();
        }
        events::sort_oldest_first(&mut items);
        json!({
            "apiVersion": "v1",
            "kind": "EventList",
            "metadata": {"resourceVersion": self.current_resource_version().to_string()},
            "items": items,
        })
    }

    fn dry_run_patch(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<Value, BrokerError> {
        let original = self.get(kind, namespace, name)?.value();
        let what = match namespace {
            Some(ns) if kind.namespaced => {
                format!("{} \"{name}\" in namespace \"{ns}\"", kind.grant_name())
            }
            _ => format!("{} \"{name}\"", kind.grant_name()),
        };
        let operations: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| {
            BrokerError::Invalid(format!(
                "the patch for {what} is not an RFC 6902 JSON Patch ({e}); it must be an array \
                 of operations such as {{\"op\": \"replace\", \"path\": \"/spec/replicas\", \
                 \"value\": 3}}"
            ))
        })?;
        let mut patched = original.clone();
        if let Err(e) = json_patch::patch(&mut patched, &operations.0) {
            let path = e.path.to_string();
            let op_number = e.operation + 1;
            return Err(match e.kind {
                json_patch::PatchErrorKind::TestFailed => {
                    let expected = match operations.0.get(e.operation) {
                        Some(json_patch::PatchOperation::Test(t)) => t.value.to_string(),
                        _ => "?".to_string(),
                    };
                    let actual = original.pointer(&path).map_or_else(
                        || "nothing (the path does not exist)".to_string(),
                        Value::to_string,
                    );
                    BrokerError::Conflict(format!(
                        "dry-run patch of {what}: test operation {op_number} failed at {path}: \
                         expected {expected}, found {actual}; the object is not what the patch \
                         was written against — re-read it and re-propose the change"
                    ))
                }
                json_patch::PatchErrorKind::InvalidFromPointer => BrokerError::Invalid(format!(
                    "dry-run patch of {what}: operation {op_number} has a \"from\" path that does \
                     not exist in the object; check it against the object's current YAML"
                )),
                json_patch::PatchErrorKind::CannotMoveInsideItself => {
                    BrokerError::Invalid(format!(
                        "dry-run patch of {what}: operation {op_number} moves {path} inside itself"
                    ))
                }
                _ => BrokerError::Invalid(format!(
                    "dry-run patch of {what}: operation {op_number} has path {path}, which does \
                     not exist in the object (or its parent does not); check the path against \
                     the object's current YAML"
                )),
            });
        }
        // The API server refuses patches that change an object's identity.
        for pointer in [
            "/apiVersion",
            "/kind",
            "/metadata/name",
            "/metadata/namespace",
        ] {
            if original.pointer(pointer) != patched.pointer(pointer) {
                return Err(BrokerError::Invalid(format!(
                    "dry-run patch of {what} changes {pointer}, which identifies the object and \
                     cannot be patched; create a new object instead"
                )));
            }
        }
        Ok(patched)
    }
}

/// The restart count of `container` if its status shows a terminated
/// previous instance (`lastState.terminated` or restarts > 0).
fn previous_instance(pod: Option<&Value>, container: &str) -> Option<u64> {
    let status = pod?.get("status")?;
    let statuses = ["containerStatuses", "initContainerStatuses"]
        .into_iter()
        .filter_map(|f| status.get(f).and_then(Value::as_array))
        .flatten();
    for s in statuses {
        if s.get("name").and_then(Value::as_str) != Some(container) {
            continue;
        }
        let restarts = s.get("restartCount").and_then(Value::as_u64).unwrap_or(0);
        let terminated = s
            .get("lastState")
            .and_then(|l| l.get("terminated"))
            .is_some_and(|t| !t.is_null());
        return (terminated || restarts > 0).then_some(restarts);
    }
    None
}
