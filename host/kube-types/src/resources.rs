//! Resource kinds and kubectl-style name resolution.
//!
//! Skills and people name resources the way kubectl does (`po`, `deploy`,
//! `Deployment`, `deployments.apps`, `deployments.v1.apps`). The
//! [`ResourceTable`] turns such a name into one [`ResourceKind`] with the same
//! rules kubectl's REST mapper applies, so a name means the same thing whether
//! a skill runs against a live cluster or a snapshot.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::BrokerError;

/// One resource type as the API server's discovery describes it
/// (`kubectl api-resources -o wide`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceKind {
    /// API group; `""` for the core group.
    pub group: String,
    pub version: String,
    /// `Deployment`
    pub kind: String,
    /// `deployments`
    pub plural: String,
    /// `deployment`
    pub singular: String,
    /// `["deploy"]`
    pub short_names: Vec<String>,
    pub namespaced: bool,
    pub verbs: Vec<String>,
}

impl ResourceKind {
    /// `v1` for the core group, `apps/v1` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The name grants and policy use, which is also the API server's
    /// group-resource spelling in its messages: `pods`, `deployments.apps`.
    pub fn grant_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The kind of a list of these: `DeploymentList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// A kind known only from objects found in data (e.g. a custom resource in
    /// a snapshot without its CRD). Names are derived the way CRD authors and
    /// kubebuilder almost always choose them: plural = lowercased, pluralized
    /// Kind; no short names.
    pub fn discovered(api_version: &str, kind: &str, namespaced: bool) -> Self {
        let (group, version) = split_api_version(api_version);
        Self {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            plural: pluralize(kind),
            singular: kind.to_ascii_lowercase(),
            short_names: Vec::new(),
            namespaced,
            verbs: STANDARD_VERBS.iter().map(|v| v.to_string()).collect(),
        }
    }

    /// The kind a CustomResourceDefinition object defines, with its declared
    /// names (better than [`ResourceKind::discovered`]'s guesses). `None` if
    /// the object is not a usable CRD. The version is the storage version, or
    /// the first served one.
    pub fn from_crd(crd: &Value) -> Option<Self> {
        let spec = crd.get("spec")?;
        let group = spec.get("group")?.as_str()?;
        let names = spec.get("names")?;
        let kind = names.get("kind")?.as_str()?;
        let plural = names.get("plural")?.as_str()?;
        let singular = names
            .get("singular")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map_or_else(|| kind.to_ascii_lowercase(), str::to_string);
        let short_names = names
            .get("shortNames")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let versions = spec.get("versions").and_then(Value::as_array);
        let version = versions
            .and_then(|vs| {
                let flag = |v: &&Value, f: &str| v.get(f).and_then(Value::as_bool) == Some(true);
                vs.iter()
                    .find(|v| flag(v, "storage"))
                    .or_else(|| vs.iter().find(|v| flag(v, "served")))
                    .or_else(|| vs.first())
            })
            .and_then(|v| v.get("name"))
            .and_then(Value::as_str)
            // apiextensions v1beta1 CRDs had a single top-level `version`.
            .or_else(|| spec.get("version").and_then(Value::as_str))?;
        let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
        Some(Self {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
            singular,
            short_names,
            namespaced,
            verbs: STANDARD_VERBS.iter().map(|v| v.to_string()).collect(),
        })
    }
}

/// Split `apps/v1` into (`apps`, `v1`) and `v1` into (`""`, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// English pluralization of a lowercased Kind, matching what Kubernetes'
/// code generators and kubebuilder produce for the common cases
/// (`Ingress` → `ingresses`, `NetworkPolicy` → `networkpolicies`).
pub fn pluralize(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower.is_empty() {
        return lower;
    }
    if lower.ends_with("endpoints") {
        // Already plural (core Endpoints).
        return lower;
    }
    let bytes = lower.as_bytes();
    let last = bytes[bytes.len() - 1];
    let before_last = bytes.len().checked_sub(2).map(|i| bytes[i]);
    if lower.ends_with('s')
        || lower.ends_with('x')
        || lower.ends_with('z')
        || lower.ends_with("ch")
        || lower.ends_with("sh")
    {
        format!("{lower}es")
    } else if last == b'y' && before_last.is_some_and(|c| !b"aeiou".contains(&c)) {
        format!("{}ies", &lower[..lower.len() - 1])
    } else {
        format!("{lower}s")
    }
}

const STANDARD_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const NO_COLLECTION_DELETE: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
const READ_ONLY: &[&str] = &["get", "list"];

/// One row of the built-in table: (apiVersion, Kind, plural, short names,
/// namespaced, verbs). Singular is always the lowercased Kind.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    bool,
    &'static [&'static str],
);

/// The built-in kinds, in kubectl's group priority order: when a bare name
/// matches several groups (`pods` is also `pods.metrics.k8s.io`, `ev` is also
/// `events.events.k8s.io`) the first row wins, as it does in kubectl.
#[rustfmt::skip]
const BUILTIN: &[Row] = &[
    // core/v1
    ("v1", "Pod", "pods", &["po"], true, STANDARD_VERBS),
    ("v1", "Service", "services", &["svc"], true, STANDARD_VERBS),
    ("v1", "Endpoints", "endpoints", &["ep"], true, STANDARD_VERBS),
    ("v1", "Event", "events", &["ev"], true, STANDARD_VERBS),
    ("v1", "ConfigMap", "configmaps", &["cm"], true, STANDARD_VERBS),
    ("v1", "Secret", "secrets", &[], true, STANDARD_VERBS),
    ("v1", "PersistentVolumeClaim", "persistentvolumeclaims", &["pvc"], true, STANDARD_VERBS),
    ("v1", "PersistentVolume", "persistentvolumes", &["pv"], false, STANDARD_VERBS),
    ("v1", "Node", "nodes", &["no"], false, STANDARD_VERBS),
    ("v1", "Namespace", "namespaces", &["ns"], false, NO_COLLECTION_DELETE),
    ("v1", "ServiceAccount", "serviceaccounts", &["sa"], true, STANDARD_VERBS),
    ("v1", "ReplicationController", "replicationcontrollers", &["rc"], true, STANDARD_VERBS),
    ("v1", "ResourceQuota", "resourcequotas", &["quota"], true, STANDARD_VERBS),
    ("v1", "LimitRange", "limitranges", &["limits"], true, STANDARD_VERBS),
    ("v1", "PodTemplate", "podtemplates", &[], true, STANDARD_VERBS),
    ("v1", "ComponentStatus", "componentstatuses", &["cs"], false, READ_ONLY),
    // apps/v1
    ("apps/v1", "Deployment", "deployments", &["deploy"], true, STANDARD_VERBS),
    ("apps/v1", "ReplicaSet", "replicasets", &["rs"], true, STANDARD_VERBS),
    ("apps/v1", "StatefulSet", "statefulsets", &["sts"], true, STANDARD_VERBS),
    ("apps/v1", "DaemonSet", "daemonsets", &["ds"], true, STANDARD_VERBS),
    ("apps/v1", "ControllerRevision", "controllerrevisions", &[], true, STANDARD_VERBS),
    // workloads and scaling
    ("batch/v1", "Job", "jobs", &[], true, STANDARD_VERBS),
    ("batch/v1", "CronJob", "cronjobs", &["cj"], true, STANDARD_VERBS),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", &["hpa"], true, STANDARD_VERBS),
    ("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", &["pdb"], true, STANDARD_VERBS),
    // networking
    ("networking.k8s.io/v1", "Ingress", "ingresses", &["ing"], true, STANDARD_VERBS),
    ("networking.k8s.io/v1", "IngressClass", "ingressclasses", &[], false, STANDARD_VERBS),
    ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", &["netpol"], true, STANDARD_VERBS),
    ("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", &[], true, STANDARD_VERBS),
    // storage
    ("storage.k8s.io/v1", "StorageClass", "storageclasses", &["sc"], false, STANDARD_VERBS),
    ("storage.k8s.io/v1", "CSIDriver", "csidrivers", &[], false, STANDARD_VERBS),
    ("storage.k8s.io/v1", "CSINode", "csinodes", &[], false, STANDARD_VERBS),
    ("storage.k8s.io/v1", "VolumeAttachment", "volumeattachments", &[], false, STANDARD_VERBS),
    ("storage.k8s.io/v1", "CSIStorageCapacity", "csistoragecapacities", &[], true, STANDARD_VERBS),
    // admission and access control
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", &[], false, STANDARD_VERBS),
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", &[], false, STANDARD_VERBS),
    ("rbac.authorization.k8s.io/v1", "Role", "roles", &[], true, STANDARD_VERBS),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", &[], true, STANDARD_VERBS),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", &[], false, STANDARD_VERBS),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", &[], false, STANDARD_VERBS),
    // cluster plumbing that shows up in dumps
    ("coordination.k8s.io/v1", "Lease", "leases", &[], true, STANDARD_VERBS),
    ("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", &["pc"], false, STANDARD_VERBS),
    ("node.k8s.io/v1", "RuntimeClass", "runtimeclasses", &[], false, STANDARD_VERBS),
    ("certificates.k8s.io/v1", "CertificateSigningRequest", "certificatesigningrequests", &["csr"], false, STANDARD_VERBS),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", &["crd", "crds"], false, STANDARD_VERBS),
    ("apiregistration.k8s.io/v1", "APIService", "apiservices", &[], false, STANDARD_VERBS),
    // events.k8s.io after core so that `events`/`ev` mean core events
    ("events.k8s.io/v1", "Event", "events", &["ev"], true, STANDARD_VERBS),
    // Gateway API
    ("gateway.networking.k8s.io/v1", "GatewayClass", "gatewayclasses", &["gc"], false, STANDARD_VERBS),
    ("gateway.networking.k8s.io/v1", "Gateway", "gateways", &["gtw"], true, STANDARD_VERBS),
    ("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes", &[], true, STANDARD_VERBS),
    ("gateway.networking.k8s.io/v1", "GRPCRoute", "grpcroutes", &[], true, STANDARD_VERBS),
    // metrics-server: after core so that `pods`/`nodes` mean core objects
    ("metrics.k8s.io/v1beta1", "PodMetrics", "pods", &[], true, READ_ONLY),
    ("metrics.k8s.io/v1beta1", "NodeMetrics", "nodes", &[], false, READ_ONLY),
    // Argo CD
    ("argoproj.io/v1alpha1", "Application", "applications", &["app", "apps"], true, STANDARD_VERBS),
    ("argoproj.io/v1alpha1", "AppProject", "appprojects", &["appproj", "appprojs"], true, STANDARD_VERBS),
    ("argoproj.io/v1alpha1", "ApplicationSet", "applicationsets", &["appset", "appsets"], true, STANDARD_VERBS),
    // Flux
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "kustomizations", &["ks"], true, STANDARD_VERBS),
    ("helm.toolkit.fluxcd.io/v2", "HelmRelease", "helmreleases", &["hr"], true, STANDARD_VERBS),
    ("source.toolkit.fluxcd.io/v1", "GitRepository", "gitrepositories", &["gitrepo"], true, STANDARD_VERBS),
];

/// The resource kinds a backend knows, in priority order, with kubectl's
/// name resolution.
#[derive(Clone, Debug)]
pub struct ResourceTable {
    kinds: Vec<ResourceKind>,
    builtin_len: usize,
}

impl Default for ResourceTable {
    fn default() -> Self {
        Self::builtin()
    }
}

/// How one resolution attempt went.
enum Lookup {
    Found(ResourceKind),
    Ambiguous(Vec<String>),
    Missing,
}

impl ResourceTable {
    /// The standard kinds skills read (see the module docs).
    pub fn builtin() -> Self {
        let kinds: Vec<ResourceKind> = BUILTIN
            .iter()
            .map(|&(api_version, kind, plural, short, namespaced, verbs)| {
                let (group, version) = split_api_version(api_version);
                ResourceKind {
                    group: group.to_string(),
                    version: version.to_string(),
                    kind: kind.to_string(),
                    plural: plural.to_string(),
                    singular: kind.to_ascii_lowercase(),
                    short_names: short.iter().map(|s| s.to_string()).collect(),
                    namespaced,
                    verbs: verbs.iter().map(|v| v.to_string()).collect(),
                }
            })
            .collect();
        let builtin_len = kinds.len();
        Self { kinds, builtin_len }
    }

    /// Every kind, built-ins first in priority order, then added ones in the
    /// order they were added.
    pub fn kinds(&self) -> &[ResourceKind] {
        &self.kinds
    }

    /// Whether `kind` is one of the built-in rows (not discovered from data).
    pub fn is_builtin(&self, kind: &ResourceKind) -> bool {
        self.kinds[..self.builtin_len].contains(kind)
    }

    /// The kind with this API group and Kind, whatever its version. Objects
    /// are identified by group + Kind because the API server serves one
    /// object under every version of its group.
    pub fn by_group_kind(&self, group: &str, kind: &str) -> Option<&ResourceKind> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.kind == kind)
    }

    /// The kind an object with this `apiVersion` and `kind` belongs to.
    pub fn for_object(&self, api_version: &str, kind: &str) -> Option<&ResourceKind> {
        self.by_group_kind(split_api_version(api_version).0, kind)
    }

    /// Built-in kinds with this Kind, whatever their group (`Pod` → core
    /// pods). Used to fill in a missing apiVersion in hand-written files.
    pub fn builtin_by_kind(&self, kind: &str) -> Vec<&ResourceKind> {
        self.kinds[..self.builtin_len]
            .iter()
            .filter(|k| k.kind == kind)
            .collect()
    }

    /// Add a kind found in data. Returns `false` (and changes nothing) if a
    /// kind with the same group and Kind is already known, so built-ins and
    /// CRD-declared names always win over derived ones.
    pub fn insert(&mut self, kind: ResourceKind) -> bool {
        if self.by_group_kind(&kind.group, &kind.kind).is_some() {
            return false;
        }
        self.kinds.push(kind);
        true
    }

    /// Resolve a kubectl-style name: plural, singular, short name or Kind
    /// (all case-insensitive), optionally qualified as `<name>.<group>` or
    /// `<name>.<version>.<group>`. Like kubectl, a fully qualified
    /// `<name>.<version>.<group>` reading is tried before `<name>.<group>`,
    /// and plural beats singular beats short name beats Kind.
    pub fn resolve(&self, name: &str) -> Result<ResourceKind, BrokerError> {
        let raw = name.trim();
        if raw.is_empty() {
            return Err(BrokerError::Invalid(
                "empty resource name: name a resource the way kubectl does, e.g. pods, deploy, \
                 Deployment or deployments.apps"
                    .to_string(),
            ));
        }
        if let Some((resource, sub)) = raw.split_once('/') {
            return Err(BrokerError::Invalid(format!(
                "\"{raw}\" is the \"{sub}\" subresource of {resource}, not a resource kind: \
                 resolve \"{resource}\" instead, and use the dedicated call for the subresource \
                 (e.g. logs for pods/log)"
            )));
        }
        let lower = raw.to_ascii_lowercase();
        let mut attempts: Vec<(&str, Option<&str>, Option<&str>)> = Vec::new();
        match lower.split_once('.') {
            Some((resource, rest)) => {
                if let Some((version, group)) = rest.split_once('.') {
                    attempts.push((resource, Some(version), Some(group)));
                }
                attempts.push((resource, None, Some(rest)));
            }
            None => attempts.push((&lower, None, None)),
        }
        for (resource, version, group) in attempts {
            match self.lookup(resource, version, group) {
                Lookup::Found(kind) => return Ok(kind),
                Lookup::Ambiguous(names) => {
                    return Err(BrokerError::Invalid(format!(
                        "resource name \"{raw}\" is ambiguous: it matches {}; qualify it with \
                         the API group",
                        names.join(", ")
                    )));
                }
                Lookup::Missing => {}
            }
        }
        let suggestions = self.close_matches(&lower);
        let hint = if suggestions.is_empty() {
            String::new()
        } else {
            format!(" (did you mean {}?)", suggestions.join(", "))
        };
        Err(BrokerError::Invalid(format!(
            "unknown resource type \"{raw}\"{hint}: names resolve like kubectl's (plural, \
             singular, short name or Kind, optionally qualified as <plural>.<group>); \
             api-resources lists every known one"
        )))
    }

    fn lookup(&self, resource: &str, version: Option<&str>, group: Option<&str>) -> Lookup {
        type Stage = fn(&ResourceKind, &str) -> bool;
        let stages: [Stage; 4] = [
            |k, r| k.plural == r,
            |k, r| k.singular == r,
            |k, r| k.short_names.iter().any(|s| s.eq_ignore_ascii_case(r)),
            |k, r| k.kind.eq_ignore_ascii_case(r),
        ];
        for stage in stages {
            let mut matches = self.kinds.iter().enumerate().filter(|(_, k)| {
                group.is_none_or(|g| k.group == g)
                    && version.is_none_or(|v| k.version == v)
                    && stage(k, resource)
            });
            let Some((first_index, first)) = matches.next() else {
                continue;
            };
            // Built-ins are in priority order; the first one wins outright.
            if first_index < self.builtin_len {
                return Lookup::Found(first.clone());
            }
            // Only discovered kinds match: they have no priority among each
            // other, so more than one group is ambiguous (kubectl says the same).
            let rest: Vec<&ResourceKind> = matches.map(|(_, k)| k).collect();
            if rest.is_empty() {
                return Lookup::Found(first.clone());
            }
            let mut names: Vec<String> = std::iter::once(first)
                .chain(rest)
                .map(ResourceKind::grant_name)
                .collect();
            names.sort();
            names.dedup();
            return Lookup::Ambiguous(names);
        }
        Lookup::Missing
    }

    /// Up to five known names close to `wanted`, as `plural.group`.
    fn close_matches(&self, wanted: &str) -> Vec<String> {
        let bare = wanted.split('.').next().unwrap_or(wanted);
        let mut scored: Vec<(usize, String)> = Vec::new();
        for kind in &self.kinds {
            let kind_lower = kind.kind.to_ascii_lowercase();
            let names = [&kind.plural, &kind.singular, &kind_lower]
                .into_iter()
                .chain(kind.short_names.iter());
            let best = names
                .map(|n| {
                    let d = edit_distance(bare, n);
                    // A prefix ("deploym") is as good as a near miss.
                    if bare.len() >= 3 && n.starts_with(bare) {
                        d.min(1)
                    } else {
                        d
                    }
                })
                .min()
                .unwrap_or(usize::MAX)
                .min(edit_distance(wanted, &kind.grant_name()));
            if best <= 2 {
                scored.push((best, kind.grant_name()));
            }
        }
        scored.sort();
        let mut out: Vec<String> = Vec::new();
        for (_, name) in scored {
            if !out.contains(&name) {
                out.push(name);
            }
            if out.len() == 5 {
                break;
            }
        }
        out
    }
}

/// Levenshtein distance, for "did you mean" hints on short names.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolve(name: &str) -> Result<ResourceKind, BrokerError> {
        ResourceTable::builtin().resolve(name)
    }

    #[test]
    fn resolves_every_kubectl_spelling() {
        for name in [
            "deployments",
            "deployment",
            "deploy",
            "Deployment",
            "DEPLOYMENTS",
            "deployments.apps",
            "deployments.v1.apps",
            "Deployment.apps",
            "deploy.apps",
        ] {
            let kind = resolve(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(kind.grant_name(), "deployments.apps", "{name}");
            assert_eq!(kind.api_version(), "apps/v1");
        }
        let short = [
            ("po", "pods"),
            ("svc", "services"),
            ("rs", "replicasets.apps"),
            ("sts", "statefulsets.apps"),
            ("ds", "daemonsets.apps"),
            ("cm", "configmaps"),
            ("pvc", "persistentvolumeclaims"),
            ("pv", "persistentvolumes"),
            ("no", "nodes"),
            ("ns", "namespaces"),
            ("hpa", "horizontalpodautoscalers.autoscaling"),
            ("pdb", "poddisruptionbudgets.policy"),
            ("ing", "ingresses.networking.k8s.io"),
            ("netpol", "networkpolicies.networking.k8s.io"),
            ("sc", "storageclasses.storage.k8s.io"),
            ("cj", "cronjobs.batch"),
            ("ep", "endpoints"),
            ("sa", "serviceaccounts"),
            ("ev", "events"),
            ("events", "events"),
            ("pods", "pods"),
            ("nodes", "nodes"),
            ("app", "applications.argoproj.io"),
            (
                "ingresses.v1.networking.k8s.io",
                "ingresses.networking.k8s.io",
            ),
            ("ingresses.networking.k8s.io", "ingresses.networking.k8s.io"),
            ("events.events.k8s.io", "events.events.k8s.io"),
            ("pods.metrics.k8s.io", "pods.metrics.k8s.io"),
            ("NetworkPolicy", "networkpolicies.networking.k8s.io"),
            ("httproutes", "httproutes.gateway.networking.k8s.io"),
        ];
        for (name, want) in short {
            let kind = resolve(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(kind.grant_name(), want, "{name}");
        }
        let pods = resolve("po").unwrap();
        assert_eq!(pods.api_version(), "v1");
        assert!(pods.namespaced);
        assert!(!resolve("nodes").unwrap().namespaced);
    }

    #[test]
    fn unknown_names_suggest_close_matches() {
        let err = resolve("deploymnets").unwrap_err();
        assert_eq!(err.kind_str(), "invalid");
        assert!(err.message().contains("deployments.apps"), "{err}");
        let err = resolve("podz").unwrap_err();
        assert!(err.message().contains("did you mean pods"), "{err}");
        let err = resolve("deployments.v2.apps").unwrap_err();
        assert!(err.message().contains("unknown resource type"), "{err}");
        assert!(resolve("").is_err());
    }

    #[test]
    fn subresources_are_not_kinds() {
        let err = resolve("pods/log").unwrap_err();
        assert_eq!(err.kind_str(), "invalid");
        assert!(err.message().contains("subresource"), "{err}");
    }

    #[test]
    fn discovered_kinds_resolve_and_clash_as_ambiguous() {
        let mut table = ResourceTable::builtin();
        assert!(table.insert(ResourceKind::discovered("a.example.com/v1", "Widget", true)));
        assert!(!table.insert(ResourceKind::discovered("a.example.com/v1", "Widget", true)));
        assert_eq!(table.resolve("widgets").unwrap().group, "a.example.com");
        assert_eq!(table.resolve("Widget").unwrap().plural, "widgets");
        assert!(table.insert(ResourceKind::discovered(
            "b.example.com/v1",
            "Widget",
            false
        )));
        let err = table.resolve("widget").unwrap_err();
        assert!(err.message().contains("ambiguous"), "{err}");
        assert!(err.message().contains("widgets.a.example.com"), "{err}");
        assert!(!table.resolve("widgets.b.example.com").unwrap().namespaced);
        // Built-ins keep priority over a discovered kind with the same plural.
        assert!(table.insert(ResourceKind::discovered("c.example.com/v1", "Pod", true)));
        assert_eq!(table.resolve("pods").unwrap().group, "");
    }

    #[test]
    fn pluralizes_like_code_generators() {
        for (kind, plural) in [
            ("Pod", "pods"),
            ("Ingress", "ingresses"),
            ("NetworkPolicy", "networkpolicies"),
            ("Gateway", "gateways"),
            ("Box", "boxes"),
            ("Patch", "patches"),
            ("Endpoints", "endpoints"),
        ] {
            assert_eq!(pluralize(kind), plural);
        }
    }

    #[test]
    fn crd_names_are_used_when_present() {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "certificates.cert-manager.io"},
            "spec": {
                "group": "cert-manager.io",
                "names": {"kind": "Certificate", "plural": "certificates",
                          "singular": "certificate", "shortNames": ["cert", "certs"]},
                "scope": "Namespaced",
                "versions": [{"name": "v1alpha2", "served": false, "storage": false},
                             {"name": "v1", "served": true, "storage": true}]
            }
        });
        let kind = ResourceKind::from_crd(&crd).unwrap();
        assert_eq!(kind.api_version(), "cert-manager.io/v1");
        assert_eq!(kind.short_names, ["cert", "certs"]);
        assert!(kind.namespaced);
        assert!(ResourceKind::from_crd(&json!({"kind": "Pod"})).is_none());
    }

    #[test]
    fn builtin_table_has_unique_group_kinds() {
        let table = ResourceTable::builtin();
        for (i, a) in table.kinds().iter().enumerate() {
            for b in &table.kinds()[i + 1..] {
                assert!(
                    !(a.group == b.group && a.kind == b.kind),
                    "duplicate {}",
                    a.kind
                );
                assert_ne!(a.grant_name(), b.grant_name());
            }
        }
    }
}
