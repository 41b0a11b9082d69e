//! The built-in `patch` skill: proposes an RFC 6902 JSON Patch to one
//! object. The host validates it (it must pin what it changes with `test`
//! operations), dry-runs it server-side and stores it as a pending action;
//! a person approves it with `guardian actions approve`. Nothing here can
//! apply a change.

use guardian_skill_sdk::{Effect, ObjectRef, Proposal, Tool, ToolError, actions, skill};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

skill!(Propose);

/// Proposes a JSON Patch as a pending action.
pub struct Propose;

/// The object a proposal changes.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetInput {
    /// `apps/v1`, `v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `Deployment`, `ConfigMap`.
    pub kind: String,
    /// The namespace (omit for a cluster-scoped object).
    #[serde(default)]
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeInput {
    /// The object to change.
    pub target: TargetInput,
    /// RFC 6902 JSON Patch: an array of operations, with `test` operations
    /// pinning every value it replaces or removes (and the container's
    /// name), so it cannot land on something else.
    pub json_patch: Vec<Value>,
    /// Why the change is needed: the finding it fixes, in one or two
    /// sentences.
    pub rationale: String,
}

#[derive(Serialize)]
pub struct ProposeOutput {
    /// The pending action's id (`act-…`).
    action_id: String,
    /// Always `pending`: only a person can approve it.
    state: &'static str,
    /// What to do next.
    next: String,
}

impl Tool for Propose {
    const NAME: &'static str = "propose";
    const DESCRIPTION: &'static str = "Propose an RFC 6902 JSON Patch (with test operations pinning what it changes) to one object. The host dry-runs it and stores it as a pending action that a person must approve; nothing is applied.";
    const EFFECT: Effect = Effect::Propose;
    type Input = ProposeInput;
    type Output = ProposeOutput;

    fn run(input: ProposeInput) -> Result<ProposeOutput, ToolError> {
        let t = &input.target;
        let target = ObjectRef::new(&t.api_version, &t.kind, t.namespace.as_deref(), &t.name);
        let patch = Value::Array(input.json_patch);
        let proposal = Proposal::new(target, &patch, input.rationale);
        let id = actions::propose(&proposal)?;
        Ok(ProposeOutput {
            next: format!("guardian actions show {id}; guardian actions approve {id}"),
            action_id: id,
            state: "pending",
        })
    }
}
