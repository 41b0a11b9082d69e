//! `guardian rightsize`: wiring and printing only. The recommendations are
//! the `rightsizing.recommend` tool of the built-in `rightsizing` skill,
//! through the session's rightsize operation.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use guardian_core::{Prices, RightsizeRequest, Session, Source};
use serde_json::Value;

use crate::args::{RightsizeArgs, RightsizeFormat};
use crate::diagnose::{object_name, progress_line, wrap};
use crate::output;

pub async fn run(global: &crate::args::Global, args: RightsizeArgs) -> anyhow::Result<ExitCode> {
    let source = match &args.snapshot {
        Some(path) => Source::Snapshot(path.clone()),
        None => Source::Live,
    };
    let progress = std::io::stderr().is_terminal().then(progress_line);
    let session = Session::open(&global.options(), &source, progress).await?;
    // As kubectl: -n, else -A, else the context's namespace.
    let namespace = match (&args.namespace, args.all_namespaces) {
        (Some(ns), _) => Some(ns.clone()),
        (None, true) => None,
        (None, false) => session.default_namespace().map(str::to_owned),
    };
    let request = RightsizeRequest {
        all_namespaces: namespace.is_none(),
        namespace,
        workload: args.workload.clone(),
        window: args.window.clone(),
        step: args.step.clone(),
        cpu_percentile: args.cpu_percentile,
        memory_buffer_percent: args.memory_buffer,
        cpu_limit: args.cpu_limit,
        min_points: args.min_points,
        prices: match (args.price_core_hour, args.price_gib_hour) {
            (Some(core_hour), Some(gib_hour)) => Some(Prices {
                core_hour,
                gib_hour,
            }),
            _ => None,
        },
        dry_run: !args.no_dry_run,
        propose: args.propose,
        at: args.at.clone(),
    };
    let result = session.rightsize("human:cli", &request).await;
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
    let rightsizing = match result {
        Ok(r) => r,
        Err(err) => {
            eprintln!("error [{}]: {err}", err.code());
            return Ok(ExitCode::FAILURE);
        }
    };
    let report = rightsizing.report;
    for problem in list(&report, "problems") {
        eprintln!("warning: {}", problem.as_str().unwrap_or_default());
    }
    for fix in list(&report, "findings")
        .iter()
        .flat_map(|f| list(f, "fixes"))
    {
        if let Some(e) = fix["proposal_error"].as_str() {
            eprintln!(
                "warning: not proposed ({}): {e}",
                object_name(&fix["target"])
            );
        }
    }
    let text = match args.output {
        RightsizeFormat::Json => output::json(&report)?,
        RightsizeFormat::Yaml => output::yaml(&report)?,
        RightsizeFormat::Table => render_table(&report),
        RightsizeFormat::Markdown => render_markdown(&report),
        RightsizeFormat::Csv => render_csv(&report),
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .context("writing the report")?;
    stdout.flush().ok();
    if !rightsizing.proposed.is_empty() {
        eprintln!(
            "{} pending action(s): {} — review with `guardian actions show ID`, apply with `guardian actions approve ID`",
            rightsizing.proposed.len(),
            rightsizing.proposed.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key].as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// `500m → 120m`, `-` when neither is set, `500m` when unchanged.
fn change(rec: &Value, key: &str) -> String {
    let show = |v: &Value| v.as_str().map(str::to_owned).unwrap_or_else(|| "-".into());
    let before = show(&rec["current"][key]);
    if !matches!(s(rec, "status"), "ok") {
        return before;
    }
    let after = show(&rec["recommended"][key]);
    if before == after {
        before
    } else {
        format!("{before} → {after}")
    }
}

/// The columns of one container: namespace, workload, container, the four
/// resources, the status.
fn row(rec: &Value) -> Vec<String> {
    let w = &rec["workload"];
    let mut container = s(rec, "container").to_owned();
    if rec["init"] == true {
        container.push_str(" (init)");
    }
    vec![
        s(w, "namespace").to_owned(),
        format!("{}/{}", s(w, "kind").to_lowercase(), s(w, "name")),
        container,
        change(rec, "cpu_request"),
        change(rec, "cpu_limit"),
        change(rec, "memory_request"),
        change(rec, "memory_limit"),
        status(rec),
    ]
}

const HEADERS: [&str; 8] = [
    "NAMESPACE",
    "WORKLOAD",
    "CONTAINER",
    "CPU REQUEST",
    "CPU LIMIT",
    "MEMORY REQUEST",
    "MEMORY LIMIT",
    "STATUS",
];

fn status(rec: &Value) -> String {
    let st = s(rec, "status").replace('_', " ");
    let e = &rec["evidence"];
    let mut notes = Vec::new();
    if e["oom_kills"].as_u64().unwrap_or(0) > 0 {
        notes.push(format!("{} OOMKilled", e["oom_kills"]));
    }
    if !rec["hpa"].is_null() {
        notes.push(format!("HPA {}", s(&rec["hpa"], "name")));
    }
    if notes.is_empty() {
        st
    } else {
        format!("{st} ({})", notes.join(", "))
    }
}

/// A signed change in millicores as kubectl would write it: `-1.2 cores`,
/// `+350m`.
fn cpu_delta(millicores: f64) -> String {
    let sign = if millicores < 0.0 { "-" } else { "+" };
    let m = millicores.abs();
    if m >= 1000.0 {
        format!("{sign}{:.2} cores", m / 1000.0)
    } else {
        format!("{sign}{m:.0}m")
    }
}

/// A signed change in bytes: `+512Mi`, `-1.5Gi`.
fn memory_delta(bytes: f64) -> String {
    let sign = if bytes < 0.0 { "-" } else { "+" };
    let b = bytes.abs();
    const MI: f64 = 1024.0 * 1024.0;
    if b >= 1024.0 * MI {
        format!("{sign}{:.2}Gi", b / (1024.0 * MI))
    } else {
        format!("{sign}{:.0}Mi", b / MI)
    }
}

fn summary_line(report: &Value) -> String {
    let m = &report["summary"];
    let n = |k: &str| m[k].as_u64().unwrap_or(0);
    let mut line = format!(
        "{} workloads, {} containers ({} without enough data) in {}; window {}",
        n("workloads"),
        n("containers"),
        n("not_enough_data"),
        m["scope"].as_str().unwrap_or("the scope"),
        m["window"].as_str().unwrap_or("-"),
    );
    if let Some(cpu) = m["cpu_request_change_millicores"].as_f64() {
        line.push_str(&format!("; requested CPU {}", cpu_delta(cpu)));
    }
    if let Some(mem) = m["memory_request_change_bytes"].as_f64() {
        line.push_str(&format!(", memory {}", memory_delta(mem)));
    }
    if let Some(cost) = m["monthly_cost_change"].as_f64() {
        line.push_str(&format!(
            "; monthly cost {}{:.2}",
            if cost < 0.0 { "-" } else { "+" },
            cost.abs()
        ));
    }
    line.push('\n');
    line
}

fn render_table(report: &Value) -> String {
    let recs = list(report, "recommendations");
    let mut out = String::new();
    if recs.is_empty() {
        out.push_str("No workloads to right-size in the scope read.\n");
    } else {
        let rows: Vec<Vec<String>> = recs.iter().map(row).collect();
        out.push_str(&output::table(&HEADERS, &rows));
    }
    let findings = list(report, "findings");
    for (i, f) in findings.iter().enumerate() {
        out.push('\n');
        out.push_str(&format!(
            "{}. {} {} ({})\n",
            i + 1,
            s(f, "severity").to_uppercase(),
            object_name(&f["object"]),
            s(f, "reason")
        ));
        out.push_str(&format!("   what:  {}\n", wrap(s(f, "cause"), 90, 10)));
        if let Some(why) = f["root_cause"].as_str() {
            out.push_str(&format!("   why:   {}\n", wrap(why, 90, 10)));
        }
        for e in list(f, "evidence") {
            out.push_str(&format!(
                "     {:<6} {}\n",
                s(e, "source"),
                wrap(&format!("{}: {}", s(e, "ref"), s(e, "text")), 88, 12)
            ));
        }
        for fix in list(f, "fixes") {
            let dry = match s(&fix["dry_run"], "result") {
                "" => String::new(),
                r => format!(" (server-side dry-run {r})"),
            };
            out.push_str(&format!(
                "   fix:   {}{dry}\n",
                wrap(s(fix, "description"), 90, 10)
            ));
            if let Some(k) = fix["kubectl"].as_str() {
                out.push_str(&format!("     $ {k}\n"));
            }
            if let Some(id) = fix["proposed_action"].as_str() {
                out.push_str(&format!("     pending action: {id}\n"));
            }
        }
    }
    out.push('\n');
    out.push_str(&summary_line(report));
    for p in list(report, "problems") {
        out.push_str(&format!("NOT READ: {}\n", p.as_str().unwrap_or_default()));
    }
    out
}

fn render_markdown(report: &Value) -> String {
    let mut out = String::from("## Right-sizing\n\n");
    out.push_str(&format!("| {} |\n", HEADERS.join(" | ")));
    out.push_str(&format!("|{}\n", " --- |".repeat(HEADERS.len())));
    for rec in list(report, "recommendations") {
        let cells: Vec<String> = row(rec)
            .into_iter()
            .map(|c| c.replace('|', "\\|"))
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    for f in list(report, "findings") {
        out.push_str(&format!(
            "\n### {} {} ({})\n\n{}\n",
            s(f, "severity").to_uppercase(),
            object_name(&f["object"]),
            s(f, "reason"),
            s(f, "cause")
        ));
        if let Some(why) = f["root_cause"].as_str() {
            out.push_str(&format!("\n**Why:** {why}\n"));
        }
        for fix in list(f, "fixes") {
            out.push_str(&format!("\n**Fix:** {}\n", s(fix, "description")));
            if let Some(diff) = fix["yaml_diff"].as_str() {
                out.push_str(&format!("\n```diff\n{}\n```\n", diff.trim_end()));
            }
        }
    }
    out.push('\n');
    out.push_str(&summary_line(report));
    for p in list(report, "problems") {
        out.push_str(&format!(
            "\n> **Not read:** {}\n",
            p.as_str().unwrap_or_default()
        ));
    }
    out
}

fn render_csv(report: &Value) -> String {
    const COLUMNS: [&str; 18] = [
        "namespace",
        "kind",
        "workload",
        "container",
        "status",
        "cpu_request",
        "cpu_request_recommended",
        "cpu_limit",
        "cpu_limit_recommended",
        "memory_request",
        "memory_request_recommended",
        "memory_limit",
        "memory_limit_recommended",
        "cpu_percentile_millicores",
        "memory_peak_bytes",
        "points",
        "oom_kills",
        "window",
    ];
    let mut out = COLUMNS.join(",") + "\n";
    for rec in list(report, "recommendations") {
        let w = &rec["workload"];
        let e = &rec["evidence"];
        let text = |v: &Value| match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let cells = [
            text(&w["namespace"]),
            text(&w["kind"]),
            text(&w["name"]),
            text(&rec["container"]),
            text(&rec["status"]),
            text(&rec["current"]["cpu_request"]),
            text(&rec["recommended"]["cpu_request"]),
            text(&rec["current"]["cpu_limit"]),
            text(&rec["recommended"]["cpu_limit"]),
            text(&rec["current"]["memory_request"]),
            text(&rec["recommended"]["memory_request"]),
            text(&rec["current"]["memory_limit"]),
            text(&rec["recommended"]["memory_limit"]),
            text(&e["cpu_value_millicores"]),
            text(&e["memory_peak_bytes"]),
            text(&e["points"]),
            text(&e["oom_kills"]),
            text(&e["window"]),
        ];
        let quoted: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&quoted.join(","));
        out.push('\n');
    }
    out
}

/// RFC 4180: quoted when it holds a comma, a quote or a line break.
fn csv_cell(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report() -> Value {
        json!({
            "recommendations": [{
                "workload": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "checkout"},
                "container": "app", "init": false,
                "current": {"cpu_request": "500m", "cpu_limit": null, "memory_request": "256Mi", "memory_limit": "512Mi"},
                "recommended": {"cpu_request": "120m", "cpu_limit": null, "memory_request": "300Mi", "memory_limit": "300Mi"},
                "status": "ok",
                "evidence": {"cpu_percentile": 95, "cpu_value_millicores": 118.3, "memory_peak_bytes": 260000000,
                             "points": 4032, "window": "14d", "oom_kills": 0, "pods": 3},
                "hpa": null
            }, {
                "workload": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "new,one"},
                "container": "app", "init": false,
                "current": {"cpu_request": "100m", "cpu_limit": null, "memory_request": "64Mi", "memory_limit": "64Mi"},
                "recommended": null,
                "status": "not_enough_data",
                "evidence": {"points": 12, "window": "14d", "oom_kills": 0},
                "hpa": null
            }],
            "findings": [],
            "summary": {"workloads": 2, "containers": 2, "not_enough_data": 1,
                        "cpu_request_change_millicores": -380, "memory_request_change_bytes": 46137344,
                        "monthly_cost_change": -8.25, "window": "14d", "scope": "namespace shop"},
            "problems": []
        })
    }

    #[test]
    fn the_table_shows_each_change_and_the_totals() {
        let t = render_table(&report());
        assert!(t.contains("deployment/checkout"), "{t}");
        assert!(
            t.contains("500m → 120m") && t.contains("512Mi → 300Mi"),
            "{t}"
        );
        // Too little data: the current values only, and why.
        let line = t.lines().find(|l| l.contains("new,one")).unwrap();
        assert!(
            line.contains("not enough data") && !line.contains('→'),
            "{line}"
        );
        assert!(
            t.contains("requested CPU -380m, memory +44Mi; monthly cost -8.25"),
            "{t}"
        );
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let c = render_csv(&report());
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("shop,Deployment,checkout,app,ok,500m,120m,,,256Mi,300Mi,512Mi,300Mi,118.3,260000000,4032,0,14d"), "{}", lines[1]);
        assert!(lines[2].contains("\"new,one\""), "{}", lines[2]);
    }
}
