//! The MCP server (rmcp): every skill tool as an MCP tool, two prompts, two
//! resources — over stdio (`guardian mcp`) or streamable HTTP (`guardian
//! serve --mcp-listen`, bearer tokens). A thin adapter over [`Api`].
//!
//! - Tools are named `skill__tool` (`diagnostics__analyze`): names any
//!   model API accepts; `skill.tool` is accepted on calls too. Each carries
//!   its skill's JSON Schema and annotations (`readOnlyHint` for read tools,
//!   `destructiveHint: false` for all: a propose tool only stores a
//!   proposal).
//! - There is no approve tool: nothing a model can call approves.
//! - `diagnostics__analyze` is the diagnose operation (`guardian diagnose
//!   -o json`), split across cores for an all-namespaces scan;
//!   `rightsizing__recommend` the rightsize operation (`guardian rightsize
//!   -o json`).

use std::borrow::Cow;
use std::sync::Arc;

use guardian_actions::{ApplyOptions, Approver, Channel as ApprovalChannel};
use guardian_core::DiagnoseRequest;
use guardian_runtime::Effect;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, Prompt, PromptArgument, PromptMessage,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, Role as MessageRole, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::model::{ElicitRequestParams, ElicitationAction, ElicitationSchema};
use rmcp::service::{ElicitationMode, RequestContext};
use rmcp::{ErrorData as McpError, Peer, RoleServer, ServerHandler};
use serde_json::{Value, json};

use crate::auth::{Channel, Identity, Role};
use crate::{Api, ApiError, metrics};

/// The URI of the latest findings resource.
pub const FINDINGS_URI: &str = "guardian://findings/latest";
/// The URI of the pending actions resource.
pub const PENDING_URI: &str = "guardian://actions/pending";
/// The URI of the investigations list; one is `guardian://investigations/{id}`.
pub const INVESTIGATIONS_URI: &str = "guardian://investigations";

/// The host's own tool (not a skill's): `guardian doctor`.
const DOCTOR: &str = "guardian.doctor";
const ARGOCD_VERIFY: &str = "guardian.argocd_verify";
const FOLLOW_ACTION: &str = "guardian.follow_action";

/// One of the host's own tools (not a skill's): `schema` (a JSON object),
/// its hints, and `title` (the dotted name the host knows it by).
fn host_tool(
    name: &'static str,
    title: &str,
    description: &'static str,
    schema: Value,
    annotations: ToolAnnotations,
) -> Tool {
    let Value::Object(schema) = schema else {
        unreachable!("a JSON object")
    };
    let mut annotations = annotations;
    annotations.title = Some(title.to_owned());
    Tool::new(
        Cow::Borrowed(name),
        Cow::Borrowed(description),
        Arc::new(schema),
    )
    .annotate(annotations)
}

/// `guardian__doctor`: whether the server reaches its cluster and may do
/// what its skills need.
fn doctor_tool() -> Tool {
    let schema = json!({
        "type": "object",
        "properties": {"namespace": {
            "type": "string",
            "description": "Check namespaced permissions in this namespace (a Role would grant them) instead of cluster-wide."
        }},
        "additionalProperties": false
    });
    let annotations = ToolAnnotations::new()
        .read_only(true)
        .destructive(false)
        .open_world(false);
    host_tool(
        "guardian__doctor",
        DOCTOR,
        "Checks that Guardian reaches its cluster and may do what its skills need: every permission their grants imply, by SelfSubjectAccessReview, and the minimal Role/ClusterRole for what is missing.",
        schema,
        annotations,
    )
}

/// `guardian__usage`: the current usage of each container.
const USAGE: &str = "guardian.usage";

fn usage_tool() -> Tool {
    let schema = json!({
        "type": "object",
        "properties": {
            "namespace": {"type": "string", "description": "Only this namespace [every namespace]."},
            "label_selector": {"type": "string", "description": "Only the pods matching this label selector (app=web,tier!=cache)."}
        },
        "additionalProperties": false
    });
    let annotations = ToolAnnotations::new()
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false);
    host_tool(
        "guardian__usage",
        USAGE,
        "The current CPU (millicores) and memory (working set bytes) of each container, as `kubectl top pods --containers`: from metrics.k8s.io, or — on a node daemon (serve --node) — from its node's kubelet, for that node's pods. Reads only.",
        schema,
        annotations,
    )
}

fn argocd_verify_tool() -> Tool {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "The Application."},
            "namespace": {"type": "string", "description": "The Application's namespace [the config's argocd.namespaces]."},
            "revision": {"type": "string", "description": "The revision it must report (a prefix of the sha is enough) [any]."},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "description": "Give up after this many seconds [300]."},
            "interval_seconds": {"type": "number", "exclusiveMinimum": 0, "description": "Read the Application every this many seconds [2]."}
        },
        "required": ["name"],
        "additionalProperties": false
    });
    let annotations = ToolAnnotations::new()
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false);
    host_tool(
        "guardian__argocd_verify",
        ARGOCD_VERIFY,
        "Waits until an Argo CD Application reports the revision, Synced and Healthy, and returns each change seen; when the sync fails, the Application is Degraded or the deadline passes, returns diagnostics' findings on the resources that are not healthy. Reads only.",
        schema,
        annotations,
    )
}

fn follow_action_tool() -> Tool {
    let schema = json!({
        "type": "object",
        "properties": {
            "id": {"type": "string", "description": "The submitted Git change's action id."},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "description": "How long to wait for the Application to verify [the config's argocd.verify_timeout_seconds]."}
        },
        "required": ["id"],
        "additionalProperties": false
    });
    // It may propose the Argo CD sync (pending, for a person to approve);
    // it never applies anything itself.
    let annotations = ToolAnnotations::new()
        .read_only(false)
        .destructive(false)
        .idempotent(true)
        .open_world(true);
    host_tool(
        "guardian__follow_action",
        FOLLOW_ACTION,
        "Follows a submitted Git change (a fix proposed as a pull request): reads the pull request; once merged, proposes the Argo CD sync when the Application does not sync by itself, then verifies the Application reaches the merge commit, Synced and Healthy, and records the outcome on the action.",
        schema,
        annotations,
    )
}

/// One MCP session's handler.
#[derive(Clone)]
pub struct McpServer {
    api: Arc<Api>,
    /// The identity of a stdio session: the person who started it. `None`
    /// over HTTP, where each request carries a token.
    local: Option<Identity>,
}

impl McpServer {
    /// A handler for a stdio session run by `local`.
    pub fn stdio(api: Arc<Api>, local: Identity) -> Self {
        Self {
            api,
            local: Some(local),
        }
    }

    /// A handler for HTTP sessions (identity per request).
    pub fn http(api: Arc<Api>) -> Self {
        Self { api, local: None }
    }

    /// Who is calling: the stdio user, or the identity the HTTP layer
    /// authenticated for this request.
    fn identity(&self, cx: &RequestContext<RoleServer>) -> Result<Identity, McpError> {
        if let Some(local) = &self.local {
            return Ok(local.clone());
        }
        cx.extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<Identity>())
            .cloned()
            .ok_or_else(|| McpError::invalid_request("unauthenticated", None))
    }

    /// The caller string policy and audit see: `mcp:<identity>`.
    fn caller(&self, identity: &Identity) -> String {
        identity.caller(Channel::Mcp)
    }

    fn refuse(&self, identity: &Identity, method: &str, needed: Role) -> Option<String> {
        let gate = self.api.gate.as_ref();
        match gate {
            Some(g) => g
                .require(Channel::Mcp, method, identity, needed)
                .err()
                .map(|r| r.message().to_owned()),
            None => identity.require(needed, method).err(),
        }
    }

    /// The MCP tools.
    pub fn tools(&self) -> Vec<Tool> {
        let mut tools: Vec<Tool> = self
            .api
            .tools()
            .into_iter()
            .map(|t| {
                let schema = match t.input_schema {
                    Value::Object(m) => m,
                    _ => serde_json::Map::new(),
                };
                let read = t.effect == Effect::Read;
                let mut annotations = ToolAnnotations::new()
                    .read_only(read)
                    .destructive(false)
                    .open_world(false);
                annotations.title = Some(t.name.clone());
                if !read {
                    annotations.idempotent_hint = Some(false);
                }
                Tool::new(
                    Cow::Owned(guardian_agent::tools::wire_name(&t.name)),
                    Cow::Owned(t.description),
                    Arc::new(schema),
                )
                .annotate(annotations)
            })
            .collect();
        tools.push(doctor_tool());
        tools.push(usage_tool());
        tools.push(argocd_verify_tool());
        tools.push(follow_action_tool());
        tools
    }

    /// `skill__tool` or `skill.tool` → `skill.tool`.
    fn qualified(name: &str) -> String {
        match name.split_once("__") {
            Some((skill, tool)) if !name.contains('.') => format!("{skill}.{tool}"),
            _ => name.to_owned(),
        }
    }

    async fn call(
        &self,
        identity: &Identity,
        name: &str,
        args: Value,
        peer: &Peer<RoleServer>,
    ) -> CallToolResult {
        let tool = Self::qualified(name);
        let effect = self.api.effect(&tool);
        let needed = match effect {
            Some(Effect::Propose) => Role::Operator,
            _ if tool == FOLLOW_ACTION => Role::Operator,
            _ => Role::Viewer,
        };
        if let Some(m) = self.refuse(identity, &format!("tools/call {tool}"), needed) {
            return CallToolResult::error(vec![ContentBlock::text(format!(
                "permission denied: {m}"
            ))]);
        }
        let caller = self.caller(identity);
        let result = if tool == guardian_core::ANALYZE && args.get("shard").is_none() {
            self.diagnose(&caller, &args).await
        } else if tool == guardian_core::RECOMMEND {
            self.rightsize(&caller, &args).await
        } else if tool == DOCTOR {
            self.doctor(&caller, &args).await
        } else if tool == USAGE {
            self.usage(&caller, &args).await
        } else if tool == ARGOCD_VERIFY {
            self.argocd_verify(&caller, &args).await
        } else if tool == FOLLOW_ACTION {
            self.follow_action(&caller, &args).await
        } else {
            self.api
                .call_tool("mcp", &caller, &tool, &args.to_string())
                .await
        };
        match result {
            Ok(mut value) => {
                if effect == Some(Effect::Propose)
                    && let Some(id) = value["action_id"].as_str().map(str::to_owned)
                {
                    value["approval"] = self.elicit_approval(identity, &id, peer).await;
                }
                let mut content = Vec::new();
                if let Some(not_read) = value["summary"]["not_read"]
                    .as_array()
                    .filter(|a| !a.is_empty())
                {
                    // Said first, in words: a client that reads only the
                    // findings must not take their absence for an all-clear.
                    let scopes: Vec<String> = not_read
                        .iter()
                        .map(|n| {
                            format!(
                                "{} ({})",
                                n["scope"].as_str().unwrap_or("?"),
                                n["error"].as_str().unwrap_or("")
                            )
                        })
                        .collect();
                    content.push(ContentBlock::text(format!(
                        "NOT READ: nothing is known about these, and no finding there means nothing: {}",
                        scopes.join("; ")
                    )));
                }
                content.push(ContentBlock::text(value.to_string()));
                let mut r = CallToolResult::success(content);
                if value.is_object() {
                    r.structured_content = Some(value);
                }
                r
            }
            Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
                "{} ({:?})",
                e.message, e.class
            ))]),
        }
    }

    /// Asks the person at the client, through an MCP elicitation, whether
    /// to approve (and apply) the action just proposed. Only an identity
    /// with the approver role is asked, and only where the client supports
    /// form elicitation; otherwise (or when the person declines) the action
    /// stays pending for `guardian actions approve` or the gRPC API. The
    /// answer is the person's: recorded as `human:<identity>
    /// (mcp-elicitation)`.
    async fn elicit_approval(
        &self,
        identity: &Identity,
        id: &str,
        peer: &Peer<RoleServer>,
    ) -> Value {
        let pending = |why: String| json!({"asked": false, "state": "pending", "why": why});
        if identity.role < Role::Approver {
            return pending(format!(
                "{} has the {} role, not approver; approve it with `guardian actions approve {id}` or the gRPC ApproveAction",
                identity.name, identity.role
            ));
        }
        if !peer
            .supported_elicitation_modes()
            .contains(&ElicitationMode::Form)
        {
            return pending(format!(
                "the client does not support elicitation; approve it with `guardian actions approve {id}` or the gRPC ApproveAction"
            ));
        }
        // The person at this client, on this human channel.
        let who = match Approver::new(ApprovalChannel::McpElicitation, &identity.name) {
            Ok(who) => who,
            Err(e) => return pending(e.to_string()),
        };
        // The diff shown is of the exact write, dry-run now against the
        // object, from the action's verified patch bytes.
        let review = match self.api.session.review_action(id, &who).await {
            Ok(r) => r,
            Err(e) => {
                // Not asked: a tampered or stale action is failed by the
                // review; say the state it is in now.
                let state = self
                    .api
                    .session
                    .get_action(id)
                    .ok()
                    .map(|a| a.state.to_string());
                return json!({"asked": false, "state": state, "why": e.message});
            }
        };
        let message = format!(
            "Guardian proposes this change to {} ({}):\n\n{}\nWhy: {}\n\nApprove it and apply it to the cluster now? Only you can answer this; the assistant cannot.",
            review.action.target.label(),
            review.preview.dry_run,
            review.preview.diff,
            review.action.rationale.trim()
        );
        let schema = match ElicitationSchema::builder()
            .required_bool_with("approve", |b| {
                b.title("Approve and apply")
                    .description("Apply this change to the cluster now")
            })
            .build()
        {
            Ok(s) => s,
            Err(e) => return pending(e.to_string()),
        };
        let answer = peer
            .create_elicitation_with_timeout(
                ElicitRequestParams::FormElicitationParams {
                    meta: None,
                    message,
                    requested_schema: schema,
                },
                Some(std::time::Duration::from_secs(600)),
            )
            .await;
        let answer = match answer {
            Ok(a) => a,
            Err(e) => return pending(format!("the elicitation failed: {e}")),
        };
        let approved = answer.action == ElicitationAction::Accept
            && answer.content.as_ref().and_then(|c| c["approve"].as_bool()) == Some(true);
        if !approved {
            return json!({"asked": true, "answer": "not approved", "state": "pending"});
        }
        match self
            .api
            .session
            .approve_action(
                &who,
                id,
                "approved by the user through an MCP elicitation",
                // The client waits for the answer: a short rollout watch.
                &ApplyOptions {
                    rollout_timeout: std::time::Duration::from_secs(5),
                    ..ApplyOptions::default()
                },
            )
            .await
        {
            Ok((_, action)) => json!({
                "asked": true,
                "answer": "approved",
                "approver": action.approver.as_ref().map(|a| a.label()),
                "state": action.state.as_str(),
                "outcome": action.outcome,
            }),
            Err(e) => json!({"asked": true, "answer": "approved", "error": e.message}),
        }
    }

    async fn doctor(&self, caller: &str, args: &Value) -> Result<Value, ApiError> {
        let namespace = match args.get("namespace") {
            None | Some(Value::Null) => None,
            Some(Value::String(ns)) if !ns.trim().is_empty() => Some(ns.trim().to_owned()),
            Some(other) => {
                return Err(ApiError::new(
                    crate::ErrorClass::InvalidArgument,
                    format!("namespace: expected a namespace name, not {other}"),
                ));
            }
        };
        let report = self.api.session.doctor(caller, namespace).await?;
        serde_json::to_value(report)
            .map_err(|e| ApiError::new(crate::ErrorClass::Internal, e.to_string()))
    }

    /// `guardian__usage`: the session's usage operation.
    async fn usage(&self, caller: &str, args: &Value) -> Result<Value, ApiError> {
        let invalid = |m: String| ApiError::new(crate::ErrorClass::InvalidArgument, m);
        let Some(fields) = args.as_object() else {
            return Err(invalid(
                "expected an object with `namespace` and `label_selector`, both optional".into(),
            ));
        };
        let text = |key: &str| -> Result<Option<String>, ApiError> {
            match fields.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
                Some(other) => Err(invalid(format!("{key}: expected a string, not {other}"))),
            }
        };
        let namespace = text("namespace")?;
        let selector = text("label_selector")?;
        if let Some(key) = fields
            .keys()
            .find(|k| !["namespace", "label_selector"].contains(&k.as_str()))
        {
            return Err(invalid(format!(
                "{key}: unknown field; expected `namespace` and `label_selector`"
            )));
        }
        let report = self
            .api
            .session
            .usage(caller, namespace.as_deref(), selector.as_deref())
            .await?;
        serde_json::to_value(report)
            .map_err(|e| ApiError::new(crate::ErrorClass::Internal, e.to_string()))
    }

    /// `guardian__follow_action`: the session's follow operation.
    async fn follow_action(&self, caller: &str, args: &Value) -> Result<Value, ApiError> {
        let invalid = |m: String| ApiError::new(crate::ErrorClass::InvalidArgument, m);
        let Some(fields) = args.as_object() else {
            return Err(invalid("expected an object with `id`".into()));
        };
        if let Some(key) = fields
            .keys()
            .find(|k| !["id", "timeout_seconds"].contains(&k.as_str()))
        {
            return Err(invalid(format!("{key}: unknown field")));
        }
        let id = match args.get("id") {
            Some(Value::String(v)) if !v.trim().is_empty() => v.trim().to_owned(),
            other => {
                return Err(invalid(format!(
                    "id: the action id is required (a string), not {}",
                    other
                        .map(Value::to_string)
                        .unwrap_or_else(|| "nothing".into())
                )));
            }
        };
        let timeout = match args.get("timeout_seconds") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_f64()
                    .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        invalid(format!(
                            "timeout_seconds: expected a positive number of seconds, not {v}"
                        ))
                    })?,
            ),
        };
        let report = self
            .api
            .session
            .follow_action(caller, &id, timeout, &|_| {})
            .await?;
        serde_json::to_value(report)
            .map_err(|e| ApiError::new(crate::ErrorClass::Internal, e.to_string()))
    }

    /// `guardian__argocd_verify`: the session's verify operation.
    async fn argocd_verify(&self, caller: &str, args: &Value) -> Result<Value, ApiError> {
        let invalid = |m: String| ApiError::new(crate::ErrorClass::InvalidArgument, m);
        let Some(fields) = args.as_object() else {
            return Err(invalid("expected an object with `name`".into()));
        };
        for key in fields.keys() {
            if ![
                "name",
                "namespace",
                "revision",
                "timeout_seconds",
                "interval_seconds",
            ]
            .contains(&key.as_str())
            {
                return Err(invalid(format!("{key}: unknown field")));
            }
        }
        let text = |key: &str| -> Result<Option<String>, ApiError> {
            match args.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(v)) if !v.trim().is_empty() => Ok(Some(v.trim().to_owned())),
                Some(other) => Err(invalid(format!("{key}: expected a string, not {other}"))),
            }
        };
        let secs = |key: &str| -> Result<Option<std::time::Duration>, ApiError> {
            match args.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_f64()
                    .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
                    .filter(|d| !d.is_zero())
                    .map(Some)
                    .ok_or_else(|| {
                        invalid(format!(
                            "{key}: expected a positive number of seconds, not {v}"
                        ))
                    }),
            }
        };
        let request = guardian_core::VerifyRequest {
            name: text("name")?
                .ok_or_else(|| invalid("name: the Application is required".into()))?,
            namespace: text("namespace")?,
            revision: text("revision")?,
            timeout: secs("timeout_seconds")?,
            interval: secs("interval_seconds")?,
        };
        let v = self
            .api
            .argocd_verify(caller, &request, &|_: &guardian_core::Transition| {})
            .await?;
        serde_json::to_value(v)
            .map_err(|e| ApiError::new(crate::ErrorClass::Internal, e.to_string()))
    }

    async fn diagnose(&self, caller: &str, args: &Value) -> Result<Value, ApiError> {
        // Validated against the tool's own schema first, as any call is.
        if let Some(skill) = self
            .api
            .runtime()
            .skill(guardian_agent::tools::DIAGNOSTICS_SKILL)
            && skill.tools.iter().any(|t| t.name == "analyze")
            && !args.is_object()
        {
            return Err(ApiError::new(
                crate::ErrorClass::InvalidArgument,
                "the arguments must be a JSON object",
            ));
        }
        let request = DiagnoseRequest {
            namespace: args["namespace"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            filter: args["filter"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            dry_run: args["dry_run"].as_bool().unwrap_or(true),
            propose: false,
            shards: 0,
            ..Default::default()
        };
        Ok(self.api.diagnose("mcp", caller, request).await?.report)
    }

    /// `rightsizing__recommend` is the rightsize operation (`guardian
    /// rightsize -o json`): the config's defaults, the report's scope and
    /// timing. Proposing is the CLI's and gRPC's (`--propose`).
    async fn rightsize(&self, caller: &str, args: &Value) -> Result<Value, ApiError> {
        if !args.is_object() {
            return Err(ApiError::new(
                crate::ErrorClass::InvalidArgument,
                "the arguments must be a JSON object",
            ));
        }
        let text = |k: &str| {
            args[k]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let request = guardian_core::RightsizeRequest {
            namespace: text("namespace"),
            all_namespaces: args["all_namespaces"].as_bool().unwrap_or(false),
            workload: text("workload"),
            window: text("window"),
            step: text("step"),
            cpu_percentile: args["cpu_percentile"].as_f64(),
            memory_buffer_percent: args["memory_buffer_percent"].as_f64(),
            cpu_limit: args["cpu_limit"].as_bool().unwrap_or(false),
            min_points: args["min_points"].as_u64(),
            prices: serde_json::from_value(args["prices"].clone()).ok(),
            dry_run: args["dry_run"].as_bool().unwrap_or(true),
            propose: false,
            at: text("at"),
        };
        Ok(self.api.rightsize("mcp", caller, request).await?.report)
    }

    fn prompts() -> Vec<Prompt> {
        vec![
            Prompt::new(
                "diagnose-namespace",
                Some("Find what is broken in a namespace, why, and the exact fix."),
                Some(vec![
                    PromptArgument::new("namespace")
                        .with_description("The namespace to diagnose")
                        .with_required(true),
                ]),
            ),
            Prompt::new(
                "investigate-workload",
                Some("Investigate one workload: its state, events, logs and the fix."),
                Some(vec![
                    PromptArgument::new("namespace")
                        .with_description("The workload's namespace")
                        .with_required(true),
                    PromptArgument::new("name")
                        .with_description("The workload's name (Deployment, StatefulSet, Pod…)")
                        .with_required(true),
                    PromptArgument::new("kind")
                        .with_description("Its kind [default: Deployment]")
                        .with_required(false),
                ]),
            ),
        ]
    }

    fn prompt(
        name: &str,
        args: &serde_json::Map<String, Value>,
    ) -> Result<GetPromptResult, McpError> {
        let arg = |k: &str| {
            args.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let need = |k: &str| {
            arg(k).ok_or_else(|| {
                McpError::invalid_params(format!("argument `{k}` is required"), None)
            })
        };
        let text = match name {
            "diagnose-namespace" => {
                let ns = need("namespace")?;
                format!(
                    "Diagnose the Kubernetes namespace `{ns}` with Guardian.\n\n\
                     1. Call `diagnostics__analyze` with {{\"namespace\": \"{ns}\"}}.\n\
                     2. For each finding, most severe first: say what is broken, the root cause in one sentence, and the evidence (events, log lines, config keys) that proves it.\n\
                     3. Give the proposed fix exactly as Guardian reports it (the JSON Patch and the kubectl command), and whether its dry-run passed.\n\n\
                     Do not claim anything was changed: Guardian only proposes; a person approves with `guardian actions approve`."
                )
            }
            "investigate-workload" => {
                let ns = need("namespace")?;
                let workload = need("name")?;
                let kind = arg("kind").unwrap_or("Deployment");
                format!(
                    "Investigate the {kind} `{workload}` in namespace `{ns}` with Guardian.\n\n\
                     1. Call `cluster__summary` with {{\"namespace\": \"{ns}\"}} for the overall state.\n\
                     2. Call `diagnostics__analyze` with {{\"namespace\": \"{ns}\"}} and keep the findings about `{workload}` and the objects it owns or uses (pods, ReplicaSets, Services, ConfigMaps, Secrets, PVCs).\n\
                     3. Read the evidence you still need: `cluster__list` / `cluster__get` for the objects, `cluster__logs` (with \"previous\": true for a crashed container) and `cluster__events`.\n\
                     4. Answer: what is wrong with `{workload}`, the root cause in one sentence, the evidence, and the exact fix Guardian proposes.\n\n\
                     Nothing is applied: a fix becomes a change only when a person approves it."
                )
            }
            other => {
                return Err(McpError::invalid_params(
                    format!(
                        "unknown prompt `{other}`; prompts: diagnose-namespace, investigate-workload"
                    ),
                    None,
                ));
            }
        };
        let mut result =
            GetPromptResult::new(vec![PromptMessage::new_text(MessageRole::User, text)]);
        result.description = Some(match name {
            "diagnose-namespace" => "Diagnose a namespace".into(),
            _ => "Investigate a workload".into(),
        });
        Ok(result)
    }

    fn resources() -> Vec<Resource> {
        vec![
            Resource::new(FINDINGS_URI, "latest-findings")
                .with_title("Latest findings")
                .with_description("The diagnose report of every namespace (findings, evidence, fixes), as `guardian diagnose -A -o json`.")
                .with_mime_type("application/json"),
            Resource::new(PENDING_URI, "pending-actions")
                .with_title("Pending actions")
                .with_description("Proposed fixes waiting for a person to approve or reject them (`guardian actions list`).")
                .with_mime_type("application/json"),
            Resource::new(INVESTIGATIONS_URI, "investigations")
                .with_title("Investigations")
                .with_description("What Guardian found about each alert Alertmanager sent, newest first (`guardian investigations list -o json`); one is guardian://investigations/{id}. Read-only.")
                .with_mime_type("application/json"),
        ]
    }

    async fn read(&self, identity: &Identity, uri: &str) -> Result<String, McpError> {
        let internal = |e: ApiError| McpError::internal_error(e.message, None);
        match uri {
            FINDINGS_URI => {
                let diagnosis = self
                    .api
                    .diagnose(
                        "mcp",
                        &self.caller(identity),
                        DiagnoseRequest {
                            dry_run: true,
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(internal)?;
                Ok(diagnosis.report.to_string())
            }
            PENDING_URI => {
                let actions = self
                    .api
                    .session
                    .list_actions(Some(guardian_actions::State::Pending))
                    .map_err(internal)?;
                let list: Vec<Value> = actions
                    .iter()
                    .map(|a| {
                        let mut v = serde_json::to_value(a).unwrap_or_default();
                        v["kubectl"] = json!(guardian_core::actions::kubectl_command(a));
                        v
                    })
                    .collect();
                Ok(Value::Array(list).to_string())
            }
            INVESTIGATIONS_URI => {
                let list = self
                    .api
                    .session
                    .list_investigations(None)
                    .map_err(internal)?;
                Ok(serde_json::to_string(&list).unwrap_or_default())
            }
            other if other.starts_with("guardian://investigations/") => {
                let id = &other["guardian://investigations/".len()..];
                match self.api.session.get_investigation(id) {
                    Ok(i) => Ok(serde_json::to_string(&i).unwrap_or_default()),
                    Err(e)
                        if matches!(
                            e.class,
                            crate::ErrorClass::NotFound | crate::ErrorClass::InvalidArgument
                        ) =>
                    {
                        Err(McpError::resource_not_found(e.message, None))
                    }
                    Err(e) => Err(internal(e)),
                }
            }
            other => Err(McpError::resource_not_found(
                format!(
                    "no resource {other}; resources: {FINDINGS_URI}, {PENDING_URI}, {INVESTIGATIONS_URI}, {INVESTIGATIONS_URI}/{{id}}"
                ),
                None,
            )),
        }
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .build(),
        )
        .with_server_info(
            Implementation::new("guardian", env!("CARGO_PKG_VERSION"))
                .with_title("Guardian")
                .with_description("Kubernetes operations agent: diagnose, explain, propose fixes"),
        )
        .with_instructions(
            "Guardian reads a Kubernetes cluster (live or a snapshot) through sandboxed skills. \
             Start with `diagnostics__analyze` ({\"namespace\": \"…\"}, or {} for every namespace): \
             each finding has the root cause, the evidence and the exact fix. Nothing here changes the \
             cluster; fixes are proposals a person approves outside this session.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        self.identity(&cx)?;
        metrics::global().request("mcp", "tools/list", "ok");
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let identity = self.identity(&cx)?;
        if self.api.draining.is_cancelled() {
            return Err(McpError::internal_error(
                "the server is shutting down",
                None,
            ));
        }
        let args = Value::Object(request.arguments.unwrap_or_default());
        let result = self.call(&identity, &request.name, args, &cx.peer).await;
        metrics::global().request(
            "mcp",
            "tools/call",
            if result.is_error == Some(true) {
                "error"
            } else {
                "ok"
            },
        );
        Ok(result.into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        self.identity(&cx)?;
        Ok(ListPromptsResult::with_all_items(Self::prompts()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        self.identity(&cx)?;
        Ok(Self::prompt(&request.name, &request.arguments.unwrap_or_default())?.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        self.identity(&cx)?;
        Ok(ListResourcesResult::with_all_items(Self::resources()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let identity = self.identity(&cx)?;
        let text = self.read(&identity, &request.uri).await?;
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, request.uri).with_mime_type("application/json"),
        ])
        .into())
    }
}

/// Serves one MCP session over stdin/stdout until the client closes it.
/// Lines that are not valid JSON-RPC get the JSON-RPC error reply
/// (`crate::mcp_stdio`).
pub async fn serve_stdio(api: Arc<Api>, local: Identity) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let (transport, writer) = crate::mcp_stdio::transport(
        tokio::io::stdin(),
        tokio::io::stdout(),
        crate::mcp_stdio::MAX_LINE,
    );
    let served = async {
        let running = McpServer::stdio(api, local)
            .serve(transport)
            .await
            .map_err(|e| anyhow::anyhow!("MCP session: {e}"))?;
        running
            .waiting()
            .await
            .map_err(|e| anyhow::anyhow!("MCP session: {e}"))?;
        anyhow::Ok(())
    }
    .await;
    // Everything answered reaches stdout before the process ends.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
    served
}
