//! The gRPC service (`proto/guardian/v1/guardian.proto`): a thin adapter
//! over [`Api`]. Every method authenticates the bearer token, checks the
//! role, calls the core as `automation:<identity>`, and maps errors to
//! status codes with the core's message.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::Stream;
use guardian_actions::{Action, ApplyOptions, ApplyOutcome, Approver, Channel as ApprovalChannel};
use guardian_agent::{CancellationToken, Event, EventSink};
use guardian_core::ask::AskRequest;
use guardian_core::{DiagnoseRequest, Diagnosis, parse_state};
use guardian_runtime::Effect;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, UnboundedReceiverStream};
use tonic::{Request, Response, Status};

use crate::auth::{Channel, Identity, Refusal, Role};
use crate::proto::{self, ask_event, guardian_server::Guardian};
use crate::{Api, ApiError, ErrorClass, metrics};

/// The gRPC face of an [`Api`].
#[derive(Clone)]
pub struct GrpcService {
    api: Arc<Api>,
    /// How often WatchActions reads the store.
    pub watch_interval: Duration,
}

impl GrpcService {
    pub fn new(api: Arc<Api>) -> Self {
        Self {
            api,
            watch_interval: Duration::from_millis(500),
        }
    }

    /// The tonic server of this service.
    pub fn server(self) -> proto::guardian_server::GuardianServer<Self> {
        proto::guardian_server::GuardianServer::new(self)
    }

    /// The caller's identity, if its token and role allow `method`.
    async fn admit<T>(
        &self,
        request: &Request<T>,
        method: &str,
        needed: Role,
    ) -> Result<Identity, Status> {
        if self.api.draining.is_cancelled() {
            metrics::global().request("grpc", method, "unavailable");
            return Err(Status::unavailable(
                "the server is shutting down; retry on another replica",
            ));
        }
        let Some(gate) = &self.api.gate else {
            return Err(Status::internal(
                "the gRPC server has no authentication configured",
            ));
        };
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let identity = gate
            .check(Channel::Grpc, method, header.as_deref())
            .await
            .map_err(|r| {
                metrics::global().request(
                    "grpc",
                    method,
                    match r {
                        Refusal::Unauthenticated(_) => "unauthenticated",
                        Refusal::PermissionDenied(_) => "permission-denied",
                    },
                );
                refusal(r)
            })?;
        gate.require(Channel::Grpc, method, &identity, needed)
            .map_err(|r| {
                metrics::global().request("grpc", method, "permission-denied");
                refusal(r)
            })?;
        Ok(identity)
    }
}

fn refusal(r: Refusal) -> Status {
    match r {
        Refusal::Unauthenticated(m) => Status::unauthenticated(m),
        Refusal::PermissionDenied(m) => Status::permission_denied(m),
    }
}

/// The status for an [`ApiError`].
pub fn status(e: ApiError) -> Status {
    let code = match e.class {
        ErrorClass::Unauthenticated => tonic::Code::Unauthenticated,
        ErrorClass::PermissionDenied => tonic::Code::PermissionDenied,
        ErrorClass::InvalidArgument => tonic::Code::InvalidArgument,
        ErrorClass::NotFound => tonic::Code::NotFound,
        ErrorClass::FailedPrecondition => tonic::Code::FailedPrecondition,
        ErrorClass::ResourceExhausted => tonic::Code::ResourceExhausted,
        ErrorClass::DeadlineExceeded => tonic::Code::DeadlineExceeded,
        ErrorClass::Unavailable => tonic::Code::Unavailable,
        ErrorClass::Internal => tonic::Code::Internal,
    };
    Status::new(code, e.message)
}

fn done<T>(method: &str, result: Result<T, ApiError>) -> Result<Response<T>, Status> {
    match result {
        Ok(v) => {
            metrics::global().request("grpc", method, "ok");
            Ok(Response::new(v))
        }
        Err(e) => {
            let s = status(e);
            metrics::global().request("grpc", method, &format!("{:?}", s.code()).to_lowercase());
            Err(s)
        }
    }
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_owned()
}

/// An action as the API shows it.
pub fn action_message(a: &Action) -> proto::Action {
    let time =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    proto::Action {
        id: a.id.clone(),
        state: a.state.to_string(),
        target: Some(proto::Target {
            api_version: a.target.api_version.clone(),
            kind: a.target.kind.clone(),
            namespace: a.target.namespace.clone().unwrap_or_default(),
            name: a.target.name.clone(),
            resource: a.target.resource.clone(),
        }),
        rationale: a.rationale.clone(),
        proposer: a.proposer.label(),
        diff: a.diff.clone(),
        patch_json: String::from_utf8_lossy(a.patch_bytes()).into_owned(),
        patch_sha256: a.patch_sha256.clone(),
        resource_version: a.resource_version.clone(),
        dry_run_result: a.dry_run_result.clone(),
        policy_decision: a.policy_decision.clone(),
        created: time(a.created),
        expires: time(a.expires),
        approver: a.approver.as_ref().map(|x| x.label()).unwrap_or_default(),
        outcome: a.outcome.clone().unwrap_or_default(),
        kubectl: guardian_core::actions::kubectl_command(a),
        kind: a.kind.as_str().to_owned(),
        git: a.git.as_ref().map(|g| proto::GitProgress {
            branch: g.branch.clone().unwrap_or_default(),
            commit: g.commit.clone().unwrap_or_default(),
            pull_request: g.pull_request.unwrap_or_default(),
            pull_request_url: g.pull_request_url.clone().unwrap_or_default(),
            merge_commit: g.merge_commit.clone().unwrap_or_default(),
            sync_action: g.sync_action.clone().unwrap_or_default(),
        }),
        history: a
            .history
            .iter()
            .map(|t| proto::Transition {
                state: t.state.to_string(),
                who: t.who.clone(),
                at: time(t.at),
                note: t.note.clone(),
            })
            .collect(),
    }
}

/// An agent event as the Ask stream carries it.
pub fn event_message(e: &Event) -> proto::AskEvent {
    use ask_event::Event as E;
    let event = match e {
        Event::Step { n, text } => E::Step(ask_event::Step {
            n: *n,
            text: text.clone(),
        }),
        Event::ToolCall {
            id,
            tool,
            arguments,
        } => E::ToolCall(ask_event::ToolCall {
            id: id.clone(),
            tool: tool.clone(),
            arguments_json: arguments.to_string(),
        }),
        Event::ToolResult {
            id,
            tool,
            ok,
            executed,
            error,
            latency_ms,
            bytes,
            omitted_lines,
        } => E::ToolResult(ask_event::ToolResult {
            id: id.clone(),
            tool: tool.clone(),
            ok: *ok,
            executed: *executed,
            error: error.clone().unwrap_or_default(),
            latency_ms: *latency_ms,
            bytes: *bytes as u64,
            omitted_lines: *omitted_lines as u64,
        }),
        Event::Finding { finding } => E::Finding(ask_event::Finding {
            finding_json: finding.to_string(),
        }),
        Event::Proposal {
            action_id,
            target,
            rationale,
        } => E::Proposal(ask_event::Proposal {
            action_id: action_id.clone(),
            target_json: target.to_string(),
            rationale: rationale.clone(),
        }),
        Event::Guard { guard, message } => E::Guard(ask_event::Guard {
            guard: guard.clone(),
            message: message.clone(),
        }),
        Event::Answer { mode, text } => E::Answer(ask_event::Answer {
            mode: mode.clone(),
            text: text.clone(),
        }),
        Event::Stats { stats } => E::Stats(ask_event::Stats {
            mode: stats.mode.clone(),
            model: stats.model.clone().unwrap_or_default(),
            llm_calls: stats.llm_calls,
            prompt_tokens: stats.prompt_tokens,
            completion_tokens: stats.completion_tokens,
            tool_calls: stats.tool_calls,
            tool_calls_refused: stats.tool_calls_refused,
            tool_calls_denied: stats.tool_calls_denied,
            wall_ms: stats.wall_ms,
            stats_json: serde_json::to_string(stats).unwrap_or_default(),
        }),
    };
    proto::AskEvent { event: Some(event) }
}

type EventStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Guardian for GrpcService {
    async fn doctor(
        &self,
        request: Request<proto::DoctorRequest>,
    ) -> Result<Response<proto::DoctorResponse>, Status> {
        let who = self.admit(&request, "Doctor", Role::Viewer).await?;
        let namespace = request.into_inner().namespace.filter(|n| !n.is_empty());
        let result = self
            .api
            .session
            .doctor(&who.caller(Channel::Grpc), namespace)
            .await
            .map(|report| proto::DoctorResponse {
                report_json: serde_json::to_string(&report).unwrap_or_default(),
                missing: report.missing as u32,
                rbac: report.rbac.unwrap_or_default(),
            });
        done("Doctor", result)
    }

    async fn usage(
        &self,
        request: Request<proto::UsageRequest>,
    ) -> Result<Response<proto::UsageResponse>, Status> {
        let who = self.admit(&request, "Usage", Role::Viewer).await?;
        let request = request.into_inner();
        let namespace = request.namespace.filter(|n| !n.is_empty());
        let selector = request.label_selector.filter(|s| !s.is_empty());
        let result = self
            .api
            .session
            .usage(
                &who.caller(Channel::Grpc),
                namespace.as_deref(),
                selector.as_deref(),
            )
            .await
            .map(|report| proto::UsageResponse {
                report_json: serde_json::to_string(&report).unwrap_or_default(),
            });
        done("Usage", result)
    }

    async fn list_tools(
        &self,
        request: Request<proto::ListToolsRequest>,
    ) -> Result<Response<proto::ListToolsResponse>, Status> {
        self.admit(&request, "ListTools", Role::Viewer).await?;
        let tools = self
            .api
            .tools()
            .into_iter()
            .map(|t| proto::Tool {
                name: t.name,
                skill: t.skill,
                skill_version: t.skill_version,
                description: t.description,
                input_schema_json: t.input_schema.to_string(),
                effect: match t.effect {
                    Effect::Read => proto::Effect::Read,
                    Effect::Propose => proto::Effect::Propose,
                } as i32,
            })
            .collect();
        done("ListTools", Ok(proto::ListToolsResponse { tools }))
    }

    async fn call_tool(
        &self,
        request: Request<proto::CallToolRequest>,
    ) -> Result<Response<proto::CallToolResponse>, Status> {
        let tool = request.get_ref().tool.clone();
        // A propose tool may store an action: operator.
        let needed = match self.api.effect(&tool) {
            Some(Effect::Propose) => Role::Operator,
            _ => Role::Viewer,
        };
        let who = self.admit(&request, "CallTool", needed).await?;
        let started = Instant::now();
        let req = request.into_inner();
        let result = self
            .api
            .call_tool(
                "grpc",
                &who.caller(Channel::Grpc),
                &req.tool,
                &req.input_json,
            )
            .await
            .map(|v| proto::CallToolResponse {
                result_json: v.to_string(),
                duration_ms: started.elapsed().as_secs_f64() * 1e3,
            });
        done("CallTool", result)
    }

    async fn diagnose(
        &self,
        request: Request<proto::DiagnoseRequest>,
    ) -> Result<Response<proto::DiagnoseResponse>, Status> {
        let needed = if request.get_ref().propose {
            Role::Operator
        } else {
            Role::Viewer
        };
        let who = self.admit(&request, "Diagnose", needed).await?;
        let req = request.into_inner();
        let dreq = DiagnoseRequest {
            namespace: req.namespace.filter(|n| !n.is_empty()),
            filter: req.filter,
            dry_run: !req.no_dry_run,
            propose: req.propose,
            shards: 0,
            ..Default::default()
        };
        let result = self
            .api
            .diagnose("grpc", &who.caller(Channel::Grpc), dreq)
            .await
            .map(|Diagnosis { report, proposed }| proto::DiagnoseResponse {
                findings: findings_of(&report),
                not_read: report["summary"]["not_read"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|n| proto::NotRead {
                        scope: s(n, "scope"),
                        namespace: s(n, "namespace"),
                        error: s(n, "error"),
                    })
                    .collect(),
                report_json: report.to_string(),
                proposed_actions: proposed,
            });
        done("Diagnose", result)
    }

    async fn rightsize(
        &self,
        request: Request<proto::RightsizeRequest>,
    ) -> Result<Response<proto::RightsizeResponse>, Status> {
        let needed = if request.get_ref().propose {
            Role::Operator
        } else {
            Role::Viewer
        };
        let who = self.admit(&request, "Rightsize", needed).await?;
        let req = request.into_inner();
        let rreq = guardian_core::RightsizeRequest {
            namespace: req.namespace.filter(|n| !n.is_empty()),
            all_namespaces: req.all_namespaces,
            workload: req.workload.filter(|w| !w.is_empty()),
            window: req.window.filter(|w| !w.is_empty()),
            step: req.step.filter(|w| !w.is_empty()),
            cpu_percentile: req.cpu_percentile,
            memory_buffer_percent: req.memory_buffer_percent,
            cpu_limit: req.cpu_limit,
            min_points: req.min_points,
            prices: None,
            dry_run: !req.no_dry_run,
            propose: req.propose,
            at: req.at.filter(|a| !a.is_empty()),
        };
        let result = self
            .api
            .rightsize("grpc", &who.caller(Channel::Grpc), rreq)
            .await
            .map(|r| proto::RightsizeResponse {
                findings: findings_of(&r.report),
                problems: r.report["problems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect(),
                report_json: r.report.to_string(),
                proposed_actions: r.proposed,
            });
        done("Rightsize", result)
    }

    async fn argocd(
        &self,
        request: Request<proto::ArgocdRequest>,
    ) -> Result<Response<proto::ArgocdResponse>, Status> {
        use proto::argocd_request::Op;
        let op = Op::try_from(request.get_ref().op).unwrap_or(Op::Unspecified);
        // A sync only proposes, but proposing is the operator's.
        let needed = if op == Op::Sync {
            Role::Operator
        } else {
            Role::Viewer
        };
        let who = self.admit(&request, "Argocd", needed).await?;
        let req = request.into_inner();
        let namespace = req.namespace.filter(|n| !n.is_empty());
        let app = |tool: &'static str, extra: Value| {
            if req.name.trim().is_empty() {
                return Err(Status::invalid_argument(
                    "name: the Application is required for STATUS, DRIFT and SYNC",
                ));
            }
            Ok(crate::ArgocdCall::App {
                tool,
                name: req.name.clone(),
                namespace: namespace.clone(),
                extra,
            })
        };
        let call = match op {
            Op::Unspecified => {
                return Err(Status::invalid_argument(
                    "op: one of APPS, STATUS, DRIFT, SYNC",
                ));
            }
            Op::Apps => crate::ArgocdCall::Apps(guardian_core::AppsRequest {
                namespace: namespace.clone(),
                all_namespaces: req.all_namespaces,
                project: req.project.clone().filter(|p| !p.is_empty()),
                unhealthy: req.unhealthy,
                out_of_sync: req.out_of_sync,
            }),
            Op::Status => app(guardian_core::argocd::STATUS, serde_json::json!({}))?,
            Op::Drift => app(guardian_core::argocd::DRIFT, serde_json::json!({}))?,
            Op::Sync => {
                let mut extra = serde_json::json!({"prune": req.prune});
                if let Some(r) = req.revision.clone().filter(|r| !r.is_empty()) {
                    extra["revision"] = r.into();
                }
                if !req.resources.is_empty() {
                    extra["resources"] = req
                        .resources
                        .iter()
                        .map(|r| {
                            let mut v = serde_json::json!({
                                "group": r.group, "kind": r.kind, "name": r.name,
                            });
                            if let Some(ns) = r.namespace.clone().filter(|n| !n.is_empty()) {
                                v["namespace"] = ns.into();
                            }
                            v
                        })
                        .collect::<Vec<_>>()
                        .into();
                }
                if !req.sync_options.is_empty() {
                    extra["sync_options"] = req.sync_options.clone().into();
                }
                if let Some(r) = req.reason.clone().filter(|r| !r.is_empty()) {
                    extra["reason"] = r.into();
                }
                app(guardian_core::argocd::SYNC, extra)?
            }
        };
        let result = self
            .api
            .argocd("grpc", &who.caller(Channel::Grpc), call)
            .await
            .map(|v| proto::ArgocdResponse {
                action_id: v["action_id"].as_str().map(str::to_owned),
                result_json: v.to_string(),
            });
        done("Argocd", result)
    }

    type ArgocdVerifyStream = EventStream<proto::ArgocdVerifyEvent>;

    async fn argocd_verify(
        &self,
        request: Request<proto::ArgocdVerifyRequest>,
    ) -> Result<Response<Self::ArgocdVerifyStream>, Status> {
        use proto::argocd_verify_event::Event as VerifyEvent;
        let who = self.admit(&request, "ArgocdVerify", Role::Viewer).await?;
        let req = request.into_inner();
        if req.name.trim().is_empty() {
            return Err(Status::invalid_argument(
                "name: the Application is required",
            ));
        }
        let secs = |v: Option<f64>, field: &str| -> Result<Option<Duration>, Status> {
            v.map(|s| {
                Duration::try_from_secs_f64(s)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        Status::invalid_argument(format!(
                            "{field}: expected a positive number of seconds"
                        ))
                    })
            })
            .transpose()
        };
        let verify = guardian_core::VerifyRequest {
            name: req.name,
            namespace: req.namespace.filter(|n| !n.is_empty()),
            revision: req.revision.filter(|r| !r.is_empty()),
            timeout: secs(req.timeout_seconds, "timeout_seconds")?,
            interval: secs(req.interval_seconds, "interval_seconds")?,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let api = Arc::clone(&self.api);
        tokio::spawn(async move {
            let caller = who.caller(Channel::Grpc);
            let sender = tx.clone();
            let on_transition = move |t: &guardian_core::Transition| {
                let _ = sender.send(Ok(proto::ArgocdVerifyEvent {
                    event: Some(VerifyEvent::Transition(proto::ArgocdTransition {
                        elapsed_ms: t.elapsed_ms,
                        sync: t.sync.clone(),
                        health: t.health.clone(),
                        operation: t.operation.clone(),
                        operation_pending: t.operation_pending,
                        revision: t.revision.clone(),
                        message: t.message.clone(),
                    })),
                }));
            };
            match api.argocd_verify(&caller, &verify, &on_transition).await {
                Ok(v) => {
                    metrics::global().request("grpc", "ArgocdVerify", "ok");
                    let report = serde_json::to_value(&v).unwrap_or_default();
                    let _ = tx.send(Ok(proto::ArgocdVerifyEvent {
                        event: Some(VerifyEvent::Done(proto::ArgocdVerification {
                            outcome: report["outcome"].as_str().unwrap_or_default().to_owned(),
                            summary: v.summary.clone(),
                            findings: findings_of(&report),
                            report_json: report.to_string(),
                        })),
                    }));
                }
                Err(e) => {
                    let s = status(e);
                    metrics::global().request(
                        "grpc",
                        "ArgocdVerify",
                        &format!("{:?}", s.code()).to_lowercase(),
                    );
                    let _ = tx.send(Err(s));
                }
            }
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }

    type AskStream = EventStream<proto::AskEvent>;

    async fn ask(
        &self,
        request: Request<proto::AskRequest>,
    ) -> Result<Response<Self::AskStream>, Status> {
        // The model the config names (a bad model setting fails the call).
        let llm = matches!(
            guardian_core::ask::mode(self.api.session.config(), &Default::default()),
            Ok(guardian_agent::Mode::Llm(_))
        );
        // A model may call propose tools on its own: operator.
        let needed = if request.get_ref().propose || llm {
            Role::Operator
        } else {
            Role::Viewer
        };
        let who = self.admit(&request, "Ask", needed).await?;
        let req = request.into_inner();
        if req.question.trim().is_empty() {
            return Err(Status::invalid_argument("the question is empty"));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let sink: EventSink = {
            let tx = tx.clone();
            let cancel = cancel.clone();
            Arc::new(move |e: &Event| {
                // The client went away: stop the run at its next step.
                if tx.send(Ok(event_message(e))).is_err() {
                    cancel.cancel();
                }
            })
        };
        let api = Arc::clone(&self.api);
        tokio::spawn(async move {
            let caller = who.caller(Channel::Grpc);
            let ask = AskRequest {
                question: req.question,
                namespace: req.namespace.filter(|n| !n.is_empty()),
                propose: req.propose,
                ..Default::default()
            };
            let result = api.ask(&caller, &ask, sink, cancel).await;
            match result {
                Ok(_) => metrics::global().request("grpc", "Ask", "ok"),
                Err(e) => {
                    let s = status(e);
                    metrics::global().request(
                        "grpc",
                        "Ask",
                        &format!("{:?}", s.code()).to_lowercase(),
                    );
                    let _ = tx.send(Err(s));
                }
            }
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }

    async fn list_actions(
        &self,
        request: Request<proto::ListActionsRequest>,
    ) -> Result<Response<proto::ListActionsResponse>, Status> {
        self.admit(&request, "ListActions", Role::Viewer).await?;
        let result = parse_state(&request.get_ref().state)
            .and_then(|state| self.api.session.list_actions(state))
            .map(|actions| proto::ListActionsResponse {
                actions: actions.iter().map(action_message).collect(),
            });
        done("ListActions", result)
    }

    async fn get_action(
        &self,
        request: Request<proto::GetActionRequest>,
    ) -> Result<Response<proto::Action>, Status> {
        self.admit(&request, "GetAction", Role::Viewer).await?;
        let result = self
            .api
            .session
            .get_action(request.get_ref().id.trim())
            .map(|a| action_message(&a));
        done("GetAction", result)
    }

    async fn approve_action(
        &self,
        request: Request<proto::ApproveActionRequest>,
    ) -> Result<Response<proto::ApproveActionResponse>, Status> {
        let who = self
            .admit(&request, "ApproveAction", Role::Approver)
            .await?;
        let req = request.into_inner();
        let mut options = ApplyOptions::default();
        if req.rollout_timeout_seconds > 0 {
            options.rollout_timeout = Duration::from_secs(req.rollout_timeout_seconds.into());
        }
        let note = if req.note.trim().is_empty() {
            "approved through the gRPC API".to_owned()
        } else {
            req.note
        };
        // The person whose approver token this is, on the gRPC approval call.
        let approver = Approver::new(ApprovalChannel::GrpcApproval, &who.name)
            .map_err(|e| ApiError::new(ErrorClass::InvalidArgument, e.to_string()));
        let result = match approver {
            Ok(approver) => {
                self.api
                    .session
                    .approve_action(&approver, req.id.trim(), &note, &options)
                    .await
            }
            Err(e) => Err(e),
        }
        .map(|(report, action)| {
            let (applied, outcome) = match report.map(|r| r.outcome) {
                Some(ApplyOutcome::Applied { .. }) | None => (
                    true,
                    action.outcome.clone().unwrap_or_else(|| "applied".into()),
                ),
                Some(ApplyOutcome::Failed { error }) => (false, format!("failed: {error}")),
                Some(o @ (ApplyOutcome::Unknown { .. } | ApplyOutcome::Submitted { .. })) => {
                    (false, o.summary())
                }
            };
            proto::ApproveActionResponse {
                action: Some(action_message(&action)),
                applied,
                outcome,
            }
        });
        done("ApproveAction", result)
    }

    async fn reject_action(
        &self,
        request: Request<proto::RejectActionRequest>,
    ) -> Result<Response<proto::Action>, Status> {
        let who = self.admit(&request, "RejectAction", Role::Approver).await?;
        let req = request.into_inner();
        let result = Approver::new(ApprovalChannel::GrpcApproval, &who.name)
            .map_err(|e| ApiError::new(ErrorClass::InvalidArgument, e.to_string()))
            .and_then(|approver| {
                self.api
                    .session
                    .reject_action(&approver, req.id.trim(), &req.reason)
            })
            .map(|a| action_message(&a));
        done("RejectAction", result)
    }

    async fn follow_action(
        &self,
        request: Request<proto::FollowActionRequest>,
    ) -> Result<Response<proto::FollowActionResponse>, Status> {
        // Following may propose the Argo CD sync: an operator's call.
        let who = self.admit(&request, "FollowAction", Role::Operator).await?;
        let req = request.into_inner();
        let timeout = if req.timeout_seconds > 0.0 {
            match Duration::try_from_secs_f64(req.timeout_seconds) {
                Ok(d) => Some(d),
                Err(_) => {
                    return Err(status(ApiError::new(
                        ErrorClass::InvalidArgument,
                        format!("timeout_seconds {} is out of range", req.timeout_seconds),
                    )));
                }
            }
        } else {
            None
        };
        let result = self
            .api
            .session
            .follow_action(&who.caller(Channel::Grpc), req.id.trim(), timeout, &|_| {})
            .await
            .map(|r| proto::FollowActionResponse {
                action: Some(action_message(&r.action)),
                pull_request: r.pull_request.clone(),
                sync_action: r.sync_action.clone().unwrap_or_default(),
                summary: r.summary.clone(),
                verification_json: r
                    .verification
                    .as_ref()
                    .and_then(|v| serde_json::to_string(v).ok())
                    .unwrap_or_default(),
            });
        done("FollowAction", result)
    }

    type WatchActionsStream = EventStream<proto::ActionEvent>;

    async fn watch_actions(
        &self,
        request: Request<proto::WatchActionsRequest>,
    ) -> Result<Response<Self::WatchActionsStream>, Status> {
        self.admit(&request, "WatchActions", Role::Viewer).await?;
        let state = request.into_inner().state;
        // Checked now, so a bad filter is an error, not an empty stream.
        let state = parse_state(&state).map_err(status)?;
        let first = self.api.session.list_actions(state).map_err(status)?;
        let (tx, rx) = mpsc::channel(64);
        let api = Arc::clone(&self.api);
        let interval = self.watch_interval;
        tokio::spawn(async move {
            // The store is shared with other processes (the CLI), so it is
            // read, not notified: every change of state or history is sent.
            let mut seen: std::collections::HashMap<String, (String, usize)> = Default::default();
            let mut kind = proto::action_event::Kind::Existing;
            let mut actions = first;
            loop {
                // Oldest first, so a client sees changes in order.
                for a in actions.iter().rev() {
                    let key = (a.state.to_string(), a.history.len());
                    if seen.get(&a.id) == Some(&key) {
                        continue;
                    }
                    seen.insert(a.id.clone(), key);
                    let event = proto::ActionEvent {
                        kind: kind as i32,
                        action: Some(action_message(a)),
                    };
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                kind = proto::action_event::Kind::Changed;
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = tx.closed() => return,
                    // A watch never ends on its own: it ends when the server drains.
                    _ = api.draining.cancelled() => {
                        let _ = tx.send(Err(Status::unavailable("the server is shutting down; watch again"))).await;
                        return;
                    }
                }
                actions = match api.session.list_actions(state) {
                    Ok(a) => a,
                    Err(e) => {
                        let _ = tx.send(Err(status(e))).await;
                        return;
                    }
                };
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn list_investigations(
        &self,
        request: Request<proto::ListInvestigationsRequest>,
    ) -> Result<Response<proto::ListInvestigationsResponse>, Status> {
        self.admit(&request, "ListInvestigations", Role::Viewer)
            .await?;
        let result = guardian_core::InvestigationState::parse(&request.get_ref().state)
            .and_then(|state| self.api.session.list_investigations(state))
            .map(|list| proto::ListInvestigationsResponse {
                investigations: list.iter().map(investigation_message).collect(),
            });
        done("ListInvestigations", result)
    }

    async fn get_investigation(
        &self,
        request: Request<proto::GetInvestigationRequest>,
    ) -> Result<Response<proto::Investigation>, Status> {
        self.admit(&request, "GetInvestigation", Role::Viewer)
            .await?;
        let result = self
            .api
            .session
            .get_investigation(&request.get_ref().id)
            .map(|i| investigation_message(&i));
        done("GetInvestigation", result)
    }
}

/// The findings of a report, summarised.
fn findings_of(report: &Value) -> Vec<proto::FindingSummary> {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| proto::FindingSummary {
            reason: s(f, "reason"),
            severity: s(f, "severity"),
            kind: s(&f["object"], "kind"),
            namespace: s(&f["object"], "namespace"),
            name: s(&f["object"], "name"),
            root_cause: f["root_cause"]
                .as_str()
                .or(f["cause"].as_str())
                .unwrap_or_default()
                .to_owned(),
        })
        .collect()
}

/// An investigation as the API shows it.
pub fn investigation_message(i: &guardian_core::Investigation) -> proto::Investigation {
    proto::Investigation {
        id: i.id.clone(),
        state: i.state.as_str().into(),
        started_by: i.started_by.clone(),
        alertname: i
            .alert
            .as_ref()
            .map(|a| a.alertname.clone())
            .unwrap_or_default(),
        fingerprint: i
            .alert
            .as_ref()
            .map(|a| a.fingerprint.clone())
            .unwrap_or_default(),
        target: i.target.as_ref().map(|t| proto::InvestigationTarget {
            kind: t.kind.clone(),
            namespace: t.namespace.clone(),
            name: t.name.clone(),
            from: t.from.clone(),
        }),
        unmapped: i.unmapped.clone(),
        findings: findings_of(&serde_json::json!({ "findings": i.findings })),
        scope_read: i.scope_read.clone(),
        actions: i.actions.clone(),
        created: i.created.clone(),
        updated: i.updated.clone(),
        resolved: i.resolved.clone(),
        error: i.error.clone(),
        investigation_json: serde_json::to_string(i).unwrap_or_default(),
    }
}
