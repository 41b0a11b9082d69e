//! `guardian rightsize` as an SRE runs it: the workloads in the real
//! kube-apiserver, 14 days of their usage in a real Prometheus (written by
//! `guardian_tests::usage_history` in cAdvisor's and kube-state-metrics'
//! terms, loaded with promtool), and Guardian's numbers held to the ones the
//! generator computed from the samples it wrote.

use std::path::Path;
use std::sync::OnceLock;

use guardian_tests::kube::{ControlPlane, control_plane};
use guardian_tests::prometheus::{self, Options, Prometheus};
use guardian_tests::usage_history::{CPU_TOLERANCE, History, MIB, Shape};
use serde_json::Value;

use crate::support::{guardian, output};

struct Fixture {
    k: &'static ControlPlane,
    namespace: String,
    history: History,
    prometheus: Prometheus,
}

/// The standard history (one workload of every shape) in a namespace of
/// the real API server and in a real Prometheus; once per test binary.
fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let k = control_plane()?;
        if !Prometheus::available() {
            return None;
        }
        let namespace = k.namespace("rightsize");
        let history = History::standard_now(&namespace);
        history.apply_to(k);
        let prometheus = history
            .start_prometheus(&Options::default())
            .expect("Prometheus starts with the history");
        Some(Fixture {
            k,
            namespace,
            history,
            prometheus,
        })
    })
    .as_ref()
}

impl Fixture {
    /// `guardian --kubeconfig … --prometheus URL ARGS`: exit code, stdout,
    /// stderr.
    fn run(&self, dir: &Path, prometheus: &str, args: &[&str]) -> (i32, String, String) {
        output(
            guardian(dir)
                .arg("--kubeconfig")
                .arg(self.k.kubeconfig(dir))
                .args(["--prometheus", prometheus])
                .arg("--state-dir")
                .arg(dir.join("state"))
                .args(args),
        )
    }

    /// `rightsize -n NS --at END -o json ARGS` against the real Prometheus.
    fn report(&self, dir: &Path, args: &[&str]) -> Value {
        let at = self.history.end.to_string();
        let mut all = vec![
            "rightsize",
            "-n",
            &self.namespace,
            "--at",
            &at,
            "-o",
            "json",
        ];
        all.extend_from_slice(args);
        let (code, out, err) = self.run(dir, self.prometheus.url(), &all);
        assert_eq!(code, 0, "{err}\n{out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }
}

/// `120m` → 120, `2` → 2000.
fn millicores(q: &str) -> f64 {
    match q.strip_suffix('m') {
        Some(m) => m.parse().unwrap(),
        None => q.parse::<f64>().unwrap() * 1000.0,
    }
}

/// `300Mi` → bytes.
fn bytes(q: &str) -> f64 {
    for (suffix, size) in [("Ki", 1024.0), ("Mi", MIB), ("Gi", 1024.0 * MIB)] {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<f64>().unwrap() * size;
        }
    }
    q.parse().unwrap()
}

fn recommendation<'a>(report: &'a Value, workload: &str, container: &str) -> &'a Value {
    report["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["workload"]["name"] == workload && r["container"] == container)
        .unwrap_or_else(|| panic!("no recommendation for {workload}/{container}"))
}

fn reasons_of<'a>(report: &'a Value, workload: &str) -> Vec<&'a str> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["object"]["name"] == workload
                || f["fixes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|x| x["target"]["name"] == workload)
        })
        .map(|f| f["reason"].as_str().unwrap())
        .collect()
}

#[test]
fn recommendations_reach_the_numbers_computed_from_the_history() {
    let Some(f) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let report = f.report(dir.path(), &[]);
    let mut table = vec![format!(
        "{:<20} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}  STATUS",
        "WORKLOAD/CONTAINER", "KRR CPU", "WANT CPU", "GOT CPU", "KRR MEM", "WANT MEM", "GOT MEM"
    )];
    for e in f.history.expected() {
        let r = recommendation(&report, &e.workload, &e.container);
        let status = r["status"].as_str().unwrap();
        let krr = |a: &guardian_tests::usage_history::Advice, cpu: bool| match a {
            guardian_tests::usage_history::Advice::Value(v) if cpu => format!("{:.0}m", v * 1000.0),
            guardian_tests::usage_history::Advice::Value(v) => format!("{:.0}Mi", v / MIB),
            other => format!("{other:?}"),
        };
        let got_cpu = r["recommended"]["cpu_request"].as_str().unwrap_or("-");
        let got_mem = r["recommended"]["memory_limit"].as_str().unwrap_or("-");
        table.push(format!(
            "{:<20} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}  {status}",
            format!("{}/{}", e.workload, e.container),
            krr(&e.krr.cpu, true),
            e.guardian
                .cpu_request_m
                .map(|m| format!("{:.1}m", m))
                .unwrap_or("-".into()),
            got_cpu,
            krr(&e.krr.memory, false),
            e.guardian
                .memory_bytes
                .map(|b| format!("{:.1}Mi", b / MIB))
                .unwrap_or("-".into()),
            got_mem,
        ));
        if e.guardian.status == "not_enough_data" {
            assert_eq!(status, "not_enough_data", "{}: {r:#}", e.workload);
            assert!(r["recommended"]["cpu_request"].is_null(), "no guess: {r:#}");
            continue;
        }
        assert!(
            matches!(status, "ok" | "unchanged"),
            "{}: {r:#}",
            e.workload
        );
        // CPU: the percentile rounded up to a millicore, at least 10m.
        let want = e.guardian.cpu_request_m.unwrap();
        let got = millicores(got_cpu);
        assert!(
            got >= want.max(10.0).ceil() - 1.0
                && got <= want.max(10.0) * (1.0 + CPU_TOLERANCE) + 1.0,
            "{}: CPU request {got}m, computed {want:.2}m",
            e.workload
        );
        // Memory: request = limit = the computed value rounded up to a MiB.
        let want = e.guardian.memory_bytes.unwrap();
        for key in ["memory_request", "memory_limit"] {
            let got = bytes(r["recommended"][key].as_str().unwrap());
            assert!(
                got >= want - 1.0 && got <= want + MIB,
                "{} {key}: {got}, computed {want}",
                e.workload
            );
        }
        // Never below the limit of a container that is OOMKilled or pinned.
        if let Some(floor) = e.guardian.memory_floor {
            assert!(
                bytes(got_mem) >= floor,
                "{}: {got_mem} is below the limit {floor}",
                e.workload
            );
        }
        let reasons = reasons_of(&report, &e.workload);
        if e.guardian.hpa_memory_proposal {
            assert!(
                reasons.contains(&"HPAIgnoresMemory"),
                "{}: {reasons:?}",
                e.workload
            );
        }
        if e.guardian.hpa_at_max {
            assert!(
                reasons.contains(&"HPAAtMaxReplicas"),
                "{}: {reasons:?}",
                e.workload
            );
        }
        if e.guardian.hpa_target_without_request {
            assert!(
                reasons.contains(&"HPAMissingRequests"),
                "{}: {reasons:?}",
                e.workload
            );
        }
    }
    println!("{}", table.join("\n"));
    // One query per metric for the namespace, not one per container.
    let queries = report["summary"]["queries"].as_u64().unwrap();
    assert!(queries <= 5, "{queries} queries for one namespace");
}

#[test]
fn the_seed_case_and_the_oom_kills_become_approvable_patches() {
    let Some(f) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let report = f.report(dir.path(), &["--propose"]);
    let seed = f
        .history
        .expected()
        .into_iter()
        .find(|e| e.shape == Shape::Seed)
        .unwrap();
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["reason"] == "HPAIgnoresMemory")
        .expect("the seed case's HPA finding");
    assert_eq!(finding["severity"], "warning");
    let fixes = finding["fixes"].as_array().unwrap();
    assert!(
        fixes
            .iter()
            .any(|x| x["target"]["kind"] == "HorizontalPodAutoscaler"),
        "a memory metric on the HPA: {fixes:#?}"
    );
    // Every fix was checked by the real API server's dry-run, and stored.
    for fix in fixes.iter().filter(|x| x["json_patch"].is_array()) {
        assert_eq!(fix["dry_run"]["result"], "passed", "{fix:#}");
        assert!(fix["proposed_action"].is_string(), "{fix:#}");
    }
    let r = recommendation(&report, &seed.workload, &seed.container);
    assert_eq!(r["evidence"]["memory_at_limit"], true, "{r:#}");
    // The OOMKilled workloads: an error, with more memory than the limit.
    for shape in [Shape::OomPinned, Shape::OomBurst] {
        let e = f
            .history
            .expected()
            .into_iter()
            .find(|e| e.shape == shape)
            .unwrap();
        let reasons = reasons_of(&report, &e.workload);
        assert!(
            reasons.contains(&"MemoryLimitTooLow"),
            "{shape:?}: {reasons:?}"
        );
        let r = recommendation(&report, &e.workload, &e.container);
        let limit = bytes(r["current"]["memory_limit"].as_str().unwrap());
        assert!(
            bytes(r["recommended"]["memory_limit"].as_str().unwrap()) > limit,
            "{shape:?}: {r:#}"
        );
        assert!(r["evidence"]["oom_kills"].as_u64().unwrap() > 0, "{r:#}");
    }
    // The pending actions are there for a person, and nothing was applied.
    let (code, out, err) = f.run(
        dir.path(),
        f.prometheus.url(),
        &["actions", "list", "-o", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let actions: Value = serde_json::from_str(&out).unwrap();
    assert!(
        actions
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["state"] == "pending"),
        "{out}"
    );
}

#[test]
fn prometheus_that_cannot_answer_is_said_and_the_report_stands() {
    let Some(f) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    // A slow Prometheus is waited for one second (the config's timeout).
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "prometheus:\n  timeout_seconds: 1\n").unwrap();
    let config = config.to_str().unwrap();
    for (url, said) in [
        (prometheus::dead_url(), "cannot be reached"),
        (prometheus::stalled_url(), "did not answer within 1s"),
        (
            prometheus::answering_url(
                500,
                "application/json",
                r#"{"status":"error","errorType":"internal","error":"opening storage failed: lock held"}"#,
                std::time::Duration::ZERO,
            ),
            "opening storage failed: lock held",
        ),
        (
            prometheus::answering_url(
                200,
                "text/html",
                "<html>Welcome to nginx</html>",
                std::time::Duration::ZERO,
            ),
            "not the Prometheus HTTP API",
        ),
    ] {
        let (code, out, err) = f.run(
            dir.path(),
            &url,
            &[
                "--config",
                config,
                "rightsize",
                "-n",
                &f.namespace,
                "-o",
                "json",
            ],
        );
        assert_eq!(code, 0, "{err}\n{out}");
        let report: Value = serde_json::from_str(&out).unwrap();
        let problems = report["problems"].to_string();
        assert!(problems.contains(said), "{problems}");
        assert!(err.contains(said), "said on stderr too: {err}");
        // Every workload is still listed, none with a guessed number.
        let recs = report["recommendations"].as_array().unwrap();
        assert_eq!(
            recs.len(),
            f.history.expected().len(),
            "the rest of the report is intact"
        );
        assert!(
            recs.iter()
                .all(|r| r["recommended"]["cpu_request"].is_null()),
            "{recs:#?}"
        );
    }
}

#[test]
fn ask_routes_sizing_questions_and_diagnose_shows_the_oom_peak() {
    let Some(f) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = f.run(
        dir.path(),
        f.prometheus.url(),
        &["ask", "optimize checkout"],
    );
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(
        out.contains("rightsizing.recommend") && out.contains("/checkout container"),
        "{out}"
    );
    assert!(out.contains("HPAIgnoresMemory"), "{out}");

    // diagnose: the OOMKilled workload's evidence holds its peak from
    // Prometheus, and the new limit is above it.
    let pinned = f
        .history
        .expected()
        .into_iter()
        .find(|e| e.shape == Shape::OomPinned)
        .unwrap();
    let (code, out, err) = f.run(
        dir.path(),
        f.prometheus.url(),
        &["diagnose", "-n", &f.namespace, "-o", "json"],
    );
    assert!(code == 0 || code == 3, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let oom = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["reason"] == "OOMKilled" && x["object"]["name"] == pinned.workload.as_str())
        .unwrap_or_else(|| panic!("no OOMKilled finding for {}: {out}", pinned.workload));
    let metrics: Vec<&Value> = oom["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "metrics")
        .collect();
    assert_eq!(metrics.len(), 1, "{oom:#}");
    assert!(
        metrics[0]["text"].as_str().unwrap().contains("peaked at"),
        "{oom:#}"
    );
    let fix = &oom["fixes"][0];
    assert!(
        fix["description"].as_str().unwrap().contains("peaked at"),
        "{fix:#}"
    );
}

#[test]
fn every_namespace_is_right_sized_one_by_one_and_a_dead_source_asked_once() {
    let Some(f) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = f.run(
        dir.path(),
        &prometheus::dead_url(),
        &["rightsize", "-A", "-o", "json"],
    );
    assert_eq!(code, 0, "{err}\n{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let namespaces = report["summary"]["namespaces"].as_array().unwrap();
    assert!(
        namespaces.len() > 1 && namespaces.iter().any(|n| n == f.namespace.as_str()),
        "{namespaces:?}"
    );
    // This namespace's workloads are in the merged report, without numbers.
    let mine: Vec<&Value> = report["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["workload"]["namespace"] == f.namespace.as_str())
        .collect();
    assert_eq!(mine.len(), f.history.expected().len());
    // Prometheus was found down once, and not asked again for the others.
    assert!(
        report["problems"].to_string().contains("cannot be reached"),
        "{}",
        report["problems"]
    );
    assert_eq!(report["summary"]["queries"], 1, "{:#}", report["summary"]);
}

/// CPU and memory recommended per container: what the front ends must agree on.
fn numbers(report: &Value) -> Vec<(String, String, Value)> {
    let mut out: Vec<(String, String, Value)> = report["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["workload"]["name"].as_str().unwrap().to_owned(),
                r["container"].as_str().unwrap().to_owned(),
                r["recommended"].clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rightsize_is_one_operation_the_cli_grpc_and_mcp_all_offer() {
    use crate::serve_api::{ApiServer, BOB, authed};
    use crate::support::McpStdio;
    use guardian_api::proto;

    let Some(f) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let at = f.history.end.to_string();
    let cli = f.report(dir.path(), &["--no-dry-run"]);
    let kubeconfig = f.k.kubeconfig(dir.path());
    let kubeconfig = kubeconfig.to_str().unwrap();

    // gRPC.
    let server = ApiServer::start(&[
        "--kubeconfig",
        kubeconfig,
        "--prometheus",
        f.prometheus.url(),
    ]);
    let mut client = server.client().await;
    let answer = client
        .rightsize(authed(
            proto::RightsizeRequest {
                namespace: Some(f.namespace.clone()),
                at: Some(at.clone()),
                no_dry_run: true,
                ..Default::default()
            },
            BOB,
        ))
        .await
        .expect("Rightsize")
        .into_inner();
    let grpc: Value = serde_json::from_str(&answer.report_json).unwrap();
    assert_eq!(numbers(&grpc), numbers(&cli));
    assert_eq!(
        answer.findings.len(),
        cli["findings"].as_array().unwrap().len()
    );

    // MCP: the tool is the operation.
    let mut cmd = guardian(&dir.path().join("cache"));
    cmd.args([
        "--kubeconfig",
        kubeconfig,
        "--prometheus",
        f.prometheus.url(),
        "mcp",
        "--identity",
        "tester",
    ]);
    let mut mcp = McpStdio::start(cmd);
    let called = mcp.request(
        "tools/call",
        serde_json::json!({"name": "rightsizing__recommend", "arguments": {
            "namespace": f.namespace, "at": at, "dry_run": false}}),
    );
    let result = &called["result"];
    assert_ne!(result["isError"], true, "{result}");
    let mcp_report = &result["structuredContent"];
    assert_eq!(numbers(mcp_report), numbers(&cli), "{result}");
    assert_eq!(
        mcp_report["summary"]["scope"],
        format!("namespace {}", f.namespace),
        "the session's report, not the raw tool's"
    );
}

#[test]
fn a_namespace_prometheus_has_no_usage_for_is_said_not_guessed() {
    let Some(f) = fixture() else { return };
    let ns = f.k.namespace("rightsize-nodata");
    f.k.apply(&format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: quiet, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: quiet}}}}
  template:
    metadata: {{labels: {{app: quiet}}}}
    spec:
      containers:
      - name: app
        image: registry.example/quiet:1.0
        resources: {{requests: {{cpu: 500m, memory: 512Mi}}}}
"#
    ));
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = f.run(
        dir.path(),
        f.prometheus.url(),
        &["rightsize", "-n", &ns, "-o", "json"],
    );
    assert_eq!(code, 0, "{err}\n{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert!(
        report["problems"]
            .to_string()
            .contains(&format!("no container usage in namespace {ns}")),
        "{}",
        report["problems"]
    );
    let r = recommendation(&report, "quiet", "app");
    assert!(
        matches!(r["status"].as_str(), Some("no_data" | "not_enough_data")),
        "{r:#}"
    );
    assert!(r["recommended"]["cpu_request"].is_null(), "no guess: {r:#}");
    assert!(
        report["findings"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
}
