//! `guardian actions list|show|approve|reject`: wiring only — the store,
//! its state machine and the guarded apply are `guardian_actions`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use guardian_actions::{
    Action, ActionError, ActionStore, ApplyOptions, ApplyOutcome, Approver, Channel, Health,
    Integrity, Preview, PreviewError, State, StoreOptions,
};
use guardian_broker::Audit;
use guardian_core::actions::{DecisionError, Settled};
use serde_json::Value;

use crate::args::{ActionsCommand, Global, ListFormat, ShowFormat, StateFilter};
use crate::output;

pub async fn run(global: &Global, cmd: ActionsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ActionsCommand::List { output, state } => list(global, output, state),
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
        } => reject(global, &id, &reason, approver.as_deref()),
    }
}

/// The store under --state-dir (its key from --action-key-file), auditing
/// to --audit. What opening it did (a directory made private, a key
/// created) is said on stderr, and so is a missing or wrong key (a decision
/// refuses with the same words).
fn open_store(global: &Global, audit: Arc<Audit>) -> anyhow::Result<ActionStore> {
    let store = ActionStore::open_default_with(
        global.state_dir.as_deref(),
        audit,
        StoreOptions {
            key_file: global.action_key_file.clone(),
            ..StoreOptions::default()
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    for notice in store.notices() {
        eprintln!("note: {notice}");
    }
    Ok(store)
}

/// Says on stderr why no action of `store` can be decided, if so.
fn warn_key(store: &ActionStore) {
    if let Some(problem) = store.key_problem() {
        eprintln!("warning: {problem}");
    }
}

fn audit_only(global: &Global) -> anyhow::Result<Arc<Audit>> {
    Ok(Arc::new(match &global.audit {
        Some(path) => Audit::open(path)
            .with_context(|| format!("cannot open the audit log {}", path.display()))?,
        None => Audit::Off,
    }))
}

/// A store error, with what to do about it.
fn store_error(e: ActionError) -> anyhow::Error {
    match e {
        ActionError::NotFound { .. } | ActionError::InvalidId(_) => anyhow::anyhow!(
            "{e}; `guardian actions list` shows the ids (with --state-dir DIR if the actions were proposed with one)"
        ),
        e => anyhow::anyhow!("{e}"),
    }
}

/// Who is deciding: --as-user, else $USER.
fn approver(name: Option<&str>) -> anyhow::Result<Approver> {
    let name = match name {
        Some(n) => n.to_owned(),
        None => std::env::var("USER")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .context("cannot tell who is deciding: $USER is not set; pass --as-user NAME")?,
    };
    Approver::new(Channel::Cli, &name).map_err(|e| anyhow::anyhow!("{e}"))
}

fn state_of(filter: StateFilter) -> State {
    match filter {
        StateFilter::Pending => State::Pending,
        StateFilter::Approved => State::Approved,
        StateFilter::Rejected => State::Rejected,
        StateFilter::Expired => State::Expired,
        StateFilter::Applying => State::Applying,
        StateFilter::Applied => State::Applied,
        StateFilter::Failed => State::Failed,
        StateFilter::Unknown => State::Unknown,
    }
}

fn list(
    global: &Global,
    format: ListFormat,
    state: Option<StateFilter>,
) -> anyhow::Result<ExitCode> {
    let store = open_store(global, audit_only(global)?)?;
    warn_key(&store);
    let actions = store.list(state.map(state_of)).map_err(store_error)?;
    match format {
        ListFormat::Json => print!("{}", output::json(&actions)?),
        ListFormat::Yaml => print!("{}", output::yaml(&actions)?),
        ListFormat::Table => {
            if actions.is_empty() {
                eprintln!("No actions found in {}.", store.path().display());
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

/// What `show` says about the change an action makes.
enum Shown {
    /// Dry-run now against the object, from the patch bytes.
    Checked(Preview),
    /// Not re-checked (no cluster, an action no longer waiting): the diff
    /// stored with the proposal, authenticated by its MAC.
    AsProposed(String),
    /// The row failed its check: no diff is shown.
    Withheld,
}

/// How long `show` waits for the cluster before showing the stored diff.
const SHOW_CHECK_TIMEOUT: Duration = Duration::from_secs(15);

async fn show(global: &Global, id: &str, format: ShowFormat) -> anyhow::Result<ExitCode> {
    let store = open_store(global, audit_only(global)?)?;
    warn_key(&store);
    let action = store.get(id).map_err(store_error)?;
    let shown = if !action.integrity.is_verified() {
        Shown::Withheld
    } else if !matches!(action.state, State::Pending | State::Approved) {
        Shown::AsProposed(format!("the action is {}", action.state))
    } else {
        match tokio::time::timeout(SHOW_CHECK_TIMEOUT, check_now(global, &action)).await {
            Ok(Ok(preview)) => Shown::Checked(preview),
            Ok(Err(why)) => Shown::AsProposed(why),
            Err(_) => Shown::AsProposed(format!(
                "the cluster did not answer within {}s",
                SHOW_CHECK_TIMEOUT.as_secs()
            )),
        }
    };
    let mut data = serde_json::to_value(&action)?;
    if action.integrity.is_verified() {
        data["kubectl"] = Value::String(kubectl_command(&action));
    }
    data["review"] = match &shown {
        Shown::Checked(p) => serde_json::json!({
            "checked": true,
            "resource_version": p.resource_version,
            "dry_run": p.dry_run,
            "diff": p.diff,
        }),
        Shown::AsProposed(why) => serde_json::json!({"checked": false, "why": why}),
        Shown::Withheld => serde_json::json!({
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

/// The change as the apply would make it now (see
/// `guardian_actions::preview_write`), or why it could not be checked.
async fn check_now(global: &Global, action: &Action) -> Result<Preview, String> {
    let (policy, audit) = crate::skills::policy_and_audit(global).map_err(|e| format!("{e:#}"))?;
    let backend = crate::capture::connect(global).await.map_err(|e| {
        format!(
            "no cluster to check against ({})",
            one_line(&format!("{e:#}"), 160)
        )
    })?;
    let broker = guardian_broker::Broker::new(Arc::new(backend), policy, audit);
    let who = approver(None)
        .map(|a| a.caller())
        .unwrap_or_else(|_| "human:unknown".into());
    guardian_actions::preview_write(&broker, action, &who)
        .await
        .map_err(|e| match e {
            PreviewError::Stale(why) => format!(
                "the object changed since the proposal ({why}); approving it will fail as stale"
            ),
            e => e.to_string(),
        })
}

async fn approve(
    global: &Global,
    id: &str,
    yes: bool,
    name: Option<&str>,
    options: &ApplyOptions,
) -> anyhow::Result<ExitCode> {
    let who = approver(name)?;
    let (policy, audit) = crate::skills::policy_and_audit(global)?;
    let store = open_store(global, audit.clone())?;
    decided(guardian_core::actions::refuse_final(
        &store.get(id).map_err(store_error)?,
    ))?;
    let backend = crate::capture::connect(global).await?;
    let broker = guardian_broker::Broker::new(Arc::new(backend), policy, audit);
    // An apply a crash interrupted is settled first, never re-applied.
    let mut notes = Vec::new();
    let settled = guardian_core::actions::settle(&store, &broker, id, &mut notes).await;
    for note in &notes {
        eprintln!("{note}");
    }
    match decided(settled)? {
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
    let review = decided(guardian_core::actions::review(&store, &broker, id, &who).await)?;
    let action = &review.action;
    println!(
        "The change to {} ({}; Guardian also sets {}={id}):",
        action.target.label(),
        review.preview.dry_run,
        guardian_actions::ACTION_ANNOTATION
    );
    print!("{}", ensure_newline(&review.preview.diff));
    println!("Equivalent kubectl:\n  {}", review.kubectl);
    let prompt = format!("Apply this change to {}? [y/N] ", action.target.label());
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
    eprintln!("Applying {id} to {} ...", action.target.label());
    let report = decided(
        guardian_core::actions::approve_and_apply(
            &store,
            &broker,
            id,
            &who,
            "approved at the command line",
            options,
        )
        .await,
    )?;
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

fn reject(global: &Global, id: &str, reason: &str, name: Option<&str>) -> anyhow::Result<ExitCode> {
    let who = approver(name)?;
    let store = open_store(global, audit_only(global)?)?;
    let action = decided(guardian_core::actions::reject(&store, id, &who, reason))?;
    println!("action {id} rejected ({})", action.target.label());
    Ok(ExitCode::SUCCESS)
}

/// A decision's error, with what to do about it.
fn decided<T>(result: Result<T, DecisionError>) -> anyhow::Result<T> {
    result.map_err(|e| match e {
        DecisionError::Store(e) => store_error(e),
        e => anyhow::anyhow!("{e}"),
    })
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

fn render(a: &Action, shown: &Shown) -> String {
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
        Shown::Checked(p) => diff(
            format!(
                "Diff ({}; Guardian also sets {}={}):\n",
                p.dry_run,
                guardian_actions::ACTION_ANNOTATION,
                a.id
            ),
            &p.diff,
        ),
        Shown::AsProposed(why) => diff(
            format!("Diff (as proposed, not re-checked: {why}):\n"),
            &a.diff,
        ),
        Shown::Withheld => {
            out.push_str("Diff:            not shown: the action failed its integrity check\n")
        }
    }
    if a.integrity.is_verified() {
        out.push_str(&format!("Equivalent kubectl:\n  {}\n", kubectl_command(a)));
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
