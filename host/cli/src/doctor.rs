//! `guardian doctor`: can Guardian reach the cluster, and may it do what the
//! enabled skills need? Every permission the skills' effective grants imply
//! is checked with a SelfSubjectAccessReview (as `kubectl auth can-i` does);
//! what is missing is printed as the minimal Role/ClusterRole that grants it.
//! Every question to the cluster is a broker call, decided by policy and
//! audited (--audit).

use std::collections::HashMap;
use std::process::ExitCode;

use guardian_broker::CallContext;
use guardian_broker::live::rbac::{self, Permission};

use crate::args::Global;
use crate::{capture, output};

pub async fn run(global: &Global, namespace: Option<String>) -> anyhow::Result<ExitCode> {
    let broker = capture::connect(global).await?;
    let cx = CallContext::host("doctor");
    println!("Cluster:  {}", broker.describe());
    let version = match broker.server_version(&cx).await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!(
        "Server:   Kubernetes {} ({})",
        version.git_version, version.platform
    );
    let scope = match &namespace {
        Some(ns) => format!("namespace {ns} (cluster-scoped resources: cluster-wide)"),
        None => "cluster-wide".to_string(),
    };
    println!("Checking: the permissions the enabled skills' grants need, {scope}\n");

    let runtime = crate::skills::setup(global, None).await?;
    let mut rows: Vec<Vec<String>> = Vec::new();
    // permission → allowed
    let mut answers: HashMap<Permission, bool> = HashMap::new();
    let mut missing: Vec<(Permission, Option<String>)> = Vec::new();
    for skill in runtime.skills() {
        let needed = rbac::required_for_grants(&skill.grants.read, &skill.grants.propose);
        for permission in needed {
            // In the namespace asked for when the resource is namespaced,
            // else cluster-wide: the broker decides which, as can-i does.
            let allowed = match answers.get(&permission) {
                Some(&allowed) => allowed,
                None => {
                    let review = broker
                        .access_review(&cx, &permission, namespace.as_deref())
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    answers.insert(permission.clone(), review.allowed);
                    if !review.allowed {
                        missing.push((permission.clone(), review.namespace));
                    }
                    review.allowed
                }
            };
            rows.push(vec![
                skill.manifest.name.clone(),
                permission.grant_name(),
                permission.verb.clone(),
                if allowed { "yes" } else { "NO" }.to_string(),
            ]);
        }
    }
    if rows.is_empty() {
        println!("No enabled skill needs any permission on the cluster.");
        return Ok(ExitCode::SUCCESS);
    }
    print!(
        "{}",
        output::table(&["SKILL", "RESOURCE", "VERB", "ALLOWED"], &rows)
    );
    if missing.is_empty() {
        println!("\nAll {} permission(s) are granted.", answers.len());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "\n{} permission(s) missing. The minimal RBAC that grants them (bind it to the identity \
         Guardian runs as with a RoleBinding / ClusterRoleBinding):\n",
        missing.len()
    );
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
    if let (Some(ns), false) = (&namespace, namespaced.is_empty()) {
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
    print!("{}", documents.join("---\n"));
    Ok(ExitCode::FAILURE)
}
