//! `guardian usage`: the current usage of each container (as `kubectl top
//! pods --containers`), the session's `usage` operation rendered.

use std::process::ExitCode;

use guardian_core::{Session, Source};

use crate::args::{Global, UsageArgs, UsageFormat};
use crate::output;

pub async fn run(global: &Global, args: UsageArgs) -> anyhow::Result<ExitCode> {
    let session = Session::open_without_skills(&global.options(), &Source::Live).await?;
    // As kubectl: -n, else -A, else the context's namespace.
    let namespace = match (&args.namespace, args.all_namespaces) {
        (Some(ns), _) => Some(ns.clone()),
        (None, true) => None,
        (None, false) => session.default_namespace().map(str::to_owned),
    };
    let report = match session
        .usage("human:cli", namespace.as_deref(), args.selector.as_deref())
        .await
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match args.output {
        UsageFormat::Json => println!("{}", output::json(&report)?),
        UsageFormat::Table => {
            println!("Usage of {} (from {}):", report.scope, report.source);
            if report.containers.is_empty() {
                println!("No container usage in {}.", report.scope);
            } else {
                let rows: Vec<Vec<String>> = report
                    .containers
                    .iter()
                    .map(|c| {
                        vec![
                            c.namespace.clone(),
                            c.pod.clone(),
                            c.container.clone(),
                            format!("{}m", c.cpu_millicores),
                            c.memory_bytes.to_string(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    output::table(
                        &["NAMESPACE", "POD", "CONTAINER", "CPU", "MEMORY(bytes)"],
                        &rows
                    )
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
