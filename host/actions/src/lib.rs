//! Proposed actions: the durable approval store and its state machine.
//!
//! A skill can only *propose* a change (DESIGN.md §1). The proposal step
//! dry-runs it through the broker and records it here as a `pending`
//! [`Action`], bound to its exact JSON Patch bytes by their sha256. A person
//! approves or rejects it on a human channel ([`Approver`] takes a
//! [`Channel`]; nothing builds one for a skill, an LLM or the agent loop).
//! The apply step claims an approved action ([`ActionStore::claim_for_apply`],
//! exactly one claimer wins across threads and processes), writes it with a
//! resourceVersion precondition, and records the end
//! ([`ActionStore::finish_apply`]).
//!
//! - Every state change is one SQLite transaction (`BEGIN IMMEDIATE`, WAL)
//!   that re-reads the state, and one `event: "action"` line in the audit log
//!   (DESIGN.md §4 invariant 5).
//! - Actions survive restarts (invariant 6); an action found `applying` on
//!   start is reported by [`ActionStore::needs_check`], never re-applied.
//! - Expiry (TTL, default 24 h) is evaluated on every read and transition,
//!   so an expired action can never be approved or applied.
//! - [`apply()`] is the guarded apply (policy re-checked, resourceVersion
//!   precondition, the [`ACTION_ANNOTATION`] set, rollout watched) and
//!   [`recover`] settles what a crash left `applying`, without re-applying.

mod apply;
mod clock;
mod error;
mod id;
mod model;
mod propose;
mod store;

pub use apply::{
    ApplyError, ApplyOptions, ApplyReport, INTERRUPTED, RECOVER_GRACE, Recovered, STALE, apply,
    apply_with, recover, rollout_status,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::ActionError;
pub use id::is_valid as is_valid_id;
pub use model::{
    ACTION_ANNOTATION, Action, ApplyOutcome, Approver, Channel, DEFAULT_TTL, Health, Proposal,
    Proposer, State, Target, Transition,
};
pub use propose::{ProposeError, UNPINNED, propose, validate_patch, yaml_diff};
pub use store::{ActionStore, DB_FILE, SCHEMA_VERSION, StoreOptions, default_path};
