//! `guardian snapshot capture` from a real kube-apiserver: the capture holds
//! what the server holds (objects, logs of current and previous instances
//! through the kubelet), redacted; every read is decided and audited; what
//! RBAC forbids is skipped and said; and `diagnose --snapshot` of the
//! capture finds what `diagnose` finds on the server itself.

use std::path::Path;
use std::process::Output;

use guardian_tests::kube::control_plane;
use serde_json::Value;

use crate::cluster::{Env, of_app, staging, staging_copy};
use crate::support::example_snapshot;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn read_tree(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text.push_str(&read_tree(&path));
        } else {
            text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    text
}

fn report(capture: &Path) -> Value {
    let text = std::fs::read_to_string(capture.join("capture-report.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["guardianCaptureReport"].clone()
}

/// The Secret values of the example, as its files hold them.
fn example_secret_values() -> Vec<String> {
    let mut values = Vec::new();
    for object in guardian_tests::kube::read_dump(&example_snapshot()).objects {
        if object["kind"] != "Secret" {
            continue;
        }
        for field in ["data", "stringData"] {
            if let Some(map) = object[field].as_object() {
                values.extend(
                    map.values()
                        .filter_map(Value::as_str)
                        .filter(|v| v.len() >= 8 && !guardian_broker::redact::is_marker(v))
                        .map(str::to_owned),
                );
            }
        }
    }
    values
}

#[test]
fn a_capture_holds_what_the_server_holds_and_diagnoses_alike() {
    let Some(k) = control_plane() else { return };
    let ns = staging(k);
    let env = Env::new(k);
    let out = env.path().join("capture");
    let audit = env.path().join("audit.jsonl");
    let result = env
        .guardian(&["snapshot", "capture", "-n", ns, "-o"])
        .arg(&out)
        .arg("--audit")
        .arg(&audit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "capture failed: {stderr}");
    assert!(stderr.contains("pods:"), "progress on stderr: {stderr}");

    // Every read was decided by policy and audited.
    let records: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by = |verb: &str, resource: &str| {
        records
            .iter()
            .filter(|r| r["verb"] == verb && r["resource"] == resource)
            .count()
    };
    assert_eq!(
        by("get", "/version"),
        1,
        "the server's version, too: {records:?}"
    );
    assert!(by("list", "/v1/pods") >= 1, "{records:?}");
    assert!(by("list", "/v1/secrets") >= 1, "{records:?}");
    assert!(by("logs", "/v1/pods/log") >= 25, "{records:?}");
    assert!(records.iter().all(|r| r["tool"] == "snapshot.capture"
        && r["caller"] == "human:cli"
        && r["decision"] == "allow"));

    // The report: the server, the logs (the example's four crashed
    // containers' previous instances), nothing skipped.
    let report = report(&out);
    assert_eq!(report["serverVersion"], k.version.as_str(), "{report}");
    assert_eq!(report["logs"]["previous"], 4, "{report}");
    assert!(
        report["skipped"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|s| s["why"] != "forbidden"),
        "{report}"
    );
    assert!(out.join("nodes.json").is_file());
    assert!(out.join("staging/pods.json").is_file());

    let capture = ["--snapshot", out.to_str().unwrap()];
    // It loads without a problem reported.
    let loaded = env
        .guardian(&["skills", "call", "cluster.summary", "--input", "{}"])
        .args(capture)
        .output()
        .unwrap();
    assert!(loaded.status.success(), "{}", text(&loaded));
    assert!(
        !String::from_utf8_lossy(&loaded.stderr).contains("warning"),
        "{}",
        text(&loaded)
    );

    // The same objects, kind by kind, as the server's; the same objects in
    // full; the same logs.
    for resource in [
        "pods",
        "deployments.apps",
        "replicasets.apps",
        "statefulsets.apps",
        "daemonsets.apps",
        "services",
        "endpoints",
        "configmaps",
        "serviceaccounts",
        "persistentvolumeclaims",
        "horizontalpodautoscalers.autoscaling",
        "poddisruptionbudgets.policy",
        "ingresses.networking.k8s.io",
        "networkpolicies.networking.k8s.io",
        "events",
        "nodes",
    ] {
        let input = serde_json::json!({"resource": resource, "namespace": ns});
        let live = env.call_ok("cluster.list", &input, &[]);
        let captured = env.call_ok("cluster.list", &input, &capture);
        assert!(live["count"].as_u64().unwrap() > 0, "{resource}");
        assert_eq!(captured, live, "captured {resource}");
    }
    let summary = serde_json::json!({"namespace": ns});
    assert_eq!(
        env.call_ok("cluster.summary", &summary, &capture),
        env.call_ok("cluster.summary", &summary, &[]),
        "cluster.summary of the namespace"
    );
    for (resource, name) in [
        ("pods", "search-cm2pt495j6-sh7fd"),
        ("deployments.apps", "checkout"),
        ("configmaps", "checkout-config"),
    ] {
        let input = serde_json::json!({"resource": resource, "namespace": ns, "name": name});
        let live = env.call_ok("cluster.get", &input, &[]);
        let captured = env.call_ok("cluster.get", &input, &capture);
        assert_eq!(captured, live, "captured {resource} {name}");
    }
    for pod in [
        "search-cm2pt495j6-sh7fd",
        "search-cm2pt495j6-vp9pf",
        "checkout-kztvhqzmsz-b829f",
        "checkout-kztvhqzmsz-drzl8",
    ] {
        for previous in [false, true] {
            let input = serde_json::json!({"namespace": ns, "pod": pod, "previous": previous, "tail_lines": 0});
            let live = env.call_ok("cluster.logs", &input, &[]);
            let captured = env.call_ok("cluster.logs", &input, &capture);
            assert!(live["lines"].as_u64().unwrap() > 0, "{input}");
            assert_eq!(captured, live, "captured log {input}");
        }
    }

    // No Secret value is anywhere in the capture; the markers are.
    let values = example_secret_values();
    assert!(!values.is_empty(), "the example has Secrets with values");
    let everything = read_tree(&out);
    for value in &values {
        assert!(
            !everything.contains(value.as_str()),
            "secret value {value} leaked"
        );
    }
    assert!(everything.contains("<redacted: "), "markers in place");

    // `diagnose` of the capture finds what `diagnose` finds on the server:
    // the same findings, evidence and fixes (each dry-run: on the server,
    // and in memory on the capture).
    let diagnose = |extra: &[&str]| -> Value {
        let out = env
            .guardian(&["diagnose", "-n", ns, "-o", "json"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let live = diagnose(&[]);
    let offline = diagnose(&capture);
    assert!(
        live["findings"].as_array().unwrap().len() >= 8,
        "the example's breakages: {live}"
    );
    assert_eq!(offline["findings"], live["findings"]);
    assert_eq!(
        offline["summary"]["objects_scanned"],
        live["summary"]["objects_scanned"]
    );

    // A second capture into the same folder is refused.
    let again = env
        .guardian(&["snapshot", "capture", "-n", ns, "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{}",
        text(&again)
    );
}

/// As a ServiceAccount that may read what a namespace holds but Secrets,
/// and nothing cluster-scoped (what `view` grants once aggregated): the
/// capture skips what RBAC forbids, names the rule that would allow it,
/// and still holds the logs of the crashed containers' previous instances.
#[test]
fn capture_skips_what_rbac_forbids_and_keeps_previous_logs() {
    let Some(k) = control_plane() else { return };
    let ns = staging_copy(k, "capture-rbac", |o| of_app(o, "search"));
    k.apply(&format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: capturer, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: reader, namespace: {ns}}}
rules:
- apiGroups: [""]
  resources: [pods, pods/log, events, services, endpoints, configmaps, serviceaccounts,
    persistentvolumeclaims, resourcequotas, limitranges, replicationcontrollers]
  verbs: [get, list]
- apiGroups: [apps]
  resources: [deployments, replicasets, statefulsets, daemonsets]
  verbs: [get, list]
- apiGroups: [batch]
  resources: [jobs, cronjobs]
  verbs: [get, list]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list]
- apiGroups: [networking.k8s.io]
  resources: [ingresses, networkpolicies]
  verbs: [get, list]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: capturer, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}}
subjects:
- {{kind: ServiceAccount, name: capturer, namespace: {ns}}}
"#
    ));
    let env = Env::new(k);
    let out = env.path().join("capture");
    let user = format!("system:serviceaccount:{ns}:capturer");
    let result = env
        .guardian(&["snapshot", "capture", "-n", &ns, "--as", &user, "-o"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        result.status.success(),
        "a forbidden kind is not fatal: {stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "warning: secrets skipped: RBAC forbids list on secrets in namespace {ns} for user \"{user}\""
        )),
        "{stderr}"
    );

    let report = report(&out);
    let skipped = report["skipped"].as_array().unwrap();
    let secrets = skipped
        .iter()
        .find(|s| s["resource"] == "secrets")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(secrets["why"], "forbidden");
    assert!(
        secrets["message"]
            .as_str()
            .unwrap()
            .contains("resources: [\"secrets\"], verbs: [\"list\"]"),
        "{secrets}"
    );
    let nodes = skipped
        .iter()
        .find(|s| s["resource"] == "nodes")
        .unwrap_or_else(|| panic!("cluster-scoped kinds are forbidden too: {report}"));
    assert_eq!(nodes["why"], "forbidden");
    assert_eq!(report["serverVersion"], k.version.as_str());
    assert_eq!(report["logs"]["previous"], 2, "{report}");

    // What was captured loads, previous logs included: the logs the
    // example's snapshot holds for the same containers.
    let capture = ["--snapshot", out.to_str().unwrap()];
    let example_dir = example_snapshot();
    let example = ["--snapshot", example_dir.to_str().unwrap()];
    for pod in ["search-cm2pt495j6-sh7fd", "search-cm2pt495j6-vp9pf"] {
        for previous in [false, true] {
            let input = |ns: &str| serde_json::json!({"namespace": ns, "pod": pod, "previous": previous, "tail_lines": 0});
            let captured = env.call_ok("cluster.logs", &input(&ns), &capture);
            let original = env.call_ok("cluster.logs", &input("staging"), &example);
            assert!(captured["lines"].as_u64().unwrap() > 0);
            assert_eq!(
                captured["log"], original["log"],
                "{pod} previous={previous}"
            );
        }
    }
    let pods = env.call_ok(
        "cluster.list",
        &serde_json::json!({"resource": "pods", "namespace": ns}),
        &capture,
    );
    assert_eq!(pods["count"], 2, "{pods}");
}
