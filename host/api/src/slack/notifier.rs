//! The notifier: reads the action store every poll interval (the store is
//! shared with other processes, so it is read, not notified), posts each
//! new pending action once, and updates a message when its action's state
//! or history changed. Slack errors are logged clearly and retried with
//! backoff; a rate limit pauses every call for its `Retry-After`. What a
//! message shows is recorded in slack.db, so a restart resumes where it was.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use guardian_actions::{Action, State};
use tokio_util::sync::CancellationToken;

use super::message::action_message;
use super::{Slack, SlackError};

/// The longest wait between two attempts for one message.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What one message's message shows: its state and history length.
pub fn shown(action: &Action) -> String {
    format!("{}/{}", action.state, action.history.len())
}

struct Backoff {
    next: Instant,
    wait: Duration,
    last_error: String,
}

pub async fn run(slack: Arc<Slack>, stop: CancellationToken) {
    match slack.db().unconfirmed() {
        Ok(ids) => {
            for id in ids {
                tracing::warn!(
                    action = %id,
                    "slack: a post of action {id} was interrupted before Slack confirmed it; it is not posted again (it may be in the channel already): decide it there or with `guardian actions approve|reject {id}`"
                );
            }
        }
        Err(e) => tracing::warn!("slack: {e}"),
    }
    let mut backoff: HashMap<String, Backoff> = HashMap::new();
    let mut paused_until: Option<Instant> = None;
    let interval = slack.config.poll_interval();
    loop {
        if let Some(until) = paused_until.take() {
            let now = Instant::now();
            if until > now {
                tokio::select! {
                    _ = tokio::time::sleep(until - now) => {}
                    _ = stop.cancelled() => return,
                }
            }
        }
        if let Some(pause) = pass(&slack, &mut backoff).await {
            paused_until = Some(Instant::now() + pause);
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = slack.wake.notified() => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// One pass over the store; `Some(wait)` when Slack rate limited us.
async fn pass(slack: &Slack, backoff: &mut HashMap<String, Backoff>) -> Option<Duration> {
    // Investigations first: their proposals are threaded under them.
    if let Err(e) = super::threads::post_investigations(slack).await {
        if let Some(wait) = e.retry_after() {
            tracing::warn!("{e}");
            return Some(wait);
        }
        tracing::warn!(
            "slack: an investigation was not posted ({e}); tried again on the next pass"
        );
    }
    let actions = match slack.api.session.list_actions(None) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!("slack: cannot read the action store: {e}");
            return None;
        }
    };
    // Oldest first: messages appear in the order the actions were proposed.
    for action in actions.iter().rev() {
        if backoff
            .get(&action.id)
            .is_some_and(|b| b.next > Instant::now())
        {
            continue;
        }
        let result = sync_one(slack, action).await;
        match result {
            Ok(()) => {
                if backoff.remove(&action.id).is_some() {
                    tracing::info!(action = %action.id, "slack: action {} is in Slack again", action.id);
                }
            }
            Err(e) => {
                if let Some(wait) = e.retry_after() {
                    tracing::warn!(action = %action.id, "{e}");
                    return Some(wait);
                }
                let entry = backoff.entry(action.id.clone()).or_insert(Backoff {
                    next: Instant::now(),
                    wait: if e.is_configuration() {
                        Duration::from_secs(5)
                    } else {
                        Duration::from_secs(1)
                    },
                    last_error: String::new(),
                });
                let text = e.to_string();
                if entry.last_error != text {
                    // Said once per distinct error, not once per retry.
                    tracing::warn!(action = %action.id, "{text}; action {} is retried with backoff (nothing is lost)", action.id);
                    entry.last_error = text;
                }
                entry.next = Instant::now() + entry.wait;
                entry.wait = (entry.wait * 2).min(MAX_BACKOFF);
            }
        }
    }
    None
}

/// Posts or updates the message of one action, as needed.
async fn sync_one(slack: &Slack, action: &Action) -> Result<(), SlackError> {
    let now_shown = shown(action);
    let record = slack.db().get(&action.id).map_err(db_error)?;
    match record {
        None if action.state == State::Pending => {
            if slack
                .thread_of
                .as_ref()
                .is_some_and(|t| t.wait(action, &slack.db()))
            {
                return Ok(());
            }
            let thread = slack
                .thread_of
                .as_ref()
                .and_then(|t| t.thread_of(action, &slack.db()));
            let channel = slack.config.channel.clone();
            let claimed = slack
                .db()
                .claim(&action.id, &channel, thread.as_deref(), &now_shown)
                .map_err(db_error)?;
            if !claimed {
                return Ok(());
            }
            let message = action_message(action);
            match slack
                .client
                .post_message(&channel, &message.text, &message.blocks, thread.as_deref())
                .await
            {
                Ok(posted) => {
                    slack
                        .db()
                        .posted(&action.id, &posted.channel, &posted.ts)
                        .map_err(db_error)?;
                    tracing::info!(action = %action.id, channel = %posted.channel, ts = %posted.ts, "slack: action {} posted", action.id);
                    Ok(())
                }
                Err(e) => {
                    if e.certainly_not_sent() {
                        slack.db().release(&action.id).map_err(db_error)?;
                    } else {
                        tracing::warn!(action = %action.id, "slack: the post of action {} may or may not have landed ({e}); it is not posted again", action.id);
                    }
                    Err(e)
                }
            }
        }
        None => Ok(()),
        Some(r) if r.ts.is_none() || r.shown == now_shown => Ok(()),
        Some(r) => {
            let ts = r.ts.unwrap_or_default();
            let message = action_message(action);
            slack
                .client
                .update(&r.channel, &ts, &message.text, &message.blocks)
                .await?;
            slack.db().shown(&action.id, &now_shown).map_err(db_error)?;
            tracing::info!(action = %action.id, state = %action.state, "slack: message of action {} updated ({})", action.id, action.state);
            Ok(())
        }
    }
}

pub(super) fn db_error(e: super::store::DbError) -> SlackError {
    SlackError::Transport {
        method: "slack.db".into(),
        error: e.to_string(),
        sent: false,
    }
}
