//! The scenario corpus: every folder `tests/scenarios/<NN-name>/` holds a
//! cluster snapshot and `expected.yaml` (what an expert says is broken, why,
//! and the fix). `corpus` runs each one through `diagnostics.analyze` (real
//! wasm, snapshot backend, fixes dry-run) and scores it against its
//! expectations. The format is documented in `tests/scenarios/README.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use guardian_agent::eval::expected::{Expected, Score, score};
use guardian_broker::{Audit, Broker, Policy};
use guardian_runtime::{Limits, Runtime, RuntimeConfig};
use serde_json::{Value, json};

use crate::support::repo_root;

// ---------------------------------------------------------------------------
// Running

fn scenario_dirs() -> Vec<PathBuf> {
    let root = repo_root().join("tests/scenarios");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    dirs.sort();
    dirs
}

/// Runs `diagnostics.analyze` on the scenario's snapshot.
async fn analyze(dir: &Path, exp: &Expected, cache: &Path) -> Result<Value, String> {
    let (broker, problems) = Broker::snapshot(
        &dir.join("snapshot"),
        Arc::new(Policy::defaults().expect("default policy")),
        Arc::new(Audit::Off),
    )
    .map_err(|e| format!("snapshot: {e}"))?;
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(format!("snapshot problems: {}", list.join("; ")));
    }
    let rt = Runtime::new(
        RuntimeConfig {
            limits: Limits::default(),
            cache_dir: Some(cache.to_path_buf()),
            operator_grants: Default::default(),
        },
        Some(broker),
    )
    .expect("runtime");
    let skill = guardian_builtin_skills::get("diagnostics").expect("built-in diagnostics skill");
    rt.load_builtin(skill.manifest, skill.wasm)
        .await
        .map_err(|e| format!("loading diagnostics: {e}"))?;
    let mut input = json!({"dry_run": true});
    if let Some(ns) = &exp.namespace {
        input["namespace"] = json!(ns);
    }
    rt.call("test", "diagnostics.analyze", &input.to_string())
        .await
        .map_err(|e| format!("diagnostics.analyze: {e}"))
}

#[tokio::test]
async fn corpus() {
    let cache = tempfile::tempdir().unwrap();
    let dirs = scenario_dirs();
    assert!(dirs.len() >= 30, "only {} scenarios", dirs.len());
    let only = std::env::var("SCENARIO").ok();

    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let text = std::fs::read_to_string(dir.join("expected.yaml"))
            .unwrap_or_else(|e| panic!("{name}/expected.yaml: {e}"));
        let exp: Expected =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}/expected.yaml: {e}"));
        assert!(!exp.description.trim().is_empty(), "{name}: no description");
        assert!(
            exp.healthy || !exp.findings.is_empty(),
            "{name}: a broken scenario must expect at least one finding"
        );
        let sc = match analyze(dir, &exp, cache.path()).await {
            Ok(output) => {
                if std::env::var("SCENARIO_DUMP").is_ok() {
                    println!("{name}:\n{}", serde_yaml::to_string(&output).unwrap());
                }
                score(&exp, &output)
            }
            Err(e) => Score {
                expected: exp.findings.len(),
                fixes_expected: exp.findings.iter().filter(|f| f.fix.is_some()).count(),
                healthy_ok: exp.healthy.then_some(false),
                problems: vec![e],
                ..Score::default()
            },
        };
        if !sc.pass() {
            let more = match sc.problems.len() - 1 {
                0 => String::new(),
                n => format!(" (and {n} more)"),
            };
            failures.push(format!("{name}: {}{more}", sc.problems[0]));
        }
        rows.push((name, sc));
    }

    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(8).max(8);
    let mut table = format!(
        "{:<width$}  {:>8}  {:>8}  {:>8}  {:>7}  result\n",
        "scenario", "found", "fixes", "must_not", "healthy"
    );
    for (name, sc) in &rows {
        let healthy = match sc.healthy_ok {
            None => "-",
            Some(true) => "ok",
            Some(false) => "FAIL",
        };
        writeln!(
            table,
            "{name:<width$}  {:>8}  {:>8}  {:>8}  {healthy:>7}  {}",
            format!("{}/{}", sc.found, sc.expected),
            format!("{}/{}", sc.fixes_matched, sc.fixes_expected),
            sc.must_not_violations,
            if sc.pass() { "PASS" } else { "FAIL" }
        )
        .unwrap();
    }
    let passed = rows.iter().filter(|(_, sc)| sc.pass()).count();
    writeln!(table, "{passed}/{} scenarios pass", rows.len()).unwrap();
    println!("{table}");
    assert!(
        failures.is_empty(),
        "{} scenario(s) fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
