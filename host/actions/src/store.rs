//! The durable store: SQLite, one transaction per transition.
//!
//! Multi-process safe: the CLI approving while the daemon runs is the normal
//! case. WAL mode, a busy timeout, and `BEGIN IMMEDIATE` for every write, so
//! writers serialize and each transition re-reads the state it checks.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use guardian_broker::{ActionAuditRecord, Audit};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::clock::{self, Clock, SystemClock};
use crate::mac::{self, Key};
use crate::model::{
    Action, ApplyOutcome, Approver, Channel, DEFAULT_TTL, Integrity, Proposal, Proposer, State,
    Target, Transition, UNAUTHENTICATED, sha256_hex,
};
use crate::{ActionError, id};

/// The schema this code writes and reads. 2: actions carry MACs (`mac`,
/// `approval_mac`) and the resourceVersion their write returned
/// (`written_rv`); 3: a Git change's progress (`git_progress`: branch,
/// pull request, merge). Older stores are migrated on open.
pub const SCHEMA_VERSION: i64 = 3;

/// The file name inside the state directory.
pub const DB_FILE: &str = "actions.db";

/// `who` of transitions the store makes itself (expiry).
const SYSTEM: &str = "system:guardian";

/// Bounds on what a proposal may carry (the store is not a blob store).
const MAX_PATCH_BYTES: usize = 1 << 20;
const MAX_TEXT_BYTES: usize = 4 << 20;

const SCHEMA: &str = "
CREATE TABLE actions (
    id               TEXT PRIMARY KEY NOT NULL,
    api_version      TEXT NOT NULL,
    kind             TEXT NOT NULL,
    namespace        TEXT,
    name             TEXT NOT NULL,
    resource         TEXT NOT NULL,
    patch            BLOB NOT NULL,
    patch_sha256     TEXT NOT NULL,
    resource_version TEXT NOT NULL,
    rationale        TEXT NOT NULL,
    proposer_caller  TEXT NOT NULL,
    proposer_skill   TEXT NOT NULL,
    proposer_tool    TEXT NOT NULL,
    dry_run_result   TEXT NOT NULL,
    diff             TEXT NOT NULL,
    policy_decision  TEXT NOT NULL,
    created          TEXT NOT NULL,
    expires          TEXT NOT NULL,
    state            TEXT NOT NULL,
    approver_channel TEXT,
    approver_identity TEXT,
    outcome          TEXT,
    mac              TEXT,
    approval_mac     TEXT,
    written_rv       TEXT,
    git_progress     TEXT
);
CREATE INDEX actions_state ON actions(state);
CREATE TABLE transitions (
    action_id TEXT NOT NULL REFERENCES actions(id),
    seq       INTEGER NOT NULL,
    state     TEXT NOT NULL,
    who       TEXT NOT NULL,
    at        TEXT NOT NULL,
    note      TEXT NOT NULL,
    PRIMARY KEY (action_id, seq)
);
";

const COLUMNS: &str = "id, api_version, kind, namespace, name, resource, patch, patch_sha256, \
    resource_version, rationale, proposer_caller, proposer_skill, proposer_tool, dry_run_result, \
    diff, policy_decision, created, expires, state, approver_channel, approver_identity, outcome, \
    mac, approval_mac, written_rv, git_progress";

/// What schema 1 lacks.
const MIGRATE_1_TO_2: &str = "
ALTER TABLE actions ADD COLUMN mac TEXT;
ALTER TABLE actions ADD COLUMN approval_mac TEXT;
ALTER TABLE actions ADD COLUMN written_rv TEXT;
";

/// What schema 2 lacks.
const MIGRATE_2_TO_3: &str = "
ALTER TABLE actions ADD COLUMN git_progress TEXT;
";

/// How to open a store (defaults: system clock, 24 h TTL, 5 s busy timeout,
/// the key in `action.key` next to the database).
pub struct StoreOptions {
    pub clock: Arc<dyn Clock>,
    /// TTL of proposals that do not set one.
    pub default_ttl: TimeDelta,
    /// How long a write waits for another process's write to finish.
    pub busy_timeout: std::time::Duration,
    /// The secret key that authenticates actions (`--action-key-file`,
    /// `GUARDIAN_ACTION_KEY_FILE`; in a cluster, a mounted Secret). `None`:
    /// [`mac::KEY_FILE`] next to the database, created (32 random bytes,
    /// 0600) with the store.
    pub key_file: Option<PathBuf>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            default_ttl: DEFAULT_TTL,
            busy_timeout: std::time::Duration::from_secs(5),
            key_file: None,
        }
    }
}

/// The store's key, or why there is none usable.
enum KeyState {
    Ready(Key),
    Unavailable(String),
}

/// The durable store of proposed actions and the only way to move one
/// between states. `Send + Sync`; several stores (threads, processes) may
/// have the same file open.
pub struct ActionStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    clock: Arc<dyn Clock>,
    audit: Arc<Audit>,
    default_ttl: TimeDelta,
    key: KeyState,
    key_path: PathBuf,
    notices: Vec<String>,
}

/// A state change decided inside a transaction.
struct Change {
    to: State,
    who: String,
    note: String,
    approver: Option<Approver>,
    outcome: Option<String>,
    /// The approval's MAC, set by an approval.
    approval_mac: Option<String>,
}

impl Change {
    /// pending|approved → failed, because of `error` (tampered,
    /// unauthenticated, stale), recorded under `who`.
    fn fail(a: &Action, who: &str, error: &str) -> Change {
        Change {
            to: State::Failed,
            who: who.to_owned(),
            note: error.to_owned(),
            approver: a.approver.clone(),
            outcome: Some(format!("failed: {error}")),
            approval_mac: None,
        }
    }
}

/// What an operation decides, given the current (unexpired) action.
enum Verdict {
    Go(Change),
    /// Nothing to change; return the action as read.
    Keep,
    Refuse(ActionError),
    /// Record the change, then report the error (a tampered patch is failed
    /// for good and the caller told why).
    ChangeThenRefuse(Change, ActionError),
}

/// An audit line to write once the transaction committed.
struct Audited {
    id: String,
    from: Option<State>,
    to: State,
    who: String,
    at: DateTime<Utc>,
    target: String,
    note: String,
}

/// Where the store lives: `<state_dir>/actions.db`, or by default
/// `<data dir>/guardian/actions.db` (`~/.local/share/guardian/actions.db`).
pub fn default_path(state_dir: Option<&Path>) -> Result<PathBuf, ActionError> {
    match state_dir {
        Some(dir) => Ok(dir.join(DB_FILE)),
        None => dirs::data_dir()
            .map(|d| d.join("guardian").join(DB_FILE))
            .ok_or(ActionError::NoDataDir),
    }
}

impl ActionStore {
    /// Opens (creating if needed) the store at `path` with default options.
    pub fn open(path: &Path, audit: Arc<Audit>) -> Result<Self, ActionError> {
        Self::open_with(path, audit, StoreOptions::default())
    }

    /// Opens the store at [`default_path`]`(state_dir)`.
    pub fn open_default(state_dir: Option<&Path>, audit: Arc<Audit>) -> Result<Self, ActionError> {
        Self::open(&default_path(state_dir)?, audit)
    }

    /// Opens the store at [`default_path`]`(state_dir)` with `options`.
    pub fn open_default_with(
        state_dir: Option<&Path>,
        audit: Arc<Audit>,
        options: StoreOptions,
    ) -> Result<Self, ActionError> {
        Self::open_with(&default_path(state_dir)?, audit, options)
    }

    /// Opens (creating if needed) the store at `path`. Its directory is
    /// created 0700 and the file 0600; an existing directory others can
    /// read is made 0700 (said in [`ActionStore::notices`]); one another
    /// user owns or can write is refused, and so is a schema newer than
    /// [`SCHEMA_VERSION`] (schema 1 is migrated).
    ///
    /// The key that authenticates actions is read from
    /// [`StoreOptions::key_file`] (default `action.key` next to the
    /// database, created with the store). A key that is missing while the
    /// store's actions were made with one, or that is not the key they were
    /// made with, does not stop the store from opening: reads work and flag
    /// every action, and proposing, approving and applying are refused with
    /// [`ActionError::KeyUnavailable`] ([`ActionStore::key_problem`]).
    pub fn open_with(
        path: &Path,
        audit: Arc<Audit>,
        options: StoreOptions,
    ) -> Result<Self, ActionError> {
        let mut notices = Vec::new();
        prepare_files(path, &mut notices)?;
        let db = |e: rusqlite::Error| store_error(path, e);
        let mut conn = Connection::open(path).map_err(db)?;
        conn.busy_timeout(options.busy_timeout).map_err(db)?;
        // WAL: readers never block the writer; FULL: a committed approval
        // survives a power cut, not only a crash.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(db)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "action store is not in WAL mode");
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        init_schema(&mut conn, path, &mut notices)?;
        let key_path = mac::key_path(path, options.key_file.as_deref());
        let key = open_key(&conn, path, &key_path, &mut notices)?;
        // Said by the front ends (stderr); logged here for the record.
        for n in &notices {
            tracing::info!(store = %path.display(), "{n}");
        }
        if let KeyState::Unavailable(why) = &key {
            tracing::info!(store = %path.display(), "{why}");
        }
        Ok(Self {
            path: path.to_owned(),
            conn: Mutex::new(conn),
            clock: options.clock,
            audit,
            default_ttl: options.default_ttl,
            key,
            key_path,
            notices,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key file that authenticates this store's actions.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    /// What opening did that a person should hear about once: a state
    /// directory made private, a key created or made private, a store
    /// migrated. Front ends print them on stderr.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// Why no action can be proposed, approved or applied (the key is
    /// missing or wrong), if so.
    pub fn key_problem(&self) -> Option<&str> {
        match &self.key {
            KeyState::Ready(_) => None,
            KeyState::Unavailable(why) => Some(why),
        }
    }

    fn key(&self) -> Result<&Key, ActionError> {
        match &self.key {
            KeyState::Ready(k) => Ok(k),
            KeyState::Unavailable(why) => Err(ActionError::KeyUnavailable {
                reason: why.clone(),
            }),
        }
    }

    /// Records a new `pending` action (audited as `proposed`). The patch
    /// must be a JSON array of operations; the resourceVersion, target and
    /// rationale must be set.
    pub fn propose(&self, proposal: Proposal) -> Result<Action, ActionError> {
        let mut p = proposal;
        validate(&mut p)?;
        let key = self.key()?.clone();
        let ttl = p.ttl.unwrap_or(self.default_ttl);
        let now = clock::now_micros(self.clock.as_ref());
        let expires = now + ttl;
        let who = p.proposer.label();
        let note = format!("proposed; expires {}", clock::format(expires));
        let mut action = Action {
            id: String::new(),
            kind: crate::ActionKind::of(&p.patch),
            patch_sha256: sha256_hex(&p.patch),
            patch: p.patch,
            target: p.target,
            resource_version: p.resource_version,
            rationale: p.rationale,
            proposer: p.proposer,
            dry_run_result: p.dry_run_result,
            diff: p.diff,
            policy_decision: p.policy_decision,
            created: now,
            expires,
            state: State::Pending,
            approver: None,
            outcome: None,
            history: vec![Transition {
                state: State::Pending,
                who: who.clone(),
                at: now,
                note: note.clone(),
            }],
            integrity: Integrity::Verified,
            written_resource_version: None,
            git: None,
            mac: None,
            approval_mac: None,
        };
        let mut conn = self.lock();
        let db = |e: rusqlite::Error| store_error(&self.path, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        // 60 random bits: a clash is next to impossible, but cheap to retry.
        let mut attempts = 0;
        loop {
            action.id = id::generate().map_err(|e| ActionError::Io {
                path: self.path.clone(),
                message: format!("cannot get random bytes for an action id: {e}"),
            })?;
            let taken: bool = tx
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM actions WHERE id = ?1)",
                    [&action.id],
                    |r| r.get(0),
                )
                .map_err(db)?;
            attempts += 1;
            if !taken {
                action.mac = Some(key.proposal_mac(&action));
                break;
            }
            if attempts >= 5 {
                return Err(ActionError::Io {
                    path: self.path.clone(),
                    message: "cannot find a free action id".into(),
                });
            }
        }
        let a = &action;
        tx.execute(
            &format!(
                "INSERT INTO actions ({COLUMNS}) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, NULL, NULL, NULL, ?20, NULL, NULL, NULL)"
            ),
            params![
                a.id,
                a.target.api_version,
                a.target.kind,
                a.target.namespace,
                a.target.name,
                a.target.resource,
                a.patch,
                a.patch_sha256,
                a.resource_version,
                a.rationale,
                a.proposer.caller,
                a.proposer.skill,
                a.proposer.tool,
                a.dry_run_result,
                a.diff,
                a.policy_decision,
                clock::format(a.created),
                clock::format(a.expires),
                a.state.as_str(),
                a.mac,
            ],
        )
        .map_err(db)?;
        insert_transition(&tx, &a.id, 0, &a.history[0]).map_err(db)?;
        tx.commit().map_err(db)?;
        drop(conn);
        self.write_audit(&[Audited {
            id: action.id.clone(),
            from: None,
            to: State::Pending,
            who,
            at: now,
            target: action.target.label(),
            note,
        }]);
        Ok(action)
    }

    /// One action. A `pending` or `approved` action whose TTL passed is
    /// moved to `expired` (and audited) first.
    pub fn get(&self, id: &str) -> Result<Action, ActionError> {
        check_id(id)?;
        let action = {
            let conn = self.lock();
            load(&conn, id, &self.key)
                .map_err(|e| store_error(&self.path, e))?
                .ok_or_else(|| self.not_found(id))?
        };
        if self.due(&action) {
            return self.expire(id);
        }
        Ok(action)
    }

    /// Every action (or those in `state`), newest first, expiring the due
    /// ones first.
    pub fn list(&self, state: Option<State>) -> Result<Vec<Action>, ActionError> {
        let db = |e: rusqlite::Error| store_error(&self.path, e);
        let rows: Vec<(String, String, String)> = {
            let conn = self.lock();
            let mut stmt = conn
                .prepare("SELECT id, state, expires FROM actions ORDER BY created DESC, id")
                .map_err(db)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)?
        };
        let now = self.clock.now();
        let mut out = Vec::new();
        for (id, st, expires) in rows {
            let st = State::parse(&st);
            let due = st.is_some_and(State::can_expire)
                && clock::parse(&expires).is_some_and(|e| now >= e);
            let could_match = match state {
                None => true,
                Some(State::Expired) => due || st == Some(State::Expired),
                Some(want) => !due && st == Some(want),
            };
            if !could_match {
                continue;
            }
            // Reread (or expire) each: another process may have moved it.
            let action = if due {
                self.expire(&id)?
            } else {
                let conn = self.lock();
                match load(&conn, &id, &self.key).map_err(db)? {
                    Some(a) => a,
                    None => continue,
                }
            };
            if state.is_none_or(|s| action.state == s) {
                out.push(action);
            }
        }
        Ok(out)
    }

    /// The actions left `applying`: an apply started and never recorded its
    /// end (a crash, a kill). Do not re-apply them: check the object's
    /// [`crate::ACTION_ANNOTATION`] ([`Action::landed_on`]) and record what
    /// happened with [`ActionStore::finish_apply`].
    pub fn needs_check(&self) -> Result<Vec<Action>, ActionError> {
        self.list(Some(State::Applying))
    }

    /// pending → approved, by a person on a human channel. The proposal's
    /// MAC is checked first: a tampered or unauthenticated action is failed
    /// for good ([`ActionError::Tampered`], [`ActionError::Unauthenticated`]);
    /// without the right key nothing changes
    /// ([`ActionError::KeyUnavailable`]). The approval gets its own MAC,
    /// binding this person to this proposal.
    pub fn approve(
        &self,
        id: &str,
        approver: &Approver,
        note: &str,
    ) -> Result<Action, ActionError> {
        self.transition(id, "approved", |a| match a.state {
            State::Pending => {
                if let Some(refusal) = refuse_unverified(a, &approver.label()) {
                    return refusal;
                }
                let (Ok(key), Some(proposal_mac)) = (self.key(), a.mac.as_deref()) else {
                    // Unreachable: a verified action has a MAC and a key.
                    return Verdict::Refuse(ActionError::Unauthenticated { id: a.id.clone() });
                };
                Verdict::Go(Change {
                    to: State::Approved,
                    who: approver.label(),
                    note: note_or(note, "approved"),
                    approver: Some(approver.clone()),
                    outcome: None,
                    approval_mac: Some(key.approval_mac(&a.id, approver, proposal_mac)),
                })
            }
            state => Verdict::Refuse(ActionError::InvalidTransition {
                id: a.id.clone(),
                state,
                rule: "only a pending action can be approved",
            }),
        })
    }

    /// pending → rejected, by a person on a human channel.
    pub fn reject(
        &self,
        id: &str,
        approver: &Approver,
        reason: &str,
    ) -> Result<Action, ActionError> {
        self.transition(id, "rejected", |a| match a.state {
            State::Pending => Verdict::Go(Change {
                to: State::Rejected,
                who: approver.label(),
                note: note_or(reason, "rejected"),
                approver: Some(approver.clone()),
                outcome: None,
                approval_mac: None,
            }),
            state => Verdict::Refuse(ActionError::InvalidTransition {
                id: a.id.clone(),
                state,
                rule: "only a pending action can be rejected",
            }),
        })
    }

    /// approved → applying, atomically: exactly one caller (thread or
    /// process) gets the action back; the others get
    /// [`ActionError::AlreadyClaimed`]. The proposal's and the approval's
    /// MACs are checked first (a row edited to `approved` without a person,
    /// or with another patch, is failed for good: [`ActionError::Tampered`]),
    /// then the patch bytes against their sha256
    /// ([`ActionError::PatchMismatch`]). `who` is the process applying
    /// (`system:guardian`, `human:alice`).
    ///
    /// The returned action's [`Action::action_ref`] is what policy must see
    /// for the real write.
    pub fn claim_for_apply(&self, id: &str, who: &str) -> Result<Action, ActionError> {
        self.transition(id, "applied", |a| match a.state {
            State::Approved if !a.integrity.is_verified() => refuse_unverified(a, who)
                .unwrap_or_else(|| {
                    Verdict::Refuse(ActionError::Unauthenticated { id: a.id.clone() })
                }),
            State::Approved => match a.verified_patch() {
                Ok(_) => Verdict::Go(Change {
                    to: State::Applying,
                    who: who.to_owned(),
                    note: "apply started".into(),
                    approver: a.approver.clone(),
                    outcome: None,
                    approval_mac: None,
                }),
                Err(e) => Verdict::ChangeThenRefuse(
                    Change {
                        to: State::Failed,
                        who: who.to_owned(),
                        note: e.to_string(),
                        approver: a.approver.clone(),
                        outcome: Some(format!("failed: {e}")),
                        approval_mac: None,
                    },
                    e,
                ),
            },
            State::Applying => {
                let (by, at) = a
                    .last_transition()
                    .map(|t| (t.who.clone(), clock::format(t.at)))
                    .unwrap_or_default();
                Verdict::Refuse(ActionError::AlreadyClaimed {
                    id: a.id.clone(),
                    by,
                    at,
                })
            }
            State::Pending => Verdict::Refuse(ActionError::InvalidTransition {
                id: a.id.clone(),
                state: State::Pending,
                rule: "only an approved action can be applied; a person must approve it first",
            }),
            state => Verdict::Refuse(ActionError::InvalidTransition {
                id: a.id.clone(),
                state,
                rule: "only an approved action can be applied",
            }),
        })
    }

    /// applying → applied, failed or unknown, with what happened. Recorded
    /// as done by whoever claimed it.
    pub fn finish_apply(&self, id: &str, outcome: ApplyOutcome) -> Result<Action, ActionError> {
        self.transition(id, "finished", |a| match a.state {
            State::Applying => {
                let who = a
                    .last_transition()
                    .map(|t| t.who.clone())
                    .unwrap_or_else(|| SYSTEM.to_owned());
                let summary = outcome.summary();
                Verdict::Go(Change {
                    to: match outcome {
                        ApplyOutcome::Submitted { .. }
                            if a.kind != crate::ActionKind::GitChange =>
                        {
                            return Verdict::Refuse(ActionError::InvalidTransition {
                                id: a.id.clone(),
                                state: a.state,
                                rule: "only a Git change is submitted (a pull request opened)",
                            });
                        }
                        ApplyOutcome::Submitted { .. } => State::Submitted,
                        ApplyOutcome::Applied { .. } => State::Applied,
                        ApplyOutcome::Failed { .. } => State::Failed,
                        ApplyOutcome::Unknown { .. } => State::Unknown,
                    },
                    who,
                    note: summary.clone(),
                    approver: a.approver.clone(),
                    outcome: Some(summary),
                    approval_mac: None,
                })
            }
            state => Verdict::Refuse(ActionError::InvalidTransition {
                id: a.id.clone(),
                state,
                rule: "only an applying action (claimed with claim_for_apply) can be finished",
            }),
        })
    }

    /// Checks, in a transaction, that `id` may lead to a decision: a
    /// pending or approved action whose row is tampered with or
    /// unauthenticated is failed for good (recorded under `who`, audited)
    /// and refused; without the right key it is refused and left as it is.
    /// Returns the action, verified.
    pub fn verify(&self, id: &str, who: &str) -> Result<Action, ActionError> {
        self.transition(id, "approved", |a| match a.state {
            State::Pending | State::Approved => refuse_unverified(a, who).unwrap_or(Verdict::Keep),
            _ => match a.integrity_error() {
                Some(e) => Verdict::Refuse(e),
                None => Verdict::Keep,
            },
        })
    }

    /// pending|approved → failed: the action can never be applied as
    /// proposed (its object changed since: `reason` says how). `who` is
    /// the person (or process) that found it.
    pub fn fail_unapplied(&self, id: &str, who: &str, reason: &str) -> Result<Action, ActionError> {
        self.transition(id, "approved", |a| match a.state {
            State::Pending | State::Approved => Verdict::Go(Change::fail(a, who, reason)),
            state => Verdict::Refuse(ActionError::InvalidTransition {
                id: a.id.clone(),
                state,
                rule: "only a pending or approved action can be failed before its apply",
            }),
        })
    }

    /// Records the resourceVersion the write of an `applying` action
    /// returned, right after it returned: if the process dies before it
    /// records the end, this says the write landed. Not a state change.
    pub fn record_written(&self, id: &str, resource_version: &str) -> Result<(), ActionError> {
        check_id(id)?;
        let conn = self.lock();
        let n = conn
            .execute(
                "UPDATE actions SET written_rv = ?1 WHERE id = ?2 AND state = 'applying'",
                params![resource_version, id],
            )
            .map_err(|e| store_error(&self.path, e))?;
        if n == 1 {
            Ok(())
        } else {
            Err(ActionError::InvalidTransition {
                id: id.to_owned(),
                state: load(&conn, id, &self.key)
                    .map_err(|e| store_error(&self.path, e))?
                    .ok_or_else(|| self.not_found(id))?
                    .state,
                rule: "only an applying action's write can be recorded",
            })
        }
    }

    /// Records what applying a Git change has done so far (the pushed
    /// branch and commit, the pull request, the merge commit, the sync
    /// action), right after it happened: after a crash it tells what exists
    /// in Git. Only for a Git change that is `applying` or `submitted`. Not a
    /// state change; audited as a note.
    pub fn record_git(
        &self,
        id: &str,
        progress: &crate::GitProgress,
    ) -> Result<Action, ActionError> {
        check_id(id)?;
        let text = serde_json::to_string(progress).map_err(|e| ActionError::Store {
            path: self.path.clone(),
            message: format!("cannot record the Git progress: {e}"),
        })?;
        let action = {
            let conn = self.lock();
            let db = |e: rusqlite::Error| store_error(&self.path, e);
            let current = load(&conn, id, &self.key)
                .map_err(db)?
                .ok_or_else(|| self.not_found(id))?;
            if current.kind != crate::ActionKind::GitChange
                || !matches!(current.state, State::Applying | State::Submitted)
            {
                return Err(ActionError::InvalidTransition {
                    id: id.to_owned(),
                    state: current.state,
                    rule: "only an applying or submitted Git change records Git progress",
                });
            }
            conn.execute(
                "UPDATE actions SET git_progress = ?1 WHERE id = ?2 AND state IN ('applying', 'submitted')",
                params![text, id],
            )
            .map_err(db)?;
            load(&conn, id, &self.key)
                .map_err(db)?
                .ok_or_else(|| self.not_found(id))?
        };
        let mut noted = Vec::new();
        if let Some(b) = &progress.branch {
            noted.push(format!("branch {b}"));
        }
        if let Some(c) = &progress.commit {
            noted.push(format!("commit {c}"));
        }
        if let Some(u) = &progress.pull_request_url {
            noted.push(format!("pull request {u}"));
        }
        if let Some(m) = &progress.merge_commit {
            noted.push(format!("merged as {m}"));
        }
        if let Some(s) = &progress.sync_action {
            noted.push(format!("sync proposed as {s}"));
        }
        let now = clock::now_micros(self.clock.as_ref());
        self.write_audit(&[Audited {
            id: action.id.clone(),
            from: Some(action.state),
            to: action.state,
            who: SYSTEM.to_owned(),
            at: now,
            target: action.target.label(),
            note: format!("git: {}", noted.join(", ")),
        }]);
        Ok(action)
    }

    /// submitted → applied, failed or unknown: the pull request was merged
    /// (and the change synced and verified), closed without a merge, or its
    /// fate cannot be told. `who` is the process or person that found out.
    pub fn settle_submitted(
        &self,
        id: &str,
        who: &str,
        outcome: ApplyOutcome,
    ) -> Result<Action, ActionError> {
        self.transition(id, "settled", |a| match (a.state, &outcome) {
            (State::Submitted, ApplyOutcome::Submitted { .. }) => Verdict::Keep,
            (State::Submitted, _) => {
                let summary = outcome.summary();
                Verdict::Go(Change {
                    to: match outcome {
                        ApplyOutcome::Applied { .. } => State::Applied,
                        ApplyOutcome::Failed { .. } => State::Failed,
                        _ => State::Unknown,
                    },
                    who: who.to_owned(),
                    note: summary.clone(),
                    approver: a.approver.clone(),
                    outcome: Some(summary),
                    approval_mac: None,
                })
            }
            (state, _) => Verdict::Refuse(ActionError::InvalidTransition {
                id: a.id.clone(),
                state,
                rule: "only a submitted Git change (its pull request open) can be settled",
            }),
        })
    }

    /// pending|approved → expired, if its TTL passed; returns it as it now is.
    fn expire(&self, id: &str) -> Result<Action, ActionError> {
        match self.transition(id, "read", |a| {
            Verdict::Refuse(ActionError::InvalidTransition {
                id: a.id.clone(),
                state: a.state,
                rule: "it is not due to expire",
            })
        }) {
            Err(ActionError::Expired { .. }) | Err(ActionError::InvalidTransition { .. }) => {
                let conn = self.lock();
                load(&conn, id, &self.key)
                    .map_err(|e| store_error(&self.path, e))?
                    .ok_or_else(|| self.not_found(id))
            }
            other => other,
        }
    }

    /// One transition in one `BEGIN IMMEDIATE` transaction: re-read the
    /// action, expire it if its TTL passed (then refuse), else ask `decide`.
    fn transition<F>(&self, id: &str, verb: &'static str, decide: F) -> Result<Action, ActionError>
    where
        F: FnOnce(&Action) -> Verdict,
    {
        check_id(id)?;
        let db = |e: rusqlite::Error| store_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let mut action = load(&tx, id, &self.key)
            .map_err(db)?
            .ok_or_else(|| self.not_found(id))?;
        let now = clock::now_micros(self.clock.as_ref());
        let (change, error) = if action.state.can_expire() && now >= action.expires {
            let was = action.state;
            let change = Change {
                to: State::Expired,
                who: SYSTEM.to_owned(),
                note: format!("TTL passed at {}", clock::format(action.expires)),
                approver: action.approver.clone(),
                outcome: None,
                approval_mac: None,
            };
            let error = ActionError::Expired {
                id: action.id.clone(),
                expired_at: clock::format(action.expires),
                was,
                verb,
            };
            (Some(change), Some(error))
        } else {
            match decide(&action) {
                Verdict::Go(c) => (Some(c), None),
                Verdict::Keep => (None, None),
                Verdict::Refuse(e) => (None, Some(e)),
                Verdict::ChangeThenRefuse(c, e) => (Some(c), Some(e)),
            }
        };
        let mut audited = Vec::new();
        if let Some(change) = change {
            let from = action.state;
            apply_change(&tx, &mut action, &change, now).map_err(db)?;
            tx.commit().map_err(db)?;
            audited.push(Audited {
                id: action.id.clone(),
                from: Some(from),
                to: change.to,
                who: change.who,
                at: now,
                target: action.target.label(),
                note: change.note,
            });
        } else {
            drop(tx);
        }
        drop(conn);
        self.write_audit(&audited);
        match error {
            Some(e) => Err(e),
            None => Ok(action),
        }
    }

    fn due(&self, a: &Action) -> bool {
        a.state.can_expire() && self.clock.now() >= a.expires
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn not_found(&self, id: &str) -> ActionError {
        ActionError::NotFound {
            id: id.to_owned(),
            path: self.path.clone(),
        }
    }

    fn write_audit(&self, records: &[Audited]) {
        for r in records {
            self.audit.record_action(&ActionAuditRecord::new(
                clock::format(r.at),
                &r.id,
                r.from.map(State::as_str),
                r.to.as_str(),
                &r.who,
                &r.target,
                &r.note,
            ));
        }
    }
}

/// For a row that is not verified: fail it for good (tampered,
/// unauthenticated) or refuse without a change (no usable key). `None` when
/// it is verified.
fn refuse_unverified(a: &Action, who: &str) -> Option<Verdict> {
    let error = a.integrity_error()?;
    Some(match &error {
        ActionError::KeyUnavailable { .. } => Verdict::Refuse(error),
        ActionError::Tampered { reason, .. } => {
            let change = Change::fail(a, who, &format!("tampered: {reason}"));
            Verdict::ChangeThenRefuse(change, error)
        }
        _ => {
            let change = Change::fail(a, who, UNAUTHENTICATED);
            Verdict::ChangeThenRefuse(change, error)
        }
    })
}

fn note_or(note: &str, default: &str) -> String {
    let note = note.trim();
    if note.is_empty() {
        default.to_owned()
    } else {
        note.to_owned()
    }
}

fn check_id(id: &str) -> Result<(), ActionError> {
    if id::is_valid(id) {
        Ok(())
    } else {
        Err(ActionError::InvalidId(id.to_owned()))
    }
}

fn store_error(path: &Path, e: rusqlite::Error) -> ActionError {
    let message = match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            format!(
                "{e} (another guardian process held the store longer than the busy timeout; try again)"
            )
        }
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
            format!(
                "{e} (the file is not an action store; move it away or use another --state-dir)"
            )
        }
        _ => e.to_string(),
    };
    ActionError::Store {
        path: path.to_owned(),
        message,
    }
}

/// Checks and fills a proposal before it is stored.
fn validate(p: &mut Proposal) -> Result<(), ActionError> {
    let bad = |m: String| Err(ActionError::InvalidProposal(m));
    let t = &mut p.target;
    for (field, value) in [
        ("target apiVersion", &t.api_version),
        ("target kind", &t.kind),
        ("target name", &t.name),
        ("target resource", &t.resource),
    ] {
        if value.trim().is_empty() {
            return bad(format!("{field} is empty"));
        }
    }
    if t.namespace.as_deref().is_some_and(str::is_empty) {
        t.namespace = None;
    }
    if p.resource_version.trim().is_empty() {
        return bad(format!(
            "no resourceVersion for {}: the apply needs it as a precondition",
            t.label()
        ));
    }
    if p.rationale.trim().is_empty() {
        return bad("the rationale is empty: say why the change is needed".into());
    }
    if p.proposer.caller.trim().is_empty() {
        return bad("the proposer's caller is empty".into());
    }
    if p.patch.len() > MAX_PATCH_BYTES {
        return bad(format!(
            "the patch is {} bytes; at most {MAX_PATCH_BYTES} are accepted",
            p.patch.len()
        ));
    }
    let patch: serde_json::Value = match serde_json::from_slice(&p.patch) {
        Ok(v) => v,
        Err(e) => return bad(format!("the patch is not JSON: {e}")),
    };
    if patch.get("git").is_some() {
        if let Err(e) = crate::GitChange::from_payload(&patch) {
            return bad(e);
        }
        return check_texts(p);
    }
    let ops = match patch.as_array() {
        Some(ops) if !ops.is_empty() => ops,
        Some(_) => return bad("the patch has no operations".into()),
        None => return bad("the patch is not a JSON Patch array (RFC 6902)".into()),
    };
    for (i, op) in ops.iter().enumerate() {
        if op.get("op").and_then(|o| o.as_str()).is_none()
            || op.get("path").and_then(|o| o.as_str()).is_none()
        {
            return bad(format!(
                "patch operation {i} lacks a string `op` or `path`: {op}"
            ));
        }
    }
    check_texts(p)
}

fn check_texts(p: &Proposal) -> Result<(), ActionError> {
    let bad = |m: String| Err(ActionError::InvalidProposal(m));
    for (field, value) in [
        ("dry-run result", &p.dry_run_result),
        ("diff", &p.diff),
        ("rationale", &p.rationale),
        ("policy decision", &p.policy_decision),
    ] {
        if value.len() > MAX_TEXT_BYTES {
            return bad(format!("the {field} is longer than {MAX_TEXT_BYTES} bytes"));
        }
    }
    if let Some(ttl) = p.ttl
        && ttl <= TimeDelta::zero()
    {
        return bad(format!("the TTL must be positive, not {ttl}"));
    }
    Ok(())
}

/// Creates the directory (0700) and the file (0600) before SQLite opens it:
/// SQLite gives its -wal and -shm files the database file's mode. An
/// existing directory others can read (0755) is made 0700, and `notices`
/// says so; one that cannot be is refused.
fn prepare_files(path: &Path, notices: &mut Vec<String>) -> Result<(), ActionError> {
    let io = |what: &str, p: &Path, e: std::io::Error| ActionError::Io {
        path: p.to_owned(),
        message: format!("cannot {what}: {e}"),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| io("create the directory", &dir, e))?;
        }
        let me = fs::metadata("/proc/self").map(|m| m.uid()).ok();
        let meta = fs::metadata(&dir).map_err(|e| io("read the directory", &dir, e))?;
        if !meta.is_dir() {
            return Err(io(
                "use it as the state directory",
                &dir,
                std::io::Error::other("not a directory"),
            ));
        }
        if me.is_some_and(|uid| uid != meta.uid()) {
            return Err(ActionError::Io {
                path: dir,
                message: format!(
                    "the state directory is owned by uid {}, not by this process; use --state-dir with a directory you own",
                    meta.uid()
                ),
            });
        }
        if meta.mode() & 0o022 != 0 && meta.mode() & 0o1000 == 0 {
            return Err(ActionError::Io {
                path: dir,
                message: "the state directory is writable by other users, who could replace the action store; use --state-dir with a directory only you can write".into(),
            });
        }
        // Readable or searchable by others (0755, 0750): what it holds is
        // private (the actions, the key that authenticates them). A shared
        // sticky directory (/tmp) is left alone.
        if meta.mode() & 0o077 != 0 && meta.mode() & 0o1000 == 0 {
            let was = meta.mode() & 0o7777;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(|e| {
                ActionError::Io {
                    path: dir.clone(),
                    message: format!(
                        "the state directory is open to other users (mode {was:04o}) and cannot be made private ({e}); chmod 700 it, or use --state-dir with a directory only you can read"
                    ),
                }
            })?;
            let msg = format!(
                "the state directory {} was open to other users (mode {was:04o}); made it 0700",
                dir.display()
            );
            notices.push(msg);
        }
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| io("open", path, e))?;
        let meta = file.metadata().map_err(|e| io("read", path, e))?;
        if me.is_some_and(|uid| uid != meta.uid()) {
            return Err(ActionError::Io {
                path: path.to_owned(),
                message: format!(
                    "the action store is owned by uid {}, not by this process",
                    meta.uid()
                ),
            });
        }
        if meta.mode() & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                .map_err(|e| io("make the action store private", path, e))?;
        }
    }
    #[cfg(not(unix))]
    fs::create_dir_all(&dir).map_err(|e| io("create the directory", &dir, e))?;
    Ok(())
}

/// Creates the schema in a new store; checks the version of an existing
/// one, migrating schema 1 (`notices` says so).
fn init_schema(
    conn: &mut Connection,
    path: &Path,
    notices: &mut Vec<String>,
) -> Result<(), ActionError> {
    let db = |e: rusqlite::Error| store_error(path, e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);",
    )
    .map_err(db)?;
    let version: Option<String> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    match version {
        None => {
            tx.execute_batch(SCHEMA).map_err(db)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                [SCHEMA_VERSION.to_string()],
            )
            .map_err(db)?;
        }
        Some(v) => match v.trim().parse::<i64>() {
            Ok(SCHEMA_VERSION) => {}
            Ok(2) => {
                tx.execute_batch(MIGRATE_2_TO_3).map_err(db)?;
                tx.execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                    [SCHEMA_VERSION.to_string()],
                )
                .map_err(db)?;
            }
            Ok(1) => {
                tx.execute_batch(MIGRATE_1_TO_2).map_err(db)?;
                tx.execute_batch(MIGRATE_2_TO_3).map_err(db)?;
                tx.execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                    [SCHEMA_VERSION.to_string()],
                )
                .map_err(db)?;
                notices.push(format!(
                    "migrated the action store {} to schema {SCHEMA_VERSION}: actions are now authenticated; the ones proposed before cannot be approved (propose them again)",
                    path.display()
                ));
            }
            Ok(found) if found > SCHEMA_VERSION => {
                return Err(ActionError::SchemaTooNew {
                    path: path.to_owned(),
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            _ => {
                return Err(ActionError::Store {
                    path: path.to_owned(),
                    message: format!(
                        "unknown schema version {v:?} (this guardian writes {SCHEMA_VERSION})"
                    ),
                });
            }
        },
    }
    tx.commit().map_err(db)
}

/// The store's key: read from `key_path`, or created there when the store
/// has never had one. The store remembers a check value of its key (in
/// `meta`, not the key), so a missing or replaced key is told apart from a
/// new store.
fn open_key(
    conn: &Connection,
    db: &Path,
    key_path: &Path,
    notices: &mut Vec<String>,
) -> Result<KeyState, ActionError> {
    let sql = |e: rusqlite::Error| store_error(db, e);
    let read_check = || -> Result<Option<String>, ActionError> {
        conn.query_row("SELECT value FROM meta WHERE key = 'key_check'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sql)
    };
    let check = read_check()?;
    let restore = format!(
        "restore it, or point --action-key-file (GUARDIAN_ACTION_KEY_FILE) at it; to start a new store instead, move {} away. Until then no action can be proposed, approved or applied",
        db.display()
    );
    let key = match mac::read(key_path, notices) {
        Ok(mac::Loaded::Key(k)) => k,
        Ok(mac::Loaded::Missing) if check.is_none() => match mac::create(key_path, notices) {
            Ok(k) => k,
            Err(e) => return Ok(KeyState::Unavailable(e.to_string())),
        },
        Ok(mac::Loaded::Missing) => {
            return Ok(KeyState::Unavailable(format!(
                "the action key {} is missing, but this store's actions were authenticated with a key: {restore}",
                key_path.display()
            )));
        }
        Err(e) => return Ok(KeyState::Unavailable(e.to_string())),
    };
    let mine = key.check_value();
    let check = match check {
        Some(c) => c,
        None => {
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('key_check', ?1)",
                [&mine],
            )
            .map_err(sql)?;
            read_check()?.unwrap_or_default()
        }
    };
    if mac::same_tag(&check, &mine) {
        Ok(KeyState::Ready(key))
    } else {
        Ok(KeyState::Unavailable(format!(
            "the action key {} is not the key this store's actions were authenticated with (it was replaced): {restore}",
            key_path.display()
        )))
    }
}

fn insert_transition(
    conn: &Connection,
    id: &str,
    seq: usize,
    t: &Transition,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO transitions (action_id, seq, state, who, at, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, seq as i64, t.state.as_str(), t.who, clock::format(t.at), t.note],
    )?;
    Ok(())
}

/// Writes `change` (the row, guarded by the state it was read in, and a
/// history entry) and updates `action` to match.
fn apply_change(
    conn: &Connection,
    action: &mut Action,
    change: &Change,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let (channel, identity) = match &change.approver {
        Some(a) => (Some(a.channel().as_str()), Some(a.identity().to_owned())),
        None => (None, None),
    };
    let updated = conn.execute(
        "UPDATE actions SET state = ?1, approver_channel = ?2, approver_identity = ?3, \
         outcome = COALESCE(?4, outcome), approval_mac = COALESCE(?5, approval_mac) \
         WHERE id = ?6 AND state = ?7",
        params![
            change.to.as_str(),
            channel,
            identity,
            change.outcome,
            change.approval_mac,
            action.id,
            action.state.as_str()
        ],
    )?;
    if updated != 1 {
        // Unreachable under BEGIN IMMEDIATE (the row was read in this
        // transaction); refuse rather than write history for nothing.
        return Err(rusqlite::Error::StatementChangedRows(updated));
    }
    let t = Transition {
        state: change.to,
        who: change.who.clone(),
        at: now,
        note: change.note.clone(),
    };
    insert_transition(conn, &action.id, action.history.len(), &t)?;
    action.state = change.to;
    action.approver = change.approver.clone();
    if change.outcome.is_some() {
        action.outcome = change.outcome.clone();
    }
    if change.approval_mac.is_some() {
        action.approval_mac = change.approval_mac.clone();
    }
    action.history.push(t);
    Ok(())
}

/// Whether `a`'s row is the one Guardian wrote (see [`Integrity`]).
fn integrity(a: &Action, key: &KeyState) -> Integrity {
    let Some(stored) = a.mac.as_deref() else {
        return Integrity::Unauthenticated {
            reason: UNAUTHENTICATED.into(),
        };
    };
    let key = match key {
        KeyState::Ready(k) => k,
        KeyState::Unavailable(why) => {
            return Integrity::KeyUnavailable {
                reason: why.clone(),
            };
        }
    };
    if !mac::same_tag(stored, &key.proposal_mac(a)) {
        return Integrity::Tampered {
            reason: "the stored proposal (its patch, target, resourceVersion, texts or times) does not match its MAC: it was changed outside Guardian".into(),
        };
    }
    if matches!(
        a.state,
        State::Approved | State::Applying | State::Submitted
    ) {
        let approved = match (&a.approver, a.approval_mac.as_deref()) {
            (Some(who), Some(tag)) => mac::same_tag(tag, &key.approval_mac(&a.id, who, stored)),
            _ => false,
        };
        if !approved {
            return Integrity::Tampered {
                reason: format!(
                    "it is marked {} but carries no valid approval by a person (the approval's MAC is missing or does not match)",
                    a.state
                ),
            };
        }
    }
    Integrity::Verified
}

/// Reads one action and its history, and checks its MACs.
fn load(conn: &Connection, id: &str, key: &KeyState) -> rusqlite::Result<Option<Action>> {
    let row = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM actions WHERE id = ?1"),
            [id],
            |r| {
                let bad = |i: usize, what: &str, v: &str| {
                    rusqlite::Error::FromSqlConversionFailure(
                        i,
                        rusqlite::types::Type::Text,
                        format!("invalid {what} {v:?}").into(),
                    )
                };
                let time = |i: usize| -> rusqlite::Result<DateTime<Utc>> {
                    let s: String = r.get(i)?;
                    clock::parse(&s).ok_or_else(|| bad(i, "time", &s))
                };
                let state: String = r.get(18)?;
                let channel: Option<String> = r.get(19)?;
                let identity: Option<String> = r.get(20)?;
                let approver = match (channel, identity) {
                    (Some(c), Some(i)) => {
                        let channel = Channel::parse(&c).ok_or_else(|| bad(19, "channel", &c))?;
                        Some(
                            Approver::checked(channel, &i)
                                .map_err(|_| bad(20, "approver identity", &i))?,
                        )
                    }
                    _ => None,
                };
                let patch: Vec<u8> = r.get(6)?;
                let git: Option<String> = r.get(25)?;
                let git = match git {
                    Some(text) => Some(
                        serde_json::from_str(&text).map_err(|_| bad(25, "git progress", &text))?,
                    ),
                    None => None,
                };
                Ok(Action {
                    id: r.get(0)?,
                    kind: crate::ActionKind::of(&patch),
                    target: Target {
                        api_version: r.get(1)?,
                        kind: r.get(2)?,
                        namespace: r.get(3)?,
                        name: r.get(4)?,
                        resource: r.get(5)?,
                    },
                    patch,
                    patch_sha256: r.get(7)?,
                    resource_version: r.get(8)?,
                    rationale: r.get(9)?,
                    proposer: Proposer {
                        caller: r.get(10)?,
                        skill: r.get(11)?,
                        tool: r.get(12)?,
                    },
                    dry_run_result: r.get(13)?,
                    diff: r.get(14)?,
                    policy_decision: r.get(15)?,
                    created: time(16)?,
                    expires: time(17)?,
                    state: State::parse(&state).ok_or_else(|| bad(18, "state", &state))?,
                    approver,
                    outcome: r.get(21)?,
                    history: Vec::new(),
                    integrity: Integrity::Verified,
                    written_resource_version: r.get(24)?,
                    git,
                    mac: r.get(22)?,
                    approval_mac: r.get(23)?,
                })
            },
        )
        .optional()?;
    let Some(mut action) = row else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT state, who, at, note FROM transitions WHERE action_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([id], |r| {
        let state: String = r.get(0)?;
        let at: String = r.get(2)?;
        let bad = |i: usize, what: &str, v: &str| {
            rusqlite::Error::FromSqlConversionFailure(
                i,
                rusqlite::types::Type::Text,
                format!("invalid {what} {v:?}").into(),
            )
        };
        Ok(Transition {
            state: State::parse(&state).ok_or_else(|| bad(0, "state", &state))?,
            who: r.get(1)?,
            at: clock::parse(&at).ok_or_else(|| bad(2, "time", &at))?,
            note: r.get(3)?,
        })
    })?;
    for t in rows {
        action.history.push(t?);
    }
    action.integrity = integrity(&action, key);
    if !action.integrity.is_verified() {
        // Never shown for a row that fails its check.
        action.diff.clear();
    }
    Ok(Some(action))
}
