//! How automation and AI clients reach Guardian: the gRPC service
//! ([`grpc`]), the MCP server ([`mcp`], stdio and streamable HTTP),
//! bearer-token authentication ([`auth`]), metrics ([`metrics`]) and the
//! serve loop ([`serve`]).
//!
//! Every front end here is a thin adapter over [`Api`]: one
//! `guardian_core::Session` (the same operations the CLI calls), the
//! authentication in front of it and the metrics it counts. Nothing here
//! approves on its own: an approval needs a person (the gRPC approver role,
//! or an MCP elicitation answered by the user), and only these adapters
//! construct the `Approver` that says who.

pub mod alertmanager;
pub mod auth;
pub mod console;
pub mod fanout;
pub mod grpc;
pub mod mcp;
pub mod mcp_http;
pub mod mcp_stdio;
pub mod metrics;
pub mod serve;
pub mod slack;

use std::sync::Arc;
use std::time::Instant;

use guardian_agent::{CancellationToken, EventSink};
use guardian_core::ask::AskRequest;
use guardian_core::{DiagnoseRequest, Diagnosis, Session};
use guardian_runtime::{CallError, Effect};
use serde_json::Value;

use crate::auth::Gate;

/// The generated gRPC code (server and client) of `proto/guardian/v1`.
pub mod proto {
    tonic::include_proto!("guardian.v1");

    /// The encoded file descriptor set, for the reflection service.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("guardian_v1_descriptor");
}

/// One Argo CD request of a front end.
pub enum ArgocdCall {
    Apps(guardian_core::AppsRequest),
    /// `argocd.status`, `argocd.drift` or `argocd.sync` on one Application.
    App {
        tool: &'static str,
        name: String,
        namespace: Option<String>,
        extra: Value,
    },
}

pub use guardian_core::{ErrorClass, ServiceError as ApiError, ToolEntry, parse_state};

/// What every front end here serves: one session, the authentication in
/// front of it, and the drain flag.
pub struct Api {
    pub session: Arc<Session>,
    /// Authentication; `None` for a local stdio MCP server, whose caller is
    /// the person who started it.
    pub gate: Option<Gate>,
    /// Cancelled when the server starts draining: no new calls.
    pub draining: CancellationToken,
    /// The Deployment's fan-out to the node daemons (`serve --fan-out`):
    /// `Diagnose` asks them and merges their answers.
    pub fan_out: Option<fanout::FanOut>,
}

impl Api {
    /// The API over an open session. `gate` is `None` only for stdio.
    pub fn new(session: Session, gate: Option<Gate>) -> Self {
        Self {
            session: Arc::new(session),
            gate,
            draining: CancellationToken::new(),
            fan_out: None,
        }
    }

    /// This API with `Diagnose` fanned out to the node daemons (a proposal
    /// is still made here: the daemons only read).
    pub fn with_fan_out(mut self, fan_out: fanout::FanOut) -> Self {
        self.fan_out = Some(fan_out);
        self
    }

    /// The skills runtime (loaded skills, reloads).
    pub fn runtime(&self) -> &Arc<guardian_runtime::Runtime> {
        self.session.runtime()
    }

    /// Every tool of every loaded skill, sorted by name.
    pub fn tools(&self) -> Vec<ToolEntry> {
        self.session.tools()
    }

    /// The effect of `skill.tool`, if it exists.
    pub fn effect(&self, qualified: &str) -> Option<Effect> {
        self.session.effect(qualified)
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
        let result = self.session.call_tool(caller, tool, input).await;
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
    ) -> Result<Diagnosis, ApiError> {
        let _flight = metrics::global().start();
        let started = Instant::now();
        if let Some(fan) = self.fan_out.as_ref().filter(|_| !request.propose) {
            let result = fanout::diagnose(&self.session, caller, &request, fan).await;
            let code = if result.is_ok() { "ok" } else { "error" };
            metrics::global().tool_call(
                channel,
                guardian_core::ANALYZE,
                code,
                false,
                started.elapsed(),
            );
            return result.map(|report| Diagnosis {
                report,
                proposed: Vec::new(),
            });
        }
        let result = self.session.diagnose(caller, &request).await;
        metrics::global().tool_call(
            channel,
            guardian_core::ANALYZE,
            match &result {
                Ok(_) => "ok",
                Err(e) => e.code(),
            },
            matches!(&result, Err(e) if e.host_kind() == Some("denied")),
            started.elapsed(),
        );
        Ok(result?)
    }

    /// An Argo CD operation (`apps` when `name` is `None`, else `tool` on
    /// that Application), counted like a tool call.
    pub async fn argocd(
        &self,
        channel: &str,
        caller: &str,
        request: ArgocdCall,
    ) -> Result<Value, ApiError> {
        let _flight = metrics::global().start();
        let started = Instant::now();
        let (tool, result) = match request {
            ArgocdCall::Apps(apps) => (
                guardian_core::argocd::APPS,
                self.session.argocd_apps(caller, &apps).await,
            ),
            ArgocdCall::App {
                tool,
                name,
                namespace,
                extra,
            } => (
                tool,
                self.session
                    .argocd_app(caller, tool, &name, namespace.as_deref(), extra)
                    .await,
            ),
        };
        metrics::global().tool_call(
            channel,
            tool,
            match &result {
                Ok(_) => "ok",
                Err(e) => e.code(),
            },
            matches!(&result, Err(e) if e.host_kind() == Some("denied")),
            started.elapsed(),
        );
        Ok(result?)
    }

    /// `argocd verify`; `on_transition` hears each change as it is seen.
    pub async fn argocd_verify(
        &self,
        caller: &str,
        request: &guardian_core::VerifyRequest,
        on_transition: &(dyn Fn(&guardian_core::Transition) + Send + Sync),
    ) -> Result<guardian_core::Verification, ApiError> {
        let _flight = metrics::global().start();
        Ok(self
            .session
            .argocd_verify(caller, request, on_transition)
            .await?)
    }

    /// The rightsize operation, counted like a tool call.
    pub async fn rightsize(
        &self,
        channel: &str,
        caller: &str,
        request: guardian_core::RightsizeRequest,
    ) -> Result<guardian_core::Rightsizing, ApiError> {
        let _flight = metrics::global().start();
        let started = Instant::now();
        let result = self.session.rightsize(caller, &request).await;
        metrics::global().tool_call(
            channel,
            guardian_core::RECOMMEND,
            match &result {
                Ok(_) => "ok",
                Err(e) => e.code(),
            },
            matches!(&result, Err(e) if e.host_kind() == Some("denied")),
            started.elapsed(),
        );
        Ok(result?)
    }

    /// Runs the agent on `request` for `caller`; events reach `sink`.
    pub async fn ask(
        &self,
        caller: &str,
        request: &AskRequest,
        sink: EventSink,
        cancel: CancellationToken,
    ) -> Result<guardian_agent::RunOutput, ApiError> {
        let _flight = metrics::global().start();
        let output = self
            .session
            .ask(Some(caller), request, sink, cancel)
            .await?;
        metrics::global().denials("grpc", "ask", output.report.stats.tool_calls_denied.into());
        Ok(output)
    }

    /// `/metrics`.
    pub fn metrics_text(&self) -> String {
        metrics::global().render(self.session.pending_count(), self.runtime().skills().len())
    }
}
