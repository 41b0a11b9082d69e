//! `doctor`: can Guardian reach the cluster, and may it do what the enabled
//! skills need? Every permission the skills' effective grants imply is
//! checked with a SelfSubjectAccessReview (as `kubectl auth can-i` does);
//! what is missing comes back as the minimal Role/ClusterRole that grants
//! it.

use std::collections::HashMap;

use guardian_broker::live::LiveBackend;
use guardian_broker::live::rbac::{self, Permission};
use serde::Serialize;

use crate::{ErrorClass, ServiceError, Session};

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
}

/// One permission a skill needs, and whether the cluster grants it.
#[derive(Clone, Debug, Serialize)]
pub struct PermissionCheck {
    pub skill: String,
    /// As grants name it: `pods`, `deployments.apps`, `pods/log`.
    pub resource: String,
    pub verb: String,
    pub allowed: bool,
}

impl Session {
    /// Checks the connection and every permission the loaded skills'
    /// effective grants need, cluster-wide or (for namespaced resources) in
    /// `namespace`.
    pub async fn doctor(&self, namespace: Option<String>) -> Result<DoctorReport, ServiceError> {
        if self.is_snapshot() {
            return Err(ServiceError::new(
                ErrorClass::FailedPrecondition,
                "doctor checks a live cluster's permissions; this session reads a snapshot",
            ));
        }
        let unavailable = |e: String| ServiceError::new(ErrorClass::Unavailable, e);
        let backend = crate::session::connect(self.options())
            .await
            .map_err(|e| unavailable(format!("{e:#}")))?;
        let (server_version, platform) = backend
            .server_version()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let mut checks = Vec::new();
        // (permission, namespace it was checked in) → allowed
        let mut answers: HashMap<(Permission, Option<String>), bool> = HashMap::new();
        let mut missing: Vec<(Permission, Option<String>)> = Vec::new();
        for skill in self.runtime().skills() {
            let needed = rbac::required_for_grants(&skill.grants.read, &skill.grants.propose);
            for permission in needed {
                let in_namespace = match &namespace {
                    Some(ns) if namespaced(&backend, &permission).await => Some(ns.clone()),
                    _ => None,
                };
                let key = (permission.clone(), in_namespace.clone());
                let allowed = match answers.get(&key) {
                    Some(&allowed) => allowed,
                    None => {
                        let allowed = backend
                            .access_review(
                                &permission.verb,
                                &permission.group,
                                &permission.resource,
                                permission.subresource.as_deref(),
                                in_namespace.as_deref(),
                            )
                            .await
                            .map_err(|e| unavailable(e.to_string()))?;
                        answers.insert(key.clone(), allowed);
                        if !allowed {
                            missing.push(key);
                        }
                        allowed
                    }
                };
                checks.push(PermissionCheck {
                    skill: skill.manifest.name.clone(),
                    resource: permission.grant_name(),
                    verb: permission.verb.clone(),
                    allowed,
                });
            }
        }
        let rbac = (!missing.is_empty()).then(|| rbac_for(&missing, namespace.as_deref()));
        Ok(DoctorReport {
            cluster: backend.description(),
            server_version,
            platform,
            scope: match &namespace {
                Some(ns) => format!("namespace {ns} (cluster-scoped resources: cluster-wide)"),
                None => "cluster-wide".to_string(),
            },
            checks,
            reviewed: answers.len(),
            missing: missing.len(),
            rbac,
        })
    }
}

/// The minimal Role (for what is missing in `namespace`) and ClusterRole
/// (for the rest), as YAML documents.
fn rbac_for(missing: &[(Permission, Option<String>)], namespace: Option<&str>) -> String {
    let namespaced: Vec<Permission> = missing
        .iter()
        .filter(|(_, ns)| ns.is_some())
        .map(|(p, _)| p.clone())
        .collect();
    let cluster: Vec<Permission> = missing
        .iter()
        .filter(|(_, ns)| ns.is_none())
        .map(|(p, _)| p.clone())
        .collect();
    let mut documents = Vec::new();
    if let (Some(ns), false) = (namespace, namespaced.is_empty()) {
        documents.push(rbac::role_yaml(
            "guardian",
            Some(ns),
            &rbac::minimal_rules(&namespaced),
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

/// Whether the permission's resource is namespaced, per the server's
/// discovery (unknown resources count as namespaced: a Role can grant them).
async fn namespaced(backend: &LiveBackend, p: &Permission) -> bool {
    if p.resource == "*" {
        return true;
    }
    let name = if p.group.is_empty() {
        p.resource.clone()
    } else {
        format!("{}.{}", p.resource, p.group)
    };
    backend
        .resolve_resource(&name)
        .await
        .map_or(true, |k| k.namespaced)
}
