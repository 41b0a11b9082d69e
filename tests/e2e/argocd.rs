//! Argo CD on the real API server, with Argo CD's own CRDs and a test
//! controller playing its application controller
//! (`guardian_tests::argocd::FakeArgo`): `guardian argocd apps|status|
//! drift|sync|verify` read and propose through the broker; a sync is the
//! one write, made only after a person approved it; `verify` follows it to
//! Synced and Healthy, or says why not with diagnostics' findings.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use guardian_api::proto;
use guardian_tests::argocd::{
    self, AppState, DEFAULT_HEAD, FakeArgo, FakeArgoConfig, OUTCOME, application, get_application,
    request_operation, sync_operation,
};
use guardian_tests::kube::{ControlPlane, control_plane};
use serde_json::{Value, json};

use crate::cluster::{Env, of_app, staging_copy};
use crate::serve_api::{ApiServer, BOB, CAROL, authed};
use crate::support::McpStdio;

/// An Argo CD namespace served by the test controller, and `guardian`
/// configured to look for Applications there, auditing to a file.
struct Argo {
    env: Env,
    ns: String,
    config: PathBuf,
    _controller: FakeArgo,
}

impl Argo {
    fn new(k: &ControlPlane) -> Argo {
        Argo::in_namespace(k, k.namespace("argocd"))
    }

    fn in_namespace(k: &ControlPlane, ns: String) -> Argo {
        Argo::with_controller(k, ns, FakeArgoConfig::default())
    }

    /// With the controller taking `step` between its writes.
    fn slow(k: &ControlPlane, step: Duration) -> Argo {
        let config = FakeArgoConfig {
            step,
            ..FakeArgoConfig::default()
        };
        Argo::with_controller(k, k.namespace("argocd"), config)
    }

    fn with_controller(k: &ControlPlane, ns: String, config: FakeArgoConfig) -> Argo {
        let controller = FakeArgo::start_with(k, &ns, config);
        let env = Env::new(k);
        let config = env.path().join("config.yaml");
        std::fs::write(&config, format!("argocd:\n  namespaces: [{ns}]\n")).unwrap();
        Argo {
            env,
            ns,
            config,
            _controller: controller,
        }
    }

    fn guardian(&self, args: &[&str]) -> Command {
        let mut cmd = self.env.guardian(&[]);
        cmd.arg("--config")
            .arg(&self.config)
            .arg("--audit")
            .arg(self.audit_path())
            .args(args)
            .env("USER", "alice");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.guardian(args).output().expect("guardian runs")
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(out.status.success(), "guardian {args:?}: {}", text(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("guardian {args:?}: not JSON ({e}): {}", text(&out)))
    }

    fn audit_path(&self) -> PathBuf {
        self.env.path().join("audit.jsonl")
    }

    fn audit(&self) -> Vec<Value> {
        audit_of(&self.audit_path())
    }

    fn app(&self, k: &ControlPlane, name: &str, dest: &str, state: AppState) {
        k.apply(&application(name, &self.ns, dest, state));
    }
}

fn audit_of(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The real (not dry-run, not preview) writes an audit log allowed.
fn real_writes(audit: &[Value]) -> Vec<&Value> {
    audit
        .iter()
        .filter(|l| l["verb"] == "patch" && l["dry_run"] == false && l["decision"] == "allow")
        .filter(|l| {
            l["reasons"]
                .as_array()
                .is_none_or(|r| r.iter().all(|r| r != "preview of an apply"))
        })
        .collect()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn reasons(findings: &Value) -> Vec<String> {
    findings
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["reason"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn apps_status_and_drift_read_argo_cds_verdict_through_the_broker() {
    let Some(k) = control_plane() else { return };
    let argo = Argo::new(k);
    let dest = k.namespace("shop");
    argo.app(k, "web", &dest, AppState::SyncedHealthy);
    argo.app(k, "cart", &dest, AppState::OutOfSyncSelfHeal);
    argo.app(k, "repo", &dest, AppState::ComparisonError);
    argo.app(k, "pay", &dest, AppState::SyncFailed);

    let all = argo.json(&["argocd", "apps", "-o", "json"]);
    let by_name = |name: &str| -> Value {
        all["apps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} listed: {all:#}"))
    };
    assert_eq!(all["total"], 4, "{all:#}");
    let web = by_name("web");
    assert_eq!(
        (&web["sync_status"], &web["health_status"]),
        (&json!("Synced"), &json!("Healthy"))
    );
    assert_eq!(web["revision"], DEFAULT_HEAD);
    let cart = by_name("cart");
    assert_eq!(cart["sync_status"], "OutOfSync");
    assert_eq!(
        (&cart["automated"], &cart["self_heal"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(by_name("pay")["operation"]["phase"], "Failed");

    // The table, as `argocd app list` prints it.
    let out = argo.run(&["argocd", "apps"]);
    let table = text(&out);
    assert!(out.status.success(), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("cart ") && l.contains("Auto-Prune-SelfHeal")),
        "{table}"
    );

    // Filters.
    let out_of_sync = argo.json(&["argocd", "apps", "--out-of-sync", "-o", "json"]);
    let names: Vec<&str> = out_of_sync["apps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(
        names.contains(&"cart") && !names.contains(&"web"),
        "{names:?}"
    );

    // One Application: its own failures as findings.
    let cart = argo.json(&["argocd", "status", "cart", "-o", "json"]);
    assert!(
        reasons(&cart["findings"]).contains(&"ArgoOutOfSync".to_owned()),
        "{cart:#}"
    );
    let out_of_sync: Vec<&str> = cart["resources"]["out_of_sync"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert!(out_of_sync.contains(&"Deployment"), "{cart:#}");
    let repo = argo.json(&["argocd", "status", "repo", "-o", "json"]);
    assert!(
        reasons(&repo["findings"]).contains(&"ArgoComparisonError".to_owned()),
        "{repo:#}"
    );
    let pay = argo.json(&["argocd", "status", "pay", "-o", "json"]);
    assert!(
        reasons(&pay["findings"]).contains(&"ArgoSyncFailed".to_owned()),
        "{pay:#}"
    );

    // Drift: Argo CD's own verdict per resource.
    let drift = argo.json(&["argocd", "drift", "cart", "-o", "json"]);
    assert!(
        drift["drift"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "Deployment" && r["status"] == "OutOfSync"),
        "{drift:#}"
    );

    // An Application that does not exist: said, naming it and where.
    let out = argo.run(&["argocd", "status", "nosuch"]);
    assert!(!out.status.success());
    let err = text(&out);
    assert!(err.contains("nosuch") && err.contains(&argo.ns), "{err}");

    // Every read went through the broker, decided and audited.
    let audit = argo.audit();
    assert!(
        audit.iter().any(|l| l["resource"]
            .as_str()
            .is_some_and(|r| r.contains("applications"))
            && l["verb"] == "list"
            && l["decision"] == "allow"),
        "{audit:#?}"
    );
    assert!(real_writes(&audit).is_empty(), "reads only: {audit:#?}");
}

/// The must-show of the issue: the audit log of an approved sync — the
/// proposal, the approval by a person at the CLI, the one write, the
/// verification.
#[test]
fn an_approved_sync_is_the_one_write_and_verify_follows_it_to_synced_and_healthy() {
    let Some(k) = control_plane() else { return };
    // Slow enough that verify sees the rollout, not only its end.
    let argo = Argo::slow(k, Duration::from_secs(2));
    let dest = k.namespace("shop");
    argo.app(k, "web", &dest, AppState::OutOfSyncSelfHeal);

    let proposed = argo.json(&[
        "argocd",
        "sync",
        "web",
        "--revision",
        DEFAULT_HEAD,
        "--reason",
        "roll out the reviewed commit",
        "-o",
        "json",
    ]);
    let id = proposed["action_id"]
        .as_str()
        .expect("an action id")
        .to_owned();
    // Proposed, not written: no operation on the Application.
    let app = get_application(k, &argo.ns, "web");
    assert!(app.get("operation").is_none(), "nothing written: {app:#}");
    let patch = &proposed["patch"];
    let add = patch
        .as_array()
        .unwrap()
        .iter()
        .find(|op| op["path"] == "/operation")
        .expect("the patch adds the operation");
    assert_eq!(add["value"]["sync"]["revision"], DEFAULT_HEAD);
    assert_eq!(
        add["value"]["sync"]["prune"], false,
        "no prune unless asked"
    );

    // A person approves it at the CLI: the one write.
    let out = argo.run(&["actions", "approve", &id, "--yes"]);
    assert!(out.status.success(), "{}", text(&out));

    let out = argo.run(&[
        "argocd",
        "verify",
        "web",
        "--revision",
        &DEFAULT_HEAD[..7],
        "--timeout",
        "90",
        "--interval",
        "0.2",
    ]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(
        printed.contains("verified: web is Synced and Healthy"),
        "{printed}"
    );
    // It waited: the first change it printed is not the end.
    let seen: Vec<&str> = printed
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert!(seen.len() >= 2, "each change as seen: {printed}");
    assert!(!seen[0].contains("Synced     Healthy"), "{printed}");
    assert!(
        seen.last().unwrap().contains("Synced     Healthy"),
        "{printed}"
    );

    let audit = argo.audit();
    let writes = real_writes(&audit);
    assert_eq!(writes.len(), 1, "one write: {writes:#?}");
    assert!(
        writes[0]["resource"]
            .as_str()
            .is_some_and(|r| r.contains("applications")),
        "{writes:#?}"
    );
    assert_eq!(writes[0]["name"], "web");
    let states: Vec<(&str, &str)> = audit
        .iter()
        .filter(|l| l["event"] == "action" && l["action"] == id.as_str())
        .map(|l| {
            (
                l["to"].as_str().unwrap_or("?"),
                l["who"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert!(
        states.first().is_some_and(|(s, _)| *s == "pending"),
        "proposed first: {states:?}"
    );
    assert!(
        states
            .iter()
            .any(|(s, by)| *s == "approved" && by.starts_with("human:alice (cli")),
        "approved by the person: {states:?}"
    );
    assert!(states.iter().any(|(s, _)| *s == "applied"), "{states:?}");
    // The verification's reads come after the write.
    let write_at = audit
        .iter()
        .position(|l| std::ptr::eq(l, writes[0]))
        .unwrap();
    assert!(
        audit[write_at..]
            .iter()
            .any(|l| l["verb"] == "get" && l["name"] == "web" && l["decision"] == "allow"),
        "verify read the Application after the write"
    );
    let app = get_application(k, &argo.ns, "web");
    assert_eq!(app["status"]["sync"]["status"], "Synced", "{app:#}");
    assert_eq!(
        app["metadata"]["annotations"]["guardian.dev/action-id"],
        id.as_str()
    );
}

#[test]
fn verify_reports_a_failed_sync_a_degraded_app_and_a_deadline_with_the_findings_underneath() {
    let Some(k) = control_plane() else { return };
    let argo = Argo::new(k);
    let dest = k.namespace("shop");
    // The crash-looping checkout of the example, under an Application.
    let checkout_ns = staging_copy(k, "checkout", |o| of_app(o, "checkout"));
    argo.app(k, "broken", &dest, AppState::SyncedHealthy);
    argo.app(k, "checkout", &checkout_ns, AppState::SyncedHealthy);
    argo.app(k, "slow", &dest, AppState::SyncedHealthy);
    for (name, outcome) in [
        ("broken", "fail"),
        ("checkout", "degrade"),
        ("slow", "progress"),
    ] {
        argocd::annotate(k, &argo.ns, name, OUTCOME, outcome);
        request_operation(k, &argo.ns, name, &sync_operation(None));
    }

    // The sync fails: the Application's own finding.
    let out = argo.run(&[
        "argocd",
        "verify",
        "broken",
        "--timeout",
        "90",
        "--interval",
        "0.2",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "sync-failed", "{v:#}");
    assert!(
        reasons(&v["findings"]).contains(&"ArgoSyncFailed".to_owned()),
        "{v:#}"
    );

    // Degraded: diagnostics on the unhealthy Deployment finds why.
    let out = argo.run(&[
        "argocd",
        "verify",
        "checkout",
        "--timeout",
        "90",
        "--interval",
        "0.2",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "degraded", "{v:#}");
    let crash = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["reason"] == "CrashLoopBackOff")
        .unwrap_or_else(|| panic!("diagnostics' finding on checkout: {v:#}"));
    assert_eq!(crash["object"]["name"], "checkout");
    assert_eq!(crash["object"]["namespace"], checkout_ns.as_str());
    assert!(
        v["diagnosed"][0]
            .as_str()
            .is_some_and(|d| d.starts_with(&checkout_ns) && d.contains("Deployment")),
        "{v:#}"
    );

    // Progressing past the deadline.
    let out = argo.run(&[
        "argocd",
        "verify",
        "slow",
        "--timeout",
        "3",
        "--interval",
        "0.2",
    ]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(3), "{printed}");
    assert!(
        printed.contains("did not reach Synced and Healthy within 3s"),
        "{printed}"
    );
    assert!(printed.contains("Progressing"), "{printed}");
}

#[test]
fn a_sync_is_refused_while_one_runs_in_a_protected_namespace_and_without_rbac() {
    let Some(k) = control_plane() else { return };
    let argo = Argo::new(k);
    let dest = k.namespace("shop");

    // An operation already running: refused, naming it.
    argo.app(k, "busy", &dest, AppState::RunningOperation { minutes: 2 });
    let out = argo.run(&["argocd", "sync", "busy"]);
    let err = text(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("Running") && err.contains("busy"), "{err}");

    // A caller whose RBAC has no patch on Applications: denied by the API
    // server on the dry run, in the broker, and audited.
    argo.app(k, "web", &dest, AppState::OutOfSyncSelfHeal);
    k.apply(&format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: reader, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: read-apps, namespace: {ns}}}
rules:
- apiGroups: [argoproj.io]
  resources: [applications]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: read-apps, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-apps}}
subjects:
- {{kind: ServiceAccount, name: reader, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {ns}-namespaces}}
rules:
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {ns}-namespaces}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {ns}-namespaces}}
subjects:
- {{kind: ServiceAccount, name: reader, namespace: {ns}}}
"#,
        ns = argo.ns
    ));
    let reader = format!("system:serviceaccount:{}:reader", argo.ns);
    let out = argo.run(&["--as", &reader, "argocd", "sync", "web"]);
    let err = text(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("patch"), "the denial names the verb: {err}");
    let audit = argo.audit();
    assert!(
        audit.iter().any(|l| l["verb"] == "patch"
            && l["name"] == "web"
            && (l["error"] == "denied" || l["decision"] == "deny")),
        "the denial is audited: {audit:#?}"
    );
    // It may still read.
    let status = argo.json(&["--as", &reader, "argocd", "status", "web", "-o", "json"]);
    assert_eq!(status["app"]["sync_status"], "OutOfSync");

    // A protected Argo CD namespace: policy refuses the proposal.
    let protected = k.namespace_labelled("argocd-prot", &[("guardian.io/protected", "true")]);
    let argo = Argo::in_namespace(k, protected);
    argo.app(k, "web", &dest, AppState::OutOfSyncSelfHeal);
    let out = argo.run(&["argocd", "sync", "web"]);
    let err = text(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("protected"), "{err}");
    assert!(
        get_application(k, &argo.ns, "web")
            .get("operation")
            .is_none()
    );
    assert!(real_writes(&argo.audit()).is_empty());
}

/// A sync is never applied without a person's approval, whichever front end
/// proposes it: the CLI (`argocd sync`, `skills call`), gRPC `Argocd`, the
/// MCP tool, and `ask --propose`. Each leaves the Application as it was and
/// a pending action; nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_front_end_syncs_without_approval() {
    let Some(k) = control_plane() else { return };
    let argo = Argo::new(k);
    let dest = k.namespace("shop");
    for name in ["a1", "a2", "a3", "a4", "a5"] {
        argo.app(k, name, &dest, AppState::OutOfSyncSelfHeal);
    }
    argo.app(k, "ok", &dest, AppState::SyncedHealthy);
    let untouched = |name: &str| {
        let app = get_application(k, &argo.ns, name);
        assert!(
            app.get("operation").is_none(),
            "{name} was written: {app:#}"
        );
        assert!(
            app["metadata"]["annotations"]["guardian.dev/action-id"].is_null(),
            "{app:#}"
        );
    };
    let pending = |out: &Value| -> String {
        let id = out["action_id"].as_str().expect("an action id").to_owned();
        let shown = argo.json(&["actions", "show", &id, "-o", "json"]);
        assert_eq!(shown["state"], "pending", "{shown:#}");
        id
    };

    // CLI.
    pending(&argo.json(&["argocd", "sync", "a1", "-o", "json"]));
    untouched("a1");
    let input = json!({"name": "a2", "namespace": argo.ns});
    let out = argo.run(&[
        "skills",
        "call",
        "argocd.sync",
        "--input",
        &input.to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    pending(&serde_json::from_slice(&out.stdout).unwrap());
    untouched("a2");

    // ask --propose, in reasoner mode.
    let out = argo.run(&["ask", "--propose", "is a3 synced?"]);
    let answer = text(&out);
    assert!(out.status.success(), "{answer}");
    assert!(
        answer.contains("No: Application") && answer.contains("OutOfSync"),
        "{answer}"
    );
    assert!(answer.contains("Pending action: act-"), "{answer}");
    untouched("a3");

    // gRPC: an operator proposes; a viewer may not; the answer is pending.
    let kubeconfig = argo.env.kubeconfig.to_str().unwrap().to_owned();
    let config = argo.config.to_str().unwrap().to_owned();
    let server = ApiServer::start(&["--kubeconfig", &kubeconfig, "--config", &config]);
    let mut client = server.client().await;
    let request = |token: &str| {
        authed(
            proto::ArgocdRequest {
                op: proto::argocd_request::Op::Sync as i32,
                name: "a4".into(),
                ..Default::default()
            },
            token,
        )
    };
    let refused = client.argocd(request(BOB)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    let reply = client
        .argocd(request(CAROL))
        .await
        .expect("Argocd SYNC")
        .into_inner();
    let id = reply.action_id.clone().expect("the action id");
    let action = client
        .get_action(authed(proto::GetActionRequest { id: id.clone() }, BOB))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(action.state, "pending");
    untouched("a4");
    // The same reads over gRPC, and verify's stream.
    let apps = client
        .argocd(authed(
            proto::ArgocdRequest {
                op: proto::argocd_request::Op::Apps as i32,
                ..Default::default()
            },
            BOB,
        ))
        .await
        .unwrap()
        .into_inner();
    let apps: Value = serde_json::from_str(&apps.result_json).unwrap();
    assert_eq!(apps["total"], 6, "{apps:#}");
    let mut stream = client
        .argocd_verify(authed(
            proto::ArgocdVerifyRequest {
                name: "ok".into(),
                timeout_seconds: Some(30.0),
                interval_seconds: Some(0.2),
                ..Default::default()
            },
            BOB,
        ))
        .await
        .expect("ArgocdVerify")
        .into_inner();
    let mut events = Vec::new();
    while let Some(event) = stream.message().await.expect("the stream") {
        events.push(event.event.expect("an event"));
    }
    use proto::argocd_verify_event::Event as VerifyEvent;
    assert!(
        matches!(&events[0], VerifyEvent::Transition(t) if t.sync == "Synced" && t.health == "Healthy"),
        "{events:?}"
    );
    match events.last() {
        Some(VerifyEvent::Done(done)) => assert_eq!(done.outcome, "verified", "{done:?}"),
        other => panic!("ends with the verification: {other:?}"),
    }

    // MCP: the tool proposes; a client that cannot be asked gets a pending
    // action, and nothing is applied.
    let mut cmd = argo.guardian(&["mcp", "--identity", "tester"]);
    cmd.env_remove("USER");
    let mut mcp = McpStdio::start(cmd);
    let listed = mcp.request("tools/list", json!({}));
    let tool = |name: &str| {
        listed["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} is an MCP tool: {listed:#}"))
    };
    assert_eq!(tool("argocd__apps")["annotations"]["readOnlyHint"], true);
    assert_eq!(tool("argocd__sync")["annotations"]["readOnlyHint"], false);
    assert_eq!(
        tool("guardian__argocd_verify")["annotations"]["readOnlyHint"],
        true
    );
    let verified = mcp.request(
        "tools/call",
        json!({"name": "guardian__argocd_verify",
               "arguments": {"name": "ok", "timeout_seconds": 30, "interval_seconds": 0.2}}),
    );
    assert_eq!(
        verified["result"]["structuredContent"]["outcome"], "verified",
        "{verified:#}"
    );
    let bad = mcp.request(
        "tools/call",
        json!({"name": "guardian__argocd_verify", "arguments": {"name": "ok", "timeout_seconds": -1}}),
    );
    assert_eq!(bad["result"]["isError"], true, "{bad:#}");
    assert!(bad.to_string().contains("timeout_seconds"), "{bad:#}");
    let called = mcp.request(
        "tools/call",
        json!({"name": "argocd__sync", "arguments": {"name": "a5", "namespace": argo.ns}}),
    );
    let result = &called["result"];
    assert_ne!(result["isError"], true, "{called:#}");
    assert_eq!(
        result["structuredContent"]["approval"]["state"], "pending",
        "{called:#}"
    );
    untouched("a5");

    // Not one real write anywhere.
    assert!(real_writes(&argo.audit()).is_empty());
    assert!(real_writes(&server.audit()).is_empty());
}

/// Diagnostics knows GitOps, on the real server: a crash-looping
/// Deployment that an Application with automated sync and selfHeal tracks
/// names that Application, and its fix says a direct patch would be
/// reverted. Applications are read only where Argo CD keeps them (the
/// config's `argocd.namespaces`): a scan of the workload's namespace lists
/// none there. The Argo CD namespace's own scan reports the Application.
#[test]
fn a_finding_on_a_self_healed_object_names_its_application_and_says_patching_is_futile() {
    let Some(k) = control_plane() else { return };
    let argo = Argo::new(k);
    let shop = staging_copy(k, "gitops", |o| of_app(o, "checkout"));
    k.run(&[
        "annotate",
        "deployment",
        "checkout",
        "-n",
        &shop,
        &format!("argocd.argoproj.io/tracking-id=checkout:apps/Deployment:{shop}/checkout"),
    ]);
    argo.app(k, "checkout", &shop, AppState::OutOfSyncSelfHeal);

    let report = argo.json(&["diagnose", "-n", &shop, "-o", "json"]);
    let crash = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["reason"] == "CrashLoopBackOff")
        .unwrap_or_else(|| panic!("{report:#}"));
    let owner = &crash["managed_by"];
    assert_eq!(owner["application"], "checkout", "{crash:#}");
    assert_eq!(
        owner["application_namespace"],
        argo.ns.as_str(),
        "{crash:#}"
    );
    assert_eq!(owner["self_heal"], true, "{crash:#}");
    assert_eq!(owner["reverts_direct_patch"], true, "{crash:#}");
    let marked = crash["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["gitops"].as_str())
        .collect::<Vec<_>>();
    assert!(
        marked
            .iter()
            .any(|g| g.contains("selfHeal") && g.contains("Git")),
        "{crash:#}"
    );
    assert!(
        report["summary"]["unavailable"].as_array().is_none_or(|u| u
            .iter()
            .all(|u| u["resource"] != "applications.argoproj.io")),
        "{report:#}"
    );
    let audit = argo.audit();
    let app_lists: Vec<&str> = audit
        .iter()
        .filter(|l| {
            l["verb"] == "list"
                && l["resource"]
                    .as_str()
                    .is_some_and(|r| r.contains("applications"))
        })
        .filter_map(|l| l["namespace"].as_str())
        .collect();
    assert!(!app_lists.is_empty(), "the Argo CD namespace was read");
    assert!(
        app_lists.iter().all(|ns| *ns == argo.ns),
        "Applications listed only where Argo CD keeps them: {app_lists:?}"
    );

    // The Argo CD namespace's own scan: the Application is OutOfSync.
    let report = argo.json(&["diagnose", "-n", &argo.ns, "-o", "json"]);
    assert!(
        reasons(&report["findings"]).contains(&"ArgoOutOfSync".to_owned()),
        "{report:#}"
    );
}

/// `guardian ask` about Argo CD in reasoner mode: "is storefront synced?"
/// answers from Argo CD's verdict — synced, but not healthy — and goes on
/// to why (diagnostics on the Degraded Deployment: the crash loop and its
/// cause), with the fix marked as one a direct patch cannot hold; "which
/// apps are out of sync?" lists those not synced apart from those synced
/// but unhealthy.
#[test]
fn ask_answers_sync_questions_from_argo_cd_and_goes_on_to_why() {
    let snapshot =
        crate::support::repo_root().join("tests/scenarios/81-argocd-selfheal-crashloop/snapshot");
    let dir = tempfile::tempdir().unwrap();
    let ask = |q: &str| {
        crate::support::run_ok(
            crate::support::guardian(&crate::cluster::shared_cache())
                .arg("--state-dir")
                .arg(dir.path().join("state"))
                .args(["ask", "--snapshot"])
                .arg(&snapshot)
                .arg(q),
        )
    };
    let answer = ask("is storefront synced?");
    assert!(
        answer.contains(
            "Synced, but not healthy: Application argocd/storefront is Synced and Degraded"
        ),
        "{answer}"
    );
    assert!(
        answer.contains("Why (CrashLoopBackOff on Deployment storefront/catalog)")
            && answer.contains("SEARCH_URL"),
        "{answer}"
    );
    assert!(answer.contains("a direct patch is reverted"), "{answer}");
    assert!(
        answer.contains("tools used: argocd.apps, argocd.status, diagnostics.analyze"),
        "{answer}"
    );

    let answer = ask("which apps are out of sync?");
    let (not_synced, unhealthy) = answer
        .split_once("Synced, but not healthy:")
        .unwrap_or_else(|| panic!("{answer}"));
    assert!(not_synced.contains("- argocd/billing: Unknown"), "{answer}");
    assert!(!not_synced.contains("storefront"), "{answer}");
    assert!(
        unhealthy.contains("- argocd/storefront: Synced and Degraded"),
        "{answer}"
    );
}

/// Every `diagnostics.analyze` call of the agent loop — the reasoner's or
/// a model's — is told the config's Argo CD namespaces, so a finding's
/// GitOps owner is looked for where this cluster keeps its Applications.
#[test]
fn the_agent_tells_diagnostics_where_applications_live() {
    let snapshot =
        crate::support::repo_root().join("tests/scenarios/81-argocd-selfheal-crashloop/snapshot");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "argocd:\n  namespaces: [elsewhere]\n").unwrap();
    let transcript = dir.path().join("transcript.json");
    crate::support::run_ok(
        crate::support::guardian(&crate::cluster::shared_cache())
            .env("GUARDIAN_CONFIG", &config)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args(["ask", "--snapshot"])
            .arg(&snapshot)
            .arg("--transcript")
            .arg(&transcript)
            .arg("what is wrong in storefront?"),
    );
    let t: Value = serde_json::from_slice(&std::fs::read(&transcript).unwrap()).unwrap();
    let calls: Vec<&Value> = t["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "tool_call" && e["tool"] == "diagnostics.analyze")
        .collect();
    assert!(!calls.is_empty(), "{t:#}");
    for call in calls {
        assert_eq!(
            call["arguments"]["argocd_namespaces"],
            json!(["elsewhere"]),
            "{call}"
        );
    }
}
