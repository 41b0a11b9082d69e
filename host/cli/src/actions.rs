//! `guardian actions list|show|approve|reject`: wiring only — the store,
//! its state machine and the guarded apply are `guardian_actions`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use guardian_actions::{
    Action, ActionError, ActionStore, ApplyOptions, ApplyOutcome, Approver, Channel, Health, State,
};
use guardian_broker::Audit;
use guardian_core::actions::{DecisionError, Settled};
use serde_json::Value;

use crate::args::{ActionsCommand, Global, ListFormat, ShowFormat, StateFilter};
use crate::output;

pub async fn run(global: &Global, cmd: ActionsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ActionsCommand::List { output, state } => list(global, output, state),
        ActionsCommand::Show { id, output } => show(global, &id, output),
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

/// The store under --state-dir, auditing to --audit.
fn open_store(global: &Global, audit: Arc<Audit>) -> anyhow::Result<ActionStore> {
    ActionStore::open_default(global.state_dir.as_deref(), audit)
        .map_err(|e| anyhow::anyhow!("{e}"))
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
    }
}

fn list(
    global: &Global,
    format: ListFormat,
    state: Option<StateFilter>,
) -> anyhow::Result<ExitCode> {
    let store = open_store(global, audit_only(global)?)?;
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

fn show(global: &Global, id: &str, format: ShowFormat) -> anyhow::Result<ExitCode> {
    let store = open_store(global, audit_only(global)?)?;
    let action = store.get(id).map_err(store_error)?;
    let mut data = serde_json::to_value(&action)?;
    data["kubectl"] = Value::String(kubectl_command(&action));
    match format {
        ShowFormat::Json => print!("{}", output::json(&data)?),
        ShowFormat::Yaml => print!("{}", output::yaml(&data)?),
        ShowFormat::Text => print!("{}", render(&action)),
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
    let (policy, audit) = crate::skills::policy_and_audit(global)?;
    let store = open_store(global, audit.clone())?;
    decided(guardian_core::actions::refuse_final(
        &store.get(id).map_err(store_error)?,
    ))?;
    let broker = guardian_broker::Broker::live(&global.options().cluster, policy, audit)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // An apply a crash interrupted is settled first, never re-applied.
    let mut notes = Vec::new();
    let settled = guardian_core::actions::settle(&store, &broker, id, &mut notes).await;
    for note in &notes {
        eprintln!("{note}");
    }
    let action = match decided(settled)? {
        Settled::Ready(action) => action,
        Settled::AlreadyApplied(action) => {
            println!(
                "action {id} was already applied by an earlier run that was interrupted; nothing applied again ({})",
                action.outcome.as_deref().unwrap_or("applied")
            );
            return Ok(ExitCode::SUCCESS);
        }
    };
    print!("{}", ensure_newline(&action.diff));
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

fn render(a: &Action) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: &str| out.push_str(&format!("{k:<17}{v}\n"));
    line("ID:", &a.id);
    line("State:", a.state.as_str());
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
    out.push_str("Diff:\n");
    for l in a.diff.lines() {
        out.push_str(&format!("  {l}\n"));
    }
    out.push_str(&format!("Equivalent kubectl:\n  {}\n", kubectl_command(a)));
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
