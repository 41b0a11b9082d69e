//! MCP hardening: an HTTP session belongs to the identity that opened it
//! (on the real API server: a viewer cannot answer an approver's approval
//! elicitation), `Origin` and `Host` are checked and their refusals
//! audited, and `guardian mcp` answers every bad stdio line as JSON-RPC 2.0
//! says.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use guardian_api::proto;
use guardian_tests::kube::control_plane;
use serde_json::{Value, json};

use crate::serve::Killed;
use crate::serve_api::{ALICE, ApiServer, BOB, authed};
use crate::support::{example_snapshot, guardian};

/// An HTTP answer: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One request made with curl, the way an attacker would make it.
fn curl(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Answer {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-i", "--max-time", "60", "-X", method]);
    for (k, v) in headers {
        cmd.args(["-H", &format!("{k}: {v}")]);
    }
    if let Some(b) = body {
        cmd.args(["--data-binary", b]);
    }
    let out = cmd.arg(url).output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer from {url}: {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

const MCP_HEADERS: [(&str, &str); 2] = [
    ("content-type", "application/json"),
    ("accept", "application/json, text/event-stream"),
];

/// A POST to `/mcp` with `token`, the session and any other headers.
fn mcp_post(
    url: &str,
    token: &str,
    session: Option<&str>,
    extra: &[(&str, &str)],
    body: &Value,
) -> Answer {
    let auth = format!("Bearer {token}");
    let mut headers: Vec<(&str, &str)> = MCP_HEADERS.to_vec();
    headers.push(("authorization", &auth));
    if let Some(s) = session {
        headers.push(("mcp-session-id", s));
    }
    headers.extend_from_slice(extra);
    curl("POST", url, &headers, Some(&body.to_string()))
}

fn initialize(elicitation: bool) -> Value {
    let capabilities = if elicitation {
        json!({"elicitation": {}})
    } else {
        json!({})
    };
    json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": capabilities,
            "clientInfo": {"name": "curl", "version": "1"}
        }
    })
}

/// Opens a session as `token`: initialize, then `notifications/initialized`.
fn open_session(url: &str, token: &str, elicitation: bool) -> String {
    let init = mcp_post(url, token, None, &[], &initialize(elicitation));
    assert_eq!(init.status, 200, "initialize: {}", init.body);
    let session = init
        .header("mcp-session-id")
        .unwrap_or_else(|| panic!("no session id: {:?}", init.headers))
        .to_owned();
    let done = mcp_post(
        url,
        token,
        Some(&session),
        &[],
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert_eq!(done.status, 202, "initialized: {}", done.body);
    session
}

/// A POST whose SSE answer is read line by line as it arrives.
struct Stream {
    _curl: Killed,
    lines: mpsc::Receiver<String>,
}

impl Stream {
    fn post(url: &str, token: &str, session: &str, body: &Value) -> Stream {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-N", "-X", "POST"]);
        for (k, v) in MCP_HEADERS {
            cmd.args(["-H", &format!("{k}: {v}")]);
        }
        cmd.args(["-H", &format!("authorization: Bearer {token}")])
            .args(["-H", &format!("mcp-session-id: {session}")])
            .args(["--data-binary", &body.to_string()])
            .arg(url)
            .stdout(Stdio::piped());
        let mut child = Killed(cmd.spawn().expect("curl runs"));
        let out = child.0.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Stream {
            _curl: child,
            lines,
        }
    }

    /// The next JSON-RPC message on the stream that `want` accepts.
    fn next(&self, want: impl Fn(&Value) -> bool) -> Value {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(120))
                .expect("a message on the stream");
            if let Some(data) = line.strip_prefix("data:")
                && let Ok(m) = serde_json::from_str::<Value>(data.trim())
                && want(&m)
            {
                return m;
            }
        }
    }
}

/// Point 2 of the attack battery, on the real API server: the approver's
/// session receives the approval elicitation; the viewer, sending its own
/// token with the approver's session id, answers it. It must be refused
/// (403), audited as the viewer's, and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_cannot_answer_an_approvers_elicitation_with_the_approvers_session() {
    let Some(k) = control_plane() else { return };
    let ns = k.namespace("mcp-session");
    crate::cluster::web_deployment(k, &ns);
    let image = || crate::cluster::web_image(k, &ns);
    let kdir = tempfile::tempdir().unwrap();
    let kubeconfig = k.kubeconfig(kdir.path());
    let server = ApiServer::start(&["--kubeconfig", kubeconfig.to_str().unwrap()]);
    let url = format!("http://{}/mcp", server.mcp);

    // alice (approver) opens a session that can show elicitations, and
    // proposes a change: it is dry-run, stored, and she is asked.
    let session = open_session(&url, ALICE, true);
    let call = Stream::post(
        &url,
        ALICE,
        &session,
        &json!({
            "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "patch__propose", "arguments": {
                "target": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": ns, "name": "web"},
                "json_patch": [
                    {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "web"},
                    {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.0"},
                    {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.1"}
                ],
                "rationale": "roll web to nginx 1.1"
            }}
        }),
    );
    let asked = call.next(|m| m["method"] == "elicitation/create");
    assert!(
        asked["params"]["message"]
            .as_str()
            .is_some_and(|q| q.contains("nginx:1.1")),
        "{asked}"
    );
    let question = asked["id"].clone();

    // bob (viewer) answers it with alice's session id and his own token.
    let accept = json!({
        "jsonrpc": "2.0", "id": question,
        "result": {"action": "accept", "content": {"approve": true}}
    });
    let attack = mcp_post(&url, BOB, Some(&session), &[], &accept);
    assert_eq!(
        attack.status, 403,
        "the viewer's answer in the approver's session was not refused: {} {}",
        attack.status, attack.body
    );
    assert!(
        attack.body.contains("alice") && attack.body.contains("bob"),
        "{}",
        attack.body
    );
    // Nor may he read the session's stream or end it.
    let auth = format!("Bearer {BOB}");
    let listen = curl(
        "GET",
        &url,
        &[
            ("accept", "text/event-stream"),
            ("authorization", &auth),
            ("mcp-session-id", &session),
        ],
        None,
    );
    assert_eq!(listen.status, 403, "{}", listen.body);
    let end = curl(
        "DELETE",
        &url,
        &[("authorization", &auth), ("mcp-session-id", &session)],
        None,
    );
    assert_eq!(end.status, 403, "{}", end.body);

    // The session is still alice's: she declines, and the call ends.
    let declined = mcp_post(
        &url,
        ALICE,
        Some(&session),
        &[],
        &json!({"jsonrpc": "2.0", "id": question, "result": {"action": "decline"}}),
    );
    assert_eq!(declined.status, 202, "{}", declined.body);
    let result = call.next(|m| m["id"] == 7);
    let out = &result["result"]["structuredContent"];
    assert_eq!(out["approval"]["answer"], "not approved", "{result}");
    let id = out["action_id"].as_str().expect("an action id").to_owned();

    // The action is still pending, and the Deployment unchanged.
    let mut client = server.client().await;
    let action = client
        .get_action(authed(proto::GetActionRequest { id: id.clone() }, BOB))
        .await
        .expect("get the action")
        .into_inner();
    assert_eq!(action.state, "pending", "{action:?}");
    assert_eq!(image(), "nginx:1.0");

    // The refusal is audited as bob's, with the session; nothing approved.
    let audit = server.audit();
    let refusal = audit
        .iter()
        .find(|l| l["event"] == "access" && l["caller"] == "mcp:bob")
        .unwrap_or_else(|| panic!("no access line for mcp:bob: {audit:#?}"));
    assert_eq!(refusal["session"], json!(session), "{refusal}");
    assert_eq!(refusal["decision"], "permission-denied", "{refusal}");
    assert_eq!(refusal["method"], "POST /mcp", "{refusal}");
    assert!(
        refusal["reason"]
            .as_str()
            .is_some_and(|r| r.contains("alice") && r.contains(&session)),
        "{refusal}"
    );
    assert!(
        !audit
            .iter()
            .any(|l| l["event"] == "action" && l["action"] == json!(id) && l["to"] == "approved"),
        "approved: {audit:#?}"
    );
}

/// Point 8: a browser page on another site (or a DNS-rebinding one) cannot
/// open an MCP session; the refusals are audited.
#[test]
fn mcp_over_http_refuses_foreign_origins_and_hosts_and_audits_them() {
    let snap = example_snapshot();
    let server = ApiServer::start(&["--snapshot", snap.to_str().unwrap()]);
    let url = format!("http://{}/mcp", server.mcp);
    let port = server.mcp.rsplit(':').next().unwrap().to_owned();
    let evil_host = format!("evil.example:{port}");
    let init = initialize(false);

    for (header, value) in [
        ("origin", "http://evil.example"),
        ("origin", "null"),
        ("host", evil_host.as_str()),
    ] {
        let a = mcp_post(&url, BOB, None, &[(header, value)], &init);
        assert_eq!(a.status, 403, "{header}: {value} → {} {}", a.status, a.body);
        assert!(a.header("mcp-session-id").is_none(), "{header}: {value}");
        assert!(a.body.contains(value), "{}", a.body);
    }
    // The same host's pages, and clients that send no Origin, are served.
    for extra in [vec![("origin", "http://localhost:3000")], vec![]] {
        let a = mcp_post(&url, BOB, None, &extra, &init);
        assert_eq!(a.status, 200, "{extra:?}: {}", a.body);
        assert!(a.header("mcp-session-id").is_some());
    }
    let access: Vec<Value> = server
        .audit()
        .into_iter()
        .filter(|l| l["event"] == "access")
        .collect();
    for needle in ["http://evil.example", "\"null\"", evil_host.as_str()] {
        assert!(
            access.iter().any(|l| l["caller"] == "mcp:bob"
                && l["decision"] == "permission-denied"
                && l["reason"].as_str().is_some_and(|r| r.contains(needle))),
            "no audited refusal naming {needle}: {access:#?}"
        );
    }

    // Configured origins are admitted, and only those.
    let server = ApiServer::start(&[
        "--snapshot",
        snap.to_str().unwrap(),
        "--mcp-allowed-origin",
        "https://console.example.com",
        "--mcp-allowed-origin",
        "null",
    ]);
    let url = format!("http://{}/mcp", server.mcp);
    for (origin, status) in [
        ("https://console.example.com", 200),
        ("null", 200),
        ("https://console.example.com:8443", 403),
        ("http://evil.example", 403),
    ] {
        let a = mcp_post(&url, BOB, None, &[("origin", origin)], &init);
        assert_eq!(a.status, status, "{origin}: {}", a.body);
    }
    // A value that is not an origin stops serve before it starts.
    let dir = tempfile::tempdir().unwrap();
    let out = guardian(&dir.path().join("cache"))
        .args(["serve", "--snapshot", snap.to_str().unwrap()])
        .args(["--tokens-file", "/dev/null"])
        .args(["--mcp-allowed-origin", "console.example.com"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--mcp-allowed-origin") && stderr.contains("console.example.com"),
        "{stderr}"
    );
}

/// Point 9: `guardian mcp` over real pipes answers each bad line as JSON-RPC
/// 2.0 requires, and keeps serving.
#[test]
fn guardian_mcp_answers_every_bad_stdio_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Killed(
        guardian(&dir.path().join("cache"))
            .args(["mcp", "--snapshot"])
            .arg(example_snapshot())
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--audit")
            .arg(dir.path().join("audit.jsonl"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("guardian mcp starts"),
    );
    let mut stdin = child.0.stdin.take().unwrap();
    let stdout = child.0.stdout.take().unwrap();
    let (tx, replies) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });

    let mut input: Vec<u8> = Vec::new();
    let mut line = |bytes: &[u8]| {
        input.extend_from_slice(bytes);
        input.push(b'\n');
    };
    line(initialize(false).to_string().as_bytes());
    line(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    line(b"this is not json");
    line(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\xff\"}");
    // 17 MiB: over the 16 MiB limit.
    let mut big = br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":""#.to_vec();
    big.resize(17 << 20, b'a');
    big.extend_from_slice(br#""}}"#);
    line(&big);
    line(br#"[{"jsonrpc":"2.0","id":4,"method":"ping"}]"#);
    line(br#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":["cluster__summary"]}"#);
    line(br#"{"jsonrpc":"2.0","id":6,"method":"tools/call"}"#);
    line(br#"{"jsonrpc":"2.0","id":7,"method":"prompts/get"}"#);
    line(br#"{"jsonrpc":"2.0","id":8,"method":"ping"}"#);
    let writer = std::thread::spawn(move || {
        stdin.write_all(&input).unwrap();
        stdin.flush().unwrap();
        stdin
    });

    // Everything up to the last ping's answer.
    let mut seen: Vec<Value> = Vec::new();
    while !seen.iter().any(|m| m["id"] == 8) {
        let line = replies
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("no more replies; got {seen:#?}"));
        seen.push(serde_json::from_str(&line).expect("every line out is JSON"));
    }
    drop(writer.join().unwrap());
    let error = |pick: &dyn Fn(&Value) -> bool, what: &str| -> (i64, String) {
        let m = seen
            .iter()
            .find(|m| pick(m))
            .unwrap_or_else(|| panic!("no reply to {what}: {seen:#?}"));
        (
            m["error"]["code"].as_i64().unwrap_or(0),
            m["error"]["message"].as_str().unwrap_or("").to_owned(),
        )
    };
    let null_id = |needle: &'static str| {
        move |m: &Value| {
            m["id"].is_null()
                && m["error"]["message"]
                    .as_str()
                    .is_some_and(|s| s.contains(needle))
        }
    };
    assert_eq!(
        error(&null_id("not JSON"), "a line that is not JSON").0,
        -32700
    );
    assert_eq!(error(&null_id("UTF-8"), "invalid UTF-8").0, -32700);
    assert_eq!(error(&null_id("limit"), "a 17 MiB line").0, -32600);
    assert_eq!(error(&null_id("batch"), "a batch").0, -32600);
    let (code, message) = error(&|m| m["id"] == 5, "params as an array");
    assert_eq!(code, -32602, "{message}");
    assert!(message.contains("must be an object"), "{message}");
    let (code, message) = error(&|m| m["id"] == 6, "tools/call without params");
    assert_eq!(code, -32602, "{message}");
    assert!(message.contains("`params` is required"), "{message}");
    assert_eq!(
        error(&|m| m["id"] == 7, "prompts/get without params").0,
        -32602
    );
    // And it still serves.
    let pong = seen.iter().find(|m| m["id"] == 8).unwrap();
    assert!(pong["result"].is_object(), "{pong}");
}
