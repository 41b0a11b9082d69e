//! The metrics sources of the host (the `metrics` WIT interface), with real
//! parts: a real Prometheus (Debian's, loaded by promtool) queried through a
//! wasm skill and the broker; loopback listeners that record what Guardian
//! sends or answer like a broken Prometheus; the real `kubectl top` against
//! `snapshot serve`; the real API server for metrics.k8s.io and discovery.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use guardian_broker::{Audit, Broker, CallContext, Policy, PrometheusOptions};
use guardian_runtime::{OperatorGrants, Runtime, RuntimeConfig};
use guardian_tests::prometheus::{self, Prometheus};
use serde_json::{Value, json};

use crate::support::*;

/// Samples every minute for an hour from here.
const T0: u64 = 1_765_000_000;
const MIB: u64 = 1 << 20;

/// Three series of cAdvisor's working set (shop/web-1 grows by 1 MiB a
/// minute; shop/web-2 and payments/api-1 are flat) and web-1's CPU counter.
fn history() -> String {
    let mut om = String::from("# TYPE container_memory_working_set_bytes gauge\n");
    let series = [
        ("shop", "web-1", 100 * MIB, MIB),
        ("shop", "web-2", 200 * MIB, 0),
        ("payments", "api-1", 50 * MIB, 0),
    ];
    for (ns, pod, base, slope) in series {
        for i in 0..=60u64 {
            om.push_str(&format!(
                "container_memory_working_set_bytes{{namespace=\"{ns}\",pod=\"{pod}\",container=\"app\",image=\"nginx:1\"}} {} {}\n",
                base + i * slope,
                T0 + i * 60
            ));
        }
    }
    om.push_str("# TYPE container_cpu_usage_seconds_total counter\n");
    for i in 0..=60u64 {
        om.push_str(&format!(
            "container_cpu_usage_seconds_total{{namespace=\"shop\",pod=\"web-1\",container=\"app\"}} {} {}\n",
            i * 30,
            T0 + i * 60
        ));
    }
    om.push_str("# EOF\n");
    om
}

fn real_prometheus() -> Option<&'static Prometheus> {
    prometheus::shared("metrics_sources", history)
}

const SHOP_MEMORY: &str = r#"container_memory_working_set_bytes{namespace="shop"}"#;
/// [`SHOP_MEMORY`] form-encoded.
const SHOP_MEMORY_FORM: &str = "container_memory_working_set_bytes%7Bnamespace%3D%22shop%22%7D";

fn at(offset: u64) -> String {
    (T0 + offset).to_string()
}

/// A broker over the example snapshot with Prometheus at `options`, its
/// audit lines in memory, under `policy`.
fn broker_with(options: PrometheusOptions, policy: Policy) -> (Broker, Arc<Audit>) {
    let audit = Arc::new(Audit::memory());
    let (broker, _) =
        Broker::snapshot(&example_snapshot(), Arc::new(policy), audit.clone()).unwrap();
    (broker.with_prometheus(options), audit)
}

fn url_options(url: &str) -> PrometheusOptions {
    PrometheusOptions {
        url: Some(url.to_owned()),
        ..Default::default()
    }
}

fn defaults() -> Policy {
    Policy::defaults().unwrap()
}

/// The `hostile` test skill, granted metrics, over `broker`.
async fn metrics_skill(broker: Broker) -> (Runtime, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let folder = install_test_skill(dir.path(), "hostile");
    let path = folder.join("skill.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("metrics = false", "metrics = true");
    let sha = sha256_hex(&std::fs::read(folder.join("skill.wasm")).unwrap());
    std::fs::write(&path, with_sha(&text, &sha)).unwrap();
    let runtime = Runtime::new(
        RuntimeConfig {
            limits: test_limits(),
            cache_dir: None,
            operator_grants: OperatorGrants::default(),
        },
        Some(broker),
    )
    .unwrap();
    assert!(runtime.load_dir(dir.path()).await.unwrap().is_empty());
    (runtime, dir)
}

async fn call(rt: &Runtime, input: Value) -> Value {
    rt.call("human:test", "hostile.metrics", &input.to_string())
        .await
        .unwrap_or_else(|e| panic!("hostile.metrics {input}: {e}"))
}

/// The skill's error answer: (kind, message).
fn error_of(answer: &Value) -> (String, String) {
    let e = &answer["error"];
    assert!(e.is_object(), "expected an error, got {answer}");
    (
        e["kind"]
            .as_str()
            .unwrap()
            .trim_start_matches("ErrorKind::")
            .to_owned(),
        e["message"].as_str().unwrap().to_owned(),
    )
}

fn audit_lines(audit: &Audit) -> Vec<Value> {
    audit
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn prometheus_lines(audit: &Audit) -> Vec<Value> {
    audit_lines(audit)
        .into_iter()
        .filter(|l| l["resource"] == "metrics.guardian.dev/v1/prometheus")
        .collect()
}

/// Sorted by pod, for comparing answers.
fn by_pod(data: &Value) -> Vec<Value> {
    let mut result = data["result"].as_array().cloned().unwrap_or_default();
    result.sort_by_key(|s| s["metric"]["pod"].as_str().unwrap_or_default().to_owned());
    result
}

#[tokio::test]
async fn instant_and_range_queries_reach_a_real_prometheus_through_a_skill() {
    let Some(p) = real_prometheus() else { return };
    let (broker, audit) = broker_with(url_options(p.url()), defaults());
    let (rt, _d) = metrics_skill(broker).await;

    // Instant: the two shop series at T0+10m, as Prometheus itself answers.
    let answer = call(
        &rt,
        json!({"op": "query", "promql": SHOP_MEMORY, "at": at(600)}),
    )
    .await;
    let data = &answer["data"];
    assert_eq!(data["resultType"], "vector", "{answer}");
    let series = by_pod(data);
    assert_eq!(series.len(), 2, "{answer}");
    assert_eq!(series[0]["metric"]["pod"], "web-1");
    assert_eq!(series[0]["value"][1], (110 * MIB).to_string());
    assert_eq!(series[1]["value"][1], (200 * MIB).to_string());
    let direct = p.query(SHOP_MEMORY, Some((T0 + 600) as f64)).unwrap();
    assert_eq!(
        series,
        by_pod(&direct),
        "the skill sees what Prometheus answered"
    );

    // Range: every minute of the hour, 61 points per series.
    let answer = call(
        &rt,
        json!({"op": "query-range", "promql": SHOP_MEMORY, "start": at(0), "end": at(3600), "step": "60s"}),
    )
    .await;
    let series = by_pod(&answer["data"]);
    assert_eq!(answer["data"]["resultType"], "matrix", "{answer}");
    assert_eq!(series.len(), 2);
    let web1 = series[0]["values"].as_array().unwrap();
    assert_eq!(web1.len(), 61);
    assert_eq!(web1[0][1], (100 * MIB).to_string());
    assert_eq!(web1[60][1], (160 * MIB).to_string());
    // RFC 3339 times work as Prometheus takes them.
    let answer = call(
        &rt,
        json!({"op": "query", "promql": "sum(rate(container_cpu_usage_seconds_total[5m]))", "at": "2025-12-06T06:16:40Z"}),
    )
    .await;
    assert_eq!(answer["data"]["result"][0]["value"][1], "0.5", "{answer}");

    // A long query is audited cut at 1 KiB (policy saw it whole).
    let long = format!("vector(1){}", " + 0".repeat(400));
    let answer = call(&rt, json!({"op": "query", "promql": long, "at": at(0)})).await;
    assert_eq!(answer["data"]["result"][0]["value"][1], "1", "{answer}");

    // Each query was decided and audited: the PromQL, the source, the outcome.
    let lines = prometheus_lines(&audit);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let cut = lines[3]["name"].as_str().unwrap();
    assert_eq!(cut.len(), 1024);
    assert!(long.starts_with(cut));
    let first = &lines[0];
    assert_eq!(first["verb"], "get");
    assert_eq!(first["name"], SHOP_MEMORY);
    assert_eq!(first["decision"], "allow");
    assert_eq!(first["rule"], "prometheus-queries");
    assert_eq!(first["skill"], "hostile");
    let reasons = first["reasons"].to_string();
    assert!(reasons.contains(p.url()), "{reasons}");
    assert!(reasons.contains("answered 2 series, 2 points"), "{reasons}");
    assert!(
        lines[1]["reasons"]
            .to_string()
            .contains("answered 2 series, 122 points"),
        "{}",
        lines[1]
    );
}

/// A loopback HTTP server that records each request (head and body) and
/// answers with `status` and `body`.
struct Recorder {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start(status: u16, body: String) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut conn = conn;
                let request = read_request(&mut conn);
                seen.lock().unwrap().push(request);
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: \
                     {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(response.as_bytes());
            }
        });
        Recorder { url, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn read_request(conn: &mut std::net::TcpStream) -> String {
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = conn.read(&mut chunk) {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .to_ascii_lowercase()
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// What the real Prometheus answers to an instant query of the shop series.
fn captured_answer(p: &Prometheus) -> String {
    let form = format!("query={SHOP_MEMORY_FORM}&time={}", T0 + 600);
    let (status, body) = prometheus::http(
        p.url(),
        "POST",
        "/api/v1/query",
        Some(&form),
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(status, 200);
    String::from_utf8(body).unwrap()
}

#[tokio::test]
async fn credentials_are_sent_to_prometheus_and_shown_to_no_one() {
    let Some(p) = real_prometheus() else { return };
    let real = captured_answer(p);
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "tok-3f9a1c77e2\n").unwrap();
    let cx = CallContext::host("test");

    // Bearer token from a file.
    let rec = Recorder::start(200, real.clone());
    let (broker, audit) = broker_with(
        PrometheusOptions {
            token_file: Some(token.clone()),
            ..url_options(&rec.url)
        },
        defaults(),
    );
    let data = broker
        .prometheus_query(&cx, SHOP_MEMORY, Some(&at(600)))
        .await
        .unwrap();
    let data: Value = serde_json::from_str(&data).unwrap();
    let real_data: Value = serde_json::from_str::<Value>(&real).unwrap()["data"].clone();
    assert_eq!(by_pod(&data), by_pod(&real_data));
    let requests = rec.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert!(
        request.starts_with("POST /api/v1/query HTTP/1.1\r\n"),
        "{request}"
    );
    let lower = request.to_ascii_lowercase();
    assert!(
        lower.contains("authorization: bearer tok-3f9a1c77e2\r\n"),
        "{request}"
    );
    assert!(
        lower.contains("content-type: application/x-www-form-urlencoded"),
        "{request}"
    );
    assert!(
        request.ends_with(&format!("query={SHOP_MEMORY_FORM}&time={}", T0 + 600)),
        "{request}"
    );
    assert!(!audit.lines().join("\n").contains("tok-3f9a1c77e2"));

    // Basic auth from a file, and from the URL's userinfo: neither shown.
    let basic = dir.path().join("basic");
    std::fs::write(&basic, "grafana:pw-from-file-81\n").unwrap();
    let rec = Recorder::start(200, real.clone());
    let (broker, _) = broker_with(
        PrometheusOptions {
            basic_auth_file: Some(basic),
            ..url_options(&rec.url)
        },
        defaults(),
    );
    broker.prometheus_query(&cx, "up", None).await.unwrap();
    // base64("grafana:pw-from-file-81")
    assert!(
        rec.requests()[0].contains("authorization: Basic Z3JhZmFuYTpwdy1mcm9tLWZpbGUtODE=\r\n")
            || rec.requests()[0]
                .contains("Authorization: Basic Z3JhZmFuYTpwdy1mcm9tLWZpbGUtODE=\r\n"),
        "{}",
        rec.requests()[0]
    );

    let refusing = Recorder::start(
        401,
        r#"{"status":"error","errorType":"unauthorized","error":"bad credentials"}"#.into(),
    );
    let with_userinfo = refusing.url.replace("http://", "http://ops:pw-in-url-55@");
    let (broker, audit) = broker_with(url_options(&with_userinfo), defaults());
    let (rt, _d) = metrics_skill(broker).await;
    let answer = call(&rt, json!({"op": "query", "promql": "up"})).await;
    let (kind, message) = error_of(&answer);
    assert_eq!(kind, "Denied", "{message}");
    assert!(message.contains(&refusing.url), "{message}");
    assert!(message.contains("HTTP 401"), "{message}");
    assert!(message.contains("--prometheus-token-file"), "{message}");
    assert!(
        refusing.requests()[0].contains("Basic b3BzOnB3LWluLXVybC01NQ=="),
        "{}",
        refusing.requests()[0]
    );
    for shown in [answer.to_string(), audit.lines().join("\n")] {
        assert!(!shown.contains("pw-in-url-55"), "{shown}");
        assert!(!shown.contains("ops:"), "{shown}");
    }
}

#[tokio::test]
async fn an_answer_over_the_bounds_is_refused_and_not_read() {
    let Some(p) = real_prometheus() else { return };
    let cx = CallContext::host("test");
    let (broker, audit) = broker_with(
        PrometheusOptions {
            max_series: Some(2),
            max_points: Some(100),
            ..url_options(p.url())
        },
        defaults(),
    );
    // Three series: over max_series.
    let err = broker
        .prometheus_query(&cx, "container_memory_working_set_bytes", Some(&at(600)))
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "too-large", "{err}");
    let m = err.message();
    assert!(m.contains("more than 2 series"), "{m}");
    assert!(m.contains("prometheus.max_series"), "{m}");
    assert!(m.contains("label matchers"), "{m}");
    assert!(m.contains(p.url()), "{m}");
    // Two series × 61 samples: over max_points; a larger step fits.
    let err = broker
        .prometheus_query_range(&cx, SHOP_MEMORY, &at(0), &at(3600), "60s")
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "too-large", "{err}");
    assert!(err.message().contains("more than 100 points"), "{err}");
    assert!(err.message().contains("a larger step"), "{err}");
    broker
        .prometheus_query_range(&cx, SHOP_MEMORY, &at(0), &at(3600), "120s")
        .await
        .expect("62 points fit");
    let lines = prometheus_lines(&audit);
    assert_eq!(lines[0]["error"], "too-large", "{lines:#?}");
    assert!(
        lines[0]["reasons"]
            .to_string()
            .contains("more than 2 series")
    );

    // A 500 MB answer announced by Content-Length is refused before a byte
    // of it is read; an endless one without a length is cut off by the count.
    for announce in [true, false] {
        let written = Arc::new(AtomicU64::new(0));
        let url = endless_answer(announce, written.clone());
        let (broker, _) = broker_with(url_options(&url), defaults());
        let err = broker.prometheus_query(&cx, "up", None).await.unwrap_err();
        assert_eq!(err.kind_str(), "too-large", "{err}");
        let read = written.load(Ordering::SeqCst);
        assert!(
            read < 64 << 20,
            "announce {announce}: the server got {read} bytes out before Guardian stopped"
        );
        if announce {
            assert!(err.message().contains("larger than"), "{err}");
        } else {
            assert!(err.message().contains("more than 10000 series"), "{err}");
        }
    }
}

/// A server that answers a query with series without end (or announces
/// 500 MB), counting what it managed to write.
fn endless_answer(announce: bool, written: Arc<AtomicU64>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let written = written.clone();
            std::thread::spawn(move || {
                let mut conn = conn;
                let _ = read_request(&mut conn);
                let length = if announce {
                    "Content-Length: 524288000\r\n"
                } else {
                    ""
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}Connection: \
                     close\r\n\r\n{{\"status\":\"success\",\"data\":{{\"resultType\":\"vector\",\"result\":["
                );
                if conn.write_all(head.as_bytes()).is_err() {
                    return;
                }
                for i in 0u64.. {
                    let one = format!(
                        "{{\"metric\":{{\"pod\":\"p-{i}\"}},\"value\":[1765000000,\"1\"]}},"
                    );
                    if conn.write_all(one.as_bytes()).is_err() {
                        return;
                    }
                    written.fetch_add(one.len() as u64, Ordering::SeqCst);
                    if written.load(Ordering::SeqCst) > 1 << 30 {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn prometheus_down_slow_failing_or_garbage_is_a_clear_error_and_the_host_keeps_serving() {
    let Some(p) = real_prometheus() else { return };
    let dead = prometheus::dead_url();
    let stalled = prometheus::stalled_url();
    let failing = prometheus::answering_url(
        500,
        "application/json",
        r#"{"status":"error","errorType":"internal","error":"opening storage failed: lock held"}"#,
        Duration::ZERO,
    );
    let garbage = prometheus::answering_url(
        200,
        "text/html",
        "<html><body>Welcome to nginx!</body></html>",
        Duration::ZERO,
    );
    let not_found =
        prometheus::answering_url(404, "text/plain", "404 page not found", Duration::ZERO);
    let cases: Vec<(&str, String, &str, Vec<&str>)> = vec![
        (
            "down",
            dead,
            "Unavailable",
            vec!["connection refused", "--prometheus"],
        ),
        (
            "slow",
            stalled,
            "Timeout",
            vec!["did not answer within 1s", "prometheus.timeout_seconds"],
        ),
        (
            "failing",
            failing,
            "Unavailable",
            vec!["HTTP 500", "internal: opening storage failed: lock held"],
        ),
        (
            "garbage",
            garbage,
            "Unavailable",
            vec!["not the Prometheus HTTP API", "<html><body>Welcome"],
        ),
        (
            "wrong path",
            not_found,
            "Unavailable",
            vec!["HTTP 404", "base URL"],
        ),
        (
            "bad PromQL",
            p.url().to_owned(),
            "Invalid",
            vec!["HTTP 400", "bad_data", "parse error"],
        ),
    ];
    for (what, url, kind, words) in cases {
        let (broker, audit) = broker_with(
            PrometheusOptions {
                timeout: Some(Duration::from_secs(1)),
                ..url_options(&url)
            },
            defaults(),
        );
        let (rt, _d) = metrics_skill(broker).await;
        let promql = if what == "bad PromQL" {
            "sum(rate(x[5m]"
        } else {
            "up"
        };
        let answer = call(&rt, json!({"op": "query", "promql": promql})).await;
        let (got, message) = error_of(&answer);
        assert_eq!(got, kind, "{what}: {message}");
        assert!(
            message.contains(&url),
            "{what}: the message names the URL: {message}"
        );
        for word in words {
            assert!(
                message.contains(word),
                "{what}: {word:?} missing from: {message}"
            );
        }
        let lines = prometheus_lines(&audit);
        assert_eq!(lines.len(), 1, "{what}: {lines:#?}");
        assert!(lines[0]["error"].is_string(), "{what}: {}", lines[0]);
        // The same host still serves the next call.
        let ok = rt
            .call("human:test", "hostile.ok", "{}")
            .await
            .unwrap_or_else(|e| panic!("{what}: the host stopped serving: {e}"));
        assert_eq!(ok, json!({"ok": true}));
    }
}

#[tokio::test]
async fn policy_decides_each_query_before_anything_is_sent() {
    let Some(p) = real_prometheus() else { return };
    let rec = Recorder::start(200, captured_answer(p));
    let policies = tempfile::tempdir().unwrap();
    std::fs::write(
        policies.path().join("no-payments.rego"),
        r#"package guardian
import rego.v1
deny contains {"rule": "no-payments-metrics", "reason": "payments usage is private"} if {
	input.resource.group == "metrics.guardian.dev"
	contains(input.name, "payments")
}
"#,
    )
    .unwrap();
    let policy = Policy::load(Some(policies.path())).unwrap();
    let (broker, audit) = broker_with(url_options(&rec.url), policy);
    let (rt, _d) = metrics_skill(broker).await;
    let answer = call(
        &rt,
        json!({"op": "query", "promql": r#"container_memory_working_set_bytes{namespace="payments"}"#}),
    )
    .await;
    let (kind, message) = error_of(&answer);
    assert_eq!(kind, "Denied", "{message}");
    assert!(message.contains("no-payments-metrics"), "{message}");
    assert!(message.contains("payments usage is private"), "{message}");
    assert!(
        rec.requests().is_empty(),
        "a denied query reached Prometheus"
    );
    let lines = prometheus_lines(&audit);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["decision"], "deny");
    assert_eq!(lines[0]["rule"], "no-payments-metrics");
    assert!(lines[0]["name"].as_str().unwrap().contains("payments"));
    // Another query is allowed and reaches it.
    let answer = call(&rt, json!({"op": "query", "promql": SHOP_MEMORY})).await;
    assert!(answer["data"].is_object(), "{answer}");
    assert_eq!(rec.requests().len(), 1);

    // Without the metrics grant the skill is refused in the host, audited.
    let (broker, audit) = broker_with(url_options(&rec.url), defaults());
    let dir = tempfile::tempdir().unwrap();
    install_test_skill(dir.path(), "hostile");
    let rt = Runtime::new(
        RuntimeConfig {
            limits: test_limits(),
            cache_dir: None,
            operator_grants: OperatorGrants::default(),
        },
        Some(broker),
    )
    .unwrap();
    assert!(rt.load_dir(dir.path()).await.unwrap().is_empty());
    let answer = call(&rt, json!({"op": "query", "promql": "up"})).await;
    let (kind, message) = error_of(&answer);
    assert_eq!(kind, "Denied");
    assert!(message.contains("metrics = true"), "{message}");
    let lines = prometheus_lines(&audit);
    assert_eq!(lines[0]["rule"], "outside-grants", "{lines:#?}");
    assert_eq!(rec.requests().len(), 1);
}

/// A snapshot of namespace `shop` with two pods, `kubectl top` output for
/// pods and nodes, and PodMetrics of a third pod as `kubectl get --raw`
/// prints them.
fn metrics_snapshot(dir: &Path) -> PathBuf {
    let snap = dir.join("snap");
    std::fs::create_dir_all(&snap).unwrap();
    let pod = |name: &str, app: &str| {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": "shop", "labels": {"app": app},
                            "creationTimestamp": "2026-12-01T00:00:00Z"},
               "spec": {"containers": [{"name": "app", "image": "nginx:1"}]},
               "status": {"phase": "Running"}})
    };
    let pods = json!({"apiVersion": "v1", "kind": "List", "items": [
        pod("web-1", "web"), pod("web-2", "web"), pod("db-0", "db"), pod("cache-0", "cache"),
    ]});
    std::fs::write(snap.join("shop-pods.json"), pods.to_string()).unwrap();
    std::fs::write(
        snap.join("nodes.json"),
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1",
               "creationTimestamp": "2026-12-01T00:00:00Z"},
               "status": {"capacity": {"cpu": "4", "memory": "8Gi"},
                          "allocatable": {"cpu": "4", "memory": "8Gi"}}})
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        snap.join(guardian_broker::metrics::TOP_PODS_FILE),
        "NAMESPACE   POD       NAME     CPU(cores)   MEMORY(bytes)   \n\
         shop        web-1     app      250m         300Mi           \n\
         shop        web-1     envoy    12m          40Mi            \n\
         shop        web-2     app      1          512Mi           \n\
         shop        db-0      app      3m           1Gi             \n",
    )
    .unwrap();
    std::fs::write(
        snap.join("top-nodes.txt"),
        "NAME     CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)   \nnode-1   1310m        32%      2048Mi          25%         \n",
    )
    .unwrap();
    std::fs::write(
        snap.join("pod-metrics.json"),
        json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {},
               "items": [{"metadata": {"name": "cache-0", "namespace": "shop", "labels": {"app": "cache"},
                                       "creationTimestamp": "2026-12-07T01:00:00Z"},
                          "timestamp": "2026-12-07T01:00:00Z", "window": "15s",
                          "containers": [{"name": "app", "usage": {"cpu": "12345678n", "memory": "52428Ki"}}]}]})
        .to_string(),
    )
    .unwrap();
    snap
}

#[tokio::test]
async fn pod_usage_answers_from_a_snapshots_top_text_and_pod_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let snap = metrics_snapshot(dir.path());
    let (broker, audit) = audited_broker(&snap);
    let (rt, _d) = metrics_skill(broker).await;
    let answer = call(&rt, json!({"op": "pod-usage", "namespace": "shop"})).await;
    let usage = answer["usage"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"));
    let row = |pod: &str, container: &str| {
        usage
            .iter()
            .find(|u| u["pod"] == pod && u["container"] == container)
            .unwrap_or_else(|| panic!("{pod}/{container} missing: {answer}"))
            .clone()
    };
    assert_eq!(usage.len(), 5, "{answer}");
    assert_eq!(row("web-1", "app")["cpu_millicores"], 250);
    assert_eq!(row("web-1", "app")["memory_bytes"], 300 * MIB);
    assert_eq!(row("web-1", "envoy")["cpu_millicores"], 12);
    assert_eq!(row("web-2", "app")["cpu_millicores"], 1000);
    assert_eq!(row("db-0", "app")["memory_bytes"], 1 << 30);
    // From PodMetrics: 12345678n rounds up to 13m, as kubectl top shows it.
    assert_eq!(row("cache-0", "app")["cpu_millicores"], 13);
    assert_eq!(row("cache-0", "app")["memory_bytes"], 52428 * 1024);
    // The pods' labels select (metrics-server copies them; so does the loader).
    let answer = call(
        &rt,
        json!({"op": "pod-usage", "namespace": "shop", "selector": "app=web"}),
    )
    .await;
    let pods: Vec<&str> = answer["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["pod"].as_str().unwrap())
        .collect();
    assert_eq!(pods, ["web-1", "web-1", "web-2"], "{answer}");
    assert!(
        audit_lines(&audit)
            .iter()
            .any(|l| l["resource"] == "metrics.k8s.io/v1beta1/pods" && l["verb"] == "list"),
        "pod usage is an audited list of pods.metrics.k8s.io"
    );

    // A snapshot without any pod metrics says so, and how to add them.
    let (broker, _) = audited_broker(&example_snapshot());
    let (rt, _d) = metrics_skill(broker).await;
    let answer = call(&rt, json!({"op": "pod-usage", "namespace": "staging"})).await;
    let (kind, message) = error_of(&answer);
    assert_eq!(kind, "Unavailable", "{message}");
    assert!(message.contains("holds no pod metrics"), "{message}");
    assert!(message.contains("top-pods.txt"), "{message}");
}

/// `guardian snapshot serve DIR` on a free port, killed on drop.
struct Served {
    child: Child,
    url: String,
    _cache: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(snapshot: &Path) -> Served {
    use std::io::BufRead;
    let cache = tempfile::tempdir().unwrap();
    let mut child = guardian(cache.path())
        .args(["snapshot", "serve"])
        .arg(snapshot)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(at) = line.find("on http://") {
                let _ = tx.send(line[at + 3..].trim().to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("snapshot serve prints its address");
    Served {
        child,
        url,
        _cache: cache,
    }
}

fn kubectl(server: &str, args: &[&str]) -> (bool, String, String) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("kubectl")
        .arg("--server")
        .arg(server)
        .args(args)
        .env("KUBECONFIG", "/dev/null")
        .env("HOME", home.path())
        .output()
        .expect("kubectl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The cells of each row of a kubectl table.
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[test]
fn kubectl_top_reads_a_served_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let snap = metrics_snapshot(dir.path());
    let served = serve(&snap);
    let (ok, out, err) = kubectl(&served.url, &["top", "pods", "-n", "shop", "--containers"]);
    assert!(ok, "kubectl top pods failed: {err}");
    let table = rows(&out);
    assert_eq!(
        table[0],
        ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"],
        "{out}"
    );
    for row in [
        ["web-1", "app", "250m", "300Mi"],
        ["web-1", "envoy", "12m", "40Mi"],
        ["web-2", "app", "1000m", "512Mi"],
        ["db-0", "app", "3m", "1024Mi"],
        ["cache-0", "app", "13m", "51Mi"],
    ] {
        assert!(
            table.iter().any(|r| r == &row),
            "{row:?} missing from:\n{out}"
        );
    }
    let (ok, out, err) = kubectl(&served.url, &["top", "pods", "-n", "shop", "-l", "app=web"]);
    assert!(ok, "{err}");
    let table = rows(&out);
    assert_eq!(table.len(), 3, "{out}");
    assert!(
        table.iter().any(|r| r == &["web-1", "262m", "340Mi"]),
        "{out}"
    );
    let (ok, out, err) = kubectl(&served.url, &["top", "nodes"]);
    assert!(ok, "kubectl top nodes failed: {err}");
    assert!(
        rows(&out)
            .iter()
            .any(|r| r[0] == "node-1" && r[1] == "1310m" && r[3] == "2048Mi"),
        "{out}"
    );

    // A snapshot without metrics is a cluster without metrics-server.
    let bare = serve(&example_snapshot());
    let (ok, _, err) = kubectl(&bare.url, &["top", "pods", "-n", "staging"]);
    assert!(!ok);
    assert!(err.contains("Metrics API not available"), "{err}");
}

#[tokio::test]
async fn on_a_live_cluster_metrics_server_absence_and_prometheus_discovery_are_said() {
    let Some(k) = guardian_tests::kube::control_plane() else {
        return;
    };
    let ns = k.namespace("prom");
    let dir = tempfile::tempdir().unwrap();
    let audit = Arc::new(Audit::memory());
    let broker = Broker::live(
        &guardian_broker::ClusterOptions {
            kubeconfig: Some(k.kubeconfig(dir.path())),
            ..Default::default()
        },
        Arc::new(defaults()),
        audit.clone(),
    )
    .await
    .unwrap();
    let cx = CallContext::host("test");
    let err = broker.pod_usage(&cx, Some(&ns), None).await.unwrap_err();
    assert_eq!(err.kind_str(), "unavailable", "{err}");
    assert!(
        err.message()
            .contains("metrics.k8s.io is not served by this cluster"),
        "{err}"
    );
    assert!(
        err.message().contains("is metrics-server installed?"),
        "{err}"
    );

    // A prometheus-operated Service (as the Prometheus Operator makes it):
    // found, and since its cluster DNS name does not resolve out here,
    // reached through the API server's service proxy.
    k.apply(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: prometheus-operated, namespace: {ns}}}\n\
         spec:\n  selector: {{app.kubernetes.io/name: prometheus}}\n  ports:\n  \
         - {{name: reloader-web, port: 8080}}\n  - {{name: web, port: 9090}}\n"
    ));
    let found = broker.clone().with_prometheus(PrometheusOptions::default());
    let err = found.prometheus_query(&cx, "up", None).await.unwrap_err();
    let proxy = format!("/api/v1/namespaces/{ns}/services/prometheus-operated:9090/proxy");
    assert!(err.message().contains(&proxy), "{err}");
    assert!(
        err.message()
            .contains(&format!("Service {ns}/prometheus-operated")),
        "{err}"
    );
    let lines = audit_lines(&audit);
    assert!(
        lines.iter().any(|l| l["tool"] == "metrics-discovery"
            && l["resource"] == "/v1/services"
            && l["caller"] == "system:guardian"),
        "discovery is audited: {lines:#?}"
    );
    // `guardian doctor` says which source it chose and whether it answered.
    let env = crate::cluster::Env::new(k);
    let skills = metrics_skill_dir(dir.path());
    let out = env
        .guardian(&["--skills-dir", skills.to_str().unwrap(), "doctor"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let metrics_line = stdout
        .lines()
        .find(|l| l.starts_with("Metrics:"))
        .unwrap_or_else(|| panic!("no Metrics line:\n{stdout}"));
    assert!(
        metrics_line.contains("prometheus-operated"),
        "{metrics_line}"
    );
    assert!(metrics_line.contains("did not answer"), "{metrics_line}");
    assert!(stdout.contains("metrics.k8s.io: not served"), "{stdout}");
    // A skill granted metrics needs to list pods.metrics.k8s.io.
    assert!(
        rows(&stdout)
            .iter()
            .any(|r| r[..] == ["hostile", "pods.metrics.k8s.io", "list", "yes"]),
        "{stdout}"
    );
    k.run(&["delete", "service", "-n", &ns, "prometheus-operated"]);

    // metrics.k8s.io served (here by a stand-in CRD in that group, as
    // metrics-server's aggregated API cannot run without kubelets): pod
    // usage is its PodMetrics, read through the broker's list path.
    k.apply(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  \
         name: pods.metrics.k8s.io\n  annotations: {api-approved.kubernetes.io: \"unapproved, \
         a test stand-in for metrics-server\"}\nspec:\n  group: metrics.k8s.io\n  names: \
         {kind: PodMetrics, plural: pods, singular: podmetrics, listKind: PodMetricsList}\n  \
         scope: Namespaced\n  versions:\n  - name: v1beta1\n    served: true\n    storage: \
         true\n    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: \
         true}}\n",
    );
    k.wait_established("pods.metrics.k8s.io");
    let metrics = |name: &str, app: &str, cpu: &str, memory: &str| {
        format!(
            "apiVersion: metrics.k8s.io/v1beta1\nkind: PodMetrics\nmetadata: {{name: {name}, \
             namespace: {ns}, labels: {{app: {app}}}}}\ntimestamp: \"2026-12-07T01:00:00Z\"\n\
             window: 15s\ncontainers:\n- name: app\n  usage: {{cpu: {cpu}, memory: {memory}}}\n"
        )
    };
    k.apply(&metrics("web-1", "web", "250000000n", "300Mi"));
    k.apply(&metrics("db-0", "db", "3m", "1Gi"));
    // A new session (discovery is cached for a while within one).
    let broker = Broker::live(
        &guardian_broker::ClusterOptions {
            kubeconfig: Some(k.kubeconfig(dir.path())),
            ..Default::default()
        },
        Arc::new(defaults()),
        audit.clone(),
    )
    .await
    .unwrap();
    let usage = broker.pod_usage(&cx, Some(&ns), None).await;
    let web = broker.pod_usage(&cx, Some(&ns), Some("app=web")).await;
    k.run(&["delete", "crd", "pods.metrics.k8s.io"]);
    let usage = usage.unwrap();
    assert_eq!(usage.len(), 2, "{usage:?}");
    let web = web.unwrap();
    assert_eq!(web.len(), 1, "{web:?}");
    assert_eq!(
        (
            web[0].pod.as_str(),
            web[0].cpu_millicores,
            web[0].memory_bytes
        ),
        ("web-1", 250, 300 * MIB)
    );
    assert!(
        audit_lines(&audit)
            .iter()
            .any(|l| l["resource"] == "metrics.k8s.io/v1beta1/pods"
                && l["namespace"] == ns.as_str()
                && l["decision"] == "allow"),
        "pod usage is an audited list"
    );
}

/// The hostile skill with `metrics = true`, installed under `dir`.
fn metrics_skill_dir(dir: &Path) -> PathBuf {
    let skills = dir.join("skills");
    let folder = install_test_skill(&skills, "hostile");
    let path = folder.join("skill.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("metrics = false", "metrics = true");
    let sha = sha256_hex(&std::fs::read(folder.join("skill.wasm")).unwrap());
    std::fs::write(&path, with_sha(&text, &sha)).unwrap();
    skills
}

#[test]
fn the_prometheus_flags_and_config_section_reach_the_session() {
    let Some(p) = real_prometheus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let skills = metrics_skill_dir(dir.path());
    let token = dir.path().join("token");
    std::fs::write(&token, "cli-token-6d2e\n").unwrap();
    let rec = Recorder::start(200, captured_answer(p));
    let audit = dir.path().join("audit.jsonl");
    let call = |extra: &[&str], input: Value| {
        let mut cmd = guardian(&dir.path().join("cache"));
        cmd.arg("--skills-dir")
            .arg(&skills)
            .arg("--audit")
            .arg(&audit)
            .args(extra)
            .args([
                "skills",
                "call",
                "hostile.metrics",
                "--snapshot",
                "examples/staging",
            ])
            .arg("--input")
            .arg(input.to_string());
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    // Flags: the URL and the token file.
    let answer = call(
        &[
            "--prometheus",
            &rec.url,
            "--prometheus-token-file",
            token.to_str().unwrap(),
        ],
        json!({"op": "query", "promql": SHOP_MEMORY, "at": at(600)}),
    );
    assert_eq!(by_pod(&answer["data"]).len(), 2, "{answer}");
    assert!(
        rec.requests()[0]
            .to_ascii_lowercase()
            .contains("authorization: bearer cli-token-6d2e"),
        "{}",
        rec.requests()[0]
    );
    let logged = std::fs::read_to_string(&audit).unwrap();
    assert!(
        logged.contains("\"rule\":\"prometheus-queries\""),
        "{logged}"
    );
    assert!(!logged.contains("cli-token-6d2e"));

    // The config file: the URL and a bound; the flag wins over its URL.
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "prometheus:\n  url: {}\n  max_series: 1\n  timeout_seconds: 5\n",
            p.url()
        ),
    )
    .unwrap();
    let config_flag = ["--config", config.to_str().unwrap()];
    let answer = call(
        &config_flag,
        json!({"op": "query", "promql": SHOP_MEMORY, "at": at(600)}),
    );
    let (kind, message) = error_of(&answer);
    assert_eq!(kind, "TooLarge", "{message}");
    assert!(message.contains("more than 1 series"), "{message}");
    assert!(message.contains(p.url()), "{message}");
    let answer = call(
        &[&config_flag[..], &["--prometheus", &rec.url]].concat(),
        json!({"op": "query", "promql": r#"up{job="x"}"#}),
    );
    let (kind, message) = error_of(&answer);
    assert_eq!(
        kind, "TooLarge",
        "max_series still from the config: {message}"
    );
    assert!(message.contains(&rec.url), "{message}");
    // A config with an unknown key is refused, naming it.
    std::fs::write(&config, "prometheus:\n  uri: http://x\n").unwrap();
    let out = guardian(&dir.path().join("cache"))
        .args(["--config", config.to_str().unwrap(), "skills", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown field `uri`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A real Prometheus serving HTTPS with a self-signed certificate for
/// 127.0.0.1 (its TSDB empty: `vector(1)` needs no data), killed on drop.
struct TlsPrometheus {
    child: Child,
    url: String,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for TlsPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_prometheus() -> Option<TlsPrometheus> {
    let bin = prometheus::bin_dir()?;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A CA, and a server certificate for 127.0.0.1 signed by it.
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=prometheus",
            "-keyout",
            "key.pem",
            "-out",
            "server.csr",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "cert.pem",
        ],
    ];
    for args in steps {
        let made = Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .ok()?;
        if !made.status.success() {
            eprintln!(
                "skipped: openssl {args:?}: {}",
                String::from_utf8_lossy(&made.stderr)
            );
            return None;
        }
    }
    std::fs::write(
        d.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            d.join("cert.pem").display(),
            d.join("key.pem").display()
        ),
    )
    .unwrap();
    std::fs::write(d.join("prometheus.yml"), "global: {}\n").unwrap();
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new(bin.join("prometheus"))
        .arg(format!(
            "--config.file={}",
            d.join("prometheus.yml").display()
        ))
        .arg(format!("--storage.tsdb.path={}", d.join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--web.config.file={}", d.join("web.yml").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Some(TlsPrometheus {
        child,
        url: format!("https://127.0.0.1:{port}"),
        ca: d.join("ca.pem"),
        _dir: dir,
    })
}

#[tokio::test]
async fn a_ca_file_verifies_an_https_prometheus() {
    if !Prometheus::available() {
        return;
    }
    let Some(p) = tls_prometheus() else { return };
    let cx = CallContext::host("test");
    let (trusting, _) = broker_with(
        PrometheusOptions {
            ca_file: Some(p.ca.clone()),
            ..url_options(&p.url)
        },
        defaults(),
    );
    // Until it is up (a fresh server takes a moment), then it answers.
    let mut answer = Err(String::new());
    for _ in 0..120 {
        answer = trusting
            .prometheus_query(&cx, "vector(1)", None)
            .await
            .map_err(|e| e.to_string());
        if answer.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let data: Value = serde_json::from_str(&answer.expect("HTTPS with the CA file")).unwrap();
    assert_eq!(data["result"][0]["value"][1], "1");
    // Without the CA the certificate is refused, and the message says how.
    let (untrusting, _) = broker_with(url_options(&p.url), defaults());
    let err = untrusting
        .prometheus_query(&cx, "vector(1)", None)
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "unavailable", "{err}");
    assert!(err.message().contains("TLS failed"), "{err}");
    assert!(err.message().contains("--prometheus-ca-file"), "{err}");
    assert!(err.message().contains(&p.url), "{err}");
    // A CA file that holds no certificate is refused naming it.
    let bad = p._dir.path().join("not-a-ca.pem");
    std::fs::write(&bad, "hello").unwrap();
    let (broken, _) = broker_with(
        PrometheusOptions {
            ca_file: Some(bad.clone()),
            ..url_options(&p.url)
        },
        defaults(),
    );
    let err = broken
        .prometheus_query(&cx, "vector(1)", None)
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "invalid", "{err}");
    assert!(err.message().contains(&bad.display().to_string()), "{err}");
}
