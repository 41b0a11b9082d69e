//! Large namespaces: ConfigMap values do not reach the skills in list
//! answers (keys and sizes do), and one namespace too large to analyze does
//! not sink the report of the others.

use std::path::Path;

use guardian_tests::kube::control_plane;
use serde_json::{Value, json};

use crate::support::{guardian, output};

#[test]
fn fifty_configmaps_of_900_kib_do_not_break_diagnose() {
    let Some(k) = control_plane() else { return };
    let big = k.namespace("bigconfig");
    let small = k.namespace("smallbroken");
    // 50 × 900 KiB, created (not applied: no last-applied copy of the data).
    let value = "x".repeat(900 * 1024);
    for chunk in 0..5 {
        let mut yaml = String::new();
        for i in 0..10 {
            let n = chunk * 10 + i;
            yaml.push_str(&format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: dashboards-{n}, namespace: {big}}}\ndata:\n  dashboard.json: \"{value}\"\n"
            ));
        }
        k.run_with_input(&["create", "-f", "-"], &yaml);
    }
    // A pod that reads a key the ConfigMap does not have: the finding needs
    // the keys, and the fix the one ConfigMap's value.
    k.apply(&format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata: {{name: app, namespace: {small}}}
data: {{log_level: debug}}
---
apiVersion: v1
kind: Pod
metadata: {{name: web, namespace: {small}}}
spec:
  containers:
  - name: web
    image: example.com/web:1
    env:
    - name: LOG_LEVEL
      valueFrom: {{configMapKeyRef: {{name: app, key: log-level}}}}
"#
    ));
    k.set_status(
        &small,
        "pod",
        "web",
        &json!({"phase": "Pending", "containerStatuses": [{
            "name": "web", "image": "example.com/web:1", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "CreateContainerConfigError",
                "message": "couldn't find key log-level in ConfigMap ".to_owned() + &small + "/app"}}}]}),
    );
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = k.kubeconfig(dir.path());
    let cli = || {
        let mut cmd = guardian(&dir.path().join("cache"));
        cmd.arg("--kubeconfig").arg(&kubeconfig);
        cmd
    };

    let (code, stdout, stderr) = output(cli().args(["diagnose", "-n", &big, "-o", "json"]));
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        report["summary"]["objects_scanned"].as_u64().unwrap() >= 50,
        "{}",
        report["summary"]
    );

    let (code, stdout, stderr) = output(cli().args(["diagnose", "-A", "-o", "json"]));
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        report["summary"]["not_read"].is_null(),
        "{}",
        report["summary"]
    );
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["object"]["namespace"] == small.as_str() && f["object"]["name"] == "web")
        .unwrap_or_else(|| panic!("the small namespace's finding: {stdout}"));
    // The fix copies the value of the similar key: read from the one
    // ConfigMap, not from the list.
    let fixes = finding["fixes"].to_string();
    assert!(fixes.contains("debug"), "{fixes}");

    // A list through a skill fits (sizes, not values, reach it); a get
    // carries the value.
    let (code, stdout, stderr) = output(
        cli()
            .args(["skills", "call", "cluster.list", "--input"])
            .arg(json!({"resource": "configmaps", "namespace": big}).to_string()),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap()["count"], 50);
    let (code, stdout, _) = output(
        cli()
            .args(["skills", "call", "cluster.get", "--input"])
            .arg(
                json!({"resource": "configmaps", "namespace": big, "name": "dashboards-7"})
                    .to_string(),
            ),
    );
    assert_eq!(code, 0);
    assert!(stdout.contains(&value[..1000]), "a get returns the value");
}

/// A `kind: List` file of `n` running pods in `namespace`.
fn pods_file(path: &Path, namespace: &str, n: usize) {
    let items: Vec<Value> = (0..n)
        .map(|i| {
            json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("worker-{i}"), "namespace": namespace,
                             "labels": {"app": "worker", "shard": i.to_string()},
                             "annotations": {"note": "x".repeat(400)}},
                "spec": {"containers": [{"name": "w", "image": "example.com/w:1",
                          "env": (0..10).map(|e| json!({"name": format!("E{e}"), "value": "v".repeat(40)})).collect::<Vec<_>>()}]},
                "status": {"phase": "Running", "containerStatuses": [{"name": "w", "ready": true,
                           "restartCount": 0, "image": "example.com/w:1", "imageID": "",
                           "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}})
        })
        .collect();
    std::fs::write(
        path,
        serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": items}))
            .unwrap(),
    )
    .unwrap();
}

#[test]
fn one_namespace_too_large_to_analyze_does_not_sink_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap");
    std::fs::create_dir_all(&snap).unwrap();
    pods_file(&snap.join("huge.json"), "huge", 6000);
    std::fs::write(
        snap.join("small.yaml"),
        r#"apiVersion: v1
kind: Pod
metadata: {name: api, namespace: small}
spec:
  containers:
  - {name: api, image: "example.com/api:1"}
status:
  phase: Running
  containerStatuses:
  - name: api
    image: example.com/api:1
    imageID: ""
    ready: false
    restartCount: 9
    state: {waiting: {reason: CrashLoopBackOff, message: back-off}}
    lastState: {terminated: {exitCode: 1, reason: Error}}
"#,
    )
    .unwrap();
    // A memory limit that the small namespace fits in and the huge one
    // does not.
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "limits:\n  memory_mib: 24\n").unwrap();
    let run = |extra: &[&str]| {
        output(
            guardian(&dir.path().join("cache"))
                .env("GUARDIAN_CONFIG", &config)
                .args(["diagnose", "--snapshot"])
                .arg(&snap)
                .args(extra),
        )
    };
    let (code, stdout, stderr) = run(&["-n", "huge"]);
    assert_eq!(code, 1, "the huge namespace alone fails: {stdout}{stderr}");
    assert!(stderr.contains("memory limit"), "{stderr}");

    let (code, stdout, stderr) = run(&["-A", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["object"]["namespace"] == "small" && f["object"]["name"] == "api"),
        "the small namespace's finding stands: {stdout}"
    );
    let not_read = report["summary"]["not_read"].as_array().expect("not_read");
    assert_eq!(not_read.len(), 1, "{not_read:?}");
    assert_eq!(not_read[0]["namespace"], "huge");
    assert!(
        not_read[0]["error"]
            .as_str()
            .unwrap()
            .contains("memory limit"),
        "{not_read:?}"
    );
    let (code, stdout, _) = run(&["-A", "--fail-on", "critical"]);
    assert_eq!(code, 3);
    assert!(stdout.starts_with("NOT READ"), "{stdout}");
    assert!(stdout.contains("namespace huge"), "{stdout}");
}

#[test]
fn twenty_thousand_small_configmaps_in_one_namespace_are_diagnosed() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap");
    std::fs::create_dir_all(&snap).unwrap();
    let items: Vec<Value> = (0..20_000)
        .map(|i| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": format!("generated-{i}"), "namespace": "many"},
                   "data": {"settings.conf": "x".repeat(200), "mode": "y".repeat(100)}})
        })
        .collect();
    std::fs::write(
        snap.join("configmaps.json"),
        json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string(),
    )
    .unwrap();
    let (code, stdout, stderr) = output(
        guardian(&dir.path().join("cache"))
            .args(["diagnose", "-A", "-o", "json", "--snapshot"])
            .arg(&snap),
    );
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        report["summary"]["not_read"].is_null(),
        "{}",
        report["summary"]
    );
    // One finding for the unused ones, not twenty thousand.
    let unused: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["reason"] == "ConfigMapUnused")
        .collect();
    assert_eq!(unused.len(), 1, "{}", report["summary"]);
    assert!(
        unused[0]["cause"]
            .as_str()
            .unwrap()
            .starts_with("20000 ConfigMaps in many"),
        "{}",
        unused[0]
    );
}
