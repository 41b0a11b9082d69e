//! `guardian eval`: the agent on every scenario of a corpus, each in a
//! session of its own over the scenario's snapshot (its own audit log and
//! state directory), scored by `guardian_agent::eval`.

use std::path::Path;

use guardian_agent::eval::questions::{self, QuestionReport, QuestionScore};
use guardian_agent::eval::{
    EvalReport, ScenarioScore, failed_to_run, load_expected, question_for, scenario_dirs,
    score_run, summarize,
};
use guardian_agent::{Guards, Mode};
use serde_json::Value;

use crate::session::{Options, Session, Source};

/// How each scenario's run is set up.
pub struct EvalOptions {
    /// Options shared by every scenario's session (config, cache, policies);
    /// each scenario gets its own audit log and state directory.
    pub session: Options,
    pub mode: Mode,
    pub guards: Guards,
    /// Only scenarios whose folder name contains this.
    pub only: Option<String>,
    /// Model mode: Guardian's brief first (see `AskRequest::assist`).
    pub assist: bool,
}

/// Runs the corpus. `progress` hears each scenario's score as it lands.
pub async fn run_corpus(
    corpus: &Path,
    options: &EvalOptions,
    progress: &(dyn Fn(&ScenarioScore) + Send + Sync),
) -> anyhow::Result<EvalReport> {
    let dirs = scenario_dirs(corpus)
        .map_err(|e| anyhow::anyhow!("cannot read the corpus {}: {e}", corpus.display()))?;
    anyhow::ensure!(
        !dirs.is_empty(),
        "{} holds no scenario (folders NN-name/ with expected.yaml and snapshot/)",
        corpus.display()
    );
    let mut scores = Vec::new();
    for dir in dirs {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if options.only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let score = match run_one(&dir, &name, options).await {
            Ok(score) => score,
            Err(e) => failed_to_run(&name, format!("{e:#}")),
        };
        progress(&score);
        scores.push(score);
    }
    Ok(EvalReport {
        mode: options.mode.name().to_owned(),
        model: match &options.mode {
            Mode::Llm(c) => Some(c.settings.model.clone()),
            Mode::Reasoner => None,
        },
        assist: options.assist && matches!(options.mode, Mode::Llm(_)),
        summary: summarize(&scores),
        scenarios: scores,
    })
}

async fn run_one(dir: &Path, name: &str, options: &EvalOptions) -> anyhow::Result<ScenarioScore> {
    let exp = load_expected(dir).map_err(anyhow::Error::msg)?;
    let scratch = tempfile::tempdir()?;
    let audit_path = scratch.path().join("audit.jsonl");
    let mut session_options = options.session.clone();
    session_options.audit = Some(audit_path.clone());
    session_options.state_dir = Some(scratch.path().join("state"));
    let session = Session::open(
        &session_options,
        &Source::Snapshot(dir.join("snapshot")),
        None,
    )
    .await?;
    let mut agent = session.agent(
        options.mode.clone(),
        options.guards.clone(),
        options.mode.caller(),
        false,
        None,
    );
    agent.assist = options.assist;
    let question = question_for(&exp);
    let out = agent
        .run(&question, guardian_agent::no_events(), Default::default())
        .await;
    drop(session);
    let audit: Vec<Value> = std::fs::read_to_string(&audit_path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    Ok(score_run(name, &exp, &out.report, &audit))
}

/// Whether `corpus` is a question corpus (clusters with `questions.yaml`)
/// rather than a scenario corpus.
pub fn is_question_corpus(corpus: &Path) -> bool {
    questions::cluster_dirs(corpus).is_ok_and(|d| !d.is_empty())
}

/// Runs the question corpus: one session per cluster, every question of it
/// (or those containing `options.only`, at most `limit` in all).
pub async fn run_questions(
    corpus: &Path,
    options: &EvalOptions,
    limit: Option<usize>,
    progress: &(dyn Fn(&QuestionScore) + Send + Sync),
) -> anyhow::Result<QuestionReport> {
    let dirs = questions::cluster_dirs(corpus)
        .map_err(|e| anyhow::anyhow!("cannot read the corpus {}: {e}", corpus.display()))?;
    let mut scores = Vec::new();
    'clusters: for dir in dirs {
        let cluster = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let qs = questions::load_questions(&dir).map_err(anyhow::Error::msg)?;
        let scratch = tempfile::tempdir()?;
        let mut session_options = options.session.clone();
        session_options.audit = Some(scratch.path().join("audit.jsonl"));
        session_options.state_dir = Some(scratch.path().join("state"));
        let session = Session::open(
            &session_options,
            &Source::Snapshot(dir.join("snapshot")),
            None,
        )
        .await?;
        for q in qs {
            if limit.is_some_and(|n| scores.len() >= n) {
                break 'clusters;
            }
            if options
                .only
                .as_deref()
                .is_some_and(|o| !q.q.contains(o) && !cluster.contains(o))
            {
                continue;
            }
            let mut agent = session.agent(
                options.mode.clone(),
                options.guards.clone(),
                options.mode.caller(),
                false,
                None,
            );
            agent.assist = options.assist;
            let out = agent
                .run(&q.q, guardian_agent::no_events(), Default::default())
                .await;
            let score = questions::score_run(&cluster, &q, &out.report);
            progress(&score);
            scores.push(score);
        }
    }
    Ok(QuestionReport {
        mode: options.mode.name().to_owned(),
        model: match &options.mode {
            Mode::Llm(c) => Some(c.settings.model.clone()),
            Mode::Reasoner => None,
        },
        assist: options.assist && matches!(options.mode, Mode::Llm(_)),
        summary: questions::summarize(&scores),
        questions: scores,
    })
}
