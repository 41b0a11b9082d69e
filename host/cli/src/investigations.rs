//! `guardian investigations list|show`: what Guardian found about each
//! alert Alertmanager sent. Rendering only; the records are the session's
//! (`guardian_core::investigations`).

use std::fmt::Write as _;
use std::process::ExitCode;

use guardian_core::{ErrorClass, Investigation, InvestigationState, Session, Source};

use crate::args::{Global, InvestigationsCommand, ListFormat, ShowFormat};
use crate::output;

pub async fn run(global: &Global, cmd: InvestigationsCommand) -> anyhow::Result<ExitCode> {
    let session = Session::open_without_skills(&global.options(), &Source::None).await?;
    match cmd {
        InvestigationsCommand::List { output, state } => {
            let state = InvestigationState::parse(state.as_deref().unwrap_or(""))
                .map_err(|e| anyhow::anyhow!("--state: {e}"))?;
            let list = session
                .list_investigations(state)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            match output {
                ListFormat::Json => print!("{}", output::json(&list)?),
                ListFormat::Yaml => print!("{}", output::yaml(&list)?),
                ListFormat::Table if list.is_empty() => {
                    eprintln!(
                        "No investigations found (alerts reach Guardian at POST /alertmanager of `guardian serve`)."
                    );
                }
                ListFormat::Table => print!("{}", table(&list)),
            }
            Ok(ExitCode::SUCCESS)
        }
        InvestigationsCommand::Show { id, output } => {
            let inv = session.get_investigation(&id).map_err(|e| {
                if e.class == ErrorClass::NotFound {
                    anyhow::anyhow!("{e} (with --state-dir DIR if the daemon uses one)")
                } else {
                    anyhow::anyhow!("{e}")
                }
            })?;
            match output {
                ShowFormat::Json => print!("{}", output::json(&inv)?),
                ShowFormat::Yaml => print!("{}", output::yaml(&inv)?),
                ShowFormat::Text => print!("{}", text(&inv)),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn target(i: &Investigation) -> String {
    match (&i.target, &i.unmapped) {
        (Some(t), _) => t.display(),
        (None, Some(_)) => "(unmapped)".into(),
        (None, None) => "-".into(),
    }
}

fn table(list: &[Investigation]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|i| {
            vec![
                i.id.clone(),
                i.state.as_str().into(),
                i.alert
                    .as_ref()
                    .map(|a| a.alertname.clone())
                    .unwrap_or_else(|| "-".into()),
                target(i),
                i.findings.len().to_string(),
                i.actions.len().to_string(),
                age(&i.created),
            ]
        })
        .collect();
    output::table(
        &[
            "ID", "STATE", "ALERT", "TARGET", "FINDINGS", "ACTIONS", "AGE",
        ],
        &rows,
    )
}

fn age(rfc3339: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(rfc3339) else {
        return "-".into();
    };
    let s = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// For a person: the alert, the target (or why there is none), what was
/// read, the findings with their root cause, the actions proposed.
fn text(i: &Investigation) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "Investigation {} ({})", i.id, i.state.as_str());
    let _ = writeln!(o, "Started by:  {}", i.started_by);
    if let Some(a) = &i.alert {
        let _ = writeln!(
            o,
            "Alert:       {} ({}, fingerprint {})",
            a.alertname, a.status, a.fingerprint
        );
        if let Some(s) = a
            .annotations
            .get("summary")
            .or(a.annotations.get("description"))
        {
            let _ = writeln!(o, "             {s}");
        }
        let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(o, "Labels:      {}", labels.join(", "));
    }
    match (&i.target, &i.unmapped) {
        (Some(t), _) => {
            let _ = writeln!(o, "Target:      {} (from label {})", t.display(), t.from);
        }
        (None, Some(why)) => {
            let _ = writeln!(o, "Target:      none — {why}");
        }
        _ => {}
    }
    let _ = writeln!(o, "Read:        {}", i.scope_read);
    let _ = writeln!(o, "Created:     {}   updated {}", i.created, i.updated);
    if let Some(r) = &i.resolved {
        let _ = writeln!(o, "Resolved:    {r}");
    }
    if !i.timing_ms.is_empty() {
        let t: Vec<String> = i
            .timing_ms
            .iter()
            .map(|(k, v)| format!("{k} {v} ms"))
            .collect();
        let _ = writeln!(o, "Timing:      {}", t.join(", "));
    }
    if let Some(e) = &i.error {
        let _ = writeln!(o, "Error:       {e}");
    }
    let _ = writeln!(o);
    if i.findings.is_empty() {
        if i.unmapped.is_some() {
            let _ = writeln!(
                o,
                "No diagnosis: the alert could not be mapped to an object."
            );
        } else if i.timing_ms.contains_key("diagnose") && i.error.is_none() {
            let _ = writeln!(
                o,
                "No findings about the target in what was read ({}).",
                i.scope_read
            );
        } else {
            let _ = writeln!(o, "No findings yet.");
        }
    } else {
        let _ = writeln!(o, "Findings ({}):", i.findings.len());
        for f in &i.findings {
            let obj = &f["object"];
            let _ = writeln!(
                o,
                "  [{}] {} {}/{}: {}",
                f["severity"].as_str().unwrap_or("?"),
                obj["kind"].as_str().unwrap_or("?"),
                obj["namespace"].as_str().unwrap_or("-"),
                obj["name"].as_str().unwrap_or("?"),
                f["reason"].as_str().unwrap_or("?"),
            );
            if let Some(rc) = f["root_cause"].as_str().or(f["cause"].as_str()) {
                let _ = writeln!(o, "      {rc}");
            }
        }
    }
    if !i.actions.is_empty() {
        let _ = writeln!(
            o,
            "\nProposed actions (pending; approve with `guardian actions approve ID`):"
        );
        for a in &i.actions {
            let _ = writeln!(o, "  {a}");
        }
    }
    o
}
