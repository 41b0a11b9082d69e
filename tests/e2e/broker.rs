//! DESIGN.md §4 invariants 2, 4 and 5 at the broker, driven by a real wasm
//! skill: whatever it asks, a denied call is denied in the broker, Secret
//! values and credential-shaped text never reach it, and every decision is in
//! the audit log.

use std::path::Path;
use std::sync::Arc;

use guardian_broker::Audit;
use guardian_runtime::{CallError, Grants, OperatorGrants, Runtime, RuntimeConfig};
use serde_json::{Value, json};

use crate::support::*;

/// The hostile skill over `snapshot`, with an in-memory audit log. `secrets`
/// lets the operator grant it reads of Secrets (to show redaction).
async fn audited_runtime(
    snapshot: &Path,
    secrets: bool,
) -> (Runtime, Arc<Audit>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let folder = install_test_skill(dir.path(), "hostile");
    if secrets {
        let path = folder.join("skill.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace(
                "read = [\"pods\"]",
                "read = [\"pods\", \"secrets\", \"pods/log\", \"events\"]",
            ),
        )
        .unwrap();
        let sha = sha256_hex(&std::fs::read(folder.join("skill.wasm")).unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, with_sha(&text, &sha)).unwrap();
    }
    let (broker, audit) = audited_broker(snapshot);
    let runtime = Runtime::new(
        RuntimeConfig {
            limits: test_limits(),
            cache_dir: None,
            operator_grants: OperatorGrants::default(),
        },
        Some(broker),
    )
    .unwrap();
    assert!(runtime.load_dir(dir.path()).await.unwrap().is_empty());
    (runtime, audit, dir)
}

fn audit_lines(audit: &Audit) -> Vec<Value> {
    audit
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
        .collect()
}

/// A copy of the example cluster whose `staging` namespace is protected.
fn protected_snapshot() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(example_snapshot())
        .arg(dir.path().join("snap"))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(
        dir.path().join("snap/namespace.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: staging\n  labels:\n    guardian.io/protected: \"true\"\n",
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn a_read_outside_the_grants_is_denied_and_audited() {
    let (rt, audit, _d) = audited_runtime(&example_snapshot(), false).await;
    let err = rt
        .call(
            "agent:loop",
            "hostile.get",
            r#"{"resource":"secrets","namespace":"staging","name":"payments-db"}"#,
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("missing grant: read `secrets`"),
        "{err}"
    );
    let lines = audit_lines(&audit);
    let denial = lines
        .iter()
        .find(|l| l["decision"] == "deny")
        .unwrap_or_else(|| panic!("no denial audited: {lines:#?}"));
    assert_eq!(denial["rule"], "outside-grants");
    assert_eq!(denial["caller"], "agent:loop");
    assert_eq!(denial["skill"], "hostile");
    assert_eq!(denial["tool"], "get");
    assert_eq!(denial["resource"], "/v1/secrets");
}

#[tokio::test]
async fn secret_values_and_credentials_never_reach_a_skill() {
    let (rt, audit, _d) = audited_runtime(&example_snapshot(), true).await;
    let out = rt
        .call(
            "agent:loop",
            "hostile.get",
            r#"{"resource":"secrets","namespace":"staging","name":"payments-db"}"#,
        )
        .await
        .unwrap();
    let data = out["data"].as_object().expect("keys kept");
    assert!(
        data.contains_key("username") && data.contains_key("pass"),
        "{out}"
    );
    for (k, v) in data {
        assert!(v.as_str().unwrap().starts_with("<redacted"), "{k} = {v}");
    }
    // The example Secret's real (base64) values are nowhere in the output.
    let raw: Value = serde_yaml::from_str(
        &std::fs::read_to_string(example_snapshot().join("extra.yaml")).unwrap(),
    )
    .unwrap();
    let secret = raw["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == "payments-db")
        .expect("example has Secret payments-db")
        .clone();
    for (k, v) in secret["data"].as_object().unwrap() {
        let v = v.as_str().unwrap();
        assert!(!out.to_string().contains(v), "value of {k} leaked: {out}");
    }
    let text = out.to_string();
    assert!(
        !text.contains("last-applied-configuration") || text.contains("<redacted"),
        "{text}"
    );
    let allowed = audit_lines(&audit);
    assert!(
        allowed.iter().any(|l| l["decision"] == "allow"
            && l["resource"] == "/v1/secrets"
            && l["rule"] == "reads-within-grants"),
        "{allowed:#?}"
    );
}

#[tokio::test]
async fn credential_shaped_text_in_logs_is_redacted() {
    let logs_dir = example_snapshot().join("staging");
    let pod = std::fs::read_dir(&logs_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| {
            n.starts_with("orders-api-")
                && logs_dir.join(n).join("logs.txt").exists()
                && std::fs::read_to_string(logs_dir.join(n).join("logs.txt"))
                    .unwrap()
                    .contains("s3cr3t")
        })
        .expect("the example has an orders-api pod logging a credential");
    let (broker, _audit) = audited_broker(&example_snapshot());
    let rt = runtime_with(test_limits(), Some(broker)).await;
    let out = rt
        .call(
            "agent:loop",
            "cluster.logs",
            &json!({"namespace": "staging", "pod": pod, "tail_lines": 0}).to_string(),
        )
        .await
        .unwrap();
    let text = out.to_string();
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(!text.contains("eyJhbGci"), "{text}");
    assert!(text.contains("<redacted"), "{text}");
}

#[tokio::test]
async fn a_dry_run_patch_within_grants_is_allowed_as_a_dry_run_and_changes_nothing() {
    let (rt, audit, _d) = audited_runtime(&example_snapshot(), false).await;
    let patch = json!([
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 3}
    ]);
    let input = json!({"resource": "deployments.apps", "namespace": "staging", "name": "frontend", "patch": patch});
    let out = rt
        .call("agent:loop", "hostile.patch", &input.to_string())
        .await;
    let lines = audit_lines(&audit);
    let line = lines
        .iter()
        .find(|l| l["verb"] == "patch")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(line["decision"], "allow");
    assert_eq!(line["dry_run"], true);
    assert_eq!(line["rule"], "dry-run-within-grants");
    match out {
        Ok(obj) => assert_eq!(obj["spec"]["replicas"], 3),
        // The example's frontend may not have 2 replicas: the test op then
        // fails as a conflict, which is the backend answering, not policy.
        Err(CallError::HostError { kind, .. }) => assert_eq!(kind, "conflict"),
        Err(e) => panic!("{e}"),
    }
    // Nothing was persisted.
    let (broker, _) = audited_broker(&example_snapshot());
    let rt2 = runtime_with(test_limits(), Some(broker)).await;
    let obj = rt2
        .call(
            "agent:loop",
            "cluster.get",
            r#"{"resource":"deployments.apps","namespace":"staging","name":"frontend"}"#,
        )
        .await
        .unwrap();
    assert_ne!(obj["spec"]["replicas"], 3);
}

#[tokio::test]
async fn any_write_in_a_protected_namespace_is_denied_in_the_broker_and_audited() {
    let snap = protected_snapshot();
    let (rt, audit, _d) = audited_runtime(&snap.path().join("snap"), false).await;
    let input = json!({
        "resource": "deployments.apps", "namespace": "staging", "name": "frontend",
        "patch": [{"op": "replace", "path": "/spec/replicas", "value": 0}]
    });
    let err = rt
        .call("agent:loop", "hostile.patch", &input.to_string())
        .await
        .unwrap_err();
    match &err {
        CallError::HostError { kind, message, .. } => {
            assert_eq!(kind, "denied");
            assert!(message.contains("protected"), "{message}");
            assert!(message.contains("rule protected-namespace"), "{message}");
        }
        other => panic!("expected a policy denial, got {other:?}"),
    }
    let lines = audit_lines(&audit);
    // The namespace lookup (Guardian's own read) and the denial are both there.
    assert!(
        lines
            .iter()
            .any(|l| l["skill"] == "guardian" && l["resource"] == "/v1/namespaces"),
        "{lines:#?}"
    );
    let denial = lines
        .iter()
        .find(|l| l["decision"] == "deny")
        .expect("denial audited");
    assert_eq!(denial["rule"], "protected-namespace");
    assert_eq!(denial["verb"], "patch");
    assert_eq!(denial["namespace"], "staging");
    assert_eq!(denial["name"], "frontend");
    // Reads in the protected namespace still work.
    rt.call("agent:loop", "hostile.list-pods", "{}")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_patch_of_a_namespace_object_outside_propose_grants_is_denied() {
    // The skill asks to dry-run-patch a Secret (not in its propose grants):
    // refused before policy, and audited.
    let (rt, audit, _d) = audited_runtime(&example_snapshot(), true).await;
    let input = json!({
        "resource": "secrets", "namespace": "staging", "name": "payments-db",
        "patch": [{"op": "add", "path": "/data/password", "value": "aHVudGVyMg=="}]
    });
    let err = rt
        .call("agent:loop", "hostile.patch", &input.to_string())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("missing grant: propose `secrets`"),
        "{err}"
    );
    let lines = audit_lines(&audit);
    assert!(
        lines.iter().any(|l| l["decision"] == "deny"
            && l["verb"] == "patch"
            && l["rule"] == "outside-grants"),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn the_operator_policy_dir_is_enforced_and_a_broken_one_stops_startup() {
    let cache = tempfile::tempdir().unwrap();
    let policies = tempfile::tempdir().unwrap();
    std::fs::write(
        policies.path().join("freeze.rego"),
        "package guardian\nimport rego.v1\ndeny contains {\"rule\": \"no-logs\", \"reason\": \"logs are off limits here\"} if input.verb == \"logs\"\n",
    )
    .unwrap();
    let audit = tempfile::NamedTempFile::new().unwrap();
    let out = guardian(cache.path())
        .arg("--policies")
        .arg(policies.path())
        .arg("--audit")
        .arg(audit.path())
        .args([
            "skills",
            "call",
            "cluster.logs",
            "--snapshot",
            "examples/staging",
            "--input",
        ])
        .arg(r#"{"namespace":"staging","pod":"orders-db-0"}"#)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("logs are off limits here") && stderr.contains("rule no-logs"),
        "{stderr}"
    );
    let log = std::fs::read_to_string(audit.path()).unwrap();
    let line: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(line["decision"], "deny");
    assert_eq!(line["rule"], "no-logs");
    assert_eq!(line["caller"], "human:cli");

    std::fs::write(
        policies.path().join("zz-broken.rego"),
        "package guardian\n\ndeny contains x if {\n",
    )
    .unwrap();
    let out = guardian(cache.path())
        .arg("--policies")
        .arg(policies.path())
        .args([
            "skills",
            "call",
            "cluster.summary",
            "--snapshot",
            "examples/staging",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("zz-broken.rego"), "{stderr}");
}

#[test]
fn grants_view_for_policy() {
    let g = Grants {
        read: ["pods".to_owned()].into(),
        ..Default::default()
    };
    assert_eq!(g.as_sets().read, vec!["pods".to_owned()]);
}
