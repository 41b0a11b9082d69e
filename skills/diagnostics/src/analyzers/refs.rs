//! Cross-checks of everything a pod spec references: ConfigMaps and Secrets
//! (and their keys) through `env[].valueFrom`, `envFrom`, volumes and
//! projected volumes; image pull Secrets; PersistentVolumeClaims. Each
//! problem is an [`Issue`] naming the object, the key and where the spec
//! refers to it, so the root cause can name them and a fix can patch the
//! exact reference.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::ctx::Scope;
use crate::finding::{Fix, ObjRef, Source};
use crate::fix;
use crate::model::{KeyToPath, PodSpec};

use super::template::Template;

/// Where the pod spec refers to the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// `containers[].env[].valueFrom.{secretKeyRef,configMapKeyRef}`.
    Env {
        container: String,
        var: String,
        field: &'static str,
    },
    /// `containers[].envFrom[]`.
    EnvFrom {
        container: String,
        index: usize,
        field: &'static str,
    },
    /// `volumes[].{configMap,secret}` (with `items[item]` when a key is named).
    Volume {
        volume: String,
        field: &'static str,
        item: Option<usize>,
    },
    /// `volumes[].projected.sources[source].{configMap,secret}`.
    Projected {
        volume: String,
        source: usize,
        field: &'static str,
        item: Option<usize>,
    },
    /// `imagePullSecrets[]`.
    PullSecret,
    /// `volumes[].persistentVolumeClaim`.
    Claim { volume: String },
}

/// What is wrong with the reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// `similar`: an existing object of the kind with a name like it (and
    /// the key, when one is named): a likely typo.
    MissingObject { similar: Option<String> },
    MissingKey {
        present: Vec<String>,
        similar: Option<String>,
    },
    ClaimNotBound {
        phase: String,
        class: Option<String>,
        class_missing: bool,
    },
}

/// One reference that does not resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// `ConfigMap`, `Secret`, `PersistentVolumeClaim`.
    pub kind: &'static str,
    pub name: String,
    pub key: Option<String>,
    pub optional: bool,
    pub via: Via,
    pub problem: Problem,
}

/// The result of checking a pod spec.
#[derive(Default)]
pub struct Report {
    pub issues: Vec<Issue>,
    /// (source, ref, text) for each referenced object: what it holds.
    pub evidence: Vec<(Source, String, String)>,
}

/// ConfigMaps the control plane publishes in every namespace.
const SYSTEM_CONFIG_MAPS: &[&str] = &["kube-root-ca.crt", "openshift-service-ca.crt"];

fn keys_of(object: &Value) -> Vec<String> {
    let mut keys: BTreeSet<String> = BTreeSet::new();
    for field in ["data", "binaryData", "stringData"] {
        if let Some(map) = object[field].as_object() {
            keys.extend(map.keys().cloned());
        }
    }
    keys.into_iter().collect()
}

/// `` `a`, `b` `` (at most 12, then `…`), or `none`.
pub fn key_list(keys: &[String]) -> String {
    if keys.is_empty() {
        return "none".into();
    }
    let mut parts: Vec<String> = keys.iter().take(12).map(|k| format!("`{k}`")).collect();
    if keys.len() > 12 {
        parts.push(format!("… ({} in all)", keys.len()));
    }
    parts.join(", ")
}

/// ConfigMap `name` with its values: lists carry only keys and sizes, so
/// the one ConfigMap a fix quotes is read whole.
fn full_config_map(scope: &Scope, name: &str) -> Option<Value> {
    scope.find("configmaps", name)?;
    guardian_skill_sdk::kube::get::<Value>("configmaps", Some(&scope.namespace), name).ok()
}

fn resource_of_kind(kind: &str) -> &'static str {
    match kind {
        "Secret" => "secrets",
        "ConfigMap" => "configmaps",
        _ => "persistentvolumeclaims",
    }
}

struct Checker<'a, 's> {
    scope: &'a Scope<'s>,
    report: Report,
    described: BTreeSet<(&'static str, String)>,
    /// Keys referenced per (kind, name), to avoid proposing a key that
    /// another reference already uses.
    used: BTreeMap<(&'static str, String), BTreeSet<String>>,
}

impl Checker<'_, '_> {
    /// The object, `Err(true)` when it is missing, `Err(false)` when it
    /// cannot be known (the list was not readable).
    fn object(&mut self, kind: &'static str, name: &str) -> Result<&Value, bool> {
        let resource = resource_of_kind(kind);
        if !self.scope.readable(resource) {
            if self.described.insert((kind, String::new())) {
                self.report.evidence.push((
                    Source::Config,
                    format!("{kind}s of {}", self.scope.namespace),
                    format!("{kind}s could not be listed, so references to them were not checked"),
                ));
            }
            return Err(false);
        }
        let scope = self.scope;
        match scope.find(resource, name) {
            Some(o) => {
                if self.described.insert((kind, name.to_string())) && name != "kube-root-ca.crt" {
                    let text = if kind == "PersistentVolumeClaim" {
                        let phase = o["status"]["phase"].as_str().unwrap_or("unknown");
                        let class = o["spec"]["storageClassName"]
                            .as_str()
                            .unwrap_or("(default)");
                        format!(
                            "PersistentVolumeClaim {name} is {phase} (storageClassName {class})"
                        )
                    } else {
                        format!("{kind} {name} exists; keys: {}", key_list(&keys_of(o)))
                    };
                    self.report.evidence.push((
                        Source::Config,
                        format!("{kind} {}/{name}", scope.namespace),
                        text,
                    ));
                }
                Ok(o)
            }
            None => Err(true),
        }
    }

    fn check(
        &mut self,
        kind: &'static str,
        name: &str,
        key: Option<&str>,
        optional: bool,
        via: Via,
    ) {
        let result = self.object(kind, name).map(keys_of);
        let problem = match result {
            Err(false) => return,
            Err(true) => Problem::MissingObject {
                similar: similar_object(self.scope, kind, name, key),
            },
            Ok(present) => match key {
                Some(k) if !present.iter().any(|p| p == k) => {
                    let used = self.used.get(&(kind, name.to_string()));
                    let candidates: Vec<&str> = present
                        .iter()
                        .map(String::as_str)
                        .filter(|p| used.is_none_or(|u| !u.contains(*p)))
                        .collect();
                    let similar = similar_key(k, &candidates).map(str::to_string);
                    Problem::MissingKey { present, similar }
                }
                _ => return,
            },
        };
        self.report.issues.push(Issue {
            kind,
            name: name.to_string(),
            key: key.map(Into::into),
            optional,
            via,
            problem,
        });
    }

    fn items(
        &mut self,
        kind: &'static str,
        name: &str,
        items: &[KeyToPath],
        optional: bool,
        via: impl Fn(Option<usize>) -> Via,
    ) {
        if items.is_empty() {
            self.check(kind, name, None, optional, via(None));
        }
        for (i, item) in items.iter().enumerate() {
            let before = self.report.issues.len();
            self.check(kind, name, Some(&item.key), optional, via(Some(i)));
            if self.report.issues.len() == before {
                continue;
            }
            // A key no name-likeness points at: the file the item writes
            // may still tell which key is meant.
            let used = self.used.get(&(kind, name.to_string()));
            if let Some(Issue {
                problem:
                    Problem::MissingKey {
                        present,
                        similar: similar @ None,
                    },
                ..
            }) = self.report.issues.last_mut()
            {
                let candidates: Vec<&str> = present
                    .iter()
                    .map(String::as_str)
                    .filter(|p| used.is_none_or(|u| !u.contains(*p)))
                    .filter(|p| !items.iter().any(|other| other.key == *p))
                    .collect();
                *similar = key_for_item(&item.key, &item.path, &candidates).map(str::to_string);
            }
        }
    }
}

/// Checks every reference of `spec` (all containers, init containers,
/// volumes, image pull Secrets).
pub fn check(scope: &Scope, spec: &PodSpec) -> Report {
    let mut c = Checker {
        scope,
        report: Report::default(),
        described: BTreeSet::new(),
        used: BTreeMap::new(),
    };
    let containers: Vec<_> = spec
        .init_containers
        .iter()
        .chain(&spec.containers)
        .collect();
    for container in &containers {
        for env in &container.env {
            let Some(from) = &env.value_from else {
                continue;
            };
            if let Some(r) = &from.secret_key_ref {
                c.used
                    .entry(("Secret", r.name.clone()))
                    .or_default()
                    .insert(r.key.clone());
            }
            if let Some(r) = &from.config_map_key_ref {
                c.used
                    .entry(("ConfigMap", r.name.clone()))
                    .or_default()
                    .insert(r.key.clone());
            }
        }
    }
    for container in &containers {
        for env in &container.env {
            let Some(from) = &env.value_from else {
                continue;
            };
            for (kind, field, r) in [
                ("Secret", "secretKeyRef", &from.secret_key_ref),
                ("ConfigMap", "configMapKeyRef", &from.config_map_key_ref),
            ] {
                if let Some(r) = r {
                    let via = Via::Env {
                        container: container.name.clone(),
                        var: env.name.clone(),
                        field,
                    };
                    c.check(kind, &r.name, Some(&r.key), r.optional == Some(true), via);
                }
            }
        }
        for (index, from) in container.env_from.iter().enumerate() {
            for (kind, field, r) in [
                ("Secret", "secretRef", &from.secret_ref),
                ("ConfigMap", "configMapRef", &from.config_map_ref),
            ] {
                if let Some(r) = r {
                    let via = Via::EnvFrom {
                        container: container.name.clone(),
                        index,
                        field,
                    };
                    c.check(kind, &r.name, None, r.optional == Some(true), via);
                }
            }
        }
    }
    for volume in &spec.volumes {
        if let Some(cm) = &volume.config_map {
            c.items(
                "ConfigMap",
                &cm.name,
                &cm.items,
                cm.optional == Some(true),
                |item| Via::Volume {
                    volume: volume.name.clone(),
                    field: "configMap",
                    item,
                },
            );
        }
        if let Some(s) = &volume.secret {
            c.items(
                "Secret",
                &s.secret_name,
                &s.items,
                s.optional == Some(true),
                |item| Via::Volume {
                    volume: volume.name.clone(),
                    field: "secret",
                    item,
                },
            );
        }
        // The service-account token volume the API server injects: its
        // ConfigMaps are published by the control plane, and a namespace
        // snapshot may leave them out.
        let injected = volume.name.starts_with("kube-api-access-");
        if let Some(p) = &volume.projected
            && !injected
        {
            for (i, source) in p.sources.iter().enumerate() {
                for (kind, field, r) in [
                    ("ConfigMap", "configMap", &source.config_map),
                    ("Secret", "secret", &source.secret),
                ] {
                    if let Some(r) = r
                        && !SYSTEM_CONFIG_MAPS.contains(&r.name.as_str())
                    {
                        c.items(kind, &r.name, &r.items, r.optional == Some(true), |item| {
                            Via::Projected {
                                volume: volume.name.clone(),
                                source: i,
                                field,
                                item,
                            }
                        });
                    }
                }
            }
        }
        if let Some(claim) = &volume.persistent_volume_claim {
            check_claim(&mut c, &claim.claim_name, &volume.name);
        }
    }
    for secret in &spec.image_pull_secrets {
        c.check("Secret", &secret.name, None, false, Via::PullSecret);
    }
    c.report
}

fn check_claim(c: &mut Checker, name: &str, volume: &str) {
    let via = Via::Claim {
        volume: volume.to_string(),
    };
    let claim = match c.object("PersistentVolumeClaim", name) {
        Err(false) => return,
        Err(true) => {
            c.report.issues.push(Issue {
                kind: "PersistentVolumeClaim",
                name: name.to_string(),
                key: None,
                optional: false,
                via,
                problem: Problem::MissingObject { similar: None },
            });
            return;
        }
        Ok(claim) => claim,
    };
    let phase = claim["status"]["phase"]
        .as_str()
        .unwrap_or("Pending")
        .to_string();
    if phase == "Bound" {
        return;
    }
    let class = claim["spec"]["storageClassName"]
        .as_str()
        .map(str::to_string);
    let classes = c.scope.cluster.objects("storageclasses.storage.k8s.io");
    let class_missing = match &class {
        Some(name) if !name.is_empty() => {
            !classes.is_empty() && !classes.iter().any(|s| crate::ctx::name_of(s) == name)
        }
        _ => false,
    };
    c.report.issues.push(Issue {
        kind: "PersistentVolumeClaim",
        name: name.to_string(),
        key: None,
        optional: false,
        via,
        problem: Problem::ClaimNotBound {
            phase,
            class,
            class_missing,
        },
    });
}

impl Issue {
    /// The reference, for a sentence: `reads DB_PASSWORD from Secret
    /// `payments-db` key `password``.
    pub fn reference(&self) -> String {
        let key = self
            .key
            .as_deref()
            .map(|k| format!(" key `{k}`"))
            .unwrap_or_default();
        let opt = if self.optional {
            " (optional: true)"
        } else {
            ""
        };
        match &self.via {
            Via::Env { container, var, .. } => {
                format!(
                    "container `{container}` reads {var} from {} `{}`{key}{opt}",
                    self.kind, self.name
                )
            }
            Via::EnvFrom { container, .. } => {
                format!(
                    "container `{container}` loads its environment from {} `{}`{opt}",
                    self.kind, self.name
                )
            }
            Via::Volume { volume, .. } | Via::Projected { volume, .. } => {
                format!(
                    "volume `{volume}` mounts {} `{}`{key}{opt}",
                    self.kind, self.name
                )
            }
            Via::PullSecret => format!("the pod pulls images with Secret `{}`", self.name),
            Via::Claim { volume } => format!(
                "volume `{volume}` uses PersistentVolumeClaim `{}`",
                self.name
            ),
        }
    }

    /// What is wrong, for a sentence: `which does not exist (keys present:
    /// `pass`, `username`)`.
    pub fn problem_text(&self) -> String {
        match &self.problem {
            Problem::MissingObject { similar: None } => {
                format!("but {} `{}` does not exist", self.kind, self.name)
            }
            Problem::MissingObject {
                similar: Some(other),
            } => format!(
                "but {} `{}` does not exist (there is a {} `{other}`)",
                self.kind, self.name, self.kind
            ),
            Problem::MissingKey { present, .. } => {
                format!("which does not exist (keys present: {})", key_list(present))
            }
            Problem::ClaimNotBound {
                phase,
                class,
                class_missing,
            } => match class {
                Some(c) if *class_missing => {
                    format!("which is {phase}: its storageClassName `{c}` does not exist")
                }
                Some(c) => format!("which is {phase} (storageClassName `{c}`)"),
                None => format!("which is {phase}"),
            },
        }
    }

    /// One line of evidence.
    pub fn evidence(&self) -> (Source, String, String) {
        let text = format!("{}, {}", self.reference(), self.problem_text());
        (Source::Config, format!("{} {}", self.kind, self.name), text)
    }

    /// The environment variable the reference sets, if any.
    pub fn env_var(&self) -> Option<&str> {
        match &self.via {
            Via::Env { var, .. } => Some(var),
            _ => None,
        }
    }

    /// Whether the reference stops the container from being created (a
    /// missing non-optional object or key).
    pub fn blocking(&self) -> bool {
        !self.optional && !matches!(self.problem, Problem::ClaimNotBound { .. })
    }

    /// Fixes, the preferred first: point the reference at a similar key
    /// that exists (a template patch), copy the similar key's value under
    /// the missing name (ConfigMaps, whose values are readable), or add
    /// the key / create the object with a value Guardian cannot know.
    pub fn fixes(&self, scope: &Scope, template: Option<&Template>) -> Vec<Fix> {
        let mut fixes = Vec::new();
        let ns = scope.namespace.as_str();
        let target = ObjRef::new("v1", self.kind, Some(ns), &self.name);
        match &self.problem {
            Problem::MissingKey {
                similar: Some(similar),
                ..
            } => {
                let key = self.key.as_deref().unwrap_or("");
                if let Some(t) = template
                    && let Some(fix) = self.repoint(t, Target::Key(key), similar)
                {
                    fixes.push(fix);
                }
                if self.kind == "ConfigMap"
                    && let Some(cm) = full_config_map(scope, &self.name)
                    && let Some(value) = cm["data"].get(similar.as_str())
                    && !value.as_str().is_some_and(|v| v.starts_with("<redacted"))
                {
                    let ops = vec![
                        fix::test(&format!("/data/{}", fix::escape(similar)), value.clone()),
                        fix::add(&format!("/data/{}", fix::escape(key)), value.clone()),
                    ];
                    fixes.push(fix::patch(
                        target.clone(),
                        &cm,
                        ops,
                        format!("Add key `{key}` to ConfigMap `{}` with the value of `{similar}` (what the reference expects)", self.name),
                    ));
                }
                if self.kind == "Secret" {
                    fixes.push(self.add_key_fix(ns, key));
                }
            }
            Problem::MissingKey { similar: None, .. } => {
                let key = self.key.as_deref().unwrap_or("");
                fixes.push(self.add_key_fix(ns, key));
            }
            Problem::MissingObject { similar } if self.kind != "PersistentVolumeClaim" => {
                if let (Some(other), Some(t)) = (similar, template)
                    && let Some(fix) = self.repoint(t, Target::Name(&self.name), other)
                {
                    fixes.push(fix);
                }
                let what = if self.kind == "Secret" {
                    "secret generic"
                } else {
                    "configmap"
                };
                let key = self.key.as_deref().unwrap_or("<key>");
                let cmd = match self.via {
                    Via::PullSecret => format!(
                        "kubectl create secret docker-registry {} -n {ns} --docker-server=<registry> --docker-username=<user> --docker-password=<password>",
                        self.name
                    ),
                    _ => format!(
                        "kubectl create {what} {} -n {ns} --from-literal={key}=<value>",
                        self.name
                    ),
                };
                fixes.push(fix::needs_input(
                    target,
                    format!(
                        "Create {} `{}` with the {} the pod expects",
                        self.kind,
                        self.name,
                        if self.key.is_some() { "key" } else { "data" }
                    ),
                    cmd,
                ));
            }
            _ => {}
        }
        fixes
    }

    fn add_key_fix(&self, ns: &str, key: &str) -> Fix {
        let field = if self.kind == "Secret" {
            "stringData"
        } else {
            "data"
        };
        let resource = if self.kind == "Secret" {
            "secret"
        } else {
            "configmap"
        };
        let body = json!({ field: { key: "<value>" } }).to_string();
        fix::needs_input(
            ObjRef::new("v1", self.kind, Some(ns), &self.name),
            format!(
                "Add key `{key}` to {} `{}` (its value is not known to Guardian)",
                self.kind, self.name
            ),
            format!(
                "kubectl patch {resource} {} -n {ns} --type=merge -p {}",
                self.name,
                fix::shell_quote(&body)
            ),
        )
    }

    /// A template patch pointing the reference at `to`: another key of the
    /// same object, or another object.
    fn repoint(&self, t: &Template, what: Target, to: &str) -> Option<Fix> {
        let spec = t.spec();
        let mut ops = Vec::new();
        let volume_path = |volume: &str| -> Option<String> {
            let (v, _) = spec["volumes"]
                .as_array()?
                .iter()
                .enumerate()
                .find(|(_, x)| x["name"].as_str() == Some(volume))?;
            Some(format!("{}/volumes/{v}", t.prefix))
        };
        // The object holding `name`/`key`, and the field naming the object.
        let (base, name_field) = match (&self.via, &what) {
            (
                Via::Env {
                    container,
                    var,
                    field,
                },
                _,
            ) => {
                let (cpath, c) = t.container(container)?;
                let (j, _) = c["env"]
                    .as_array()?
                    .iter()
                    .enumerate()
                    .find(|(_, e)| e["name"].as_str() == Some(var))?;
                ops.push(fix::test(&format!("{cpath}/name"), container.as_str()));
                ops.push(fix::test(&format!("{cpath}/env/{j}/name"), var.as_str()));
                (format!("{cpath}/env/{j}/valueFrom/{field}"), "name")
            }
            (
                Via::EnvFrom {
                    container,
                    index,
                    field,
                },
                Target::Name(_),
            ) => {
                let (cpath, _) = t.container(container)?;
                ops.push(fix::test(&format!("{cpath}/name"), container.as_str()));
                (format!("{cpath}/envFrom/{index}/{field}"), "name")
            }
            (
                Via::Volume {
                    volume,
                    field,
                    item,
                },
                _,
            ) => {
                let vpath = volume_path(volume)?;
                ops.push(fix::test(&format!("{vpath}/name"), volume.as_str()));
                let name_field = if *field == "secret" {
                    "secretName"
                } else {
                    "name"
                };
                match (&what, item) {
                    (Target::Key(_), Some(i)) => (format!("{vpath}/{field}/items/{i}"), name_field),
                    (Target::Name(_), _) => (format!("{vpath}/{field}"), name_field),
                    _ => return None,
                }
            }
            (
                Via::Projected {
                    volume,
                    source,
                    field,
                    item,
                },
                _,
            ) => {
                let vpath = volume_path(volume)?;
                ops.push(fix::test(&format!("{vpath}/name"), volume.as_str()));
                let src = format!("{vpath}/projected/sources/{source}/{field}");
                match (&what, item) {
                    (Target::Key(_), Some(i)) => (format!("{src}/items/{i}"), "name"),
                    (Target::Name(_), _) => (src, "name"),
                    _ => return None,
                }
            }
            _ => return None,
        };
        let (path, old) = match what {
            Target::Key(k) => (format!("{base}/key"), k),
            Target::Name(n) => (format!("{base}/{name_field}"), n),
        };
        ops.push(fix::test(&path, old));
        ops.push(fix::replace(&path, to));
        let mut desc = match (&what, &self.via) {
            (Target::Key(_), Via::Env { container, var, .. }) => format!(
                "Read {var} of container `{container}` from the existing key `{to}` of {} `{}`",
                self.kind, self.name
            ),
            (Target::Key(_), _) => format!(
                "Point the reference at the existing key `{to}` of {} `{}`",
                self.kind, self.name
            ),
            (Target::Name(_), _) => format!(
                "Point the reference at the existing {} `{to}` instead of the missing `{}` (a likely typo)",
                self.kind, self.name
            ),
        };
        if self.optional
            && t.object.pointer(&format!("{base}/optional")) == Some(&Value::Bool(true))
        {
            ops.push(fix::test(&format!("{base}/optional"), true));
            ops.push(fix::remove(&format!("{base}/optional")));
            desc.push_str(", and drop `optional: true` so a missing key fails loudly");
        }
        if let Some(why) = t.immutable {
            desc.push_str(&format!(" ({why})"));
        }
        let mut fix = fix::patch(t.target.clone(), t.object, ops, desc);
        if let Some(why) = t.immutable {
            skip_dry_run(&mut fix, why);
        }
        Some(fix)
    }
}

/// What a repointing fix replaces.
enum Target<'a> {
    Key(&'a str),
    Name(&'a str),
}

/// An existing object of `kind` whose name is like `name` (and that holds
/// `key`, when one is named).
fn similar_object(scope: &Scope, kind: &str, name: &str, key: Option<&str>) -> Option<String> {
    let resource = resource_of_kind(kind);
    let candidates: Vec<&str> = scope
        .objects(resource)
        .iter()
        .filter(|o| key.is_none_or(|k| keys_of(o).iter().any(|x| x == k)))
        .map(crate::ctx::name_of)
        .filter(|n| !SYSTEM_CONFIG_MAPS.contains(n))
        .collect();
    let best = similar_key(name, &candidates)?;
    (similarity(name, best) >= 0.75).then(|| best.to_string())
}

/// The key a volume item whose `key` is missing means, among the keys no
/// other reference uses: the one named like the file the item writes
/// (`path`), else the only one, when it has the missing key's file
/// extension (`nginx.conf` → `default.conf`).
fn key_for_item<'k>(missing: &str, path: &str, candidates: &[&'k str]) -> Option<&'k str> {
    let file = path.rsplit('/').next().unwrap_or(path);
    if let Some(k) = candidates.iter().find(|k| **k == file) {
        return Some(k);
    }
    let ext = |k: &str| k.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match candidates {
        [only] if ext(missing).is_some() && ext(missing) == ext(only) => Some(only),
        _ => None,
    }
}

/// Marks a fix as not dry-runnable as is.
pub fn skip_dry_run(fix: &mut Fix, why: &str) {
    if fix.dry_run.is_none() {
        fix.dry_run = Some(crate::finding::DryRun::Skipped {
            why: why.to_string(),
        });
    }
}

// ---- key similarity ----

const SYNONYMS: &[&[&str]] = &[
    &["password", "pass", "passwd", "pwd", "pw"],
    &["username", "user", "login", "usr"],
    &["url", "uri", "dsn", "endpoint"],
    &["host", "hostname", "server", "addr", "address"],
    &["database", "db"],
    &["token", "tok"],
    &["secret", "key"],
];

fn tokens(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for ch in key.chars() {
        if matches!(ch, '.' | '_' | '-' | '/') {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        cur.push(ch.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// `short` is an abbreviation of `long`: same first letter, its letters in
/// order (`db` of `database`, `cfg` of `config`).
fn abbreviates(short: &str, long: &str) -> bool {
    if short.len() >= long.len() || short.is_empty() || short.chars().next() != long.chars().next()
    {
        return false;
    }
    let mut it = long.chars();
    short.chars().all(|c| it.any(|l| l == c))
}

fn token_score(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    if SYNONYMS
        .iter()
        .any(|set| set.contains(&a) && set.contains(&b))
    {
        return 0.9;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.len() >= 2 && long.starts_with(short) {
        return 0.8;
    }
    if abbreviates(short, long) {
        return 0.7;
    }
    let max = a.len().max(b.len()).max(1);
    let ratio = 1.0 - levenshtein(a, b) as f64 / max as f64;
    if ratio >= 0.6 { ratio } else { 0.0 }
}

/// How alike two keys are, 0..=1.
pub fn similarity(a: &str, b: &str) -> f64 {
    if a.eq_ignore_ascii_case(b) {
        return 0.95;
    }
    let ta = tokens(a);
    let tb = tokens(b);
    if ta.is_empty() || tb.is_empty() {
        return 0.0;
    }
    if ta == tb {
        return 0.95;
    }
    if ta.len() == tb.len() {
        let sum: f64 = ta.iter().zip(&tb).map(|(x, y)| token_score(x, y)).sum();
        return sum / ta.len() as f64;
    }
    // Different token counts: compare the joined forms.
    let ja = ta.concat();
    let jb = tb.concat();
    token_score(&ja, &jb) * 0.9
}

/// The key of `present` most like `missing`, when one clearly is.
pub fn similar_key<'k>(missing: &str, present: &[&'k str]) -> Option<&'k str> {
    let mut scored: Vec<(f64, &str)> = present
        .iter()
        .map(|p| (similarity(missing, p), *p))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let (best, key) = *scored.first()?;
    let runner_up = scored.get(1).map_or(0.0, |s| s.0);
    (best >= 0.6 && best - runner_up >= 0.1).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_keys() {
        assert_eq!(similar_key("password", &["pass"]), Some("pass"));
        assert_eq!(similar_key("password", &["pass", "username"]), Some("pass"));
        assert_eq!(
            similar_key(
                "database.url",
                &[
                    "cart.ttl",
                    "db.url",
                    "feature.express-checkout",
                    "payments.url"
                ]
            ),
            Some("db.url")
        );
        assert_eq!(
            similar_key("DB_PASSWORD", &["db-password", "db-user"]),
            Some("db-password")
        );
        assert_eq!(similar_key("apiKey", &["api_key"]), Some("api_key"));
        assert_eq!(similar_key("tls.crt", &["ca.crt", "tls.key"]), None);
        assert_eq!(similar_key("password", &["username"]), None);
        assert_eq!(similar_key("password", &[]), None);
        assert_eq!(
            similar_key("user", &["username", "password"]),
            Some("username")
        );
        // Object names: a typo'd Secret name.
        assert_eq!(
            similar_key("payment-db", &["payments-db", "orders-db"]),
            Some("payments-db")
        );
        assert!(similarity("payment-db", "payments-db") >= 0.75);
    }

    #[test]
    fn item_keys() {
        // The file the item writes is a key of the ConfigMap.
        assert_eq!(
            key_for_item(
                "nginx.conf",
                "default.conf",
                &["default.conf", "other.conf"]
            ),
            Some("default.conf")
        );
        // The only key, of the same kind of file.
        assert_eq!(
            key_for_item("nginx.conf", "nginx.conf", &["default.conf"]),
            Some("default.conf")
        );
        assert_eq!(
            key_for_item("nginx.conf", "nginx.conf", &["app.yaml"]),
            None
        );
        assert_eq!(
            key_for_item("nginx.conf", "nginx.conf", &["a.conf", "b.conf"]),
            None
        );
    }

    #[test]
    fn token_split() {
        assert_eq!(tokens("database.url"), vec!["database", "url"]);
        assert_eq!(tokens("DB_PASSWORD"), vec!["db", "password"]);
        assert_eq!(tokens("apiKey"), vec!["api", "key"]);
    }
}
