//! `POST /slack/interactions`: Slack's request URL for button clicks.
//! The request is verified first (size, signature, age, replay); then the
//! clicking user must be mapped by `slack.users` to an identity with the
//! approver role. Slack is answered at once (it waits 3 s); the approval
//! runs in the background through the session and the message is updated
//! by the notifier, woken when it ends. Refusals are audited as
//! `event: "access"` with channel `slack` and told to the user alone.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use guardian_actions::{ApplyOptions, Approver, Channel as ApprovalChannel};
use serde::Deserialize;

use super::Slack;
use super::message::{APPROVE, REJECT};
use super::signature;
use crate::auth::{Channel, Refusal, Role};

/// The largest interaction payload read (a block_actions payload carries
/// the message it came from).
pub const MAX_BODY: usize = 1 << 20;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Payload {
    #[serde(rename = "type")]
    pub kind: String,
    pub user: Option<Named>,
    pub actions: Vec<Clicked>,
    pub channel: Option<Named>,
    pub container: Option<Container>,
    pub response_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Named {
    pub id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Clicked {
    pub action_id: String,
    pub value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Container {
    pub message_ts: Option<String>,
    pub channel_id: Option<String>,
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    let mut m = message.into();
    m.push('\n');
    (status, m).into_response()
}

/// The `payload` field of a form-encoded body, parsed.
pub fn parse(body: &[u8]) -> Result<Payload, String> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| format!("the body is not form-encoded: {e}"))?;
    let payload = fields
        .iter()
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v)
        .ok_or("the body has no payload field")?;
    serde_json::from_str(payload).map_err(|e| format!("the payload is not Slack's JSON: {e}"))
}

pub async fn handle(State(slack): State<Arc<Slack>>, headers: HeaderMap, body: Body) -> Response {
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            refuse_unsigned(&slack, "the body is larger than 1 MiB");
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body is larger than 1 MiB",
            );
        }
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    let verified = signature::verify(
        &slack.signing_secret,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &bytes,
        now,
    )
    .and_then(|()| {
        slack
            .seen
            .admit(header("x-slack-signature").unwrap_or(""), now)
    });
    if let Err(e) = verified {
        refuse_unsigned(&slack, &e.to_string());
        return text(StatusCode::UNAUTHORIZED, e.to_string());
    }
    let payload = match parse(&bytes) {
        Ok(p) => p,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    if payload.kind != "block_actions" {
        // Nothing else is asked for; acknowledged so Slack does not retry.
        return StatusCode::OK.into_response();
    }
    let Some(clicked) = payload.actions.first() else {
        return StatusCode::OK.into_response();
    };
    let decision = match clicked.action_id.as_str() {
        APPROVE => "approve",
        REJECT => "reject",
        _ => return StatusCode::OK.into_response(),
    };
    let user = payload
        .user
        .as_ref()
        .map(|u| u.id.clone())
        .unwrap_or_default();
    let channel = payload
        .channel
        .as_ref()
        .map(|c| c.id.clone())
        .or_else(|| {
            payload
                .container
                .as_ref()
                .and_then(|c| c.channel_id.clone())
        })
        .unwrap_or_default();
    let id = clicked.value.clone().unwrap_or_default().trim().to_owned();
    let click = Click {
        decision,
        user,
        channel,
        id,
        message_ts: payload.container.and_then(|c| c.message_ts),
    };
    // Who: a Slack user the config maps to an approver.
    let identity = match authorise(&slack, &click) {
        Ok(identity) => identity,
        Err(message) => {
            tell(&slack, &click, message);
            return StatusCode::OK.into_response();
        }
    };
    // One decision per action at a time, in this process (the store
    // guarantees one apply across processes).
    let first = slack
        .deciding
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(click.id.clone());
    if !first {
        tell(
            &slack,
            &click,
            format!(
                "Action {} is already being decided (applied or rejected) after an earlier click; nothing more to do.",
                click.id
            ),
        );
        return StatusCode::OK.into_response();
    }
    let background = Arc::clone(&slack);
    tokio::spawn(async move {
        decide(&background, &click, &identity).await;
        background
            .deciding
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&click.id);
        background.wake.notify_one();
    });
    StatusCode::OK.into_response()
}

/// One click, as far as Guardian needs it.
#[derive(Clone, Debug)]
struct Click {
    decision: &'static str,
    user: String,
    channel: String,
    id: String,
    message_ts: Option<String>,
}

/// A request that failed verification: audited, nothing else.
fn refuse_unsigned(slack: &Slack, why: &str) {
    slack.gate.refused(
        Channel::Slack,
        "interaction",
        "",
        None,
        &Refusal::Unauthenticated(why.to_owned()),
    );
}

/// The identity behind the clicking Slack user, if it may decide; else
/// the refusal (audited) to tell the user.
fn authorise(slack: &Slack, click: &Click) -> Result<String, String> {
    let refuse = |caller: String, message: String| {
        slack.gate.refused(
            Channel::Slack,
            click.decision,
            &caller,
            None,
            &Refusal::PermissionDenied(message.clone()),
        );
        Err(message)
    };
    // The button must be on a message Guardian posted for this action.
    let record = slack.db().get(&click.id).ok().flatten();
    let known = record.as_ref().is_some_and(|r| {
        r.channel == click.channel && (click.message_ts.is_none() || click.message_ts == r.ts)
    });
    let Some(identity) = slack.config.users.get(&click.user).cloned() else {
        return refuse(
            format!("slack:{}", click.user),
            format!(
                "Slack user {} is not mapped to a Guardian identity: only users listed in slack.users with the approver role can {} actions",
                click.user, click.decision
            ),
        );
    };
    let caller = format!("slack:{identity}");
    match slack.gate.tokens.role_of(&identity) {
        Some(Role::Approver) => {}
        Some(role) => {
            return refuse(
                caller,
                format!(
                    "{identity} has the {role} role; to {} an action needs the approver role",
                    click.decision
                ),
            );
        }
        None => {
            return refuse(
                caller,
                format!(
                    "{identity} has no token in the tokens file: to {} an action needs the approver role",
                    click.decision
                ),
            );
        }
    }
    if !known {
        return refuse(
            caller,
            format!(
                "action {:?} was not posted by Guardian in this message; decide it with `guardian actions`",
                click.id
            ),
        );
    }
    Ok(identity)
}

/// Approves and applies (or rejects) as `identity` on the Slack channel.
async fn decide(slack: &Slack, click: &Click, identity: &str) {
    let approver = match Approver::new(ApprovalChannel::Slack, identity) {
        Ok(a) => a,
        Err(e) => {
            tell(slack, click, e.to_string());
            return;
        }
    };
    let session = &slack.api.session;
    let result = if click.decision == "approve" {
        let options = ApplyOptions {
            rollout_timeout: std::time::Duration::from_secs(
                slack.config.rollout_timeout_seconds.unwrap_or(60),
            ),
            ..Default::default()
        };
        let note = format!("approved in Slack by {identity} ({})", click.user);
        session
            .approve_action(&approver, &click.id, &note, &options)
            .await
            .map(|(_, action)| action)
    } else {
        let reason = format!("rejected in Slack by {identity} ({})", click.user);
        session.reject_action(&approver, &click.id, &reason)
    };
    match result {
        Ok(action) => tracing::info!(
            action = %click.id,
            "slack: {identity} {}d action {}: {}",
            click.decision,
            click.id,
            action.state
        ),
        Err(e) => {
            tracing::warn!(action = %click.id, "slack: {identity}'s {} of action {}: {e}", click.decision, click.id);
            tell(
                slack,
                click,
                format!("Could not {} {}: {e}", click.decision, click.id),
            );
        }
    }
}

/// Tells the clicking user alone (`chat.postEphemeral`), in the
/// background; a rate limit is waited out a few times.
fn tell(slack: &Slack, click: &Click, message: String) {
    let client = slack.client.clone();
    let (channel, user) = (click.channel.clone(), click.user.clone());
    if channel.is_empty() || user.is_empty() {
        return;
    }
    tokio::spawn(async move {
        for _ in 0..3 {
            match client.post_ephemeral(&channel, &user, &message, None).await {
                Ok(()) => return,
                Err(e) => match e.retry_after() {
                    Some(wait) if wait.as_secs() <= 60 => tokio::time::sleep(wait).await,
                    _ => {
                        tracing::warn!("slack: cannot tell {user}: {e}");
                        return;
                    }
                },
            }
        }
    });
}
