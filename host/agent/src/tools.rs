//! The tools the loop may use: every tool of every loaded skill, as the
//! registry presents it (name, description, JSON Schema, effect). Skills'
//! tools read or propose; none approves or applies an action — that path is
//! not in the skill ABI, so no model can reach it through here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use guardian_runtime::{CallError, Effect, Runtime};

/// The built-in diagnostics skill, and its tool every diagnosis runs:
/// named once here for the reasoner, the service layer and the servers.
pub const DIAGNOSTICS_SKILL: &str = "diagnostics";
/// See [`DIAGNOSTICS_SKILL`].
pub const ANALYZE_TOOL: &str = "analyze";
/// `diagnostics.analyze`.
pub const ANALYZE: &str = "diagnostics.analyze";
use serde::Serialize;
use serde_json::{Value, json};

/// A tool as offered to the loop.
#[derive(Clone, Debug, Serialize)]
pub struct OfferedTool {
    /// `diagnostics.analyze`.
    pub name: String,
    /// The name on the wire (`diagnostics__analyze`): OpenAI function names
    /// allow `[a-zA-Z0-9_-]` only.
    pub wire: String,
    pub description: String,
    pub input_schema: Value,
    pub effect: Effect,
}

impl OfferedTool {
    /// The Chat Completions `tools` entry.
    pub fn as_function(&self) -> Value {
        let effect = match self.effect {
            Effect::Read => "Read-only.",
            Effect::Propose => "Stores a proposal that a person must approve; applies nothing.",
        };
        json!({
            "type": "function",
            "function": {
                "name": self.wire,
                "description": format!("{} {effect}", self.description),
                "parameters": self.input_schema,
            }
        })
    }
}

/// `skill.tool` → `skill__tool`.
pub fn wire_name(qualified: &str) -> String {
    qualified.replacen('.', "__", 1)
}

/// The outcome of one tool call.
#[derive(Clone, Debug, Serialize)]
pub struct ToolOutcome {
    pub tool: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ToolFailure>,
    #[serde(serialize_with = "ms")]
    pub latency: Duration,
}

impl ToolOutcome {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// A denial by the broker (or the grants) on the way.
    pub fn denied(&self) -> bool {
        self.error.as_ref().is_some_and(|e| e.kind == "denied")
    }
}

/// Why a tool call failed.
#[derive(Clone, Debug, Serialize)]
pub struct ToolFailure {
    /// The runtime's code (`invalid-input`, `host-error`, `unknown-tool`…).
    pub code: String,
    /// For host errors, the host's kind (`denied`, `not-found`…).
    pub kind: String,
    pub message: String,
}

fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

/// The skills' tools, called as one caller (`agent:llm`, `agent:reasoner`).
#[derive(Clone)]
pub struct Toolbox {
    runtime: Arc<Runtime>,
    caller: String,
}

impl Toolbox {
    pub fn new(runtime: Arc<Runtime>, caller: &str) -> Self {
        Toolbox {
            runtime,
            caller: caller.to_owned(),
        }
    }

    pub fn caller(&self) -> &str {
        &self.caller
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Every tool of every loaded skill, by name.
    pub fn offered(&self) -> Vec<OfferedTool> {
        let mut tools: Vec<OfferedTool> = self
            .runtime
            .skills()
            .iter()
            .flat_map(|skill| {
                skill.tools.iter().map(move |t| {
                    let name = format!("{}.{}", skill.manifest.name, t.name);
                    OfferedTool {
                        wire: wire_name(&name),
                        name,
                        description: t.description.clone(),
                        input_schema: t.input_schema.clone(),
                        effect: t.effect,
                    }
                })
            })
            .collect();
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        tools
    }

    /// Calls `skill.tool` with a JSON text input.
    pub async fn call(&self, qualified: &str, input: &str) -> ToolOutcome {
        let started = Instant::now();
        let result = self.runtime.call(&self.caller, qualified, input).await;
        let latency = started.elapsed();
        match result {
            Ok(value) => ToolOutcome {
                tool: qualified.to_owned(),
                value: Some(value),
                error: None,
                latency,
            },
            Err(err) => ToolOutcome {
                tool: qualified.to_owned(),
                value: None,
                error: Some(failure(&err)),
                latency,
            },
        }
    }
}

fn failure(err: &CallError) -> ToolFailure {
    let kind = match err {
        CallError::HostError { kind, .. } => kind.clone(),
        _ => String::new(),
    };
    ToolFailure {
        code: err.code().to_owned(),
        kind,
        message: err.to_string(),
    }
}
