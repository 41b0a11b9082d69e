//! A log that cannot be read is evidence, not noise: against the real
//! kube-apiserver, a crash-looping Pod on a node whose kubelet cannot be
//! reached (the API server answers 500 to the log read) is reported with
//! evidence that says its log could not be read and why; stderr carries no
//! client log line (kube's `ERROR failed with status 500`) unless
//! `--verbose`.

use guardian_tests::kube::{ControlPlane, control_plane};
use serde_json::{Value, json};

use crate::serve::closed_port;
use crate::support::{guardian, output};

/// A Node whose kubelet endpoint is a loopback port nothing listens on, and
/// a crash-looping Pod `api` bound to it in `ns`.
fn pod_on_a_dead_kubelet(k: &ControlPlane, ns: &str) {
    let node = format!("{ns}-gone");
    k.apply(&format!(
        "apiVersion: v1\nkind: Node\nmetadata: {{name: {node}, labels: {{kubernetes.io/hostname: {node}}}}}\n"
    ));
    k.set_status(
        "",
        "node",
        &node,
        &json!({
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": closed_port()}},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}]
        }),
    );
    k.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: api, namespace: {ns}}}\nspec:\n  nodeName: {node}\n  containers:\n  - {{name: api, image: \"example.com/api:1\"}}\n"
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
fn a_log_read_that_fails_with_500_is_evidence_and_stderr_stays_clean() {
    let Some(k) = control_plane() else { return };
    let ns = k.namespace("nolog");
    pod_on_a_dead_kubelet(k, &ns);
    // The API server itself answers 500 to the log read.
    let err = k.run_err(&["logs", "api", "-n", &ns, "--previous"]);
    assert!(
        err.contains("127.0.0.1") || err.contains("connect"),
        "the API server cannot reach the kubelet: {err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = k.kubeconfig(dir.path());
    let cli = |args: &[&str]| {
        let mut cmd = guardian(&dir.path().join("cache"));
        cmd.arg("--kubeconfig").arg(&kubeconfig).args(args);
        output(&mut cmd)
    };

    let (code, stdout, stderr) = cli(&["diagnose", "-n", &ns, "-o", "json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        !stderr.contains("failed with status") && !stderr.contains("ERROR"),
        "no client log line on stderr: {stderr}"
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["object"]["name"] == "api")
        .unwrap_or_else(|| panic!("the crash-looping pod is reported: {stdout}"));
    assert_eq!(finding["reason"], "CrashLoopBackOff", "{finding}");
    let log_evidence: Vec<&str> = finding["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "log")
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert!(
        log_evidence
            .iter()
            .any(|t| t.starts_with("the log could not be read")
                && t.contains("500")
                && t.contains(&format!("{ns}/api"))),
        "the evidence says the log could not be read, and why: {log_evidence:?}"
    );

    // The table says it too; with --verbose the client's lines may show.
    let (code, stdout, stderr) = cli(&["diagnose", "-n", &ns]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("the log could not be read"), "{stdout}");
    assert!(
        !stderr.contains("failed with status") && !stderr.contains("ERROR"),
        "{stderr}"
    );

    // `ask` reads the same log: the same evidence, the same quiet stderr.
    let question = format!("why is api crashing in {ns}?");
    let (code, stdout, stderr) = cli(&["ask", &question]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        !stderr.contains("failed with status") && !stderr.contains("ERROR"),
        "{stderr}"
    );
    assert!(stdout.contains("api"), "{stdout}");
}
