//! The Slack message of one action, in Block Kit: a header, why (the
//! rationale: the finding's root cause), the target, the diff in a code
//! block (cut to Slack's limits, saying so), the dry run, the policy
//! decision, its state and who decided, and — while it is pending —
//! Approve / Reject buttons whose value is the action id.

use guardian_actions::{Action, ActionKind, State};
use serde_json::{Value, json};

/// `action_id` of the Approve button.
pub const APPROVE: &str = "guardian_approve";
/// `action_id` of the Reject button.
pub const REJECT: &str = "guardian_reject";

/// Slack's limits: a header's text, a section's text, a field's text.
pub const HEADER_MAX: usize = 150;
pub const SECTION_MAX: usize = 3000;
pub const FIELD_MAX: usize = 2000;

/// A message: the blocks and the plain-text fallback (notifications).
#[derive(Clone, Debug)]
pub struct Message {
    pub text: String,
    pub blocks: Value,
}

/// Escapes text for Slack's mrkdwn (`&`, `<`, `>`).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters of `text`, on a char boundary; `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The diff as a code block of at most [`SECTION_MAX`] characters: whole
/// lines, then a note saying how many were left out and where to see all.
pub fn diff_block(diff: &str, id: &str) -> String {
    let diff = escape(diff.trim_end()).replace("```", "`\u{200b}``");
    let lines: Vec<&str> = diff.lines().collect();
    let full = format!("```\n{diff}\n```");
    if full.chars().count() <= SECTION_MAX {
        return full;
    }
    let note_for = |shown: usize| {
        format!(
            "\n_The diff is cut: {shown} of {} lines shown; see all of it with `guardian actions show {id}`._",
            lines.len()
        )
    };
    // Room for the fences and the note (its numbers at their longest).
    let budget = SECTION_MAX - "```\n\n```".len() - note_for(lines.len()).chars().count();
    let mut body = String::new();
    let mut shown = 0;
    for line in &lines {
        let line = cut(line, budget.min(500));
        if body.chars().count() + line.chars().count() + 1 > budget {
            break;
        }
        body.push_str(&line);
        body.push('\n');
        shown += 1;
    }
    format!(
        "```\n{}\n```{}",
        body.trim_end_matches('\n'),
        note_for(shown)
    )
}

/// The person who decided (approved, rejected, or failed it at review),
/// as `alice (slack)`; `None` when no person did (pending, expired).
pub fn decided_by(action: &Action) -> Option<String> {
    if let Some(a) = &action.approver {
        return Some(format!("{} ({})", a.identity(), a.channel()));
    }
    action
        .history
        .iter()
        .rev()
        .find(|t| matches!(t.state, State::Rejected | State::Failed))
        .map(|t| t.who.strip_prefix("human:").unwrap_or(&t.who).to_owned())
        .filter(|w| !w.is_empty())
}

/// One line on where the action stands and who decided.
pub fn status_line(action: &Action) -> String {
    let who = decided_by(action).unwrap_or_else(|| "no one".into());
    let outcome = action
        .outcome
        .as_deref()
        .filter(|o| !o.is_empty())
        .map(|o| format!(": {}", escape(&cut(o, 600))))
        .unwrap_or_default();
    let note = action
        .last_transition()
        .map(|t| t.note.trim())
        .filter(|n| !n.is_empty())
        .map(|n| format!(": {}", escape(&cut(n, 600))))
        .unwrap_or_default();
    match action.state {
        State::Pending => format!(
            ":hourglass_flowing_sand: Pending: waiting for an approver (expires {})",
            action.expires.format("%Y-%m-%d %H:%M UTC")
        ),
        State::Approved => format!(":thumbsup: Approved by {who}; being applied"),
        State::Applying => format!(":gear: Being applied, approved by {who}"),
        State::Submitted => format!(":mailbox: Submitted, approved by {who}{outcome}"),
        State::Applied => format!(":white_check_mark: Applied by {who}{outcome}"),
        State::Failed => {
            let stale = action
                .outcome
                .as_deref()
                .is_some_and(|o| o.contains(guardian_actions::STALE));
            if stale {
                format!(
                    ":warning: Stale: the object changed since it was proposed; nothing was written (failed when {who} decided){outcome}"
                )
            } else {
                format!(":x: Failed, decided by {who}{outcome}")
            }
        }
        State::Rejected => format!(":no_entry_sign: Rejected by {who}{note}"),
        State::Expired => format!(
            ":alarm_clock: Expired at {}: no one decided in time",
            action.expires.format("%Y-%m-%d %H:%M UTC")
        ),
        State::Unknown => format!(
            ":grey_question: Unknown: the apply approved by {who} was interrupted; check {} yourself{outcome}",
            escape(&action.target.label())
        ),
    }
}

/// The message of `action` as it stands now.
pub fn action_message(action: &Action) -> Message {
    let target = action.target.label();
    let git = action.verified_git_change().ok().flatten();
    let (what, diff) = match (&action.kind, &git) {
        (ActionKind::GitChange, Some(change)) => ("Git change", change.diff()),
        _ => ("Change", action.diff.clone()),
    };
    let header = cut(&format!("{what} proposed: {target}"), HEADER_MAX);
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": false}}),
        json!({"type": "section", "text": {"type": "mrkdwn",
            "text": cut(&format!("*Root cause*\n{}", escape(action.rationale.trim())), SECTION_MAX)}}),
        json!({"type": "section", "fields": [
            {"type": "mrkdwn", "text": cut(&format!("*Target*\n`{}`", escape(&target)), FIELD_MAX)},
            {"type": "mrkdwn", "text": cut(&format!("*Action*\n`{}`", escape(&action.id)), FIELD_MAX)},
            {"type": "mrkdwn", "text": cut(&format!("*Proposed by*\n{}", escape(&action.proposer.label())), FIELD_MAX)},
            {"type": "mrkdwn", "text": cut(&format!("*Policy*\n{}", escape(&action.policy_decision)), FIELD_MAX)},
        ]}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": diff_block(&diff, &action.id)}}),
        json!({"type": "section", "text": {"type": "mrkdwn",
            "text": cut(&format!("*Dry run*\n{}", escape(action.dry_run_result.trim())), SECTION_MAX)}}),
        json!({"type": "section", "block_id": "status", "text": {"type": "mrkdwn",
            "text": cut(&status_line(action), SECTION_MAX)}}),
    ];
    if action.state == State::Pending {
        blocks.push(json!({"type": "actions", "block_id": "decide", "elements": [
            {"type": "button", "action_id": APPROVE, "style": "primary", "value": action.id,
             "text": {"type": "plain_text", "text": "Approve"},
             "confirm": {"title": {"type": "plain_text", "text": "Apply this change?"},
                         "text": {"type": "mrkdwn", "text": cut(&format!("Guardian will apply `{}` to `{}` now.", escape(&action.id), escape(&target)), 300)},
                         "confirm": {"type": "plain_text", "text": "Approve and apply"},
                         "deny": {"type": "plain_text", "text": "Cancel"}}},
            {"type": "button", "action_id": REJECT, "style": "danger", "value": action.id,
             "text": {"type": "plain_text", "text": "Reject"}},
        ]}));
    }
    let text = cut(
        &format!(
            "{what} proposed for {target} ({}): {} — {}",
            action.id,
            action.rationale.trim(),
            status_line(action)
        ),
        3000,
    );
    Message {
        text,
        blocks: Value::Array(blocks),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_diff_is_one_code_block_and_a_long_one_is_cut_with_a_note() {
        let short = diff_block("-  image: web:1\n+  image: web:2\n", "act-1");
        assert_eq!(short, "```\n-  image: web:1\n+  image: web:2\n```");
        let long: String = (0..400)
            .map(|i| format!("+  line {i}: {}\n", "x".repeat(40)))
            .collect();
        let block = diff_block(&long, "act-1");
        assert!(
            block.chars().count() <= SECTION_MAX,
            "{}",
            block.chars().count()
        );
        assert!(block.starts_with("```\n+  line 0:"), "{block}");
        assert!(block.contains("\n```\n_The diff is cut: "), "{block}");
        assert!(block.contains("of 400 lines shown"), "{block}");
        assert!(block.contains("guardian actions show act-1"), "{block}");
        // Whole lines only: the last shown line is complete.
        let body = block.split("```").nth(1).unwrap();
        assert!(body.trim_end().ends_with(&"x".repeat(40)), "{body}");
        // One enormous line is cut too.
        let block = diff_block(&"y".repeat(10_000), "act-1");
        assert!(block.chars().count() <= SECTION_MAX);
    }

    fn store() -> (tempfile::TempDir, guardian_actions::ActionStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = guardian_actions::ActionStore::open(
            &dir.path().join("actions.db"),
            std::sync::Arc::new(guardian_broker::Audit::Off),
        )
        .unwrap();
        (dir, store)
    }

    fn propose(store: &guardian_actions::ActionStore, diff: &str) -> Action {
        store
            .propose(guardian_actions::Proposal {
                target: guardian_actions::Target {
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    namespace: Some("shop".into()),
                    name: "web".into(),
                    resource: "deployments.apps".into(),
                },
                patch: br#"[{"op":"test","path":"/spec/replicas","value":1},{"op":"replace","path":"/spec/replicas","value":2}]"#.to_vec(),
                resource_version: "7".into(),
                rationale: "web <is> down & out".into(),
                proposer: guardian_actions::Proposer {
                    caller: "agent".into(),
                    skill: "diagnostics".into(),
                    tool: "analyze".into(),
                },
                dry_run_result: "the API server accepted the patch (dry run)".into(),
                diff: diff.into(),
                policy_decision: "allow (approved-action)".into(),
                ttl: None,
            })
            .unwrap()
    }

    #[test]
    fn a_pending_action_has_every_part_and_both_buttons_and_a_decided_one_none() {
        let (_dir, store) = store();
        let action = propose(&store, "-  replicas: 1\n+  replicas: 2\n");
        let m = action_message(&action);
        let blocks = m.blocks.as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(
            blocks[0]["text"]["text"],
            "Change proposed: deployments.apps shop/web"
        );
        let all = m.blocks.to_string();
        assert!(all.contains("web &lt;is&gt; down &amp; out"), "{all}");
        assert_eq!(
            blocks[3]["text"]["text"],
            "```\n-  replicas: 1\n+  replicas: 2\n```"
        );
        assert!(all.contains("the API server accepted the patch"), "{all}");
        assert!(all.contains("allow (approved-action)"), "{all}");
        assert!(all.contains("Pending"), "{all}");
        let buttons = blocks
            .iter()
            .find(|b| b["type"] == "actions")
            .expect("the buttons")["elements"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(buttons.len(), 2);
        assert_eq!(buttons[0]["action_id"], APPROVE);
        assert_eq!(buttons[0]["value"], action.id.as_str());
        assert_eq!(buttons[1]["action_id"], REJECT);
        assert_eq!(buttons[1]["value"], action.id.as_str());
        for b in blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                let max = if b["type"] == "header" {
                    HEADER_MAX
                } else {
                    SECTION_MAX
                };
                assert!(t.chars().count() <= max);
            }
        }
        assert!(m.text.contains(&action.id));

        let alice =
            guardian_actions::Approver::new(guardian_actions::Channel::Slack, "alice").unwrap();
        let rejected = store
            .reject(&action.id, &alice, "rejected in Slack by alice (U1)")
            .unwrap();
        let m = action_message(&rejected);
        assert!(
            !m.blocks
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b["type"] == "actions")
        );
        let status = status_line(&rejected);
        assert!(
            status.contains("Rejected by alice (slack): rejected in Slack by alice (U1)"),
            "{status}"
        );
    }

    #[test]
    fn a_stale_action_says_so_and_who_decided() {
        let (_dir, store) = store();
        let action = propose(&store, "x");
        let alice =
            guardian_actions::Approver::new(guardian_actions::Channel::Slack, "alice").unwrap();
        let reason = format!("{} (resourceVersion 7 is now 9)", guardian_actions::STALE);
        let failed = store
            .fail_unapplied(&action.id, &alice.label(), &reason)
            .unwrap();
        let status = status_line(&failed);
        assert!(status.starts_with(":warning: Stale"), "{status}");
        assert!(status.contains("nothing was written"), "{status}");
        assert!(status.contains("alice (slack)"), "{status}");
    }

    #[test]
    fn mrkdwn_is_escaped_and_fences_cannot_be_closed_by_the_diff() {
        assert_eq!(
            escape("<!channel> & <@U1>"),
            "&lt;!channel&gt; &amp; &lt;@U1&gt;"
        );
        let block = diff_block("a\n```\n<!here>", "act-1");
        assert_eq!(block.matches("```").count(), 2, "{block}");
        assert!(block.contains("&lt;!here&gt;"), "{block}");
        assert_eq!(cut("héllo", 3), "hé…");
        assert_eq!(cut("hé", 3), "hé");
    }
}
