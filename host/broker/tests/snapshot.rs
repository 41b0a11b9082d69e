//! The broker over a snapshot: what leaves it is redacted (Secret values
//! included), and shared list answers match owned ones, at scale too.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use guardian_broker::{
    Audit, Broker, BrokerError, CallContext, GrantSets, ListQuery, Policy, ResourceKind,
    SharedList, Snapshot, redact,
};
use serde_json::{Value, json};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/real-dumps/staging/snapshot"
);

/// A minimal executor: a broker over a snapshot never actually waits, so
/// parking the thread until woken is all that is needed.
fn block_on<F: Future>(future: F) -> F::Output {
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

fn fixture() -> Snapshot {
    let (snapshot, problems) = Snapshot::load(Path::new(FIXTURE)).expect("fixture loads");
    assert!(problems.is_empty(), "unexpected problems: {problems:#?}");
    snapshot
}

fn kind(snapshot: &Snapshot, name: &str) -> ResourceKind {
    snapshot
        .table()
        .resolve(name)
        .unwrap_or_else(|e| panic!("resolve {name}: {e}"))
}

fn staging(query: ListQuery) -> ListQuery {
    ListQuery {
        namespace: Some("staging".into()),
        ..query
    }
}

/// `get` through the snapshot's own API.
fn get_obj(
    snapshot: &Snapshot,
    kind: &ResourceKind,
    ns: Option<&str>,
    name: &str,
) -> Result<Value, BrokerError> {
    snapshot
        .get_object(kind, ns, name)
        .map(|o| Value::clone(&o))
}

fn pod_json(ns: &str, name: &str, rv: &str, containers: &[&str], labels: Value) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|c| json!({"name": c, "image": format!("example/{c}:1")}))
        .collect();
    json!({
        "metadata": {"name": name, "namespace": ns, "resourceVersion": rv, "labels": labels},
        "spec": {"containers": containers, "nodeName": "node-1"},
        "status": {"phase": "Running"}
    })
}

fn cx() -> CallContext {
    CallContext {
        caller: "human:test".into(),
        skill: "test".into(),
        tool: "test".into(),
        grants: GrantSets {
            read: vec!["*".into()],
            propose: vec!["*".into()],
        },
        scope: Default::default(),
    }
}

/// A broker with the default policy and no audit log.
fn broker_over(snapshot: Snapshot) -> Broker {
    Broker::from_snapshot(
        snapshot,
        Arc::new(Policy::defaults().expect("default policy")),
        Arc::new(Audit::Off),
    )
}

#[test]
fn real_dump_secret_values_never_leave_the_broker() {
    let backend = fixture();
    let secrets = kind(&backend, "secrets");
    // The snapshot holds Secret values redacted from the moment it loads…
    let raw = get_obj(&backend, &secrets, Some("staging"), "auth-db").expect("secret");
    assert_eq!(raw["data"]["user"], redact::marker(b"auth"));

    // …and the broker never hands out anything else.
    let broker = broker_over(backend);
    let secret = block_on(broker.get(&cx(), &secrets, Some("staging"), "auth-db")).expect("get");
    let data = secret["data"].as_object().expect("data");
    let mut keys: Vec<&String> = data.keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["pass", "user"],
        "keys are kept: the missing `password` key is visible"
    );
    assert_eq!(data["user"], "<redacted: 4 bytes, sha256:bdf49c3c>");
    assert_eq!(data["pass"], "<redacted: 27 bytes, sha256:9091175d>");

    let listed =
        block_on(broker.list(&cx(), &secrets, &staging(ListQuery::default()))).expect("list");
    assert_eq!(listed["items"][0]["data"], secret["data"]);
    let text = listed.to_string();
    assert!(!text.contains("YXV0aA=="), "{text}");
    assert!(!text.contains("ZXhhbXBsZS1ub3QtYS1yZWFsLXBhc3N3b3Jk"));

    // Dry-run output is an object leaving the broker too.
    let patch = json!([{"op": "add", "path": "/data/password", "value": "c2VjcmV0"}]);
    let patched =
        block_on(broker.dry_run_patch(&cx(), &secrets, Some("staging"), "auth-db", &patch))
            .expect("dry run");
    assert_eq!(patched["data"]["password"], redact::marker(b"secret"));
}

#[test]
fn listing_5000_pods_through_the_broker() {
    // A realistic pod (~3 KB of JSON) repeated 5,000 times across 50 namespaces.
    let pods: Vec<Value> = (0..5000)
        .map(|i| {
            let mut pod = pod_json(
                &format!("ns-{}", i % 50),
                &format!("app-{i}"),
                &i.to_string(),
                &["app", "sidecar"],
                json!({"app": format!("app-{}", i % 7), "pod-template-hash": "abcdef1234", "tier": "backend"}),
            );
            pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "app-abcdef1234", "uid": "5cdcb534-422b-4c50-9410-a8ca90fc9079", "controller": true}]);
            pod["spec"]["volumes"] = json!([{"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}, {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}]);
            pod["status"]["conditions"] = json!([
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-23T13:30:00Z"},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-11-23T13:30:00Z"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-23T13:29:00Z"}
            ]);
            pod["status"]["containerStatuses"] = json!([
                {"name": "app", "ready": true, "restartCount": 0, "image": "example/app:1", "imageID": "docker.io/example/app@sha256:64a01af809be4bebbea0c34078701b533c4b25b79903419a993a593174c16e81", "containerID": "containerd://a11bacaca79d435c8c85b2f0f13a333246ab204aa45c4d109451d71c7cac95ab", "state": {"running": {"startedAt": "2026-11-23T13:29:30Z"}}},
                {"name": "sidecar", "ready": true, "restartCount": 0, "image": "example/sidecar:1", "imageID": "docker.io/example/sidecar@sha256:64a01af809be4bebbea0c34078701b533c4b25b79903419a993a593174c16e81", "containerID": "containerd://a11bacaca79d435c8c85b2f0f13a333246ab204aa45c4d109451d71c7cac95ab", "state": {"running": {"startedAt": "2026-11-23T13:29:30Z"}}}
            ]);
            pod
        })
        .collect();
    let list_value = json!({"apiVersion": "v1", "kind": "PodList", "items": pods});
    let (backend, _) = Snapshot::from_values("5k", vec![list_value]).expect("load");
    assert_eq!(backend.object_count(), 5000);
    let pods_kind = kind(&backend, "pods");
    let broker = broker_over(backend);

    // Correctness at scale; the latency of this path is measured by a
    // benchmark, not asserted here.
    let shared =
        block_on(broker.list_shared(&cx(), &pods_kind, &ListQuery::default())).expect("list");
    assert_eq!(shared.items.len(), 5000);
    let owned = block_on(broker.list(&cx(), &pods_kind, &ListQuery::default())).expect("list");
    assert_eq!(owned["items"].as_array().map(Vec::len), Some(5000));
    assert_eq!(
        serde_json::to_value(&shared).expect("serialize"),
        owned,
        "shared and owned lists serialize the same"
    );

    let start = Instant::now();
    let selected = block_on(broker.list(
        &cx(),
        &pods_kind,
        &ListQuery {
            namespace: Some("ns-7".into()),
            label_selector: Some("app=app-0".into()),
            ..Default::default()
        },
    ))
    .expect("list");
    eprintln!("selective list: {:?}", start.elapsed());
    assert!(!selected["items"].as_array().is_none_or(Vec::is_empty));
}

#[test]
fn shared_lists_match_owned_lists_and_redact_copy_on_write() {
    let backend = fixture();
    let secrets = kind(&backend, "secrets");
    let pods = kind(&backend, "pods");
    let broker = broker_over(backend.clone());

    for (k, query) in [
        (&pods, ListQuery::default()),
        (
            &pods,
            ListQuery {
                limit: Some(2),
                ..Default::default()
            },
        ),
        (&secrets, staging(ListQuery::default())),
    ] {
        let owned = block_on(broker.list(&cx(), k, &query)).expect("list");
        let shared = block_on(broker.list_shared(&cx(), k, &query)).expect("list_shared");
        assert_eq!(serde_json::to_value(&shared).expect("serialize"), owned);
        assert_eq!(shared.clone().into_value(), owned);
        assert_eq!(SharedList::from_value(owned.clone()).into_value(), owned);
    }

    let shared =
        block_on(broker.list_shared(&cx(), &secrets, &ListQuery::default())).expect("list");
    assert_eq!(
        shared.items[0].to_value()["data"]["user"],
        redact::marker(b"auth")
    );
    // The backend's own copy was redacted at load (at rest).
    let raw = get_obj(&backend, &secrets, Some("staging"), "auth-db").expect("get");
    assert_eq!(raw["data"]["user"], redact::marker(b"auth"));
}
