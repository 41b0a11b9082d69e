//! What the diagnostics skill reads, held to one list: each analyzer
//! declares the resources it reads (`skills/diagnostics/src/analyzers/mod.rs`,
//! listed by the `diagnostics.analyzers` tool), and
//!
//! - `snapshot capture` takes every one of them, so a capture holds what
//!   `diagnose --snapshot` needs;
//! - on every scenario and on `examples/staging`, no analyzer reads what it
//!   does not declare (the skill reports such a read in
//!   `summary.unavailable`, and the analyzer sees nothing of it).
//!
//! The skill's own tests hold its `skill.toml` grant to the same list, and
//! `deploy.rs` the ClusterRoles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use guardian_tests::kube::control_plane;
use serde_json::Value;

use crate::support::{example_snapshot, guardian, repo_root, run_ok};

/// Each analyzer's name and the resources it reads, as the
/// `diagnostics.analyzers` tool lists them.
pub fn declared_reads(cache: &Path) -> Vec<(String, Vec<String>)> {
    let out = run_ok(
        guardian(cache)
            .args(["skills", "call", "diagnostics.analyzers", "-o", "json"])
            .arg("--snapshot")
            .arg(example_snapshot()),
    );
    let list: Vec<Value> = serde_json::from_str(&out).expect("a JSON list of analyzers");
    let reads: Vec<(String, Vec<String>)> = list
        .iter()
        .map(|a| {
            let reads = a["reads"]
                .as_array()
                .unwrap_or_else(|| panic!("analyzer without `reads`: {a}"))
                .iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect();
            (a["name"].as_str().unwrap().to_owned(), reads)
        })
        .collect();
    assert!(reads.len() >= 20, "only {} analyzers", reads.len());
    reads
}

/// Resource → the analyzers that read it.
fn readers(cache: &Path) -> BTreeMap<String, Vec<String>> {
    let mut readers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (analyzer, reads) in declared_reads(cache) {
        for r in reads {
            readers.entry(r).or_default().push(analyzer.clone());
        }
    }
    readers
}

/// The diagnostics skill's `read` grant (`skill.toml`), which also names
/// what it reads for itself (namespaces, pods, events, logs).
fn granted_reads() -> BTreeSet<String> {
    let skill = guardian_builtin_skills::get("diagnostics").expect("the diagnostics skill");
    let manifest = guardian_runtime::Manifest::parse(skill.manifest).expect("its manifest");
    manifest.grants.read
}

#[test]
fn snapshot_capture_takes_every_resource_an_analyzer_reads() {
    let Some(k) = control_plane() else { return };
    let ns = k.namespace("reads");
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let mut needed = readers(&cache);
    for r in granted_reads() {
        // A subresource (pods/log) is not a kind: capture writes logs.
        if !r.contains('/') {
            needed.entry(r).or_default();
        }
    }
    assert!(needed.contains_key("gateways.gateway.networking.k8s.io"));

    let kubeconfig = k.kubeconfig(dir.path());
    let out = dir.path().join("capture");
    run_ok(
        guardian(&cache)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["snapshot", "capture", "-n", &ns, "-o"])
            .arg(&out),
    );
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("capture-report.json")).unwrap())
            .unwrap();
    let report = &file["guardianCaptureReport"];
    // Every kind capture asks for is in the report: taken, or skipped
    // (with why: not served by this server, forbidden).
    let mut asked: BTreeSet<&str> = BTreeSet::new();
    for list in ["resources", "skipped"] {
        for k in report[list].as_array().into_iter().flatten() {
            asked.insert(k["resource"].as_str().unwrap());
        }
    }
    let missing: Vec<String> = needed
        .iter()
        .filter(|(r, _)| !asked.contains(r.as_str()))
        .map(|(r, by)| match by.as_slice() {
            [] => format!("{r} (the skill itself)"),
            by => format!("{r} (read by {})", by.join(", ")),
        })
        .collect();
    assert!(
        missing.is_empty(),
        "snapshot capture does not take what diagnose reads; add these to its kinds \
         (host/broker/src/live/capture.rs):\n{missing:#?}"
    );
    // What this server serves was taken, not just asked for.
    let taken: BTreeSet<&str> = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["resource"].as_str().unwrap())
        .collect();
    for r in ["pods", "deployments.apps", "configmaps", "nodes"] {
        assert!(taken.contains(r), "{r} not captured: {report}");
    }
}

fn scenario_snapshots() -> Vec<PathBuf> {
    let root = repo_root().join("tests/scenarios");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("snapshot").is_dir())
        .map(|p| p.join("snapshot"))
        .collect();
    dirs.sort();
    dirs.push(example_snapshot());
    dirs
}

#[test]
fn analyzers_read_only_what_they_declare() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let snapshots = scenario_snapshots();
    assert!(snapshots.len() >= 30, "only {} snapshots", snapshots.len());
    let mut undeclared = Vec::new();
    for snapshot in &snapshots {
        let out = run_ok(
            guardian(&cache)
                .args(["diagnose", "-A", "-o", "json", "--no-dry-run"])
                .arg("--snapshot")
                .arg(snapshot)
                .arg("--state-dir")
                .arg(dir.path().join("state"))
                .arg("--audit")
                .arg(dir.path().join("audit.log")),
        );
        let report: Value = serde_json::from_str(&out).unwrap();
        assert!(
            report["findings"].is_array(),
            "{}: {report}",
            snapshot.display()
        );
        for u in report["summary"]["unavailable"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if u["error"]
                .as_str()
                .unwrap_or("")
                .contains("does not declare")
            {
                undeclared.push(format!("{}: {u}", snapshot.display()));
            }
        }
    }
    assert!(
        undeclared.is_empty(),
        "analyzers read resources they do not declare (add them to their `reads` in \
         skills/diagnostics/src/analyzers/mod.rs):\n{undeclared:#?}"
    );
}
