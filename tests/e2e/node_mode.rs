//! The node mode (`--node NAME`, as `guardian serve --node` runs in the
//! DaemonSet) on the real API server: three Nodes, each with its own
//! kubelet stand-in serving its own `/stats/summary` on loopback, pods
//! spread over them, some crash-looping. A node daemon diagnoses, reads and
//! measures its own node's pods only, says so, and refuses the others'
//! by name.

use std::path::{Path, PathBuf};
use std::process::Command;

use guardian_tests::kube::{ControlPlane, StatsKubelet, control_plane};
use serde_json::{Value, json};

use crate::support::{guardian, output};

/// The test cluster: three nodes `{ns}-n1..n3` (loopback, each served by
/// its own Summary API stand-in) and pods in `ns`:
/// - n1: `web-a` (CrashLoopBackOff, labels app=web), `ok-a` (running,
///   app=ok);
/// - n2: `web-b` (CrashLoopBackOff), `ok-b`;
/// - n3: `web-c` (CrashLoopBackOff).
///
/// The pods run as non-root without a service account token, so that no
/// namespace-wide finding (which a
/// node daemon makes from its node's pods only) is in the answers: the
/// findings are the pods' own, and the merge of the node daemons' answers
/// is well defined (docs/node-mode.md).
///
/// Guardian runs as the ServiceAccount `guardian` of `ns` (its token in
/// the kubeconfig's context `guardian`, bound to cluster-admin here: the
/// deploy tests hold the real RBAC). The stand-ins of n1 and n2 accept
/// that token; n3's accepts another one only.
struct NodeCluster {
    ns: String,
    kubeconfig: PathBuf,
    audit: PathBuf,
    cache: PathBuf,
    kubelets: Vec<StatsKubelet>,
    _dir: tempfile::TempDir,
}

impl NodeCluster {
    fn node(&self, n: usize) -> String {
        format!("{}-n{n}", self.ns)
    }

    /// `guardian` as the ServiceAccount, with `--node` when `node` is given.
    fn cli(&self, node: Option<usize>) -> Command {
        let mut cmd = guardian(&self.cache);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--context", "guardian"])
            .arg("--audit")
            .arg(&self.audit)
            .arg("--state-dir")
            .arg(self._dir.path().join("state"));
        if let Some(n) = node {
            cmd.args(["--node", &self.node(n)]);
        }
        cmd
    }

    fn audit_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// The summary a node's kubelet answers: its pods' containers, and one pod
/// of another namespace that no pod list of the test names (left out).
fn summary(node: &str, ns: &str, pods: &[(&str, u64, u64)]) -> Value {
    let mut items: Vec<Value> = pods
        .iter()
        .map(|(pod, nano, ws)| {
            json!({
                "podRef": {"name": pod, "namespace": ns, "uid": format!("uid-{pod}")},
                "startTime": "2026-12-07T10:00:00Z",
                "containers": [{
                    "name": "app",
                    "startTime": "2026-12-07T10:00:00Z",
                    "cpu": {"time": "2026-12-07T11:00:00Z", "usageNanoCores": nano, "usageCoreNanoSeconds": 123456789},
                    "memory": {"time": "2026-12-07T11:00:00Z", "workingSetBytes": ws, "usageBytes": ws + 4096, "rssBytes": ws / 2}
                }],
                "cpu": {"time": "2026-12-07T11:00:00Z", "usageNanoCores": nano},
                "memory": {"time": "2026-12-07T11:00:00Z", "workingSetBytes": ws}
            })
        })
        .collect();
    items.push(json!({
        "podRef": {"name": "kube-proxy-x", "namespace": "kube-system", "uid": "uid-kp"},
        "containers": [{"name": "kube-proxy", "cpu": {"usageNanoCores": 1000000}, "memory": {"workingSetBytes": 1048576}}]
    }));
    json!({
        "node": {"nodeName": node, "cpu": {"usageNanoCores": 250000000}, "memory": {"workingSetBytes": 1073741824}},
        "pods": items
    })
}

/// n1's figures: (pod, usageNanoCores, workingSetBytes).
const N1_USAGE: &[(&str, u64, u64)] = &[
    ("web-a", 12_345_678, 52_428_800),
    ("ok-a", 1_000_001, 7_340_032),
];
const N2_USAGE: &[(&str, u64, u64)] = &[
    ("web-b", 500_000_000, 268_435_456),
    ("ok-b", 2_000_000, 1_048_576),
];
const N3_USAGE: &[(&str, u64, u64)] = &[("web-c", 3_000_000, 2_097_152)];

fn crash_looping(pod: &str) -> Value {
    json!({
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "2026-12-07T10:00:00Z"}],
        "containerStatuses": [{
            "name": "app", "ready": false, "restartCount": 7, "started": false,
            "image": "registry.example/web:1.0", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff",
                "message": format!("back-off 5m0s restarting failed container=app pod={pod}")}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                "startedAt": "2026-12-07T10:50:00Z", "finishedAt": "2026-12-07T10:50:02Z"}}
        }]
    })
}

fn running() -> Value {
    json!({
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-07T10:00:00Z"}],
        "containerStatuses": [{
            "name": "app", "ready": true, "restartCount": 0, "started": true,
            "image": "registry.example/web:1.0", "imageID": "",
            "state": {"running": {"startedAt": "2026-12-07T10:00:00Z"}}
        }]
    })
}

fn setup(k: &ControlPlane, prefix: &str) -> NodeCluster {
    let ns = k.namespace(prefix);
    let dir = tempfile::tempdir().unwrap();
    let token = k.service_account_token(&ns, "guardian");
    k.apply(&format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: {ns}-guardian}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}}\n\
         subjects:\n- {{kind: ServiceAccount, name: guardian, namespace: {ns}}}\n"
    ));
    let kubeconfig = k.kubeconfig_with(dir.path(), &[("guardian", &token)]);
    let mut kubelets = Vec::new();
    for (n, usage, accepted) in [
        (1, N1_USAGE, token.as_str()),
        (2, N2_USAGE, token.as_str()),
        (3, N3_USAGE, "a-token-that-is-not-guardians"),
    ] {
        let node = format!("{ns}-n{n}");
        let kubelet = k.stats_kubelet(&summary(&node, &ns, usage), accepted);
        k.apply(&format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: {node}\n  labels: {{kubernetes.io/hostname: {node}}}\n"
        ));
        k.set_status(
            "default",
            "node",
            &node,
            &json!({
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": node},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                    "lastHeartbeatTime": "2026-12-07T11:00:00Z", "lastTransitionTime": "2026-12-07T09:00:00Z"}],
                "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}
            }),
        );
        kubelets.push(kubelet);
    }
    let mut pods = String::new();
    for (pod, n, app) in [
        ("web-a", 1, "web"),
        ("ok-a", 1, "ok"),
        ("web-b", 2, "web"),
        ("ok-b", 2, "ok"),
        ("web-c", 3, "web"),
    ] {
        pods.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}, namespace: {ns}, labels: {{app: {app}}}}}\n\
             spec:\n  nodeName: {ns}-n{n}\n  automountServiceAccountToken: false\n  securityContext: {{runAsNonRoot: true, runAsUser: 10001}}\n  containers:\n  - {{name: app, image: registry.example/web:1.0, \
             resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}}}\n"
        ));
    }
    k.apply(&pods);
    for pod in ["web-a", "web-b", "web-c"] {
        k.set_status(&ns, "pod", pod, &crash_looping(pod));
    }
    for pod in ["ok-a", "ok-b"] {
        k.set_status(&ns, "pod", pod, &running());
    }
    NodeCluster {
        audit: dir.path().join("audit.jsonl"),
        cache: dir.path().join("cache"),
        ns,
        kubeconfig,
        kubelets,
        _dir: dir,
    }
}

/// The pods the findings of a diagnosis are about (a finding's `pods`,
/// else its object when that is a Pod), as `namespace/name`.
fn finding_pods(report: &Value) -> Vec<String> {
    let mut pods = Vec::new();
    for f in report["findings"].as_array().unwrap() {
        let ns = f["object"]["namespace"].as_str().unwrap_or_default();
        match f["pods"].as_array().filter(|p| !p.is_empty()) {
            Some(list) => {
                for p in list {
                    pods.push(format!("{ns}/{}", p.as_str().unwrap()));
                }
            }
            None if f["object"]["kind"] == "Pod" => {
                pods.push(format!("{ns}/{}", f["object"]["name"].as_str().unwrap()));
            }
            None => {}
        }
    }
    pods.sort();
    pods.dedup();
    pods
}

fn run_json(cmd: &mut Command) -> Value {
    let (code, stdout, stderr) = output(cmd);
    assert!(
        code == 0 || code == 3,
        "exit {code}\nstdout: {stdout}\nstderr: {stderr}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}

#[test]
fn a_node_daemon_diagnoses_its_own_nodes_pods_only_and_says_so() {
    let Some(k) = control_plane() else { return };
    let c = setup(k, "node-diag");
    let ns = &c.ns;

    // The whole cluster, read by one process: the three crash loops.
    let whole = run_json(
        c.cli(None)
            .args(["diagnose", "-n", ns, "-o", "json", "--no-dry-run"]),
    );
    assert_eq!(
        finding_pods(&whole),
        [
            format!("{ns}/web-a"),
            format!("{ns}/web-b"),
            format!("{ns}/web-c")
        ],
        "{whole:#}"
    );

    // The daemon of n1: web-a only, and the scope says whose pods it read.
    let one = run_json(
        c.cli(Some(1))
            .args(["diagnose", "-n", ns, "-o", "json", "--no-dry-run"]),
    );
    assert_eq!(finding_pods(&one), [format!("{ns}/web-a")], "{one:#}");
    let summary = &one["summary"];
    let node = c.node(1);
    assert_eq!(summary["node"], node.as_str(), "{summary:#}");
    assert!(
        summary["scope"]
            .as_str()
            .unwrap()
            .contains(&format!("the pods of node {node} only")),
        "{summary:#}"
    );
    assert!(
        summary["notes"]
            .to_string()
            .contains("pods on other nodes were not read"),
        "{summary:#}"
    );

    // Every namespace: still only n1's pods among the findings.
    let all = run_json(
        c.cli(Some(1))
            .args(["diagnose", "-A", "-o", "json", "--no-dry-run"]),
    );
    assert_eq!(
        finding_pods(&all),
        [format!("{ns}/web-a")],
        "{:#}",
        all["summary"]
    );

    // The audit log shows the scope: pod lists sent with the field
    // selector, every line of the daemon naming its node.
    let lines = c.audit_lines();
    let scoped: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["verb"] == "list" && l["resource"] == "/v1/pods" && l["node"] == node.as_str()
        })
        .collect();
    assert!(!scoped.is_empty(), "no scoped pod list in the audit log");
    for line in &scoped {
        assert!(
            line["reasons"]
                .to_string()
                .contains(&format!("fieldSelector spec.nodeName={node}")),
            "{line}"
        );
    }
    // The table rendering: no all-clear about what was not read.
    let (_, table, _) =
        output(
            c.cli(Some(2))
                .args(["diagnose", "-n", ns, "--no-dry-run", "--filter", "Service"]),
        );
    assert!(
        table.contains(&format!("the pods of node {} only", c.node(2))),
        "{table}"
    );

    // A node that does not exist (a mistyped --node): an error, never
    // "no problems" about pods that were never there to read.
    let ghost = format!("{ns}-ghost");
    for args in [
        &["diagnose", "-A", "--no-dry-run"][..],
        &["usage", "-A"][..],
    ] {
        let (code, out, err) = output(c.cli(None).args(["--node", &ghost]).args(args));
        assert_ne!(code, 0, "{args:?}: {out}");
        assert!(!out.contains("No problems"), "{out}");
        assert!(
            err.contains(&format!("node {ghost} does not exist")),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_node_daemon_refuses_another_nodes_pod_and_its_logs_by_name() {
    let Some(k) = control_plane() else { return };
    let c = setup(k, "node-refuse");
    let ns = &c.ns;
    let call = |tool: &str, input: Value| {
        output(
            c.cli(Some(1))
                .args(["skills", "call", tool, "--input"])
                .arg(input.to_string()),
        )
    };
    let (code, out, err) = call(
        "cluster.get",
        json!({"resource": "pods", "namespace": ns, "name": "web-a"}),
    );
    assert_eq!(code, 0, "its own node's pod is read: {out}{err}");
    let expected = format!(
        "pod {ns}/web-b runs on node {}; this daemon reads node {}",
        c.node(2),
        c.node(1)
    );
    let (code, out, err) = call(
        "cluster.get",
        json!({"resource": "pods", "namespace": ns, "name": "web-b"}),
    );
    assert_ne!(code, 0, "{out}");
    assert!(format!("{out}{err}").contains(&expected), "{out}{err}");
    let (code, out, err) = call("cluster.logs", json!({"namespace": ns, "pod": "web-b"}));
    assert_ne!(code, 0, "{out}");
    assert!(format!("{out}{err}").contains(&expected), "{out}{err}");
    // A list of nodes is the daemon's node.
    let (code, out, err) = call("cluster.list", json!({"resource": "nodes"}));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&c.node(1)) && !out.contains(&c.node(2)),
        "{out}"
    );
    // Audited: the refused reads, as out-of-scope, naming the node.
    let lines = c.audit_lines();
    assert!(
        lines.iter().any(|l| l["verb"] == "get"
            && l["name"] == "web-b"
            && l["error"] == "out-of-scope"
            && l["node"] == c.node(1).as_str()),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["verb"] == "logs" && l["name"] == "web-b" && l["error"] == "out-of-scope"),
        "{lines:#?}"
    );
}

fn usage_of(report: &Value) -> Vec<(String, String, u64, u64)> {
    report["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["pod"].as_str().unwrap().to_owned(),
                c["container"].as_str().unwrap().to_owned(),
                c["cpu_millicores"].as_u64().unwrap(),
                c["memory_bytes"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn direct<'a>(cmd: &'a mut Command, ca: &Path) -> &'a mut Command {
    cmd.args(["--kubelet", "direct", "--kubelet-ca-file"])
        .arg(ca)
}

/// The usage operation on every front end: a node daemon's gRPC `Usage`
/// (`serve --node n1 --kubelet direct`) and MCP's `guardian__usage` answer
/// what the CLI does, from the node's kubelet.
#[test]
fn node_usage_is_the_same_over_grpc_and_mcp() {
    let Some(k) = control_plane() else { return };
    let c = setup(k, "node-usage-api");
    let ns = &c.ns;
    let ca = c.kubelets[0].ca_file.clone();
    let cli = run_json(direct(&mut c.cli(Some(1)), &ca).args(["usage", "-n", ns, "-o", "json"]));
    assert_eq!(usage_of(&cli).len(), N1_USAGE.len(), "{cli:#}");

    let kubeconfig = c.kubeconfig.to_str().unwrap().to_owned();
    let node = c.node(1);
    let daemon = crate::serve_api::ApiServer::start(&[
        "--kubeconfig",
        &kubeconfig,
        "--context",
        "guardian",
        "--node",
        &node,
        "--kubelet",
        "direct",
        "--kubelet-ca-file",
        ca.to_str().unwrap(),
    ]);
    let answer = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut client = daemon.client().await;
        client
            .usage(crate::serve_api::authed(
                guardian_api::proto::UsageRequest {
                    namespace: Some(ns.clone()),
                    label_selector: None,
                },
                crate::serve_api::BOB,
            ))
            .await
            .expect("a viewer reads the usage")
            .into_inner()
    });
    let over_grpc: Value = serde_json::from_str(&answer.report_json).unwrap();
    assert_eq!(usage_of(&over_grpc), usage_of(&cli), "{over_grpc:#}");
    assert_eq!(over_grpc["node"], node.as_str());
    drop(daemon);

    let mut cmd = c.cli(Some(1));
    direct(&mut cmd, &ca);
    cmd.args(["mcp", "--identity", "tester"]);
    let mut mcp = crate::support::McpStdio::start(cmd);
    let listed = mcp.request("tools/list", json!({}));
    let tool = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "guardian__usage")
        .cloned()
        .unwrap_or_else(|| panic!("guardian__usage is an MCP tool: {listed:#}"));
    assert_eq!(tool["annotations"]["readOnlyHint"], true);
    let called = mcp.request(
        "tools/call",
        json!({"name": "guardian__usage", "arguments": {"namespace": ns}}),
    );
    let over_mcp = &called["result"]["structuredContent"];
    assert_eq!(usage_of(over_mcp), usage_of(&cli), "{called:#}");
    let bad = mcp.request(
        "tools/call",
        json!({"name": "guardian__usage", "arguments": {"namespace": 7}}),
    );
    assert_eq!(bad["result"]["isError"], true, "{bad:#}");
    assert!(
        bad.to_string().contains("namespace: expected a string"),
        "{bad:#}"
    );
}

#[test]
fn node_usage_comes_from_its_own_kubelet() {
    let Some(k) = control_plane() else { return };
    let c = setup(k, "node-usage");
    let ns = &c.ns;
    let ca = c.kubelets[0].ca_file.clone();

    // n1's figures, converted: nanocores → millicores (rounded up), the
    // working set in bytes; the kube-system pod of the summary is not in
    // the namespace asked for.
    let report = run_json(direct(&mut c.cli(Some(1)), &ca).args(["usage", "-n", ns, "-o", "json"]));
    let want = |pods: &[(&str, u64, u64)]| -> Vec<(String, String, u64, u64)> {
        let mut v: Vec<_> = pods
            .iter()
            .map(|(p, nano, ws)| {
                (
                    p.to_string(),
                    "app".to_owned(),
                    nano.div_ceil(1_000_000),
                    *ws,
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(usage_of(&report), want(N1_USAGE), "{report:#}");
    assert_eq!(
        usage_of(&report)[0],
        ("ok-a".into(), "app".into(), 2, 7_340_032)
    );
    assert_eq!(report["node"], c.node(1).as_str());
    // n2's daemon: n2's figures.
    let report = run_json(direct(&mut c.cli(Some(2)), &ca).args(["usage", "-n", ns, "-o", "json"]));
    assert_eq!(usage_of(&report), want(N2_USAGE), "{report:#}");
    // The label selector: the node's pods' labels, read through the broker.
    let report = run_json(
        direct(&mut c.cli(Some(1)), &ca).args(["usage", "-n", ns, "-l", "app=web", "-o", "json"]),
    );
    assert_eq!(usage_of(&report), want(&N1_USAGE[..1]), "{report:#}");
    // Only n1's and n2's kubelets were asked, each by its own daemon.
    assert!(
        c.kubelets[0]
            .requests()
            .iter()
            .all(|r| r == "/stats/summary")
    );
    assert_eq!(c.kubelets[2].requests(), Vec::<String>::new());
    // Decided and audited as a get of nodes/stats, naming the route.
    let lines = c.audit_lines();
    let read = lines
        .iter()
        .find(|l| l["resource"] == "/v1/nodes/stats" && l["name"] == c.node(1).as_str())
        .expect("the kubelet read is audited");
    assert_eq!(read["decision"], "allow", "{read}");
    assert!(
        read["reasons"].to_string().contains("route direct"),
        "{read}"
    );

    // A skill's `pod-usage` (rightsizing, with Prometheus down, takes the
    // current usage as evidence) is answered from the kubelet too: decided
    // for the skill as a get of nodes/stats, no metrics.k8s.io needed.
    k.apply(&format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api, namespace: {ns}}}\n\
         spec:\n  selector: {{matchLabels: {{app: api}}}}\n  template:\n    metadata: {{labels: {{app: api}}}}\n    \
         spec:\n      containers:\n      - {{name: app, image: registry.example/api:1.0}}\n"
    ));
    let closed = format!("http://127.0.0.1:{}", crate::serve::closed_port());
    let (code, out, err) = output(
        direct(&mut c.cli(Some(1)), &ca)
            .args([
                "--prometheus",
                &closed,
                "skills",
                "call",
                "rightsizing.recommend",
                "--input",
            ])
            .arg(json!({"namespace": ns}).to_string()),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("current usage (metrics.k8s.io)"), "{out}");
    assert!(
        c.audit_lines().iter().any(|l| l["skill"] == "rightsizing"
            && l["resource"] == "/v1/nodes/stats"
            && l["decision"] == "allow"
            && l.get("error").is_none()),
        "the skill's pod-usage read the kubelet: {out}\n{:#?}",
        c.audit_lines()
            .iter()
            .filter(|l| l["skill"] == "rightsizing")
            .collect::<Vec<_>>()
    );

    // A kubelet that does not accept the token: 401, said as such.
    let (code, out, err) = output(direct(&mut c.cli(Some(3)), &ca).args(["usage", "-n", ns]));
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains(&format!("the kubelet of node {}", c.node(3)))
            && err.contains("401 Unauthorized")
            && err.contains("refused the bearer token"),
        "{err}"
    );
    assert_eq!(c.kubelets[2].requests(), ["/stats/summary"]);

    // Without the CA: the kubelet's certificate is not trusted.
    let (code, _, err) = output(
        c.cli(Some(1))
            .args(["--kubelet", "direct", "usage", "-n", ns]),
    );
    assert_ne!(code, 0);
    assert!(err.contains("--kubelet-ca-file"), "{err}");

    // The proxy route: this API server refuses to proxy to a loopback
    // node address; the error names the node and the route, and says what
    // to use instead.
    let (code, out, err) = output(c.cli(Some(1)).args(["usage", "-n", ns]));
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains(&format!("/api/v1/nodes/{}/proxy/stats/summary", c.node(1)))
            && err.contains("node proxy")
            && err.contains("--kubelet direct"),
        "{err}"
    );
}

/// The findings of a report as (kind, namespace, name, reason).
fn by_object_and_reason(
    report: &Value,
) -> std::collections::BTreeSet<(String, String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let o = &f["object"];
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                s(&o["kind"]),
                s(&o["namespace"]),
                s(&o["name"]),
                s(&f["reason"]),
            )
        })
        .collect()
}

/// An EndpointSlice of the headless Service `guardian-node` in `ns`: one
/// daemon at localhost:`port` on `node` (the API server refuses loopback
/// IP addresses in a slice, so the address is the FQDN `localhost`).
fn daemon_slice(k: &ControlPlane, ns: &str, name: &str, node: &str, port: &str) {
    k.apply(&format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}\n  namespace: {ns}\n  \
         labels: {{kubernetes.io/service-name: guardian-node}}\naddressType: FQDN\n\
         endpoints:\n- addresses: [127.0.0.1]\n  nodeName: {node}\n  conditions: {{ready: true}}\n\
         ports:\n- {{name: grpc, port: {port}, protocol: TCP}}\n"
    ));
}

#[test]
fn the_fan_out_merges_the_node_daemons_into_the_unscoped_answer() {
    let Some(k) = control_plane() else { return };
    let c = setup(k, "node-fan");
    let ns = &c.ns;
    let kubeconfig = c.kubeconfig.to_str().unwrap().to_owned();
    // Three `guardian serve --node nX`, as the DaemonSet runs them.
    let daemons: Vec<crate::serve_api::ApiServer> = (1..=3)
        .map(|n| {
            crate::serve_api::ApiServer::start(&[
                "--kubeconfig",
                &kubeconfig,
                "--context",
                "guardian",
                "--node",
                &c.node(n),
            ])
        })
        .collect();
    for (i, d) in daemons.iter().enumerate() {
        let port = d.grpc.rsplit(':').next().unwrap();
        daemon_slice(k, ns, &format!("guardian-node-{i}"), &c.node(i + 1), port);
    }
    let token = c._dir.path().join("fan-out-token");
    std::fs::write(&token, crate::serve_api::BOB).unwrap();
    let fan_out = |cmd: &mut Command| -> Value {
        run_json(
            cmd.args(["diagnose", "-n", ns, "--no-dry-run", "-o", "json"])
                .args(["--fan-out", &format!("{ns}/guardian-node")])
                .arg("--fan-out-token-file")
                .arg(&token),
        )
    };

    // The merge equals one unscoped process's answer, by object and reason.
    let whole = run_json(
        c.cli(None)
            .args(["diagnose", "-n", ns, "--no-dry-run", "-o", "json"]),
    );
    let merged = fan_out(&mut c.cli(None));
    let expected = by_object_and_reason(&whole);
    assert_eq!(expected.len(), 3, "{whole:#}");
    assert_eq!(by_object_and_reason(&merged), expected, "{merged:#}");
    let summary = &merged["summary"];
    assert_eq!(
        summary["nodes"],
        json!([c.node(1), c.node(2), c.node(3)]),
        "{summary:#}"
    );
    assert!(summary.get("not_read").is_none(), "{summary:#}");
    // Each daemon was asked with the token, and read its own node.
    for (n, d) in daemons.iter().enumerate() {
        let lines = d.audit();
        assert!(
            lines.iter().any(|l| l["verb"] == "list"
                && l["resource"] == "/v1/pods"
                && l["node"] == c.node(n + 1).as_str()),
            "daemon {n}: {lines:#?}"
        );
    }
    // The daemons were found through the broker: the listing is audited.
    assert!(
        c.audit_lines().iter().any(|l| l["verb"] == "list"
            && l["resource"] == "discovery.k8s.io/v1/endpointslices"
            && l["namespace"] == ns.as_str()),
        "the EndpointSlices were listed through the broker"
    );

    // The Deployment (`serve --fan-out`): its Diagnose call is the merge.
    let deployment = crate::serve_api::ApiServer::start(&[
        "--kubeconfig",
        &kubeconfig,
        "--context",
        "guardian",
        "--fan-out",
        &format!("{ns}/guardian-node"),
        "--fan-out-token-file",
        token.to_str().unwrap(),
    ]);
    let answer = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut client = deployment.client().await;
        client
            .diagnose(crate::serve_api::authed(
                guardian_api::proto::DiagnoseRequest {
                    namespace: Some(ns.clone()),
                    no_dry_run: true,
                    ..Default::default()
                },
                crate::serve_api::BOB,
            ))
            .await
            .expect("the Deployment answers Diagnose")
            .into_inner()
    });
    let over_grpc: Value = serde_json::from_str(&answer.report_json).unwrap();
    assert_eq!(by_object_and_reason(&over_grpc), expected, "{over_grpc:#}");
    assert_eq!(over_grpc["summary"]["nodes"], summary["nodes"]);
    assert!(answer.not_read.is_empty(), "{:?}", answer.not_read);
    drop(deployment);

    // A daemon that does not answer is named as not read; the rest stands.
    let dead = crate::serve::closed_port().to_string();
    daemon_slice(k, ns, "guardian-node-dead", &format!("{ns}-n4"), &dead);
    let partial = fan_out(&mut c.cli(None));
    assert_eq!(by_object_and_reason(&partial), expected, "{partial:#}");
    let not_read = partial["summary"]["not_read"].to_string();
    assert!(
        not_read.contains(&format!("node daemon 127.0.0.1:{dead} (node {ns}-n4)")),
        "{not_read}"
    );
    // No daemon answering: an error, never an empty report.
    drop(daemons);
    let (code, out, err) = output(
        c.cli(None)
            .args(["diagnose", "-n", ns, "--no-dry-run", "-o", "json"])
            .args(["--fan-out", &format!("{ns}/guardian-node")])
            .arg("--fan-out-token-file")
            .arg(&token),
    );
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("no node daemon of Service"), "{err}");
}
