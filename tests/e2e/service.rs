//! One service layer: an operation is written once (in `guardian-core`)
//! and every front end offers it. `doctor` — once only the CLI's — answers
//! the same over the CLI, gRPC and MCP, on the real API server.

use guardian_api::proto;
use guardian_tests::kube::control_plane;
use serde_json::{Value, json};

use crate::serve_api::{ApiServer, BOB, authed};
use crate::support::{McpStdio, guardian};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_is_one_operation_the_cli_grpc_and_mcp_all_offer() {
    let Some(k) = control_plane() else { return };
    // A ServiceAccount that may read pods and nothing else.
    let ns = k.namespace("doctor");
    k.apply(&format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: partial, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {ns}-pods}}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {ns}-pods}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {ns}-pods}}
subjects:
- {{kind: ServiceAccount, name: partial, namespace: {ns}}}
"#
    ));
    let sa = format!("system:serviceaccount:{ns}:partial");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = k.kubeconfig(dir.path());
    let kubeconfig = kubeconfig.to_str().unwrap();

    // The CLI (every question to the cluster audited).
    let audit_path = dir.path().join("audit.jsonl");
    let out = guardian(&dir.path().join("cache"))
        .args(["--kubeconfig", kubeconfig, "--as", &sa, "doctor", "--audit"])
        .arg(&audit_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let missing: u32 = stdout
        .lines()
        .find_map(|l| {
            l.split_once(" permission(s) missing")
                .map(|(n, _)| n.trim().to_owned())
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the CLI says how many are missing: {stdout}"));
    assert!(missing > 5, "{stdout}");
    assert!(
        stdout.contains("pods") && stdout.contains("yes"),
        "{stdout}"
    );
    let audit: Vec<Value> = std::fs::read_to_string(&audit_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let asked = |verb: &str, resource: &str| {
        audit
            .iter()
            .filter(|l| {
                l["verb"] == verb && l["resource"] == resource && l["caller"] == "human:cli"
            })
            .count()
    };
    assert_eq!(asked("get", "/version"), 1, "{audit:#?}");
    let reviews = asked("review", "authorization.k8s.io/v1/selfsubjectaccessreviews");
    assert!(
        reviews > missing as usize,
        "each access review is audited: {reviews}"
    );
    assert!(
        audit
            .iter()
            .any(|l| l["reasons"][1] == "can-i get pods/log"),
        "the question is in the audit line: {audit:#?}"
    );

    // gRPC: the same count and the same RBAC.
    let server = ApiServer::start(&["--kubeconfig", kubeconfig, "--as", &sa]);
    let mut client = server.client().await;
    let report = client
        .doctor(authed(proto::DoctorRequest { namespace: None }, BOB))
        .await
        .expect("Doctor")
        .into_inner();
    assert_eq!(report.missing, missing);
    assert!(
        stdout.contains(report.rbac.trim()),
        "the CLI prints the RBAC gRPC returns:\n{}\n---\n{stdout}",
        report.rbac
    );
    let json: Value = serde_json::from_str(&report.report_json).unwrap();
    assert!(
        json["server_version"].as_str().unwrap().starts_with("v1."),
        "{json}"
    );

    // MCP: a read-only tool with the same answer.
    let mut cmd = guardian(&dir.path().join("cache"));
    cmd.args([
        "--kubeconfig",
        kubeconfig,
        "--as",
        &sa,
        "mcp",
        "--identity",
        "tester",
    ]);
    let mut mcp = McpStdio::start(cmd);
    let listed = mcp.request("tools/list", json!({}));
    let called = mcp.request(
        "tools/call",
        json!({"name": "guardian__doctor", "arguments": {}}),
    );
    let tool = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "guardian__doctor")
        .cloned()
        .expect("doctor is an MCP tool");
    assert_eq!(tool["annotations"]["readOnlyHint"], true, "{tool}");
    let result = &called["result"];
    assert_ne!(result["isError"], true, "{result}");
    assert_eq!(result["structuredContent"]["missing"], missing, "{result}");
}
