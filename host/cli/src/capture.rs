//! `guardian snapshot capture`: wiring only — the capture itself is
//! `Broker::capture` (`guardian_broker::live::capture`).

use std::path::Path;
use std::process::ExitCode;

use guardian_broker::live::ClusterOptions;
use guardian_broker::live::capture::{self, CaptureScope};
use guardian_broker::{Broker, CallContext};

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

/// A broker over the cluster the global flags name (policy: the defaults
/// and --policies; audit: --audit).
pub async fn connect(global: &Global) -> anyhow::Result<Broker> {
    guardian_core::session::connect(&global.options()).await
}

pub async fn run(
    global: &Global,
    namespace: Option<String>,
    all_namespaces: bool,
    output: &Path,
) -> anyhow::Result<ExitCode> {
    // Every read is decided by policy and audited like a skill's (--audit).
    let broker = connect(global).await?;
    let scope = if all_namespaces {
        CaptureScope::AllNamespaces
    } else {
        // As kubectl: without -n, the context's namespace.
        CaptureScope::Namespace(
            namespace
                .unwrap_or_else(|| broker.default_namespace().unwrap_or("default").to_string()),
        )
    };
    let report = broker
        .capture(&CallContext::host(capture::TOOL), &scope, output, &|line| {
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
