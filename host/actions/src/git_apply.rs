//! Applying an approved Git change: push a branch, open a pull request,
//! then follow the pull request until it is merged or closed.
//!
//! [`apply_git`] claims the action (approved → applying, exactly once),
//! pushes `guardian/<action-id>` whose parent is the base commit (never the
//! base branch itself), records the branch, opens the pull request through
//! the forge, records it, and leaves the action `submitted`. Every call goes
//! through the broker (policy sees the approved action; audited). When the
//! pull request cannot be opened the branch is deleted again, so a failed
//! action leaves nothing half-done in Git.
//!
//! [`check_pull_request`] reads the pull request of a `submitted` action:
//! merged → the merge commit is recorded (the service layer then syncs and
//! verifies, and settles the action); closed without a merge → `failed`.

use guardian_broker::{
    BranchPush, Broker, BrokerError, CallContext, GrantSets, NewPullRequest, PrState,
};

use crate::apply::ApplyReport;
use crate::{Action, ActionError, ActionStore, ApplyOutcome, GitChange, GitProgress, State};

/// The grant names the Git writes are decided on.
const GIT_GRANTS: [&str; 2] = [
    "branches.git.guardian.dev",
    "pullrequests.forge.guardian.dev",
];

fn context(who: &str, tool: &str) -> CallContext {
    CallContext {
        caller: who.to_owned(),
        skill: "guardian".into(),
        tool: tool.into(),
        grants: GrantSets {
            read: vec!["*".into()],
            propose: GIT_GRANTS.iter().map(|g| (*g).to_owned()).collect(),
        },
        scope: Default::default(),
    }
}

/// The pull request's title: the commit message's first line.
pub fn title(change: &GitChange) -> String {
    change
        .message
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Applies the approved Git change `id` (see the module docs). `who` is the
/// person applying (`human:alice`).
pub async fn apply_git(
    store: &ActionStore,
    broker: &Broker,
    id: &str,
    who: &str,
) -> Result<ApplyReport, ActionError> {
    let claimed = store.claim_for_apply(id, who)?;
    let fail = |error: String| -> Result<ApplyReport, ActionError> {
        let outcome = ApplyOutcome::Failed { error };
        let action = store.finish_apply(id, outcome.clone())?;
        Ok(ApplyReport {
            action,
            outcome,
            wrote: false,
        })
    };
    let change = match claimed.verified_git_change() {
        Ok(Some(c)) => c,
        Ok(None) => return fail("the action is not a Git change".into()),
        Err(e) => return fail(e.to_string()),
    };
    let Some(action_ref) = claimed.action_ref() else {
        return fail("the action has no human approver; it cannot be applied".into());
    };
    let cx = context(who, "actions.apply");
    let branch = GitChange::branch(id);
    let push = BranchPush {
        url: change.repo_url.clone(),
        base_branch: change.base_branch.clone(),
        base_commit: change.base_commit.clone(),
        branch: branch.clone(),
        files: change
            .files
            .iter()
            .map(|f| (f.path.clone(), f.after.clone()))
            .collect(),
        message: change.message.clone(),
    };
    let pushed = match broker.git_push_branch(&cx, &action_ref, &push).await {
        Ok(p) => p,
        Err(e) => return fail(format!("the branch {branch} was not pushed: {e}")),
    };
    let mut progress = GitProgress {
        branch: Some(pushed.branch.clone()),
        commit: Some(pushed.commit.clone()),
        ..GitProgress::default()
    };
    if let Err(e) = store.record_git(id, &progress) {
        tracing::warn!(action = id, "cannot record the pushed branch: {e}");
    }
    let pr = NewPullRequest {
        repo_url: change.repo_url.clone(),
        head: pushed.branch.clone(),
        base: change.base_branch.clone(),
        title: title(&change),
        body: change.body.clone(),
    };
    let opened = match broker.open_pull_request(&cx, &action_ref, &pr).await {
        Ok(p) => p,
        Err(e) => {
            // Nothing half-done: the branch goes again.
            let cleanup = match broker
                .git_delete_branch(&cx, &action_ref, &change.repo_url, &pushed.branch)
                .await
            {
                Ok(()) => format!("the branch {} was deleted again", pushed.branch),
                Err(d) => format!(
                    "the branch {} could not be deleted ({d}); delete it by hand",
                    pushed.branch
                ),
            };
            return fail(format!("the pull request was not opened: {e}; {cleanup}"));
        }
    };
    progress.pull_request = Some(opened.number);
    progress.pull_request_url = Some(opened.url.clone());
    if let Err(e) = store.record_git(id, &progress) {
        tracing::warn!(action = id, "cannot record the pull request: {e}");
    }
    let outcome = ApplyOutcome::Submitted {
        detail: format!(
            "branch {} pushed ({}); pull request #{} opened: {}",
            pushed.branch,
            short(&pushed.commit),
            opened.number,
            opened.url
        ),
    };
    let action = store.finish_apply(id, outcome.clone())?;
    Ok(ApplyReport {
        action,
        outcome,
        wrote: true,
    })
}

/// Where a submitted Git change's pull request stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullRequestCheck {
    /// Still open: nothing to do yet.
    Open { url: String },
    /// Merged: the merge commit is recorded on the action.
    Merged { merge_commit: String },
    /// Closed without a merge: the action is now `failed`.
    Closed,
}

/// Why a pull request could not be followed.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Store(#[from] ActionError),
    /// The forge could not be asked (or refused); the action is unchanged.
    #[error("action {id}: cannot read its pull request: {error}")]
    Forge { id: String, error: BrokerError },
}

/// Reads the pull request of the `submitted` Git change `id` and records
/// what it found (see the module docs).
pub async fn check_pull_request(
    store: &ActionStore,
    broker: &Broker,
    id: &str,
    who: &str,
) -> Result<(Action, PullRequestCheck), FollowError> {
    let action = store.get(id)?;
    if action.state != State::Submitted {
        return Err(ActionError::InvalidTransition {
            id: id.to_owned(),
            state: action.state,
            rule: "only a submitted Git change has a pull request to follow",
        }
        .into());
    }
    let change = action
        .verified_git_change()?
        .ok_or_else(|| ActionError::InvalidProposal(format!("action {id} is not a Git change")))?;
    let mut progress = action.git.clone().unwrap_or_default();
    let Some(number) = progress.pull_request else {
        return Err(ActionError::InvalidProposal(format!(
            "action {id} is submitted but records no pull request"
        ))
        .into());
    };
    let cx = context(who, "actions.follow");
    let pr = broker
        .pull_request(&cx, &change.repo_url, number)
        .await
        .map_err(|error| FollowError::Forge {
            id: id.to_owned(),
            error,
        })?;
    match pr.state {
        PrState::Open => Ok((action, PullRequestCheck::Open { url: pr.url })),
        PrState::Merged { merge_commit } => {
            let action = if progress.merge_commit.as_deref() != Some(merge_commit.as_str()) {
                progress.merge_commit = Some(merge_commit.clone());
                store.record_git(id, &progress)?
            } else {
                action
            };
            Ok((action, PullRequestCheck::Merged { merge_commit }))
        }
        PrState::Closed => {
            let action = store.settle_submitted(
                id,
                who,
                ApplyOutcome::Failed {
                    error: format!(
                        "pull request #{number} was closed without a merge: {}",
                        pr.url
                    ),
                },
            )?;
            Ok((action, PullRequestCheck::Closed))
        }
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// What a crash left of an `applying` Git change, from what it recorded
/// (never pushing again): a pull request recorded → `submitted`; a branch
/// recorded without a pull request, or nothing recorded once the claim is
/// older than [`crate::RECOVER_GRACE`] → `unknown` (the branch
/// `guardian/<id>` may exist: a person checks the repository); a younger
/// claim is left alone.
pub fn judge_interrupted(
    action: &Action,
    now: chrono::DateTime<chrono::Utc>,
) -> (Option<ApplyOutcome>, String) {
    let branch = GitChange::branch(&action.id);
    let progress = action.git.clone().unwrap_or_default();
    if let (Some(n), Some(url)) = (progress.pull_request, &progress.pull_request_url) {
        let detail = format!("branch {branch} pushed; pull request #{n} opened: {url}");
        return (
            Some(ApplyOutcome::Submitted {
                detail: detail.clone(),
            }),
            format!("the apply was interrupted after its pull request was opened: {detail}"),
        );
    }
    let young = action
        .claimed_at()
        .is_some_and(|at| now - at < crate::RECOVER_GRACE);
    if young {
        return (
            None,
            "the apply started moments ago; left applying while it may still be running".into(),
        );
    }
    let detail = if progress.branch.is_some() {
        format!(
            "the apply was interrupted after pushing {branch} and before opening its pull request: open it, or delete the branch"
        )
    } else {
        format!(
            "the apply was interrupted before it recorded a push: check whether {branch} exists in {}",
            action
                .verified_git_change()
                .ok()
                .flatten()
                .map(|c| c.repo_url)
                .unwrap_or_else(|| "the repository".into())
        )
    };
    (
        Some(ApplyOutcome::Unknown {
            detail: detail.clone(),
        }),
        detail,
    )
}
