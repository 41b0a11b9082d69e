//! `guardian skills …`

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use guardian_actions::ActionStore;
use guardian_broker::{Audit, Broker, Policy};
use guardian_runtime::{Runtime, Skill};

use crate::args::{DataFormat, Global, ListFormat, SkillsCommand};
use crate::output;

pub async fn run(global: &Global, cmd: SkillsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SkillsCommand::List { output: format } => {
            let runtime = setup(global, None).await?;
            let infos: Vec<_> = runtime.skills().iter().map(|s| s.info()).collect();
            let text = match format {
                ListFormat::Json => output::json(&infos)?,
                ListFormat::Yaml => output::yaml(&infos)?,
                ListFormat::Table => {
                    let rows: Vec<Vec<String>> =
                        runtime.skills().iter().map(|s| table_row(s)).collect();
                    output::table(&["NAME", "VERSION", "ABI", "SOURCE", "TOOLS"], &rows)
                }
            };
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        SkillsCommand::Inspect {
            name,
            output: format,
        } => {
            let runtime = setup(global, None).await?;
            let skill = runtime.skill(&name).with_context(|| {
                format!(
                    "no skill named `{name}`; loaded: {}",
                    names(&runtime).join(", ")
                )
            })?;
            let view = serde_json::json!({
                "name": skill.manifest.name,
                "version": skill.manifest.version,
                "abi": skill.manifest.abi.to_string(),
                "description": skill.manifest.description,
                "source": skill.info().source,
                "path": skill.info().path,
                "sha256": skill.manifest.sha256,
                "grants": {
                    "requested": skill.manifest.grants,
                    "effective": skill.grants,
                },
                "tools": skill.tools,
            });
            print!(
                "{}",
                match format {
                    DataFormat::Json => output::json(&view)?,
                    DataFormat::Yaml => output::yaml(&view)?,
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        SkillsCommand::Call {
            tool,
            input,
            snapshot,
            output: format,
        } => {
            let input = read_input(&input)?;
            let broker = match snapshot.as_deref() {
                Some(path) => Some(load_snapshot(global, path)?),
                // As every other command: --kubeconfig, --context, --as,
                // then $KUBECONFIG, ~/.kube/config or the in-cluster
                // service account. Named explicitly, it must work; found
                // nowhere, tools run without a cluster.
                None if cluster_named(global) => Some(live_broker(global).await?.0),
                None => match live_broker(global).await {
                    Ok((broker, _)) => Some(broker),
                    Err(e) => {
                        tracing::info!("no cluster for this call: {e}");
                        None
                    }
                },
            };
            let mut runtime = setup_with(global, broker).await?;
            if let Some(store) = open_actions(global) {
                runtime.set_proposals(std::sync::Arc::new(
                    guardian_core::proposals::StoreProposals::new(store),
                ));
            }
            match runtime.call("human:cli", &tool, &input).await {
                Ok(value) => {
                    print!(
                        "{}",
                        match format {
                            DataFormat::Json => output::json(&value)?,
                            DataFormat::Yaml => output::yaml(&value)?,
                        }
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(err) => {
                    eprintln!("error [{}]: {err}", err.code());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

fn table_row(skill: &Skill) -> Vec<String> {
    let info = skill.info();
    vec![
        info.name,
        info.version,
        info.abi,
        info.source.to_owned(),
        info.tools
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(","),
    ]
}

fn names(runtime: &Runtime) -> Vec<String> {
    runtime
        .skills()
        .iter()
        .map(|s| s.manifest.name.clone())
        .collect()
}

/// The most a tool input may be (`--input`, `@FILE`, `-`).
const MAX_INPUT_BYTES: u64 = 16 << 20;

/// Whether the flags or the environment name a cluster (then it must be
/// reachable through them).
fn cluster_named(global: &Global) -> bool {
    let c = &global.cluster;
    c.kubeconfig.is_some()
        || c.context.is_some()
        || c.as_user.is_some()
        || std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty())
}

fn read_input(input: &str) -> anyhow::Result<String> {
    let (what, reader): (String, Box<dyn Read>) = if input == "-" {
        ("stdin".into(), Box::new(std::io::stdin()))
    } else if let Some(path) = input.strip_prefix('@') {
        let file = std::fs::File::open(path)
            .with_context(|| format!("reading the tool input from {path}"))?;
        (path.to_owned(), Box::new(file))
    } else {
        return Ok(input.to_owned());
    };
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading the tool input from {what}"))?;
    anyhow::ensure!(
        bytes.len() as u64 <= MAX_INPUT_BYTES,
        "the tool input from {what} is larger than {} MiB; a tool input is a JSON object, not a file to upload",
        MAX_INPUT_BYTES >> 20
    );
    String::from_utf8(bytes)
        .with_context(|| format!("the tool input from {what} is not UTF-8 text"))
}

/// Builds the runtime: config, broker (when a snapshot is given), built-in
/// skills, then the skills directory. A refused skill is reported on stderr
/// and the others load.
pub async fn setup(global: &Global, snapshot: Option<&Path>) -> anyhow::Result<Runtime> {
    let broker = match snapshot {
        Some(path) => Some(load_snapshot(global, path)?),
        None => None,
    };
    setup_with(global, broker).await
}

/// [`setup`] with a broker already built (a live cluster's, or none).
pub async fn setup_with(global: &Global, broker: Option<Broker>) -> anyhow::Result<Runtime> {
    let options = global.options();
    let config = guardian_core::config::load(options.config.as_deref())?;
    guardian_core::session::runtime(&options, &config, broker).await
}

/// The policy and the audit sink every broker shares.
pub fn policy_and_audit(global: &Global) -> anyhow::Result<(Arc<Policy>, Arc<Audit>)> {
    guardian_core::session::policy_and_audit(&global.options())
}

/// The action store under --state-dir (None, with a warning, if it cannot
/// be opened).
pub fn open_actions(global: &Global) -> Option<Arc<ActionStore>> {
    guardian_core::session::open_actions(&global.options())
}

pub fn load_snapshot(global: &Global, path: &Path) -> anyhow::Result<Broker> {
    guardian_core::session::load_snapshot(&global.options(), path)
}

/// A broker over the live cluster the global flags name (--kubeconfig,
/// --context, --as).
pub async fn live_broker(global: &Global) -> anyhow::Result<(Broker, String)> {
    guardian_core::session::live_broker(&global.options()).await
}
