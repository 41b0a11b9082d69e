//! Where a skill's `actions.propose` goes: a propose-only interface.
//!
//! The runtime holds a `dyn Proposals`, never the action store: there is no
//! way from a skill, through the runtime, to approve or apply anything
//! (DESIGN.md §4 invariant 1). The session implements it over its store.

use guardian_broker::{Broker, CallContext, ObjectRef};

/// Why a proposal was not stored, as the host tells the skill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposeRefusal {
    /// A broker error class: `invalid`, `denied`, `conflict`, `not-found`,
    /// `unavailable`, `timeout`, `too-large`, `internal`.
    pub kind: String,
    /// For people (and the model): what was refused and what to do.
    pub message: String,
}

/// Stores proposals as pending actions, and nothing else.
#[async_trait::async_trait]
pub trait Proposals: Send + Sync {
    /// Dry-runs `json_patch` (RFC 6902, as JSON text) on `target` through
    /// `broker` as `cx`, and stores it as a pending action a person must
    /// approve; returns the action's id.
    async fn propose(
        &self,
        broker: &Broker,
        cx: &CallContext,
        target: &ObjectRef,
        json_patch: &str,
        rationale: &str,
    ) -> Result<String, ProposeRefusal>;
}
