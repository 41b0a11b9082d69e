//! Never a false all-clear: a scope that could not be read is an error when
//! it is all that was asked, and is said first (and fails `--fail-on`) when
//! only part of the cluster could be read. On the real API server, over the
//! CLI, gRPC and MCP.

use std::path::Path;

use guardian_api::proto;
use guardian_tests::kube::{ControlPlane, control_plane};
use serde_json::{Value, json};

use crate::serve::closed_port;
use crate::serve_api::{ApiServer, BOB, authed};
use crate::support::{McpStdio, guardian, output};

/// A kubeconfig whose only context points at a loopback port nothing
/// listens on.
fn dead_kubeconfig(dir: &Path) -> (std::path::PathBuf, String) {
    let server = format!("https://127.0.0.1:{}", closed_port());
    let path = dir.join("dead.kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: dead\nclusters:\n- name: dead\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\nusers:\n- name: me\n  user:\n    token: some-token\ncontexts:\n- name: dead\n  context:\n    cluster: dead\n    user: me\n"
        ),
    )
    .unwrap();
    (path, server)
}

#[test]
fn an_unreachable_api_server_is_an_error_never_no_problems() {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, server) = dead_kubeconfig(dir.path());
    for args in [
        vec!["diagnose", "-n", "payments", "--fail-on", "critical"],
        vec!["diagnose", "-n", "payments", "-o", "json"],
        vec!["diagnose", "-A", "--fail-on", "critical"],
    ] {
        let (code, stdout, stderr) = output(
            guardian(&dir.path().join("cache"))
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(&args),
        );
        assert_eq!(code, 1, "{args:?}: stdout {stdout} stderr {stderr}");
        assert!(
            !stdout.contains("No problems found") && !stdout.contains("\"findings\""),
            "{args:?}: no report at all: {stdout}"
        );
        assert!(
            stderr.contains(&server) && stderr.contains("Connection refused"),
            "{args:?}: the error names the server and the failure: {stderr}"
        );
        assert!(
            !stderr.contains("ERROR failed with error"),
            "{args:?}: no client log noise on stderr: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_server_fails_grpc_diagnose_and_the_mcp_call() {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, server) = dead_kubeconfig(dir.path());
    let kubeconfig = kubeconfig.to_str().unwrap().to_owned();
    let api = ApiServer::start(&["--kubeconfig", &kubeconfig]);
    let mut client = api.client().await;
    for namespace in [Some("payments".to_owned()), None] {
        let status = client
            .diagnose(authed(
                proto::DiagnoseRequest {
                    namespace: namespace.clone(),
                    ..Default::default()
                },
                BOB,
            ))
            .await
            .expect_err("no report from a server that cannot be reached");
        assert_eq!(
            status.code(),
            tonic::Code::Unavailable,
            "{namespace:?}: {status:?}"
        );
        assert!(status.message().contains(&server), "{status:?}");
    }

    // MCP over stdio: the tool call is an error result, with the reason.
    let mut cmd = guardian(&dir.path().join("cache"));
    cmd.args(["mcp", "--kubeconfig", &kubeconfig, "--identity", "tester"]);
    let mut mcp = McpStdio::start(cmd);
    let answer = mcp.request(
        "tools/call",
        json!({"name": "diagnostics__analyze", "arguments": {"namespace": "payments"}}),
    );
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or("");
    assert!(text.contains(&server), "{answer}");
}

/// A ServiceAccount that may list and get namespaces and cluster-scoped
/// objects, and read everything in `readable` only.
fn partial_reader(k: &ControlPlane, readable: &[&str]) -> String {
    let home = k.namespace("reader-home");
    let mut yaml = format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: reader, namespace: {home}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {home}-cluster}}
rules:
- apiGroups: [""]
  resources: [namespaces, nodes, persistentvolumes]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {home}-cluster}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {home}-cluster}}
subjects:
- {{kind: ServiceAccount, name: reader, namespace: {home}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {home}-read}}
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: [get, list]
"#
    );
    for ns in readable {
        yaml.push_str(&format!(
            r#"---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: reader, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {home}-read}}
subjects:
- {{kind: ServiceAccount, name: reader, namespace: {home}}}
"#
        ));
    }
    k.apply(&yaml);
    format!("system:serviceaccount:{home}:reader")
}

/// A Pod `api` in `ns` whose container is crash-looping (status written as
/// the kubelet would).
fn crashing_pod(k: &ControlPlane, ns: &str) {
    k.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: api, namespace: {ns}}}\nspec:\n  containers:\n  - {{name: api, image: \"example.com/api:1\"}}\n"
    ));
    k.set_status(
        ns,
        "pod",
        "api",
        &json!({
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [{
                "name": "api", "image": "example.com/api:1", "imageID": "", "ready": false,
                "restartCount": 7, "started": false,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                    "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:01Z"}}
            }]
        }),
    );
}

#[test]
fn a_partly_readable_cluster_reports_its_findings_and_says_what_was_not_read() {
    let Some(k) = control_plane() else { return };
    let open = k.namespace("open");
    let closed = k.namespace("closed");
    crashing_pod(k, &open);
    crashing_pod(k, &closed);
    let reader = partial_reader(k, &[&open]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = k.kubeconfig(dir.path());
    let cli = || {
        let mut cmd = guardian(&dir.path().join("cache"));
        cmd.arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--as", &reader]);
        cmd
    };

    // Every namespace: the readable one's finding, and — first, on stdout —
    // the namespaces that could not be read.
    let (code, stdout, stderr) = output(cli().args(["diagnose", "-A"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let not_read_at = stdout
        .find("NOT READ")
        .expect("the unread scope is said on stdout");
    assert!(stdout.contains(&format!("namespace {closed}")), "{stdout}");
    let finding_at = stdout
        .find(&format!("pod/api -n {open}"))
        .expect("the readable namespace's finding is reported");
    assert!(
        not_read_at < finding_at,
        "said before the findings: {stdout}"
    );
    assert!(
        !stdout.contains(&format!("pod/api -n {closed}")),
        "nothing is claimed about the unread namespace: {stdout}"
    );

    // JSON carries it in the summary.
    let (_, stdout, _) = output(cli().args(["diagnose", "-A", "-o", "json"]));
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let not_read: Vec<&str> = report["summary"]["not_read"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["namespace"].as_str())
        .collect();
    assert!(not_read.contains(&closed.as_str()), "{not_read:?}");
    assert!(!not_read.contains(&open.as_str()), "{not_read:?}");

    // --fail-on treats an unread scope as failing (said on stderr).
    let (code, _, stderr) = output(cli().args(["diagnose", "-A", "--fail-on", "critical"]));
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("could not be read"), "{stderr}");

    // Only the unreadable namespace: an error that names the refusal.
    let (code, stdout, stderr) = output(cli().args(["diagnose", "-n", &closed]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(!stdout.contains("No problems found"), "{stdout}");
    assert!(
        stderr.contains("forbidden") || stderr.contains("denied"),
        "{stderr}"
    );

    // The readable one alone: its finding, nothing said missing.
    let (code, stdout, stderr) = output(cli().args(["diagnose", "-n", &open]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("pod/api -n {open}")), "{stdout}");
    assert!(!stdout.contains("NOT READ"), "{stdout}");
}
