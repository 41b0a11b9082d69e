//! Deciding about a proposed action: the steps `guardian actions
//! approve|reject`, the gRPC `ApproveAction`/`RejectAction` and an MCP
//! elicitation answer share. Who decides is an [`Approver`] (a person on a
//! human channel); nothing here builds one.
//!
//! What a person is shown before approving is [`review`]: the action's row
//! checked against its MAC, and the diff of the exact bytes the apply will
//! send, dry-run against the object as it is now — never the diff text
//! stored with the proposal.

use guardian_actions::{
    Action, ActionError, ActionStore, ApplyError, ApplyOptions, ApplyReport, Approver, Preview,
    PreviewError, State,
};
use guardian_broker::{Broker, BrokerError};

use crate::{ErrorClass, ServiceError};

/// Why a decision was not made.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    /// The store refused (unknown or malformed id, a transition its state
    /// does not allow, expired) or failed.
    #[error(transparent)]
    Store(#[from] ActionError),
    /// The action's state does not allow the decision (already applied,
    /// rejected, failed, expired, being applied elsewhere).
    #[error("{0}")]
    Refused(String),
    /// The write's result is unknown (see [`ApplyError::Unknown`]).
    #[error("{0}")]
    Unknown(String),
    /// The review could not read the object or dry-run the patch.
    #[error("{what}: {error}")]
    Cluster { what: String, error: BrokerError },
}

impl DecisionError {
    /// A stable class: `not-found`, `invalid`, `refused`, `unavailable`,
    /// `unknown`, `internal`.
    pub fn class(&self) -> &'static str {
        match self {
            DecisionError::Store(e) => match e {
                ActionError::NotFound { .. } => "not-found",
                ActionError::InvalidId(_)
                | ActionError::InvalidApprover(_)
                | ActionError::InvalidProposal(_) => "invalid",
                ActionError::InvalidTransition { .. }
                | ActionError::Expired { .. }
                | ActionError::AlreadyClaimed { .. }
                | ActionError::Tampered { .. }
                | ActionError::Unauthenticated { .. } => "refused",
                ActionError::PatchMismatch { .. } => "internal",
                ActionError::Store { .. }
                | ActionError::SchemaTooNew { .. }
                | ActionError::Io { .. }
                | ActionError::KeyUnavailable { .. }
                | ActionError::NoDataDir => "unavailable",
            },
            DecisionError::Refused(_) => "refused",
            DecisionError::Unknown(_) => "unknown",
            DecisionError::Cluster { error, .. } => match error {
                BrokerError::Denied(_) | BrokerError::Conflict(_) => "refused",
                BrokerError::NotFound(_) => "not-found",
                BrokerError::Invalid(_) => "invalid",
                BrokerError::Unavailable(_) | BrokerError::Timeout(_) => "unavailable",
                _ => "internal",
            },
        }
    }
}

/// A clear refusal for an action that can no longer be approved or rejected.
pub fn refuse_final(action: &Action) -> Result<(), DecisionError> {
    let id = &action.id;
    let outcome = action.outcome.as_deref().unwrap_or("");
    let refused = |m: String| Err(DecisionError::Refused(m));
    match action.state {
        State::Applied => refused(format!(
            "action {id} is already applied ({outcome}); nothing to do"
        )),
        State::Failed => refused(format!(
            "action {id} failed ({outcome}); a failed action is never retried: propose the change again"
        )),
        State::Rejected => refused(format!(
            "action {id} was rejected; propose the change again"
        )),
        State::Expired => refused(format!(
            "action {id} expired at {}; an expired action cannot be approved; propose it again",
            action.expires.format("%Y-%m-%dT%H:%M:%SZ")
        )),
        State::Unknown => refused(format!(
            "action {id}: whether its interrupted apply landed is unknown ({outcome}); check {} yourself; it is never applied again",
            action.target.label()
        )),
        _ => Ok(()),
    }
}

/// Where an action stands once what a crash left behind is settled.
pub enum Settled {
    /// Pending or approved: it can be approved and applied.
    Ready(Action),
    /// An earlier, interrupted run had already applied it; nothing to do.
    AlreadyApplied(Action),
}

/// Settles every apply a crash interrupted (never re-applying one), then
/// says whether `id` can be approved and applied. `notes` receives one line
/// per settled action.
pub async fn settle(
    store: &ActionStore,
    broker: &Broker,
    id: &str,
    notes: &mut Vec<String>,
) -> Result<Settled, DecisionError> {
    refuse_final(&store.get(id)?)?;
    let recovered = guardian_actions::recover(store, broker).await?;
    for r in &recovered {
        notes.push(format!("{}: {}", r.action.id, r.note));
    }
    let action = store.get(id)?;
    if let Some(r) = recovered.iter().find(|r| r.action.id == id) {
        if action.state == State::Applied {
            return Ok(Settled::AlreadyApplied(action));
        }
        if action.state == State::Applying {
            return Err(DecisionError::Refused(format!(
                "action {id} is still being applied: {}",
                r.note
            )));
        }
    }
    refuse_final(&action)?;
    if action.state == State::Applying {
        return Err(DecisionError::Refused(format!(
            "action {id} is being applied by another process (since {}); check it with `guardian actions show {id}`",
            action
                .last_transition()
                .map(|t| t.at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default()
        )));
    }
    Ok(Settled::Ready(action))
}

/// What a person deciding about an action is shown: computed now, from the
/// action's verified patch bytes.
#[derive(Clone, Debug)]
pub struct Review {
    /// The action, its row verified against its MAC.
    pub action: Action,
    /// The exact write, dry-run now against the object, and its diff.
    pub preview: Preview,
    /// The kubectl command equivalent to the apply (from the same bytes).
    pub kubectl: String,
}

/// The review step every approval front end shares, before it asks (or,
/// with no one to ask, before it approves): the row is checked against its
/// MACs — one changed outside Guardian, or proposed before actions were
/// authenticated, is failed for good and refused — and the exact operations
/// the apply will send are dry-run server-side against the object as it is
/// now, as `who`, and diffed. An object that changed since the proposal (or
/// is gone) fails the action for good as stale: nothing is approved. A
/// cluster that cannot be read or refuses the dry run refuses the review
/// and leaves the action as it was.
pub async fn review(
    store: &ActionStore,
    broker: &Broker,
    id: &str,
    who: &Approver,
) -> Result<Review, DecisionError> {
    let action = store.verify(id, &who.label())?;
    refuse_final(&action)?;
    if let Some(change) = action.verified_git_change()? {
        // A Git change is reviewed as the commit it will push: the file
        // diff from the bound bytes, the base commit, and the checks made
        // when it was proposed (render, server-side dry run).
        let preview = Preview {
            resource_version: change.base_commit.clone(),
            operations: Vec::new(),
            diff: change.diff(),
            dry_run: action.dry_run_result.clone(),
        };
        return Ok(Review {
            kubectl: git_summary(&action, &change),
            action,
            preview,
        });
    }
    match guardian_actions::preview_write(broker, &action, &who.caller()).await {
        Ok(preview) => Ok(Review {
            kubectl: kubectl_command(&action),
            action,
            preview,
        }),
        Err(PreviewError::Stale(why)) => {
            let reason = format!("{} ({why})", guardian_actions::STALE);
            store.fail_unapplied(id, &who.label(), &reason)?;
            Err(DecisionError::Refused(format!(
                "action {id} failed: {reason}; nothing was approved or written"
            )))
        }
        Err(PreviewError::Action(e)) => Err(e.into()),
        Err(PreviewError::Cluster { what, error }) => Err(DecisionError::Cluster { what, error }),
    }
}

/// Records `who`'s approval (if the action is still pending) and applies
/// it: the guarded apply, with `who` as the caller policy sees. Call
/// [`review`] first: the approval is of what it showed (the store checks
/// the row's MAC again on approval and on claim).
pub async fn approve_and_apply(
    store: &ActionStore,
    broker: &Broker,
    id: &str,
    who: &Approver,
    note: &str,
    options: &ApplyOptions,
) -> Result<ApplyReport, DecisionError> {
    if store.get(id)?.state == State::Pending {
        store.approve(id, who, note)?;
    }
    guardian_actions::apply_with(store, broker, id, &who.caller(), options)
        .await
        .map_err(|e| match e {
            ApplyError::Store(e) => DecisionError::Store(e),
            e @ ApplyError::Unknown { .. } => DecisionError::Unknown(e.to_string()),
        })
}

/// The whole approval, for a front end that has no one to ask in between:
/// settle, review (verify, dry-run now), approve, apply. `Ok(None)` when an
/// interrupted earlier run had already applied it.
pub async fn approve(
    store: &ActionStore,
    broker: &Broker,
    id: &str,
    who: &Approver,
    note: &str,
    options: &ApplyOptions,
) -> Result<(Option<ApplyReport>, Action), DecisionError> {
    let mut notes = Vec::new();
    match settle(store, broker, id, &mut notes).await? {
        Settled::AlreadyApplied(action) => Ok((None, action)),
        Settled::Ready(_) => {
            review(store, broker, id, who).await?;
            let report = approve_and_apply(store, broker, id, who, note, options).await?;
            let action = report.action.clone();
            Ok((Some(report), action))
        }
    }
}

/// Rejects a pending (or approved, not yet applied) action as `who`.
pub fn reject(
    store: &ActionStore,
    id: &str,
    who: &Approver,
    reason: &str,
) -> Result<Action, DecisionError> {
    refuse_final(&store.get(id)?)?;
    Ok(store.reject(id, who, reason)?)
}

/// What approving a Git change does, in one paragraph (in place of the
/// kubectl command a cluster patch shows).
pub fn git_summary(action: &Action, change: &guardian_actions::GitChange) -> String {
    format!(
        "git: push branch {branch} (parent {base}) to {repo} and open a pull request into {into}: {title}",
        branch = guardian_actions::GitChange::branch(&action.id),
        base = &change.base_commit,
        repo = change.repo_url,
        into = change.base_branch,
        title = guardian_actions::pull_request_title(change),
    )
}

/// The kubectl command equivalent to the apply: the stored patch behind a
/// `test` of the approved resourceVersion (Guardian also sets the
/// `guardian.dev/action-id` annotation).
pub fn kubectl_command(action: &Action) -> String {
    if let Ok(Some(change)) = action.verified_git_change() {
        return git_summary(action, &change);
    }
    let mut ops = vec![serde_json::json!({
        "op": "test", "path": "/metadata/resourceVersion", "value": action.resource_version,
    })];
    if let Ok(serde_json::Value::Array(stored)) =
        serde_json::from_slice::<serde_json::Value>(action.patch_bytes())
    {
        ops.extend(stored);
    }
    let patch = serde_json::to_string(&ops).unwrap_or_default();
    let ns = action
        .target
        .namespace
        .as_deref()
        .map(|ns| format!(" -n {ns}"))
        .unwrap_or_default();
    format!(
        "kubectl patch {} {}{ns} --type=json -p {}",
        action.target.resource,
        action.target.name,
        shell_quote(&patch)
    )
}

/// `'…'` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// What can be said, now, about the change an action would make.
#[derive(Clone, Debug)]
pub enum Check {
    /// Dry-run now against the object: the exact write and its diff.
    Checked(Preview),
    /// Not re-checked (no cluster, the action is final, the cluster did not
    /// answer): only the diff stored with the proposal can be shown.
    AsProposed(String),
    /// The row failed its integrity check: no diff is shown at all.
    Withheld,
}

impl crate::Session {
    /// Actions, newest first, optionally only those in `state`.
    pub fn list_actions(&self, state: Option<State>) -> Result<Vec<Action>, ServiceError> {
        Ok(self.store()?.list(state)?)
    }

    /// One action.
    pub fn get_action(&self, id: &str) -> Result<Action, ServiceError> {
        Ok(self.store()?.get(id)?)
    }

    /// The action store's file, for messages.
    pub fn action_store_path(&self) -> Option<std::path::PathBuf> {
        self.store().ok().map(|s| s.path().to_owned())
    }

    /// Pending actions now (for `/metrics`).
    pub fn pending_count(&self) -> Option<usize> {
        self.store()
            .ok()
            .and_then(|s| s.list(Some(State::Pending)).ok())
            .map(|v| v.len())
    }

    /// What `show` says about `action`'s change: checked now when it can
    /// still be applied and a cluster answers within `timeout` (as `who`),
    /// else the stored diff marked as such; nothing for a row that failed
    /// its integrity check.
    pub async fn check_action(
        &self,
        action: &Action,
        who: &str,
        timeout: std::time::Duration,
    ) -> Check {
        if !action.integrity.is_verified() {
            return Check::Withheld;
        }
        if let Ok(Some(change)) = action.verified_git_change() {
            // The commit it pushes is fixed by its bound bytes: shown from
            // them, whatever its state.
            return Check::Checked(Preview {
                resource_version: change.base_commit.clone(),
                operations: Vec::new(),
                diff: change.diff(),
                dry_run: action.dry_run_result.replace('\n', "; "),
            });
        }
        if !matches!(action.state, State::Pending | State::Approved) {
            return Check::AsProposed(format!("the action is {}", action.state));
        }
        let broker = match self.broker() {
            Ok(b) if !self.is_snapshot() => b,
            _ => return Check::AsProposed("no cluster to check against".into()),
        };
        match tokio::time::timeout(
            timeout,
            guardian_actions::preview_write(broker, action, who),
        )
        .await
        {
            Ok(Ok(preview)) => Check::Checked(preview),
            Ok(Err(PreviewError::Stale(why))) => Check::AsProposed(format!(
                "the object changed since the proposal ({why}); approving it will fail as stale"
            )),
            Ok(Err(e)) => Check::AsProposed(e.to_string()),
            Err(_) => Check::AsProposed(format!(
                "the cluster did not answer within {}s",
                timeout.as_secs()
            )),
        }
    }

    /// The live cluster an approval applies to, or why there is none.
    fn live_broker_for(&self, id: &str) -> Result<&Broker, ServiceError> {
        if self.is_snapshot() {
            return Err(ServiceError::new(
                ErrorClass::FailedPrecondition,
                format!(
                    "cannot apply action {id}: this session reads {}, which cannot be changed; approve it against a live cluster (--kubeconfig, --context, --as)",
                    self.source()
                ),
            ));
        }
        self.broker()
    }

    /// Settles what a crash left applying (never re-applying), then says
    /// whether `id` can be approved; `notes` hears what was settled.
    pub async fn settle_action(
        &self,
        id: &str,
        notes: &mut Vec<String>,
    ) -> Result<Settled, ServiceError> {
        let store = self.store()?;
        refuse_final(&store.get(id)?)?;
        let broker = self.live_broker_for(id)?;
        Ok(settle(store, broker, id, notes).await?)
    }

    /// [`review`]: what the person deciding is shown, computed now.
    pub async fn review_action(&self, id: &str, who: &Approver) -> Result<Review, ServiceError> {
        let broker = self.live_broker_for(id)?;
        Ok(review(self.store()?, broker, id, who).await?)
    }

    /// Records `who`'s approval of what [`Session::review_action`] showed
    /// and applies it ([`approve_and_apply`]).
    pub async fn apply_reviewed(
        &self,
        id: &str,
        who: &Approver,
        note: &str,
        options: &ApplyOptions,
    ) -> Result<ApplyReport, ServiceError> {
        let broker = self.live_broker_for(id)?;
        Ok(approve_and_apply(self.store()?, broker, id, who, note, options).await?)
    }

    /// The whole approval for a front end with no one to ask in between
    /// (the gRPC approval call, an answered MCP elicitation): settle,
    /// review, approve, apply. `None` when an interrupted earlier run had
    /// already applied it.
    pub async fn approve_action(
        &self,
        who: &Approver,
        id: &str,
        note: &str,
        options: &ApplyOptions,
    ) -> Result<(Option<ApplyReport>, Action), ServiceError> {
        let store = self.store()?;
        refuse_final(&store.get(id)?)?;
        let broker = self.live_broker_for(id)?;
        Ok(approve(store, broker, id, who, note, options).await?)
    }

    /// Rejects a pending action as `who`.
    pub fn reject_action(
        &self,
        who: &Approver,
        id: &str,
        reason: &str,
    ) -> Result<Action, ServiceError> {
        Ok(reject(self.store()?, id, who, reason)?)
    }
}
