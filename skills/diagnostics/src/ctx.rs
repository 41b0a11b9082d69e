//! What the analyzers read, loaded through the host: the cluster-scoped
//! objects once, then one namespace at a time (so memory is bounded by the
//! largest namespace, not the cluster).
//!
//! A resource that cannot be listed (not served by this cluster, denied, not
//! in the snapshot) is recorded in `unavailable` and read as empty: the scan
//! goes on and says what it could not see.

use std::collections::{BTreeMap, BTreeSet};

use guardian_skill_sdk::{ErrorKind, HostError, ListOptions, kube};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::finding::ObjRef;
use crate::kinds;
use crate::model::{Event, Pod};

/// Cluster-scoped resources read once per scan.
pub const CLUSTER_RESOURCES: &[&str] = &[
    "nodes",
    "persistentvolumes",
    "storageclasses.storage.k8s.io",
    "ingressclasses.networking.k8s.io",
    "validatingwebhookconfigurations.admissionregistration.k8s.io",
    "mutatingwebhookconfigurations.admissionregistration.k8s.io",
    "gatewayclasses.gateway.networking.k8s.io",
];

/// Namespaced resources read per namespace, besides pods and events.
pub const NAMESPACED_RESOURCES: &[&str] = &[
    "deployments.apps",
    "replicasets.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "jobs.batch",
    "cronjobs.batch",
    "services",
    "endpoints",
    "configmaps",
    "secrets",
    "serviceaccounts",
    "persistentvolumeclaims",
    "horizontalpodautoscalers.autoscaling",
    "poddisruptionbudgets.policy",
    "ingresses.networking.k8s.io",
    "networkpolicies.networking.k8s.io",
    "gateways.gateway.networking.k8s.io",
    "httproutes.gateway.networking.k8s.io",
];

/// A resource the scan could not read.
#[derive(Clone, Debug, Serialize)]
pub struct Unavailable {
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub error: String,
}

/// Lists through the host and keeps count of what it read.
#[derive(Default)]
pub struct Loader {
    pub objects_scanned: usize,
    pub unavailable: Vec<Unavailable>,
}

impl Loader {
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

    fn note(&mut self, resource: &str, namespace: Option<&str>, e: &HostError) {
        // A cluster without the Gateway API does not serve its resources:
        // that is not worth a line per namespace.
        let optional = resource.ends_with(".gateway.networking.k8s.io");
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

    /// The cluster-scoped objects.
    pub fn cluster(&mut self) -> Cluster {
        let mut objects = BTreeMap::new();
        for resource in CLUSTER_RESOURCES {
            let items = self.list::<Value>(resource, None);
            objects.insert(*resource, items);
        }
        Cluster { objects }
    }

    /// Everything the analyzers read in `namespace`.
    pub fn scope<'c>(&mut self, cluster: &'c Cluster, namespace: &str) -> Scope<'c> {
        let pods = self.list::<Pod>("pods", Some(namespace));
        let mut events = self.list::<Event>("events", Some(namespace));
        events.sort_by(|a, b| a.time().cmp(&b.time()));
        let mut objects = BTreeMap::new();
        let mut unreadable = BTreeSet::new();
        for resource in NAMESPACED_RESOURCES {
            let items = match self.try_list::<Value>(resource, Some(namespace)) {
                Some(items) => items,
                None => {
                    unreadable.insert(*resource);
                    Vec::new()
                }
            };
            objects.insert(*resource, items);
        }
        Scope {
            namespace: namespace.to_string(),
            cluster,
            pods,
            events,
            objects,
            unreadable,
        }
    }
}

/// Cluster-scoped objects, by kubectl resource name.
pub struct Cluster {
    objects: BTreeMap<&'static str, Vec<Value>>,
}

impl Cluster {
    /// The objects of `resource` (one of [`CLUSTER_RESOURCES`]).
    pub fn objects(&self, resource: &str) -> &[Value] {
        self.objects.get(resource).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The object of `resource` named `name`.
    pub fn find(&self, resource: &str, name: &str) -> Option<&Value> {
        self.objects(resource).iter().find(|o| name_of(o) == name)
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
}

impl Scope<'_> {
    /// Whether `resource` was listed: when false, an object missing from
    /// [`Scope::objects`] may exist all the same.
    pub fn readable(&self, resource: &str) -> bool {
        !self.unreadable.contains(resource)
    }

    /// The objects of `resource` (one of [`NAMESPACED_RESOURCES`]).
    pub fn objects(&self, resource: &str) -> &[Value] {
        self.objects.get(resource).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The object of `resource` named `name` in this namespace.
    pub fn find(&self, resource: &str, name: &str) -> Option<&Value> {
        self.objects(resource).iter().find(|o| name_of(o) == name)
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
