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
//! - Each action is authenticated with a per-store secret key that is not in
//!   the database ([`KEY_FILE`], or `StoreOptions::key_file`): an HMAC over
//!   its proposal and another over its approval, checked on every read,
//!   approval and claim ([`Integrity`]). A row changed outside Guardian is
//!   failed for good as tampered, never applied.
//! - [`apply()`] is the guarded apply (policy re-checked, resourceVersion
//!   precondition, the [`ACTION_ANNOTATION`] set, rollout watched),
//!   [`preview_write`] is what a person approving is shown (the same bytes,
//!   dry-run now), and [`recover`] settles what a crash left `applying`
//!   from the evidence that survives, without re-applying.

mod apply;
mod clock;
mod error;
mod git;
mod git_apply;
mod id;
mod mac;
mod model;
mod propose;
mod store;

pub use apply::{
    ApplyError, ApplyOptions, ApplyReport, FIELD_MANAGER, INTERRUPTED, Preview, PreviewError,
    RECOVER_GRACE, Recovered, STALE, apply, apply_with, judge, preview_write, recover,
    rollout_status, write_operations,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::ActionError;
pub use git::{ActionKind, GitChange, GitFile, GitOpsApp, GitProgress};
pub use git_apply::{
    FollowError, PullRequestCheck, apply_git, check_pull_request, judge_interrupted,
    title as pull_request_title,
};
pub use id::is_valid as is_valid_id;
pub use mac::KEY_FILE;
pub use model::{
    ACTION_ANNOTATION, Action, ApplyOutcome, Approver, Channel, DEFAULT_TTL, Health, Integrity,
    Proposal, Proposer, State, Target, Transition, UNAUTHENTICATED,
};
pub use propose::{ProposeError, UNPINNED, propose, validate_patch, yaml_diff};
pub use store::{ActionStore, DB_FILE, SCHEMA_VERSION, StoreOptions, default_path};
