//! `guardian snapshot …`

use std::process::ExitCode;

use crate::args::{Global, SnapshotCommand};

pub async fn run(_global: &Global, cmd: SnapshotCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SnapshotCommand::Serve {
            path,
            listen,
            writable,
        } => serve(&path, &listen, writable).await,
        SnapshotCommand::Capture {
            namespace,
            all_namespaces,
            output,
        } => crate::capture::run(_global, namespace, all_namespaces, &output).await,
    }
}

/// `guardian snapshot serve PATH --listen ADDR [--writable]`: the snapshot as
/// a Kubernetes API endpoint until Ctrl-C or SIGTERM.
async fn serve(path: &std::path::Path, listen: &str, writable: bool) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    use guardian_broker::Snapshot;
    use guardian_snapshot_server::{ApiServer, Options};

    let (snapshot, problems) =
        Snapshot::load(path).with_context(|| format!("cannot load snapshot {}", path.display()))?;
    for problem in &problems {
        eprintln!("warning: {problem}");
    }
    let objects = snapshot.object_count();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener
        .local_addr()
        .with_context(|| format!("cannot read the address bound for {listen}"))?;
    if !address.ip().is_loopback() {
        eprintln!(
            "warning: serving on {address}, which is not a loopback address: anyone who can \
             reach it can read the snapshot (Secret values are redacted; nothing else is)"
        );
    }
    eprintln!(
        "serving snapshot {} ({objects} objects) on http://{address}",
        path.display()
    );
    if writable {
        eprintln!("writes are applied in memory (--writable); the snapshot's files never change");
    }
    ApiServer::new(snapshot, Options { writable })
        .serve(listener, shutdown_signal())
        .await
        .context("the API server stopped")?;
    eprintln!("stopped serving snapshot {}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
