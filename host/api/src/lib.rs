//! How automation and AI clients reach Guardian: the gRPC service
//! ([`grpc`]), the MCP server ([`mcp`], stdio and streamable HTTP),
//! bearer-token authentication ([`auth`]), metrics ([`metrics`]) and the
//! serve loop ([`serve`]).
//!
//! Every front end here is a thin adapter over [`Api`], which holds one
//! `guardian_core` session and calls the same operations the CLI does
//! (`Runtime::call`, `guardian_core::diagnose`, `guardian_core::actions`,
//! `guardian_agent::Agent::run`). Nothing here approves on its own: an
//! approval needs a person (the gRPC approver role, or an MCP elicitation
//! answered by the user).

pub mod auth;
pub mod grpc;
pub mod mcp;
pub mod mcp_http;
pub mod mcp_stdio;
pub mod metrics;
pub mod serve;

use std::sync::Arc;
use std::time::Instant;

use guardian_actions::{
    Action, ActionStore, ApplyOptions, ApplyReport, Approver, Channel as ApprovalChannel, State,
};
use guardian_agent::{Agent, CancellationToken, EventSink, Guards, Mode, RunContext, Toolbox};
use guardian_broker::{Audit, Broker};
use guardian_core::actions::DecisionError;
use guardian_core::{Config, DiagnoseError, DiagnoseRequest, Session};
use guardian_runtime::{CallError, Effect, Runtime};
use serde_json::Value;

use crate::auth::Gate;

/// The generated gRPC code (server and client) of `proto/guardian/v1`.
pub mod proto {
    tonic::include_proto!("guardian.v1");

    /// The encoded file descriptor set, for the reflection service.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("guardian_v1_descriptor");
}

/// Why an operation failed, with a class every front end maps to its own
/// status (gRPC code, MCP error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub class: ErrorClass,
    pub message: String,
}

/// The classes of [`ApiError`], named after the gRPC codes they map to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    Unauthenticated,
    PermissionDenied,
    InvalidArgument,
    NotFound,
    FailedPrecondition,
    ResourceExhausted,
    DeadlineExceeded,
    Unavailable,
    Internal,
}

impl ApiError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }

    /// The class of a tool call's error.
    pub fn from_call(err: &CallError) -> Self {
        let class = match err {
            CallError::UnknownSkill { .. } | CallError::UnknownTool { .. } => ErrorClass::NotFound,
            CallError::BadToolName { .. } | CallError::InvalidInput { .. } => {
                ErrorClass::InvalidArgument
            }
            CallError::CpuTimeExceeded { .. }
            | CallError::MemoryExceeded { .. }
            | CallError::StackExhausted { .. }
            | CallError::OutputTooLarge { .. }
            | CallError::Busy { .. } => ErrorClass::ResourceExhausted,
            CallError::WallTimeExceeded { .. } => ErrorClass::DeadlineExceeded,
            CallError::ToolFailed { .. } => ErrorClass::FailedPrecondition,
            CallError::HostError { kind, .. } => match kind.as_str() {
                "denied" => ErrorClass::PermissionDenied,
                "not-found" => ErrorClass::NotFound,
                "invalid" => ErrorClass::InvalidArgument,
                "conflict" => ErrorClass::FailedPrecondition,
                "unavailable" => ErrorClass::Unavailable,
                "timeout" => ErrorClass::DeadlineExceeded,
                "too-large" => ErrorClass::ResourceExhausted,
                _ => ErrorClass::Internal,
            },
            CallError::Trap { .. }
            | CallError::InvalidOutput { .. }
            | CallError::Internal { .. } => ErrorClass::Internal,
        };
        Self::new(class, err.to_string())
    }

    fn from_decision(err: DecisionError) -> Self {
        let class = match err.class() {
            "not-found" => ErrorClass::NotFound,
            "invalid" => ErrorClass::InvalidArgument,
            "refused" => ErrorClass::FailedPrecondition,
            "unavailable" => ErrorClass::Unavailable,
            _ => ErrorClass::Internal,
        };
        Self::new(class, err.to_string())
    }

    fn from_diagnose(err: DiagnoseError) -> Self {
        match &err {
            DiagnoseError::Call(e) => Self::from_call(e),
            DiagnoseError::NotRead { kind, message } => Self::new(
                match *kind {
                    "denied" => ErrorClass::PermissionDenied,
                    "timeout" => ErrorClass::DeadlineExceeded,
                    _ => ErrorClass::Unavailable,
                },
                message.clone(),
            ),
            DiagnoseError::Other(m) => Self::new(ErrorClass::Internal, m.clone()),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// One tool as the API lists it.
#[derive(Clone, Debug)]
pub struct ToolEntry {
    /// `skill.tool`
    pub name: String,
    pub skill: String,
    pub skill_version: String,
    pub description: String,
    pub input_schema: Value,
    pub effect: Effect,
}

/// The shared state every front end serves: one session.
pub struct Api {
    pub runtime: Arc<Runtime>,
    pub broker: Option<Broker>,
    pub actions: Option<Arc<ActionStore>>,
    /// `snapshot PATH`, the live server, or `no cluster`.
    pub source: String,
    /// The session reads a snapshot (which cannot be changed).
    pub snapshot: bool,
    pub default_namespace: Option<String>,
    pub config: Config,
    /// Authentication; `None` for a local stdio MCP server, whose caller is
    /// the person who started it.
    pub gate: Option<Gate>,
    pub audit: Arc<Audit>,
    /// Cancelled when the server starts draining: no new calls.
    pub draining: CancellationToken,
}

impl Api {
    /// The API over an open session. `gate` is `None` only for stdio.
    pub fn new(session: Session, snapshot: bool, gate: Option<Gate>) -> anyhow::Result<Self> {
        let audit = Arc::new(guardian_core::session::audit(&session.options)?);
        Ok(Self {
            runtime: session.runtime,
            broker: session.broker,
            actions: session.actions,
            source: session.source,
            snapshot,
            default_namespace: session.default_namespace,
            config: session.config,
            gate,
            audit,
            draining: CancellationToken::new(),
        })
    }

    /// Every tool of every loaded skill, sorted by name.
    pub fn tools(&self) -> Vec<ToolEntry> {
        let mut out: Vec<ToolEntry> = self
            .runtime
            .skills()
            .iter()
            .flat_map(|s| {
                s.tools.iter().map(|t| ToolEntry {
                    name: format!("{}.{}", s.manifest.name, t.name),
                    skill: s.manifest.name.clone(),
                    skill_version: s.manifest.version.clone(),
                    description: t.description.clone(),
                    input_schema: t.input_schema.clone(),
                    effect: t.effect,
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The effect of `skill.tool`, if it exists.
    pub fn effect(&self, qualified: &str) -> Option<Effect> {
        let (skill, tool) = qualified.split_once('.')?;
        let skill = self.runtime.skill(skill)?;
        skill
            .tools
            .iter()
            .find(|t| t.name == tool)
            .map(|t| t.effect)
    }

    /// Calls a tool as `caller`, counting it for `/metrics`.
    pub async fn call_tool(
        &self,
        channel: &str,
        caller: &str,
        tool: &str,
        input: &str,
    ) -> Result<Value, ApiError> {
        let _flight = metrics::global().start();
        let started = Instant::now();
        let input = if input.trim().is_empty() { "{}" } else { input };
        let result = self.runtime.call(caller, tool, input).await;
        let took = started.elapsed();
        let (outcome, denied) = match &result {
            Ok(_) => ("ok", false),
            Err(e) => (
                e.code(),
                matches!(e, CallError::HostError { kind, .. } if kind == "denied"),
            ),
        };
        metrics::global().tool_call(channel, tool, outcome, denied, took);
        result.map_err(|e| ApiError::from_call(&e))
    }

    /// The diagnose report, with the fixes stored as pending actions when
    /// `propose` (then also the ids proposed).
    pub async fn diagnose(
        &self,
        channel: &str,
        caller: &str,
        request: DiagnoseRequest,
    ) -> Result<(Value, Vec<String>), ApiError> {
        let _flight = metrics::global().start();
        let started = Instant::now();
        let result = guardian_core::diagnose(&self.runtime, caller, &self.source, &request).await;
        let took = started.elapsed();
        metrics::global().tool_call(
            channel,
            "diagnostics.analyze",
            match &result {
                Ok(_) => "ok",
                Err(e) => e.code(),
            },
            matches!(&result, Err(e) if e.host_kind() == Some("denied")),
            took,
        );
        let mut report = result.map_err(ApiError::from_diagnose)?;
        let mut ids = Vec::new();
        if request.propose {
            let (store, broker) = self.store_and_broker()?;
            ids = guardian_core::propose_fixes(&self.runtime, store, broker, caller, &mut report)
                .await
                .map_err(ApiError::from_diagnose)?;
        }
        Ok((report, ids))
    }

    /// Who answers `ask`: the model the config names, else the reasoner.
    pub fn agent_mode(&self) -> Mode {
        let resolved =
            guardian_agent::LlmSettings::resolve(&self.config.llm, &Default::default(), |k| {
                std::env::var(k).ok()
            });
        match resolved {
            Some((settings, _)) => Mode::Llm(Box::new(guardian_agent::LlmClient::new(settings))),
            None => Mode::Reasoner,
        }
    }

    /// Runs the agent on `question` for `caller`; events reach `sink`.
    pub async fn ask(
        &self,
        caller: &str,
        question: &str,
        namespace: Option<String>,
        propose: bool,
        sink: EventSink,
        cancel: CancellationToken,
    ) -> Result<guardian_agent::RunOutput, ApiError> {
        if question.trim().is_empty() {
            return Err(ApiError::new(
                ErrorClass::InvalidArgument,
                "the question is empty",
            ));
        }
        let guards = Guards::from_config(&self.config.agent)
            .map_err(|e| ApiError::new(ErrorClass::Internal, e))?;
        let mode = self.agent_mode();
        // The agent calls tools on behalf of the API caller: both are named.
        let agent_caller = format!("{}({caller})", mode.caller());
        let agent = Agent {
            toolbox: Toolbox::new(Arc::clone(&self.runtime), &agent_caller),
            guards,
            mode,
            propose,
            context: RunContext {
                source: self.source.clone(),
                default_namespace: namespace.or(self.default_namespace.clone()),
            },
        };
        let _flight = metrics::global().start();
        let output = agent.run(question, sink, cancel).await;
        metrics::global().denials("grpc", "ask", output.report.stats.tool_calls_denied.into());
        Ok(output)
    }

    fn store(&self) -> Result<&Arc<ActionStore>, ApiError> {
        self.actions.as_ref().ok_or_else(|| {
            ApiError::new(
                ErrorClass::Unavailable,
                "no action store: the server could not open its state directory (--state-dir)",
            )
        })
    }

    fn store_and_broker(&self) -> Result<(&Arc<ActionStore>, &Broker), ApiError> {
        let store = self.store()?;
        let broker = self.broker.as_ref().ok_or_else(|| {
            ApiError::new(
                ErrorClass::Unavailable,
                "no cluster: the server was started without --snapshot or a kubeconfig",
            )
        })?;
        Ok((store, broker))
    }

    /// Actions, newest first, optionally only those in `state`.
    pub fn list_actions(&self, state: &str) -> Result<Vec<Action>, ApiError> {
        let filter = parse_state(state)?;
        self.store()?
            .list(filter)
            .map_err(|e| ApiError::from_decision(e.into()))
    }

    pub fn get_action(&self, id: &str) -> Result<Action, ApiError> {
        self.store()?
            .get(id)
            .map_err(|e| ApiError::from_decision(e.into()))
    }

    /// What the person `identity` on `channel` is shown before approving
    /// `id`: its row checked against its MAC, and the diff of the exact
    /// write dry-run now against the object (see
    /// `guardian_core::actions::review`). A tampered or stale action is
    /// failed for good and refused.
    pub async fn review_action(
        &self,
        channel: ApprovalChannel,
        identity: &str,
        id: &str,
    ) -> Result<guardian_core::actions::Review, ApiError> {
        let who = Approver::new(channel, identity)
            .map_err(|e| ApiError::new(ErrorClass::InvalidArgument, e.to_string()))?;
        let (store, broker) = self.store_and_broker()?;
        guardian_core::actions::review(store, broker, id, &who)
            .await
            .map_err(ApiError::from_decision)
    }

    /// Approves and applies `id` as the person `identity` on `channel`:
    /// reviewed first (row verified, the write dry-run now), then approved
    /// and applied.
    pub async fn approve(
        &self,
        channel: ApprovalChannel,
        identity: &str,
        id: &str,
        note: &str,
        options: &ApplyOptions,
    ) -> Result<(Option<ApplyReport>, Action), ApiError> {
        let who = Approver::new(channel, identity)
            .map_err(|e| ApiError::new(ErrorClass::InvalidArgument, e.to_string()))?;
        let store = self.store()?;
        guardian_core::actions::refuse_final(
            &store
                .get(id)
                .map_err(|e| ApiError::from_decision(e.into()))?,
        )
        .map_err(ApiError::from_decision)?;
        if self.snapshot {
            return Err(ApiError::new(
                ErrorClass::FailedPrecondition,
                format!(
                    "cannot apply action {id}: this server reads {}, which cannot be changed; approve it against a live cluster",
                    self.source
                ),
            ));
        }
        let (store, broker) = self.store_and_broker()?;
        guardian_core::actions::approve(store, broker, id, &who, note, options)
            .await
            .map_err(ApiError::from_decision)
    }

    /// Rejects `id` as the person `identity` on `channel`.
    pub fn reject(
        &self,
        channel: ApprovalChannel,
        identity: &str,
        id: &str,
        reason: &str,
    ) -> Result<Action, ApiError> {
        let who = Approver::new(channel, identity)
            .map_err(|e| ApiError::new(ErrorClass::InvalidArgument, e.to_string()))?;
        guardian_core::actions::reject(self.store()?, id, &who, reason)
            .map_err(ApiError::from_decision)
    }

    /// Pending actions now (for `/metrics`).
    pub fn pending_count(&self) -> Option<usize> {
        self.actions
            .as_ref()
            .and_then(|s| s.list(Some(State::Pending)).ok())
            .map(|v| v.len())
    }

    /// `/metrics`.
    pub fn metrics_text(&self) -> String {
        metrics::global().render(self.pending_count(), self.runtime.skills().len())
    }
}

/// `""` (all) or a state name.
pub fn parse_state(state: &str) -> Result<Option<State>, ApiError> {
    match state.trim() {
        "" => Ok(None),
        s => State::parse(&s.to_ascii_lowercase())
            .map(Some)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorClass::InvalidArgument,
                    format!(
                        "unknown state {s:?}; expected one of pending, approved, rejected, expired, applying, applied, failed"
                    ),
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_errors_map_to_classes() {
        let host = |kind: &str| CallError::HostError {
            tool: "cluster.get".into(),
            kind: kind.into(),
            message: "m".into(),
        };
        for (err, class) in [
            (
                CallError::UnknownTool {
                    skill: "cluster".into(),
                    tool: "x".into(),
                    available: String::new(),
                },
                ErrorClass::NotFound,
            ),
            (
                CallError::InvalidInput {
                    tool: "cluster.get".into(),
                    message: "field `name`".into(),
                },
                ErrorClass::InvalidArgument,
            ),
            (
                CallError::Busy {
                    tool: "cluster.get".into(),
                },
                ErrorClass::ResourceExhausted,
            ),
            (host("denied"), ErrorClass::PermissionDenied),
            (host("not-found"), ErrorClass::NotFound),
            (host("unavailable"), ErrorClass::Unavailable),
            (host("timeout"), ErrorClass::DeadlineExceeded),
            (
                CallError::Trap {
                    tool: "cluster.get".into(),
                    message: "unreachable".into(),
                },
                ErrorClass::Internal,
            ),
        ] {
            let mapped = ApiError::from_call(&err);
            assert_eq!(mapped.class, class, "{err}");
            assert_eq!(mapped.message, err.to_string());
        }
        assert_eq!(parse_state("Pending").unwrap(), Some(State::Pending));
        assert_eq!(parse_state("").unwrap(), None);
        assert_eq!(
            parse_state("done").unwrap_err().class,
            ErrorClass::InvalidArgument
        );
    }
}
