//! `guardian diagnose`: wiring and printing only. The analysis is the
//! `diagnostics.analyze` tool of the built-in `diagnostics` skill.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use guardian_core::{DiagnoseRequest, Session, Source};
use serde_json::Value;

use crate::args::{DiagnoseArgs, FailOn, ReportFormat};
use crate::output;

/// Exit status when a finding is at or above `--fail-on`.
pub const FINDINGS_EXIT: u8 = 3;

pub async fn run(global: &crate::args::Global, args: DiagnoseArgs) -> anyhow::Result<ExitCode> {
    let source = match &args.snapshot {
        Some(path) => Source::Snapshot(path.clone()),
        None => Source::Live,
    };
    let progress = std::io::stderr().is_terminal().then(progress_line);
    let session = match &args.fan_out {
        // The node daemons analyze; this process only lists them.
        Some(_) => Session::open_without_skills(&global.options(), &source).await?,
        None => Session::open(&global.options(), &source, progress).await?,
    };
    // As kubectl: -n, else -A, else the context's namespace. A snapshot is
    // one capture, read whole unless -n narrows it.
    let namespace = match (&args.namespace, args.all_namespaces) {
        (Some(ns), _) => Some(ns.clone()),
        (None, true) => None,
        (None, false) => session.default_namespace().map(str::to_owned),
    };
    let request = DiagnoseRequest {
        namespace,
        filter: args.filter.clone(),
        dry_run: !args.no_dry_run,
        propose: args.propose,
        shards: 0,
        ..Default::default()
    };
    let result = match (&args.fan_out, &args.fan_out_token_file) {
        (Some(target), Some(token_file)) => {
            let token = std::fs::read_to_string(token_file).with_context(|| {
                format!("reading the fan-out token file {}", token_file.display())
            })?;
            let fan = guardian_api::fanout::FanOut::parse(target, token)?;
            match guardian_api::fanout::diagnose(&session, "human:cli", &request, &fan).await {
                Ok(report) => Ok(guardian_core::Diagnosis {
                    report,
                    proposed: Vec::new(),
                }),
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        _ => session.diagnose("human:cli", &request).await,
    };
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
    let report = match result {
        Ok(diagnosis) => diagnosis.report,
        Err(err) => {
            eprintln!("error [{}]: {err}", err.code());
            return Ok(ExitCode::FAILURE);
        }
    };
    for fix in findings(&report)
        .iter()
        .flat_map(|f| f["fixes"].as_array().into_iter().flatten())
    {
        if let Some(e) = fix["proposal_error"].as_str() {
            let t = &fix["target"];
            eprintln!(
                "warning: not proposed ({} {}): {e}",
                s(t, "kind"),
                s(t, "name")
            );
        }
    }
    let text = match args.output {
        ReportFormat::Json => output::json(&report)?,
        ReportFormat::Yaml => output::yaml(&report)?,
        ReportFormat::Table => render_table(&report),
        ReportFormat::Markdown => render_markdown(&report),
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .context("writing the report")?;
    stdout.flush().ok();
    let not_read = report["summary"]["not_read"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    if matches!(args.output, ReportFormat::Json | ReportFormat::Yaml) {
        // The table and Markdown say it on stdout; JSON and YAML carry it in
        // `summary.not_read` and `summary.unavailable`: say it here too.
        let coverage = coverage(&report);
        if !coverage.is_empty() {
            eprint!("{coverage}");
        }
    }
    if let Some(threshold) = args.fail_on {
        if not_read > 0 {
            eprintln!(
                "--fail-on {}: {not_read} scope{} could not be read, which counts as failing",
                threshold.name(),
                if not_read == 1 { "" } else { "s" }
            );
            return Ok(ExitCode::from(FINDINGS_EXIT));
        }
        let worst = findings(&report)
            .iter()
            .filter_map(|f| FailOn::rank(f["severity"].as_str().unwrap_or("")))
            .max();
        if worst.is_some_and(|w| w >= threshold.level()) {
            return Ok(ExitCode::from(FINDINGS_EXIT));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Draws `[done/total] message` on one stderr line.
pub fn progress_line() -> guardian_runtime::ProgressSink {
    Arc::new(|_skill: &str, done: u32, total: u32, message: &str| {
        let mut err = std::io::stderr().lock();
        let line: String = format!("[{done}/{total}] {message}")
            .chars()
            .take(99)
            .collect();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    })
}

fn findings(report: &Value) -> &[Value] {
    report["findings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// `deployment/payments -n staging`, as kubectl names an object.
pub fn object_name(object: &Value) -> String {
    let kind = s(object, "kind").to_lowercase();
    match object["namespace"].as_str() {
        Some(ns) => format!("{kind}/{} -n {ns}", s(object, "name")),
        None => format!("{kind}/{}", s(object, "name")),
    }
}

fn dry_run_label(fix: &Value) -> String {
    match fix["dry_run"]["result"].as_str() {
        Some("passed") => "dry-run passed".into(),
        Some("failed") => format!("dry-run FAILED: {}", s(&fix["dry_run"], "error")),
        Some("skipped") => format!("dry-run skipped: {}", s(&fix["dry_run"], "why")),
        _ => "not dry-run".into(),
    }
}

/// Wraps `text` to `width` columns, every line after the first indented by
/// `indent` spaces. A word longer than a line is cut.
pub fn wrap(text: &str, width: usize, indent: usize) -> String {
    let room = width.saturating_sub(indent).max(10);
    let mut out = String::new();
    let mut col = 0;
    let mut fresh = true;
    let mut words: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let chars: Vec<char> = word.chars().collect();
        for piece in chars.chunks(room) {
            words.push(piece.iter().collect());
        }
    }
    for word in words {
        let len = word.chars().count();
        if !fresh && col + 1 + len > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
            fresh = true;
        }
        if !fresh {
            out.push(' ');
            col += 1;
        }
        out.push_str(&word);
        col += len;
        fresh = false;
    }
    out
}

const WIDTH: usize = 100;

/// The summary table, then each finding with its evidence and fixes,
/// readable on a 100-column terminal.
pub fn render_table(report: &Value) -> String {
    let items = findings(report);
    let mut out = coverage(report);
    if items.is_empty() {
        out.push_str(&no_problems(report));
    } else {
        let rows: Vec<Vec<String>> = items
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut object = object_name(&f["object"]);
                if object.chars().count() > 45 {
                    object = object.chars().take(44).collect::<String>() + "…";
                }
                vec![
                    (i + 1).to_string(),
                    s(f, "severity").to_uppercase(),
                    s(f, "reason").to_string(),
                    object,
                ]
            })
            .collect();
        out.push_str(&output::table(
            &["#", "SEVERITY", "REASON", "OBJECT"],
            &rows,
        ));
        for (i, f) in items.iter().enumerate() {
            out.push('\n');
            out.push_str(&format!(
                "{}. {} {} ({})\n",
                i + 1,
                s(f, "severity").to_uppercase(),
                object_name(&f["object"]),
                s(f, "reason")
            ));
            out.push_str(&format!(
                "   what:  {}\n",
                wrap(s(f, "cause"), WIDTH - 10, 10)
            ));
            if let Some(why) = f["root_cause"].as_str() {
                out.push_str(&format!("   why:   {}\n", wrap(why, WIDTH - 10, 10)));
            }
            if let Some(pods) = f["pods"].as_array().filter(|p| !p.is_empty()) {
                let names: Vec<&str> = pods.iter().filter_map(Value::as_str).collect();
                out.push_str(&format!(
                    "   pods:  {}\n",
                    wrap(&names.join(", "), WIDTH - 10, 10)
                ));
            }
            let evidence = f["evidence"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            if !evidence.is_empty() {
                out.push_str("   evidence:\n");
                for e in evidence {
                    let line = format!("{}: {}", s(e, "ref"), s(e, "text"));
                    out.push_str(&format!(
                        "     {:<6} {}\n",
                        s(e, "source"),
                        wrap(&line, WIDTH - 12, 12)
                    ));
                }
            }
            if let Some(owner) = gitops_owner(f) {
                out.push_str(&format!("   gitops: {}\n", wrap(&owner, WIDTH - 11, 11)));
            }
            for fix in f["fixes"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                let input = if fix["requires_input"].as_bool() == Some(true) {
                    " (needs input: fill in the <placeholders>)"
                } else {
                    ""
                };
                let text = format!("{}{input} [{}]", s(fix, "description"), dry_run_label(fix));
                out.push_str(&format!("   fix:   {}\n", wrap(&text, WIDTH - 10, 10)));
                if let Some(note) = fix["gitops"].as_str() {
                    out.push_str(&format!("          ! {}\n", wrap(note, WIDTH - 12, 12)));
                }
                if let Some(cmd) = fix["kubectl"].as_str() {
                    out.push_str(&format!("          $ {cmd}\n"));
                }
                if let Some(id) = fix["proposed_action"].as_str() {
                    out.push_str(&format!(
                        "          proposed: {id} (guardian actions approve {id})\n"
                    ));
                }
            }
        }
    }
    out.push('\n');
    out.push_str(&summary_line(report));
    out
}

/// What the scan could not read, said before anything else: a scope not
/// read at all (no finding there means nothing), then the resources that
/// could not be listed (checks that need them were skipped). Empty when
/// everything was read.
pub fn coverage(report: &Value) -> String {
    let summary = &report["summary"];
    let mut out = String::new();
    let not_read = summary["not_read"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if !not_read.is_empty() {
        out.push_str("NOT READ (nothing is known about these; no finding there means nothing):\n");
        for n in not_read {
            let line = format!("{}: {}", s(n, "scope"), s(n, "error"));
            out.push_str(&format!("  {}\n", wrap(&line, WIDTH - 2, 4)));
        }
    }
    let unavailable = summary["unavailable"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    // Resources of a namespace not read are already said above.
    let skipped: Vec<&str> = not_read
        .iter()
        .filter_map(|n| n["namespace"].as_str())
        .collect();
    let mut by_error: Vec<(String, Vec<String>)> = Vec::new();
    for u in unavailable {
        let ns = u["namespace"].as_str();
        if ns.is_some_and(|ns| skipped.contains(&ns)) {
            continue;
        }
        let what = match ns {
            Some(ns) => format!("{} in {ns}", s(u, "resource")),
            None => s(u, "resource").to_owned(),
        };
        match by_error.iter_mut().find(|(e, _)| e == s(u, "error")) {
            Some((_, list)) => list.push(what),
            None => by_error.push((s(u, "error").to_owned(), vec![what])),
        }
    }
    if !by_error.is_empty() {
        out.push_str(
            "PARTLY READ (could not list these; the checks that need them were skipped):\n",
        );
        for (error, what) in by_error {
            let line = format!("{}: {error}", what.join(", "));
            out.push_str(&format!("  {}\n", wrap(&line, WIDTH - 2, 4)));
        }
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// "No problems found", about the scope that was read and nothing more.
fn no_problems(report: &Value) -> String {
    let summary = &report["summary"];
    let scope = s(summary, "scope");
    let partial = summary["not_read"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
        || summary["unavailable"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
    match (scope, partial) {
        (_, true) => {
            "No problems found in what could be read (see above for what could not).\n".into()
        }
        ("", false) => "No problems found.\n".into(),
        (scope, false) => format!("No problems found in {scope}.\n"),
    }
}

fn summary_line(report: &Value) -> String {
    let summary = &report["summary"];
    let by = &summary["by_severity"];
    let mut counts = Vec::new();
    for level in ["critical", "error", "warning", "info"] {
        if let Some(n) = by[level].as_u64().filter(|n| *n > 0) {
            counts.push(format!("{n} {level}"));
        }
    }
    let n = summary["findings"].as_u64().unwrap_or(0);
    let line = format!(
        "{n} finding{}{} in {}; {} objects scanned in {} ms.",
        if n == 1 { "" } else { "s" },
        if counts.is_empty() {
            String::new()
        } else {
            format!(" ({})", counts.join(", "))
        },
        s(summary, "scope"),
        summary["objects_scanned"].as_u64().unwrap_or(0),
        summary["duration_ms"].as_u64().unwrap_or(0),
    );
    wrap(&line, WIDTH, 0) + "\n"
}

/// A Markdown report (for tickets and pull requests): one section per
/// finding, the evidence as a list, each fix as a YAML diff and a command.
pub fn render_markdown(report: &Value) -> String {
    let mut out = String::from("# Guardian diagnosis\n\n");
    out.push_str(&summary_line(report));
    out.push('\n');
    let coverage = coverage(report);
    if !coverage.is_empty() {
        out.push_str(&format!("```text\n{coverage}```\n\n"));
    }
    let items = findings(report);
    if items.is_empty() {
        out.push_str(&no_problems(report));
        return out;
    }
    out.push_str("| # | severity | reason | object |\n| --- | --- | --- | --- |\n");
    for (i, f) in items.iter().enumerate() {
        out.push_str(&format!(
            "| {} | {} | {} | `{}` |\n",
            i + 1,
            s(f, "severity"),
            s(f, "reason"),
            object_name(&f["object"])
        ));
    }
    for (i, f) in items.iter().enumerate() {
        out.push_str(&format!(
            "\n## {}. {} `{}` — {}\n\n",
            i + 1,
            s(f, "severity"),
            object_name(&f["object"]),
            s(f, "reason")
        ));
        out.push_str(&format!("**What:** {}\n\n", s(f, "cause")));
        if let Some(why) = f["root_cause"].as_str() {
            out.push_str(&format!("**Why:** {why}\n\n"));
        }
        if let Some(owner) = gitops_owner(f) {
            out.push_str(&format!("**GitOps:** {owner}\n\n"));
        }
        let evidence = f["evidence"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        if !evidence.is_empty() {
            out.push_str("**Evidence:**\n\n");
            for e in evidence {
                out.push_str(&format!(
                    "- *{}* {}: `{}`\n",
                    s(e, "source"),
                    s(e, "ref"),
                    s(e, "text").replace('`', "'")
                ));
            }
            out.push('\n');
        }
        for fix in f["fixes"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            out.push_str(&format!(
                "**Fix:** {} ({}{})\n\n",
                s(fix, "description"),
                dry_run_label(fix),
                if fix["requires_input"].as_bool() == Some(true) {
                    "; needs input"
                } else {
                    ""
                }
            ));
            if let Some(note) = fix["gitops"].as_str() {
                out.push_str(&format!("> {note}\n\n"));
            }
            if let Some(diff) = fix["yaml_diff"].as_str() {
                out.push_str(&format!("```diff\n{}```\n\n", ensure_newline(diff)));
            }
            if let Some(cmd) = fix["kubectl"].as_str() {
                out.push_str(&format!("```sh\n{cmd}\n```\n\n"));
            }
        }
    }
    out
}

/// Which Application manages the finding's object, and what that means
/// for a change.
fn gitops_owner(f: &Value) -> Option<String> {
    let owner = f.get("managed_by").filter(|o| o.is_object())?;
    // The note names the Application and says what that means.
    Some(match owner["note"].as_str().filter(|n| !n.is_empty()) {
        Some(note) => note.to_owned(),
        None => format!(
            "managed by Argo CD Application {}/{}",
            s(owner, "application_namespace"),
            s(owner, "application")
        ),
    })
}

fn ensure_newline(text: &str) -> String {
    if text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "findings": [{
                "id": "x", "severity": "critical", "reason": "CreateContainerConfigError",
                "object": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "staging", "name": "payments"},
                "cause": "2 pods cannot start: CreateContainerConfigError",
                "root_cause": "container `payments` of Deployment staging/payments reads DB_PASSWORD from Secret `payments-db` key `password`, which does not exist (keys present: `pass`, `username`)",
                "evidence": [{"source": "event", "ref": "Event Failed", "text": "Error: couldn't find key password in Secret staging/payments-db"}],
                "fixes": [{"target": {}, "description": "point DB_PASSWORD at key `pass`",
                           "kubectl": "kubectl patch deployments.apps payments -n staging --type=json -p '[]'",
                           "yaml_diff": "--- a\n+++ b\n", "dry_run": {"result": "passed"}, "requires_input": false}],
                "pods": ["payments-a", "payments-b"]
            }],
            "summary": {"findings": 1, "objects_scanned": 40, "duration_ms": 12, "scope": "namespace staging",
                        "by_severity": {"critical": 1}}
        })
    }

    #[test]
    fn table_fits_100_columns() {
        let text = render_table(&sample());
        for line in text.lines() {
            if line.trim_start().starts_with("$ ") {
                continue; // commands are printed whole, to be copied
            }
            assert!(
                line.chars().count() <= 100,
                "{} columns: {line}",
                line.len()
            );
        }
        assert!(text.contains("CRITICAL"), "{text}");
        assert!(text.contains("why:   container `payments`"), "{text}");
        assert!(text.contains("[dry-run passed]"), "{text}");
        assert!(
            text.contains("1 finding (1 critical) in namespace staging"),
            "{text}"
        );
    }

    #[test]
    fn a_gitops_owner_and_its_fix_note_are_shown() {
        let mut report = sample();
        let note = "Argo CD Application argocd/payments syncs automatically with selfHeal: a change made directly in the cluster is reverted; the change belongs in Git";
        report["findings"][0]["managed_by"] = json!({
            "tool": "argocd", "application": "payments", "application_namespace": "argocd",
            "tracking": "annotation", "automated": true, "self_heal": true,
            "reverts_direct_patch": true, "note": note,
        });
        report["findings"][0]["fixes"][0]["gitops"] =
            json!("a direct patch is reverted; change the manifest in Git instead");
        let text = render_table(&report);
        assert!(
            text.contains("   gitops: Argo CD Application argocd/payments"),
            "{text}"
        );
        assert!(
            text.contains("          ! a direct patch is reverted; change the manifest in Git"),
            "{text}"
        );
        for line in text.lines().filter(|l| !l.trim_start().starts_with("$ ")) {
            assert!(line.chars().count() <= 100, "{line}");
        }
        let md = render_markdown(&report);
        assert!(md.contains(&format!("**GitOps:** {note}")), "{md}");
        assert!(md.contains("> a direct patch is reverted"), "{md}");
        // Without an owner, nothing is said.
        assert!(!render_table(&sample()).contains("gitops:"));
    }

    #[test]
    fn markdown_has_a_section_per_finding() {
        let text = render_markdown(&sample());
        assert!(
            text.contains("## 1. critical `deployment/payments -n staging`"),
            "{text}"
        );
        assert!(text.contains("```diff\n--- a\n+++ b\n```"), "{text}");
        assert!(text.contains("```sh\nkubectl patch"), "{text}");
    }

    #[test]
    fn wraps_at_word_boundaries() {
        assert_eq!(wrap("aaa bbb ccc", 7, 2), "aaa bbb\n  ccc");
        let long = wrap(&"x".repeat(25), 14, 2);
        assert!(long.lines().all(|l| l.chars().count() <= 14), "{long}");
    }
}
