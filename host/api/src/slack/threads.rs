//! Investigations in Slack: each investigation an alert started gets a root
//! message (the alert, the target, the root cause found, what was read), and
//! the actions it proposed are posted as replies in its thread.

use guardian_actions::Action;
use guardian_core::Investigation;
use serde_json::{Value, json};

use super::message::escape;
use super::store::SlackDb;
use super::{Slack, SlackError, ThreadOf};

/// How long an alert's proposal waits for its investigation to list it
/// (the investigation records its actions after proposing them) before it
/// is posted on its own.
const WAIT_FOR_INVESTIGATION: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// Threads an action under the root message of the investigation that
/// proposed it.
pub struct InvestigationThreads {
    pub api: std::sync::Arc<crate::Api>,
}

impl InvestigationThreads {
    /// The open or closed investigation that lists `action`.
    fn investigation_of(&self, action: &Action) -> Option<Investigation> {
        self.api
            .session
            .list_investigations(None)
            .ok()?
            .into_iter()
            .find(|i| i.actions.iter().any(|a| a == &action.id))
    }
}

impl ThreadOf for InvestigationThreads {
    fn thread_of(&self, action: &Action, db: &SlackDb) -> Option<String> {
        let inv = self.investigation_of(action)?;
        db.thread(&inv.id).ok().flatten().map(|(_, ts)| ts)
    }

    fn wait(&self, action: &Action, db: &SlackDb) -> bool {
        if !action.proposer.caller.starts_with("alertmanager:") {
            return false;
        }
        match self.investigation_of(action) {
            // Its root message first.
            Some(inv) => db.thread(&inv.id).ok().flatten().is_none(),
            // Not listed yet: for a while.
            None => chrono::Utc::now() - action.created < WAIT_FOR_INVESTIGATION,
        }
    }
}

/// The root message of an investigation.
pub fn investigation_message(inv: &Investigation) -> (String, Value) {
    let alert = inv
        .alert
        .as_ref()
        .map(|a| a.alertname.clone())
        .unwrap_or_else(|| "investigation".into());
    let target = match &inv.target {
        Some(t) => match &t.namespace {
            Some(ns) => format!("{} {ns}/{}", t.kind, t.name),
            None => format!("{} {}", t.kind, t.name),
        },
        None => format!(
            "not mapped: {}",
            inv.unmapped.as_deref().unwrap_or("no target")
        ),
    };
    let cause = inv
        .findings
        .iter()
        .find_map(|f| f["root_cause"].as_str().or(f["cause"].as_str()))
        .map(str::to_owned);
    let text = format!("{alert}: {target}");
    let mut lines = vec![
        format!("*Target:* {}", escape(&target)),
        format!("*Read:* {}", escape(&inv.scope_read)),
        format!("*State:* {}", inv.state.as_str()),
    ];
    match &cause {
        Some(c) => {
            lines.push(format!("*Root cause:* {}", escape(c)));
            // The evidence of the finding that names it, first lines.
            let evidence: Vec<String> = inv
                .findings
                .iter()
                .find(|f| {
                    f["root_cause"].as_str() == Some(c.as_str())
                        || f["cause"].as_str() == Some(c.as_str())
                })
                .and_then(|f| f["evidence"].as_array())
                .map(|ev| {
                    ev.iter()
                        .filter_map(|e| e["text"].as_str())
                        .take(5)
                        .map(|t| format!("• {}", escape(&t.chars().take(300).collect::<String>())))
                        .collect()
                })
                .unwrap_or_default();
            if !evidence.is_empty() {
                lines.push(format!("*Evidence:*\n{}", evidence.join("\n")));
            }
        }
        None if inv.target.is_some() => lines.push(format!(
            "*Findings:* {} (none with a root cause)",
            inv.findings.len()
        )),
        None => {}
    }
    if !inv.actions.is_empty() {
        lines.push(format!(
            "*Proposed:* {} (replies below; approve or reject each)",
            inv.actions.join(", ")
        ));
    }
    let blocks = json!([
        {"type": "header", "text": {"type": "plain_text", "text": format!("Investigation {}: {}", inv.id, alert).chars().take(150).collect::<String>()}},
        {"type": "section", "text": {"type": "mrkdwn", "text": lines.join("\n")}},
    ]);
    (text, blocks)
}

/// Posts the root message of each investigation that has none yet (and
/// has a target or proposals to show).
pub async fn post_investigations(slack: &Slack) -> Result<(), SlackError> {
    let Ok(all) = slack.api.session.list_investigations(None) else {
        return Ok(());
    };
    for inv in all.iter().rev() {
        if inv.actions.is_empty() {
            continue;
        }
        let known = slack
            .db()
            .thread(&inv.id)
            .map_err(super::notifier::db_error)?;
        if known.is_some() {
            continue;
        }
        let (text, blocks) = investigation_message(inv);
        let posted = slack
            .client
            .post_message(&slack.config.channel, &text, &blocks, None)
            .await?;
        slack
            .db()
            .set_thread(&inv.id, &posted.channel, &posted.ts)
            .map_err(super::notifier::db_error)?;
        tracing::info!(investigation = %inv.id, ts = %posted.ts, "slack: investigation {} posted", inv.id);
    }
    Ok(())
}
