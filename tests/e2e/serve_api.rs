//! `guardian serve` and `guardian mcp`: the real binary, reached by a real
//! tonic client (generated from proto/guardian/v1) and by the official MCP
//! Python SDK (installed by scripts/setup.sh into target/py) over stdio
//! and streamable HTTP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use guardian_api::proto::guardian_client::GuardianClient;
use guardian_api::proto::{self, ask_event};
use serde_json::{Value, json};
use tonic::transport::Channel;
use tonic::{Code, Request};

use crate::serve::Killed;
use crate::support::{example_snapshot, guardian, repo_root};

pub(crate) const ALICE: &str = "alice-approver-token-0123456789";
pub(crate) const CAROL: &str = "carol-operator-token-0123456789";
pub(crate) const BOB: &str = "bob-viewer-token-0123456789";

/// A running `guardian serve` on loopback ports it chose; killed on drop.
pub(crate) struct ApiServer {
    pub(crate) child: Killed,
    pub(crate) grpc: String,
    pub(crate) mcp: String,
    pub(crate) http: String,
    pub(crate) stderr: Arc<Mutex<Vec<String>>>,
    pub(crate) dir: tempfile::TempDir,
}

fn write_tokens(dir: &Path) -> PathBuf {
    let path = dir.join("tokens.yaml");
    // bob's token is given by its sha256, as an operator would store it.
    let bob_sha = crate::support::sha256_hex(BOB.as_bytes());
    std::fs::write(
        &path,
        format!(
            "tokens:\n  - {{identity: alice, role: approver, token: {ALICE}}}\n  - {{identity: carol, role: operator, token: {CAROL}}}\n  - {{identity: bob, role: viewer, sha256: {bob_sha}}}\n\
             kubernetes:\n  roles:\n    - {{user: 'system:serviceaccount:ci:deployer', role: operator}}\n    - {{group: guardian-approvers, role: approver}}\n"
        ),
    )
    .unwrap();
    path
}

impl ApiServer {
    /// `guardian serve` with `cluster` (`--snapshot P` or `--kubeconfig K`,
    /// and any other flags).
    pub(crate) fn start(cluster: &[&str]) -> ApiServer {
        let dir = tempfile::tempdir().unwrap();
        let tokens = write_tokens(dir.path());
        let mut cmd = guardian(&dir.path().join("cache"));
        cmd.arg("serve")
            .args(cluster)
            .args(["--grpc-listen", "127.0.0.1:0"])
            .args(["--mcp-listen", "127.0.0.1:0"])
            .args(["--http-listen", "127.0.0.1:0"])
            .args(["--drain-timeout", "20"])
            .arg("--tokens-file")
            .arg(&tokens)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--audit")
            .arg(dir.path().join("audit.jsonl"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = Killed(cmd.spawn().expect("guardian serve starts"));
        let stdout = child.0.stdout.take().unwrap();
        let stderr = child.0.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| {
                panic!(
                    "guardian serve did not say where it listens: {}",
                    lines.lock().unwrap().join("\n")
                )
            });
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
                .to_owned()
        };
        ApiServer {
            grpc: field("grpc"),
            mcp: field("mcp"),
            http: field("http"),
            child,
            stderr: lines,
            dir,
        }
    }

    pub(crate) async fn client(&self) -> GuardianClient<Channel> {
        GuardianClient::connect(format!("http://{}", self.grpc))
            .await
            .expect("the gRPC port accepts connections")
    }

    pub(crate) fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }

    fn http_get(&self, path: &str) -> (u16, String) {
        http_get(&self.http, path)
    }

    /// The HTTP listener's address (`127.0.0.1:PORT`).
    pub(crate) fn http_addr(&self) -> &str {
        &self.http
    }
}

/// A plain HTTP/1.1 GET over a TCP socket: what a Prometheus scraper or a
/// kubelet probe does.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("the HTTP port accepts connections");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The status of a call that must be refused with `code`.
fn refused<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code) -> tonic::Status {
    let err = result.expect_err("the call is refused");
    assert_eq!(err.code(), code, "{err:?}");
    err
}

pub(crate) fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

fn call(tool: &str, input: Value, token: &str) -> Request<proto::CallToolRequest> {
    authed(
        proto::CallToolRequest {
            tool: tool.into(),
            input_json: input.to_string(),
        },
        token,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_lists_calls_diagnoses_and_asks_on_a_snapshot() {
    let snap = example_snapshot();
    let server = ApiServer::start(&["--snapshot", snap.to_str().unwrap()]);
    let mut client = server.client().await;

    // Health and reflection are on.
    let channel = Channel::from_shared(format!("http://{}", server.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "guardian.v1.Guardian".into(),
        })
        .await
        .expect("health check")
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(channel);
    let mut answers = reflection
        .server_reflection_info(tokio_stream_once(
            tonic_reflection::pb::v1::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(
                    tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                        String::new(),
                    ),
                ),
            },
        ))
        .await
        .expect("reflection answers")
        .into_inner();
    let listed = format!("{:?}", answers.message().await.unwrap().unwrap());
    assert!(listed.contains("guardian.v1.Guardian"), "{listed}");

    // ListTools: every skill tool with its schema and effect.
    let tools = client
        .list_tools(authed(proto::ListToolsRequest {}, BOB))
        .await
        .expect("a viewer lists tools")
        .into_inner()
        .tools;
    let analyze = tools
        .iter()
        .find(|t| t.name == "diagnostics.analyze")
        .expect("diagnostics.analyze listed");
    assert_eq!(analyze.effect, proto::Effect::Read as i32);
    let schema: Value = serde_json::from_str(&analyze.input_schema_json).unwrap();
    assert!(schema["properties"]["namespace"].is_object(), "{schema}");
    let propose = tools.iter().find(|t| t.name == "patch.propose").unwrap();
    assert_eq!(propose.effect, proto::Effect::Propose as i32);

    // CallTool: a read tool, then the errors, each with its status code.
    let summary = client
        .call_tool(call(
            "cluster.summary",
            json!({"namespace": "staging"}),
            BOB,
        ))
        .await
        .expect("cluster.summary")
        .into_inner();
    let summary: Value = serde_json::from_str(&summary.result_json).unwrap();
    assert!(summary.is_object(), "{summary}");
    let err = refused(
        client.call_tool(call("cluster.nope", json!({}), BOB)).await,
        Code::NotFound,
    );
    assert!(
        err.message().contains("no tool `nope`"),
        "{}",
        err.message()
    );
    let err = refused(
        client
            .call_tool(call("cluster.list", json!({"resource": 42}), BOB))
            .await,
        Code::InvalidArgument,
    );
    assert!(err.message().contains("resource"), "{}", err.message());
    refused(
        client.call_tool(call("nodots", json!({}), BOB)).await,
        Code::InvalidArgument,
    );

    // Diagnose: the same report `guardian diagnose -o json` prints.
    let diagnosis = client
        .diagnose(authed(
            proto::DiagnoseRequest {
                namespace: Some("staging".into()),
                ..Default::default()
            },
            BOB,
        ))
        .await
        .expect("diagnose")
        .into_inner();
    assert!(
        diagnosis
            .findings
            .iter()
            .any(|f| f.reason == "OOMKilled" && f.name == "search"),
        "{:?}",
        diagnosis.findings
    );
    let report: Value = serde_json::from_str(&diagnosis.report_json).unwrap();
    assert_eq!(report["summary"]["scope"], "namespace staging");
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        diagnosis.findings.len()
    );

    // Ask: the reasoner's run as a stream of typed events.
    let mut stream = client
        .ask(authed(
            proto::AskRequest {
                question: "why is search failing in staging?".into(),
                namespace: Some("staging".into()),
                propose: false,
            },
            BOB,
        ))
        .await
        .expect("ask")
        .into_inner();
    let mut kinds = Vec::new();
    let mut answer = String::new();
    while let Some(event) = stream.message().await.expect("the Ask stream") {
        match event.event.expect("an event") {
            ask_event::Event::Step(_) => kinds.push("step"),
            ask_event::Event::ToolCall(_) => kinds.push("tool_call"),
            ask_event::Event::ToolResult(r) => {
                assert!(r.ok && r.executed, "{r:?}");
                kinds.push("tool_result")
            }
            ask_event::Event::Finding(_) => kinds.push("finding"),
            ask_event::Event::Proposal(_) => kinds.push("proposal"),
            ask_event::Event::Guard(_) => kinds.push("guard"),
            ask_event::Event::Answer(a) => {
                answer = a.text;
                kinds.push("answer")
            }
            ask_event::Event::Stats(s) => {
                assert!(s.tool_calls >= 1, "{s:?}");
                assert!(serde_json::from_str::<Value>(&s.stats_json).is_ok());
                kinds.push("stats")
            }
        }
    }
    for k in ["step", "tool_call", "tool_result", "finding", "answer"] {
        assert!(kinds.contains(&k), "no {k} event in {kinds:?}");
    }
    assert_eq!(kinds.last(), Some(&"stats"), "{kinds:?}");
    assert!(answer.to_lowercase().contains("search"), "{answer}");

    // The broker saw the gRPC caller, by identity.
    let audit = server.audit();
    assert!(
        audit
            .iter()
            .any(|l| l["caller"] == "automation:bob" && l["skill"] == "cluster"),
        "no broker decision for automation:bob"
    );
    assert!(
        audit
            .iter()
            .any(|l| l["caller"] == "agent:reasoner(automation:bob)"),
        "the agent's calls do not name who asked"
    );

    // Probes and metrics, without a token.
    assert_eq!(server.http_get("/healthz").0, 200);
    assert_eq!(server.http_get("/readyz").0, 200);
    let (code, metrics) = server.http_get("/metrics");
    assert_eq!(code, 200);
    for needle in [
        "guardian_tool_calls_total{channel=\"grpc\",tool=\"cluster.summary\",outcome=\"ok\"} 1",
        "guardian_tool_calls_total{channel=\"grpc\",tool=\"cluster.list\",outcome=\"invalid-input\"} 1",
        "guardian_tool_call_duration_seconds_count{channel=\"grpc\",tool=\"diagnostics.analyze\"} 1",
        "guardian_pending_actions 0",
        "guardian_api_requests_total{channel=\"grpc\",method=\"CallTool\",code=\"notfound\"} 1",
    ] {
        assert!(metrics.contains(needle), "no {needle} in\n{metrics}");
    }
}

/// A single-message request stream.
fn tokio_stream_once<T: Send + 'static>(item: T) -> impl tonic::IntoStreamingRequest<Message = T> {
    tokio_stream::iter([item])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_and_unauthorised_calls_are_refused_and_audited() {
    let snap = example_snapshot();
    let server = ApiServer::start(&["--snapshot", snap.to_str().unwrap()]);
    let mut client = server.client().await;

    // No token.
    let err = refused(
        client
            .list_tools(Request::new(proto::ListToolsRequest {}))
            .await,
        Code::Unauthenticated,
    );
    assert!(err.message().contains("Bearer"), "{}", err.message());
    // A wrong token.
    refused(
        client
            .call_tool(call(
                "cluster.summary",
                json!({}),
                "not-a-token-anyone-issued",
            ))
            .await,
        Code::Unauthenticated,
    );
    // A viewer approving, rejecting, proposing.
    let err = refused(
        client
            .approve_action(authed(
                proto::ApproveActionRequest {
                    id: "act-aaaaaaaaaaaa".into(),
                    ..Default::default()
                },
                BOB,
            ))
            .await,
        Code::PermissionDenied,
    );
    assert!(
        err.message().contains("approver role") && err.message().contains("bob"),
        "{}",
        err.message()
    );
    refused(
        client
            .reject_action(authed(
                proto::RejectActionRequest {
                    id: "act-aaaaaaaaaaaa".into(),
                    reason: "no".into(),
                },
                BOB,
            ))
            .await,
        Code::PermissionDenied,
    );
    refused(
        client
            .call_tool(call("patch.propose", json!({}), BOB))
            .await,
        Code::PermissionDenied,
    );
    refused(
        client
            .diagnose(authed(
                proto::DiagnoseRequest {
                    propose: true,
                    ..Default::default()
                },
                BOB,
            ))
            .await,
        Code::PermissionDenied,
    );
    // An operator cannot approve either.
    refused(
        client
            .approve_action(authed(
                proto::ApproveActionRequest {
                    id: "act-aaaaaaaaaaaa".into(),
                    ..Default::default()
                },
                CAROL,
            ))
            .await,
        Code::PermissionDenied,
    );
    // An approver gets past the gate, and the store answers.
    refused(
        client
            .approve_action(authed(
                proto::ApproveActionRequest {
                    id: "act-aaaaaaaaaaaa".into(),
                    ..Default::default()
                },
                ALICE,
            ))
            .await,
        Code::NotFound,
    );

    // MCP over HTTP: no token and a wrong token are refused with 401.
    for token in [None, Some("wrong-token-0123456789")] {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
            .args(["-H", "content-type: application/json"])
            .args(["-d", r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#]);
        if let Some(t) = token {
            cmd.args(["-H", &format!("authorization: Bearer {t}")]);
        }
        let out = cmd.arg(format!("http://{}/mcp", server.mcp)).output();
        if let Ok(out) = out {
            assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
        }
    }

    // Every refusal is in the audit log, with who and why.
    let access: Vec<Value> = server
        .audit()
        .into_iter()
        .filter(|l| l["event"] == "access")
        .collect();
    let has = |method: &str, decision: &str, caller: &str| {
        access
            .iter()
            .any(|l| l["method"] == method && l["decision"] == decision && l["caller"] == caller)
    };
    assert!(has("ListTools", "unauthenticated", ""), "{access:#?}");
    assert!(has("CallTool", "unauthenticated", ""), "{access:#?}");
    assert!(
        has("ApproveAction", "permission-denied", "automation:bob"),
        "{access:#?}"
    );
    assert!(
        has("RejectAction", "permission-denied", "automation:bob"),
        "{access:#?}"
    );
    assert!(
        has("ApproveAction", "permission-denied", "automation:carol"),
        "{access:#?}"
    );
    assert!(
        access
            .iter()
            .any(|l| l["channel"] == "mcp" && l["decision"] == "unauthenticated"),
        "{access:#?}"
    );
    let (_, metrics) = server.http_get("/metrics");
    assert!(
        metrics.contains(
            "guardian_auth_refusals_total{channel=\"grpc\",reason=\"permission-denied\"} 5"
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propose_watch_approve_and_reject_over_grpc_on_a_live_cluster() {
    let Some(k) = guardian_tests::kube::control_plane() else {
        return;
    };
    let ns = crate::cluster::staging_copy(k, "grpc-approve", |_| true);
    let kdir = tempfile::tempdir().unwrap();
    let kubeconfig = k.kubeconfig(kdir.path());
    let server = ApiServer::start(&["--kubeconfig", kubeconfig.to_str().unwrap()]);
    let mut client = server.client().await;

    let mut watch = client
        .watch_actions(authed(proto::WatchActionsRequest::default(), BOB))
        .await
        .expect("a viewer watches")
        .into_inner();

    // An operator proposes the fixes of staging.
    let diagnosis = client
        .diagnose(authed(
            proto::DiagnoseRequest {
                namespace: Some(ns.clone()),
                propose: true,
                ..Default::default()
            },
            CAROL,
        ))
        .await
        .expect("diagnose --propose")
        .into_inner();
    assert!(diagnosis.proposed_actions.len() > 1, "{diagnosis:?}");
    let report: Value = serde_json::from_str(&diagnosis.report_json).unwrap();
    let search_fix = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["reason"] == "OOMKilled" && f["object"]["name"] == "search")
        .expect("the OOMKilled search finding")["fixes"][0]
        .clone();
    let id = search_fix["proposed_action"].as_str().unwrap().to_owned();
    let other = diagnosis
        .proposed_actions
        .iter()
        .find(|x| **x != id)
        .unwrap()
        .clone();

    // The watch sees each new action.
    let mut seen = std::collections::HashMap::<String, String>::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < diagnosis.proposed_actions.len() && Instant::now() < deadline {
        let event = tokio::time::timeout(Duration::from_secs(10), watch.message())
            .await
            .expect("a watch event in time")
            .unwrap()
            .unwrap();
        let a = event.action.unwrap();
        seen.insert(a.id, a.state);
    }
    assert_eq!(seen.get(&id).map(String::as_str), Some("pending"));

    let listed = client
        .list_actions(authed(
            proto::ListActionsRequest {
                state: "pending".into(),
            },
            BOB,
        ))
        .await
        .unwrap()
        .into_inner()
        .actions;
    assert_eq!(listed.len(), diagnosis.proposed_actions.len());
    let action = client
        .get_action(authed(proto::GetActionRequest { id: id.clone() }, BOB))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(action.proposer, "automation:carol via diagnostics.analyze");
    assert!(
        action
            .kubectl
            .starts_with(&format!("kubectl patch deployments.apps search -n {ns}")),
        "{}",
        action.kubectl
    );
    assert!(action.diff.contains("memory: 256Mi"), "{}", action.diff);

    // The viewer cannot approve; the approver approves, and it is applied.
    let err = client
        .approve_action(authed(
            proto::ApproveActionRequest {
                id: id.clone(),
                ..Default::default()
            },
            BOB,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let approved = client
        .approve_action(authed(
            proto::ApproveActionRequest {
                id: id.clone(),
                note: "memory bump looks right".into(),
                rollout_timeout_seconds: 1,
            },
            ALICE,
        ))
        .await
        .expect("the approver approves")
        .into_inner();
    assert!(approved.applied, "{approved:?}");
    let action = approved.action.unwrap();
    assert_eq!(action.state, "applied");
    assert_eq!(action.approver, "human:alice (grpc-approval)");
    // Approving again is a failed precondition, with the reason.
    let err = refused(
        client
            .approve_action(authed(
                proto::ApproveActionRequest {
                    id: id.clone(),
                    ..Default::default()
                },
                ALICE,
            ))
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        err.message().contains("already applied"),
        "{}",
        err.message()
    );

    // Reject another.
    let rejected = client
        .reject_action(authed(
            proto::RejectActionRequest {
                id: other.clone(),
                reason: "not now".into(),
            },
            ALICE,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rejected.state, "rejected");

    // The watch sees both changes.
    let deadline = Instant::now() + Duration::from_secs(30);
    while (seen.get(&id).map(String::as_str) != Some("applied")
        || seen.get(&other).map(String::as_str) != Some("rejected"))
        && Instant::now() < deadline
    {
        let event = tokio::time::timeout(Duration::from_secs(10), watch.message())
            .await
            .expect("a watch event in time")
            .unwrap()
            .unwrap();
        assert_eq!(event.kind, proto::action_event::Kind::Changed as i32);
        let a = event.action.unwrap();
        seen.insert(a.id, a.state);
    }
    assert_eq!(seen.get(&id).map(String::as_str), Some("applied"));
    assert_eq!(seen.get(&other).map(String::as_str), Some("rejected"));

    // Who did what is in the audit log.
    let audit = server.audit();
    let whos: Vec<&str> = audit
        .iter()
        .filter(|l| l["event"] == "action" && l["action"] == json!(id))
        .map(|l| l["who"].as_str().unwrap())
        .collect();
    assert!(whos.contains(&"human:alice (grpc-approval)"), "{whos:?}");
    assert!(
        audit.iter().any(|l| l["caller"] == "human:alice"
            && l["verb"] == "patch"
            && l["dry_run"] == false
            && l["decision"] == "allow"),
        "no approved write by human:alice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_calls_in_flight_then_exits() {
    let snap = example_snapshot();
    let server = ApiServer::start(&["--snapshot", snap.to_str().unwrap()]);
    let mut client = server.client().await;
    // A few scans of every namespace in flight.
    let mut calls = Vec::new();
    for _ in 0..4 {
        let mut c = client.clone();
        calls.push(tokio::spawn(async move {
            c.diagnose(authed(proto::DiagnoseRequest::default(), BOB))
                .await
        }));
    }
    // SIGTERM once the server has admitted a call (or all have finished).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen_in_flight = false;
    while Instant::now() < deadline && !calls.iter().all(|c| c.is_finished()) {
        let (_, metrics) = server.http_get("/metrics");
        if metrics
            .lines()
            .find_map(|l| l.strip_prefix("guardian_calls_in_flight "))
            .and_then(|n| n.trim().parse::<i64>().ok())
            .is_some_and(|n| n > 0)
        {
            seen_in_flight = true;
            break;
        }
    }
    let pid = server.child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    // A call admitted before the signal finishes; one that arrives after it
    // is refused at the door, never cut off midway.
    let mut answered = 0;
    for c in calls {
        match c.await.unwrap() {
            Ok(_) => answered += 1,
            Err(status) => assert!(
                status.code() == Code::Unavailable && status.message().contains("shutting down"),
                "a call in flight was dropped: {status:?}"
            ),
        }
    }
    assert!(
        answered > 0 || !seen_in_flight,
        "the call in flight when SIGTERM came was not answered"
    );
    let mut server = server;
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = server.child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    // New calls are refused once it has gone.
    assert!(
        client
            .list_tools(authed(proto::ListToolsRequest {}, BOB))
            .await
            .is_err()
    );
    std::thread::sleep(Duration::from_millis(100));
    let stderr = server.stderr.lock().unwrap().join("\n");
    assert!(
        stderr.contains("draining") && stderr.contains("drained"),
        "{stderr}"
    );
}

/// The MCP Python SDK in target/py, or `None` (loudly) without python3.
fn python_mcp() -> Option<PathBuf> {
    let venv = repo_root().join("target/py/bin/python");
    if !venv.exists() {
        if Command::new("python3").arg("--version").output().is_err() {
            eprintln!(
                "\n!!! SKIPPED: python3 is not installed, so the MCP tests cannot run the official MCP Python SDK !!!\n"
            );
            return None;
        }
        let setup = Command::new("bash")
            .arg(repo_root().join("scripts/setup.sh"))
            .status()
            .expect("scripts/setup.sh runs");
        assert!(setup.success(), "scripts/setup.sh failed");
    }
    assert!(venv.exists(), "scripts/setup.sh did not create target/py");
    Some(venv)
}

fn client_script() -> PathBuf {
    repo_root().join("tests/mcp/client.py")
}

/// What the Python client saw, checked the same way over both transports.
fn check_mcp_session(out: &Value) {
    assert_eq!(out["server"], "guardian");
    let tools = out["tools"].as_array().unwrap();
    let analyze = tools
        .iter()
        .find(|t| t["name"] == "diagnostics__analyze")
        .unwrap_or_else(|| panic!("no diagnostics__analyze in {tools:?}"));
    assert!(analyze["schema"]["properties"]["namespace"].is_object());
    assert_eq!(analyze["annotations"]["readOnlyHint"], true);
    assert_eq!(analyze["annotations"]["destructiveHint"], false);
    let propose = tools
        .iter()
        .find(|t| t["name"] == "patch__propose")
        .unwrap();
    assert_eq!(propose["annotations"]["readOnlyHint"], false);
    assert_eq!(propose["annotations"]["destructiveHint"], false);
    // Nothing a client can call approves.
    assert!(
        tools
            .iter()
            .all(|t| !t["name"].as_str().unwrap().contains("approve")),
        "{tools:?}"
    );
    assert_eq!(out["call"]["is_error"], false, "{}", out["call"]);
    let report = &out["call"]["structured"];
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["reason"] == "OOMKilled" && f["object"]["name"] == "search"),
        "{report}"
    );
    assert_eq!(report["summary"]["scope"], "namespace staging");
    let text: Value = serde_json::from_str(out["call"]["text"][0].as_str().unwrap()).unwrap();
    assert_eq!(&text, report);
    assert_eq!(out["bad_call"]["is_error"], true);
    assert!(
        out["bad_call"]["text"][0]
            .as_str()
            .unwrap()
            .contains("resource")
    );
    assert_eq!(
        out["prompts"],
        json!(["diagnose-namespace", "investigate-workload"])
    );
    assert!(out["prompt_text"].as_str().unwrap().contains("`staging`"));
    assert_eq!(
        out["resources"],
        json!([
            "guardian://findings/latest",
            "guardian://actions/pending",
            "guardian://investigations"
        ])
    );
    assert_eq!(out["pending"], json!([]));
}

fn run_python(cmd: &mut Command) -> Value {
    let out = cmd.output().expect("python runs");
    assert!(
        out.status.success(),
        "the MCP Python client failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).expect("the client prints JSON")
}

#[test]
fn the_mcp_python_sdk_uses_guardian_mcp_over_stdio() {
    let Some(python) = python_mcp() else { return };
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let out = run_python(
        Command::new(python)
            .arg(client_script())
            .args(["stdio", "--", env!("CARGO_BIN_EXE_guardian"), "mcp"])
            .arg("--snapshot")
            .arg(example_snapshot())
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--audit")
            .arg(&audit)
            .args(["--identity", "dana"])
            .env("GUARDIAN_CACHE_DIR", dir.path().join("cache"))
            .env("GUARDIAN_CONFIG", "/dev/null")
            .current_dir(repo_root()),
    );
    check_mcp_session(&out);
    // The broker saw the MCP caller.
    let text = std::fs::read_to_string(&audit).unwrap();
    assert!(text.contains("\"caller\":\"mcp:dana\""), "{text}");
}

#[test]
fn the_mcp_python_sdk_uses_guardian_serve_over_streamable_http() {
    let Some(python) = python_mcp() else { return };
    let snap = example_snapshot();
    let server = ApiServer::start(&["--snapshot", snap.to_str().unwrap()]);
    let url = format!("http://{}/mcp", server.mcp);
    let out = run_python(
        Command::new(&python)
            .arg(client_script())
            .args(["http", &url, BOB]),
    );
    check_mcp_session(&out);
    assert!(
        server
            .audit()
            .iter()
            .any(|l| l["caller"] == "mcp:bob" && l["skill"] == "diagnostics"),
        "no broker decision for mcp:bob"
    );
    // A viewer cannot propose through MCP either.
    let (_, metrics) = server.http_get("/metrics");
    assert!(
        metrics.contains(
            "guardian_tool_calls_total{channel=\"mcp\",tool=\"diagnostics.analyze\",outcome=\"ok\"}"
        ),
        "{metrics}"
    );
    // Without a token the SDK's initialize fails.
    let out = Command::new(&python)
        .arg(client_script())
        .args(["http", &url, ""])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_proposal_over_mcp_asks_the_person_through_elicitation() {
    let Some(python) = python_mcp() else { return };
    let Some(k) = guardian_tests::kube::control_plane() else {
        return;
    };
    let ns =
        crate::cluster::staging_copy(k, "mcp-approve", |o| crate::cluster::of_app(o, "search"));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = k.kubeconfig(dir.path());
    let audit = dir.path().join("audit.jsonl");
    let propose = |answer: &str| {
        run_python(
            Command::new(&python)
                .arg(client_script())
                .args([
                    "propose",
                    answer,
                    "--",
                    env!("CARGO_BIN_EXE_guardian"),
                    "mcp",
                ])
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .arg("--state-dir")
                .arg(dir.path().join("state"))
                .arg("--audit")
                .arg(&audit)
                .args(["--identity", "dana"])
                .env("GUARDIAN_CACHE_DIR", dir.path().join("cache"))
                .env("GUARDIAN_CONFIG", "/dev/null")
                .env("MCP_NAMESPACE", &ns)
                .current_dir(repo_root()),
        )
    };

    // Declined: the action stays pending, for the CLI or gRPC.
    let out = propose("decline");
    assert_eq!(out["is_error"], false, "{out}");
    assert_eq!(out["asked"].as_array().unwrap().len(), 1, "{out}");
    let question = out["asked"][0].as_str().unwrap();
    assert!(
        question.contains(&format!("deployments.apps {ns}/search")) && question.contains("512Mi"),
        "{question}"
    );
    let approval = &out["structured"]["approval"];
    assert_eq!(approval["asked"], true, "{out}");
    assert_eq!(approval["state"], "pending", "{out}");
    let declined = out["structured"]["action_id"].as_str().unwrap().to_owned();
    let text = std::fs::read_to_string(&audit).unwrap();
    assert!(text.contains(&declined), "{text}");
    assert!(
        !text.contains("\"to\":\"approved\""),
        "declined, yet approved: {text}"
    );

    // Accepted: the person's answer approves and applies it, recorded as theirs.
    let out = propose("accept");
    let approval = &out["structured"]["approval"];
    assert_eq!(approval["answer"], "approved", "{out}");
    assert_eq!(
        approval["approver"], "human:dana (mcp-elicitation)",
        "{out}"
    );
    assert_eq!(approval["state"], "applied", "{out}");
    let applied = out["structured"]["action_id"].as_str().unwrap().to_owned();

    let lines: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let who = |id: &str, to: &str| {
        lines
            .iter()
            .find(|l| l["event"] == "action" && l["action"] == id && l["to"] == to)
            .map(|l| l["who"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        who(&applied, "approved").as_deref(),
        Some("human:dana (mcp-elicitation)")
    );
    assert!(who(&applied, "applied").is_some());
    // The proposal itself was made by the MCP caller, not a person.
    assert!(
        lines
            .iter()
            .any(|l| l["caller"] == "mcp:dana" && l["skill"] == "patch" && l["dry_run"] == true),
        "no dry run by mcp:dana"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skills_dropped_into_the_skills_dir_are_loaded_and_removed_without_dropping_calls() {
    let snap = example_snapshot();
    let skills = tempfile::tempdir().unwrap();
    let server = ApiServer::start(&[
        "--snapshot",
        snap.to_str().unwrap(),
        "--skills-dir",
        skills.path().to_str().unwrap(),
        "--reload-interval",
        "0.2",
    ]);
    let mut client = server.client().await;
    let names = |tools: Vec<proto::Tool>| tools.into_iter().map(|t| t.name).collect::<Vec<_>>();
    let tools = names(
        client
            .list_tools(authed(proto::ListToolsRequest {}, BOB))
            .await
            .unwrap()
            .into_inner()
            .tools,
    );
    assert!(!tools.iter().any(|t| t.starts_with("hello.")), "{tools:?}");

    // Calls keep running while the directory changes.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let mut c = client.clone();
        let stop = Arc::clone(&stop);
        load.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                c.call_tool(call(
                    "cluster.summary",
                    json!({"namespace": "staging"}),
                    BOB,
                ))
                .await
                .expect("a call during a reload");
                n += 1;
            }
            n
        }));
    }

    crate::support::install_skill(
        skills.path(),
        "hello",
        &crate::support::test_skill_wasm("hello"),
        &repo_root().join("examples/skills/hello/skill.toml"),
    );
    let has_hello = |tools: &[String]| tools.iter().any(|t| t == "hello.pods-per-node");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let tools = names(
            client
                .list_tools(authed(proto::ListToolsRequest {}, BOB))
                .await
                .unwrap()
                .into_inner()
                .tools,
        );
        if has_hello(&tools) {
            break;
        }
        assert!(Instant::now() < deadline, "hello never loaded: {tools:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = client
        .call_tool(call(
            "hello.pods-per-node",
            json!({"namespace": "staging"}),
            BOB,
        ))
        .await
        .expect("the new skill answers")
        .into_inner();
    assert!(serde_json::from_str::<Value>(&out.result_json).is_ok());

    std::fs::remove_dir_all(skills.path().join("hello")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tools = names(
            client
                .list_tools(authed(proto::ListToolsRequest {}, BOB))
                .await
                .unwrap()
                .into_inner()
                .tools,
        );
        if !has_hello(&tools) {
            break;
        }
        assert!(Instant::now() < deadline, "hello never unloaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut calls = 0;
    for t in load {
        calls += t.await.expect("no call failed");
    }
    assert!(calls > 0);
    let stderr = server.stderr.lock().unwrap().join("\n");
    assert!(stderr.contains("skills reloaded"), "{stderr}");
}

/// `guardian serve --token-review` on a real kube-apiserver: a bearer token
/// not in the tokens file is checked by TokenReview and gets the role the
/// file's `kubernetes.roles` give its user or groups — a ServiceAccount
/// token from the TokenRequest API (`ci/deployer`: operator), a user of the
/// server's token file in group `guardian-approvers` (erin: approver), one
/// the rules do not name (mallory: authenticated, no role) — and a token the
/// server does not know is refused, and audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_tokens_are_admitted_by_token_review() {
    use guardian_tests::kube::{control_plane, user_token};
    let Some(k) = control_plane() else { return };
    // The rules name system:serviceaccount:ci:deployer (write_tokens).
    k.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ci\n");
    let deployer = k.service_account_token("ci", "deployer");
    let erin = user_token("erin@example.com");
    let mallory = user_token("mallory");
    let forged = "forged-token-0123456789";

    let kdir = tempfile::tempdir().unwrap();
    let kubeconfig = k.kubeconfig(kdir.path());
    let snap = example_snapshot();
    let server = ApiServer::start(&[
        "--snapshot",
        snap.to_str().unwrap(),
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--token-review",
    ]);
    let mut client = server.client().await;

    // A service account the rules make an operator.
    let out = client
        .call_tool(call(
            "cluster.summary",
            json!({"namespace": "staging"}),
            &deployer,
        ))
        .await
        .expect("the service account is admitted");
    assert!(!out.into_inner().result_json.is_empty());
    refused(
        client
            .approve_action(authed(
                proto::ApproveActionRequest {
                    id: "act-aaaaaaaaaaaa".into(),
                    ..Default::default()
                },
                &deployer,
            ))
            .await,
        Code::PermissionDenied,
    );
    // A group member the rules make an approver gets past the gate.
    refused(
        client
            .approve_action(authed(
                proto::ApproveActionRequest {
                    id: "act-aaaaaaaaaaaa".into(),
                    ..Default::default()
                },
                erin,
            ))
            .await,
        Code::NotFound,
    );
    // Authenticated by the cluster, but no rule gives a role.
    let err = refused(
        client
            .list_tools(authed(proto::ListToolsRequest {}, mallory))
            .await,
        Code::PermissionDenied,
    );
    assert!(err.message().contains("mallory"), "{}", err.message());
    // Not authenticated by the cluster either.
    let err = refused(
        client
            .list_tools(authed(proto::ListToolsRequest {}, forged))
            .await,
        Code::Unauthenticated,
    );
    assert!(
        err.message().contains("TokenReview did not accept it"),
        "{}",
        err.message()
    );
    // The file's tokens still work.
    client
        .list_tools(authed(proto::ListToolsRequest {}, BOB))
        .await
        .expect("a file token");

    let audit = server.audit();
    assert!(
        audit
            .iter()
            .any(|l| l["caller"] == "automation:serviceaccount/ci/deployer"
                && l["skill"] == "cluster"),
        "no broker decision for the service account"
    );
    let access = |method: &str, decision: &str, caller: &str| {
        audit.iter().any(|l| {
            l["event"] == "access"
                && l["method"] == method
                && l["decision"] == decision
                && l["caller"] == caller
        })
    };
    assert!(
        access(
            "ApproveAction",
            "permission-denied",
            "automation:serviceaccount/ci/deployer"
        ),
        "the service account's refused approval is not audited: {audit:#?}"
    );
    assert!(
        access("ListTools", "unauthenticated", ""),
        "the forged token's refusal is not audited: {audit:#?}"
    );
    // Every TokenReview was decided by policy and audited, as Guardian
    // itself.
    let reviews: Vec<&Value> = audit
        .iter()
        .filter(|l| {
            l["verb"] == "review" && l["resource"] == "authentication.k8s.io/v1/tokenreviews"
        })
        .collect();
    assert!(reviews.len() >= 3, "one per token reviewed: {audit:#?}");
    assert!(
        reviews.iter().all(|l| l["caller"] == "system:guardian"
            && l["tool"] == "token-review"
            && l["decision"] == "allow"
            && l["rule"] == "reviews-within-grants"),
        "{reviews:#?}"
    );
    // No token reaches the audit log.
    let text = std::fs::read_to_string(server.dir.path().join("audit.jsonl")).unwrap();
    for token in [deployer.as_str(), erin, mallory, forged] {
        assert!(!text.contains(token), "a token in the audit log");
    }
}

/// A CA, a server certificate for localhost/127.0.0.1 and a client
/// certificate, made with the system `openssl`; `None` without it.
fn make_certs(dir: &Path) -> Option<()> {
    let openssl = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|_| ())
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=guardian-test-ca",
            ],
        ]
        .concat(),
    )?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("client.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    for who in ["server", "client"] {
        openssl(
            &[
                &["req", "-new"][..],
                &ec,
                &[
                    "-keyout",
                    &format!("{who}.key"),
                    "-out",
                    &format!("{who}.csr"),
                    "-subj",
                    &format!("/CN={who}"),
                ],
            ]
            .concat(),
        )?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{who}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &format!("{who}.pem"),
            "-extfile",
            &format!("{who}.ext"),
        ])?;
    }
    Some(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_on_the_grpc_port() {
    let certs = tempfile::tempdir().unwrap();
    if make_certs(certs.path()).is_none() {
        eprintln!("\n!!! SKIPPED: no working openssl to make test certificates !!!\n");
        return;
    }
    let p = |f: &str| certs.path().join(f).to_str().unwrap().to_owned();
    let snap = example_snapshot();
    let server = ApiServer::start(&[
        "--snapshot",
        snap.to_str().unwrap(),
        "--tls-cert",
        &p("server.pem"),
        "--tls-key",
        &p("server.key"),
        "--tls-client-ca",
        &p("ca.pem"),
    ]);
    let read = |f: &str| std::fs::read(certs.path().join(f)).unwrap();
    let url = format!(
        "https://localhost:{}",
        server.grpc.rsplit(':').next().unwrap()
    );
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(read("ca.pem")))
        .domain_name("localhost");

    // With a client certificate from the CA: served (the token still decides who).
    let channel = Channel::from_shared(url.clone())
        .unwrap()
        .tls_config(tls.clone().identity(tonic::transport::Identity::from_pem(
            read("client.pem"),
            read("client.key"),
        )))
        .unwrap()
        .connect()
        .await
        .expect("an mTLS connection");
    let mut client = GuardianClient::new(channel);
    let tools = client
        .list_tools(authed(proto::ListToolsRequest {}, BOB))
        .await
        .expect("ListTools over mTLS")
        .into_inner()
        .tools;
    assert!(!tools.is_empty());
    let err = client
        .list_tools(Request::new(proto::ListToolsRequest {}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    // Without a client certificate: no connection, no call.
    let refused = async {
        let channel = Channel::from_shared(url.clone())
            .unwrap()
            .tls_config(tls.clone())
            .unwrap()
            .connect()
            .await?;
        GuardianClient::new(channel)
            .list_tools(authed(proto::ListToolsRequest {}, BOB))
            .await
            .map_err(|s| Box::new(s) as Box<dyn std::error::Error + Send + Sync>)?;
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    }
    .await;
    assert!(
        refused.is_err(),
        "a client without a certificate was served"
    );
    // Nor in plain text.
    let plain = GuardianClient::connect(format!("http://{}", server.grpc)).await;
    if let Ok(mut c) = plain {
        assert!(
            c.list_tools(authed(proto::ListToolsRequest {}, BOB))
                .await
                .is_err()
        );
    }
}
