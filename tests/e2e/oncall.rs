//! The on-call flow end to end, with real parts: a real Alertmanager fires
//! an alert at `guardian serve` on the real API server → an investigation
//! (target, findings, a proposal) → its root message in Slack (the
//! loopback Slack Web API double) with the proposal threaded under it →
//! a signed Approve click by a mapped approver → the change applied on the
//! server → the message updated with who decided.

use std::time::{Duration, Instant};

use guardian_api::proto;
use guardian_tests::alertmanager::Alertmanager;
use guardian_tests::kube::control_plane;
use guardian_tests::slack::{self, SlackDouble};
use serde_json::Value;

use crate::serve_api::{ApiServer, BOB, CAROL, authed};

const BOT_TOKEN: &str = "xoxb-3333-4444-oncall-test-bot-token";
const SIGNING_SECRET: &str = "0c1a1-oncall-signing-secret-77aa";
const CHANNEL: &str = "C0ONCALL";
const ALICE: &str = "U0ALICE";
const WAIT: Duration = Duration::from_secs(120);

async fn investigations(server: &ApiServer) -> Vec<Value> {
    let mut client = server.client().await;
    client
        .list_investigations(authed(proto::ListInvestigationsRequest::default(), BOB))
        .await
        .expect("a viewer lists investigations")
        .into_inner()
        .investigations
        .iter()
        .map(|i| serde_json::from_str(&i.investigation_json).unwrap())
        .collect()
}

fn memory_limit(k: &guardian_tests::kube::ControlPlane, ns: &str) -> Value {
    let d: Value =
        serde_json::from_str(&k.run(&["get", "deployment", "search", "-n", ns, "-o", "json"]))
            .unwrap();
    d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_becomes_an_investigation_in_slack_and_one_click_applies_its_fix() {
    if !Alertmanager::available() {
        return;
    }
    let Some(k) = control_plane() else { return };
    let ns = crate::cluster::staging_copy(k, "oncall", |o| crate::cluster::of_app(o, "search"));
    let before = memory_limit(k, &ns);
    let double = SlackDouble::start(BOT_TOKEN, &[CHANNEL]).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = k.kubeconfig(dir.path());
    std::fs::write(dir.path().join("bot-token"), BOT_TOKEN).unwrap();
    std::fs::write(dir.path().join("signing-secret"), SIGNING_SECRET).unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "alertmanager:\n  propose: true\n  rate_limit_per_minute: 60\n  dedup_window_seconds: 600\n\
             slack:\n  channel: {CHANNEL}\n  bot_token_file: {}\n  signing_secret_file: {}\n  api_url: {}\n  users: {{{ALICE}: alice}}\n  poll_interval_seconds: 0.2\n  rollout_timeout_seconds: 0\n",
            dir.path().join("bot-token").display(),
            dir.path().join("signing-secret").display(),
            double.url
        ),
    )
    .unwrap();
    let server = ApiServer::start(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let am = Alertmanager::start(&format!("http://{}/alertmanager", server.http), CAROL).unwrap();
    am.fire(&[
        ("alertname", "KubeContainerOOMKilled"),
        ("namespace", ns.as_str()),
        ("deployment", "search"),
    ])
    .unwrap();

    // The investigation, with its proposal.
    let deadline = Instant::now() + WAIT;
    let inv = loop {
        let list = investigations(&server).await;
        if let Some(i) = list
            .iter()
            .find(|i| i["actions"].as_array().is_some_and(|a| !a.is_empty()))
        {
            break i.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no investigation with a proposal: {list:#?}\n{}\n{}",
            am.log(),
            server.stderr.lock().unwrap().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let inv_id = inv["id"].as_str().unwrap().to_owned();
    let action = inv["actions"][0].as_str().unwrap().to_owned();
    assert_eq!(inv["target"]["name"], "search", "{inv:#}");

    // Slack: the investigation's root message, the proposal in its thread.
    let found = double
        .wait_for(WAIT, |calls| {
            calls.iter().any(|c| {
                c.method == "chat.postMessage"
                    && c.answer["ok"] == true
                    && c.button("guardian_approve").as_deref() == Some(action.as_str())
            })
        })
        .await;
    assert!(found, "the proposal was not posted: {:#?}", double.calls());
    let posts = double.calls_of("chat.postMessage");
    let root = posts
        .iter()
        .find(|c| c.answer["ok"] == true && c.text().contains(&format!("Investigation {inv_id}")))
        .unwrap_or_else(|| panic!("no root message for {inv_id}: {posts:#?}"));
    let root_text = root.text();
    assert!(root_text.contains("KubeContainerOOMKilled"), "{root_text}");
    assert!(
        root_text.contains(&format!("Deployment {ns}/search")),
        "{root_text}"
    );
    assert!(root_text.contains("Root cause"), "{root_text}");
    assert!(root_text.contains("Evidence"), "{root_text}");
    assert!(root_text.contains("OOMKilled"), "{root_text}");
    let root_ts = root.answer["ts"].as_str().unwrap().to_owned();
    let proposal = posts
        .iter()
        .find(|c| {
            c.answer["ok"] == true
                && c.button("guardian_approve").as_deref() == Some(action.as_str())
        })
        .unwrap();
    assert_eq!(
        proposal.args["thread_ts"].as_str(),
        Some(root_ts.as_str()),
        "the proposal is a reply in the investigation's thread: {proposal:#?}"
    );
    let ts = proposal.answer["ts"].as_str().unwrap().to_owned();
    // An alert proposes, never applies.
    assert_eq!(memory_limit(k, &ns), before);

    // One signed click by alice (an approver): applied, the message says so.
    let url = format!("http://{}/slack/interactions", server.http);
    let click = slack::block_actions(ALICE, "guardian_approve", &action, CHANNEL, &ts, 1);
    let (status, body) = slack::send_interaction(&url, SIGNING_SECRET, slack::now(), &click).await;
    assert_eq!(status, 200, "{body}");
    let found = double
        .wait_for(WAIT, |calls| {
            calls.iter().any(|c| {
                c.method == "chat.update"
                    && c.args["ts"] == ts.as_str()
                    && c.text().to_lowercase().contains("applied by alice")
            })
        })
        .await;
    assert!(
        found,
        "no update saying applied by alice: {:#?}\n{}",
        double.calls_of("chat.update"),
        server.stderr.lock().unwrap().join("\n")
    );
    assert_ne!(memory_limit(k, &ns), before, "the fix is on the server");
    let audit = server.audit();
    assert!(
        audit.iter().any(|l| l["event"] == "action"
            && l["action"] == action.as_str()
            && l["who"] == "human:alice (slack)"),
        "the approval is audited with the channel and the identity"
    );
    for l in &audit {
        let line = l.to_string();
        assert!(!line.contains(BOT_TOKEN) && !line.contains(SIGNING_SECRET));
    }
}
