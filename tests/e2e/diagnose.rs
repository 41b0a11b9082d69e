//! `guardian diagnose` as a user runs it: the README's main job on the
//! example staging cluster, output formats, `--filter`, `--fail-on`, audit.

use serde_json::Value;

use crate::support::*;

fn diagnose_json(cache: &std::path::Path, extra: &[&str]) -> Value {
    let text = run_ok(
        guardian(cache)
            .args(["diagnose", "--snapshot", "examples/staging", "-o", "json"])
            .args(extra),
    );
    serde_json::from_str(&text).unwrap()
}

fn find<'a>(report: &'a Value, reason: &str, kind: &str, name: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["reason"] == reason && f["object"]["kind"] == kind && f["object"]["name"] == name
        })
        .unwrap_or_else(|| {
            let have: Vec<String> = report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    format!(
                        "{} {} {}",
                        f["reason"], f["object"]["kind"], f["object"]["name"]
                    )
                })
                .collect();
            panic!("no {reason} on {kind} {name}; found: {have:#?}")
        })
}

fn root_cause(f: &Value) -> String {
    f["root_cause"].as_str().unwrap_or_default().to_string()
}

/// The patch operations of the first fix that has one.
fn first_patch(f: &Value) -> Vec<Value> {
    f["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|fix| fix["json_patch"].as_array().cloned())
        .unwrap_or_else(|| panic!("no patch in {f:#}"))
}

fn has_op(ops: &[Value], op: &str, path_end: &str, value: Option<&str>) -> bool {
    ops.iter().any(|o| {
        o["op"] == op
            && o["path"].as_str().unwrap_or("").ends_with(path_end)
            && value.is_none_or(|v| o["value"] == v)
    })
}

#[test]
fn the_example_staging_cluster_is_diagnosed_with_causes_and_fixes() {
    let cache = tempfile::tempdir().unwrap();
    let report = diagnose_json(cache.path(), &[]);

    // 1. payments: a Secret key that does not exist.
    let f = find(
        &report,
        "CreateContainerConfigError",
        "Deployment",
        "payments",
    );
    let why = root_cause(f);
    for word in ["DB_PASSWORD", "payments-db", "password", "pass"] {
        assert!(why.contains(word), "{why}");
    }
    assert_eq!(
        f["pods"].as_array().unwrap().len(),
        2,
        "two replicas, one finding"
    );

    // 2. checkout, the seed case: NPE in the previous log, traced to the
    //    optional ConfigMap key the env var reads.
    let f = find(&report, "CrashLoopBackOff", "Deployment", "checkout");
    let why = root_cause(f);
    for word in ["DATABASE_URL", "checkout-config", "database.url"] {
        assert!(why.contains(word), "{why}");
    }
    assert!(
        f["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["source"] == "log"
                && e["text"].as_str().unwrap().contains("NullPointerException")),
        "{f:#}"
    );
    let ops = first_patch(f);
    assert!(has_op(&ops, "test", "/name", Some("checkout")), "{ops:?}");
    assert!(
        has_op(&ops, "replace", "/configMapKeyRef/key", Some("db.url")),
        "{ops:?}"
    );

    // 3. search: OOMKilled, the memory limit raised.
    let f = find(&report, "OOMKilled", "Deployment", "search");
    let ops = first_patch(f);
    assert!(
        has_op(&ops, "test", "/resources/limits/memory", Some("256Mi")),
        "{ops:?}"
    );
    assert!(
        has_op(&ops, "replace", "/resources/limits/memory", None),
        "{ops:?}"
    );

    // 4. catalog: a tag that does not exist; back to the one that ran.
    let f = find(&report, "ImagePullBackOff", "Deployment", "catalog");
    let ops = first_patch(f);
    assert!(
        has_op(
            &ops,
            "replace",
            "/image",
            Some("registry.example.com/shop/catalog:v2.4.0")
        ),
        "{ops:?}"
    );

    // 5. recommender: which selector label differs.
    let f = find(&report, "ServiceSelectorMismatch", "Service", "recommender");
    let ops = first_patch(f);
    assert!(
        has_op(&ops, "test", "/spec/selector/tier", Some("backend")),
        "{ops:?}"
    );
    assert!(
        has_op(&ops, "replace", "/spec/selector/tier", Some("api")),
        "{ops:?}"
    );

    // 6. orders-db: the claim asks for a StorageClass that does not exist.
    let f = find(
        &report,
        "PVCPending",
        "PersistentVolumeClaim",
        "data-orders-db-0",
    );
    assert!(root_cause(f).contains("fast-ssd"), "{f:#}");

    // 7. notifications: the HPA's target has no CPU request.
    let f = find(
        &report,
        "HPAMissingRequests",
        "HorizontalPodAutoscaler",
        "notifications",
    );
    assert!(root_cause(f).contains("notifications"), "{f:#}");

    // 8. frontend: the readiness probe targets a port nothing listens on.
    let f = find(&report, "ProbeFailing", "Deployment", "frontend");
    assert!(root_cause(f).contains("8081"), "{f:#}");
    let ops = first_patch(f);
    assert!(
        has_op(&ops, "replace", "/readinessProbe/httpGet/port", None),
        "{ops:?}"
    );

    // Every patch was dry-run through the broker, and passed.
    for f in report["findings"].as_array().unwrap() {
        for fix in f["fixes"].as_array().unwrap() {
            if fix["json_patch"].is_array() {
                assert_eq!(fix["dry_run"]["result"], "passed", "{fix:#}");
                assert!(
                    fix["kubectl"]
                        .as_str()
                        .unwrap()
                        .starts_with("kubectl patch ")
                );
                assert!(fix["yaml_diff"].as_str().unwrap().contains("\n+"));
            }
        }
    }
    // The healthy workloads stay out of it at error level.
    for f in report["findings"].as_array().unwrap() {
        let name = f["object"]["name"].as_str().unwrap();
        if ["gateway", "orders-api", "node-exporter"].contains(&name) {
            assert!(
                !["error", "critical"].contains(&f["severity"].as_str().unwrap()),
                "healthy {name}: {f:#}"
            );
        }
    }
    assert!(report["summary"]["duration_ms"].is_u64());
    assert!(report["summary"]["objects_scanned"].as_u64().unwrap() > 100);
}

#[test]
fn formats_filters_and_exit_status() {
    let cache = tempfile::tempdir().unwrap();

    // The table: readable on a 100-column terminal (commands are printed
    // whole, to be copied).
    let table = run_ok(guardian(cache.path()).args(["diagnose", "--snapshot", "examples/staging"]));
    let report = diagnose_json(cache.path(), &[]);
    let command_lines: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["fixes"].as_array().unwrap())
        .filter_map(|fix| fix["kubectl"].as_str())
        .flat_map(str::lines)
        .map(str::trim)
        .collect();
    for line in table.lines() {
        let bare = line.trim().trim_start_matches("$ ");
        if !command_lines.contains(&bare) {
            assert!(line.chars().count() <= 100, "{line}");
        }
    }
    assert!(table.contains("CreateContainerConfigError"), "{table}");
    assert!(table.contains(" findings ("), "{table}");

    let md = run_ok(guardian(cache.path()).args([
        "diagnose",
        "--snapshot",
        "examples/staging",
        "-o",
        "markdown",
    ]));
    assert!(md.starts_with("# Guardian diagnosis"), "{md}");
    assert!(md.contains("```diff"), "{md}");

    // --filter: only those analyzers.
    let only = diagnose_json(cache.path(), &["--filter", "svc"]);
    assert!(!only["findings"].as_array().unwrap().is_empty());
    assert!(
        only["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["object"]["kind"] == "Service"),
        "{only:#}"
    );
    let bad = run_err(guardian(cache.path()).args([
        "diagnose",
        "--snapshot",
        "examples/staging",
        "--filter",
        "Podz",
    ]));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("unknown analyzer `Podz`"), "{err}");
    assert!(err.contains("HorizontalPodAutoscaler"), "{err}");

    // --fail-on: 3 when a finding is at least that severe.
    let out = guardian(cache.path())
        .args([
            "diagnose",
            "--snapshot",
            "examples/staging",
            "--fail-on",
            "critical",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let out = guardian(cache.path())
        .args([
            "diagnose",
            "--snapshot",
            "examples/staging",
            "--filter",
            "Node",
            "--fail-on",
            "warning",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn every_read_is_audited_and_no_secret_value_leaves() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let text = run_ok(
        guardian(cache.path())
            .args([
                "diagnose",
                "--snapshot",
                "examples/staging",
                "-o",
                "json",
                "--audit",
            ])
            .arg(&audit),
    );
    let records: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |verb: &str, resource: &str| {
        records
            .iter()
            .filter(|r| r["verb"] == verb && r["resource"] == resource)
            .count()
    };
    assert!(count("list", "/v1/pods") >= 1);
    assert!(count("list", "/v1/secrets") >= 1);
    assert!(
        count("logs", "/v1/pods/log") >= 1,
        "previous logs were read"
    );
    assert!(
        count("patch", "apps/v1/deployments") >= 1,
        "fixes were dry-run"
    );
    for r in &records {
        if r["caller"] == "system:guardian" {
            // The broker's own read of a namespace's labels, which policy
            // needs to decide a write (the fixes' dry-runs).
            assert_eq!(r["tool"], "namespace-labels", "{r}");
            continue;
        }
        assert_eq!(r["skill"], "diagnostics");
        assert_eq!(r["tool"], "analyze");
        if r["verb"] == "patch" {
            assert_eq!(r["dry_run"], true, "{r}");
        }
    }
    // The example's Secrets hold base64 placeholders; none is in the output.
    for secret_value in [
        "ZXhhbXBsZS1vbmx5LW5vdC1hLXJlYWwtcGFzc3dvcmQ=",
        "cGF5bWVudHNfc3Zj",
        "example-only-not-a-real-password",
    ] {
        assert!(!text.contains(secret_value), "{secret_value} leaked");
    }
    assert!(!text.contains("s3cr3t"), "a password from a log leaked");
}

#[test]
fn a_scan_split_across_cores_finds_what_one_call_finds() {
    // A generated cluster: 6 namespaces, a dozen broken Deployments.
    let dir = tempfile::tempdir().unwrap();
    let spec = guardian_tests::generate::Spec {
        pods: 600,
        deployments: 120,
        namespaces: 6,
        broken_percent: 10.0,
        seed: 7,
    };
    guardian_tests::generate::generate(dir.path(), &spec).unwrap();
    let snapshot = dir.path().to_str().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let call = |input: &str| -> Value {
        serde_json::from_str(&run_ok(guardian(cache.path()).args([
            "skills",
            "call",
            "diagnostics.analyze",
            "--snapshot",
            snapshot,
            "--input",
            input,
        ])))
        .unwrap()
    };
    let whole = call("{}");
    let findings = whole["findings"].as_array().unwrap();
    assert!(findings.len() >= 12, "{whole:#}");

    // Three shards: disjoint, and together the whole, counts included.
    let mut ids: Vec<String> = Vec::new();
    let mut scanned = 0;
    for index in 0..3 {
        let part = call(&format!(r#"{{"shard":{{"index":{index},"of":3}}}}"#));
        scanned += part["summary"]["objects_scanned"].as_u64().unwrap();
        ids.extend(
            part["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].as_str().unwrap().to_string()),
        );
    }
    let mut want: Vec<String> = findings
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(
        scanned,
        whole["summary"]["objects_scanned"].as_u64().unwrap()
    );

    // `guardian diagnose -A` (split across this machine's cores) prints the
    // same findings, in the same order, as the single call.
    let cli: Value = serde_json::from_str(&run_ok(guardian(cache.path()).args([
        "diagnose",
        "-A",
        "--snapshot",
        snapshot,
        "-o",
        "json",
    ])))
    .unwrap();
    assert_eq!(cli["findings"], whole["findings"]);
    assert_eq!(
        cli["summary"]["by_severity"],
        whole["summary"]["by_severity"]
    );

    let bad = run_err(guardian(cache.path()).args([
        "skills",
        "call",
        "diagnostics.analyze",
        "--snapshot",
        snapshot,
        "--input",
        r#"{"shard":{"index":3,"of":3}}"#,
    ]));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("shard: index 3 of 3"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn a_terminal_sees_a_progress_line_and_a_pipe_does_not() {
    let cache = tempfile::tempdir().unwrap();
    // `script` gives the command a pseudo-terminal, as a person has.
    let command = format!(
        "{} diagnose -A --snapshot examples/staging -o json",
        env!("CARGO_BIN_EXE_guardian")
    );
    let mut plain = guardian(cache.path());
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .envs(plain.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(plain.get_current_dir().unwrap())
        .output()
        .expect("script(1) from util-linux runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("\r\x1b[2K[0/1] namespace staging"),
        "{text:?}"
    );
    // Through a pipe: no progress line, nothing but the report on stdout.
    let piped = stdout_and_stderr(plain.args(["diagnose", "-A", "--snapshot", "examples/staging"]));
    assert!(!piped.contains('\x1b'), "{piped:?}");
}

fn stdout_and_stderr(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
