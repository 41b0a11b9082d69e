//! What an action is: its record, states, transitions and who may approve it.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ActionError;

/// The annotation an apply sets on the object it patches, with the action id
/// as its value: after a crash, it tells whether an `applying` action landed.
pub const ACTION_ANNOTATION: &str = "guardian.dev/action-id";

/// How long a proposal may wait for approval and apply, unless it says.
pub const DEFAULT_TTL: TimeDelta = TimeDelta::hours(24);

/// Where an action is in its life.
///
/// ```text
/// pending ──approve──► approved ──claim_for_apply──► applying ──finish_apply──► applied | failed | unknown
///    │                    │                                          │
///    │                    │           (a Git change) finish_apply ──►└► submitted ──settle_submitted──► applied | failed | unknown
///    │                    │
///    ├──reject──► rejected │
///    ├──(TTL passed)──────┴──► expired
///    └──(tampered, unauthenticated, stale at review)──► failed
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Proposed and dry-run; waits for a human.
    Pending,
    /// A human approved it on a human channel; not yet applied.
    Approved,
    /// A human rejected it. Final.
    Rejected,
    /// Its TTL passed before it was applied. Final.
    Expired,
    /// An apply started (claimed by one process). If it is still here after
    /// a restart, the apply may or may not have landed: check the object's
    /// [`ACTION_ANNOTATION`] before doing anything else.
    Applying,
    /// A Git change whose branch is pushed and whose pull request is open:
    /// it waits for the pull request's merge (then the sync and the
    /// verification), or its closing.
    Submitted,
    /// Applied to the cluster (a Git change: merged, synced and verified).
    /// Final.
    Applied,
    /// The apply failed (or the action could not be applied). Final.
    Failed,
    /// An apply was interrupted and what survives on the object cannot tell
    /// whether it landed: a person must check the object. Final (never
    /// re-applied).
    Unknown,
}

impl State {
    /// Every state, in life order.
    pub const ALL: [State; 9] = [
        State::Pending,
        State::Approved,
        State::Rejected,
        State::Expired,
        State::Applying,
        State::Submitted,
        State::Applied,
        State::Failed,
        State::Unknown,
    ];

    /// The lowercase name (`pending`), as stored and audited.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Rejected => "rejected",
            State::Expired => "expired",
            State::Applying => "applying",
            State::Submitted => "submitted",
            State::Applied => "applied",
            State::Failed => "failed",
            State::Unknown => "unknown",
        }
    }

    /// Parses a name as [`State::as_str`] writes it.
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// No transition leaves this state.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            State::Rejected | State::Expired | State::Applied | State::Failed | State::Unknown
        )
    }

    /// The TTL applies to this state (nothing has been sent to the cluster).
    pub(crate) fn can_expire(self) -> bool {
        matches!(self, State::Pending | State::Approved)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The object an action changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Target {
    /// `apps/v1`
    pub api_version: String,
    /// `Deployment`
    pub kind: String,
    /// `None` for a cluster-scoped object.
    pub namespace: Option<String>,
    pub name: String,
    /// The resource name grants and policy use: `deployments.apps`, `pods`.
    pub resource: String,
}

impl Target {
    /// `deployments.apps shop/web`, `nodes node-1`: for people and the audit log.
    pub fn label(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.resource, self.name),
            None => format!("{} {}", self.resource, self.name),
        }
    }
}

/// Who proposed an action (a skill's tool call, usually on behalf of the
/// agent loop or a person).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Proposer {
    /// `agent`, `human:alice`, `mcp:claude-desktop`.
    pub caller: String,
    pub skill: String,
    pub tool: String,
}

impl Proposer {
    /// `agent via diagnostics.analyze`.
    pub fn label(&self) -> String {
        if self.skill.is_empty() && self.tool.is_empty() {
            self.caller.clone()
        } else {
            format!("{} via {}.{}", self.caller, self.skill, self.tool)
        }
    }
}

/// What the store needs to record a new pending action. The proposal step
/// (dry run through the broker, diff, policy preview) fills it.
#[derive(Clone, Debug, Default)]
pub struct Proposal {
    pub target: Target,
    /// The RFC 6902 JSON Patch, exactly as it will be sent (a JSON array).
    /// The action is bound to these bytes by their sha256.
    pub patch: Vec<u8>,
    /// The object's `metadata.resourceVersion` when the dry run was made;
    /// the apply uses it as a precondition.
    pub resource_version: String,
    /// Why: the finding's root cause, in one or two sentences.
    pub rationale: String,
    pub proposer: Proposer,
    /// What the API server's dry run answered (summary or object).
    pub dry_run_result: String,
    /// The YAML diff of the object, for the approver.
    pub diff: String,
    /// The policy decision the real apply would get: `allow (approved-action)`.
    pub policy_decision: String,
    /// How long it may wait; [`DEFAULT_TTL`] when `None`.
    pub ttl: Option<TimeDelta>,
}

/// A human channel an approval can arrive on. There is no variant for a
/// skill, an LLM or the agent loop: they cannot approve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// `guardian actions approve` at a terminal.
    Cli,
    /// The gRPC approval call, made by a person's client.
    GrpcApproval,
    /// An MCP elicitation answered by the user.
    McpElicitation,
    /// A button clicked in Slack by a user the config maps to an approver.
    Slack,
    /// The web console's Approve button, pressed by a signed-in approver.
    Web,
}

impl Channel {
    /// `cli`, `grpc-approval`, `mcp-elicitation`, `web`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Cli => "cli",
            Channel::GrpcApproval => "grpc-approval",
            Channel::McpElicitation => "mcp-elicitation",
            Channel::Slack => "slack",
            Channel::Web => "web",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Channel> {
        [
            Channel::Cli,
            Channel::GrpcApproval,
            Channel::McpElicitation,
            Channel::Slack,
            Channel::Web,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person deciding about an action, on a human channel.
///
/// The only constructor is [`Approver::new`], which takes a [`Channel`]:
/// nothing builds one from a skill, LLM or agent context, and it cannot be
/// deserialized.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Approver {
    channel: Channel,
    identity: String,
}

impl Approver {
    /// The person `identity` deciding on `channel`. Only the human channel
    /// adapters — the CLI at a terminal, the gRPC approval call, the MCP
    /// elicitation — enable the `human-channels` feature that makes this
    /// public; the service layer, the runtime and the agent loop cannot
    /// construct an approver (`.ci/run` checks `guardian-core` builds
    /// without it).
    ///
    /// `identity` is the person (`alice`, `alice@example.com`; a leading
    /// `human:` is accepted and dropped). Refused: empty, longer than 256
    /// bytes, control characters, or another caller kind (`agent:…`).
    #[cfg(feature = "human-channels")]
    pub fn new(channel: Channel, identity: &str) -> Result<Self, ActionError> {
        Self::checked(channel, identity)
    }

    /// [`Approver::new`]'s checks, for the store reading back what a human
    /// channel recorded.
    pub(crate) fn checked(channel: Channel, identity: &str) -> Result<Self, ActionError> {
        let identity = identity.trim();
        let identity = identity.strip_prefix("human:").unwrap_or(identity);
        if identity.is_empty() {
            return Err(ActionError::InvalidApprover(
                "the approver's identity is empty; name the person approving".into(),
            ));
        }
        if identity.len() > 256 {
            return Err(ActionError::InvalidApprover(
                "the approver's identity is longer than 256 bytes".into(),
            ));
        }
        if identity.chars().any(char::is_control) {
            return Err(ActionError::InvalidApprover(
                "the approver's identity contains control characters".into(),
            ));
        }
        if identity.contains(':') {
            return Err(ActionError::InvalidApprover(format!(
                "{identity:?} names a caller kind; an approver is a person, named without a prefix (alice, or human:alice)"
            )));
        }
        Ok(Self {
            channel,
            identity: identity.to_owned(),
        })
    }

    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// The person, without prefix: `alice`.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The caller string policy expects of an approver: `human:alice`.
    pub fn caller(&self) -> String {
        format!("human:{}", self.identity)
    }

    /// `human:alice (cli)`: the `who` of history and audit.
    pub fn label(&self) -> String {
        format!("human:{} ({})", self.identity, self.channel)
    }
}

/// One entry of an action's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The state entered.
    pub state: State,
    pub who: String,
    #[serde(serialize_with = "ser_time")]
    pub at: DateTime<Utc>,
    pub note: String,
}

/// How the cluster looked after an apply landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// The object became healthy (rollout complete, pods ready).
    Healthy,
    /// Applied, but the object did not become healthy.
    Degraded,
    /// Applied; health not checked (or not checkable).
    Unchecked,
}

/// How an apply ended, for [`crate::ActionStore::finish_apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The patch landed.
    Applied { health: Health, detail: String },
    /// A Git change: its branch is pushed and its pull request opened;
    /// `detail` names them. The action waits, `submitted`, for the merge.
    Submitted { detail: String },
    /// The patch did not land (conflict, denied, error), or a check after a
    /// crash found it had not.
    Failed { error: String },
    /// After a crash, nothing that survives tells whether the patch landed;
    /// a person must check the object.
    Unknown { detail: String },
}

impl ApplyOutcome {
    /// `applied-and-healthy: …`, `applied-but-degraded: …`, `failed: …`,
    /// `unknown — check the object: …`.
    pub fn summary(&self) -> String {
        let (head, text) = match self {
            ApplyOutcome::Applied { health, detail } => (
                match health {
                    Health::Healthy => "applied-and-healthy",
                    Health::Degraded => "applied-but-degraded",
                    Health::Unchecked => "applied",
                },
                detail,
            ),
            ApplyOutcome::Submitted { detail } => ("submitted", detail),
            ApplyOutcome::Failed { error } => ("failed", error),
            ApplyOutcome::Unknown { detail } => ("unknown — check the object", detail),
        };
        if text.is_empty() {
            head.to_owned()
        } else {
            format!("{head}: {text}")
        }
    }
}

/// Whether an action's row is the one Guardian wrote, as its MACs (keyed
/// with the store's secret key, which is not in the database) say. Checked
/// on every read; only a [`Integrity::Verified`] action can be approved or
/// applied, and only its diff is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Integrity {
    /// The proposal (and, for an approved or applying action, the approval)
    /// carries a valid MAC.
    Verified,
    /// Proposed before actions were authenticated (schema 1): it has no MAC
    /// and can never be approved or applied.
    Unauthenticated { reason: String },
    /// The row was changed outside Guardian: its MAC does not match (or it
    /// is marked approved without a person's approval). It is failed for
    /// good when anything tries to approve or apply it.
    Tampered { reason: String },
    /// The store's key is missing or is not the one its actions were made
    /// with: nothing can be checked, so nothing can be approved or applied
    /// until the right key is back.
    KeyUnavailable { reason: String },
}

impl Integrity {
    pub fn is_verified(&self) -> bool {
        matches!(self, Integrity::Verified)
    }

    /// Why it is not verified (`None` when it is).
    pub fn problem(&self) -> Option<&str> {
        match self {
            Integrity::Verified => None,
            Integrity::Unauthenticated { reason }
            | Integrity::Tampered { reason }
            | Integrity::KeyUnavailable { reason } => Some(reason),
        }
    }
}

/// What a schema-1 action is told.
pub const UNAUTHENTICATED: &str = "proposed before actions were authenticated; propose it again";

/// A proposed action as stored. Only [`crate::ActionStore`] makes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Action {
    /// `act-` and 12 base32 characters.
    pub id: String,
    /// A cluster patch or a Git change (told by the bound payload).
    pub kind: crate::ActionKind,
    /// The object the change is for (a Git change: the object whose
    /// manifest it edits).
    pub target: Target,
    #[serde(serialize_with = "ser_patch")]
    pub(crate) patch: Vec<u8>,
    /// Hex sha256 of the patch bytes.
    pub patch_sha256: String,
    /// The object's resourceVersion at proposal time (the apply precondition).
    pub resource_version: String,
    pub rationale: String,
    pub proposer: Proposer,
    pub dry_run_result: String,
    /// The YAML diff as computed when it was proposed. Empty when the
    /// action is not [`Integrity::Verified`]: an unauthenticated row's diff
    /// is never shown. What a person approves is computed again at approval
    /// time from the patch bytes (`guardian_core::actions::review`).
    pub diff: String,
    pub policy_decision: String,
    #[serde(serialize_with = "ser_time")]
    pub created: DateTime<Utc>,
    #[serde(serialize_with = "ser_time")]
    pub expires: DateTime<Utc>,
    pub state: State,
    /// Who approved or rejected it.
    pub approver: Option<Approver>,
    /// How the apply ended (`applied-and-healthy: …`, `failed: …`).
    pub outcome: Option<String>,
    /// Every state entered, oldest first (the first is `pending`).
    pub history: Vec<Transition>,
    /// Whether the row is authentic (see [`Integrity`]).
    pub integrity: Integrity,
    /// The object's resourceVersion the write returned, recorded right
    /// after it returned: proof, after a crash, that the write landed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_resource_version: Option<String>,
    /// A Git change's branch, pull request and merge, as they happen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<crate::GitProgress>,
    /// The proposal's MAC (hex), as stored.
    #[serde(skip)]
    pub(crate) mac: Option<String>,
    /// The approval's MAC (hex), as stored.
    #[serde(skip)]
    pub(crate) approval_mac: Option<String>,
}

impl Action {
    /// The patch bytes as stored. For applying, use [`Action::verified_patch`].
    pub fn patch_bytes(&self) -> &[u8] {
        &self.patch
    }

    /// The patch, after checking its bytes against [`Action::patch_sha256`].
    pub fn verified_patch(&self) -> Result<Value, ActionError> {
        let actual = sha256_hex(&self.patch);
        if actual != self.patch_sha256 {
            return Err(ActionError::PatchMismatch {
                id: self.id.clone(),
                expected: self.patch_sha256.clone(),
                actual,
            });
        }
        serde_json::from_slice(&self.patch).map_err(|e| {
            ActionError::InvalidProposal(format!("action {}: stored patch: {e}", self.id))
        })
    }

    /// The Git change this action makes, after checking its bytes against
    /// [`Action::patch_sha256`]; `None` for a cluster patch.
    pub fn verified_git_change(&self) -> Result<Option<crate::GitChange>, ActionError> {
        if self.kind != crate::ActionKind::GitChange {
            return Ok(None);
        }
        let payload = self.verified_patch()?;
        crate::GitChange::from_payload(&payload)
            .map(Some)
            .map_err(|e| ActionError::InvalidProposal(format!("action {}: {e}", self.id)))
    }

    /// What policy sees for the real write (`input.action`): only an action
    /// this process claimed for apply (state `applying`) with a human
    /// approver has one.
    pub fn action_ref(&self) -> Option<guardian_policy::ActionRef> {
        let approver = self.approver.as_ref()?;
        (self.state == State::Applying).then(|| guardian_policy::ActionRef {
            id: self.id.clone(),
            approved: true,
            approver: approver.caller(),
        })
    }

    /// An `applying` action: an apply started and did not record its end;
    /// check the object's [`ACTION_ANNOTATION`] ([`Action::landed_on`])
    /// before anything else.
    pub fn needs_check(&self) -> bool {
        self.state == State::Applying
    }

    /// Whether `object` carries this action's id in [`ACTION_ANNOTATION`].
    pub fn landed_on(&self, object: &Value) -> bool {
        object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(ACTION_ANNOTATION))
            .and_then(Value::as_str)
            == Some(self.id.as_str())
    }

    /// The last transition (the one into the current state).
    pub fn last_transition(&self) -> Option<&Transition> {
        self.history.last()
    }

    /// When it was last claimed for apply (entered `applying`).
    pub fn claimed_at(&self) -> Option<DateTime<Utc>> {
        self.history
            .iter()
            .rev()
            .find(|t| t.state == State::Applying)
            .map(|t| t.at)
    }

    /// When its apply ended (entered a state after `applying`).
    pub fn finished_at(&self) -> Option<DateTime<Utc>> {
        let claim = self
            .history
            .iter()
            .rposition(|t| t.state == State::Applying)?;
        self.history.get(claim + 1).map(|t| t.at)
    }

    /// The error to refuse a decision with when the row is not verified.
    pub(crate) fn integrity_error(&self) -> Option<ActionError> {
        match &self.integrity {
            Integrity::Verified => None,
            Integrity::Unauthenticated { .. } => Some(ActionError::Unauthenticated {
                id: self.id.clone(),
            }),
            Integrity::Tampered { reason } => Some(ActionError::Tampered {
                id: self.id.clone(),
                reason: reason.clone(),
            }),
            Integrity::KeyUnavailable { reason } => Some(ActionError::KeyUnavailable {
                reason: reason.clone(),
            }),
        }
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn ser_time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::clock::format(*t))
}

/// The patch as text (it is JSON, checked at proposal).
fn ser_patch<S: Serializer>(p: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(p))
}
