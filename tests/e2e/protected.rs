//! Protected namespaces on the real API server: a namespace Guardian cannot
//! read counts as protected (fail closed), for proposals and for real
//! writes; reads are unaffected; the labels are read once per call.

use std::path::Path;
use std::process::Command;

use guardian_tests::kube::{ControlPlane, control_plane};
use serde_json::{Value, json};

use crate::cluster::{web_deployment, web_image as image_of};
use crate::support::{example_snapshot, guardian, run_ok};

/// A Deployment `web` (image `nginx:1.0`) in `ns`, and a ServiceAccount
/// `bot` that may get/list/patch Deployments and read Pods there, but not
/// get the Namespace.
fn workload_and_bot(k: &ControlPlane, ns: &str) -> String {
    web_deployment(k, ns);
    k.apply(&format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: bot, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: bot, namespace: {ns}}}
rules:
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, patch]
- apiGroups: [""]
  resources: [pods, events]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: bot, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: bot}}
subjects:
- {{kind: ServiceAccount, name: bot, namespace: {ns}}}
"#
    ));
    format!("system:serviceaccount:{ns}:bot")
}

fn propose_input(ns: &str) -> String {
    json!({
        "target": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": ns, "name": "web"},
        "json_patch": [
            {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "web"},
            {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.0"},
            {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "evil.example/x:1"}
        ],
        "rationale": "attack: change the image"
    })
    .to_string()
}

/// `guardian` against the real server with `kubeconfig`, the action store
/// in `state`, as `as_user` when given.
fn cli(cache: &Path, kubeconfig: &Path, state: &Path, as_user: Option<&str>) -> Command {
    let mut cmd = guardian(cache);
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--state-dir")
        .arg(state);
    if let Some(user) = as_user {
        cmd.args(["--as", user]);
    }
    cmd
}

#[test]
fn a_namespace_guardian_cannot_read_counts_as_protected() {
    let Some(k) = control_plane() else { return };
    let ns = k.namespace("unreadable");
    let bot = workload_and_bot(k, &ns);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = k.kubeconfig(dir.path());
    let state = dir.path().join("state");
    let cache = dir.path().join("cache");

    // The person proposes while the namespace is readable to them and not
    // protected: a pending action.
    let out = run_ok(
        cli(&cache, &kubeconfig, &state, None)
            .args(["skills", "call", "patch.propose", "--input"])
            .arg(propose_input(&ns)),
    );
    let id = serde_json::from_str::<Value>(&out).unwrap()["action_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Then the namespace is protected, and the ServiceAccount — which may
    // patch Deployments but not read the Namespace — approves it.
    k.run(&["label", "namespace", &ns, "guardian.io/protected=true"]);
    let out = cli(&cache, &kubeconfig, &state, Some(&bot))
        .args(["actions", "approve", &id, "--yes", "--as-user", "mallory"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "the apply must fail: {text}");
    assert!(
        text.contains("counts as protected") && text.contains("namespaces"),
        "the refusal says the namespace counts as protected and which permission is missing: {text}"
    );
    assert_eq!(image_of(k, &ns), "nginx:1.0", "nothing was written");
    let shown =
        run_ok(cli(&cache, &kubeconfig, &state, None).args(["actions", "show", &id, "-o", "json"]));
    let action: Value = serde_json::from_str(&shown).unwrap();
    // Refused at the review (its dry run, before anyone approves): still
    // pending for a person whose access allows it.
    assert_eq!(action["state"], "pending", "{action}");

    // A proposal as the ServiceAccount is refused the same way, before any
    // dry run, naming the missing permission.
    let out = cli(&cache, &kubeconfig, &state, Some(&bot))
        .args(["skills", "call", "patch.propose", "--input"])
        .arg(propose_input(&ns))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("counts as protected") && text.contains("get"),
        "{text}"
    );

    // Reads are unaffected.
    let out = run_ok(
        cli(&cache, &kubeconfig, &state, Some(&bot))
            .args(["skills", "call", "cluster.get", "--input"])
            .arg(
                json!({"resource": "deployments.apps", "namespace": ns, "name": "web"}).to_string(),
            ),
    );
    assert!(out.contains("nginx:1.0"), "{out}");
    assert_eq!(image_of(k, &ns), "nginx:1.0");
}

#[test]
fn namespace_labels_are_read_once_per_call() {
    let dir = tempfile::tempdir().unwrap();
    // diagnostics.analyze dry-runs every fix it finds in staging (several in
    // one namespace): the labels of `staging` are read for the first only.
    let out = run_ok(
        guardian(dir.path())
            .args([
                "--audit",
                "-",
                "skills",
                "call",
                "diagnostics.analyze",
                "--snapshot",
            ])
            .arg(example_snapshot())
            .args(["--input", r#"{"namespace": "staging"}"#]),
    );
    let lines: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l.get("verb").is_some())
        .collect();
    let dry_runs = lines
        .iter()
        .filter(|l| l["verb"] == "patch" && l["dry_run"] == true)
        .count();
    let label_reads = lines
        .iter()
        .filter(|l| l["tool"] == "namespace-labels")
        .count();
    assert!(dry_runs >= 3, "the example has several fixes: {dry_runs}");
    assert_eq!(label_reads, 1, "one label read for {dry_runs} dry runs");
}
