//! The analysis on objects and Prometheus answers written as the API server
//! and Prometheus write them.

use serde_json::{Value, json};

use super::*;
use crate::cluster::Lists;
use crate::prom;

const MI: f64 = 1024.0 * 1024.0;

fn knobs() -> Knobs {
    Knobs {
        cpu_percentile: 95.0,
        memory_buffer_percent: 15.0,
        min_points: 100,
        min_hours: None,
        min_cpu_millicores: 10,
        min_memory_mib: 100,
        cpu_limit: false,
        window: "14d".into(),
        step: "5m".into(),
    }
}

/// An instant-query answer as Prometheus' `data`: one series per (pod,
/// container), with the labels cAdvisor's series keep after `max by`.
fn vector(samples: &[(&str, &str, f64)], extra: &[(&str, &str)]) -> Value {
    let result: Vec<Value> = samples
        .iter()
        .map(|(pod, container, v)| {
            let mut metric = json!({"namespace": "shop", "pod": pod, "container": container});
            for (k, val) in extra {
                metric[*k] = json!(val);
            }
            json!({"metric": metric, "value": [1765000000.123, v.to_string()]})
        })
        .collect();
    json!({"resultType": "vector", "result": result})
}

/// The usage of `samples` (pod, container, cpu cores, memory bytes, points).
fn usage(samples: &[(&str, &str, f64, f64, f64)]) -> Usage {
    let cpu: Vec<_> = samples.iter().map(|s| (s.0, s.1, s.2)).collect();
    let mem: Vec<_> = samples.iter().map(|s| (s.0, s.1, s.3)).collect();
    let pts: Vec<_> = samples.iter().map(|s| (s.0, s.1, s.4)).collect();
    // The point-count query answers both metrics in one vector.
    let mut points = vector(&pts, &[("resource", "cpu")]);
    let mem_points = vector(&pts, &[("resource", "memory")]);
    points["result"]
        .as_array_mut()
        .unwrap()
        .extend(mem_points["result"].as_array().unwrap().iter().cloned());
    Usage {
        cpu: prom::vector(&vector(&cpu, &[]), None).unwrap(),
        memory: prom::vector(&vector(&mem, &[]), None).unwrap(),
        cpu_points: prom::vector(&points, Some(("resource", "cpu"))).unwrap(),
        memory_points: prom::vector(&points, Some(("resource", "memory"))).unwrap(),
        ..Default::default()
    }
}

fn deployment(name: &str, containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "namespace": "shop", "resourceVersion": "7"},
           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"containers": containers}}}})
}

fn rs(name: &str, deployment: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name,
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment,
                             "controller": true}]}})
}

fn pod(name: &str, owner_kind: &str, owner: &str, containers: &[&str]) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name,
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner_kind, "name": owner, "controller": true}]},
        "spec": {"containers": containers.iter().map(|c| json!({"name": c})).collect::<Vec<_>>()},
        "status": {"phase": "Running"}})
}

fn app(resources: Value) -> Value {
    json!([{"name": "app", "image": "shop/checkout:1.4", "resources": resources}])
}

fn cpu_hpa(max: u64, current: u64, util: f64) -> Value {
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"},
                 "minReplicas": 2, "maxReplicas": max,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                              "target": {"type": "Utilization", "averageUtilization": 50}}}]},
        "status": {"currentReplicas": current, "desiredReplicas": current,
                   "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu",
                       "current": {"averageUtilization": util}}}]}})
}

const PODS: [&str; 3] = [
    "checkout-7d9f8b6c5d-b2x4q",
    "checkout-7d9f8b6c5d-h7k9m",
    "checkout-7d9f8b6c5d-w5z2p",
];

fn checkout(resources: Value, hpas: Vec<Value>, pods: Vec<Value>) -> Namespace {
    Namespace::build(
        "shop",
        Lists {
            deployments: vec![deployment("checkout", app(resources))],
            replicasets: vec![rs("checkout-7d9f8b6c5d", "checkout")],
            pods,
            hpas,
            ..Default::default()
        },
    )
}

fn running() -> Vec<Value> {
    PODS.iter()
        .map(|p| pod(p, "ReplicaSet", "checkout-7d9f8b6c5d", &["app"]))
        .collect()
}

fn finding<'a>(a: &'a Analysis, reason: &str) -> &'a Finding {
    a.findings
        .iter()
        .find(|f| f.reason == reason)
        .unwrap_or_else(|| {
            panic!(
                "no {reason} finding in {:?}",
                a.findings.iter().map(|f| &f.id).collect::<Vec<_>>()
            )
        })
}

#[test]
fn waste_is_an_info_finding_with_a_pinned_patch() {
    let ns = checkout(
        json!({"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}),
        vec![],
        running(),
    );
    let u = usage(&[
        (PODS[0], "app", 0.1183, 200.0 * MI, 4032.0),
        (PODS[1], "app", 0.0912, 260.4 * MI, 4032.0),
        (PODS[2], "app", 0.1001, 230.0 * MI, 4032.0),
    ]);
    let a = analyze(&ns, &u, &knobs(), &Scope::default());
    assert_eq!(a.recommendations.len(), 1);
    let r = &a.recommendations[0];
    assert_eq!(r.status, "ok");
    assert_eq!(r.workload.kind, "Deployment");
    assert_eq!(r.workload.name, "checkout");
    assert_eq!(r.recommended.cpu_request.as_deref(), Some("119m"));
    assert_eq!(r.recommended.cpu_limit, None);
    assert_eq!(r.recommended.memory_request.as_deref(), Some("300Mi"));
    assert_eq!(r.recommended.memory_limit.as_deref(), Some("300Mi"));
    assert_eq!(r.evidence.points, 3 * 4032);
    assert_eq!(r.evidence.pods, 3);
    // Three replicas: (119 − 500) × 3.
    assert_eq!(r.cpu_change_millicores, -381 * 3);
    assert_eq!(r.memory_change_bytes, (300 - 512) * 1024 * 1024 * 3);

    let f = finding(&a, "OverProvisioned");
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.id, "overprovisioned/deployment/shop/checkout/app");
    let fix = &f.fixes[0];
    assert_eq!(fix.target.kind, "Deployment");
    let c = "/spec/template/spec/containers/0";
    assert_eq!(
        fix.json_patch.as_ref().unwrap(),
        &json!([
            {"op": "test", "path": format!("{c}/name"), "value": "app"},
            {"op": "test", "path": format!("{c}/resources/requests/cpu"), "value": "500m"},
            {"op": "replace", "path": format!("{c}/resources/requests/cpu"), "value": "119m"},
            {"op": "test", "path": format!("{c}/resources/requests/memory"), "value": "512Mi"},
            {"op": "replace", "path": format!("{c}/resources/requests/memory"), "value": "300Mi"},
            {"op": "test", "path": format!("{c}/resources/limits/memory"), "value": "1Gi"},
            {"op": "replace", "path": format!("{c}/resources/limits/memory"), "value": "300Mi"},
        ])
    );
    let diff = fix.yaml_diff.as_deref().unwrap();
    assert!(diff.contains("-            cpu: 500m\n"), "{diff}");
    assert!(diff.contains("+            cpu: 119m\n"), "{diff}");
    assert!(fix.kubectl.as_deref().unwrap().starts_with(
        "kubectl patch deployments.apps checkout -n shop --type=json -p '[{\"op\":\"test\""
    ));
    // The patch is pinned: on a container renamed since, it does not apply.
    let mut renamed = ns.workloads[&("Deployment".into(), "checkout".into())].object();
    renamed["spec"]["template"]["spec"]["containers"][0]["name"] = json!("web");
    assert!(fix::apply(&renamed, fix.json_patch.as_ref().unwrap()).is_err());
    // Nor on changed requests.
    let mut changed = ns.workloads[&("Deployment".into(), "checkout".into())].object();
    changed["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] =
        json!("1");
    assert!(fix::apply(&changed, fix.json_patch.as_ref().unwrap()).is_err());
}

#[test]
fn the_seed_case_yields_the_hpa_finding() {
    // Memory at 95% of its limit while the HPA scales on CPU at 50%.
    let ns = checkout(
        json!({"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "512Mi"}}),
        vec![cpu_hpa(10, 3, 30.0)],
        running(),
    );
    let u = usage(&[
        (PODS[0], "app", 0.150, 486.4 * MI, 4032.0),
        (PODS[1], "app", 0.140, 470.0 * MI, 4032.0),
        (PODS[2], "app", 0.145, 480.0 * MI, 4032.0),
    ]);
    let a = analyze(&ns, &u, &knobs(), &Scope::default());
    let f = finding(&a, "HPAIgnoresMemory");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.object.kind, "HorizontalPodAutoscaler");
    assert!(f.cause.contains("on CPU only"), "{}", f.cause);
    assert!(
        f.cause.contains("95% of its 512.0Mi memory limit"),
        "{}",
        f.cause
    );
    // Fix 1: a memory metric on the HPA, after the CPU one.
    let hpa_fix = &f.fixes[0];
    assert_eq!(hpa_fix.target.kind, "HorizontalPodAutoscaler");
    let patch = hpa_fix.json_patch.as_ref().unwrap();
    assert_eq!(
        patch[0],
        json!({"op": "test", "path": "/spec/scaleTargetRef/name", "value": "checkout"})
    );
    assert_eq!(
        patch[1],
        json!({"op": "test", "path": "/spec/metrics/0/type", "value": "Resource"})
    );
    assert_eq!(
        patch[2],
        json!({"op": "add", "path": "/spec/metrics/1", "value": {"type": "Resource", "resource": {
            "name": "memory", "target": {"type": "AverageValue", "averageValue": "410Mi"}}}})
    );
    assert!(hpa_fix.dry_run.is_none(), "applies to the HPA as read");
    // Fix 2: raise the limit, on the Deployment.
    let limit_fix = &f.fixes[1];
    assert_eq!(limit_fix.target.kind, "Deployment");
    assert!(
        limit_fix.json_patch.as_ref().unwrap().as_array().unwrap().contains(
            &json!({"op": "replace", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": "640Mi"})
        )
    );
    // The container itself: pinned at the limit, an error, above the limit.
    let c = finding(&a, "MemoryLimitTooLow");
    assert_eq!(c.severity, Severity::Error);
    let r = &a.recommendations[0];
    assert!(r.evidence.memory_at_limit);
    assert_eq!(r.recommended.memory_limit.as_deref(), Some("640Mi"));
    // What the CPU change does to the HPA: 500m → 150m, 30% → 100%.
    let hpa = r.hpa.as_ref().unwrap();
    let note = hpa.note.as_deref().unwrap();
    assert!(note.contains("3.33× the utilization"), "{note}");
    assert!(
        note.contains("it would want 6 replicas instead of 3"),
        "{note}"
    );
    assert_eq!(hpa.metrics, vec!["cpu: 50% utilization (current 30%)"]);
}

#[test]
fn an_hpa_scaling_on_memory_too_is_not_the_seed_case() {
    let mut h = cpu_hpa(10, 3, 30.0);
    h["spec"]["metrics"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "Resource", "resource": {
        "name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}}}));
    let ns = checkout(
        json!({"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "512Mi"}}),
        vec![h],
        running(),
    );
    let u = usage(&[(PODS[0], "app", 0.150, 486.4 * MI, 4032.0)]);
    let a = analyze(&ns, &u, &knobs(), &Scope::default());
    assert!(a.findings.iter().all(|f| f.reason != "HPAIgnoresMemory"));
}

#[test]
fn oom_killed_memory_is_never_recommended_below_the_limit() {
    let mut pods = running();
    pods[1]["status"]["containerStatuses"] = json!([{"name": "app", "restartCount": 5,
        "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]);
    let ns = checkout(
        json!({"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}}),
        vec![],
        pods,
    );
    // The working set the cgroup reported before each kill: lower than the
    // limit. KRR would recommend ceil(180 × 1.15) = 207Mi.
    let u = usage(&[
        (PODS[0], "app", 0.1, 150.0 * MI, 4032.0),
        (PODS[1], "app", 0.1, 180.0 * MI, 4032.0),
    ]);
    let a = analyze(&ns, &u, &knobs(), &Scope::default());
    let r = &a.recommendations[0];
    assert_eq!(r.evidence.oom_kills, 1);
    assert_eq!(r.evidence.restarts, 5);
    assert_eq!(r.recommended.memory_limit.as_deref(), Some("320Mi"));
    assert!(crate::units::parse_quantity("320Mi").unwrap() > 256.0 * MI);
    let f = finding(&a, "MemoryLimitTooLow");
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.root_cause
            .as_deref()
            .unwrap()
            .contains("OOM-killed 1 time(s) at its 256Mi memory limit")
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.text.starts_with("OOMKilled 1 time(s)"))
    );

    // Seen only by kube-state-metrics (the pod was replaced since).
    let ns = checkout(
        json!({"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}}),
        vec![],
        running(),
    );
    let mut u = usage(&[(PODS[0], "app", 0.1, 150.0 * MI, 4032.0)]);
    u.oom = prom::vector(
        &vector(&[("checkout-7d9f8b6c5d-q4n8r", "app", 1.0)], &[]),
        None,
    )
    .unwrap();
    let a = analyze(&ns, &u, &knobs(), &Scope::default());
    assert_eq!(a.recommendations[0].evidence.oom_kills, 1);
    assert_eq!(
        a.recommendations[0].recommended.memory_limit.as_deref(),
        Some("320Mi")
    );
}

#[test]
fn too_little_data_is_not_enough_data_and_no_finding() {
    let ns = checkout(json!({"requests": {"cpu": "500m"}}), vec![], running());
    let u = usage(&[
        (PODS[0], "app", 0.1, 100.0 * MI, 40.0),
        (PODS[1], "app", 0.1, 100.0 * MI, 59.0),
    ]);
    let a = analyze(&ns, &u, &knobs(), &Scope::default());
    let r = &a.recommendations[0];
    assert_eq!(r.status, "not_enough_data");
    assert_eq!(r.evidence.points, 99);
    assert_eq!(r.recommended, Resources::default());
    assert!(a.findings.is_empty());
    assert!(
        r.why.iter().any(|w| w.contains("99 data points over 14d")),
        "{:?}",
        r.why
    );
}

#[test]
fn without_a_metrics_source_every_container_is_not_enough_data() {
    let ns = checkout(json!({"requests": {"cpu": "500m"}}), vec![], running());
    let mut u = Usage {
        unavailable: Some("unavailable: no metrics source is configured".into()),
        ..Default::default()
    };
    u.current
        .insert((PODS[0].into(), "app".into()), (87, 200 * 1024 * 1024));
    let a = analyze(&ns, &u, &knobs(), &Scope::default());
    let r = &a.recommendations[0];
    assert_eq!(r.status, "not_enough_data");
    assert!(
        r.why
            .iter()
            .any(|w| w.contains("no metrics source is configured"))
    );
    let cu = r.evidence.current_usage.as_ref().unwrap();
    assert_eq!((cu.cpu_millicores, cu.pods), (87, 1));
    assert!(a.findings.is_empty());
    assert_eq!(r.cpu_change_millicores, 0);
}

#[test]
fn sidecars_native_and_injected() {
    let mut d = deployment(
        "checkout",
        json!([{"name": "app", "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}}]),
    );
    d["spec"]["template"]["spec"]["initContainers"] = json!([
        {"name": "migrate", "resources": {"requests": {"cpu": "1"}}},
        {"name": "log-shipper", "restartPolicy": "Always",
         "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "512Mi"}}}
    ]);
    let mut p = pod(PODS[0], "ReplicaSet", "checkout-7d9f8b6c5d", &["app"]);
    p["spec"]["containers"].as_array_mut().unwrap().push(json!({"name": "istio-proxy",
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}}}));
    let ns = Namespace::build(
        "shop",
        Lists {
            deployments: vec![d],
            replicasets: vec![rs("checkout-7d9f8b6c5d", "checkout")],
            pods: vec![p],
            ..Default::default()
        },
    );
    let u = usage(&[
        (PODS[0], "app", 0.09, 90.0 * MI, 4032.0),
        (PODS[0], "log-shipper", 0.02, 40.0 * MI, 4032.0),
        (PODS[0], "istio-proxy", 0.03, 60.0 * MI, 4032.0),
        (PODS[0], "migrate", 0.9, 50.0 * MI, 3.0),
    ]);
    let a = analyze(&ns, &u, &knobs(), &Scope::default());
    let by = |c: &str| a.recommendations.iter().find(|r| r.container == c).unwrap();
    // A plain init container: too few points (it ran at start only).
    let migrate = by("migrate");
    assert!(migrate.init && !migrate.sidecar);
    assert_eq!(migrate.status, "not_enough_data");
    assert!(migrate.why[0].starts_with("init container"));
    // The native sidecar: recommended, patched in initContainers.
    let shipper = by("log-shipper");
    assert!(shipper.init && shipper.sidecar);
    assert_eq!(shipper.status, "ok");
    let f = a
        .findings
        .iter()
        .find(|f| f.id.ends_with("/log-shipper"))
        .unwrap();
    let patch = f.fixes[0].json_patch.as_ref().unwrap();
    assert_eq!(
        patch[0],
        json!({"op": "test", "path": "/spec/template/spec/initContainers/1/name", "value": "log-shipper"})
    );
    // The injected proxy: through Istio's annotations on the template.
    let proxy = by("istio-proxy");
    assert!(proxy.injected);
    assert_eq!(proxy.current.memory_limit.as_deref(), Some("1Gi"));
    let f = a
        .findings
        .iter()
        .find(|f| f.id.ends_with("/istio-proxy"))
        .unwrap();
    assert_eq!(
        f.fixes[0].json_patch.as_ref().unwrap(),
        &json!([{"op": "add", "path": "/spec/template/metadata/annotations", "value": {
            "sidecar.istio.io/proxyCPU": "30m",
            "sidecar.istio.io/proxyMemory": "100Mi",
            "sidecar.istio.io/proxyMemoryLimit": "100Mi"}}])
    );
    assert!(
        f.fixes[0].dry_run.is_none(),
        "applies to the object as read"
    );
}

#[test]
fn cronjob_patches_the_job_template_and_keeps_its_history() {
    let cj = json!({"apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "report", "namespace": "shop"},
        "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "run", "resources": {"requests": {"cpu": "2", "memory": "2Gi"}}}]}}}}}});
    let ns = Namespace::build(
        "shop",
        Lists {
            cronjobs: vec![cj],
            ..Default::default()
        },
    );
    // The Jobs and their pods are gone (history limits): the history maps
    // through the CronJob's name.
    let u = usage(&[
        ("report-29412000-5rd2x", "run", 0.8, 700.0 * MI, 60.0),
        ("report-29412060-k2s7w", "run", 0.9, 750.0 * MI, 60.0),
        ("reporter-29412060-k2s7w", "run", 9.0, 9000.0 * MI, 60.0),
    ]);
    let a = analyze(&ns, &u, &knobs(), &Scope::default());
    let r = &a.recommendations[0];
    assert_eq!(r.workload.kind, "CronJob");
    assert_eq!(r.evidence.pods, 2);
    assert_eq!(r.evidence.points, 120);
    assert_eq!(r.recommended.cpu_request.as_deref(), Some("900m"));
    assert_eq!(r.recommended.memory_request.as_deref(), Some("863Mi"));
    let f = &a.findings[0];
    let patch = f.fixes[0].json_patch.as_ref().unwrap();
    let p = "/spec/jobTemplate/spec/template/spec/containers/0";
    assert_eq!(
        patch[0],
        json!({"op": "test", "path": format!("{p}/name"), "value": "run"})
    );
    assert_eq!(
        patch[1],
        json!({"op": "test", "path": format!("{p}/resources/requests/cpu"), "value": "2"})
    );
    assert_eq!(
        patch[2],
        json!({"op": "replace", "path": format!("{p}/resources/requests/cpu"), "value": "900m"})
    );
    // No limits section: added whole.
    assert_eq!(
        patch[5],
        json!({"op": "add", "path": format!("{p}/resources/limits"), "value": {"memory": "863Mi"}})
    );
    assert!(
        f.fixes[0].dry_run.is_none(),
        "applies to the object as read"
    );
}

#[test]
fn hpa_at_max_and_without_requests() {
    let ns = checkout(
        json!({"limits": {"memory": "1Gi"}}),
        vec![cpu_hpa(4, 4, 90.0)],
        running(),
    );
    let u = usage(&[(PODS[0], "app", 0.2, 300.0 * MI, 4032.0)]);
    let a = analyze(&ns, &u, &knobs(), &Scope::default());
    let at_max = finding(&a, "HPAAtMaxReplicas");
    assert_eq!(at_max.severity, Severity::Warning);
    // 4 × 90 / 50 = 7.2 → 8 wanted; + 25% → 10.
    let patch = at_max.fixes[0].json_patch.as_ref().unwrap();
    assert_eq!(
        patch[2],
        json!({"op": "replace", "path": "/spec/maxReplicas", "value": 10})
    );
    let missing = finding(&a, "HPAMissingRequests");
    assert!(
        missing.cause.contains("has no cpu request"),
        "{}",
        missing.cause
    );
    // The fix sets the recommended request on the container.
    let patch = missing.fixes[0].json_patch.as_ref().unwrap();
    assert_eq!(
        patch[1],
        json!({"op": "add", "path": "/spec/template/spec/containers/0/resources/requests",
               "value": {"cpu": "200m", "memory": "345Mi"}})
    );
}

#[test]
fn unchanged_is_no_finding() {
    let ns = checkout(
        json!({"requests": {"cpu": "100m", "memory": "288Mi"}, "limits": {"memory": "288Mi"}}),
        vec![],
        running(),
    );
    let u = usage(&[(PODS[0], "app", 0.098, 250.0 * MI, 4032.0)]);
    let a = analyze(&ns, &u, &knobs(), &Scope::default());
    assert_eq!(a.recommendations[0].status, "unchanged");
    assert!(a.findings.is_empty());
    assert_eq!(a.recommendations[0].cpu_change_millicores, 0);
}

#[test]
fn no_series_is_no_data() {
    let ns = checkout(json!({}), vec![], running());
    let a = analyze(&ns, &usage(&[]), &knobs(), &Scope::default());
    assert_eq!(a.recommendations[0].status, "no_data");
}

/// The findings serialize as `docs/diagnostics.md` documents them: the same
/// keys, the same enums.
#[test]
fn findings_are_diagnostics_format() {
    let ns = checkout(
        json!({"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "512Mi"}}),
        vec![cpu_hpa(10, 3, 30.0)],
        running(),
    );
    let u = usage(&[(PODS[0], "app", 0.150, 486.4 * MI, 4032.0)]);
    let a = analyze(&ns, &u, &knobs(), &Scope::default());
    let doc = include_str!("../../../../docs/diagnostics.md");
    let start = doc.find("```json\n").unwrap() + 8;
    let end = start + doc[start..].find("```").unwrap();
    let documented: Value = serde_json::from_str(&doc[start..end].replace('…', "")).unwrap();
    let want = &documented["findings"][0];
    for f in &a.findings {
        let got = serde_json::to_value(f).unwrap();
        for (key, _) in want.as_object().unwrap() {
            // `owner` is null in the example; absent when unset.
            if key != "owner" && key != "pods" {
                assert!(got.get(key).is_some(), "{key} missing from {got}");
            }
        }
        for key in got.as_object().unwrap().keys() {
            assert!(want.get(key).is_some(), "{key} is not documented");
        }
        for e in got["evidence"].as_array().unwrap() {
            let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["ref", "source", "text"]);
            assert!(
                ["status", "event", "log", "config", "spec", "metrics"]
                    .contains(&e["source"].as_str().unwrap())
            );
        }
        for fix in got["fixes"].as_array().unwrap() {
            for key in fix.as_object().unwrap().keys() {
                assert!(
                    want["fixes"][0].get(key).is_some(),
                    "fix.{key} is not documented"
                );
            }
        }
        assert!(
            ["info", "warning", "error", "critical"].contains(&got["severity"].as_str().unwrap())
        );
    }
}
