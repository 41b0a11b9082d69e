//! `bench-node`: what a node daemon (`guardian serve --node NODE`, the
//! DaemonSet) costs, measured on the real API server: one node full of
//! pods (default 110, the kubelet's default maximum), some crash-looping,
//! its kubelet's `/stats/summary` served by a stand-in on loopback, and
//! many more pods on other nodes that the node daemon never reads.
//!
//! Prints, for the requests in `deploy/daemonset/daemonset.yaml`:
//! - `serve --node`'s resident memory once it listens, idle;
//! - a node-scoped session's peak memory and CPU per `diagnose -A` and per
//!   `usage -A` (the kubelet read directly), as GNU time reports them, and
//!   the same `diagnose -A` unscoped, for comparison.
//!
//! Needs `KUBEBUILDER_ASSETS` (as the tests), python3, openssl and
//! `/usr/bin/time`. Figures, not assertions.

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use guardian_tests::kube::{ControlPlane, control_plane};
use serde_json::{Value, json};

const HELP: &str = "\
bench-node — the cost of a node daemon (guardian serve --node) on a full node

Usage: bench-node [options]

Options:
  --guardian PATH   the binary [default: target/debug/guardian]
  --pods N          pods on the measured node [default: 110]
  --others N        pods on 9 other nodes, never read by the node daemon [default: 900]
  --runs N          runs of each command measured [default: 5]
";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-node: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn run() -> anyhow::Result<()> {
    let root = PathBuf::from(guardian_tests::REPO_ROOT);
    let mut guardian = root.join("target/debug/guardian");
    let (mut pods, mut others, mut runs) = (110usize, 900usize, 5usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))
        };
        match a.as_str() {
            "--guardian" => guardian = PathBuf::from(value()?),
            "--pods" => pods = value()?.parse()?,
            "--others" => others = value()?.parse()?,
            "--runs" => runs = value()?.parse()?,
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other}\n{HELP}"),
        }
    }
    anyhow::ensure!(guardian.is_file(), "{} is not built", guardian.display());
    let k = control_plane().ok_or_else(|| {
        anyhow::anyhow!("no API server: set KUBEBUILDER_ASSETS (see tests/src/kube.rs)")
    })?;
    let started = Instant::now();
    let c = setup(k, pods, others);
    eprintln!(
        "bench-node: {pods} pods on {}, {others} on 9 other nodes, set up in {:.0} s",
        c.node,
        started.elapsed().as_secs_f64()
    );
    let dir = c.dir.path();
    let base = |cmd: &mut Command| {
        cmd.arg("--kubeconfig")
            .arg(&c.kubeconfig)
            .args(["--context", "guardian"])
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--audit")
            .arg(dir.join("audit.jsonl"));
    };
    let node_flags = [
        "--node".to_owned(),
        c.node.clone(),
        "--kubelet".into(),
        "direct".into(),
        "--kubelet-ca-file".into(),
        c.ca_file.display().to_string(),
    ];

    // Warm the compiled-skill cache once (what a daemon does at its first
    // start, not per request).
    let mut warm = Command::new(&guardian);
    base(&mut warm);
    warm.args(&node_flags)
        .args(["diagnose", "-A", "-o", "json"]);
    let out = warm.output()?;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    eprintln!(
        "bench-node: the node's diagnosis has {} findings ({})",
        report["findings"].as_array().map_or(0, Vec::len),
        report["summary"]["scope"].as_str().unwrap_or("?")
    );

    // 1. serve --node, idle once it listens.
    let tokens = dir.join("tokens.yaml");
    std::fs::write(
        &tokens,
        "tokens:\n  - {identity: bench, role: viewer, token: bench-viewer-token-0123456789}\n",
    )?;
    let mut serve = Command::new(&guardian);
    base(&mut serve);
    serve
        .args(&node_flags)
        .args([
            "serve",
            "--grpc-listen",
            "127.0.0.1:0",
            "--mcp-listen",
            "127.0.0.1:0",
        ])
        .args(["--http-listen", "127.0.0.1:0", "--tokens-file"])
        .arg(&tokens)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = serve.spawn()?;
    let pid = child.id();
    let mut line = String::new();
    {
        use std::io::BufRead;
        let stdout = child.stdout.take().unwrap();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
    }
    std::thread::sleep(Duration::from_secs(3));
    let rss = status_kib(pid, "VmRSS:");
    let hwm = status_kib(pid, "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "serve --node, idle after it listens: RSS {:.1} MiB (peak so far {:.1} MiB)",
        rss / 1024.0,
        hwm / 1024.0
    );

    // 2. Per request, as one process each (GNU time: peak RSS, CPU).
    let measure = |label: &str, extra: &[String], cmd_args: &[&str]| -> anyhow::Result<()> {
        let (mut mem, mut cpu, mut wall) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let mut cmd = Command::new("/usr/bin/time");
            cmd.args(["-f", "%M %U %S %e", "-o"])
                .arg(dir.join("time.txt"));
            cmd.arg(&guardian);
            base(&mut cmd);
            cmd.args(extra)
                .args(cmd_args)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let status = cmd.status()?;
            anyhow::ensure!(
                status.code().is_some_and(|c| c == 0 || c == 3),
                "{label}: exit {status}"
            );
            let t = std::fs::read_to_string(dir.join("time.txt"))?;
            let f: Vec<f64> = t
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            anyhow::ensure!(f.len() == 4, "{label}: GNU time said {t:?}");
            mem.push(f[0] / 1024.0);
            cpu.push((f[1] + f[2]) * 1000.0);
            wall.push(f[3] * 1000.0);
        }
        println!(
            "{label:<38} peak RSS {:>6.1} MiB (max {:>6.1})   CPU {:>6.0} ms   wall {:>6.0} ms   (median of {runs})",
            median(&mut mem.clone()),
            mem.iter().cloned().fold(0.0, f64::max),
            median(&mut cpu),
            median(&mut wall)
        );
        Ok(())
    };
    measure(
        "diagnose -A --node (the node's pods)",
        &node_flags,
        &["diagnose", "-A", "-o", "json"],
    )?;
    measure(
        "usage -A --node (its kubelet, direct)",
        &node_flags,
        &["usage", "-A", "-o", "json"],
    )?;
    measure(
        "diagnose -A (every pod, no --node)",
        &[],
        &["diagnose", "-A", "-o", "json"],
    )?;
    Ok(())
}

/// A `/proc/PID/status` figure in KiB.
fn status_kib(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

struct Cluster {
    node: String,
    kubeconfig: PathBuf,
    ca_file: PathBuf,
    dir: tempfile::TempDir,
    _kubelet: guardian_tests::kube::StatsKubelet,
}

fn pod(ns: &str, name: &str, node: &str, app: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "registry.example/web:1.0",
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]},
    })
}

fn apply_list(k: &ControlPlane, items: Vec<Value>) {
    for chunk in items.chunks(200) {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": chunk});
        k.apply(&list.to_string());
    }
}

fn setup(k: &ControlPlane, pods: usize, others: usize) -> Cluster {
    let ns = k.namespace("bench-node");
    let dir = tempfile::tempdir().unwrap();
    let token = k.service_account_token(&ns, "guardian");
    k.apply(&format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: {ns}-guardian}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}}\n\
         subjects:\n- {{kind: ServiceAccount, name: guardian, namespace: {ns}}}\n"
    ));
    let kubeconfig = k.kubeconfig_with(dir.path(), &[("guardian", &token)]);
    let node = format!("{ns}-n0");
    let names: Vec<String> = (0..pods).map(|i| format!("web-{i}")).collect();
    let summary = json!({
        "node": {"nodeName": node, "cpu": {"usageNanoCores": 900_000_000u64}, "memory": {"workingSetBytes": 6u64 << 30}},
        "pods": names.iter().enumerate().map(|(i, p)| json!({
            "podRef": {"name": p, "namespace": ns, "uid": format!("uid-{p}")},
            "containers": [{"name": "app",
                "cpu": {"time": "2026-12-07T11:00:00Z", "usageNanoCores": 1_000_000u64 * (i as u64 % 50 + 1)},
                "memory": {"time": "2026-12-07T11:00:00Z", "workingSetBytes": (16u64 << 20) * (i as u64 % 8 + 1)}}]
        })).collect::<Vec<_>>()
    });
    let kubelet = k.stats_kubelet(&summary, &token);
    for n in 0..10 {
        let name = format!("{ns}-n{n}");
        k.apply(&format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels: {{kubernetes.io/hostname: {name}}}\n"
        ));
        k.set_status(
            "default",
            "node",
            &name,
            &json!({
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                    "lastHeartbeatTime": "2026-12-07T11:00:00Z", "lastTransitionTime": "2026-12-07T09:00:00Z"}],
                "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}
            }),
        );
    }
    apply_list(k, names.iter().map(|p| pod(&ns, p, &node, "web")).collect());
    apply_list(
        k,
        (0..others)
            .map(|i| {
                pod(
                    &ns,
                    &format!("other-{i}"),
                    &format!("{ns}-n{}", 1 + i % 9),
                    "other",
                )
            })
            .collect(),
    );
    // One in ten of the node's pods crash-loops; the rest run.
    for (i, p) in names.iter().enumerate() {
        let status = if i % 10 == 0 {
            json!({"phase": "Running",
                "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "2026-12-07T10:00:00Z"}],
                "containerStatuses": [{"name": "app", "ready": false, "restartCount": 7, "started": false,
                    "image": "registry.example/web:1.0", "imageID": "",
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                        "startedAt": "2026-12-07T10:50:00Z", "finishedAt": "2026-12-07T10:50:02Z"}}}]})
        } else {
            json!({"phase": "Running",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-07T10:00:00Z"}],
                "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "started": true,
                    "image": "registry.example/web:1.0", "imageID": "",
                    "state": {"running": {"startedAt": "2026-12-07T10:00:00Z"}}}]})
        };
        k.set_status(&ns, "pod", p, &status);
    }
    Cluster {
        node,
        kubeconfig,
        ca_file: kubelet.ca_file.clone(),
        dir,
        _kubelet: kubelet,
    }
}
