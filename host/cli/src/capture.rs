//! `guardian snapshot capture`: parsing and rendering; the capture is the
//! session's (`guardian_core::capture`).

use std::path::Path;
use std::process::ExitCode;

use guardian_broker::live::capture::REPORT_FILE;
use guardian_core::{Session, Source};

use crate::args::Global;

pub async fn run(
    global: &Global,
    namespace: Option<String>,
    all_namespaces: bool,
    output: &Path,
) -> anyhow::Result<ExitCode> {
    let session = Session::open_without_skills(&global.options(), &Source::Live).await?;
    let report = session
        .capture(namespace, all_namespaces, output, &|line| {
            eprintln!("{line}")
        })
        .await?;
    let forbidden = report
        .skipped
        .iter()
        .filter(|s| s.why == "forbidden")
        .count();
    if forbidden > 0 {
        eprintln!(
            "warning: {forbidden} kind(s) were not captured because RBAC forbids listing them; \
             see {}",
            output.join(REPORT_FILE).display()
        );
    }
    eprintln!(
        "snapshot written to {} (read it with --snapshot {})",
        output.display(),
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}
