//! Alertmanager → `guardian serve` → investigations, with a real
//! Alertmanager (Debian's `prometheus-alertmanager`, started by
//! `guardian_tests::alertmanager`) sending its webhook to the daemon's HTTP
//! listener, against the real API server: the investigation has the right
//! target and findings, a resolved alert closes it, an unmapped alert says
//! why, a bad token is refused, and the alert's proposals stay pending.

use std::time::{Duration, Instant};

use guardian_api::proto;
use guardian_tests::alertmanager::{Alertmanager, post_json_as};
use serde_json::{Value, json};

use crate::serve_api::{ALICE, ApiServer, BOB, CAROL, authed};

/// Every investigation, as the gRPC API lists them (viewer).
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

/// Waits until `done` holds of the investigations (a minute at most).
async fn wait_for(
    server: &ApiServer,
    am: Option<&Alertmanager>,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let list = investigations(server).await;
        if done(&list) {
            return list;
        }
        if Instant::now() > deadline {
            panic!(
                "{what}: not seen in time; investigations: {}\nalertmanager log: {}\nguardian stderr: {}",
                serde_json::to_string_pretty(&list).unwrap(),
                am.map(|a| a.log()).unwrap_or_default(),
                server.stderr.lock().unwrap().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn by_alert<'a>(list: &'a [Value], name: &str) -> Option<&'a Value> {
    list.iter().find(|i| i["alert"]["alertname"] == name)
}

/// Diagnosed (or said why not): the record is final for now.
fn settled(i: &Value) -> bool {
    i["timing_ms"]["total"].is_u64() || i["unmapped"].is_string()
}

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        "alertmanager:\n  propose: true\n  rate_limit_per_minute: 60\n  dedup_window_seconds: 600\n",
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_from_a_real_alertmanager_become_investigations() {
    if !Alertmanager::available() {
        return;
    }
    let Some(k) = guardian_tests::kube::control_plane() else {
        return;
    };
    let ns = crate::cluster::staging_copy(k, "inv", |o| {
        crate::cluster::of_app(o, "checkout") || crate::cluster::of_app(o, "search")
    });
    let kdir = tempfile::tempdir().unwrap();
    let kubeconfig = k.kubeconfig(kdir.path());
    let cfg = config(kdir.path());
    let server = ApiServer::start(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    // The operator carol's token is Alertmanager's.
    let am = Alertmanager::start(&format!("http://{}/alertmanager", server.http), CAROL).unwrap();

    let pod = [
        ("alertname", "KubePodCrashLooping"),
        ("namespace", ns.as_str()),
        ("pod", "checkout-kztvhqzmsz-drzl8"),
        ("service", "kube-state-metrics"),
        ("severity", "critical"),
    ];
    am.fire(&pod).unwrap();
    am.fire(&[
        ("alertname", "KubeContainerOOMKilled"),
        ("namespace", ns.as_str()),
        ("deployment", "search"),
    ])
    .unwrap();
    am.fire(&[("alertname", "Watchdog"), ("severity", "none")])
        .unwrap();

    let list = wait_for(&server, Some(&am), "three settled investigations", |l| {
        ["KubePodCrashLooping", "KubeContainerOOMKilled", "Watchdog"]
            .iter()
            .all(|n| by_alert(l, n).is_some_and(settled))
    })
    .await;
    assert_eq!(list.len(), 3, "{list:#?}");

    // The pod's alert is about its owning Deployment, read through the
    // broker, and carries diagnostics' finding about it.
    let crash = by_alert(&list, "KubePodCrashLooping").unwrap();
    assert_eq!(crash["started_by"], "alertmanager:carol", "{crash:#}");
    assert_eq!(crash["state"], "open");
    assert_eq!(
        crash["target"],
        json!({"kind": "Deployment", "namespace": ns, "name": "checkout", "from": "pod (its owner)"}),
        "{crash:#}"
    );
    let findings = crash["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["reason"] == "CrashLoopBackOff" && f["object"]["name"] == "checkout"),
        "{crash:#}"
    );
    // Only what concerns checkout: search's OOM is another alert's.
    assert!(
        findings.iter().all(|f| f["object"]["name"] != "search"),
        "{crash:#}"
    );
    assert!(
        crash["scope_read"]
            .as_str()
            .unwrap()
            .starts_with(&format!("namespace {ns}: ")),
        "{crash:#}"
    );
    assert!(
        crash["alert"]["fingerprint"]
            .as_str()
            .is_some_and(|f| !f.is_empty())
    );
    assert_eq!(crash["alert"]["receiver"], "guardian");

    // The OOM alert's fixes were proposed as the alert's caller: pending,
    // never applied.
    let oom = by_alert(&list, "KubeContainerOOMKilled").unwrap();
    assert_eq!(oom["target"]["kind"], "Deployment");
    assert_eq!(oom["target"]["from"], "deployment");
    assert!(
        oom["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["reason"] == "OOMKilled"),
        "{oom:#}"
    );
    let actions: Vec<String> = serde_json::from_value(oom["actions"].clone()).unwrap();
    assert!(!actions.is_empty(), "{oom:#}");
    let mut client = server.client().await;
    for id in &actions {
        let a = client
            .get_action(authed(proto::GetActionRequest { id: id.clone() }, BOB))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(a.state, "pending", "{a:?}");
        assert!(a.proposer.contains("alertmanager:carol"), "{a:?}");
    }
    let search = k.run(&["get", "deployment", "search", "-n", &ns, "-o", "json"]);
    let search: Value = serde_json::from_str(&search).unwrap();
    let before: Value = serde_json::from_str(
        &std::fs::read_to_string(
            crate::support::example_snapshot().join("staging/deployments.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let original = before["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["metadata"]["name"] == "search")
        .unwrap();
    assert_eq!(
        search["spec"]["template"]["spec"]["containers"][0]["resources"],
        original["spec"]["template"]["spec"]["containers"][0]["resources"],
        "the alert's proposal changed nothing"
    );

    // The unmapped alert says why, and claims nothing about the cluster.
    let watchdog = by_alert(&list, "Watchdog").unwrap();
    assert!(watchdog["target"].is_null());
    assert!(
        watchdog["unmapped"]
            .as_str()
            .unwrap()
            .contains("name no Kubernetes object"),
        "{watchdog:#}"
    );
    assert!(watchdog["findings"].as_array().unwrap().is_empty());
    assert!(
        watchdog["scope_read"]
            .as_str()
            .unwrap()
            .starts_with("nothing was read"),
        "{watchdog:#}"
    );

    // The same alert again (Alertmanager's repeat) is the same investigation.
    am.fire(&pod).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(investigations(&server).await.len(), 3);

    // Resolved: the investigation closes.
    am.resolve(&pod).unwrap();
    let crash_id = crash["id"].as_str().unwrap().to_owned();
    let list = wait_for(
        &server,
        Some(&am),
        "the resolved alert closes its investigation",
        |l| {
            l.iter()
                .any(|i| i["id"] == crash_id.as_str() && i["state"] == "resolved")
        },
    )
    .await;
    let closed = list.iter().find(|i| i["id"] == crash_id.as_str()).unwrap();
    assert!(closed["resolved"].is_string(), "{closed:#}");
    assert_eq!(closed["alert"]["status"], "resolved");

    // The CLI reads the same store.
    let state = server.dir.path().join("state");
    let out = crate::support::run_ok(
        crate::support::guardian(&server.dir.path().join("cache"))
            .args([
                "investigations",
                "list",
                "--state",
                "resolved",
                "--state-dir",
            ])
            .arg(&state),
    );
    assert!(out.starts_with("ID "), "{out}");
    assert!(
        out.contains(&crash_id) && out.contains(&format!("Deployment {ns}/checkout")),
        "{out}"
    );
    assert!(!out.contains("Watchdog"), "{out}");
    let shown = crate::support::run_ok(
        crate::support::guardian(&server.dir.path().join("cache"))
            .args(["investigations", "show", &crash_id, "--state-dir"])
            .arg(&state),
    );
    assert!(
        shown.contains(&format!(
            "Target:      Deployment {ns}/checkout (from label pod (its owner))"
        )),
        "{shown}"
    );
    assert!(shown.contains("CrashLoopBackOff"), "{shown}");
    let wid = watchdog["id"].as_str().unwrap();
    let shown = crate::support::run_ok(
        crate::support::guardian(&server.dir.path().join("cache"))
            .args(["investigations", "show", wid, "--state-dir"])
            .arg(&state),
    );
    assert!(
        shown.contains("Target:      none — the alert's labels"),
        "{shown}"
    );
    assert!(
        shown.contains("No diagnosis: the alert could not be mapped"),
        "{shown}"
    );

    // MCP clients read the same records as resources: the list, and one
    // investigation in full — what the gRPC API returned for it.
    let mut cmd = crate::support::guardian(&server.dir.path().join("cache"));
    cmd.args(["--kubeconfig", kubeconfig.to_str().unwrap()])
        .args(["mcp", "--identity", "tester", "--state-dir"])
        .arg(&state);
    let mut mcp = crate::support::McpStdio::start(cmd);
    let read = |mcp: &mut crate::support::McpStdio, uri: &str| -> Value {
        let answer = mcp.request("resources/read", json!({"uri": uri}));
        let contents = &answer["result"]["contents"][0];
        assert_eq!(contents["uri"], uri, "{answer:#}");
        assert_eq!(contents["mimeType"], "application/json", "{answer:#}");
        serde_json::from_str(contents["text"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {answer:#}"))
    };
    let all = read(&mut mcp, "guardian://investigations");
    let ids: Vec<&str> = all
        .as_array()
        .unwrap_or_else(|| all["investigations"].as_array().expect("a list"))
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert!(
        ids.contains(&crash_id.as_str()) && ids.contains(&wid),
        "{all:#}"
    );
    let one = read(&mut mcp, &format!("guardian://investigations/{crash_id}"));
    assert_eq!(&one, closed, "the MCP resource is the stored record");
    let missing = mcp.request(
        "resources/read",
        json!({"uri": "guardian://investigations/inv-nope"}),
    );
    assert!(
        missing["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("inv-nope")),
        "{missing:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_webhook_refuses_bad_tokens_viewers_and_malformed_payloads() {
    if !Alertmanager::available() {
        return;
    }
    let server = ApiServer::start(&[
        "--snapshot",
        crate::support::example_snapshot().to_str().unwrap(),
    ]);
    let base = format!("http://{}", server.http);
    let payload = json!({
        "version": "4", "status": "firing", "receiver": "guardian", "groupKey": "g",
        "alerts": [{"status": "firing", "labels": {"alertname": "X", "node": "worker-1"}, "fingerprint": "f00d"}]
    })
    .to_string();

    let (status, body) = post_json_as(&base, "/alertmanager", &payload, None).unwrap();
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
    let (status, _) = post_json_as(
        &base,
        "/alertmanager",
        &payload,
        Some("not-a-token-anyone-issued"),
    )
    .unwrap();
    assert_eq!(status, 401);
    let (status, body) = post_json_as(&base, "/alertmanager", &payload, Some(BOB)).unwrap();
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("operator role"));
    let bad = json!({"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"pod": 3}, "fingerprint": "f"}]});
    let (status, body) =
        post_json_as(&base, "/alertmanager", &bad.to_string(), Some(CAROL)).unwrap();
    assert_eq!(status, 400);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["field"], "alerts[0].labels.pod", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("expected a string"),
        "{body}"
    );
    // Nothing was recorded for any of them.
    assert!(investigations(&server).await.is_empty());

    // The refusals are audited like gRPC's, without the token.
    let audit = server.audit();
    let refused: Vec<&Value> = audit
        .iter()
        .filter(|l| l["event"] == "access" && l["channel"] == "alertmanager")
        .collect();
    assert_eq!(refused.len(), 3, "{audit:#?}");
    assert!(
        refused
            .iter()
            .any(|l| l["decision"] == "permission-denied" && l["caller"] == "alertmanager:bob")
    );
    let text = std::fs::read_to_string(server.dir.path().join("audit.jsonl")).unwrap();
    assert!(!text.contains(BOB) && !text.contains("not-a-token-anyone-issued"));

    // A real Alertmanager with a wrong token: refused, nothing recorded.
    let am = Alertmanager::start(
        &format!("{base}/alertmanager"),
        "wrong-token-0123456789abcdef",
    )
    .unwrap();
    am.fire(&[("alertname", "X"), ("node", "worker-1")])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !am.log().contains("401") {
        assert!(
            Instant::now() < deadline,
            "Alertmanager never logged the 401: {}",
            am.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(investigations(&server).await.is_empty());
    // The approver's token works (any role from operator up).
    let (status, body) = post_json_as(&base, "/alertmanager", &payload, Some(ALICE)).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["alerts"][0]["outcome"], "new", "{body}");
    assert_eq!(investigations(&server).await.len(), 1);
}
