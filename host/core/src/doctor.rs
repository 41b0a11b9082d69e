//! `doctor`: can Guardian reach the cluster, and may it do what the enabled
//! skills need? Every permission the skills' effective grants imply is
//! checked with a SelfSubjectAccessReview (as `kubectl auth can-i` does);
//! what is missing comes back as the minimal Role/ClusterRole that grants
//! it.

use std::collections::HashMap;

use guardian_broker::live::rbac::{self, Permission};
use guardian_broker::{BrokerError, CallContext};
use serde::Serialize;

use crate::{ErrorClass, ServiceError, Session};

/// Argo CD's API group: its permissions are checked in the config's
/// `argocd.namespaces`.
const ARGOCD_GROUP: &str = "argoproj.io";

/// Flux's API groups, and the resource that says Flux is installed.
const FLUX_GROUPS: &[(&str, &str)] = &[
    (
        "kustomize.toolkit.fluxcd.io",
        "kustomizations.kustomize.toolkit.fluxcd.io",
    ),
    (
        "helm.toolkit.fluxcd.io",
        "helmreleases.helm.toolkit.fluxcd.io",
    ),
    (
        "source.toolkit.fluxcd.io",
        "gitrepositories.source.toolkit.fluxcd.io",
    ),
];

/// What `doctor` found.
#[derive(Clone, Debug, Serialize)]
pub struct DoctorReport {
    /// `context kind-dev (https://127.0.0.1:6443)`.
    pub cluster: String,
    /// `v1.36.2`
    pub server_version: String,
    /// `linux/amd64`
    pub platform: String,
    /// `cluster-wide`, or `namespace shop (cluster-scoped resources: cluster-wide)`.
    pub scope: String,
    /// One row per skill and permission, in skill order.
    pub checks: Vec<PermissionCheck>,
    /// Distinct permissions reviewed.
    pub reviewed: usize,
    /// Distinct permissions missing.
    pub missing: usize,
    /// The minimal RBAC (Role and/or ClusterRole YAML) that grants what is
    /// missing; `None` when nothing is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rbac: Option<String>,
    /// Where usage comes from, and whether it answers.
    pub metrics: MetricsCheck,
    /// What was not checked, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The metrics sources `doctor` found.
#[derive(Clone, Debug, Serialize)]
pub struct MetricsCheck {
    /// The Prometheus URL (no credentials) or Service and proxy path, and
    /// how it was chosen; or why there is none.
    pub prometheus: String,
    /// Whether it answered a trivial query (`vector(1)`); `None` when there
    /// is no Prometheus.
    pub prometheus_answered: Option<bool>,
    /// What went wrong when it did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus_error: Option<String>,
    /// Whether the cluster serves metrics.k8s.io (metrics-server: what
    /// `kubectl top` reads).
    pub metrics_k8s_io: bool,
}

/// One permission a skill needs, and whether the cluster grants it.
#[derive(Clone, Debug, Serialize)]
pub struct PermissionCheck {
    pub skill: String,
    /// As grants name it: `pods`, `deployments.apps`, `pods/log`.
    pub resource: String,
    pub verb: String,
    pub allowed: bool,
    /// Where it was checked when that is not the report's scope: Argo CD's
    /// resources in the config's `argocd.namespaces`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Session {
    /// Checks the connection and every permission the loaded skills'
    /// effective grants need, cluster-wide or (for namespaced resources) in
    /// `namespace`, for `caller`. Every question to the cluster is a broker
    /// call, decided by policy and audited.
    pub async fn doctor(
        &self,
        caller: &str,
        namespace: Option<String>,
    ) -> Result<DoctorReport, ServiceError> {
        if self.is_snapshot() {
            return Err(ServiceError::new(
                ErrorClass::FailedPrecondition,
                "doctor checks a live cluster's permissions; this session reads a snapshot",
            ));
        }
        let broker = self.broker()?;
        let cx = CallContext::host_for(caller, "doctor");
        let failed = |e: BrokerError| {
            ServiceError::new(crate::error::host_class(e.kind_str()), e.to_string())
        };
        let version = broker.server_version(&cx).await.map_err(failed)?;
        let mut checks = Vec::new();
        // (permission, namespace) → allowed
        let mut answers: HashMap<(Permission, Option<String>), bool> = HashMap::new();
        let mut missing: Vec<(Permission, Option<String>)> = Vec::new();
        let mut notes = Vec::new();
        // Argo CD's resources are needed where Applications live, not
        // cluster-wide; where Argo CD is not installed they are not needed.
        let argocd_served = broker.resolve("applications.argoproj.io").await.is_ok();
        // Flux's, the same: each of its groups where it is served.
        let mut flux_unserved: Vec<(&str, &str)> = Vec::new();
        for (group, resource) in FLUX_GROUPS {
            if broker.resolve(resource).await.is_err() {
                flux_unserved.push((group, resource));
            }
        }
        let argocd_namespaces = self.config().argocd.namespaces();
        for skill in self.runtime().skills() {
            // The metrics grant reads metrics.k8s.io's pod usage too.
            let mut read: Vec<String> = skill.grants.read.iter().cloned().collect();
            if skill.grants.metrics && !read.iter().any(|r| r == "*") {
                read.push("pods.metrics.k8s.io".to_owned());
            }
            let needed = rbac::required_for_grants(&read, &skill.grants.propose);
            for permission in needed {
                if let Some((group, resource)) =
                    flux_unserved.iter().find(|(g, _)| *g == permission.group)
                {
                    let note = format!(
                        "Flux is not installed (the cluster does not serve {resource}): {group} permissions were not checked"
                    );
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                    continue;
                }
                let argocd = permission.group == ARGOCD_GROUP;
                if argocd && !argocd_served {
                    let note = format!(
                        "Argo CD is not installed (the cluster does not serve applications.argoproj.io): {ARGOCD_GROUP} permissions were not checked"
                    );
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                    continue;
                }
                // In the namespace asked for when the resource is
                // namespaced, else cluster-wide: the broker decides which,
                // as `kubectl auth can-i` does.
                let scopes: Vec<Option<String>> = if argocd {
                    argocd_namespaces.iter().cloned().map(Some).collect()
                } else {
                    vec![namespace.clone()]
                };
                for scope in scopes {
                    let key = (permission.clone(), scope.clone());
                    let allowed = match answers.get(&key) {
                        Some(&allowed) => allowed,
                        None => {
                            let review = broker
                                .access_review(&cx, &permission, scope.as_deref())
                                .await
                                .map_err(failed)?;
                            answers.insert(key, review.allowed);
                            if !review.allowed {
                                missing.push((permission.clone(), review.namespace));
                            }
                            review.allowed
                        }
                    };
                    checks.push(PermissionCheck {
                        skill: skill.manifest.name.clone(),
                        resource: permission.grant_name(),
                        verb: permission.verb.clone(),
                        allowed,
                        namespace: scope.filter(|_| argocd),
                    });
                }
            }
        }
        let rbac = (!missing.is_empty()).then(|| rbac_for(&missing));
        let source = broker.metrics_source(&cx).await;
        let metrics = MetricsCheck {
            prometheus: source.prometheus,
            prometheus_answered: source.answered.as_ref().map(Result::is_ok),
            prometheus_error: source.answered.and_then(Result::err),
            metrics_k8s_io: broker
                .resolve("pods.metrics.k8s.io")
                .await
                .is_ok_and(|k| k.group == "metrics.k8s.io"),
        };
        Ok(DoctorReport {
            cluster: broker.describe(),
            server_version: version.git_version,
            platform: version.platform,
            scope: match &namespace {
                Some(ns) => format!("namespace {ns} (cluster-scoped resources: cluster-wide)"),
                None => "cluster-wide".to_string(),
            },
            checks,
            reviewed: answers.len(),
            missing: missing.len(),
            rbac,
            metrics,
            notes,
        })
    }
}

/// The minimal Role for what is missing in each namespace, and ClusterRole
/// for the rest, as YAML documents.
fn rbac_for(missing: &[(Permission, Option<String>)]) -> String {
    let mut by_namespace: std::collections::BTreeMap<&str, Vec<Permission>> = Default::default();
    let mut cluster = Vec::new();
    for (p, ns) in missing {
        match ns {
            Some(ns) => by_namespace.entry(ns).or_default().push(p.clone()),
            None => cluster.push(p.clone()),
        }
    }
    let mut documents = Vec::new();
    for (ns, permissions) in by_namespace {
        documents.push(rbac::role_yaml(
            "guardian",
            Some(ns),
            &rbac::minimal_rules(&permissions),
        ));
    }
    if !cluster.is_empty() {
        documents.push(rbac::role_yaml(
            "guardian",
            None,
            &rbac::minimal_rules(&cluster),
        ));
    }
    documents.join("---\n")
}
