//! The web console in a real browser: headless Chromium (Debian's
//! `chromium`) driven through WebDriver (`chromedriver`) against the real
//! `guardian serve` on the real API server. A person signs in with a
//! token, opens a pending action, sees its diff and approves it, and the
//! object changes on the server; a viewer sees no Approve button; forged
//! posts (no or a wrong CSRF token, another page's form, a viewer's own
//! session) are refused with 403 and audited; a `<script>` in a proposer's
//! name, a rationale or a diff line is shown as text. Screenshots of the
//! pages are written under `target/console-screenshots/` for review.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use guardian_api::proto;
use guardian_api::proto::guardian_client::GuardianClient;
use guardian_tests::browser::Browser;
use guardian_tests::kube::ControlPlane;
use serde_json::{Value, json};

use crate::serve::Killed;
use crate::serve_api::authed;
use crate::support::guardian;

const ALICE: &str = "alice-approver-token-0123456789";
const BOB: &str = "bob-viewer-token-0123456789";
/// An operator whose identity is markup: what it proposes carries it.
const MARKUP_OPERATOR: &str = "markup-operator-token-0123456789";
const MARKUP_NAME: &str = "<script>alert(1)</script>";

/// `guardian serve` on the live cluster, on loopback ports it chose.
struct Server {
    _child: Killed,
    grpc: String,
    http: String,
    dir: tempfile::TempDir,
}

impl Server {
    fn start(k: &ControlPlane) -> Server {
        Server::start_with(k, None)
    }

    /// With the config file `config` written into its folder (the
    /// Alertmanager intake's settings, say).
    fn start_with(k: &ControlPlane, config: Option<&str>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = k.kubeconfig(dir.path());
        let tokens = dir.path().join("tokens.yaml");
        std::fs::write(
            &tokens,
            format!(
                "tokens:\n  - {{identity: alice, role: approver, token: {ALICE}}}\n  - {{identity: bob, role: viewer, token: {BOB}}}\n  - {{identity: '{MARKUP_NAME}', role: operator, token: {MARKUP_OPERATOR}}}\n"
            ),
        )
        .unwrap();
        let mut cmd = guardian(&dir.path().join("cache"));
        if let Some(config) = config {
            let path = dir.path().join("config.yaml");
            std::fs::write(&path, config).unwrap();
            cmd.arg("--config").arg(path);
        }
        cmd.arg("serve")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--grpc-listen", "127.0.0.1:0"])
            .args(["--mcp-listen", "none"])
            .args(["--http-listen", "127.0.0.1:0"])
            .arg("--tokens-file")
            .arg(&tokens)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--audit")
            .arg(dir.path().join("audit.jsonl"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = Killed(cmd.spawn().expect("guardian serve starts"));
        let stdout = child.0.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(180))
            .expect("guardian serve says where it listens");
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
                .to_owned()
        };
        Server {
            grpc: field("grpc"),
            http: field("http"),
            _child: child,
            dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }

    /// Proposes a new image (and a new annotation) for `ns/web`, as the
    /// operator whose name is markup, over gRPC; the action id.
    async fn propose(&self, ns: &str, to: &str) -> String {
        let mut client = GuardianClient::connect(format!("http://{}", self.grpc))
            .await
            .unwrap();
        let input = json!({
            "target": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": ns, "name": "web"},
            "json_patch": [
                {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "web"},
                {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.0"},
                {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": to},
                {"op": "add", "path": "/metadata/annotations", "value": {"note": "<script>alert('diff')</script>"}},
            ],
            "rationale": "roll web forward <script>alert('rationale')</script>",
        });
        let out = client
            .call_tool(authed(
                proto::CallToolRequest {
                    tool: "patch.propose".into(),
                    input_json: input.to_string(),
                },
                MARKUP_OPERATOR,
            ))
            .await
            .expect("the operator proposes")
            .into_inner();
        let v: Value = serde_json::from_str(&out.result_json).unwrap();
        v["action_id"].as_str().expect("an action id").to_owned()
    }
}

fn deployment(k: &ControlPlane, ns: &str) {
    crate::cluster::web_deployment(k, ns);
}

fn image(k: &ControlPlane, ns: &str) -> String {
    crate::cluster::web_image(k, ns)
}

/// Where the screenshots go: `target/console-screenshots/`.
fn screenshots() -> PathBuf {
    let dir = Path::new(guardian_tests::REPO_ROOT).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = screenshots().join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

/// A new browser session (its own profile: no cookies) in a window of
/// `width` × `height`.
async fn browser_session(b: &Browser, width: u32, height: u32) -> Client {
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(b.capabilities(width, height))
        .connect(b.webdriver_url())
        .await
        .expect("a WebDriver session with headless Chromium")
}

/// Signs in with `token` through the sign-in page; lands on the actions.
async fn sign_in(c: &Client, server: &Server, token: &str) {
    c.goto(&server.url("/console/")).await.unwrap();
    assert!(
        c.current_url().await.unwrap().path() == "/console/login",
        "not signed in: sent to the sign-in page"
    );
    c.find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    c.find(Locator::Css("form.login button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(c, "/console/").await;
}

/// Waits until the browser is at `path` (a click's navigation done); the
/// body's text when it is not within the time.
async fn wait_for_path(c: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = c.current_url().await.unwrap();
        if url.path() == path && c.find(Locator::Css("h1")).await.is_ok() {
            return;
        }
        if Instant::now() > deadline {
            panic!("not at {path} but at {url}: {}", body_text(c).await);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn texts(c: &Client, css: &str) -> Vec<String> {
    let mut v = Vec::new();
    for e in c.find_all(Locator::Css(css)).await.unwrap() {
        v.push(e.text().await.unwrap());
    }
    v
}

async fn body_text(c: &Client) -> String {
    text_of(c, "body").await
}

/// No `<script>` element made it into the page, and the markup shows as
/// text.
async fn markup_is_text(c: &Client, expected: &[&str]) {
    let scripts = c.find_all(Locator::Css("script")).await.unwrap();
    assert!(scripts.is_empty(), "no script element in the page");
    let text = body_text(c).await;
    for e in expected {
        assert!(text.contains(e), "{e:?} shown as text: {text}");
    }
}

/// The action's state as the page shows it, reloading until it is
/// `want` (or the time is up).
async fn wait_for_state(c: &Client, server: &Server, id: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = text_of(c, "main > p .state").await;
        if state == want || Instant::now() > deadline {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.goto(&server.url(&format!("/console/actions/{id}")))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_signs_in_sees_the_diff_and_approves_in_a_real_browser() {
    let Some(k) = guardian_tests::kube::control_plane() else {
        return;
    };
    let Some(b) = Browser::start_if_available() else {
        return;
    };
    let ns = k.namespace("console-approve");
    deployment(k, &ns);
    let server = Server::start(k);
    let id = server.propose(&ns, "nginx:1.1").await;

    let c = browser_session(&b, 1280, 1400).await;
    sign_in(&c, &server, ALICE).await;

    // The list: the action, pending, with its target and proposer.
    let pending = text_of(&c, "section[aria-labelledby=h-pending]").await;
    assert!(pending.contains(&id), "{pending}");
    assert!(
        pending.contains(&format!("deployments.apps {ns}/web")),
        "{pending}"
    );
    assert!(pending.contains("pending"), "{pending}");
    markup_is_text(
        &c,
        &[&format!("automation:{MARKUP_NAME} via patch.propose")],
    )
    .await;
    screenshot(&c, "list.png").await;

    // A narrow screen: the same page, stacked.
    c.set_window_size(390, 900).await.unwrap();
    screenshot(&c, "list-narrow.png").await;
    c.set_window_size(1280, 1400).await.unwrap();

    // The action: its diff, side by side, computed now.
    c.find(Locator::LinkText(&id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&c, &format!("/console/actions/{id}")).await;
    let removed = texts(&c, "table.diff td.del").await;
    let added = texts(&c, "table.diff td.add").await;
    assert!(
        removed.iter().any(|r| r.contains("image: nginx:1.0")),
        "{removed:?}"
    );
    assert!(
        added.iter().any(|a| a.contains("image: nginx:1.1")),
        "{added:?}"
    );
    assert!(
        added
            .iter()
            .any(|a| a.contains("note: <script>alert('diff')</script>")),
        "a diff line with markup is text: {added:?}"
    );
    assert!(
        added.iter().any(|a| a.contains(&id)),
        "the annotation the apply sets is in the diff: {added:?}"
    );
    let verdict = text_of(&c, ".verdict").await;
    assert!(verdict.contains("dry-run"), "{verdict}");
    let facts = text_of(&c, "dl.facts").await;
    assert!(
        facts.contains("approved-action"),
        "the policy decision: {facts}"
    );
    markup_is_text(
        &c,
        &[
            "roll web forward <script>alert('rationale')</script>",
            &format!("automation:{MARKUP_NAME} via patch.propose"),
        ],
    )
    .await;
    screenshot(&c, "action.png").await;
    assert_eq!(image(k, &ns), "nginx:1.0", "nothing applied yet");

    // Approve, without waiting for a rollout (nothing runs controllers here).
    c.find(Locator::Css("#rollout"))
        .await
        .unwrap()
        .select_by_value("0")
        .await
        .unwrap();
    mark_page(&c).await;
    c.find(Locator::Css("#approve"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_new_page(&c).await;
    let state = wait_for_state(&c, &server, &id, "applied").await;
    assert_eq!(state, "applied", "{}", body_text(&c).await);
    assert_eq!(
        image(k, &ns),
        "nginx:1.1",
        "the object changed on the server"
    );
    let object = crate::cluster::web(k, &ns);
    assert_eq!(
        object["metadata"]["annotations"]["guardian.dev/action-id"], id,
        "{object}"
    );
    let facts = text_of(&c, "dl.facts").await;
    assert!(facts.contains("human:alice (web)"), "{facts}");
    assert!(
        c.find_all(Locator::Css("#approve"))
            .await
            .unwrap()
            .is_empty(),
        "nothing to approve once applied"
    );
    screenshot(&c, "action-applied.png").await;

    // Its audit trail: the approval and the write, as alice on the web.
    c.find(Locator::LinkText("The audit trail on its own page"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&c, &format!("/console/actions/{id}/audit")).await;
    let trail = text_of(&c, "table.audit").await;
    assert!(trail.contains("action: new → pending"), "{trail}");
    assert!(trail.contains("action: pending → approved"), "{trail}");
    assert!(trail.contains("human:alice (web)"), "{trail}");
    assert!(
        trail.contains(&format!("patch apps/v1/deployments {ns}/web")),
        "the write's decision: {trail}"
    );
    assert!(trail.contains("approved-action"), "{trail}");
    screenshot(&c, "audit.png").await;

    // The audit log itself: one approval line with the channel and the
    // person, and the real write allowed for human:alice.
    let audit = server.audit();
    let approvals: Vec<&Value> = audit
        .iter()
        .filter(|l| l["event"] == "action" && l["action"] == id.as_str() && l["to"] == "approved")
        .collect();
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(approvals[0]["who"], "human:alice (web)");
    assert!(
        audit.iter().any(|l| l["verb"] == "patch"
            && l["dry_run"] == false
            && l["decision"] == "allow"
            && l["caller"] == "human:alice"
            && l["rule"] == "approved-action"),
        "the real write, allowed for the approver"
    );

    // Sign out: the session is gone, the pages send to the sign-in page.
    c.goto(&server.url("/console/")).await.unwrap();
    c.find(Locator::Css("nav form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&c, "/console/login").await;
    c.goto(&server.url(&format!("/console/actions/{id}")))
        .await
        .unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/console/login");
    c.close().await.unwrap();
}

/// A page on another loopback port (the same site: the browser sends the
/// console's SameSite=Strict cookie along) whose form posts to the
/// console's approve URL without a token. Serves `count` requests.
fn evil_page(target: String, count: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = format!(
                "<!doctype html><html><body><h1>You won a prize</h1>\
                 <form method=\"post\" action=\"{target}\"><input type=\"hidden\" name=\"seen\" value=\"x\">\
                 <input type=\"hidden\" name=\"rollout\" value=\"0\">\
                 <button id=\"claim\" type=\"submit\">Claim</button></form></body></html>"
            );
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}/")
}

/// A raw HTTP POST (no browser): the status and body.
fn raw_post(addr: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Submits a form built in the page (as a forger with the browser would):
/// POST `action` with `fields`; returns once the answer's page is loaded.
async fn post_from_page(c: &Client, action: &str, fields: &[(&str, &str)]) {
    let fields: Vec<Value> = fields.iter().map(|(k, v)| json!([k, v])).collect();
    c.execute(
        "const [action, fields] = arguments;
         document.body.dataset.before = 'yes';
         const f = document.createElement('form');
         f.method = 'post'; f.action = action;
         for (const [k, v] of fields) {
           const i = document.createElement('input');
           i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
         }
         document.body.appendChild(f); f.submit();",
        vec![json!(action), json!(fields)],
    )
    .await
    .unwrap();
    wait_for_new_page(c).await;
}

/// Waits until the page marked `data-before` is replaced by a new one.
async fn wait_for_new_page(c: &Client) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if c.find_all(Locator::Css("body[data-before]"))
            .await
            .is_ok_and(|v| v.is_empty())
            && c.find(Locator::Css("h1")).await.is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no new page after the form post");
}

/// Marks the current page, for [`wait_for_new_page`].
async fn mark_page(c: &Client) {
    c.execute("document.body.dataset.before = 'yes';", vec![])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_no_approve_button_and_forged_posts_are_refused() {
    let Some(k) = guardian_tests::kube::control_plane() else {
        return;
    };
    let Some(b) = Browser::start_if_available() else {
        return;
    };
    let ns = k.namespace("console-forged");
    deployment(k, &ns);
    let server = Server::start(k);
    let id = server.propose(&ns, "nginx:1.2").await;
    let approve_path = format!("/console/actions/{id}/approve");

    // The viewer: the action and its diff, no buttons.
    let viewer = browser_session(&b, 1280, 1400).await;
    sign_in(&viewer, &server, BOB).await;
    viewer
        .goto(&server.url(&format!("/console/actions/{id}")))
        .await
        .unwrap();
    assert!(
        text_of(&viewer, "table.diff td.add")
            .await
            .contains("nginx:1.2")
            || body_text(&viewer).await.contains("image: nginx:1.2")
    );
    assert!(
        viewer
            .find_all(Locator::Css("#approve"))
            .await
            .unwrap()
            .is_empty(),
        "a viewer sees no Approve button"
    );
    assert!(
        viewer
            .find_all(Locator::Css("#reject"))
            .await
            .unwrap()
            .is_empty(),
        "nor a Reject button"
    );
    let why = text_of(&viewer, "#no-decision").await;
    assert!(why.contains("needs the approver role"), "{why}");
    screenshot(&viewer, "action-viewer.png").await;

    // The viewer forges the approval with their own session's valid token.
    let csrf = viewer
        .find(Locator::Css("nav input[name=csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    post_from_page(
        &viewer,
        &server.url(&approve_path),
        &[("csrf", &csrf), ("seen", "x"), ("rollout", "0")],
    )
    .await;
    let text = body_text(&viewer).await;
    assert!(text.contains("Refused"), "{text}");
    assert!(text.contains("needs the approver role"), "{text}");
    viewer.close().await.unwrap();

    // The approver's session, a wrong CSRF token in the real form.
    let alice = browser_session(&b, 1280, 1400).await;
    sign_in(&alice, &server, ALICE).await;
    alice
        .goto(&server.url(&format!("/console/actions/{id}")))
        .await
        .unwrap();
    alice
        .execute(
            "document.querySelector('form[action$=\"/approve\"] input[name=csrf]').value = 'forged';",
            vec![],
        )
        .await
        .unwrap();
    mark_page(&alice).await;
    alice
        .find(Locator::Css("#approve"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_new_page(&alice).await;
    let text = body_text(&alice).await;
    assert!(text.contains("CSRF token"), "{text}");
    // No token at all.
    post_from_page(&alice, &server.url(&approve_path), &[("seen", "x")]).await;
    assert!(body_text(&alice).await.contains("CSRF token"));

    // Another page on the same host: its form goes with alice's cookie
    // (same site), without the token, from another origin.
    let evil = evil_page(server.url(&approve_path), 2);
    alice.goto(&evil).await.unwrap();
    mark_page(&alice).await;
    alice
        .find(Locator::Css("#claim"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_new_page(&alice).await;
    assert!(
        alice
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/approve"),
        "the forged form reached the console"
    );
    let text = body_text(&alice).await;
    assert!(text.contains("Refused"), "{text}");
    assert!(
        text.contains("not sent from the console's own pages"),
        "refused for its origin: {text}"
    );
    screenshot(&alice, "forged-post.png").await;

    // No browser at all: no cookie, no token, no origin.
    let (status, text) = raw_post(&server.http, &approve_path, &[], "seen=x");
    assert_eq!(status, 403, "{text}");
    let (status, text) = raw_post(
        &server.http,
        &approve_path,
        &[("Origin", &format!("http://{}", server.http))],
        "seen=x",
    );
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("not signed in"), "{text}");

    // Nothing was approved or written, and every refusal is audited.
    alice
        .goto(&server.url(&format!("/console/actions/{id}")))
        .await
        .unwrap();
    assert_eq!(text_of(&alice, "main > p .state").await, "pending");
    assert_eq!(image(k, &ns), "nginx:1.0");
    let method = format!("console approve {id}");
    let refusals: Vec<Value> = server
        .audit()
        .into_iter()
        .filter(|l| {
            l["event"] == "access" && l["channel"] == "web" && l["method"] == method.as_str()
        })
        .collect();
    let by = |caller: &str, decision: &str, reason: &str| {
        refusals.iter().any(|l| {
            l["caller"] == caller
                && l["decision"] == decision
                && l["reason"].as_str().unwrap_or("").contains(reason)
        })
    };
    assert!(
        by("web:bob", "permission-denied", "approver role"),
        "{refusals:#?}"
    );
    assert!(
        by("web:alice", "permission-denied", "CSRF token"),
        "{refusals:#?}"
    );
    assert!(
        by(
            "web:alice",
            "permission-denied",
            "not sent from the console's own pages"
        ),
        "{refusals:#?}"
    );
    assert!(
        by("", "permission-denied", "neither Origin nor Referer"),
        "{refusals:#?}"
    );
    assert!(by("", "unauthenticated", "not signed in"), "{refusals:#?}");
    // The refusals are in the action's own audit trail too.
    alice
        .goto(&server.url(&format!("/console/actions/{id}/audit")))
        .await
        .unwrap();
    let trail = text_of(&alice, "table.audit").await;
    assert!(trail.contains("refused: permission-denied"), "{trail}");

    // The approver can still approve it, with the real form.
    alice
        .goto(&server.url(&format!("/console/actions/{id}")))
        .await
        .unwrap();
    alice
        .find(Locator::Css("#rollout"))
        .await
        .unwrap()
        .select_by_value("0")
        .await
        .unwrap();
    mark_page(&alice).await;
    alice
        .find(Locator::Css("#approve"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_new_page(&alice).await;
    assert_eq!(
        wait_for_state(&alice, &server, &id, "applied").await,
        "applied"
    );
    assert_eq!(image(k, &ns), "nginx:1.2");
    alice.close().await.unwrap();
}

/// The headers of the console's pages, as any client gets them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_carry_a_strict_content_security_policy() {
    let Some(k) = guardian_tests::kube::control_plane() else {
        return;
    };
    let server = Server::start(k);
    let mut s = std::net::TcpStream::connect(&server.http).unwrap();
    write!(
        s,
        "GET /console/login HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.http
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'none'; style-src 'self';"),
        "{head}"
    );
    assert!(head.contains("x-frame-options: deny"), "{head}");
    assert!(head.contains("referrer-policy: no-referrer"), "{head}");
    assert!(head.contains("cache-control: no-store"), "{head}");
    assert!(
        head.contains("set-cookie: guardian-console-login=")
            && head.contains("httponly")
            && head.contains("samesite=strict"),
        "{head}"
    );
    assert!(!body.contains("<script"), "{body}");
    assert!(
        !body.contains("http://") && !body.contains("https://"),
        "nothing loaded from elsewhere: {body}"
    );
}

/// The on-call flow through the console: a real Alertmanager fires an
/// alert → the investigation (target, finding, proposal) on the console's
/// investigations page → its proposal → approved in the browser → applied
/// on the server, recorded `human:alice (web)`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alerts_investigation_is_approved_through_the_console() {
    use guardian_tests::alertmanager::Alertmanager;
    let Some(k) = guardian_tests::kube::control_plane() else {
        return;
    };
    if !Alertmanager::available() {
        return;
    }
    let Some(b) = Browser::start_if_available() else {
        return;
    };
    let ns =
        crate::cluster::staging_copy(k, "console-oncall", |o| crate::cluster::of_app(o, "search"));
    let limit = |k: &ControlPlane| -> Value {
        let d: Value =
            serde_json::from_str(&k.run(&["get", "deployment", "search", "-n", &ns, "-o", "json"]))
                .unwrap();
        d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"].clone()
    };
    let before = limit(k);
    let server = Server::start_with(
        k,
        Some("alertmanager:\n  propose: true\n  rate_limit_per_minute: 60\n"),
    );
    // alice's approver token is Alertmanager's here (operator or above).
    let am = Alertmanager::start(&server.url("/alertmanager"), ALICE).unwrap();
    am.fire(&[
        ("alertname", "KubeContainerOOMKilled"),
        ("namespace", ns.as_str()),
        ("deployment", "search"),
    ])
    .unwrap();

    let c = browser_session(&b, 1280, 1400).await;
    sign_in(&c, &server, ALICE).await;
    // The investigation appears, with its proposal.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        c.goto(&server.url("/console/investigations"))
            .await
            .unwrap();
        let body = body_text(&c).await;
        if body.contains("KubeContainerOOMKilled") && !body.contains("No investigation yet") {
            let links = c
                .find_all(Locator::Css("table a[href^='/console/investigations/']"))
                .await
                .unwrap();
            links[0].clone().click().await.unwrap();
            let page = body_text(&c).await;
            if page.contains("act-") {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no investigation with a proposal: {body}\n{}",
            am.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let page = body_text(&c).await;
    assert!(page.contains(&format!("Deployment {ns}/search")), "{page}");
    assert!(page.contains("OOMKilled"), "{page}");
    screenshot(&c, "investigation.png").await;
    let link = c
        .find(Locator::Css("a[href^='/console/actions/act-']"))
        .await
        .unwrap();
    let href = link.attr("href").await.unwrap().unwrap();
    let id = href.trim_start_matches("/console/actions/").to_owned();
    link.click().await.unwrap();
    wait_for_path(&c, &href).await;
    assert_eq!(limit(k), before, "an alert proposes, never applies");
    c.find(Locator::Css("#rollout"))
        .await
        .unwrap()
        .select_by_value("0")
        .await
        .unwrap();
    mark_page(&c).await;
    c.find(Locator::Css("#approve"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_new_page(&c).await;
    let state = wait_for_state(&c, &server, &id, "applied").await;
    assert_eq!(state, "applied", "{}", body_text(&c).await);
    assert_ne!(limit(k), before, "the fix is on the server");
    let facts = text_of(&c, "dl.facts").await;
    assert!(facts.contains("human:alice (web)"), "{facts}");
    screenshot(&c, "investigation-action-applied.png").await;
}
