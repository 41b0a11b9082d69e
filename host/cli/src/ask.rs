//! `guardian ask` and `guardian eval`: wiring and printing only. The loop,
//! the model client, the reasoner and the scoring are `guardian_agent`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use guardian_agent::eval::ScenarioScore;
use guardian_agent::otel::OtlpTarget;
use guardian_agent::{CancellationToken, Event, EventSink, Mode};
use guardian_core::ask::{AskRequest, GuardOverrides, ModelChoice};
use guardian_core::eval::EvalOptions;
use guardian_core::{Session, Source};

use crate::args::{AskArgs, AskFormat, EvalArgs, EvalFormat, EvalMode, Global, ModelFlags};
use crate::output;

/// The model the flags choose, over the config's.
fn model_choice(flags: &ModelFlags, reasoner: bool) -> ModelChoice {
    ModelChoice {
        reasoner,
        model: flags.model.clone(),
        base_url: flags.base_url.clone(),
        api_key_env: flags.api_key_env.clone(),
        no_stream: flags.no_stream,
    }
}

/// The guard overrides the flags give.
fn guard_overrides(flags: &ModelFlags) -> GuardOverrides {
    GuardOverrides {
        max_tool_calls: flags.max_tool_calls,
        token_budget: flags.token_budget,
        timeout: flags.timeout,
    }
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
    let request = AskRequest {
        question: args.question.clone(),
        namespace: args.namespace.clone(),
        propose: args.propose,
        assist: args.model.assist,
        model: model_choice(&args.model, args.reasoner),
        guards: guard_overrides(&args.model),
    };
    let endpoint = match guardian_core::ask::mode(session.config(), &request.model)? {
        Mode::Llm(c) => Some(c.endpoint()),
        Mode::Reasoner => None,
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
    let out = session.ask(None, &request, sink, cancel).await?;
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
    let guards = guardian_core::ask::guards(&config, &guard_overrides(&args.model))?;
    let mode = match args.mode {
        EvalMode::Reasoner => Mode::Reasoner,
        EvalMode::Llm => {
            match guardian_core::ask::mode(&config, &model_choice(&args.model, false))? {
                Mode::Reasoner => anyhow::bail!(
                    "--mode llm needs a model: --model NAME (and --base-url for a local server), or llm.model in the config"
                ),
                llm => llm,
            }
        }
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
    if guardian_core::eval::is_question_corpus(&args.corpus) {
        let progress = move |s: &guardian_agent::eval::questions::QuestionScore| {
            if tty {
                eprintln!("{:<16} {}", s.verdict.label(), s.question);
            }
        };
        let report = guardian_core::eval::run_questions(
            &args.corpus,
            &EvalOptions {
                session: options,
                mode,
                guards,
                only: args.only.clone(),
                assist: args.model.assist,
            },
            args.limit,
            &progress,
        )
        .await?;
        let text = match args.output {
            EvalFormat::Json => output::json(&report)?,
            EvalFormat::Table => guardian_agent::eval::questions::render_table(&report),
        };
        print!("{text}");
        if let Some(min) = args.fail_under {
            let m = &report.summary;
            let pct = 100.0 * (m.correct + m.honest_negative) as f64 / m.questions.max(1) as f64;
            if pct < min || m.false_all_clear > 0 {
                eprintln!(
                    "{pct:.1}% of questions answered right ({} false all-clears), under --fail-under {min}",
                    m.false_all_clear
                );
                return Ok(ExitCode::from(3));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = guardian_core::eval::run_corpus(
        &args.corpus,
        &EvalOptions {
            session: options,
            mode,
            guards,
            only: args.only.clone(),
            assist: args.model.assist,
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
