//! Which findings are about objects GitOps manages: after the analyzers
//! ran, each finding's object (or its top owner) is checked for Argo CD's
//! tracking — the `argocd.argoproj.io/tracking-id` annotation, or the
//! `app.kubernetes.io/instance` label when an Application of that name
//! deploys to the object's namespace — and the Application is read from the
//! Argo CD namespaces (`analyze`'s `argocd_namespaces`). The finding gets
//! `managed_by`; each fix whose target is managed gets `gitops`, which says
//! what becomes of a direct patch and where the change belongs in Git.
//!
//! The Applications are read only when some object carries the annotation
//! or the label, once per namespace per scan.
//!
//! Flux marks what it applies with labels naming the applier (a
//! Kustomization or a HelmRelease, `flux.rs`): the applier and its
//! GitRepository are read where the labels point, once each per scan.

use std::collections::BTreeMap;

use guardian_skill_sdk::{ErrorKind, ListOptions, kube};
use serde_json::Value;

use crate::analyzers::argocd::app;
use crate::ctx::{Cluster, Scope, name_of};
use crate::finding::{Finding, GitOpsOwner, ObjRef};

pub mod flux;

/// Argo CD's annotation tracking: `<app>:<group>/<kind>:<namespace>/<name>`.
pub const TRACKING_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";
/// Argo CD's label tracking (also Helm's label: it counts only when an
/// Application of that name deploys to the object's namespace).
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// The Argo CD namespaces when `analyze` is not told.
pub const DEFAULT_NAMESPACE: &str = "argocd";
/// How far up the owner chain an object's tracking is looked for (a pod,
/// its ReplicaSet, its Deployment).
const OWNER_DEPTH: usize = 4;

/// Why the Applications of a namespace could not be read.
#[derive(Clone, Debug)]
pub struct AppsError {
    pub message: String,
    /// The cluster does not serve Applications (Argo CD's CRDs are not
    /// installed): nothing to report as unreadable.
    pub not_served: bool,
}

/// What the marking reads.
pub trait Source {
    /// The object `r` names, when it can be read (its metadata is what
    /// counts).
    fn object(&mut self, r: &ObjRef) -> Option<Value>;
    /// The Applications in `namespace`.
    fn applications(&mut self, namespace: &str) -> Result<Vec<Value>, AppsError>;
    /// One Flux object (`flux::READS`).
    fn flux(&mut self, resource: &str, namespace: &str, name: &str) -> Result<Value, AppsError>;
}

/// The host, through what the scan already loaded: a namespace's (or the
/// cluster-scoped) objects the analyzers listed, else one `get` per object
/// (a bare pod, a kind no selected analyzer lists).
pub struct Host<'a> {
    cluster: &'a Cluster,
    scope: Option<&'a Scope<'a>>,
    got: BTreeMap<ObjRef, Option<Value>>,
}

impl<'a> Host<'a> {
    pub fn cluster(cluster: &'a Cluster) -> Self {
        Host {
            cluster,
            scope: None,
            got: BTreeMap::new(),
        }
    }

    pub fn scope(scope: &'a Scope<'a>) -> Self {
        Host {
            cluster: scope.cluster,
            scope: Some(scope),
            got: BTreeMap::new(),
        }
    }
}

impl Source for Host<'_> {
    fn object(&mut self, r: &ObjRef) -> Option<Value> {
        let resource = r.resource();
        let loaded = match (&r.namespace, self.scope) {
            // Pods are loaded typed: what the marking reads of them.
            (Some(ns), Some(scope)) if *ns == scope.namespace && resource == "pods" => {
                return scope
                    .pods
                    .iter()
                    .find(|p| p.metadata.name == r.name)
                    .map(pod_meta);
            }
            (Some(ns), Some(scope)) if *ns == scope.namespace => scope.loaded(&resource),
            (None, _) => self.cluster.loaded(&resource),
            _ => None,
        };
        if let Some(objects) = loaded {
            return objects.iter().find(|o| name_of(o) == r.name).cloned();
        }
        if let Some(got) = self.got.get(r) {
            return got.clone();
        }
        let got = kube::get::<Value>(&resource, r.namespace.as_deref(), &r.name).ok();
        self.got.insert(r.clone(), got.clone());
        got
    }

    fn applications(&mut self, namespace: &str) -> Result<Vec<Value>, AppsError> {
        let options = ListOptions {
            namespace: Some(namespace.to_owned()),
            ..Default::default()
        };
        kube::list::<Value>("applications.argoproj.io", &options)
            .map(|l| l.items)
            .map_err(|e| AppsError {
                message: e.describe(),
                not_served: matches!(e.kind, ErrorKind::NotFound | ErrorKind::Invalid),
            })
    }

    fn flux(&mut self, resource: &str, namespace: &str, name: &str) -> Result<Value, AppsError> {
        // One of `flux::READS`, as the marking names them.
        let got = kube::get::<Value>(resource, Some(namespace), name);
        got.map_err(|e| AppsError {
            message: e.describe(),
            // Not served: the host cannot resolve the resource type at all
            // (an object that is missing is another matter).
            not_served: matches!(e.kind, ErrorKind::Invalid | ErrorKind::NotFound)
                && (e.message.contains("does not serve")
                    || e.message.contains("unknown resource type")),
        })
    }
}

/// A pod's identity, labels, tracking annotation and owners, as an object.
fn pod_meta(pod: &crate::model::Pod) -> Value {
    let m = &pod.metadata;
    let owners: Vec<Value> = m
        .owner_references
        .iter()
        .map(|o| {
            serde_json::json!({"apiVersion": o.api_version, "kind": o.kind, "name": o.name,
                "controller": o.controller})
        })
        .collect();
    let mut annotations = serde_json::Map::new();
    if let Some(id) = &m.tracking_id {
        annotations.insert(TRACKING_ANNOTATION.into(), Value::String(id.clone()));
    }
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": m.name, "namespace": m.namespace, "labels": m.labels,
            "annotations": annotations, "ownerReferences": owners},
    })
}

/// The tracking on one object: the Application it names, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Tracked {
    app_namespace: Option<String>,
    app: String,
    tracking: &'static str,
}

/// An owner, with the Git source the fix text names.
#[derive(Clone, Debug)]
struct Owner {
    owner: GitOpsOwner,
    /// `Argo CD Application argocd/shop`'s Git source: `https://…, path apps/shop`.
    source: Option<String>,
    /// The Application was read.
    known: bool,
}

/// Marks findings with their GitOps owner; one per scan, so that each
/// Argo CD namespace's Applications are read once.
pub struct Marker {
    namespaces: Vec<String>,
    apps: BTreeMap<String, Result<Vec<Value>, AppsError>>,
    /// Flux objects read: (resource, namespace, name).
    flux: BTreeMap<(String, String, String), Result<Value, AppsError>>,
    owners: BTreeMap<ObjRef, Option<Owner>>,
}

impl Marker {
    /// A marker reading Applications in `namespaces` (the first is Argo
    /// CD's own: an unprefixed tracking id names an Application there).
    pub fn new(namespaces: Vec<String>) -> Self {
        Marker {
            namespaces,
            apps: BTreeMap::new(),
            flux: BTreeMap::new(),
            owners: BTreeMap::new(),
        }
    }

    /// Sets `managed_by` on each finding and `gitops` on each of its fixes
    /// whose target is managed.
    pub fn mark(&mut self, findings: &mut [Finding], src: &mut dyn Source) {
        for finding in findings {
            let mut owner = self.owner_of(&finding.object, src);
            if owner.is_none()
                && let Some(top) = finding.owner.clone()
            {
                owner = self.owner_of(&top, src);
            }
            finding.managed_by = owner.as_ref().map(|o| o.owner.clone());
            for fix in &mut finding.fixes {
                let target = if fix.target == finding.object {
                    owner.clone()
                } else {
                    self.owner_of(&fix.target, src)
                };
                fix.gitops = target.as_ref().map(fix_text);
            }
        }
    }

    /// The Applications and Flux objects that could not be read (not
    /// counting a cluster that does not serve them): `(resource,
    /// namespace, what could not be read and why)`.
    pub fn unreadable(&self) -> Vec<(String, String, String)> {
        let apps = self.apps.iter().filter_map(|(ns, r)| match r {
            Err(e) if !e.not_served => Some((
                "applications.argoproj.io".to_owned(),
                ns.clone(),
                format!(
                    "{}: the Argo CD Applications there could not be read, so which findings GitOps manages is unknown",
                    e.message
                ),
            )),
            _ => None,
        });
        let flux = self
            .flux
            .iter()
            .filter_map(|((resource, ns, name), r)| match r {
                Err(e) if !e.not_served => Some((
                    resource.clone(),
                    ns.clone(),
                    format!(
                        "{}: {resource} {name} could not be read, so what a direct change of the objects it applies becomes is unknown",
                        e.message
                    ),
                )),
                _ => None,
            });
        apps.chain(flux).collect()
    }

    fn owner_of(&mut self, r: &ObjRef, src: &mut dyn Source) -> Option<Owner> {
        if let Some(known) = self.owners.get(r) {
            return known.clone();
        }
        let found = self.find_owner(r, src);
        self.owners.insert(r.clone(), found.clone());
        found
    }

    fn find_owner(&mut self, r: &ObjRef, src: &mut dyn Source) -> Option<Owner> {
        // The object and its owners, up to the top one.
        let mut chain: Vec<Value> = Vec::new();
        let mut next = Some(r.clone());
        while let Some(at) = next.take() {
            if chain.len() == OWNER_DEPTH {
                break;
            }
            let Some(object) = src.object(&at) else { break };
            next = controller_ref(&object, at.namespace.as_deref());
            chain.push(object);
        }
        // Annotation tracking first, anywhere in the chain: it names the
        // object itself, so a copy (a ReplicaSet keeps its Deployment's
        // annotations) does not count.
        for object in &chain {
            if let Some(t) = annotation_tracking(object) {
                return Some(self.resolve(&t, None, src));
            }
        }
        // Flux's labels name the applier itself: no Application name to
        // confirm, unlike the instance label below.
        for object in &chain {
            if let Some(l) = flux::labelled(object) {
                let cache = &mut self.flux;
                let mut read = |resource: &str, ns: &str, name: &str| {
                    cache
                        .entry((resource.to_owned(), ns.to_owned(), name.to_owned()))
                        .or_insert_with(|| src.flux(resource, ns, name))
                        .clone()
                };
                return Some(flux::resolve(&l, &mut read));
            }
        }
        for object in &chain {
            let Some(ns) = object["metadata"]["namespace"].as_str() else {
                continue;
            };
            if let Some(t) = label_tracking(object) {
                let owner = self.resolve(&t, Some(ns), src);
                if owner.known {
                    return Some(owner);
                }
            }
        }
        None
    }

    /// The owner `t` names. With `destination` (label tracking), only an
    /// Application read and deploying to that namespace counts (the caller
    /// drops an unknown one).
    fn resolve(&mut self, t: &Tracked, destination: Option<&str>, src: &mut dyn Source) -> Owner {
        let app_ns = t
            .app_namespace
            .clone()
            .or_else(|| self.namespaces.first().cloned())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        let display = format!("Argo CD Application {app_ns}/{}", t.app);
        let unknown = |note: String| Owner {
            owner: GitOpsOwner {
                tool: "argocd".into(),
                kind: "Application".into(),
                application: t.app.clone(),
                application_namespace: app_ns.clone(),
                tracking: t.tracking.into(),
                automated: false,
                self_heal: false,
                reverts_direct_patch: false,
                note,
            },
            source: None,
            known: false,
        };
        if !self.namespaces.contains(&app_ns) {
            return unknown(format!(
                "{display} manages this object, but {app_ns} is not among the Argo CD namespaces read ({}): whether it syncs automatically is unknown, and a direct patch may be reverted",
                if self.namespaces.is_empty() {
                    "none".to_owned()
                } else {
                    self.namespaces.join(", ")
                }
            ));
        }
        let apps = self
            .apps
            .entry(app_ns.clone())
            .or_insert_with(|| src.applications(&app_ns));
        let apps = match apps {
            Ok(apps) => apps,
            Err(e) => {
                return unknown(format!(
                    "{display} manages this object, but the Application could not be read ({}): whether it syncs automatically is unknown, and a direct patch may be reverted",
                    e.message
                ));
            }
        };
        let Some(app) = apps
            .iter()
            .find(|a| a["metadata"]["name"].as_str() == Some(t.app.as_str()))
        else {
            return unknown(format!(
                "the object's tracking names {display}, which was not found in namespace {app_ns} (deleted, or another Argo CD's): whether it syncs automatically is unknown, and a direct patch may be reverted"
            ));
        };
        let summary = app::summary(app);
        if let Some(ns) = destination
            && summary.destination.namespace.as_deref() != Some(ns)
        {
            return unknown(String::new());
        }
        let (is_automated, self_heal) = (summary.automated, summary.self_heal);
        let source = git_source(&summary);
        let to_git = match &source {
            Some(s) => format!("the change belongs in Git ({s})"),
            None => "the change belongs in Git".to_owned(),
        };
        let note = if self_heal {
            format!(
                "{display} syncs automatically with selfHeal: a change made directly in the cluster is reverted; {to_git}"
            )
        } else if is_automated {
            format!(
                "{display} syncs automatically without selfHeal: a change made directly in the cluster stays until the next change in Git is synced, which overwrites it; {to_git}"
            )
        } else {
            format!(
                "{display} syncs manually: a change made directly in the cluster shows the Application OutOfSync, and the next sync overwrites it; {to_git}"
            )
        };
        Owner {
            owner: GitOpsOwner {
                tool: "argocd".into(),
                kind: "Application".into(),
                application: t.app.clone(),
                application_namespace: app_ns,
                tracking: t.tracking.into(),
                automated: is_automated,
                self_heal,
                reverts_direct_patch: self_heal,
                note,
            },
            source,
            known: true,
        }
    }
}

/// What a fix of an object `owner` manages says.
fn fix_text(owner: &Owner) -> String {
    let o = &owner.owner;
    if o.tool == "flux" {
        return flux::fix_text(owner);
    }
    let app = format!(
        "Argo CD Application {}/{}",
        o.application_namespace, o.application
    );
    let git = match &owner.source {
        Some(s) => format!("change the manifest in Git ({s})"),
        None => "change the manifest in Git".to_owned(),
    };
    if !owner.known {
        format!(
            "{app} manages the target, and its sync policy could not be read: a direct patch may be reverted; {git} instead"
        )
    } else if o.reverts_direct_patch {
        format!(
            "{app} syncs automatically with selfHeal: a direct patch is reverted; {git} instead"
        )
    } else if o.automated {
        format!(
            "{app} syncs automatically without selfHeal: the next change in Git overwrites a direct patch; {git} as well"
        )
    } else {
        format!(
            "{app} syncs manually: a direct patch leaves it OutOfSync and its next sync overwrites the patch; {git} as well"
        )
    }
}

/// `https://git.example.com/shop.git, path apps/shop` (a chart:
/// `https://charts.example.com, chart redis`): the Application's source
/// (of several, the one with the manifests).
fn git_source(summary: &app::AppSummary) -> Option<String> {
    let repo = summary.repo_url.as_deref()?;
    Some(match (&summary.path, &summary.chart) {
        (Some(p), _) => format!("{repo}, path {p}"),
        (None, Some(c)) => format!("{repo}, chart {c}"),
        (None, None) => repo.to_owned(),
    })
}

/// The object's controlling owner, in `namespace`.
fn controller_ref(object: &Value, namespace: Option<&str>) -> Option<ObjRef> {
    let (api_version, kind, name) = crate::ctx::controller_of(object)?;
    Some(ObjRef::new(&api_version, &kind, namespace, &name))
}

/// The tracking id on `object`, when it names `object` itself.
fn annotation_tracking(object: &Value) -> Option<Tracked> {
    let id = object["metadata"]["annotations"][TRACKING_ANNOTATION].as_str()?;
    let (app_namespace, app, (group, kind, namespace, name)) = parse_tracking_id(id)?;
    let meta = &object["metadata"];
    let own_group = object["apiVersion"]
        .as_str()
        .and_then(|v| v.split_once('/'))
        .map_or("", |(g, _)| g);
    let same = group == own_group
        && object["kind"].as_str() == Some(kind)
        && meta["namespace"].as_str().unwrap_or("") == namespace
        && meta["name"].as_str() == Some(name);
    same.then_some(Tracked {
        app_namespace,
        app,
        tracking: "annotation",
    })
}

/// The instance label on `object`.
fn label_tracking(object: &Value) -> Option<Tracked> {
    let value = object["metadata"]["labels"][INSTANCE_LABEL].as_str()?;
    let (app_namespace, app) = app_of(value)?;
    Some(Tracked {
        app_namespace,
        app,
        tracking: "label",
    })
}

/// `<app>` or `<app-namespace>_<app>` (names hold no `_`).
fn app_of(text: &str) -> Option<(Option<String>, String)> {
    let (ns, app) = match text.split_once('_') {
        Some((ns, app)) => (Some(ns.to_owned()), app),
        None => (None, text),
    };
    (!app.is_empty() && ns.as_deref() != Some("")).then(|| (ns, app.to_owned()))
}

/// The tracked object of a tracking id: (group, kind, namespace, name).
type TrackedObject<'a> = (&'a str, &'a str, &'a str, &'a str);

/// `<app>:<group>/<kind>:<namespace>/<name>`: the Application as the
/// model reads it ([`app::tracking_app`]), and the object it names.
fn parse_tracking_id(id: &str) -> Option<(Option<String>, String, TrackedObject<'_>)> {
    let (app_namespace, app) = app::tracking_app(id)?;
    let mut parts = id.splitn(3, ':').skip(1);
    let group_kind = parts.next()?;
    let ns_name = parts.next()?;
    let (group, kind) = group_kind.split_once('/')?;
    let (namespace, name) = ns_name.split_once('/')?;
    if kind.is_empty() || name.is_empty() {
        return None;
    }
    Some((app_namespace, app, (group, kind, namespace, name)))
}

#[cfg(test)]
mod tests;
