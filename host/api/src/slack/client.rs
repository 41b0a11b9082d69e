//! The Slack Web API methods Guardian uses — `chat.postMessage`,
//! `chat.update`, `chat.postEphemeral` — as JSON bodies with the bot token
//! in `Authorization: Bearer`. The token is never logged, printed or put in
//! an error. Slack answers HTTP 200 with `ok: false` and an `error` code
//! for most failures, and HTTP 429 with `Retry-After` when rate limited.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

/// The bot token (`xoxb-…`), read from a file; its `Debug` shows nothing.
#[derive(Clone)]
pub struct BotToken(String);

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BotToken(…)")
    }
}

impl BotToken {
    /// Reads the token from `path` (surrounding whitespace trimmed).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the Slack bot token file {} (slack.bot_token_file)",
                path.display()
            )
        })?;
        let token = text.trim();
        anyhow::ensure!(
            !token.is_empty() && !token.chars().any(|c| c.is_control() || c.is_whitespace()),
            "the Slack bot token file {} is empty or holds more than one token (slack.bot_token_file)",
            path.display()
        );
        Ok(Self(token.to_owned()))
    }
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    /// `ok: false` with Slack's error code.
    #[error("Slack {method}: {error}{}", hint(error))]
    Api { method: String, error: String },
    /// HTTP 429: wait `retry_after`.
    #[error("Slack {method}: rate limited; retrying after {}s", retry_after.as_secs())]
    RateLimited {
        method: String,
        retry_after: Duration,
    },
    /// Another HTTP status (5xx: Slack is unwell; retried).
    #[error("Slack {method}: HTTP {status}: {body}")]
    Http {
        method: String,
        status: u16,
        body: String,
    },
    /// Slack could not be reached; `sent`: the request may have arrived.
    #[error("Slack {method}: {error}")]
    Transport {
        method: String,
        error: String,
        sent: bool,
    },
}

/// What to do about an `ok: false` error code.
fn hint(error: &str) -> &'static str {
    match error {
        "channel_not_found" => {
            " — the channel in slack.channel does not exist or the bot cannot see it: use the channel id (C0123…) and invite the bot"
        }
        "not_in_channel" => " — invite the bot to the channel in slack.channel",
        "invalid_auth" | "not_authed" | "token_revoked" | "token_expired" | "account_inactive" => {
            " — the bot token in slack.bot_token_file is not valid: install the app again and write its bot token there"
        }
        "missing_scope" => " — the bot token lacks the chat:write scope",
        "msg_too_long" | "invalid_blocks" | "invalid_blocks_format" => {
            " — the message was refused as too long or malformed"
        }
        "message_not_found" | "cant_update_message" => {
            " — the message was deleted or cannot be updated by this bot"
        }
        "user_not_in_channel" => " — the user is not in the channel",
        _ => "",
    }
}

impl SlackError {
    /// How long to wait before the next call (a rate limit).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SlackError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The request certainly did not post anything (so posting again
    /// cannot duplicate a message).
    pub fn certainly_not_sent(&self) -> bool {
        !matches!(self, SlackError::Transport { sent: true, .. })
    }

    /// A mistake in the configuration (token, channel, scopes): retrying
    /// soon will not help; an operator must act.
    pub fn is_configuration(&self) -> bool {
        matches!(self, SlackError::Api { error, .. } if matches!(error.as_str(),
            "channel_not_found" | "not_in_channel" | "invalid_auth" | "not_authed"
            | "token_revoked" | "token_expired" | "account_inactive" | "missing_scope"
            | "is_archived" | "restricted_action"))
    }
}

/// Where a posted message is: what `chat.update` needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

/// The Web API client.
#[derive(Clone, Debug)]
pub struct SlackClient {
    http: reqwest::Client,
    /// `https://slack.com/api`, no trailing slash.
    base: String,
    token: BotToken,
}

/// The longest `Retry-After` honoured as given (a larger one is capped).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

impl SlackClient {
    pub fn new(base: &str, token: BotToken) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("the Slack HTTP client")?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// One Web API call with a JSON body; the answer when `ok: true`.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, SlackError> {
        let url = format!("{}/{method}", self.base);
        let transport = |e: reqwest::Error| SlackError::Transport {
            method: method.to_owned(),
            // Without the URL's query or any header: nothing secret.
            error: without_url(&e),
            sent: !e.is_connect() && !e.is_builder(),
        };
        let response = self
            .http
            .post(&url)
            .header("authorization", format!("Bearer {}", self.token.0))
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string())
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        if status == 429 {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(Duration::from_secs(30))
                .min(MAX_RETRY_AFTER);
            return Err(SlackError::RateLimited {
                method: method.to_owned(),
                retry_after,
            });
        }
        let text = response.text().await.map_err(transport)?;
        if !(200..300).contains(&status) {
            return Err(SlackError::Http {
                method: method.to_owned(),
                status,
                body: text.chars().take(200).collect(),
            });
        }
        let answer: Value = serde_json::from_str(&text).map_err(|e| SlackError::Http {
            method: method.to_owned(),
            status,
            body: format!(
                "not JSON ({e}): {}",
                text.chars().take(200).collect::<String>()
            ),
        })?;
        if answer["ok"] == Value::Bool(true) {
            Ok(answer)
        } else {
            Err(SlackError::Api {
                method: method.to_owned(),
                error: answer["error"]
                    .as_str()
                    .unwrap_or("unknown_error")
                    .to_owned(),
            })
        }
    }

    /// `chat.postMessage`; `thread_ts` posts it as a reply in that thread.
    pub async fn post_message(
        &self,
        channel: &str,
        text: &str,
        blocks: &Value,
        thread_ts: Option<&str>,
    ) -> Result<Posted, SlackError> {
        let mut body =
            json!({"channel": channel, "text": text, "blocks": blocks, "unfurl_links": false});
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let answer = self.call("chat.postMessage", &body).await?;
        match (answer["channel"].as_str(), answer["ts"].as_str()) {
            (Some(channel), Some(ts)) => Ok(Posted {
                channel: channel.to_owned(),
                ts: ts.to_owned(),
            }),
            _ => Err(SlackError::Http {
                method: "chat.postMessage".into(),
                status: 200,
                body: "ok, but no channel and ts in the answer".into(),
            }),
        }
    }

    /// `chat.update` of the message at `ts`.
    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<(), SlackError> {
        self.call(
            "chat.update",
            &json!({"channel": channel, "ts": ts, "text": text, "blocks": blocks}),
        )
        .await
        .map(drop)
    }

    /// `chat.postEphemeral`: a message only `user` sees.
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        thread_ts: Option<&str>,
    ) -> Result<(), SlackError> {
        let mut body = json!({"channel": channel, "user": user, "text": text});
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        self.call("chat.postEphemeral", &body).await.map(drop)
    }
}

/// A reqwest error's text without its URL.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "the Slack API");
    }
    if e.is_timeout() {
        text = format!("timed out ({text})");
    } else if e.is_connect() {
        text = format!("cannot connect ({text})");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_to_do_and_which_are_configuration() {
        let e = SlackError::Api {
            method: "chat.postMessage".into(),
            error: "channel_not_found".into(),
        };
        assert!(e.to_string().contains("channel_not_found"), "{e}");
        assert!(e.to_string().contains("slack.channel"), "{e}");
        assert!(e.is_configuration() && e.certainly_not_sent());
        let e = SlackError::Api {
            method: "chat.postMessage".into(),
            error: "invalid_auth".into(),
        };
        assert!(e.to_string().contains("slack.bot_token_file"), "{e}");
        assert!(e.is_configuration());
        let e = SlackError::Api {
            method: "chat.update".into(),
            error: "internal_error".into(),
        };
        assert!(!e.is_configuration());
        let e = SlackError::RateLimited {
            method: "chat.update".into(),
            retry_after: Duration::from_secs(7),
        };
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(e.to_string().contains("7s"), "{e}");
        let e = SlackError::Transport {
            method: "chat.postMessage".into(),
            error: "timed out".into(),
            sent: true,
        };
        assert!(!e.certainly_not_sent());
    }

    #[test]
    fn the_token_never_shows_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, "xoxb-very-secret\n").unwrap();
        let client =
            SlackClient::new("http://127.0.0.1:9/api/", BotToken::load(&p).unwrap()).unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert_eq!(client.base, "http://127.0.0.1:9/api");
        std::fs::write(&p, "  \n").unwrap();
        assert!(BotToken::load(&p).is_err());
    }
}
