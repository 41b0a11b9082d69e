//! Errors of the action store, worded for the person who will read them.

use std::path::PathBuf;

use crate::State;
use crate::model::{ACTION_ANNOTATION, UNAUTHENTICATED};

/// Everything the store can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no action {id} in {}", path.display())]
    NotFound { id: String, path: PathBuf },
    #[error("{0:?} is not an action id (ids look like act-k3q7x2m9b4ta)")]
    InvalidId(String),
    /// The action is in a state this operation does not start from.
    #[error("action {id} is {state}; {rule}")]
    InvalidTransition {
        id: String,
        state: State,
        /// `only a pending action can be approved`
        rule: &'static str,
    },
    /// Its TTL passed: it is now `expired` (recorded) and can never be
    /// approved or applied.
    #[error(
        "action {id} expired at {expired_at} while {was}; an expired action cannot be {verb}; propose it again"
    )]
    Expired {
        id: String,
        expired_at: String,
        was: State,
        /// `approved`, `applied`, `rejected`
        verb: &'static str,
    },
    /// Another process (or an earlier run) claimed it for apply.
    #[error(
        "action {id} is already being applied (claimed by {by} at {at}); if that apply did not finish, check the object's {ACTION_ANNOTATION} annotation before doing anything else"
    )]
    AlreadyClaimed { id: String, by: String, at: String },
    /// The stored patch bytes do not hash to the stored sha256.
    #[error(
        "action {id}: the stored patch does not match its sha256 (recorded {expected}, computed {actual}); it will not be applied"
    )]
    PatchMismatch {
        id: String,
        expected: String,
        actual: String,
    },
    /// The row was changed outside Guardian (its MAC does not match, or it
    /// is marked approved without a person's approval): failed for good.
    #[error(
        "action {id} was tampered with: {reason}; it was not approved or applied and is failed for good; propose the change again"
    )]
    Tampered { id: String, reason: String },
    /// A schema-1 action (no MAC): it can never be approved or applied.
    #[error("action {id} was {UNAUTHENTICATED}")]
    Unauthenticated { id: String },
    /// The store's key is missing or wrong: nothing can be proposed,
    /// approved or applied until the right key is back.
    #[error("{reason}")]
    KeyUnavailable { reason: String },
    #[error("invalid proposal: {0}")]
    InvalidProposal(String),
    #[error("invalid approver: {0}")]
    InvalidApprover(String),
    /// The database said no (locked for longer than the busy timeout,
    /// corrupt, not a database, disk full…).
    #[error("action store {}: {message}", path.display())]
    Store { path: PathBuf, message: String },
    #[error(
        "action store {} has schema version {found}, newer than this guardian understands ({supported}); upgrade guardian or use another --state-dir",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("action store {}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error(
        "no data directory for the action store (is HOME set?); pass --state-dir DIR to choose one"
    )]
    NoDataDir,
}
