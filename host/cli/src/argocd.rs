//! `guardian argocd`: wiring and printing only. The reads and the sync
//! proposal are the built-in `argocd` skill's tools, `verify` the session's
//! operation over them.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use guardian_agent::argocd::short;
use guardian_core::argocd::{AppsRequest, DRIFT, STATUS, SYNC, Transition, VerifyRequest};
use guardian_core::{Session, Source};
use serde_json::{Value, json};

use crate::args::{ArgocdArgs, ArgocdCommand, ArgocdFormat};
use crate::diagnose::{object_name, progress_line, wrap};
use crate::output;

/// `verify` ended without verifying (as `diagnose --fail-on`).
const NOT_VERIFIED_EXIT: u8 = 3;
const CALLER: &str = "human:cli";

pub async fn run(global: &crate::args::Global, args: ArgocdArgs) -> anyhow::Result<ExitCode> {
    let source = match &args.snapshot {
        Some(path) => Source::Snapshot(path.clone()),
        None => Source::Live,
    };
    let progress = std::io::stderr().is_terminal().then(progress_line);
    let session = Session::open(&global.options(), &source, progress).await?;
    let ns = args.namespace.as_deref();
    let result = match &args.command {
        ArgocdCommand::Apps {
            all_namespaces,
            project,
            unhealthy,
            out_of_sync,
        } => {
            let request = AppsRequest {
                namespace: args.namespace.clone(),
                all_namespaces: *all_namespaces,
                project: project.clone(),
                unhealthy: *unhealthy,
                out_of_sync: *out_of_sync,
            };
            session
                .argocd_apps(CALLER, &request)
                .await
                .map(|v| (render_apps(&v), v))
        }
        ArgocdCommand::Status { app } => session
            .argocd_app(CALLER, STATUS, app, ns, json!({}))
            .await
            .map(|v| (render_status(&v), v)),
        ArgocdCommand::Drift { app } => session
            .argocd_app(CALLER, DRIFT, app, ns, json!({}))
            .await
            .map(|v| (render_drift(&v), v)),
        ArgocdCommand::Sync {
            app,
            revision,
            resources,
            prune,
            sync_options,
            reason,
        } => {
            let mut extra = json!({"prune": prune});
            if let Some(r) = revision {
                extra["revision"] = json!(r);
            }
            if !resources.is_empty() {
                let parsed: Result<Vec<Value>, String> =
                    resources.iter().map(|r| parse_resource(r)).collect();
                match parsed {
                    Ok(list) => extra["resources"] = json!(list),
                    Err(e) => {
                        eprintln!("error [invalid-input]: {e}");
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
            if !sync_options.is_empty() {
                extra["sync_options"] = json!(sync_options);
            }
            if let Some(r) = reason {
                extra["reason"] = json!(r);
            }
            session
                .argocd_app(CALLER, SYNC, app, ns, extra)
                .await
                .map(|v| (render_sync(&v), v))
        }
        ArgocdCommand::Verify {
            app,
            revision,
            timeout,
            interval,
        } => return verify(&session, &args, app, revision, *timeout, *interval).await,
    };
    clear_progress();
    let (text, value) = match result {
        Ok(r) => r,
        Err(err) => {
            eprintln!("error [{}]: {err}", err.code());
            return Ok(ExitCode::FAILURE);
        }
    };
    print(args.output, &text, &value)?;
    Ok(ExitCode::SUCCESS)
}

fn clear_progress() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
}

fn print(format: ArgocdFormat, table: &str, value: &Value) -> anyhow::Result<()> {
    let text = match format {
        ArgocdFormat::Table => table.to_owned(),
        ArgocdFormat::Json => output::json(value)?,
        ArgocdFormat::Yaml => output::yaml(value)?,
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .context("writing output")?;
    stdout.flush().ok();
    Ok(())
}

fn seconds(v: Option<f64>, flag: &str) -> anyhow::Result<Option<Duration>> {
    v.map(|s| {
        Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .with_context(|| format!("{flag}: expected a positive number of seconds"))
    })
    .transpose()
}

async fn verify(
    session: &Session,
    args: &ArgocdArgs,
    app: &str,
    revision: &Option<String>,
    timeout: Option<f64>,
    interval: Option<f64>,
) -> anyhow::Result<ExitCode> {
    let request = VerifyRequest {
        name: app.to_owned(),
        namespace: args.namespace.clone(),
        revision: revision.clone(),
        timeout: seconds(timeout, "--timeout")?,
        interval: seconds(interval, "--interval")?,
    };
    // Each change as it is seen: on stderr for -o json/yaml, so stdout
    // stays one document.
    let table = matches!(args.output, ArgocdFormat::Table);
    let show = move |t: &Transition| {
        let line = transition_line(t);
        if table {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    };
    let result = session.argocd_verify(CALLER, &request, &show).await;
    clear_progress();
    let verification = match result {
        Ok(v) => v,
        Err(err) => {
            eprintln!("error [{}]: {err}", err.code());
            return Ok(ExitCode::FAILURE);
        }
    };
    let value = serde_json::to_value(&verification)?;
    let mut text = format!(
        "\n{}: {}\n",
        if verification.outcome.succeeded() {
            "verified"
        } else {
            "NOT verified"
        },
        verification.summary
    );
    if !verification.diagnosed.is_empty() {
        text.push_str(&format!(
            "diagnosed: {}\n",
            verification.diagnosed.join("; ")
        ));
    }
    text.push_str(&render_findings(&verification.findings));
    for p in &verification.problems {
        text.push_str(&format!("note: {p}\n"));
    }
    print(args.output, &text, &value)?;
    Ok(if verification.outcome.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NOT_VERIFIED_EXIT)
    })
}

fn transition_line(t: &Transition) -> String {
    let mut op = match (&t.operation, t.operation_pending) {
        (_, true) => "operation requested".to_owned(),
        (Some(p), false) => format!("operation {p}"),
        (None, false) => "no operation".to_owned(),
    };
    if let Some(m) = &t.message {
        op.push_str(&format!(": {m}"));
    }
    format!(
        "{:>7.1}s  {:<10} {:<12} {:<8} {}",
        t.elapsed_ms as f64 / 1000.0,
        t.sync,
        t.health,
        t.revision.as_deref().map(short).unwrap_or("-"),
        op
    )
}

/// `GROUP:KIND:NAME` or `GROUP:KIND:NAMESPACE/NAME`, as `argocd app sync
/// --resource` takes it.
fn parse_resource(text: &str) -> Result<Value, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let [group, kind, rest] = parts.as_slice() else {
        return Err(format!(
            "--resource {text:?}: expected GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME (the core group is empty, as in :Service:web)"
        ));
    };
    let (namespace, name) = match rest.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, *rest),
    };
    if kind.is_empty() || name.is_empty() {
        return Err(format!(
            "--resource {text:?}: the kind and the name are required"
        ));
    }
    let mut r = json!({"group": group, "kind": kind, "name": name});
    if let Some(ns) = namespace {
        r["namespace"] = json!(ns);
    }
    Ok(r)
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn or_dash(v: &Value) -> String {
    match v.as_str() {
        Some(t) if !t.is_empty() => t.to_owned(),
        _ => "-".to_owned(),
    }
}

/// `Auto-Prune-SelfHeal`, `Auto`, `Manual` (as `argocd app list` prints it).
fn policy(app: &Value) -> String {
    if app["automated"] != true {
        return "Manual".to_owned();
    }
    let mut p = "Auto".to_owned();
    if app["prune"] == true {
        p.push_str("-Prune");
    }
    if app["self_heal"] == true {
        p.push_str("-SelfHeal");
    }
    p
}

fn operation(app: &Value) -> String {
    let op = &app["operation"];
    if app["operation_requested"] == true && op["running"] != true {
        return "Requested".to_owned();
    }
    match op["phase"].as_str() {
        Some(p) => p.to_owned(),
        None => "-".to_owned(),
    }
}

fn render_apps(report: &Value) -> String {
    let apps = report["apps"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if apps.is_empty() {
        return format!(
            "No Applications in {} (of {} read).\n",
            s(report, "scope"),
            report["total"].as_u64().unwrap_or(0)
        );
    }
    let rows: Vec<Vec<String>> = apps
        .iter()
        .map(|a| {
            vec![
                s(a, "name").to_owned(),
                s(a, "namespace").to_owned(),
                or_dash(&a["project"]),
                or_dash(&a["sync_status"]),
                or_dash(&a["health_status"]),
                a["revision"].as_str().map(short).unwrap_or("-").to_owned(),
                policy(a),
                operation(a),
            ]
        })
        .collect();
    output::table(
        &[
            "NAME",
            "NAMESPACE",
            "PROJECT",
            "SYNC",
            "HEALTH",
            "REVISION",
            "POLICY",
            "OPERATION",
        ],
        &rows,
    )
}

fn render_status(status: &Value) -> String {
    let app = &status["app"];
    let mut out = String::new();
    let line = |out: &mut String, key: &str, value: String| {
        out.push_str(&format!("{key:<13}{value}\n"));
    };
    line(
        &mut out,
        "Name:",
        format!("{}/{}", s(app, "namespace"), s(app, "name")),
    );
    line(&mut out, "Project:", or_dash(&app["project"]));
    let source = [
        or_dash(&app["repo_url"]),
        app["path"]
            .as_str()
            .or(app["chart"].as_str())
            .unwrap_or("-")
            .to_owned(),
        format!("@ {}", or_dash(&app["target_revision"])),
    ];
    line(&mut out, "Source:", source.join("  "));
    let d = &app["destination"];
    line(
        &mut out,
        "Destination:",
        format!(
            "{} / {}",
            d["server"].as_str().or(d["name"].as_str()).unwrap_or("-"),
            or_dash(&d["namespace"])
        ),
    );
    line(
        &mut out,
        "Sync:",
        format!(
            "{} at {}   policy {}",
            or_dash(&app["sync_status"]),
            app["revision"].as_str().map(short).unwrap_or("-"),
            policy(app)
        ),
    );
    let health = match app["health_message"].as_str() {
        Some(m) => format!("{} ({m})", or_dash(&app["health_status"])),
        None => or_dash(&app["health_status"]),
    };
    line(&mut out, "Health:", health);
    let op = &status["operation"];
    if op.is_object() {
        line(
            &mut out,
            "Operation:",
            format!(
                "{}{}  started {}  finished {}",
                or_dash(&op["phase"]),
                op["message"]
                    .as_str()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default(),
                or_dash(&op["started_at"]),
                or_dash(&op["finished_at"])
            ),
        );
    }
    let conditions = status["conditions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if !conditions.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = conditions
            .iter()
            .map(|c| vec![s(c, "type").to_owned(), s(c, "message").to_owned()])
            .collect();
        out.push_str(&output::table(&["CONDITION", "MESSAGE"], &rows));
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for r in ["out_of_sync", "unhealthy"]
        .iter()
        .flat_map(|k| status["resources"][k].as_array().into_iter().flatten())
    {
        let key = (s(r, "kind"), s(r, "namespace"), s(r, "name"));
        if seen.insert(key) {
            rows.push(resource_row(r));
        }
    }
    if !rows.is_empty() {
        out.push('\n');
        out.push_str(&output::table(
            &["KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "MESSAGE"],
            &rows,
        ));
    }
    let failed: Vec<Vec<String>> = op["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| s(r, "status") != "Synced")
        .map(|r| {
            vec![
                s(r, "kind").to_owned(),
                or_dash(&r["namespace"]),
                s(r, "name").to_owned(),
                or_dash(&r["status"]),
                s(r, "message").to_owned(),
            ]
        })
        .collect();
    if !failed.is_empty() {
        out.push_str("\nLast operation, resources not synced:\n");
        out.push_str(&output::table(
            &["KIND", "NAMESPACE", "NAME", "RESULT", "MESSAGE"],
            &failed,
        ));
    }
    let history: Vec<Vec<String>> = status["history"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .take(5)
        .map(|h| {
            vec![
                h["id"].to_string(),
                h["revision"].as_str().map(short).unwrap_or("-").to_owned(),
                or_dash(&h["deployed_at"]),
                or_dash(&h["initiated_by"]),
            ]
        })
        .collect();
    if !history.is_empty() {
        out.push('\n');
        out.push_str(&output::table(
            &["ID", "REVISION", "DEPLOYED", "BY"],
            &history,
        ));
    }
    let findings = status["findings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    out.push_str(&render_findings(findings));
    out
}

fn resource_row(r: &Value) -> Vec<String> {
    vec![
        s(r, "kind").to_owned(),
        or_dash(&r["namespace"]),
        s(r, "name").to_owned(),
        or_dash(&r["status"]),
        or_dash(&r["health"]),
        s(r, "health_message").to_owned(),
    ]
}

fn render_drift(report: &Value) -> String {
    let drift = report["drift"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut out = String::new();
    if drift.is_empty() {
        // "Every resource Synced" only on Argo CD's current verdict: an
        // Application it cannot compare (Unknown) has none to give.
        let app = &report["app"];
        let line = match app["sync_status"].as_str() {
            Some("Synced") => format!(
                "Argo CD reports every resource of {} Synced.\n",
                s(app, "name")
            ),
            other => format!(
                "Argo CD lists no resource of {} as OutOfSync, but the Application is {}: no verdict that it matches Git (see the note).\n",
                s(app, "name"),
                other.unwrap_or("Unknown")
            ),
        };
        out.push_str(&line);
    } else {
        let rows: Vec<Vec<String>> = drift.iter().map(resource_row).collect();
        out.push_str(&output::table(
            &["KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "MESSAGE"],
            &rows,
        ));
    }
    if let Some(resources) = report["git_diff"]["resources"].as_array() {
        let cut = |v: &Value| {
            let t = match v {
                Value::Null => "(absent)".to_owned(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if t.chars().count() > 60 {
                format!("{}…", t.chars().take(59).collect::<String>())
            } else {
                t
            }
        };
        let mut rows = Vec::new();
        for r in resources {
            let name = s(r, "resource");
            if let Some(e) = r["error"].as_str() {
                rows.push(vec![
                    name.to_owned(),
                    "-".into(),
                    "-".into(),
                    format!("not compared: {e}"),
                ]);
                continue;
            }
            for f in r["fields"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                rows.push(vec![
                    name.to_owned(),
                    s(f, "path").to_owned(),
                    cut(&f["git"]),
                    cut(&f["live"]),
                ]);
            }
        }
        out.push_str(&format!(
            "\nField-level difference with Git ({} at {}):\n",
            s(&report["git_diff"], "repository"),
            s(&report["git_diff"], "revision").get(..12).unwrap_or("?")
        ));
        if rows.is_empty() {
            out.push_str("  none: every field Git sets has the same value in the live objects\n");
        } else {
            out.push_str(&output::table(&["RESOURCE", "FIELD", "GIT", "LIVE"], &rows));
        }
    }
    if let Some(note) = report["note"].as_str() {
        out.push_str(&format!("\nnote: {}\n", wrap(note, 90, 6)));
    }
    out
}

fn render_sync(result: &Value) -> String {
    let id = s(result, "action_id");
    let mut out = format!(
        "Proposed: {}\naction {id} is pending; nothing is synced until a person approves it.\n",
        s(result, "summary")
    );
    if let Ok(patch) = serde_json::to_string_pretty(&result["patch"]) {
        out.push_str(&format!(
            "\npatch (JSON Patch on the Application):\n{patch}\n"
        ));
    }
    out.push_str(&format!(
        "\nreview:  guardian actions show {id}\napprove: guardian actions approve {id}\nthen:    guardian argocd verify {}\n",
        s(&result["app"], "name")
    ));
    out
}

fn render_findings(findings: &[Value]) -> String {
    if findings.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nFindings:\n");
    for (i, f) in findings.iter().enumerate() {
        out.push_str(&format!(
            "{}. {} {} ({})\n   what:  {}\n",
            i + 1,
            s(f, "severity").to_uppercase(),
            object_name(&f["object"]),
            s(f, "reason"),
            wrap(s(f, "cause"), 80, 10)
        ));
        if let Some(why) = f["root_cause"].as_str() {
            out.push_str(&format!("   why:   {}\n", wrap(why, 80, 10)));
        }
        if let Some(owner) = f["managed_by"]["application"].as_str() {
            out.push_str(&format!(
                "   gitops: Argo CD Application {}/{}\n",
                s(&f["managed_by"], "application_namespace"),
                owner
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_parsed_as_argocd_names_them() {
        assert_eq!(
            parse_resource("apps:Deployment:shop/checkout").unwrap(),
            json!({"group": "apps", "kind": "Deployment", "name": "checkout", "namespace": "shop"})
        );
        assert_eq!(
            parse_resource(":Service:web").unwrap(),
            json!({"group": "", "kind": "Service", "name": "web"})
        );
        assert!(parse_resource("Deployment/checkout").is_err());
        assert!(parse_resource("apps::x").is_err());
    }

    #[test]
    fn no_drift_is_an_all_clear_only_when_argo_cd_says_synced() {
        let synced = json!({"app": {"name": "web", "sync_status": "Synced"}, "drift": []});
        assert!(render_drift(&synced).starts_with("Argo CD reports every resource of web Synced."));
        let unknown = json!({"app": {"name": "billing", "sync_status": "Unknown"}, "drift": [],
                             "note": "Argo CD cannot compare"});
        let text = render_drift(&unknown);
        assert!(!text.contains("every resource"), "{text}");
        assert!(
            text.contains("the Application is Unknown: no verdict"),
            "{text}"
        );
    }

    #[test]
    fn the_sync_policy_reads_as_argocd_prints_it() {
        assert_eq!(policy(&json!({"automated": false})), "Manual");
        assert_eq!(
            policy(&json!({"automated": true, "prune": true, "self_heal": true})),
            "Auto-Prune-SelfHeal"
        );
        assert_eq!(
            policy(&json!({"automated": true, "self_heal": true})),
            "Auto-SelfHeal"
        );
    }
}
