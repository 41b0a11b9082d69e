//! Broker cost: one allowed call (policy decision + audit + snapshot answer)
//! and a 5,000-pod list through the broker (policy, redaction, JSON text as a
//! skill receives it).
//! `cargo bench -p guardian-broker --bench broker`

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use guardian_broker::{Audit, Broker, CallContext, GrantSets, ListQuery, Policy, Snapshot};
use serde_json::{Value, json};

/// The snapshot backend never waits, so polling once is enough.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("snapshot futures are always ready"),
    }
}

fn pods(n: usize) -> Value {
    let items: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "metadata": {
                    "name": format!("app-{i}"), "namespace": format!("ns-{}", i % 50),
                    "uid": format!("0000-{i}"), "resourceVersion": i.to_string(),
                    "labels": {"app": format!("app-{}", i % 7), "pod-template-hash": "abcdef1234"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "app-abcdef1234", "uid": "5cdc", "controller": true}]
                },
                "spec": {
                    "nodeName": format!("node-{}", i % 20),
                    "containers": [{"name": "app", "image": "example/app:1", "env": [{"name": "LOG_LEVEL", "value": "info"}],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}],
                    "volumes": [{"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]
                },
                "status": {
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "image": "example/app:1",
                        "imageID": "docker.io/example/app@sha256:64a01af809be4bebbea0c34078701b533c4b25b79903419a993a593174c16e81",
                        "state": {"running": {"startedAt": "2026-11-23T13:29:30Z"}}}]
                }
            })
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "PodList", "items": items})
}

fn main() {
    let (snapshot, _) = Snapshot::from_values("bench", vec![pods(5000)]).unwrap();
    let pods_kind = snapshot.table().resolve("pods").unwrap();
    let broker = Broker::from_snapshot(
        snapshot,
        Arc::new(Policy::defaults().unwrap()),
        Arc::new(Audit::Off),
    );
    let cx = CallContext {
        caller: "agent:loop".into(),
        skill: "cluster".into(),
        tool: "get".into(),
        grants: GrantSets {
            read: vec!["pods".into()],
            propose: vec![],
        },
        scope: Default::default(),
    };

    // One allowed get: policy decision + the snapshot's answer + redaction.
    let mut s: Vec<Duration> = Vec::new();
    for i in 0..20_000 {
        let name = format!("app-{}", i % 5000);
        let ns = format!("ns-{}", (i % 5000) % 50);
        let t = Instant::now();
        std::hint::black_box(ready(broker.get(&cx, &pods_kind, Some(&ns), &name)).unwrap());
        s.push(t.elapsed());
    }
    report("broker get (policy allow + answer)", &mut s);

    // Listing 5,000 pods as a skill receives them.
    let mut s: Vec<Duration> = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let list = ready(broker.list_shared(&cx, &pods_kind, &ListQuery::default())).unwrap();
        let text = serde_json::to_string(&list).unwrap();
        std::hint::black_box(text);
        s.push(t.elapsed());
    }
    report("list 5,000 pods through the broker, as JSON text", &mut s);
    let mut s: Vec<Duration> = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        std::hint::black_box(
            ready(broker.list_shared(&cx, &pods_kind, &ListQuery::default())).unwrap(),
        );
        s.push(t.elapsed());
    }
    report(
        "list 5,000 pods through the broker (shared, before encoding)",
        &mut s,
    );
}

fn report(what: &str, s: &mut [Duration]) {
    s.sort();
    let p = |q: usize| s[(s.len() * q / 100).min(s.len() - 1)].as_nanos() as f64 / 1e3;
    println!(
        "{what}: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs ({} runs)",
        p(50),
        p(90),
        p(99),
        s.len()
    );
}
