//! Slack: pending actions are posted to a channel (Block Kit, Approve /
//! Reject buttons), their messages updated as they change, and button
//! clicks arrive signed on `POST /slack/interactions` (docs/slack.md).
//!
//! A thin adapter: a click from a Slack user whom `slack.users` maps to an
//! identity with the approver role (in the tokens file) approves through
//! the session's `approve_action` — settle, review (the exact write,
//! dry-run now; a stale action fails), approve and apply — as
//! `human:<identity> (slack)`. Everything else is refused and audited.
//!
//! Threads: [`ThreadOf`] says under which root message an action is posted
//! (an investigation's), and [`SlackDb::set_thread`] records that root.

pub mod client;
pub mod interactions;
pub mod message;
pub mod notifier;
pub mod signature;
pub mod store;
pub mod threads;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::post;
use guardian_actions::Action;
use serde::Deserialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use client::{BotToken, Posted, SlackClient, SlackError};
pub use store::SlackDb;

use crate::Api;
use crate::auth::Gate;

/// The `slack:` section of the config file.
///
/// ```yaml
/// slack:
///   channel: C0123ABCD                 # where proposals are posted (the bot must be in it)
///   bot_token_file: /etc/guardian/slack-bot-token       # xoxb-…, scope chat:write
///   signing_secret_file: /etc/guardian/slack-signing-secret
///   api_url: https://slack.com/api     # [default]
///   users:                             # Slack user id → identity of the tokens file
///     U024BE7LH: alice
///   poll_interval_seconds: 2           # how often the action store is read [2]
///   rollout_timeout_seconds: 60        # an approval's wait for the rollout [60]
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    pub channel: String,
    pub bot_token_file: PathBuf,
    pub signing_secret_file: PathBuf,
    #[serde(default = "default_api_url")]
    pub api_url: String,
    #[serde(default)]
    pub users: BTreeMap<String, String>,
    #[serde(default)]
    pub poll_interval_seconds: Option<f64>,
    #[serde(default)]
    pub rollout_timeout_seconds: Option<u64>,
}

fn default_api_url() -> String {
    "https://slack.com/api".to_owned()
}

impl SlackConfig {
    /// Parses and checks the config file's `slack:` section.
    pub fn parse(raw: serde_json::Value) -> anyhow::Result<Self> {
        let config: SlackConfig =
            serde_json::from_value(raw).context("the config file's slack: section")?;
        anyhow::ensure!(
            !config.channel.trim().is_empty(),
            "slack.channel: name the channel to post to (its id, C0123…)"
        );
        anyhow::ensure!(
            config.api_url.starts_with("https://") || config.api_url.starts_with("http://"),
            "slack.api_url: expected an http(s) URL, like https://slack.com/api"
        );
        if let Some(s) = config.poll_interval_seconds {
            anyhow::ensure!(
                s.is_finite() && (0.05..=3600.0).contains(&s),
                "slack.poll_interval_seconds: expected a number of seconds from 0.05 to 3600"
            );
        }
        for (user, identity) in &config.users {
            anyhow::ensure!(
                !identity.trim().is_empty() && !identity.contains(':'),
                "slack.users.{user}: {identity:?} must be a plain identity of the tokens file (alice)"
            );
        }
        Ok(config)
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_secs_f64(self.poll_interval_seconds.unwrap_or(2.0))
    }
}

/// Under which root message an action's message is posted (`thread_ts`):
/// the integrator's hook for investigations (their root message, recorded
/// with [`SlackDb::set_thread`]). `None`: a message of its own.
pub trait ThreadOf: Send + Sync {
    fn thread_of(&self, action: &Action, db: &SlackDb) -> Option<String>;
    /// Not yet: the action's thread is not there yet (its root message is
    /// still to be posted); it is posted on a later pass.
    fn wait(&self, _action: &Action, _db: &SlackDb) -> bool {
        false
    }
}

/// What the notifier and the interactions endpoint share.
pub struct Slack {
    pub api: Arc<Api>,
    pub gate: Gate,
    pub config: SlackConfig,
    pub client: SlackClient,
    signing_secret: Vec<u8>,
    pub db: Mutex<SlackDb>,
    /// Wakes the notifier (a decision was made: update its message now).
    pub wake: Notify,
    /// Actions whose approval runs now (a second click is told so).
    pub deciding: Mutex<HashSet<String>>,
    pub seen: signature::Seen,
    pub thread_of: Option<Box<dyn ThreadOf>>,
}

impl Slack {
    /// The Slack adapter when the config has a `slack:` section: its
    /// secrets read, `slack.db` opened in the state directory.
    pub fn from_config(api: &Arc<Api>, gate: &Gate) -> anyhow::Result<Option<Arc<Slack>>> {
        let Some(raw) = api.session.config().slack.clone() else {
            return Ok(None);
        };
        let config = SlackConfig::parse(raw)?;
        let token = BotToken::load(&config.bot_token_file)?;
        let secret = std::fs::read_to_string(&config.signing_secret_file).with_context(|| {
            format!(
                "cannot read the Slack signing secret file {} (slack.signing_secret_file)",
                config.signing_secret_file.display()
            )
        })?;
        let secret = secret.trim().as_bytes().to_vec();
        anyhow::ensure!(
            !secret.is_empty(),
            "the Slack signing secret file {} is empty (slack.signing_secret_file)",
            config.signing_secret_file.display()
        );
        let state = api
            .session
            .action_store_path()
            .and_then(|p| p.parent().map(|d| d.to_owned()))
            .context("Slack needs the action store (see the warning above about it)")?;
        let db = SlackDb::open(&state.join("slack.db"))?;
        for user in config.users.values() {
            if gate.tokens.role_of(user) != Some(crate::auth::Role::Approver) {
                tracing::warn!(
                    "slack.users maps a Slack user to {user:?}, which has no approver token in the tokens file: that user's clicks will be refused"
                );
            }
        }
        let client = SlackClient::new(&config.api_url, token)?;
        Ok(Some(Arc::new(Slack {
            api: Arc::clone(api),
            gate: gate.clone(),
            config,
            client,
            signing_secret: secret,
            db: Mutex::new(db),
            wake: Notify::new(),
            deciding: Mutex::new(HashSet::new()),
            seen: signature::Seen::default(),
            thread_of: Some(Box::new(threads::InvestigationThreads {
                api: Arc::clone(api),
            })),
        })))
    }

    /// slack.db, locked (its calls are short and never await).
    pub fn db(&self) -> std::sync::MutexGuard<'_, SlackDb> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the notifier (until `stop`) and returns the interactions
    /// route to mount on the HTTP listener.
    pub fn start(self: &Arc<Self>, stop: CancellationToken) -> Router {
        let me = Arc::clone(self);
        tokio::spawn(async move { notifier::run(me, stop).await });
        Router::new()
            .route("/slack/interactions", post(interactions::handle))
            .with_state(Arc::clone(self))
    }
}

/// The Slack adapter's router when `slack:` is configured (its notifier
/// started), for `serve`.
pub fn start(
    api: &Arc<Api>,
    gate: &Gate,
    stop: CancellationToken,
) -> anyhow::Result<Option<Router>> {
    Ok(Slack::from_config(api, gate)?.map(|slack| slack.start(stop)))
}
