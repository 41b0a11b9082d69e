//! The right-sizing test data, checked against a real Prometheus before any
//! of Guardian's code uses it: the history `guardian_tests::usage_history`
//! writes, loaded with promtool, answers the contract's per-namespace
//! queries and KRR's own per-workload queries with the numbers the
//! generator computed independently from the samples it wrote.

use std::collections::BTreeMap;

use guardian_tests::prometheus::{Options, Prometheus};
use guardian_tests::usage_history::{
    self, Advice, CPU_TOLERANCE, DAY, Eval, Expected, History, MEMORY_TOLERANCE, MIB, Shape,
    queries,
};
use serde_json::Value;

/// `(namespace, pod, container) -> value` of a vector result.
fn by_pod(data: &Value) -> BTreeMap<(String, String, String), f64> {
    assert_eq!(data["resultType"], "vector", "{data}");
    data["result"]
        .as_array()
        .expect("a result")
        .iter()
        .map(|r| {
            let m = &r["metric"];
            let key = |k: &str| m[k].as_str().unwrap_or("").to_owned();
            let v: f64 = r["value"][1].as_str().unwrap().parse().unwrap();
            ((key("namespace"), key("pod"), key("container")), v)
        })
        .collect()
}

fn close(a: f64, b: f64, relative: f64) -> bool {
    (a - b).abs() <= relative * a.abs().max(b.abs()).max(1e-12)
}

/// Every per-pod number of `expected` equals what the contract's
/// per-namespace queries return from `p` at `at`, to `relative`.
fn check_namespace_queries(
    p: &Prometheus,
    ns: &str,
    at: f64,
    expected: &[Expected],
    window: &str,
    relative: f64,
) {
    let [(_, cpu), (_, mem), (_, points)] = queries(ns, window, "5m", 0.95);
    let cpu = by_pod(&p.query(&cpu, Some(at)).unwrap());
    let mem = by_pod(&p.query(&mem, Some(at)).unwrap());
    let points = by_pod(&p.query(&points, Some(at)).unwrap());
    let mut seen = 0;
    for e in expected {
        let mut total = 0.0;
        for (pod, p95, peak) in &e.per_pod {
            let key = (ns.to_owned(), pod.clone(), e.container.clone());
            match p95 {
                Some(want) => {
                    let got = cpu[&key];
                    assert!(
                        close(got, *want, relative),
                        "{key:?} CPU: Prometheus {got}, computed {want}"
                    );
                }
                None => assert!(!cpu.contains_key(&key), "{key:?}: no CPU rate expected"),
            }
            let (got, want) = (mem[&key], peak.expect("a peak"));
            assert!(
                close(got, want, relative),
                "{key:?} memory: Prometheus {got}, computed {want}"
            );
            total += points[&key];
            seen += 1;
        }
        assert_eq!(
            total as u64, e.points,
            "{}/{} points",
            e.workload, e.container
        );
    }
    // Nothing else: the pod cgroup (container="") and sandbox
    // (container="POD") series are filtered out by the selector.
    assert_eq!(mem.len(), seen, "{mem:?}");
    assert_eq!(points.len(), seen);
}

#[test]
fn the_standard_history_answers_the_contract_queries_with_the_computed_numbers() {
    let Some(s) = usage_history::standard() else {
        return;
    };
    let (h, p, ns) = (&s.history, s.prometheus, s.namespace.as_str());
    let expected = h.expected();
    print_table(&expected);
    // At the end of the history, and later and off the step grid (as a run
    // at "now" queries): exact either way, when computed for that time.
    for at in [h.end, h.end + 7 * 60 + 13] {
        let e = h.expected_at(&Eval::at(at));
        check_namespace_queries(p, ns, at as f64, &e, "14d", 1e-9);
    }
    // rate() off the step grid extrapolates: the model does as Prometheus
    // does, series by series.
    let at = h.end - 3 * 3600 + 17;
    let data = p
        .query(
            &format!("rate(container_cpu_usage_seconds_total{{namespace=\"{ns}\"}}[7m])"),
            Some(at as f64),
        )
        .unwrap();
    let series = h.series();
    let rates = data["result"].as_array().unwrap();
    assert!(rates.len() > 20, "{}", rates.len());
    for r in rates {
        let id = r["metric"]["id"].as_str().unwrap();
        let s = series
            .iter()
            .find(|s| {
                s.name == "container_cpu_usage_seconds_total"
                    && s.labels.iter().any(|(k, v)| *k == "id" && v == id)
            })
            .unwrap();
        let got: f64 = r["value"][1].as_str().unwrap().parse().unwrap();
        let want = usage_history::rate(&s.samples, at, 420).unwrap();
        assert!(
            close(got, want, 1e-9),
            "{id}: Prometheus {got}, computed {want}"
        );
    }
    // The stated tolerance covers a run up to 10 minutes after the end
    // compared with the numbers computed at the end.
    let later = h.expected_at(&Eval::at(h.end + 600));
    for (a, b) in expected.iter().zip(&later) {
        if let (Some(x), Some(y)) = (a.cpu_percentile_cores, b.cpu_percentile_cores) {
            assert!(
                close(x, y, CPU_TOLERANCE),
                "{}: CPU {x} vs {y} 10 minutes later",
                a.workload
            );
        }
        if let (Some(x), Some(y)) = (a.memory_peak_bytes, b.memory_peak_bytes) {
            assert!(
                close(x, y, MEMORY_TOLERANCE),
                "{}: memory {x} vs {y}",
                a.workload
            );
        }
        assert_eq!(a.guardian.status, b.guardian.status);
    }
}

/// KRR v1.29's own queries (PercentileCPULoader, MaxMemoryLoader,
/// CPUAmountLoader: per workload, pods by regex, `by (container, pod,
/// job)`), run on the same Prometheus, reach the computed numbers — the
/// parity the right-sizing skill is measured against.
#[test]
fn krr_queries_per_workload_reach_the_computed_numbers() {
    let Some(s) = usage_history::standard() else {
        return;
    };
    let (h, p, ns) = (&s.history, s.prometheus, s.namespace.as_str());
    let at = Some(h.end as f64);
    for e in h.expected() {
        let pods: Vec<&str> = e.per_pod.iter().map(|(pod, _, _)| pod.as_str()).collect();
        let sel = |m: &str| {
            format!(
                "{m}{{namespace=\"{ns}\",pod=~\"{}\",container=\"{}\"}}",
                pods.join("|"),
                e.container
            )
        };
        let one = |q: String| -> Vec<f64> {
            let data = p.query(&q, at).unwrap();
            data["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["value"][1].as_str().unwrap().parse().unwrap())
                .collect()
        };
        let cpu = one(format!(
            "quantile_over_time(0.95, max(rate({}[5m])) by (container, pod, job)[14d:5m])",
            sel("container_cpu_usage_seconds_total")
        ));
        let mem = one(format!(
            "max_over_time(max({}) by (container, pod, job)[14d:5m])",
            sel("container_memory_working_set_bytes")
        ));
        let count = one(format!(
            "count_over_time(max({}) by (container, pod, job)[14d:5m])",
            sel("container_cpu_usage_seconds_total")
        ));
        let max = |v: &[f64]| v.iter().copied().fold(f64::NAN, f64::max);
        let want_cpu = e.cpu_percentile_cores.unwrap();
        assert!(
            close(max(&cpu), want_cpu, 1e-9),
            "{}: {cpu:?} vs {want_cpu}",
            e.workload
        );
        let want_mem = e.memory_peak_bytes.unwrap();
        assert!(
            close(max(&mem), want_mem, 1e-9),
            "{}: {mem:?} vs {want_mem}",
            e.workload
        );
        assert_eq!(count.iter().sum::<f64>() as u64, e.points, "{}", e.workload);
    }
    // KRR's simple strategy on that: the OOM-burst container is lowered
    // below the limit it is being killed at; Guardian must not.
    let burst = h
        .expected()
        .into_iter()
        .find(|e| e.shape == Shape::OomBurst)
        .unwrap();
    let limit = burst.current.memory_limit.unwrap() as f64;
    assert!(matches!(burst.krr.memory, Advice::Value(v) if v < limit));
    assert!(burst.guardian.memory_bytes.unwrap() >= 1.25 * limit);
}

/// What kube-state-metrics says about the workloads: the OOM kills, the
/// owners, the HPA of the seed case.
#[test]
fn kube_state_metrics_series_tell_the_oom_kills_owners_and_hpa() {
    let Some(s) = usage_history::standard() else {
        return;
    };
    let (h, p, ns) = (&s.history, s.prometheus, s.namespace.as_str());
    let at = Some(h.end as f64);
    let q = |q: String| {
        p.query(&q, at).unwrap()["result"]
            .as_array()
            .unwrap()
            .clone()
    };
    let oom = q(format!(
        "max by (pod, container) (max_over_time(kube_pod_container_status_last_terminated_reason{{namespace=\"{ns}\",reason=\"OOMKilled\"}}[14d:5m]))"
    ));
    let mut oom_pods: Vec<String> = oom
        .iter()
        .map(|r| r["metric"]["pod"].as_str().unwrap().to_owned())
        .collect();
    oom_pods.sort();
    let mut want: Vec<String> = h
        .workloads
        .iter()
        .filter(|w| matches!(w.shape, Shape::OomPinned | Shape::OomBurst))
        .flat_map(|w| h.pods(w).into_iter().map(|p| p.name))
        .collect();
    want.sort();
    assert_eq!(oom_pods, want);
    // Restarts within the window: the OOM kills (no extrapolation when
    // the window starts and ends on samples; the counter is flat at the
    // edges).
    let restarts = q(format!(
        "sum by (pod) (max_over_time(kube_pod_container_status_restarts_total{{namespace=\"{ns}\"}}[14d:5m]) - min_over_time(kube_pod_container_status_restarts_total{{namespace=\"{ns}\"}}[14d:5m]))"
    ));
    let total: f64 = restarts
        .iter()
        .map(|r| r["value"][1].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    let kills: u32 = h.expected().iter().map(|e| e.oom_kills).sum();
    assert_eq!(total as u32, kills);
    assert!(kills >= 10, "{kills}");
    // Owners: every pod of the namespace belongs to a ReplicaSet of one of
    // the Deployments.
    let owners = q(format!("kube_pod_owner{{namespace=\"{ns}\"}}"));
    let pods: usize = h.workloads.iter().map(|w| w.replicas as usize).sum();
    assert_eq!(owners.len(), pods);
    for o in &owners {
        let rs = o["metric"]["owner_name"].as_str().unwrap();
        assert!(
            o["metric"]["pod"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{rs}-"))
        );
        assert_eq!(o["metric"]["owner_kind"], "ReplicaSet");
    }
    // The seed case's HPA scales on CPU at 50%, nothing else.
    let hpa = q(format!(
        "kube_horizontalpodautoscaler_spec_target_metric{{namespace=\"{ns}\",horizontalpodautoscaler=\"checkout\"}}"
    ));
    assert_eq!(hpa.len(), 1);
    assert_eq!(hpa[0]["metric"]["horizontalpodautoscaler"], "checkout");
    assert_eq!(hpa[0]["metric"]["metric_name"], "cpu");
    assert_eq!(hpa[0]["value"][1], "50");
    // Requests as kube-state-metrics has them (cores, bytes).
    let req = q(format!(
        "kube_pod_container_resource_requests{{namespace=\"{ns}\",container=\"app\",resource=\"memory\",unit=\"byte\"}}"
    ));
    assert!(
        req.iter()
            .any(|r| r["value"][1] == (512.0 * MIB).to_string().as_str())
    );
}

/// With samples every minute the rates are averages of five one-minute
/// intervals and the 5-minute steps see only every fifth memory sample:
/// computed the same way, the numbers still match.
#[test]
fn one_minute_scrapes_match_too() {
    if !Prometheus::available() {
        return;
    }
    let mut h = History::standard("minute", usage_history::now()).with_interval(60);
    h.span = 2 * DAY + 3600;
    h.workloads
        .retain(|w| matches!(w.shape, Shape::Spiky | Shape::OomPinned | Shape::TooYoung));
    let p = h.start_prometheus(&Options::default()).unwrap();
    let e = Eval {
        window: 2 * DAY,
        ..Eval::at(h.end)
    };
    let expected = h.expected_at(&e);
    check_namespace_queries(&p, "minute", h.end as f64, &expected, "2d", 1e-9);
    // The 5-minute steps miss memory samples between them: the scraped
    // maximum is not always what the queries see.
    let spiky = expected.iter().find(|x| x.shape == Shape::Spiky).unwrap();
    assert!(spiky.memory_peak_bytes.is_some());
}

/// Expected numbers next to each other (for the closing notes).
fn print_table(expected: &[Expected]) {
    let fmt = |a: &Advice, cpu: bool| match a {
        Advice::Value(v) if cpu => format!("{:.0}m", v * 1000.0),
        Advice::Value(v) => format!("{:.0}Mi", v / MIB),
        Advice::NotEnoughData => "not enough data".into(),
        Advice::HpaDetected => "HPA detected".into(),
        Advice::NoData => "no data".into(),
    };
    println!(
        "{:<13} {:<6} {:>4} {:>6} {:>9} {:>9} {:>9} {:>4} | {:>16} {:>16} | {:>16} {:>9} {:>9} {:>9}",
        "workload",
        "cont.",
        "pods",
        "points",
        "p95 CPU",
        "peak mem",
        "mem lim",
        "oom",
        "KRR cpu",
        "KRR mem",
        "Guardian status",
        "cpu",
        "mem",
        "floor"
    );
    for e in expected {
        let g = &e.guardian;
        println!(
            "{:<13} {:<6} {:>4} {:>6} {:>9} {:>9} {:>9} {:>4} | {:>16} {:>16} | {:>16} {:>9} {:>9} {:>9}{}",
            e.workload,
            e.container,
            e.pods,
            e.points,
            e.cpu_percentile_cores
                .map_or("-".into(), |v| format!("{:.2}m", v * 1000.0)),
            e.memory_peak_bytes
                .map_or("-".into(), |v| format!("{:.1}Mi", v / MIB)),
            e.current
                .memory_limit
                .map_or("-".into(), |v| format!("{}Mi", v >> 20)),
            e.oom_kills,
            fmt(&e.krr.cpu, true),
            fmt(&e.krr.memory, false),
            g.status,
            g.cpu_request_m.map_or("-".into(), |v| format!("{v:.2}m")),
            g.memory_bytes
                .map_or("-".into(), |v| format!("{:.1}Mi", v / MIB)),
            g.memory_floor
                .map_or("-".into(), |v| format!("{:.0}Mi", v / MIB)),
            [
                (
                    g.hpa_memory_proposal,
                    "  + HPA: add a memory metric or raise the limit"
                ),
                (g.hpa_at_max, "  + HPA at maxReplicas"),
                (
                    g.hpa_target_without_request,
                    "  + HPA target without a request"
                ),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, note)| *note)
            .collect::<String>()
        );
    }
}

/// The same workloads as objects: in the snapshot folder, and in the real
/// API server with the owner chain Pod → ReplicaSet → Deployment intact
/// (uids as the server gave them), the OOMKilled last state and the HPAs.
#[test]
fn the_same_workloads_exist_as_objects_with_their_owner_chain() {
    let Some(s) = usage_history::standard() else {
        return;
    };
    let (h, ns) = (&s.history, s.namespace.as_str());
    let pods: Vec<String> = h
        .workloads
        .iter()
        .flat_map(|w| h.pods(w).into_iter().map(|p| p.name))
        .collect();
    let dump = guardian_tests::kube::read_dump(&s.snapshot);
    assert_eq!(dump.objects.len(), h.objects().len());
    let mut in_snapshot: Vec<String> = dump
        .objects
        .iter()
        .filter(|o| o["kind"] == "Pod")
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    in_snapshot.sort();
    let mut want = pods.clone();
    want.sort();
    assert_eq!(in_snapshot, want);
    // Guardian's own loader reads the folder without a problem, and
    // diagnose sees the OOM kills in it.
    drop(crate::support::snapshot_broker(&s.snapshot));
    let cache = tempfile::tempdir().unwrap();
    let out = crate::support::guardian(cache.path())
        .args(["diagnose", "-A", "--snapshot"])
        .arg(&s.snapshot)
        .args(["-o", "json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("OOMKilled") && text.contains("reports-"),
        "diagnose on the snapshot: {text:.2000}"
    );

    let Some(k) = s.live else {
        return;
    };
    let get = |kind: &str| -> Vec<Value> {
        let out = k.run(&["get", kind, "-n", ns, "-o", "json"]);
        serde_json::from_str::<Value>(&out).unwrap()["items"]
            .as_array()
            .unwrap()
            .clone()
    };
    let (deployments, replicasets, live_pods) =
        (get("deployments"), get("replicasets"), get("pods"));
    let mut names: Vec<String> = live_pods
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, want);
    for pod in &live_pods {
        let owner = &pod["metadata"]["ownerReferences"][0];
        let rs = replicasets
            .iter()
            .find(|r| r["metadata"]["uid"] == owner["uid"])
            .unwrap_or_else(|| panic!("{}: its ReplicaSet by uid", pod["metadata"]["name"]));
        let rs_owner = &rs["metadata"]["ownerReferences"][0];
        assert!(
            deployments
                .iter()
                .any(|d| d["metadata"]["uid"] == rs_owner["uid"]),
            "{}: its Deployment by uid",
            rs["metadata"]["name"]
        );
    }
    let reports = live_pods
        .iter()
        .find(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("reports-")
        })
        .unwrap();
    let status = &reports["status"]["containerStatuses"][0];
    assert_eq!(status["lastState"]["terminated"]["reason"], "OOMKilled");
    assert!(status["restartCount"].as_u64().unwrap() >= 5);
    let hpa: Value = serde_json::from_str(&k.run(&[
        "get",
        "hpa.v2.autoscaling",
        "checkout",
        "-n",
        ns,
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(
        hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        50
    );
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "checkout");
}
