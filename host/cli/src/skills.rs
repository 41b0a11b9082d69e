//! `guardian skills …`

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use guardian_core::{Session, Source};
use guardian_runtime::{Runtime, Skill};

use crate::args::{DataFormat, Global, ListFormat, SkillsCommand};
use crate::output;

pub async fn run(global: &Global, cmd: SkillsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SkillsCommand::List { output: format } => {
            let session = Session::open(&global.options(), &Source::None, None).await?;
            let runtime = session.runtime();
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
            let session = Session::open(&global.options(), &Source::None, None).await?;
            let runtime = session.runtime();
            let skill = runtime.skill(&name).with_context(|| {
                format!(
                    "no skill named `{name}`; loaded: {}",
                    names(runtime).join(", ")
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
            // As every other command: --snapshot, else --kubeconfig,
            // --context, --as, then $KUBECONFIG, ~/.kube/config or the
            // in-cluster service account; found nowhere, tools run without
            // a cluster.
            let source = match snapshot {
                Some(path) => Source::Snapshot(path),
                None => Source::LiveIfAny,
            };
            let session = Session::open(&global.options(), &source, None).await?;
            match session.call_tool("human:cli", &tool, &input).await {
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
