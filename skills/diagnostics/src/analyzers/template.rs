//! Workloads and their pod templates: which workload a pod belongs to (with
//! an index, so a namespace of thousands of pods is resolved in one pass),
//! where a workload keeps its pod template (the JSON Pointer fixes patch),
//! and what the previous revision of a Deployment ran.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::ctx::{Scope, controller_of, name_of};
use crate::finding::{Finding, ObjRef};
use crate::model::Pod;

/// A controller as (apiVersion, kind, name).
type Controller = (String, String, String);
/// A ReplicaSet with its revision.
pub type Revision<'s> = (&'s Value, i64);

/// Pod → workload resolution, indexed once per namespace.
pub struct Owners<'s> {
    /// ReplicaSet/Job name → its controller (apiVersion, kind, name).
    parents: BTreeMap<(&'static str, &'s str), Option<Controller>>,
    deployments: Vec<&'s str>,
    namespace: &'s str,
}

impl<'s> Owners<'s> {
    pub fn new(scope: &'s Scope) -> Self {
        let mut parents = BTreeMap::new();
        for rs in scope.objects("replicasets.apps") {
            parents.insert(("ReplicaSet", name_of(rs)), controller_of(rs));
        }
        for job in scope.objects("jobs.batch") {
            parents.insert(("Job", name_of(job)), controller_of(job));
        }
        let mut deployments: Vec<&str> = scope
            .objects("deployments.apps")
            .iter()
            .map(name_of)
            .collect();
        deployments.sort_unstable();
        Owners {
            parents,
            deployments,
            namespace: &scope.namespace,
        }
    }

    /// The workload `pod` belongs to, following ReplicaSet → Deployment and
    /// Job → CronJob; the pod itself when it has no owner. A pod whose
    /// ReplicaSet is gone (or was not read) is still attributed to its
    /// Deployment when the ReplicaSet's name is `<deployment>-<pod-template-hash>`.
    pub fn workload_of(&self, pod: &Pod) -> ObjRef {
        let ns = Some(self.namespace);
        let Some(owner) = pod.metadata.controller() else {
            return ObjRef::new("v1", "Pod", ns, &pod.metadata.name);
        };
        let kind: Option<&'static str> = match owner.kind.as_str() {
            "ReplicaSet" => Some("ReplicaSet"),
            "Job" => Some("Job"),
            _ => None,
        };
        if let Some(kind) = kind {
            match self.parents.get(&(kind, owner.name.as_str())) {
                Some(Some((api, k, name))) => return ObjRef::new(api, k, ns, name),
                Some(None) => {}
                None if kind == "ReplicaSet" => {
                    if let Some(hash) = pod.metadata.labels.get("pod-template-hash")
                        && let Some(deploy) = owner
                            .name
                            .strip_suffix(hash.as_str())
                            .and_then(|s| s.strip_suffix('-'))
                        && self.deployments.binary_search(&deploy).is_ok()
                    {
                        return ObjRef::new("apps/v1", "Deployment", ns, deploy);
                    }
                }
                None => {}
            }
        }
        ObjRef::new(&owner.api_version, &owner.kind, ns, &owner.name)
    }
}

/// Where a workload keeps the pod template a fix patches.
pub struct Template<'s> {
    pub target: ObjRef,
    /// The workload as read.
    pub object: &'s Value,
    /// JSON Pointer of the pod spec: `/spec/template/spec`,
    /// `/spec/jobTemplate/spec/template/spec` for a CronJob.
    pub prefix: &'static str,
    /// Why a patch cannot be applied as is (a Job's template is immutable).
    pub immutable: Option<&'static str>,
}

impl Template<'_> {
    /// The pod spec in the workload.
    pub fn spec(&self) -> &Value {
        self.object.pointer(self.prefix).unwrap_or(&Value::Null)
    }

    /// Pointer and value of the container `name` (init containers too).
    pub fn container(&self, name: &str) -> Option<(String, &Value)> {
        for list in ["containers", "initContainers"] {
            if let Some(items) = self.spec()[list].as_array()
                && let Some((i, c)) = items
                    .iter()
                    .enumerate()
                    .find(|(_, c)| c["name"].as_str() == Some(name))
            {
                return Some((format!("{}/{list}/{i}", self.prefix), c));
            }
        }
        None
    }
}

/// The pod template of `workload`, or `None` for a bare Pod (whose spec is
/// immutable) or a workload that was not read.
pub fn template_of<'s>(scope: &'s Scope, workload: &ObjRef) -> Option<Template<'s>> {
    let (prefix, immutable) = match workload.kind.as_str() {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => ("/spec/template/spec", None),
        "CronJob" => ("/spec/jobTemplate/spec/template/spec", None),
        "Job" => (
            "/spec/template/spec",
            Some(
                "a Job's pod template is immutable: apply this change to the Job's manifest, then delete and re-create the Job",
            ),
        ),
        _ => return None,
    };
    let object = scope.find(&workload.resource(), &workload.name)?;
    Some(Template {
        target: workload.clone(),
        object,
        prefix,
        immutable,
    })
}

/// `deployment.kubernetes.io/revision` of a Deployment or ReplicaSet.
pub fn revision(object: &Value) -> Option<i64> {
    object["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        .as_str()
        .and_then(|r| r.parse().ok())
}

/// The name of the controlling owner of `object` when it is of `kind`
/// (no allocation).
pub fn owner_named<'v>(object: &'v Value, kind: &str) -> Option<&'v str> {
    let owners = object["metadata"]["ownerReferences"].as_array()?;
    let owner = owners
        .iter()
        .find(|o| o["controller"].as_bool() == Some(true))
        .or_else(|| owners.first())?;
    (owner["kind"].as_str() == Some(kind))
        .then(|| owner["name"].as_str())
        .flatten()
}

/// The ReplicaSets of each Deployment with their revisions, oldest first,
/// indexed once per namespace.
pub struct ReplicaSets<'s> {
    by_deployment: BTreeMap<&'s str, Vec<Revision<'s>>>,
}

impl<'s> ReplicaSets<'s> {
    pub fn new(scope: &'s Scope) -> Self {
        let mut by_deployment: BTreeMap<&str, Vec<Revision>> = BTreeMap::new();
        for rs in scope.objects("replicasets.apps") {
            if let Some(d) = owner_named(rs, "Deployment")
                && let Some(rev) = revision(rs)
            {
                by_deployment.entry(d).or_default().push((rs, rev));
            }
        }
        for list in by_deployment.values_mut() {
            list.sort_by_key(|(_, r)| *r);
        }
        ReplicaSets { by_deployment }
    }

    /// The current and the previous ReplicaSet of `deployment`.
    pub fn revisions(&self, deployment: &Value) -> (Option<Revision<'s>>, Option<Revision<'s>>) {
        let owned = self
            .by_deployment
            .get(name_of(deployment))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let current_idx = match revision(deployment) {
            Some(w) => owned.iter().rposition(|(_, r)| *r == w),
            None => owned.len().checked_sub(1),
        };
        let Some(ci) = current_idx else {
            return (None, None);
        };
        let current = owned[ci];
        let previous = owned[..ci]
            .iter()
            .rev()
            .find(|(_, r)| *r < current.1)
            .copied();
        (Some(current), previous)
    }
}

/// The image of container `container` in a workload or ReplicaSet template.
pub fn template_image<'v>(object: &'v Value, container: &str) -> Option<&'v str> {
    let spec = &object["spec"]["template"]["spec"];
    ["containers", "initContainers"]
        .iter()
        .filter_map(|list| spec[*list].as_array())
        .flatten()
        .find(|c| c["name"].as_str() == Some(container))?["image"]
        .as_str()
}

/// The finding about `object` already in `out`, if any.
pub fn existing<'o>(out: &'o mut [Finding], object: &ObjRef) -> Option<&'o mut Finding> {
    out.iter_mut().find(|f| &f.object == object)
}

/// `registry/app:tag` → (`registry/app`, `tag`); digests count as tags.
pub fn split_image(image: &str) -> (&str, Option<&str>) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo, Some(digest));
    }
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
        _ => (image, None),
    }
}

/// Whether `image` is a valid image reference (the distribution grammar:
/// `[domain[:port]/]path[:tag][@digest]`, path components lower-case).
pub fn valid_image(image: &str) -> bool {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let Some((algo, hex)) = d.split_once(':') else {
            return false;
        };
        if algo.is_empty() || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return false;
        }
    }
    let (name, tag) = match rest.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (rest, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !ok {
            return false;
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 && is_domain(parts[0]) {
        let domain = parts.remove(0);
        let host = domain.split(':').next().unwrap_or("");
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        {
            return false;
        }
    }
    !parts.is_empty() && parts.iter().all(|p| path_component(p))
}

/// `registry.example.com`, `localhost:5000`: the first component of a
/// reference is a domain when it has a `.` or a `:` or is `localhost`.
fn is_domain(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn path_component(p: &str) -> bool {
    let b = p.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or one or more `-`.
        let start = i;
        while i < b.len() && matches!(b[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let sep = &p[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|c| c == b'-');
        if !ok || i == start {
            return false;
        }
    }
    true
}

/// The valid reference an invalid `image` clearly means: without spaces or
/// an `http(s)://` scheme, the repository path lower-cased (the registry
/// host is case-insensitive and left as written), a trailing `:` dropped.
/// `None` when that is still not valid, or `image` is valid already.
pub fn normalize_image(image: &str) -> Option<String> {
    if valid_image(image) {
        return None;
    }
    let t = image.trim();
    let t = t
        .strip_prefix("https://")
        .or_else(|| t.strip_prefix("http://"))
        .unwrap_or(t);
    let t = t.trim_end_matches(':');
    let (rest, digest) = match t.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (t, None),
    };
    let (name, tag) = match rest.rsplit_once(':') {
        Some((n, tag)) if !tag.contains('/') => (n, Some(tag)),
        _ => (rest, None),
    };
    let name = name.trim_end_matches('/');
    let mut parts: Vec<String> = Vec::new();
    for (i, p) in name.split('/').enumerate() {
        if i == 0 && name.contains('/') && is_domain(p) {
            parts.push(p.to_string());
        } else {
            parts.push(p.to_ascii_lowercase());
        }
    }
    let mut out = parts.join("/");
    if let Some(tag) = tag {
        out.push(':');
        out.push_str(tag);
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    (out != image && valid_image(&out)).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images() {
        assert_eq!(
            split_image("registry.example.com/shop/catalog:v2.4.1"),
            ("registry.example.com/shop/catalog", Some("v2.4.1"))
        );
        assert_eq!(
            split_image("localhost:5000/app"),
            ("localhost:5000/app", None)
        );
        assert_eq!(split_image("nginx"), ("nginx", None));
        assert_eq!(
            split_image("nginx@sha256:abc"),
            ("nginx", Some("sha256:abc"))
        );
    }

    #[test]
    fn image_references() {
        for ok in [
            "nginx",
            "nginx:1.27",
            "docker.io/library/nginx:1.27.2",
            "localhost:5000/a/b_c__d-e--f:v1",
            "registry.example.com/finance/billing:1.2.0",
            "Registry.Example.com/finance/billing:1.2.0",
        ] {
            assert!(valid_image(ok), "{ok}");
            assert_eq!(normalize_image(ok), None, "{ok}");
        }
        for bad in [
            "finance/Billing",
            "a//b",
            "a/-b",
            "nginx:",
            "nginx:-x",
            " nginx",
        ] {
            assert!(!valid_image(bad), "{bad}");
        }
        assert_eq!(
            normalize_image("registry.example.com/finance/Billing:1.2.0").as_deref(),
            Some("registry.example.com/finance/billing:1.2.0")
        );
        assert_eq!(
            normalize_image("https://ghcr.io/Org/App:V1 ").as_deref(),
            Some("ghcr.io/org/app:V1")
        );
        assert_eq!(normalize_image("MyApp").as_deref(), Some("myapp"));
        assert_eq!(normalize_image("a/b c:1"), None);
    }
}
