//! The built-in `rightsizing` skill through the real binary, on the example
//! snapshot, which has no metrics source: every container is "not enough
//! data" with the host's message, never a guess, and the workloads are the
//! tops of the owner chains the snapshot's pods name.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::support::{example_snapshot, guardian, output, run_ok};

fn call(cache: &std::path::Path, tool: &str, input: &str) -> Value {
    let out = run_ok(
        guardian(cache)
            .args(["skills", "call", tool, "-o", "json", "--input", input])
            .arg("--snapshot")
            .arg(example_snapshot()),
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn items(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(example_snapshot().join("staging").join(file)).unwrap();
    let list: Value = serde_json::from_str(&text).unwrap();
    list["items"].as_array().unwrap().clone()
}

fn controller(object: &Value) -> Option<(String, String)> {
    object["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|o| o["controller"] == true)
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_string(),
                o["name"].as_str().unwrap().to_string(),
            )
        })
}

#[test]
fn without_a_metrics_source_every_container_is_not_enough_data() {
    let cache = tempfile::tempdir().unwrap();
    let out = call(
        cache.path(),
        "rightsizing.recommend",
        r#"{"namespace":"staging"}"#,
    );

    // The host's message (an `unavailable` error: no metrics source for
    // this snapshot), in `problems` and in each container's `why`.
    let problems: Vec<&str> = out["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let host_message = problems
        .iter()
        .find_map(|p| p.strip_prefix("usage history of namespace staging: "))
        .unwrap_or_else(|| panic!("{problems:?}"));
    assert!(host_message.starts_with("unavailable: "), "{host_message}");
    let recs = out["recommendations"].as_array().unwrap();
    assert!(!recs.is_empty());
    for r in recs {
        assert_eq!(r["status"], "not_enough_data", "{r}");
        for field in ["cpu_request", "cpu_limit", "memory_request", "memory_limit"] {
            assert!(r["recommended"][field].is_null(), "a guess: {r}");
        }
        let why = r["why"][0].as_str().unwrap();
        assert!(why.contains(host_message), "{r}");
        assert!(why.ends_with("no recommendation without data"), "{r}");
    }
    let s = &out["summary"];
    assert_eq!(s["not_enough_data"], recs.len());
    assert_eq!(s["cpu_request_change_millicores"], 0);
    assert_eq!(s["memory_request_change_bytes"], 0);
    // No finding claims anything about usage; only what the objects show
    // (an HPA whose target has no request) may be reported.
    for f in out["findings"].as_array().unwrap() {
        assert_eq!(f["reason"], "HPAMissingRequests", "{f}");
    }

    // The owner chain: each pod's top-level workload, as the snapshot's
    // ownerReferences give it (Pod → ReplicaSet → Deployment).
    let rs_owner: BTreeMap<String, (String, String)> = items("replicasets.json")
        .iter()
        .filter_map(|rs| {
            Some((
                rs["metadata"]["name"].as_str()?.to_string(),
                controller(rs)?,
            ))
        })
        .collect();
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    for pod in items("pods.json") {
        let Some((kind, name)) = controller(&pod) else {
            continue;
        };
        expected.insert(match kind.as_str() {
            "ReplicaSet" => rs_owner[&name].clone(),
            _ => (kind, name),
        });
    }
    let got: BTreeSet<(String, String)> = recs
        .iter()
        .map(|r| {
            (
                r["workload"]["kind"].as_str().unwrap().to_string(),
                r["workload"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(expected.len() >= 5, "{expected:?}");
    assert_eq!(got, expected);
    // One entry per container of each template.
    let deployments = items("deployments.json");
    for d in &deployments {
        let name = d["metadata"]["name"].as_str().unwrap();
        let want: Vec<&str> = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        let have: Vec<&str> = recs
            .iter()
            .filter(|r| r["workload"]["kind"] == "Deployment" && r["workload"]["name"] == name)
            .map(|r| r["container"].as_str().unwrap())
            .collect();
        assert_eq!(have, want, "deployment {name}");
    }
}

#[test]
fn bad_input_names_the_field() {
    let cache = tempfile::tempdir().unwrap();
    for (input, want) in [
        (
            r#"{"namespace":"staging","window":"14 days"}"#,
            "window: `14 days` is not a Prometheus duration",
        ),
        (r#"{}"#, "namespace: give a namespace"),
        (
            r#"{"namespace":"staging","cpu_percentile":0}"#,
            "cpu_percentile: 0 is not in (0, 100]",
        ),
        (
            r#"{"namespace":"staging","workload":"deployment/nope"}"#,
            "workload: no workload `deployment/nope` in namespace staging (there: ",
        ),
    ] {
        let (code, _, stderr) = output(
            guardian(cache.path())
                .args(["skills", "call", "rightsizing.recommend", "--input", input])
                .arg("--snapshot")
                .arg(example_snapshot()),
        );
        assert_eq!(code, 1, "{input}: {stderr}");
        assert!(stderr.contains("[invalid-input]"), "{input}: {stderr}");
        assert!(stderr.contains(want), "{input}: {stderr}");
    }
}

#[test]
fn explain_without_history_has_no_distribution() {
    let cache = tempfile::tempdir().unwrap();
    let out = call(
        cache.path(),
        "rightsizing.explain",
        r#"{"namespace":"staging","workload":"checkout","container":"checkout"}"#,
    );
    assert!(out["distribution"].is_null());
    assert_eq!(out["recommendation"]["status"], "not_enough_data");
    assert_eq!(out["recommendation"]["workload"]["kind"], "Deployment");
    assert_eq!(out["recommendation"]["container"], "checkout");
}

/// A namespace of 1,000 Deployments (3 pods each, with managedFields and
/// env as real objects have) is read within the default limits of a skill
/// (64 MiB): the lists are taken one object at a time.
#[test]
fn a_thousand_workloads_fit_the_default_limits() {
    let dir = tempfile::tempdir().unwrap();
    let alphabet = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix = |n: usize, seed: usize| -> String {
        (0..n)
            .map(|k| alphabet[(seed * 7 + k * 13 + seed / 3) % alphabet.len()] as char)
            .collect()
    };
    let mut items =
        vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "big"}})];
    for i in 0..1000 {
        let name = format!("svc-{i:04}");
        let template = json!({"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
            "name": "app", "image": format!("registry.example/{name}:1.{i}"),
            "env": (0..10).map(|k| json!({"name": format!("VAR_{k}"), "value": "x".repeat(20)})).collect::<Vec<_>>(),
            "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}}]}});
        let managed = Value::Array(vec![
            json!({"manager": "kubectl", "fieldsV1": {"f:spec": {"f:template": {}}}});
            3
        ]);
        items.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "big", "uid": format!("d{i}"), "managedFields": managed},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}}, "template": template}}));
        let rs = format!("{name}-{}", suffix(10, i));
        items.push(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": rs, "namespace": "big", "uid": format!("r{i}"),
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                                     "uid": format!("d{i}"), "controller": true}]},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}}, "template": template}}));
        for j in 0..3 {
            items.push(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("{rs}-{}", suffix(5, i * 3 + j)), "namespace": "big",
                    "labels": {"app": name}, "managedFields": managed,
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                         "uid": format!("r{i}"), "controller": true}]},
                "spec": template["spec"],
                "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true,
                    "restartCount": 0, "image": "x", "imageID": "y",
                    "state": {"running": {"startedAt": "2026-12-01T00:00:00Z"}}}]}}));
        }
    }
    std::fs::write(
        dir.path().join("big.json"),
        serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "List", "items": items})).unwrap(),
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let out = run_ok(
        guardian(cache.path())
            .args(["skills", "call", "rightsizing.recommend", "-o", "json"])
            .args(["--input", r#"{"namespace":"big"}"#])
            .arg("--snapshot")
            .arg(dir.path()),
    );
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["summary"]["workloads"], 1000);
    assert_eq!(out["summary"]["containers"], 1000);
    assert_eq!(out["summary"]["not_enough_data"], 1000);
}
