//! `guardian doctor`: parsing and rendering; the checks are the session's
//! (`guardian_core::doctor`).

use std::process::ExitCode;

use guardian_core::{Session, Source};

use crate::args::Global;
use crate::output;

pub async fn run(global: &Global, namespace: Option<String>) -> anyhow::Result<ExitCode> {
    let session = Session::open(&global.options(), &Source::Live, None).await?;
    println!("Cluster:  {}", session.source());
    let report = match session.doctor("human:cli", namespace).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!(
        "Server:   Kubernetes {} ({})",
        report.server_version, report.platform
    );
    let m = &report.metrics;
    let answered = match (m.prometheus_answered, &m.prometheus_error) {
        (Some(true), _) => " — answered".to_string(),
        (Some(false), Some(e)) => format!(" — did not answer: {e}"),
        _ => String::new(),
    };
    println!("Metrics:  Prometheus: {}{answered}", m.prometheus);
    println!(
        "          metrics.k8s.io: {}",
        if m.metrics_k8s_io {
            "served"
        } else {
            "not served (is metrics-server installed?)"
        }
    );
    println!(
        "Checking: the permissions the enabled skills' grants need, {}\n",
        report.scope
    );
    if report.checks.is_empty() {
        println!("No enabled skill needs any permission on the cluster.");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = report
        .checks
        .iter()
        .map(|c| {
            vec![
                c.skill.clone(),
                match &c.namespace {
                    Some(ns) => format!("{} -n {ns}", c.resource),
                    None => c.resource.clone(),
                },
                c.verb.clone(),
                if c.allowed { "yes" } else { "NO" }.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        output::table(&["SKILL", "RESOURCE", "VERB", "ALLOWED"], &rows)
    );
    for note in &report.notes {
        println!("note: {note}");
    }
    let Some(rbac) = &report.rbac else {
        println!("\nAll {} permission(s) are granted.", report.reviewed);
        return Ok(ExitCode::SUCCESS);
    };
    println!(
        "\n{} permission(s) missing. The minimal RBAC that grants them (bind it to the identity \
         Guardian runs as with a RoleBinding / ClusterRoleBinding):\n",
        report.missing
    );
    print!("{rbac}");
    Ok(ExitCode::FAILURE)
}
