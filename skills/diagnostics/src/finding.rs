//! What the skill returns: findings, each with its evidence chain, root cause
//! and fixes. The JSON shape is documented in `docs/diagnostics.md`; change
//! both together.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How bad a finding is. Ordered: `Info < Warning < Error < Critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Hygiene: nothing is failing.
    Info,
    /// Degraded or at risk: some replicas, a limit reached, a posture problem.
    Warning,
    /// Failing: a workload, a claim, a route does not work.
    Error,
    /// An outage: no replica serves, admission is blocked, a node is down.
    Critical,
}

/// A Kubernetes object, as `kubectl` names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjRef {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjRef {
    pub fn new(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Self {
        ObjRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: namespace.map(Into::into),
            name: name.into(),
        }
    }

    /// `Deployment staging/payments`, `Node worker-1`.
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {}/{}", self.kind, ns, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    /// kubectl's resource name for the kind: `deployments.apps`, `pods`.
    pub fn resource(&self) -> String {
        crate::kinds::resource_of(&self.api_version, &self.kind)
    }
}

/// Where a piece of evidence comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The object's (or a related object's) status.
    Status,
    /// An Event.
    Event,
    /// A container log line.
    Log,
    /// A ConfigMap, Secret or other configuration object the spec references.
    Config,
    /// The object's spec.
    Spec,
    /// Usage figures: Prometheus history or metrics.k8s.io (right-sizing).
    Metrics,
}

/// One link of the evidence chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub source: Source,
    /// What the text is from: `Pod staging/x container app lastState`,
    /// `Event BackOff`, `log app (previous) line 12`, `ConfigMap staging/app-config`.
    #[serde(rename = "ref")]
    pub reference: String,
    pub text: String,
}

impl Evidence {
    pub fn new(source: Source, reference: impl Into<String>, text: impl Into<String>) -> Self {
        Evidence {
            source,
            reference: reference.into(),
            text: text.into(),
        }
    }
}

/// The result of a server-side dry-run of a fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "result")]
pub enum DryRun {
    /// The API server accepted the patch (nothing was persisted).
    Passed,
    /// The API server refused it; `error` is its message.
    Failed { error: String },
    /// Not attempted: the fix needs input, dry-run was turned off, or the
    /// target cannot be patched.
    Skipped { why: String },
}

/// One way to fix a finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// The object the change applies to.
    pub target: ObjRef,
    /// What the change does, in one sentence.
    pub description: String,
    /// RFC 6902 JSON Patch with `test` operations pinning what it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_patch: Option<Value>,
    /// Unified diff of the object's YAML, before and after the patch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yaml_diff: Option<String>,
    /// The equivalent `kubectl patch --type=json` command (or, for a fix
    /// that creates something, the `kubectl create` command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubectl: Option<String>,
    /// Server-side dry-run result; absent until checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<DryRun>,
    /// The fix needs data Guardian cannot know (a secret's value, the right
    /// image tag): the placeholders in `kubectl` must be filled in.
    #[serde(default)]
    pub requires_input: bool,
    /// Set when the target is managed by GitOps (an Argo CD Application
    /// tracks it): what becomes of a direct patch, and where the change
    /// belongs instead (the repository and path in Git).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitops: Option<String>,
}

/// The GitOps application that manages an object: a direct change to the
/// object may be reverted by it, and the lasting change belongs in Git.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitOpsOwner {
    /// `argocd` or `flux`.
    pub tool: String,
    /// What manages the object: `Application` (Argo CD), `Kustomization`
    /// or `HelmRelease` (Flux).
    #[serde(default = "application_kind")]
    pub kind: String,
    /// The Application's (Kustomization's, HelmRelease's) name.
    pub application: String,
    /// The namespace it lives in (Argo CD's, or one of the namespaces it
    /// takes Applications from; for Flux, the one its labels name).
    pub application_namespace: String,
    /// How the object names its Application: `annotation`
    /// (`argocd.argoproj.io/tracking-id`) or `label`
    /// (`app.kubernetes.io/instance`; Flux's `kustomize.toolkit.fluxcd.io/*`
    /// and `helm.toolkit.fluxcd.io/*`).
    pub tracking: String,
    /// The Application syncs automatically (`spec.syncPolicy.automated`;
    /// a Flux applier that is not suspended). False when it could not be
    /// read (see `note`).
    pub automated: bool,
    /// … and with `selfHeal` (Flux: it corrects drift): it reverts changes
    /// made in the cluster.
    pub self_heal: bool,
    /// A direct patch of the object is undone by the next self-heal.
    pub reverts_direct_patch: bool,
    /// What this means for a change, in one sentence; says so when the
    /// Application could not be read.
    pub note: String,
}

fn application_kind() -> String {
    "Application".into()
}

/// One problem, with why and what to change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable across runs: `<reason>/<kind>/<namespace>/<name>` in lowercase.
    pub id: String,
    /// The object the finding is about (for pods: their owning workload).
    pub object: ObjRef,
    /// The top-level owner when `object` is owned (a ReplicaSet's Deployment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<ObjRef>,
    /// The GitOps application that manages the object (or its top owner):
    /// a fix belongs in Git. Absent when none does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<GitOpsOwner>,
    pub severity: Severity,
    /// Machine-readable code from the documented list (`CrashLoopBackOff`…).
    pub reason: String,
    /// What is wrong, as the cluster shows it.
    pub cause: String,
    /// Why, in one sentence naming the objects and keys; absent when the
    /// evidence does not go further than the symptom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<String>,
    pub evidence: Vec<Evidence>,
    pub fixes: Vec<Fix>,
    /// Pods grouped into this finding (three replicas of one Deployment).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<String>,
    /// Ids of the findings this one is a symptom of (a workload that cannot
    /// reach a Service whose backends fail: the backends' finding).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caused_by: Vec<String>,
    /// Ids of the findings that are symptoms of this one (the workloads
    /// that fail because they cannot reach what this finding is about).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub symptoms: Vec<String>,
}

impl Finding {
    /// A finding about `object` with no evidence or fix yet.
    pub fn new(object: ObjRef, severity: Severity, reason: &str, cause: impl Into<String>) -> Self {
        let id = format!(
            "{}/{}/{}/{}",
            reason,
            object.kind,
            object.namespace.as_deref().unwrap_or("-"),
            object.name
        )
        .to_lowercase();
        Finding {
            id,
            object,
            owner: None,
            managed_by: None,
            severity,
            reason: reason.into(),
            cause: cause.into(),
            root_cause: None,
            evidence: Vec::new(),
            fixes: Vec::new(),
            pods: Vec::new(),
            caused_by: Vec::new(),
            symptoms: Vec::new(),
        }
    }

    pub fn root_cause(mut self, sentence: impl Into<String>) -> Self {
        self.root_cause = Some(sentence.into());
        self
    }

    pub fn evidence(
        mut self,
        source: Source,
        reference: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        self.evidence.push(Evidence::new(source, reference, text));
        self
    }

    pub fn fix(mut self, fix: Fix) -> Self {
        self.fixes.push(fix);
        self
    }
}
