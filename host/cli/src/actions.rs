//! `guardian actions list|show|approve|reject`: parsing, the person at the
//! terminal, and rendering. The operations are the session's
//! (`guardian_core::actions`); this is the CLI's human approval channel.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use guardian_actions::{
    Action, ApplyOptions, ApplyOutcome, Approver, Channel, Health, Integrity, State,
};
use guardian_core::actions::{Check, Settled};
use guardian_core::{ErrorClass, ServiceError, Session, Source};
use serde_json::Value;

use crate::args::{ActionsCommand, Global, ListFormat, ShowFormat, StateFilter};
use crate::output;

pub async fn run(global: &Global, cmd: ActionsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ActionsCommand::List { output, state } => list(global, output, state).await,
        ActionsCommand::Show { id, output } => show(global, &id, output).await,
        ActionsCommand::Approve {
            id,
            yes,
            approver,
            rollout_timeout,
            snapshot,
        } => {
            if let Some(path) = snapshot {
                anyhow::bail!(
                    "cannot apply action {id} to the snapshot {}: a snapshot is read-only and cannot be changed; apply against a cluster (--kubeconfig, --context, --as)",
                    path.display()
                );
            }
            let options = ApplyOptions {
                rollout_timeout: Duration::from_secs(rollout_timeout),
                ..ApplyOptions::default()
            };
            approve(global, &id, yes, approver.as_deref(), &options).await
        }
        ActionsCommand::Reject {
            id,
            reason,
            approver,
        } => reject(global, &id, &reason, approver.as_deref()).await,
        ActionsCommand::Follow {
            id,
            timeout,
            output,
        } => follow(global, &id, timeout, output).await,
    }
}

async fn follow(
    global: &Global,
    id: &str,
    timeout: Option<f64>,
    format: ShowFormat,
) -> anyhow::Result<ExitCode> {
    let timeout = match timeout {
        None => None,
        Some(t) => Some(
            Duration::try_from_secs_f64(t)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    anyhow::anyhow!("--timeout: expected a positive number of seconds, not {t}")
                })?,
        ),
    };
    let who = approver(None)
        .map(|a| a.caller())
        .unwrap_or_else(|_| "human:unknown".into());
    let session = Session::open(&global.options(), &Source::Live, None)
        .await
        .context("opening a session to follow the action")?;
    let text = matches!(format, ShowFormat::Text);
    let report = session
        .follow_action(&who, id, timeout, &|t| {
            if text {
                eprintln!(
                    "  {:>6.1}s  sync {:<10} health {:<12}{}{}",
                    t.elapsed_ms as f64 / 1000.0,
                    t.sync,
                    t.health,
                    t.revision
                        .as_deref()
                        .map(|r| format!(" at {}", r.get(..12).unwrap_or(r)))
                        .unwrap_or_default(),
                    t.message
                        .as_deref()
                        .map(|m| format!(" — {m}"))
                        .unwrap_or_default()
                );
            }
        })
        .await
        .map_err(failed)?;
    match format {
        ShowFormat::Json => print!("{}", output::json(&serde_json::to_value(&report)?)?),
        ShowFormat::Yaml => print!("{}", output::yaml(&serde_json::to_value(&report)?)?),
        ShowFormat::Text => println!("action {id} is {}: {}", report.action.state, report.summary),
    }
    Ok(match report.action.state {
        State::Applied => ExitCode::SUCCESS,
        State::Submitted => ExitCode::from(3),
        _ => ExitCode::FAILURE,
    })
}

/// A session for the actions commands: no skill is loaded (none runs);
/// `source` is the cluster a decision or a check needs.
async fn session(global: &Global, source: Source) -> anyhow::Result<Session> {
    Session::open_without_skills(&global.options(), &source).await
}

/// An operation's error, with what to do about it.
fn failed(e: ServiceError) -> anyhow::Error {
    if e.class == ErrorClass::NotFound || e.message.contains("not an action id") {
        anyhow::anyhow!(
            "{e}; `guardian actions list` shows the ids (with --state-dir DIR if the actions were proposed with one)"
        )
    } else {
        anyhow::anyhow!("{e}")
    }
}

/// Who is deciding, at this terminal: --as-user, else $USER, else the
/// operating system's name for the user running this process (as git does).
/// This is the CLI's human channel: the one place it makes an approver.
fn approver(name: Option<&str>) -> anyhow::Result<Approver> {
    let name = match name {
        Some(n) => n.to_owned(),
        None => std::env::var("USER")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .or_else(os_user_name)
            .context(
                "cannot tell who is deciding: $USER is not set and this process's user id has no name in the user database; pass --as-user NAME",
            )?,
    };
    Approver::new(Channel::Cli, &name).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The user database's name for this process's real user id.
fn os_user_name() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .filter(|n| !n.trim().is_empty())
}

fn state_of(filter: StateFilter) -> State {
    match filter {
        StateFilter::Pending => State::Pending,
        StateFilter::Approved => State::Approved,
        StateFilter::Rejected => State::Rejected,
        StateFilter::Expired => State::Expired,
        StateFilter::Applying => State::Applying,
        StateFilter::Submitted => State::Submitted,
        StateFilter::Applied => State::Applied,
        StateFilter::Failed => State::Failed,
        StateFilter::Unknown => State::Unknown,
    }
}

async fn list(
    global: &Global,
    format: ListFormat,
    state: Option<StateFilter>,
) -> anyhow::Result<ExitCode> {
    let session = session(global, Source::None).await?;
    let actions = session.list_actions(state.map(state_of)).map_err(failed)?;
    match format {
        ListFormat::Json => print!("{}", output::json(&actions)?),
        ListFormat::Yaml => print!("{}", output::yaml(&actions)?),
        ListFormat::Table => {
            if actions.is_empty() {
                eprintln!(
                    "No actions found in {}.",
                    session
                        .action_store_path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = actions
                .iter()
                .map(|a| {
                    vec![
                        a.id.clone(),
                        a.state.to_string(),
                        a.target.label(),
                        age(a.created),
                        expires(a),
                        one_line(&a.rationale, 60),
                    ]
                })
                .collect();
            print!(
                "{}",
                output::table(
                    &["ID", "STATE", "TARGET", "AGE", "EXPIRES", "RATIONALE"],
                    &rows
                )
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How long `show` waits for the cluster before showing the stored diff.
const SHOW_CHECK_TIMEOUT: Duration = Duration::from_secs(15);

async fn show(global: &Global, id: &str, format: ShowFormat) -> anyhow::Result<ExitCode> {
    let session = session(global, Source::LiveIfAny).await?;
    let action = session.get_action(id).map_err(failed)?;
    let who = approver(None)
        .map(|a| a.caller())
        .unwrap_or_else(|_| "human:unknown".into());
    let shown = session
        .check_action(&action, &who, SHOW_CHECK_TIMEOUT)
        .await;
    let mut data = serde_json::to_value(&action)?;
    if action.integrity.is_verified() {
        data["kubectl"] = Value::String(kubectl_command(&action));
    }
    data["review"] = match &shown {
        Check::Checked(p) => serde_json::json!({
            "checked": true,
            "resource_version": p.resource_version,
            "dry_run": p.dry_run,
            "diff": p.diff,
        }),
        Check::AsProposed(why) => serde_json::json!({"checked": false, "why": why}),
        Check::Withheld => serde_json::json!({
            "checked": false,
            "why": action.integrity.problem().unwrap_or_default(),
        }),
    };
    match format {
        ShowFormat::Json => print!("{}", output::json(&data)?),
        ShowFormat::Yaml => print!("{}", output::yaml(&data)?),
        ShowFormat::Text => print!("{}", render(&action, &shown)),
    }
    Ok(ExitCode::SUCCESS)
}

async fn approve(
    global: &Global,
    id: &str,
    yes: bool,
    name: Option<&str>,
    options: &ApplyOptions,
) -> anyhow::Result<ExitCode> {
    let who = approver(name)?;
    let session = session(global, Source::Live).await?;
    // An apply a crash interrupted is settled first, never re-applied.
    let mut notes = Vec::new();
    let settled = session.settle_action(id, &mut notes).await;
    for note in &notes {
        eprintln!("{note}");
    }
    match settled.map_err(failed)? {
        Settled::Ready(_) => {}
        Settled::AlreadyApplied(action) => {
            println!(
                "action {id} was already applied by an earlier run that was interrupted; nothing applied again ({})",
                action.outcome.as_deref().unwrap_or("applied")
            );
            return Ok(ExitCode::SUCCESS);
        }
    }
    // What is shown is computed now from the bytes the apply will send: the
    // row checked against its MAC, the write dry-run against the object.
    let review = session.review_action(id, &who).await.map_err(failed)?;
    let action = &review.action;
    let git = action.kind == guardian_actions::ActionKind::GitChange;
    if git {
        println!(
            "The change in Git for {} (base commit {}):",
            action.target.label(),
            review.preview.resource_version
        );
        print!("{}", ensure_newline(&review.preview.diff));
        println!("Checks: {}", review.preview.dry_run);
        println!("On approval:\n  {}", review.kubectl);
    } else {
        println!(
            "The change to {} ({}; Guardian also sets {}={id}):",
            action.target.label(),
            review.preview.dry_run,
            guardian_actions::ACTION_ANNOTATION
        );
        print!("{}", ensure_newline(&review.preview.diff));
        println!("Equivalent kubectl:\n  {}", review.kubectl);
    }
    let prompt = if git {
        "Push this change on a new branch and open a pull request? [y/N] ".to_owned()
    } else {
        format!("Apply this change to {}? [y/N] ", action.target.label())
    };
    if !yes {
        if !std::io::stdin().is_terminal() {
            anyhow::bail!(
                "stdin is not a terminal, so there is no one to ask; review the change with `guardian actions show {id}` and pass --yes to approve and apply it"
            );
        }
        if !confirm(&prompt)? {
            eprintln!("Not approved; action {id} is still {}.", action.state);
            return Ok(ExitCode::FAILURE);
        }
    }
    if git {
        eprintln!("Pushing {id} and opening its pull request ...");
    } else {
        eprintln!("Applying {id} to {} ...", action.target.label());
    }
    let report = session
        .apply_reviewed(id, &who, "approved at the command line", options)
        .await
        .map_err(failed)?;
    match &report.outcome {
        ApplyOutcome::Applied { health, detail } => {
            let health = match health {
                Health::Healthy => "healthy",
                Health::Degraded => "degraded",
                Health::Unchecked => "health not checked",
            };
            println!(
                "action {id} applied to {} ({health}): {detail}",
                action.target.label()
            );
            Ok(ExitCode::SUCCESS)
        }
        ApplyOutcome::Submitted { detail } => {
            println!(
                "action {id} submitted: {detail}\nnext: once the pull request is merged, `guardian actions follow {id}` syncs (if needed) and verifies it"
            );
            Ok(ExitCode::SUCCESS)
        }
        ApplyOutcome::Failed { error } => {
            eprintln!("error: action {id} failed; nothing was changed: {error}");
            Ok(ExitCode::FAILURE)
        }
        ApplyOutcome::Unknown { detail } => {
            eprintln!(
                "error: action {id}: whether it landed is unknown — check {}: {detail}",
                action.target.label()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn reject(
    global: &Global,
    id: &str,
    reason: &str,
    name: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let who = approver(name)?;
    let session = session(global, Source::None).await?;
    let action = session.reject_action(&who, id, reason).map_err(failed)?;
    println!("action {id} rejected ({})", action.target.label());
    Ok(ExitCode::SUCCESS)
}

fn confirm(prompt: &str) -> anyhow::Result<bool> {
    let mut err = std::io::stderr();
    write!(err, "{prompt}")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// The kubectl command equivalent to the apply (see
/// `guardian_core::actions::kubectl_command`).
pub fn kubectl_command(action: &Action) -> String {
    guardian_core::actions::kubectl_command(action)
}

fn render(a: &Action, shown: &Check) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: &str| out.push_str(&format!("{k:<17}{v}\n"));
    line("ID:", &a.id);
    line("State:", a.state.as_str());
    line(
        "Integrity:",
        &match &a.integrity {
            Integrity::Verified => "verified (its MACs match)".to_owned(),
            Integrity::Tampered { reason } => {
                format!("TAMPERED — {reason}; it will never be applied")
            }
            Integrity::Unauthenticated { reason } => format!("NOT AUTHENTICATED — {reason}"),
            Integrity::KeyUnavailable { reason } => format!("CANNOT BE CHECKED — {reason}"),
        },
    );
    line("Target:", &a.target.label());
    line(
        "Lands in:",
        match a.kind {
            guardian_actions::ActionKind::GitChange => "Git (a branch and a pull request)",
            guardian_actions::ActionKind::ClusterPatch => "the cluster (a patch)",
        },
    );
    line(
        "Kind:",
        &format!("{} {}", a.target.api_version, a.target.kind),
    );
    line("ResourceVersion:", &a.resource_version);
    line("Proposed by:", &a.proposer.label());
    line(
        "Created:",
        &a.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    line(
        "Expires:",
        &a.expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    if let Some(approver) = &a.approver {
        line("Decided by:", &approver.label());
    }
    if let Some(outcome) = &a.outcome {
        line("Outcome:", outcome);
    }
    line("Policy:", &a.policy_decision);
    line("Dry run:", &one_line(&a.dry_run_result, 200));
    out.push_str(&format!("Rationale:\n  {}\n", a.rationale.trim()));
    let mut diff = |head: String, text: &str| {
        out.push_str(&head);
        for l in text.lines() {
            out.push_str(&format!("  {l}\n"));
        }
    };
    match shown {
        Check::Checked(p) if a.kind == guardian_actions::ActionKind::GitChange => diff(
            format!(
                "Files changed in Git (base commit {}):\n",
                p.resource_version
            ),
            &p.diff,
        ),
        Check::Checked(p) => diff(
            format!(
                "Diff ({}; Guardian also sets {}={}):\n",
                p.dry_run,
                guardian_actions::ACTION_ANNOTATION,
                a.id
            ),
            &p.diff,
        ),
        Check::AsProposed(why) => diff(
            format!("Diff (as proposed, not re-checked: {why}):\n"),
            &a.diff,
        ),
        Check::Withheld => {
            out.push_str("Diff:            not shown: the action failed its integrity check\n")
        }
    }
    if let Some(g) = &a.git {
        for (k, v) in [
            ("Branch:", g.branch.as_deref()),
            ("Commit:", g.commit.as_deref()),
            ("Pull request:", g.pull_request_url.as_deref()),
            ("Merge commit:", g.merge_commit.as_deref()),
            ("Sync action:", g.sync_action.as_deref()),
        ] {
            if let Some(v) = v {
                out.push_str(&format!("{k:<17}{v}\n"));
            }
        }
    }
    if a.integrity.is_verified() {
        let head = match a.kind {
            guardian_actions::ActionKind::GitChange => "On approval",
            guardian_actions::ActionKind::ClusterPatch => "Equivalent kubectl",
        };
        out.push_str(&format!("{head}:\n  {}\n", kubectl_command(a)));
    }
    out.push_str("History:\n");
    for t in &a.history {
        out.push_str(&format!(
            "  {}  {:<9} {}  {}\n",
            t.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            t.state.as_str(),
            t.who,
            t.note
        ));
    }
    out
}

fn ensure_newline(s: &str) -> String {
    if s.is_empty() || s.ends_with('\n') {
        s.to_owned()
    } else {
        format!("{s}\n")
    }
}

fn one_line(s: &str, max: usize) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= max {
        s
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// kubectl-style age: `45s`, `12m`, `3h`, `2d`.
fn age(t: chrono::DateTime<Utc>) -> String {
    short_duration((Utc::now() - t).num_seconds().max(0))
}

fn expires(a: &Action) -> String {
    if a.state.is_final() || a.state == State::Applying {
        return "-".into();
    }
    let left = (a.expires - Utc::now()).num_seconds();
    if left <= 0 {
        "now".into()
    } else {
        format!("in {}", short_duration(left))
    }
}

fn short_duration(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(
            guardian_core::actions::shell_quote(r#"[{"a":"it's"}]"#),
            r#"'[{"a":"it'\''s"}]'"#
        );
        assert_eq!(super::short_duration(30), "30s");
        assert_eq!(super::short_duration(7200), "2h");
    }
}
