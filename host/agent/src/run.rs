//! The loop: Observe → Reason → Act over the skills' tools, with a model or
//! the built-in reasoner, every step through the same guards and
//! accounting.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::guard::{Guards, RepeatGuard, estimate_tokens, truncate_output, truncate_text};
use crate::llm::{LlmClient, LlmError, since_ms};
use crate::prompt;
use crate::report::{Event, EventSink, LlmStat, ProposalRecord, RunReport, RunStats, ToolStat};
use crate::tools::{OfferedTool, ToolOutcome, Toolbox};

/// Who reasons.
#[derive(Clone)]
pub enum Mode {
    /// The deterministic planner; needs no model.
    Reasoner,
    /// A model behind an OpenAI-compatible endpoint.
    Llm(Box<LlmClient>),
}

impl Mode {
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Reasoner => "reasoner",
            Mode::Llm(_) => "llm",
        }
    }

    /// The caller the broker and the audit log see.
    pub fn caller(&self) -> &'static str {
        match self {
            Mode::Reasoner => "agent:reasoner",
            Mode::Llm(_) => "agent:llm",
        }
    }
}

/// Where the run looks.
#[derive(Clone, Debug, Default)]
pub struct RunContext {
    /// `snapshot PATH` or the live server.
    pub source: String,
    /// The namespace of the context (for the model's prompt).
    pub default_namespace: Option<String>,
    /// The namespace the person chose for this question (`ask -n`): a
    /// question that names nothing is about it rather than the cluster.
    pub explicit_namespace: Option<String>,
    /// Where Argo CD's Applications live (the config's `argocd.namespaces`).
    pub argocd_namespaces: Vec<String>,
}

/// The agent: the tools, the guards and who reasons.
#[derive(Clone)]
pub struct Agent {
    pub toolbox: Toolbox,
    pub guards: Guards,
    pub mode: Mode,
    /// The reasoner stores its fix as a pending action (the model decides
    /// for itself through `patch.propose`).
    pub propose: bool,
    pub context: RunContext,
    /// Guardian's help (model mode): before the model's first turn, the
    /// brief (`brief.rs`) is given to it as the first tool result.
    pub assist: bool,
}

/// A run's report and its whole transcript.
pub struct RunOutput {
    pub report: RunReport,
    /// `--transcript`: question, mode, guards, tools offered, every message
    /// and event, the report.
    pub transcript: Value,
}

/// The running record: events (forwarded to the sink as they happen),
/// messages, stats.
pub(crate) struct Recorder {
    sink: EventSink,
    pub events: Mutex<Vec<Event>>,
    pub stats: Mutex<RunStats>,
    step: Mutex<u32>,
}

impl Recorder {
    fn new(sink: EventSink, mode: &str, model: Option<String>) -> Self {
        Recorder {
            sink,
            events: Mutex::new(Vec::new()),
            stats: Mutex::new(RunStats {
                mode: mode.to_owned(),
                model,
                ..Default::default()
            }),
            step: Mutex::new(0),
        }
    }

    pub fn emit(&self, event: Event) {
        (self.sink)(&event);
        self.events.lock().expect("events").push(event);
    }

    pub fn step(&self, text: impl Into<String>) {
        let n = {
            let mut s = self.step.lock().expect("step");
            *s += 1;
            *s
        };
        self.emit(Event::Step {
            n,
            text: text.into(),
        });
    }

    pub fn guard(&self, guard: &str, message: impl Into<String>) {
        self.emit(Event::Guard {
            guard: guard.to_owned(),
            message: message.into(),
        });
    }

    /// Accounts an executed (or refused) call and emits its result.
    pub fn tool_done(
        &self,
        id: &str,
        outcome: Option<&ToolOutcome>,
        bytes: usize,
        omitted: usize,
        refused: Option<&str>,
    ) {
        let (ok, denied, latency, tool, error) = match outcome {
            Some(o) => (
                o.ok(),
                o.denied(),
                o.latency.as_secs_f64() * 1e3,
                o.tool.clone(),
                o.error.as_ref().map(|e| e.message.clone()),
            ),
            None => (false, false, 0.0, String::new(), refused.map(str::to_owned)),
        };
        {
            let mut s = self.stats.lock().expect("stats");
            if outcome.is_some() {
                s.tool_calls += 1;
            } else {
                s.tool_calls_refused += 1;
            }
            if denied {
                s.tool_calls_denied += 1;
            }
            s.tools.push(ToolStat {
                id: id.to_owned(),
                tool: tool.clone(),
                executed: outcome.is_some(),
                ok,
                denied,
                latency_ms: (latency * 1e3).round() / 1e3,
                started_ns: crate::report::unix_ns_ago(latency),
            });
        }
        self.emit(Event::ToolResult {
            id: id.to_owned(),
            tool,
            ok,
            executed: outcome.is_some(),
            error,
            latency_ms: (latency * 1e3).round() / 1e3,
            bytes,
            omitted_lines: omitted,
        });
    }

    pub fn calls_attempted(&self) -> u32 {
        let s = self.stats.lock().expect("stats");
        s.tool_calls + s.tool_calls_refused
    }
}

impl Agent {
    /// Answers `question`. Events reach `sink` as they happen; `cancel`
    /// stops the run at the next step (the report says so).
    pub async fn run(
        &self,
        question: &str,
        sink: EventSink,
        cancel: CancellationToken,
    ) -> RunOutput {
        let started = Instant::now();
        let model = match &self.mode {
            Mode::Llm(c) => Some(c.settings.model.clone()),
            Mode::Reasoner => None,
        };
        let rec = Arc::new(Recorder::new(sink, self.mode.name(), model.clone()));
        let tools = self.toolbox.offered();
        let mut messages: Vec<Value> = Vec::new();
        // The whole run is bounded by the guards' wall time.
        let deadline = tokio::time::sleep(self.guards.timeout);
        tokio::pin!(deadline);
        let body = async {
            match &self.mode {
                Mode::Reasoner => crate::reasoner::run(self, question, &rec).await,
                Mode::Llm(client) => {
                    self.llm_loop(client, question, &tools, &rec, &mut messages, &cancel)
                        .await
                }
            }
        };
        // Cancellation and the deadline win over a body that finishes at
        // the same moment.
        let outcome = tokio::select! {
            biased;
            _ = cancel.cancelled() => Outcome::stopped("the run was cancelled".to_owned()),
            _ = &mut deadline => Outcome::stopped(format!(
                "the run took longer than its limit of {:?} and was stopped", self.guards.timeout)),
            o = body => o,
        };
        let mut stats = rec.stats.lock().expect("stats").clone();
        stats.wall_ms = since_ms(started);
        stats.started_ns = crate::report::unix_ns_ago(stats.wall_ms);
        let answer = match (&outcome.stopped, outcome.answer.is_empty()) {
            (Some(why), true) => format!("No answer: {why}."),
            (Some(why), false) => format!("{}\n\n(Stopped early: {why}.)", outcome.answer),
            (None, _) => outcome.answer.clone(),
        };
        if let Some(why) = &outcome.stopped {
            rec.guard("stop", why.clone());
        }
        rec.emit(Event::Answer {
            mode: self.mode.name().to_owned(),
            text: answer.clone(),
        });
        rec.emit(Event::Stats {
            stats: stats.clone(),
        });
        let report = RunReport {
            mode: self.mode.name().to_owned(),
            model,
            question: question.to_owned(),
            answer,
            findings: outcome.findings,
            fix: outcome.fix,
            proposals: outcome.proposals,
            stopped: outcome.stopped,
            stats,
        };
        let events = rec.events.lock().expect("events").clone();
        let transcript = json!({
            "question": question,
            "mode": self.mode.name(),
            "caller": self.toolbox.caller(),
            "source": self.context.source,
            "guards": self.guards,
            "tools": tools.iter().map(|t| json!({"name": t.name, "wire": t.wire, "effect": t.effect})).collect::<Vec<_>>(),
            "messages": messages,
            "events": events,
            "report": report,
        });
        RunOutput { report, transcript }
    }

    /// Calls one tool through the guards: budget, repeat, arguments.
    /// Returns the text for the context (framed) and the outcome.
    pub(crate) async fn guarded_call(
        &self,
        rec: &Recorder,
        repeats: &Mutex<RepeatGuard>,
        id: &str,
        tool: &str,
        arguments: &Value,
    ) -> (String, Option<ToolOutcome>) {
        // Diagnostics is told where Argo CD's Applications live (the
        // config's), whoever wrote the call — the reasoner or a model.
        let with_argocd;
        let arguments = match arguments {
            Value::Object(fields)
                if tool == crate::tools::ANALYZE
                    && !fields.contains_key("argocd_namespaces")
                    && !self.context.argocd_namespaces.is_empty() =>
            {
                let mut fields = fields.clone();
                fields.insert(
                    "argocd_namespaces".into(),
                    serde_json::json!(self.context.argocd_namespaces),
                );
                with_argocd = Value::Object(fields);
                &with_argocd
            }
            _ => arguments,
        };
        rec.emit(Event::ToolCall {
            id: id.to_owned(),
            tool: tool.to_owned(),
            arguments: arguments.clone(),
        });
        if rec.calls_attempted() >= self.guards.max_tool_calls {
            let msg = format!(
                "not executed: the limit of {} tool calls for this run is reached. Give your final answer with what you have.",
                self.guards.max_tool_calls
            );
            rec.guard("max_tool_calls", msg.clone());
            rec.tool_done(id, None, 0, 0, Some(&msg));
            return (prompt::tool_result(id, tool, "refused", &msg), None);
        }
        if let Some(msg) = repeats.lock().expect("repeats").refuse(tool, arguments) {
            rec.guard("repeat", format!("{tool}: {msg}"));
            rec.tool_done(id, None, 0, 0, Some(&msg));
            return (prompt::tool_result(id, tool, "refused", &msg), None);
        }
        let outcome = self.toolbox.call(tool, &arguments.to_string()).await;
        let (status, body) = match (&outcome.value, &outcome.error) {
            (Some(v), _) => ("ok", truncate_output(v, self.guards.output_budget(tool))),
            (None, Some(e)) => (
                if e.kind == "denied" {
                    "denied"
                } else {
                    "error"
                },
                truncate_text(
                    &format!(
                        "error [{}{}]: {}{}",
                        e.code,
                        if e.kind.is_empty() {
                            String::new()
                        } else {
                            format!("/{}", e.kind)
                        },
                        e.message,
                        // What to send instead, for a model that missed a
                        // field or sent a wrong one.
                        if e.code == "invalid-input" {
                            self.toolbox
                                .offered()
                                .iter()
                                .find(|t| t.name == tool)
                                .map(|t| {
                                    format!(
                                        "\nCall {} again with its parameters: {}.",
                                        t.wire,
                                        t.signature()
                                    )
                                })
                                .unwrap_or_default()
                        } else {
                            String::new()
                        }
                    ),
                    self.guards.output_budget(tool),
                ),
            ),
            (None, None) => ("error", truncate_text("no result", 64)),
        };
        let full = match &outcome.value {
            Some(v) => v.to_string(),
            None => body.text.clone(),
        };
        if repeats
            .lock()
            .expect("repeats")
            .record(tool, arguments, id, &full)
        {
            rec.guard(
                "repeat",
                format!("{tool} returned the same result for the same arguments again; a further repeat will not be executed"),
            );
        }
        if body.omitted_lines > 0 {
            rec.guard(
                "tool_output",
                format!(
                    "{tool}: {} bytes cut to the budget of {} ({} lines omitted)",
                    body.original_bytes,
                    self.guards.output_budget(tool),
                    body.omitted_lines
                ),
            );
        }
        rec.tool_done(
            id,
            Some(&outcome),
            body.original_bytes,
            body.omitted_lines,
            None,
        );
        (
            prompt::tool_result(id, tool, status, &body.text),
            Some(outcome),
        )
    }

    async fn llm_loop(
        &self,
        client: &LlmClient,
        question: &str,
        tools: &[OfferedTool],
        rec: &Recorder,
        messages: &mut Vec<Value>,
        cancel: &CancellationToken,
    ) -> Outcome {
        let functions: Vec<Value> = tools.iter().map(OfferedTool::as_function).collect();
        let mut system = prompt::system(tools);
        if self.assist {
            system.push_str(prompt::BRIEF_NOTE);
        }
        messages.push(json!({"role": "system", "content": system}));
        messages.push(json!({"role": "user", "content": prompt::user(
            question, &self.context.source, self.context.default_namespace.as_deref())}));
        let mut own = None;
        if self.assist {
            own = self.give_brief(question, rec, messages).await;
        }
        let repeats = Mutex::new(RepeatGuard::default());
        let mut proposals = Vec::new();
        let mut last_content = String::new();
        let mut idle_rounds = 0u32;
        let mut final_round = false;
        let mut nudged = false;
        loop {
            if cancel.is_cancelled() {
                return Outcome::partial(last_content, proposals, "the run was cancelled");
            }
            let used = rec.stats.lock().expect("stats").total_tokens();
            if used >= self.guards.token_budget {
                return Outcome::partial(
                    last_content,
                    proposals,
                    &format!(
                        "the token budget of {} was used up ({used} tokens)",
                        self.guards.token_budget
                    ),
                );
            }
            summarize_if_needed(messages, self.guards.summarize_after_tokens, rec);
            rec.step(if final_round {
                "asking the model for its final answer (no more tools)".to_owned()
            } else {
                format!("asking the model ({} messages)", messages.len())
            });
            let started = Instant::now();
            let offered: &[Value] = if final_round { &[] } else { &functions };
            let on_retry = |attempt: u32, e: &LlmError, delay: Duration| {
                rec.guard(
                    "retry",
                    format!("completion attempt {attempt} failed ({e}); retrying in {delay:?}"),
                );
            };
            let completion = match client
                .complete(
                    messages,
                    offered,
                    &crate::llm::RetryPolicy {
                        timeout: self.guards.llm_timeout,
                        max_retries: self.guards.max_retries,
                        retry_base: self.guards.retry_base,
                    },
                    cancel,
                    &on_retry,
                )
                .await
            {
                Ok(c) => c,
                Err(LlmError::Cancelled) => {
                    return Outcome::partial(last_content, proposals, "the run was cancelled");
                }
                // The server answered: say what it said.
                Err(e @ (LlmError::Status { .. } | LlmError::Decode(_))) => {
                    return Outcome::partial(last_content, proposals, &e.to_string());
                }
                Err(e) => {
                    return Outcome::partial(
                        last_content,
                        proposals,
                        &format!("the model could not be reached: {e}"),
                    );
                }
            };
            {
                let mut s = rec.stats.lock().expect("stats");
                let (prompt_tokens, completion_tokens) = match completion.usage {
                    Some(u) => (u.prompt_tokens, u.completion_tokens),
                    None => {
                        s.tokens_estimated = true;
                        let sent: usize = messages.iter().map(|m| m.to_string().len()).sum();
                        (
                            (sent as u64).div_ceil(4),
                            estimate_tokens(&completion.message().to_string()),
                        )
                    }
                };
                s.llm_calls += 1;
                s.llm_retries += completion.retries;
                s.prompt_tokens += prompt_tokens;
                s.completion_tokens += completion_tokens;
                let latency_ms = since_ms(started);
                s.llm.push(LlmStat {
                    started_ns: crate::report::unix_ns_ago(latency_ms),
                    latency_ms,
                    prompt_tokens,
                    completion_tokens,
                    retries: completion.retries,
                    finish_reason: completion.finish_reason.clone(),
                });
            }
            let mut completion = completion;
            // A small model writes its call as JSON in its text (in a code
            // fence, in <tool_call> tags, in prose): read it as the call.
            if completion.tool_calls.is_empty()
                && !final_round
                && let Some(text) = &completion.content
            {
                let written = crate::tools::calls_in_text(text, tools);
                if !written.is_empty() {
                    rec.guard(
                        "text_tool_call",
                        format!(
                            "the model wrote {} tool call(s) into its text instead of `tool_calls`; read as calls",
                            written.len()
                        ),
                    );
                    let round = rec.stats.lock().expect("stats").llm_calls;
                    completion.tool_calls = written
                        .into_iter()
                        .enumerate()
                        .map(|(i, (name, arguments))| crate::llm::ToolCall {
                            id: format!("call_text_{round}_{i}"),
                            name,
                            arguments,
                        })
                        .collect();
                    completion.content = None;
                }
            }
            // In the final turn a call written as text is not an answer.
            if final_round
                && completion.tool_calls.is_empty()
                && let Some(text) = &completion.content
                && !crate::tools::calls_in_text(text, tools).is_empty()
            {
                messages.push(completion.message());
                let why = format!(
                    "the model wrote another tool call instead of its final answer after the limit of {} tool calls",
                    self.guards.max_tool_calls
                );
                rec.guard("text_tool_call", why.clone());
                return self.no_answer(own, proposals, &why, rec).await;
            }
            let blank = completion
                .content
                .as_deref()
                .is_none_or(|t| t.trim().is_empty());
            if completion.tool_calls.is_empty() {
                let executed = rec.stats.lock().expect("stats").tool_calls;
                if !final_round && !nudged && (blank || (executed == 0 && !tools.is_empty())) {
                    // Once: an empty reply, or an answer with no evidence
                    // behind it, goes back to the model with what to do.
                    nudged = true;
                    let (guard, text) = if blank {
                        ("empty_answer", prompt::EMPTY_ANSWER)
                    } else {
                        messages.push(completion.message());
                        ("no_evidence", prompt::NO_EVIDENCE)
                    };
                    rec.guard(guard, text);
                    messages.push(json!({"role": "user", "content": text}));
                    continue;
                }
                if blank {
                    messages.push(completion.message());
                    return self
                        .no_answer(
                            own,
                            proposals,
                            "the model answered with an empty message",
                            rec,
                        )
                        .await;
                }
            }
            messages.push(completion.message());
            if let Some(text) = &completion.content {
                last_content = text.clone();
            }
            if completion.tool_calls.is_empty() {
                return Outcome {
                    answer: last_content,
                    proposals,
                    ..Outcome::default()
                };
            }
            if final_round {
                let why = format!(
                    "the model kept asking for tools after the limit of {} tool calls",
                    self.guards.max_tool_calls
                );
                return self.no_answer(own, proposals, &why, rec).await;
            }
            let mut executed_any = false;
            for call in &completion.tool_calls {
                let (tool, parsed) = match self.resolve(tools, &call.name, &call.arguments) {
                    Ok((tool, parsed, note)) => {
                        if let Some(note) = note {
                            rec.guard("arguments", format!("{}: {note}", call.name));
                        }
                        (tool, parsed)
                    }
                    Err(message) => {
                        rec.emit(Event::ToolCall {
                            id: call.id.clone(),
                            tool: call.name.clone(),
                            arguments: Value::String(call.arguments.clone()),
                        });
                        rec.guard("arguments", format!("{}: {message}", call.name));
                        rec.tool_done(&call.id, None, 0, 0, Some(&message));
                        messages.push(json!({"role": "tool", "tool_call_id": call.id,
                            "content": prompt::tool_result(&call.id, &call.name, "error", &message)}));
                        continue;
                    }
                };
                let (text, outcome) = self
                    .guarded_call(rec, &repeats, &call.id, &tool, &parsed)
                    .await;
                if let Some(o) = &outcome {
                    executed_any = true;
                    if let (Some(v), true) = (&o.value, tool == "patch.propose")
                        && let Some(id) = v["action_id"].as_str()
                    {
                        {
                            let record = ProposalRecord {
                                action_id: id.to_owned(),
                                target: parsed["target"].clone(),
                                json_patch: parsed["json_patch"].clone(),
                            };
                            rec.emit(Event::Proposal {
                                action_id: id.to_owned(),
                                target: record.target.clone(),
                                rationale: parsed["rationale"].as_str().unwrap_or("").to_owned(),
                            });
                            proposals.push(record);
                        }
                    }
                }
                messages.push(json!({"role": "tool", "tool_call_id": call.id, "content": text}));
            }
            idle_rounds = if executed_any { 0 } else { idle_rounds + 1 };
            if rec.calls_attempted() >= self.guards.max_tool_calls {
                final_round = true;
                messages.push(json!({"role": "user", "content": format!(
                    "The limit of {} tool calls for this run is reached. Give your final answer now from the results above.",
                    self.guards.max_tool_calls)}));
            } else if idle_rounds >= 3 {
                return self
                    .no_answer(
                        own,
                        proposals,
                        "the model asked three times in a row only for calls that were refused (repeats or malformed arguments)",
                        rec,
                    )
                    .await;
            }
        }
    }

    /// Guardian's help: the brief, as a call the model did not make and its
    /// result, so the conversation stays in the shape every provider takes.
    async fn give_brief(
        &self,
        question: &str,
        rec: &Recorder,
        messages: &mut Vec<Value>,
    ) -> Option<crate::brief::Own> {
        let Some((brief, own)) = crate::brief::brief(self, question, rec).await else {
            rec.guard(
                "assist",
                "Guardian's brief could not be made (the analysis failed or was refused); the model starts on its own",
            );
            return None;
        };
        let id = "call_guardian_brief";
        messages.push(
            json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": id, "type": "function",
            "function": {"name": crate::brief::BRIEF_TOOL,
                         "arguments": json!({"question": question}).to_string()}}]}),
        );
        let body = truncate_text(
            &crate::brief::render(&brief),
            self.guards.output_budget("guardian.brief"),
        );
        messages.push(json!({"role": "tool", "tool_call_id": id,
            "content": prompt::tool_result(id, "guardian.brief", "ok", &body.text)}));
        Some(own)
    }

    /// The end of a run in which the model gave no answer (it kept asking
    /// for tools past the limit, or wrote a call where the answer should
    /// be): never its last message as if it were one. With the brief,
    /// Guardian's own answer, labelled; without, none — the report says
    /// why and what to do.
    async fn no_answer(
        &self,
        own: Option<crate::brief::Own>,
        proposals: Vec<ProposalRecord>,
        why: &str,
        rec: &Recorder,
    ) -> Outcome {
        match own {
            Some(own) => {
                rec.guard(
                    "assist",
                    "the model gave no answer; the answer is Guardian's own analysis",
                );
                let text = own.answer(self, rec).await;
                Outcome::partial(
                    format!(
                        "The model gave no answer. Guardian's own analysis, made before the model started:\n\n{}",
                        text.trim_end()
                    ),
                    proposals,
                    why,
                )
            }
            None => Outcome::partial(
                String::new(),
                proposals,
                &format!(
                    "{why}; ask again with --assist for Guardian's own findings beside the model, or without --model for the built-in reasoner"
                ),
            ),
        }
    }

    /// The qualified tool name and parsed arguments of a model's call
    /// (and how they were read, when they had to be read leniently), or the
    /// error message for the model: it names the tool, what is wrong and
    /// what to send instead.
    fn resolve(
        &self,
        tools: &[OfferedTool],
        wire: &str,
        arguments: &str,
    ) -> Result<(String, Value, Option<String>), String> {
        use crate::tools::Lookup;
        let (tool, mut note) = match crate::tools::lookup(tools, wire) {
            Lookup::Exact(t) => (t, None),
            Lookup::Read(t) => (t, Some(format!("tool name `{wire}` read as {}", t.wire))),
            Lookup::Unknown(nearest) => {
                return Err(format!(
                    "not executed: there is no tool `{wire}`.{} The tools are: {}.",
                    nearest
                        .map(|t| format!(" Did you mean {}?", t.wire))
                        .unwrap_or_default(),
                    tools
                        .iter()
                        .map(|t| t.wire.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        };
        match crate::tools::parse_arguments(arguments) {
            Ok((v, repaired)) => {
                if repaired {
                    let read = format!("arguments read from {:?}", clip(arguments, 120));
                    note = Some(match note {
                        Some(n) => format!("{n}; {read}"),
                        None => read,
                    });
                }
                Ok((tool.name.clone(), v, note))
            }
            Err(what) => Err(format!(
                "not executed: the arguments of {} are {what}. Call it again with one JSON object; its parameters: {}.",
                tool.wire,
                tool.signature()
            )),
        }
    }
}

fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// How a mode's run ended.
#[derive(Default)]
pub(crate) struct Outcome {
    pub answer: String,
    pub findings: Vec<Value>,
    pub fix: Option<Value>,
    pub proposals: Vec<ProposalRecord>,
    pub stopped: Option<String>,
}

impl Outcome {
    fn stopped(why: String) -> Self {
        Outcome {
            stopped: Some(why),
            ..Default::default()
        }
    }

    fn partial(answer: String, proposals: Vec<ProposalRecord>, why: &str) -> Self {
        Outcome {
            answer,
            proposals,
            stopped: Some(why.to_owned()),
            ..Default::default()
        }
    }
}

/// When the context passes `threshold` estimated tokens, every tool result
/// but the last round's is replaced by a digest: its frame, its first line
/// and its most relevant lines. The model keeps what mattered; the context
/// shrinks without another model call.
fn summarize_if_needed(messages: &mut [Value], threshold: u64, rec: &Recorder) {
    let size = |m: &[Value]| {
        m.iter()
            .map(|m| estimate_tokens(&m.to_string()))
            .sum::<u64>()
    };
    let before = size(messages);
    if before <= threshold {
        return;
    }
    // The last assistant message's results stay whole.
    let last_assistant = messages
        .iter()
        .rposition(|m| m["role"] == "assistant")
        .unwrap_or(messages.len());
    let mut count = 0;
    for m in messages[..last_assistant].iter_mut() {
        if m["role"] != "tool" {
            continue;
        }
        let Some(text) = m["content"].as_str() else {
            continue;
        };
        if text.len() < 1200 || text.contains("[summarised]") {
            continue;
        }
        let mut lines = text.lines();
        let head = lines.next().unwrap_or("").to_owned();
        let inner: Vec<&str> = lines.filter(|l| *l != "</tool_result>").collect();
        let digest = truncate_text(&inner.join("\n"), 800);
        m["content"] = json!(format!(
            "{head}\n[summarised] an older result, cut to its most relevant lines:\n{}</tool_result>",
            digest.text
        ));
        count += 1;
    }
    if count > 0 {
        rec.guard(
            "summarize",
            format!(
                "the context reached ~{before} tokens (threshold {threshold}); {count} older tool result(s) summarised to ~{} tokens",
                size(messages)
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_tool_results_are_summarised_past_the_threshold() {
        let rec = Recorder::new(crate::report::no_events(), "llm", None);
        let big = |id: &str| {
            let mut body = String::new();
            for i in 0..300 {
                body.push_str(&format!("  name: pod-{i}\n  phase: Running\n"));
            }
            body.push_str("  reason: CrashLoopBackOff\n");
            prompt::tool_result(id, "cluster.list", "ok", &body)
        };
        let mut messages = vec![
            json!({"role": "system", "content": "s"}),
            json!({"role": "user", "content": "q"}),
            json!({"role": "assistant", "content": null}),
            json!({"role": "tool", "tool_call_id": "a", "content": big("a")}),
            json!({"role": "assistant", "content": null}),
            json!({"role": "tool", "tool_call_id": "b", "content": big("b")}),
        ];
        let before: usize = messages.iter().map(|m| m.to_string().len()).sum();
        summarize_if_needed(&mut messages, 100_000, &rec);
        assert!(
            rec.events.lock().unwrap().is_empty(),
            "under the threshold nothing changes"
        );
        summarize_if_needed(&mut messages, 2_000, &rec);
        let older = messages[3]["content"].as_str().unwrap();
        assert!(older.contains("[summarised]"), "{older}");
        assert!(
            older.contains("reason: CrashLoopBackOff"),
            "the relevant line is kept"
        );
        assert!(older.starts_with("<tool_result call_id=\"a\""));
        assert!(older.ends_with("</tool_result>"));
        assert!(
            !messages[5]["content"]
                .as_str()
                .unwrap()
                .contains("[summarised]"),
            "the last round stays whole"
        );
        let after: usize = messages.iter().map(|m| m.to_string().len()).sum();
        assert!(after < before * 2 / 3, "{before} -> {after}");
        assert!(
            matches!(&rec.events.lock().unwrap()[0], Event::Guard { guard, .. } if guard == "summarize")
        );
    }
}
