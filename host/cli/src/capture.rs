//! `guardian snapshot capture`: wiring only — the capture itself is
//! `guardian_broker::live::capture`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use guardian_broker::Broker;
use guardian_broker::live::capture::{self, CaptureScope};
use guardian_broker::live::{ClusterOptions, LiveBackend};

use crate::args::{ClusterFlags, Global};

/// The kubectl-style cluster flags as the broker takes them.
pub fn cluster_options(flags: &ClusterFlags) -> ClusterOptions {
    ClusterOptions {
        kubeconfig: flags.kubeconfig.clone(),
        context: flags.context.clone(),
        impersonate_user: flags.as_user.clone(),
        impersonate_groups: flags.as_groups.clone(),
    }
}

/// Connect to the cluster the global flags name.
pub async fn connect(global: &Global) -> anyhow::Result<LiveBackend> {
    guardian_core::session::connect(&global.options()).await
}

pub async fn run(
    global: &Global,
    namespace: Option<String>,
    all_namespaces: bool,
    output: &Path,
) -> anyhow::Result<ExitCode> {
    let backend = connect(global).await?;
    let scope = if all_namespaces {
        CaptureScope::AllNamespaces
    } else {
        // As kubectl: without -n, the context's namespace.
        CaptureScope::Namespace(
            namespace.unwrap_or_else(|| backend.default_namespace().to_string()),
        )
    };
    // Every read is decided by policy and audited like a skill's (--audit).
    let (policy, audit) = crate::skills::policy_and_audit(global)?;
    let broker = Broker::new(Arc::new(backend.clone()), policy, audit);
    let report = capture::capture(&broker, &backend, &scope, output, &|line| {
        eprintln!("{line}")
    })
    .await
    .map_err(|e| anyhow::anyhow!("snapshot capture: {e}"))?;
    let forbidden = report
        .skipped
        .iter()
        .filter(|s| s.why == "forbidden")
        .count();
    if forbidden > 0 {
        eprintln!(
            "warning: {forbidden} kind(s) were not captured because RBAC forbids listing them; \
             see {}",
            output.join(capture::REPORT_FILE).display()
        );
    }
    eprintln!(
        "snapshot written to {} (read it with --snapshot {})",
        output.display(),
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}
