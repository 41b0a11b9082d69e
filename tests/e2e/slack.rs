//! Slack (issue 18, point 2) against `guardian serve` on the real API
//! server and a loopback Slack Web API double (`guardian_tests::slack`):
//! a pending action is posted with Approve / Reject buttons; signed clicks
//! from a mapped approver apply it once and the message says who decided;
//! a bad signature, an old timestamp, an unmapped user and a viewer are
//! refused and audited with nothing applied; a stale action fails as
//! stale; Slack's errors and rate limits are retried; the bot token and
//! the signing secret are in no log or audit line.

use std::path::Path;
use std::time::Duration;

use guardian_tests::kube::{ControlPlane, control_plane};
use guardian_tests::slack::{self, Call, Scripted, SlackDouble};
use serde_json::{Value, json};

use crate::cluster::{web_deployment, web_image};
use crate::serve_api::ApiServer;
use crate::support::{guardian, run_ok};

const BOT_TOKEN: &str = "xoxb-1111-2222-guardian-test-bot-token";
const SIGNING_SECRET: &str = "8f742231b10e8888abcd99e2e-signing-secret";
const CHANNEL: &str = "C0GUARDIAN";
const ALICE: &str = "U0ALICE"; // alice: approver in the tokens file
const BOB: &str = "U0BOB"; // bob: viewer
const MALLORY: &str = "U0MALLORY"; // in no mapping
const WAIT: Duration = Duration::from_secs(60);

/// `guardian serve` on the live cluster with `slack:` configured against
/// `double`.
fn serve(k: &ControlPlane, double: &SlackDouble, dir: &Path) -> ApiServer {
    let kubeconfig = k.kubeconfig(dir);
    std::fs::write(dir.join("bot-token"), format!("{BOT_TOKEN}\n")).unwrap();
    std::fs::write(dir.join("signing-secret"), SIGNING_SECRET).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "slack:\n  channel: {CHANNEL}\n  bot_token_file: {}\n  signing_secret_file: {}\n  api_url: {}\n  users: {{{ALICE}: alice, {BOB}: bob}}\n  poll_interval_seconds: 0.2\n  rollout_timeout_seconds: 0\n",
            dir.join("bot-token").display(),
            dir.join("signing-secret").display(),
            double.url
        ),
    )
    .unwrap();
    ApiServer::start(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ])
}

/// Proposes `web:from → web:to` on `ns/web` with the real CLI, in the
/// server's store; the action id.
fn propose(server: &ApiServer, k: &ControlPlane, ns: &str, from: &str, to: &str) -> String {
    let kdir = server.dir.path().join("cli");
    std::fs::create_dir_all(&kdir).unwrap();
    let kubeconfig = k.kubeconfig(&kdir);
    let input = json!({
        "target": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": ns, "name": "web"},
        "json_patch": [
            {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "web"},
            {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": from},
            {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": to},
        ],
        "rationale": format!("web runs {from}, whose image cannot be pulled: roll it to {to}"),
    });
    let out = run_ok(
        guardian(&server.dir.path().join("cache"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--state-dir")
            .arg(server.dir.path().join("state"))
            .arg("--audit")
            .arg(server.dir.path().join("cli-audit.jsonl"))
            .args(["skills", "call", "patch.propose", "--input"])
            .arg(input.to_string()),
    );
    serde_json::from_str::<Value>(&out).unwrap()["action_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The successful post of action `id`.
async fn posted(double: &SlackDouble, id: &str) -> Call {
    let found = double
        .wait_for(WAIT, |calls| {
            calls.iter().any(|c| {
                c.method == "chat.postMessage"
                    && c.answer["ok"] == true
                    && c.button("guardian_approve").as_deref() == Some(id)
            })
        })
        .await;
    assert!(found, "action {id} was not posted: {:#?}", double.calls());
    double
        .calls_of("chat.postMessage")
        .into_iter()
        .find(|c| c.answer["ok"] == true && c.button("guardian_approve").as_deref() == Some(id))
        .unwrap()
}

/// Waits for a `chat.update` of `ts` whose text contains `needle`
/// (case-insensitive); its text.
async fn updated(double: &SlackDouble, ts: &str, needle: &str) -> String {
    let needle = needle.to_lowercase();
    let found = double
        .wait_for(WAIT, |calls| {
            calls.iter().any(|c| {
                c.method == "chat.update"
                    && c.args["ts"] == ts
                    && c.text().to_lowercase().contains(&needle)
            })
        })
        .await;
    assert!(
        found,
        "no update of {ts} saying {needle:?}: {:#?}",
        double.calls_of("chat.update")
    );
    double
        .calls_of("chat.update")
        .into_iter()
        .rfind(|c| c.args["ts"] == ts)
        .unwrap()
        .text()
}

/// Waits for an ephemeral message to `user` containing `needle`.
async fn told(double: &SlackDouble, user: &str, needle: &str) -> String {
    let found = double
        .wait_for(WAIT, |calls| {
            calls.iter().any(|c| {
                c.method == "chat.postEphemeral"
                    && c.args["user"] == user
                    && c.text().contains(needle)
            })
        })
        .await;
    assert!(
        found,
        "{user} was not told {needle:?}: {:#?}",
        double.calls_of("chat.postEphemeral")
    );
    double
        .calls_of("chat.postEphemeral")
        .into_iter()
        .rfind(|c| c.args["user"] == user && c.text().contains(needle))
        .unwrap()
        .text()
}

fn state_of(server: &ApiServer, id: &str) -> String {
    let conn =
        rusqlite::Connection::open(server.dir.path().join("state").join("actions.db")).unwrap();
    conn.query_row("SELECT state FROM actions WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .unwrap()
}

/// The real (not dry-run, not preview) patches the audit log has.
fn real_writes(server: &ApiServer) -> usize {
    server
        .audit()
        .iter()
        .filter(|l| l["verb"] == "patch" && l["dry_run"] == false && l["decision"] == "allow")
        .filter(|l| {
            l["reasons"]
                .as_array()
                .is_none_or(|r| r.iter().all(|r| r != "preview of an apply"))
        })
        .count()
}

fn interactions_url(server: &ApiServer) -> String {
    format!("http://{}/slack/interactions", server.http_addr())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_is_posted_and_one_signed_click_of_a_mapped_approver_applies_it() {
    let Some(k) = control_plane() else {
        return;
    };
    let ns = k.namespace("slack-approve");
    web_deployment(k, &ns);
    let double = SlackDouble::start(BOT_TOKEN, &[CHANNEL]).await;
    // Slack is unwell at first: rate limited, then a configuration error.
    double.script("chat.postMessage", Scripted::RateLimited(1));
    double.script(
        "chat.postMessage",
        Scripted::Error("channel_not_found".into()),
    );
    let dir = tempfile::tempdir().unwrap();
    let server = serve(k, &double, dir.path());
    let url = interactions_url(&server);

    let id = propose(&server, k, &ns, "nginx:1.0", "nginx:1.1");
    let post = posted(&double, &id).await;
    // The real request shape: the token as a bearer header, JSON.
    assert_eq!(
        post.authorization.as_deref(),
        Some(format!("Bearer {BOT_TOKEN}").as_str())
    );
    assert!(
        post.content_type.starts_with("application/json"),
        "{post:?}"
    );
    assert_eq!(post.args["channel"], CHANNEL);
    let blocks = post.args["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    let text = post.text();
    assert!(
        text.contains(&format!("deployments.apps {ns}/web")),
        "{text}"
    );
    assert!(text.contains("cannot be pulled"), "the rationale: {text}");
    assert!(
        text.contains("```") && text.contains("nginx:1.1"),
        "the diff: {text}"
    );
    assert!(
        text.contains("Dry run") && text.contains("Policy"),
        "{text}"
    );
    assert_eq!(post.button("guardian_reject").as_deref(), Some(id.as_str()));
    let ts = post.answer["ts"].as_str().unwrap().to_owned();
    // The errors came first, each retried; one message in the end.
    let tries = double.calls_of("chat.postMessage");
    assert_eq!(tries[0].status, 429, "{tries:#?}");
    assert_eq!(tries[1].answer["error"], "channel_not_found", "{tries:#?}");
    assert_eq!(
        tries.iter().filter(|c| c.answer["ok"] == true).count(),
        1,
        "{tries:#?}"
    );
    let log = server.stderr.lock().unwrap().join("\n");
    assert!(log.contains("rate limited"), "{log}");
    assert!(
        log.contains("channel_not_found") && log.contains("slack.channel"),
        "a clear line for the error: {log}"
    );

    // Refused, nothing applied: a bad signature, an old (replayed)
    // timestamp, an unmapped user, a viewer.
    let click = |user: &str, trigger: u64| {
        slack::block_actions(user, "guardian_approve", &id, CHANNEL, &ts, trigger)
    };
    let (status, body) = slack::send_interaction(
        &url,
        "not-the-signing-secret",
        slack::now(),
        &click(ALICE, 1),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("does not match"), "{body}");
    let (status, body) =
        slack::send_interaction(&url, SIGNING_SECRET, slack::now() - 600, &click(ALICE, 2)).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("replay"), "{body}");
    let (status, _) =
        slack::send_interaction(&url, SIGNING_SECRET, slack::now(), &click(MALLORY, 3)).await;
    assert_eq!(status, 200);
    told(&double, MALLORY, "not mapped").await;
    let (status, _) =
        slack::send_interaction(&url, SIGNING_SECRET, slack::now(), &click(BOB, 4)).await;
    assert_eq!(status, 200);
    let to_bob = told(&double, BOB, "approver role").await;
    assert!(to_bob.contains("viewer"), "{to_bob}");
    // The same signed request again: a replay.
    let signed_at = slack::now();
    let (status, _) =
        slack::send_interaction(&url, SIGNING_SECRET, signed_at, &click(BOB, 5)).await;
    assert_eq!(status, 200);
    let (status, body) =
        slack::send_interaction(&url, SIGNING_SECRET, signed_at, &click(BOB, 5)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(web_image(k, &ns), "nginx:1.0");
    assert_eq!(state_of(&server, &id), "pending");
    assert_eq!(real_writes(&server), 0);
    let access: Vec<Value> = server
        .audit()
        .into_iter()
        .filter(|l| l["event"] == "access" && l["channel"] == "slack")
        .collect();
    assert!(
        access.iter().any(|l| l["decision"] == "unauthenticated"),
        "{access:#?}"
    );
    assert!(
        access
            .iter()
            .any(|l| l["caller"] == format!("slack:{MALLORY}")
                && l["decision"] == "permission-denied"),
        "{access:#?}"
    );
    assert!(
        access
            .iter()
            .any(|l| l["caller"] == "slack:bob" && l["decision"] == "permission-denied"),
        "{access:#?}"
    );

    // A double click: two signed clicks at once; one apply.
    let (first, second) = (click(ALICE, 6), click(ALICE, 7));
    let (a, b) = tokio::join!(
        slack::send_interaction(&url, SIGNING_SECRET, slack::now(), &first),
        slack::send_interaction(&url, SIGNING_SECRET, slack::now(), &second),
    );
    assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
    let done = updated(&double, &ts, "applied by alice").await;
    assert!(done.contains("(slack)"), "{done}");
    assert_eq!(web_image(k, &ns), "nginx:1.1");
    assert_eq!(state_of(&server, &id), "applied");
    told(&double, ALICE, "already").await;
    // A third click, after the apply: told, nothing written again.
    slack::send_interaction(&url, SIGNING_SECRET, slack::now(), &click(ALICE, 8)).await;
    double
        .wait_for(WAIT, |calls| {
            calls
                .iter()
                .filter(|c| c.method == "chat.postEphemeral" && c.args["user"] == ALICE)
                .count()
                >= 2
        })
        .await;
    assert_eq!(real_writes(&server), 1, "one apply for three clicks");
    let approval = server
        .audit()
        .into_iter()
        .find(|l| l["event"] == "action" && l["action"] == id.as_str() && l["to"] == "approved");
    let approval = approval.expect("the approval is audited");
    assert_eq!(approval["who"], "human:alice (slack)", "{approval}");
    // The message now has no buttons.
    let message = double.message(CHANNEL, &ts).unwrap();
    assert!(
        !message["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "actions"),
        "{message}"
    );
    // Posted once, however many passes the notifier made.
    assert_eq!(
        double
            .calls_of("chat.postMessage")
            .iter()
            .filter(|c| c.answer["ok"] == true)
            .count(),
        1
    );
    no_secrets(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_and_a_stale_action_in_slack_say_so_and_write_nothing() {
    let Some(k) = control_plane() else {
        return;
    };
    let ns = k.namespace("slack-stale");
    web_deployment(k, &ns);
    let double = SlackDouble::start(BOT_TOKEN, &[CHANNEL]).await;
    let dir = tempfile::tempdir().unwrap();
    let server = serve(k, &double, dir.path());
    let url = interactions_url(&server);

    // Rejected in Slack.
    let rejected = propose(&server, k, &ns, "nginx:1.0", "nginx:1.1");
    let post = posted(&double, &rejected).await;
    let ts = post.answer["ts"].as_str().unwrap().to_owned();
    let payload = slack::block_actions(ALICE, "guardian_reject", &rejected, CHANNEL, &ts, 1);
    let (status, _) = slack::send_interaction(&url, SIGNING_SECRET, slack::now(), &payload).await;
    assert_eq!(status, 200);
    let text = updated(&double, &ts, "rejected by alice").await;
    assert!(text.contains("rejected in Slack by alice"), "{text}");
    assert_eq!(state_of(&server, &rejected), "rejected");

    // Stale: the object changes before the click.
    let stale = propose(&server, k, &ns, "nginx:1.0", "nginx:1.2");
    let post = posted(&double, &stale).await;
    let ts = post.answer["ts"].as_str().unwrap().to_owned();
    k.run(&["set", "image", "-n", &ns, "deployment/web", "web=nginx:1.3"]);
    let payload = slack::block_actions(ALICE, "guardian_approve", &stale, CHANNEL, &ts, 2);
    let (status, _) = slack::send_interaction(&url, SIGNING_SECRET, slack::now(), &payload).await;
    assert_eq!(status, 200);
    let text = updated(&double, &ts, "stale").await;
    assert!(text.contains("nothing was written"), "{text}");
    assert!(text.contains("alice"), "{text}");
    told(&double, ALICE, "stale").await;
    assert_eq!(state_of(&server, &stale), "failed");
    assert_eq!(web_image(k, &ns), "nginx:1.3");
    assert_eq!(real_writes(&server), 0);
    no_secrets(&server);
}

/// The bot token and the signing secret are in no log or audit line.
fn no_secrets(server: &ApiServer) {
    let log = server.stderr.lock().unwrap().join("\n");
    let audit = std::fs::read_to_string(server.dir.path().join("audit.jsonl")).unwrap_or_default();
    let cli =
        std::fs::read_to_string(server.dir.path().join("cli-audit.jsonl")).unwrap_or_default();
    for secret in [BOT_TOKEN, SIGNING_SECRET, "guardian-test-bot-token"] {
        assert!(!log.contains(secret), "a secret in the log: {log}");
        assert!(!audit.contains(secret), "a secret in the audit log");
        assert!(!cli.contains(secret), "a secret in the CLI's audit log");
    }
}
