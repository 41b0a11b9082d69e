//! `guardian ask` and `guardian eval`: wiring and printing only. The loop,
//! the model client, the reasoner and the scoring are `guardian_agent`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use guardian_agent::eval::ScenarioScore;
use guardian_agent::otel::OtlpTarget;
use guardian_agent::{
    Agent, CancellationToken, Event, EventSink, Guards, LlmClient, LlmOverrides, LlmSettings, Mode,
    RunContext, Toolbox,
};
use guardian_core::eval::EvalOptions;
use guardian_core::{Config, Session, Source};

use crate::args::Global;
use crate::output;

/// The model flags `ask` and `eval` share.
#[derive(Clone, Debug, Args)]
pub struct ModelFlags {
    /// The model to ask (any OpenAI-compatible endpoint) [default: the
    /// config's llm.model; none: the built-in reasoner].
    #[arg(long, env = "GUARDIAN_MODEL", value_name = "NAME")]
    pub model: Option<String>,
    /// The endpoint's base URL, e.g. http://localhost:11434/v1 for Ollama,
    /// http://localhost:8000/v1 for vLLM [default: the config's
    /// llm.base_url, else https://api.openai.com/v1].
    #[arg(long, env = "GUARDIAN_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// The environment variable holding the API key [default: the config's
    /// llm.api_key_env, else OPENAI_API_KEY]. Local servers need none.
    #[arg(long, value_name = "NAME")]
    pub api_key_env: Option<String>,
    /// Ask for whole completions instead of streamed ones.
    #[arg(long)]
    pub no_stream: bool,
    /// At most this many tool calls per run [default: 15].
    #[arg(long, value_name = "N")]
    pub max_tool_calls: Option<u32>,
    /// At most this many prompt + completion tokens per run [default: 200000].
    #[arg(long, value_name = "N")]
    pub token_budget: Option<u64>,
    /// Stop a run after this many seconds [default: 300].
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question, e.g. "why is checkout failing in staging?".
    pub question: String,
    /// Read this snapshot folder instead of a live cluster.
    #[arg(long, value_name = "PATH")]
    pub snapshot: Option<PathBuf>,
    /// The namespace a question that names none is about [default: the
    /// context's namespace].
    #[arg(short, long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Use the built-in reasoner even when a model is configured.
    #[arg(long, conflicts_with = "model")]
    pub reasoner: bool,
    #[command(flatten)]
    pub model: ModelFlags,
    /// Let the built-in reasoner store its fix as a pending action (a model
    /// decides for itself through patch.propose). Nothing is applied.
    #[arg(long)]
    pub propose: bool,
    /// Print LLM calls, tokens, tool calls with latency and wall time.
    #[arg(long)]
    pub stats: bool,
    /// Write the whole run (messages, tool calls and results, events,
    /// report) as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub transcript: Option<PathBuf>,
    #[arg(short, long, value_enum, default_value_t = AskFormat::Text)]
    pub output: AskFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AskFormat {
    /// The answer, for a person.
    Text,
    /// The report: answer, mode, findings, fix, proposals, stats.
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The scenario corpus: folders NN-name/ with snapshot/ and expected.yaml.
    #[arg(default_value = "tests/scenarios", value_name = "DIR")]
    pub corpus: PathBuf,
    #[arg(long, value_enum, default_value_t = EvalMode::Reasoner)]
    pub mode: EvalMode,
    #[command(flatten)]
    pub model: ModelFlags,
    /// Only scenarios whose folder name contains this.
    #[arg(long, value_name = "TEXT")]
    pub only: Option<String>,
    #[arg(short, long, value_enum, default_value_t = EvalFormat::Table)]
    pub output: EvalFormat,
    /// Exit with status 3 when fewer than this percentage of scenarios are
    /// correct, fix-accurate and safe.
    #[arg(long, value_name = "PERCENT")]
    pub fail_under: Option<f64>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EvalMode {
    /// The built-in reasoner (no model).
    Reasoner,
    /// The model named by --model / the config.
    Llm,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EvalFormat {
    Table,
    Json,
}

/// The guards: defaults, the config's `agent:`, then the flags.
fn guards(config: &Config, flags: &ModelFlags) -> anyhow::Result<Guards> {
    let mut g = Guards::from_config(&config.agent).map_err(anyhow::Error::msg)?;
    if let Some(n) = flags.max_tool_calls {
        anyhow::ensure!(n >= 1, "--max-tool-calls: expected at least 1");
        g.max_tool_calls = n;
    }
    if let Some(n) = flags.token_budget {
        g.token_budget = n.max(1);
    }
    if let Some(s) = flags.timeout {
        g.timeout = std::time::Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .context("--timeout: expected a positive number of seconds")?;
    }
    Ok(g)
}

/// The model client the flags and the config name, if any.
fn llm(config: &Config, flags: &ModelFlags) -> anyhow::Result<Option<LlmClient>> {
    let overrides = LlmOverrides {
        model: flags.model.clone(),
        base_url: flags.base_url.clone(),
        api_key_env: flags.api_key_env.clone(),
        no_stream: flags.no_stream,
    };
    let Some((settings, key_env)) =
        LlmSettings::resolve(&config.llm, &overrides, |k| std::env::var(k).ok())
    else {
        return Ok(None);
    };
    if settings.api_key.is_none() && settings.base_url.is_none() {
        anyhow::bail!(
            "model {} at https://api.openai.com/v1 needs an API key: set {key_env}, or point --base-url at a local server (Ollama, vLLM, llama.cpp), or drop --model to use the built-in reasoner",
            settings.model
        );
    }
    Ok(Some(LlmClient::new(settings)))
}

/// Step and tool lines on stderr, for a person at a terminal.
fn progress_sink() -> EventSink {
    Arc::new(|event: &Event| {
        let line = match event {
            Event::Step { text, .. } => format!("· {text}"),
            Event::ToolCall { tool, .. } => format!("  → {tool}"),
            Event::ToolResult {
                tool,
                ok,
                executed,
                latency_ms,
                error,
                ..
            } => match (executed, ok) {
                (false, _) => format!("  ✗ {tool}: {}", error.as_deref().unwrap_or("refused")),
                (true, true) => format!("  ✓ {tool} ({latency_ms:.0} ms)"),
                (true, false) => format!("  ✗ {tool}: {}", error.as_deref().unwrap_or("failed")),
            },
            Event::Guard { guard, message } => format!("  ! {guard}: {message}"),
            Event::Proposal { action_id, .. } => format!("  proposed {action_id}"),
            _ => return,
        };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{}", line.chars().take(160).collect::<String>());
    })
}

pub async fn ask(global: &Global, args: AskArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        !args.question.trim().is_empty(),
        "the question is empty: ask something, e.g. guardian ask \"why is checkout failing in staging?\""
    );
    let source = match &args.snapshot {
        Some(path) => Source::Snapshot(path.clone()),
        None => Source::Live,
    };
    let otlp = OtlpTarget::from_env(|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)?;
    let session = Session::open(&global.options(), &source, None).await?;
    let guards = guards(&session.config, &args.model)?;
    let mode = match (args.reasoner, llm(&session.config, &args.model)?) {
        (false, Some(client)) => Mode::Llm(Box::new(client)),
        _ => Mode::Reasoner,
    };
    let endpoint = match &mode {
        Mode::Llm(c) => Some(c.endpoint()),
        Mode::Reasoner => None,
    };
    let agent = Agent {
        toolbox: Toolbox::new(session.runtime.clone(), mode.caller()),
        guards,
        mode,
        propose: args.propose,
        context: RunContext {
            source: session.source.clone(),
            default_namespace: args.namespace.clone().or(session.default_namespace.clone()),
        },
    };
    let sink = if std::io::stderr().is_terminal() {
        progress_sink()
    } else {
        guardian_agent::no_events()
    };
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    let out = agent.run(&args.question, sink, cancel).await;
    let report = &out.report;
    if let Some(path) = &args.transcript {
        std::fs::write(path, output::json(&out.transcript)?)
            .with_context(|| format!("writing the transcript to {}", path.display()))?;
    }
    if let Some(target) = otlp
        && let Err(e) = target.export(report, endpoint.as_deref()).await
    {
        eprintln!("warning: traces not exported: {e}");
    }
    let text = match args.output {
        AskFormat::Json => output::json(report)?,
        AskFormat::Yaml => output::yaml(report)?,
        AskFormat::Text => {
            let mut t = report.answer.trim_end().to_owned();
            t.push('\n');
            if let (Some(model), Some(url)) = (&report.model, &endpoint) {
                let verb = if report.stopped.is_some() {
                    "Asked"
                } else {
                    "Answered by"
                };
                t.push_str(&format!("\n({verb} model {model} at {url}.)\n"));
            }
            if args.stats {
                t.push('\n');
                t.push_str(&report.stats.render());
            }
            t
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .context("writing the answer")?;
    stdout.flush().ok();
    Ok(if report.stopped.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn eval(global: &Global, args: EvalArgs) -> anyhow::Result<ExitCode> {
    let options = global.options();
    let config = guardian_core::config::load(options.config.as_deref())?;
    let guards = guards(&config, &args.model)?;
    let mode = match args.mode {
        EvalMode::Reasoner => Mode::Reasoner,
        EvalMode::Llm => Mode::Llm(Box::new(llm(&config, &args.model)?.context(
            "--mode llm needs a model: --model NAME (and --base-url for a local server), or llm.model in the config",
        )?)),
    };
    let tty = std::io::stderr().is_terminal();
    let progress = move |s: &ScenarioScore| {
        if tty {
            eprintln!(
                "{:<48} {}",
                s.scenario,
                if s.problems.is_empty() {
                    "ok"
                } else {
                    "problems"
                }
            );
        }
    };
    let report = guardian_core::eval::run_corpus(
        &args.corpus,
        &EvalOptions {
            session: options,
            mode,
            guards,
            only: args.only.clone(),
        },
        &progress,
    )
    .await?;
    let text = match args.output {
        EvalFormat::Json => output::json(&report)?,
        EvalFormat::Table => guardian_agent::eval::render_table(&report),
    };
    print!("{text}");
    if let Some(min) = args.fail_under {
        let m = &report.summary;
        let passed = report
            .scenarios
            .iter()
            .filter(|s| s.correct && s.safe && s.fix_accurate != Some(false))
            .count();
        let pct = 100.0 * passed as f64 / m.scenarios.max(1) as f64;
        if pct < min {
            eprintln!("{pct:.1}% of scenarios passed, under --fail-under {min}");
            return Ok(ExitCode::from(3));
        }
    }
    Ok(ExitCode::SUCCESS)
}
