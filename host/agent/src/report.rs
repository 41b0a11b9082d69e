//! What a run tells its caller while it runs ([`Event`]) and when it ends
//! ([`RunReport`], with [`RunStats`]).

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

/// One thing that happened in a run, in order. The gRPC `Ask` stream and
/// `--transcript` carry these as they are.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// What the loop is doing now.
    Step { n: u32, text: String },
    /// A tool call the model (or the reasoner) asked for.
    ToolCall {
        id: String,
        tool: String,
        arguments: Value,
    },
    /// Its result. `executed: false` when a guard refused it.
    ToolResult {
        id: String,
        tool: String,
        ok: bool,
        executed: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        latency_ms: f64,
        bytes: usize,
        omitted_lines: usize,
    },
    /// A finding the answer rests on.
    Finding { finding: Value },
    /// A proposal stored as a pending action (a person approves it).
    Proposal {
        action_id: String,
        target: Value,
        rationale: String,
    },
    /// A guard acted: a limit was reached, a repeat refused, a retry made,
    /// older turns summarised.
    Guard { guard: String, message: String },
    /// The final answer.
    Answer { mode: String, text: String },
    /// The run's accounting.
    Stats { stats: RunStats },
}

/// Receives events as they happen.
pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// A sink that drops everything.
pub fn no_events() -> EventSink {
    Arc::new(|_| {})
}

/// One tool call's accounting.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ToolStat {
    pub id: String,
    pub tool: String,
    pub executed: bool,
    pub ok: bool,
    pub denied: bool,
    pub latency_ms: f64,
    /// When it started, in nanoseconds since the Unix epoch (for traces).
    #[serde(skip)]
    pub started_ns: u64,
}

/// One completion request's accounting.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LlmStat {
    pub latency_ms: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub retries: u32,
    pub finish_reason: Option<String>,
    /// When it started, in nanoseconds since the Unix epoch (for traces).
    #[serde(skip)]
    pub started_ns: u64,
}

/// The accounting of one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunStats {
    /// `reasoner` or `llm`.
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub llm_calls: u32,
    pub llm_retries: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// True when some completion reported no usage and it was estimated.
    pub tokens_estimated: bool,
    /// Tool calls executed.
    pub tool_calls: u32,
    /// Tool calls a guard refused (not executed).
    pub tool_calls_refused: u32,
    /// Executed calls the broker denied somewhere on the way.
    pub tool_calls_denied: u32,
    pub tools: Vec<ToolStat>,
    pub llm: Vec<LlmStat>,
    pub wall_ms: f64,
    /// When the run started, in nanoseconds since the Unix epoch.
    #[serde(skip)]
    pub started_ns: u64,
}

/// Nanoseconds since the Unix epoch, `ms` milliseconds ago.
pub fn unix_ns_ago(ms: f64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    now.saturating_sub((ms * 1e6) as u64)
}

impl RunStats {
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// The `--stats` lines.
    pub fn render(&self) -> String {
        let mut out = format!(
            "mode {}{}: {} LLM call{} ({} retr{}), {} prompt + {} completion tokens{}, {} tool call{} ({} refused, {} denied), {:.0} ms wall\n",
            self.mode,
            self.model
                .as_ref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default(),
            self.llm_calls,
            if self.llm_calls == 1 { "" } else { "s" },
            self.llm_retries,
            if self.llm_retries == 1 { "y" } else { "ies" },
            self.prompt_tokens,
            self.completion_tokens,
            if self.tokens_estimated {
                " (estimated)"
            } else {
                ""
            },
            self.tool_calls,
            if self.tool_calls == 1 { "" } else { "s" },
            self.tool_calls_refused,
            self.tool_calls_denied,
            self.wall_ms
        );
        for t in &self.tools {
            out.push_str(&format!(
                "  {:<28} {:>9.1} ms  {}\n",
                t.tool,
                t.latency_ms,
                match (t.executed, t.ok, t.denied) {
                    (false, _, _) => "refused by a guard",
                    (true, _, true) => "denied",
                    (true, true, _) => "ok",
                    (true, false, _) => "failed",
                }
            ));
        }
        out
    }
}

/// A proposal the run stored.
#[derive(Clone, Debug, Serialize)]
pub struct ProposalRecord {
    pub action_id: String,
    pub target: Value,
    pub json_patch: Value,
}

/// The result of a run.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// `reasoner` or `llm`: which mode answered.
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub question: String,
    pub answer: String,
    /// The findings the answer rests on (the reasoner's; the model's come
    /// through the tool results).
    pub findings: Vec<Value>,
    /// The fix the answer recommends (`target`, `json_patch`, …), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Value>,
    pub proposals: Vec<ProposalRecord>,
    /// Why the run stopped before a final answer, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    pub stats: RunStats,
}
