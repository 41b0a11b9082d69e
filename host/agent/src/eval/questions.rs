//! The question corpus (`tests/questions/<cluster>/{snapshot/,questions.yaml}`):
//! questions as an on-call engineer types them, over clusters of several
//! namespaces, each with the facts a correct answer must contain. A run's
//! answer is scored as one of four verdicts:
//!
//! - **correct**: every fact is in the answer (a fact `a|b` is either);
//! - **honest negative**: a question about something that does not exist,
//!   answered by saying so (its facts: the wording of that, the nearest
//!   name…);
//! - **false all-clear**: the answer says nothing is wrong (or that nothing
//!   was found) about something that is broken or does not exist — a
//!   failure even when the rest is right;
//! - **wrong**: anything else.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::expected::contains_ci;
use crate::report::RunReport;

/// What a question is about.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum About {
    /// Something broken: the answer names the problem.
    Problem,
    /// Something healthy: the answer says so, and claims no problem of it.
    Healthy,
    /// Something that does not exist: the answer says so.
    Missing,
}

/// One question of `questions.yaml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub q: String,
    pub about: About,
    /// Case-insensitive substrings the answer must contain; `a|b` is either.
    #[serde(default)]
    pub facts: Vec<String>,
    /// Substrings the answer must not contain (a false alarm), compared
    /// with case: `ERROR` is a severity label, `Error` may be a log's word.
    #[serde(default)]
    pub not: Vec<String>,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Correct,
    HonestNegative,
    Wrong,
    FalseAllClear,
}

impl Verdict {
    pub fn passed(self) -> bool {
        matches!(self, Verdict::Correct | Verdict::HonestNegative)
    }

    pub fn label(self) -> &'static str {
        match self {
            Verdict::Correct => "correct",
            Verdict::HonestNegative => "honest-negative",
            Verdict::Wrong => "WRONG",
            Verdict::FalseAllClear => "FALSE ALL-CLEAR",
        }
    }
}

/// One question's score.
#[derive(Clone, Debug, Serialize)]
pub struct QuestionScore {
    pub cluster: String,
    pub question: String,
    pub about: About,
    pub verdict: Verdict,
    /// Facts the answer lacks, and forbidden text it holds.
    pub problems: Vec<String>,
    pub tool_calls: u32,
    pub tokens: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Model completions (0 for the reasoner).
    pub llm_calls: u32,
    pub wall_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// The answer, for reading a miss.
    pub answer: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct QuestionSummary {
    pub questions: usize,
    pub correct: usize,
    pub honest_negative: usize,
    pub wrong: usize,
    pub false_all_clear: usize,
    pub tokens_total: u64,
    pub wall_ms_mean: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct QuestionReport {
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub assist: bool,
    pub questions: Vec<QuestionScore>,
    pub summary: QuestionSummary,
}

/// The cluster folders of a question corpus (those with `questions.yaml`
/// and `snapshot/`), sorted.
pub fn cluster_dirs(corpus: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("questions.yaml").is_file() && p.join("snapshot").is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Reads a cluster's `questions.yaml`.
pub fn load_questions(dir: &Path) -> Result<Vec<Question>, String> {
    let path = dir.join("questions.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let qs: Vec<Question> =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    for q in &qs {
        if q.facts.is_empty() {
            return Err(format!(
                "{}: question {:?} has no facts: a question that any answer passes tests nothing",
                path.display(),
                q.q
            ));
        }
    }
    Ok(qs)
}

/// Phrases that say nothing is wrong.
const ALL_CLEAR: &[&str] = &[
    "no problems found",
    "no problem found",
    "no problems",
    "no issues",
    "nothing wrong",
    "nothing is wrong",
    "looks healthy",
    "is healthy",
    "are healthy",
    "all good",
    "running fine",
    "working fine",
    "no errors",
];

/// Whether `answer` says nothing is wrong.
pub fn all_clear(answer: &str) -> bool {
    ALL_CLEAR.iter().any(|p| contains_ci(answer, p))
}

/// The verdict on one answer, and what it lacks.
pub fn score_answer(q: &Question, answer: &str, stopped: Option<&str>) -> (Verdict, Vec<String>) {
    let mut problems: Vec<String> = q
        .facts
        .iter()
        .filter(|f| !f.split('|').any(|alt| contains_ci(answer, alt.trim())))
        .map(|f| format!("lacks {f:?}"))
        .collect();
    problems.extend(
        q.not
            .iter()
            .filter(|n| answer.contains(n.as_str()))
            .map(|n| format!("says {n:?}")),
    );
    if let Some(why) = stopped {
        problems.push(format!("stopped: {why}"));
    }
    let ok = problems.is_empty();
    let verdict = match (q.about, ok) {
        (About::Problem | About::Healthy, true) => Verdict::Correct,
        (About::Missing, true) => Verdict::HonestNegative,
        (About::Problem | About::Missing, false) if all_clear(answer) => Verdict::FalseAllClear,
        _ => Verdict::Wrong,
    };
    (verdict, problems)
}

/// A score from a run.
pub fn score_run(cluster: &str, q: &Question, report: &RunReport) -> QuestionScore {
    let (verdict, problems) = score_answer(q, &report.answer, report.stopped.as_deref());
    QuestionScore {
        cluster: cluster.to_owned(),
        question: q.q.clone(),
        about: q.about,
        verdict,
        problems,
        tool_calls: report.stats.tool_calls + report.stats.tool_calls_refused,
        tokens: report.stats.total_tokens(),
        prompt_tokens: report.stats.prompt_tokens,
        completion_tokens: report.stats.completion_tokens,
        llm_calls: report.stats.llm_calls,
        wall_ms: report.stats.wall_ms,
        stopped: report.stopped.clone(),
        answer: report.answer.clone(),
    }
}

pub fn summarize(scores: &[QuestionScore]) -> QuestionSummary {
    let count = |v: Verdict| scores.iter().filter(|s| s.verdict == v).count();
    QuestionSummary {
        questions: scores.len(),
        correct: count(Verdict::Correct),
        honest_negative: count(Verdict::HonestNegative),
        wrong: count(Verdict::Wrong),
        false_all_clear: count(Verdict::FalseAllClear),
        tokens_total: scores.iter().map(|s| s.tokens).sum(),
        wall_ms_mean: scores.iter().map(|s| s.wall_ms).sum::<f64>() / scores.len().max(1) as f64,
    }
}

/// The table: one row per question, then the totals.
pub fn render_table(report: &QuestionReport) -> String {
    let mut out = format!(
        "{:<9} {:<60} {:<8} {:<16} {:>5} {:>7} {:>8}\n",
        "CLUSTER", "QUESTION", "ABOUT", "VERDICT", "TOOLS", "TOKENS", "WALL MS"
    );
    for s in &report.questions {
        let q: String = if s.question.chars().count() > 60 {
            format!("{}…", s.question.chars().take(59).collect::<String>())
        } else {
            s.question.clone()
        };
        out.push_str(&format!(
            "{:<9} {:<60} {:<8} {:<16} {:>5} {:>7} {:>8.0}\n",
            s.cluster,
            q,
            format!("{:?}", s.about).to_lowercase(),
            s.verdict.label(),
            s.tool_calls,
            s.tokens,
            s.wall_ms
        ));
        if !s.verdict.passed() {
            out.push_str(&format!("          ↳ {}\n", s.problems.join("; ")));
        }
    }
    let m = &report.summary;
    let n = m.questions.max(1) as f64;
    out.push_str(&format!(
        "\n{} questions ({}{}): {} correct, {} honest negatives — {:.1}% right; {} wrong, {} false all-clears; {} tokens, {:.0} ms mean wall time\n",
        m.questions,
        report.mode,
        match (&report.model, report.assist) {
            (Some(model), true) => format!(" {model}, with Guardian's brief"),
            (Some(model), false) => format!(" {model}"),
            (None, _) => String::new(),
        },
        m.correct,
        m.honest_negative,
        100.0 * (m.correct + m.honest_negative) as f64 / n,
        m.wrong,
        m.false_all_clear,
        m.tokens_total,
        m.wall_ms_mean
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(about: About, facts: &[&str]) -> Question {
        Question {
            q: "why is notifier crashing?".into(),
            about,
            facts: facts.iter().map(|s| s.to_string()).collect(),
            not: vec!["OOMKilled".into()],
        }
    }

    #[test]
    fn verdicts() {
        let p = q(About::Problem, &["notifier", "KeyError|REDIS_URL"]);
        assert_eq!(
            score_answer(
                &p,
                "CRITICAL Deployment notifications/notifier: REDIS_URL",
                None
            )
            .0,
            Verdict::Correct
        );
        assert_eq!(
            score_answer(&p, "No problems found in namespace default", None).0,
            Verdict::FalseAllClear
        );
        assert_eq!(
            score_answer(&p, "notifier is OOMKilled: REDIS_URL", None).0,
            Verdict::Wrong
        );
        assert_eq!(
            score_answer(&p, "notifier REDIS_URL", Some("timeout")).0,
            Verdict::Wrong
        );
        let m = q(About::Missing, &["nothing is named", "notifier"]);
        assert_eq!(
            score_answer(
                &m,
                "Nothing is named `notifer`; did you mean `notifier`",
                None
            )
            .0,
            Verdict::HonestNegative
        );
        assert_eq!(
            score_answer(&m, "No problems found in every namespace", None).0,
            Verdict::FalseAllClear
        );
        let h = q(About::Healthy, &["no problem found|healthy"]);
        assert_eq!(
            score_answer(&h, "No problem found with Deployment web/storefront", None).0,
            Verdict::Correct
        );
        assert_eq!(
            score_answer(
                &h,
                "CRITICAL Deployment web/storefront: CrashLoopBackOff",
                None
            )
            .0,
            Verdict::Wrong
        );
    }
}
