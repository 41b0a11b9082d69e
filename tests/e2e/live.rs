//! The live backend over real HTTP, through the broker's public API.
//!
//! Two servers, both real HTTP on loopback:
//! - `guardian snapshot serve examples/staging` — a Kubernetes API endpoint
//!   over a snapshot. A broker over it (`Broker::live`, kube::Client) must
//!   answer every call exactly as a broker over the same folder
//!   (`Broker::snapshot`) does, and `guardian snapshot capture` from it must
//!   round-trip.
//! - a small scripted API server in this file, for what a snapshot cannot
//!   play: a 403 and a 401 from the authorizer, SelfSubjectAccessReview
//!   answers for `guardian doctor`, and recording the impersonation headers
//!   the client sends.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use std::sync::Arc;

use guardian_broker::live::rbac::Permission;
use guardian_broker::{
    Audit, Broker, BrokerError, CallContext, ClusterOptions, GrantSets, ListQuery, LogQuery,
    ObjectRef, Policy, Snapshot, redact,
};
use serde_json::{Value, json};

use crate::scripted::{Received, Scripted};
use crate::serve::{Killed, Serve, closed_port, write_kubeconfig};
use crate::support::*;

fn policy() -> Arc<Policy> {
    Arc::new(Policy::defaults().expect("default policy"))
}

/// A broker over the cluster a kubeconfig names.
async fn connect(kubeconfig: &Path, context: Option<&str>) -> Broker {
    Broker::live(
        &ClusterOptions {
            kubeconfig: Some(kubeconfig.to_path_buf()),
            context: context.map(str::to_string),
            ..ClusterOptions::default()
        },
        policy(),
        Arc::new(Audit::Off),
    )
    .await
    .expect("connect")
}

/// A broker over a snapshot folder.
fn load(path: &Path) -> Broker {
    let (broker, problems) =
        Broker::snapshot(path, policy(), Arc::new(Audit::Off)).expect("snapshot loads");
    assert!(problems.is_empty(), "{}: {problems:?}", path.display());
    broker
}

/// The snapshot store of a folder, read directly (no broker).
fn store(path: &Path) -> Snapshot {
    let (snapshot, problems) = Snapshot::load(path).expect("snapshot loads");
    assert!(problems.is_empty(), "{}: {problems:?}", path.display());
    snapshot
}

/// A person at the CLI with every read and proposal granted.
fn cx() -> CallContext {
    CallContext {
        caller: "human:test".into(),
        skill: "guardian".into(),
        tool: "test".into(),
        grants: GrantSets {
            read: vec!["*".into()],
            propose: vec!["*".into()],
        },
        scope: Default::default(),
    }
}

/// The server URL a broker's description names: `context dead (URL)`.
fn server_of(broker: &Broker) -> String {
    let text = broker.describe();
    let open = text.find('(').expect("(URL)");
    let close = text[open..].find(')').expect("(URL)") + open;
    text[open + 1..close].to_string()
}

fn redacted(mut v: Value) -> Value {
    redact::object(&mut v);
    v
}

/// The items of a list by (namespace, name), redacted.
fn by_key(list: &Value) -> BTreeMap<(String, String), Value> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let text = |p: &str| {
                item.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            (
                (text("/metadata/namespace"), text("/metadata/name")),
                redacted(item.clone()),
            )
        })
        .collect()
}

/// The same class of error, the live one carrying the snapshot's words (the
/// API server's message, wrapped with what was asked).
fn same_error(live: &BrokerError, snap: &BrokerError, what: &str) {
    same_class(live, snap, what);
    assert!(
        live.message().contains(snap.message()),
        "{what}: live {live} / snapshot {snap}"
    );
}

fn same_class(a: &BrokerError, b: &BrokerError, what: &str) {
    assert_eq!(a.kind_str(), b.kind_str(), "{what}: {a} / {b}");
}

// ----- a live broker against snapshot serve -----------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_backend_answers_like_the_snapshot_backend() {
    let serve = Serve::start(&example_snapshot(), false);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &serve.url());
    let live = connect(&kubeconfig, None).await;
    let snap = load(&example_snapshot());
    let kinds = store(&example_snapshot()).table().kinds().to_vec();
    let cx = cx();
    assert_eq!(live.default_namespace(), Some("staging"));
    assert_eq!(snap.default_namespace(), None);
    assert!(
        live.describe().contains(&serve.url()),
        "{}",
        live.describe()
    );

    // api-resources: every kind the snapshot holds is served, same scope.
    let served = live.api_resources(&cx).await.unwrap();
    for kind in kinds {
        let list = snap.list(&cx, &kind, &ListQuery::default()).await.unwrap();
        if list["items"].as_array().unwrap().is_empty() {
            continue;
        }
        let found = served
            .iter()
            .find(|k| k.group == kind.group && k.kind == kind.kind)
            .unwrap_or_else(|| panic!("{} not served", kind.grant_name()));
        assert_eq!(found.namespaced, kind.namespaced, "{}", kind.grant_name());
        assert_eq!(found.plural, kind.plural, "{}", kind.grant_name());

        // list across all namespaces: same objects, Secrets redacted.
        let live_kind = live.resolve(&kind.grant_name()).await.unwrap();
        let live_list = live
            .list(&cx, &live_kind, &ListQuery::default())
            .await
            .unwrap();
        assert_eq!(live_list["kind"], kind.list_kind());
        assert_eq!(
            by_key(&live_list),
            by_key(&list),
            "list {}",
            kind.grant_name()
        );
        // get of each: the same object.
        for (namespace, name) in by_key(&list).into_keys() {
            let ns = (!namespace.is_empty()).then_some(namespace.as_str());
            let got = live.get(&cx, &live_kind, ns, &name).await.unwrap();
            let want = snap.get(&cx, &kind, ns, &name).await.unwrap();
            assert_eq!(
                redacted(got),
                redacted(want),
                "get {} {namespace}/{name}",
                kind.grant_name()
            );
        }
    }

    // Name resolution: kubectl's spellings.
    for (name, want) in [
        ("po", "pods"),
        ("deploy", "deployments.apps"),
        ("Deployment", "deployments.apps"),
        ("ev", "events"),
    ] {
        assert_eq!(
            live.resolve(name).await.unwrap().grant_name(),
            want,
            "{name}"
        );
    }
    assert_eq!(
        live.resolve("nonsense").await.unwrap_err().kind_str(),
        "invalid"
    );

    // Selectors and limit.
    let pods = live.resolve("pods").await.unwrap();
    let snap_pods = snap.resolve("pods").await.unwrap();
    let queries = [
        ListQuery {
            namespace: Some("staging".into()),
            ..ListQuery::default()
        },
        ListQuery {
            namespace: Some("staging".into()),
            label_selector: Some("app in (checkout,payments)".into()),
            ..ListQuery::default()
        },
        ListQuery {
            field_selector: Some("status.phase!=Running".into()),
            ..ListQuery::default()
        },
        ListQuery {
            namespace: Some("staging".into()),
            label_selector: Some("app=catalog".into()),
            field_selector: Some("status.phase=Running".into()),
            ..ListQuery::default()
        },
    ];
    for query in &queries {
        let a = live.list(&cx, &pods, query).await.unwrap();
        let b = snap.list(&cx, &snap_pods, query).await.unwrap();
        assert_eq!(by_key(&a), by_key(&b), "{query:?}");
    }
    let limited = live
        .list(
            &cx,
            &pods,
            &ListQuery {
                limit: Some(2),
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(limited["items"].as_array().unwrap().len(), 2);
    let bad = live
        .list(
            &cx,
            &pods,
            &ListQuery {
                label_selector: Some("app in (".into()),
                ..ListQuery::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(bad.kind_str(), "invalid", "{bad}");

    // Not found: the snapshot's wording.
    let live_err = live
        .get(&cx, &pods, Some("staging"), "nope")
        .await
        .unwrap_err();
    let snap_err = snap
        .get(&cx, &snap_pods, Some("staging"), "nope")
        .await
        .unwrap_err();
    assert_eq!(live_err, snap_err);

    // Logs of every container, current and previous, with and without tail.
    let all_pods = snap
        .list(&cx, &snap_pods, &ListQuery::default())
        .await
        .unwrap();
    let mut compared = 0;
    for pod in all_pods["items"].as_array().unwrap() {
        let ns = pod["metadata"]["namespace"].as_str().unwrap();
        let name = pod["metadata"]["name"].as_str().unwrap();
        let containers: Vec<&str> = pod["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        for container in &containers {
            for previous in [false, true] {
                for tail in [None, Some(2)] {
                    let query = LogQuery {
                        container: Some(container.to_string()),
                        tail_lines: tail,
                        previous,
                    };
                    let what = format!("logs {ns}/{name} -c {container} {query:?}");
                    match (
                        live.logs(&cx, ns, name, &query).await,
                        snap.logs(&cx, ns, name, &query).await,
                    ) {
                        (Ok(a), Ok(b)) => {
                            assert_eq!(a, b, "{what}");
                            compared += 1;
                        }
                        (Err(a), Err(b)) => same_error(&a, &b, &what),
                        (a, b) => panic!("{what}: live {a:?} / snapshot {b:?}"),
                    }
                }
            }
        }
        if containers.len() > 1 {
            let a = live
                .logs(&cx, ns, name, &LogQuery::default())
                .await
                .unwrap_err();
            assert_eq!(a.kind_str(), "invalid", "{a}");
        }
    }
    assert!(compared > 10, "only {compared} logs compared");

    // Events of every Pod and Deployment: same items, same (oldest-first) order.
    for resource in ["pods", "deployments"] {
        let kind = snap.resolve(resource).await.unwrap();
        let list = snap.list(&cx, &kind, &ListQuery::default()).await.unwrap();
        for object in list["items"].as_array().unwrap() {
            let reference = ObjectRef {
                api_version: kind.api_version(),
                kind: kind.kind.clone(),
                namespace: object["metadata"]["namespace"].as_str().map(str::to_string),
                name: object["metadata"]["name"].as_str().unwrap().to_string(),
            };
            let a = live.events(&cx, &reference).await.unwrap();
            let b = snap.events(&cx, &reference).await.unwrap();
            assert_eq!(a["kind"], "EventList");
            assert_eq!(a["items"], b["items"], "events of {reference:?}");
        }
    }

    // Server-side dry-run patch: same object as the in-memory one; a failed
    // test is a conflict on both; nothing is stored.
    let deployments = live.resolve("deployments").await.unwrap();
    let snap_deployments = snap.resolve("deployments").await.unwrap();
    let list = snap
        .list(&cx, &snap_deployments, &ListQuery::default())
        .await
        .unwrap();
    let target = &list["items"][0];
    let (ns, name) = (
        target["metadata"]["namespace"].as_str().unwrap(),
        target["metadata"]["name"].as_str().unwrap(),
    );
    let replicas = target["spec"]["replicas"].clone();
    let patch = json!([
        {"op": "test", "path": "/spec/replicas", "value": replicas},
        {"op": "replace", "path": "/spec/replicas", "value": 7}
    ]);
    let a = live
        .dry_run_patch(&cx, &deployments, Some(ns), name, &patch)
        .await
        .unwrap();
    let b = snap
        .dry_run_patch(&cx, &snap_deployments, Some(ns), name, &patch)
        .await
        .unwrap();
    assert_eq!(a["spec"]["replicas"], 7);
    assert_eq!(a["spec"], b["spec"]);
    assert_eq!(a["metadata"]["name"], b["metadata"]["name"]);
    let stale = json!([
        {"op": "test", "path": "/spec/replicas", "value": 9999},
        {"op": "replace", "path": "/spec/replicas", "value": 1}
    ]);
    let err = live
        .dry_run_patch(&cx, &deployments, Some(ns), name, &stale)
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "conflict", "{err}");
    let err = live
        .dry_run_patch(
            &cx,
            &deployments,
            Some(ns),
            name,
            &json!({"not": "a patch"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "invalid", "{err}");
    let after = live.get(&cx, &deployments, Some(ns), name).await.unwrap();
    assert_eq!(
        after["spec"]["replicas"], replicas,
        "a dry run stored nothing"
    );

    // The server's version; a snapshot has no server to ask.
    let version = live.server_version(&cx).await.unwrap();
    assert!(version.git_version.starts_with('v'), "{version:?}");
    let err = snap.server_version(&cx).await.unwrap_err();
    assert!(err.message().contains("needs a live cluster"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guarded_apply_lands_only_on_the_approved_version() {
    let serve = Serve::start(&example_snapshot(), true);
    let dir = tempfile::tempdir().unwrap();
    let live = connect(&write_kubeconfig(dir.path(), &serve.url()), None).await;
    let cx = cx();
    let deployments = live.resolve("deployments.apps").await.unwrap();
    let list = live
        .list(&cx, &deployments, &ListQuery::default())
        .await
        .unwrap();
    let target = &list["items"][0];
    let (ns, name) = (
        target["metadata"]["namespace"]
            .as_str()
            .unwrap()
            .to_string(),
        target["metadata"]["name"].as_str().unwrap().to_string(),
    );
    let version = target["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let patch = json!([{"op": "replace", "path": "/spec/replicas", "value": 5}]);
    // Policy mints a write permit only for a human-approved action.
    let policy = Policy::defaults().unwrap();
    let request = |action: Option<guardian_policy::ActionRef>| guardian_policy::PolicyInput {
        caller: guardian_policy::Caller::parse("human:alice"),
        verb: "patch".into(),
        resource: guardian_policy::Resource::new("apps", "v1", "deployments", "", "Deployment"),
        namespace: ns.clone(),
        name: name.clone(),
        dry_run: false,
        action,
        grants: guardian_policy::GrantSets {
            read: vec!["*".into()],
            propose: vec!["deployments.apps".into()],
        },
        ..Default::default()
    };
    // Without an approved action the decision forces a dry run: no permit
    // for a real write exists, and an approval by anything but a human
    // does not count.
    let (decision, permit) = policy.decide(request(None));
    assert!(!decision.allow && permit.is_none(), "{decision:?}");
    let approved_by = |approver: &str| guardian_policy::ActionRef {
        id: "act-1".into(),
        approved: true,
        approver: approver.into(),
    };
    let (_, permit) = policy.decide(request(Some(approved_by("agent:loop"))));
    assert!(permit.is_none());
    // The broker refuses such an apply, and nothing is written.
    let alice = CallContext {
        caller: "human:alice".into(),
        grants: GrantSets {
            read: vec!["*".into()],
            propose: vec!["deployments.apps".into()],
        },
        ..cx.clone()
    };
    let err = live
        .apply_approved(
            &alice,
            &approved_by("agent:loop"),
            &deployments,
            Some(&ns),
            &name,
            &patch,
            &version,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "denied", "{err}");
    let stored = live.get(&cx, &deployments, Some(&ns), &name).await.unwrap();
    assert_eq!(stored["metadata"]["resourceVersion"], json!(version));

    let applied = live
        .apply_approved(
            &alice,
            &approved_by("human:alice"),
            &deployments,
            Some(&ns),
            &name,
            &patch,
            &version,
        )
        .await
        .unwrap();
    assert_eq!(applied["spec"]["replicas"], 5);
    assert_ne!(applied["metadata"]["resourceVersion"], json!(version));
    let stored = live.get(&cx, &deployments, Some(&ns), &name).await.unwrap();
    assert_eq!(stored["spec"]["replicas"], 5);
    // The same approval again: the object moved on, so it is refused.
    let again = json!([{"op": "replace", "path": "/spec/replicas", "value": 6}]);
    let err = live
        .apply_approved(
            &alice,
            &approved_by("human:alice"),
            &deployments,
            Some(&ns),
            &name,
            &again,
            &version,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "conflict", "{err}");
    let stored = live.get(&cx, &deployments, Some(&ns), &name).await.unwrap();
    assert_eq!(stored["spec"]["replicas"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_contexts_and_unreachable_servers() {
    let serve = Serve::start(&example_snapshot(), false);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &serve.url());

    // --context picks the context; an unknown one lists the others.
    let err = Broker::live(
        &ClusterOptions {
            kubeconfig: Some(kubeconfig.clone()),
            context: Some("prod".into()),
            ..ClusterOptions::default()
        },
        policy(),
        Arc::new(Audit::Off),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind_str(), "not-found");
    assert!(
        err.message()
            .contains("its contexts: snap, dead, bad-token"),
        "{err}"
    );

    // A context whose server is down: unavailable, naming the URL.
    let dead = connect(&kubeconfig, Some("dead")).await;
    let err = dead.server_version(&cx()).await.unwrap_err();
    assert_eq!(err.kind_str(), "unavailable", "{err}");
    assert!(err.message().contains(&server_of(&dead)), "{err}");
    assert!(err.message().contains("context dead"), "{err}");

    // A missing --kubeconfig says so.
    let err = Broker::live(
        &ClusterOptions {
            kubeconfig: Some(dir.path().join("nope")),
            ..ClusterOptions::default()
        },
        policy(),
        Arc::new(Audit::Off),
    )
    .await
    .unwrap_err();
    assert!(err.message().contains("does not exist"), "{err}");
}

/// Run `openssl` with these arguments in `dir`; panics with its stderr.
fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_a_server_signed_by_a_private_ca() {
    // A private CA, and a server certificate for 127.0.0.1 signed by it.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=guardian-test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        d.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );
    // `openssl s_server -WWW` serves files of its working directory over
    // TLS: `/version` is the file `version`.
    let www = d.join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(
        www.join("version"),
        json!({"gitVersion": "v1.31.0-tls", "platform": "linux/arm64"}).to_string(),
    )
    .unwrap();
    let port = closed_port();
    let _server = Killed(
        std::process::Command::new("openssl")
            .args(["s_server", "-quiet", "-WWW", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(d.join("server.crt"))
            .arg("-key")
            .arg(d.join("server.key"))
            .current_dir(&www)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The CA named by a path relative to the kubeconfig, as kubectl allows.
    let trusted = d.join("trusted");
    std::fs::write(
        &trusted,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: tls\nclusters:\n- name: tls\n  \
             cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority: ca.crt\n\
             users:\n- name: u\n  user: {{}}\ncontexts:\n- name: tls\n  context:\n    \
             cluster: tls\n    user: u\n"
        ),
    )
    .unwrap();
    let live = connect(&trusted, None).await;
    let version = live.server_version(&cx()).await.unwrap();
    assert_eq!(
        (version.git_version.as_str(), version.platform.as_str()),
        ("v1.31.0-tls", "linux/arm64")
    );

    // Without that CA the certificate is refused, and the error says TLS.
    let untrusted = d.join("untrusted");
    std::fs::write(
        &untrusted,
        std::fs::read_to_string(&trusted)
            .unwrap()
            .replace("    certificate-authority: ca.crt\n", ""),
    )
    .unwrap();
    let live = connect(&untrusted, None).await;
    let err = live.server_version(&cx()).await.unwrap_err();
    assert_eq!(err.kind_str(), "unavailable", "{err}");
    assert!(
        err.message()
            .starts_with("TLS with the API server at https://127.0.0.1:"),
        "{err}"
    );
}

// ----- snapshot capture: the round trip ----------------------------------

#[test]
fn capture_from_serve_round_trips() {
    let serve = Serve::start(&example_snapshot(), false);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &serve.url());
    let out = dir.path().join("capture");
    let cache = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let result = guardian(cache.path())
        .args(["snapshot", "capture", "-A", "-o"])
        .arg(&out)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--audit")
        .arg(&audit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "capture failed: {stderr}");
    // Every read of the capture was decided by policy and audited.
    let records: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by = |verb: &str, resource: &str| {
        records
            .iter()
            .filter(|r| r["verb"] == verb && r["resource"] == resource)
            .count()
    };
    assert!(by("list", "/v1/pods") >= 1, "{records:?}");
    assert!(by("list", "/v1/secrets") >= 1, "{records:?}");
    assert!(by("logs", "/v1/pods/log") >= 20, "{records:?}");
    // …the server's version too: nothing reaches the cluster undecided.
    assert_eq!(by("get", "/version"), 1, "{records:?}");
    assert!(records.iter().all(|r| r["tool"] == "snapshot.capture"
        && r["caller"] == "human:cli"
        && r["decision"] == "allow"));
    assert!(stderr.contains("pods:"), "progress on stderr: {stderr}");
    assert!(out.join("capture-report.json").is_file());
    assert!(out.join("nodes.json").is_file());
    assert!(out.join("staging/pods.json").is_file());

    // The capture loads without a single problem…
    let original = store(&example_snapshot());
    let captured = store(&out);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        // …and holds the same objects, kind by kind, Secrets redacted.
        for kind in original.table().kinds().to_vec() {
            let a = original.list_objects(&kind, &ListQuery::default()).unwrap();
            if a["items"].as_array().unwrap().is_empty() {
                continue;
            }
            let b = captured.list_objects(&kind, &ListQuery::default()).unwrap();
            assert_eq!(by_key(&b), by_key(&a), "captured {}", kind.grant_name());
        }
        // …and the same logs, current and previous.
        let pods = original.table().resolve("pods").unwrap();
        let list = original.list_objects(&pods, &ListQuery::default()).unwrap();
        for pod in list["items"].as_array().unwrap() {
            let ns = pod["metadata"]["namespace"].as_str().unwrap();
            let name = pod["metadata"]["name"].as_str().unwrap();
            for c in pod["spec"]["containers"].as_array().unwrap() {
                for previous in [false, true] {
                    let query = LogQuery {
                        container: Some(c["name"].as_str().unwrap().to_string()),
                        previous,
                        ..LogQuery::default()
                    };
                    let what = format!("{ns}/{name} {query:?}");
                    match (
                        original.pod_logs(ns, name, &query),
                        captured.pod_logs(ns, name, &query),
                    ) {
                        (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}"),
                        (Err(a), Err(b)) => same_class(&b, &a, &what),
                        (a, b) => panic!("{what}: original {a:?} / captured {b:?}"),
                    }
                }
            }
        }
    });

    // No Secret value of the original files is anywhere in the capture
    // (read from the files themselves: the snapshot backend may redact at load).
    let mut values = Vec::new();
    for file in ["extra.yaml", "cluster.yaml"] {
        let text = std::fs::read_to_string(example_snapshot().join(file)).unwrap();
        for document in serde_yaml::Deserializer::from_str(&text) {
            let doc: Value = serde::Deserialize::deserialize(document).unwrap();
            let items = doc["items"].as_array().cloned().unwrap_or(vec![doc]);
            for item in items.iter().filter(|i| i["kind"] == "Secret") {
                for field in ["data", "stringData"] {
                    if let Some(map) = item[field].as_object() {
                        values.extend(
                            map.values()
                                .filter_map(Value::as_str)
                                .filter(|v| v.len() >= 8 && !redact::is_marker(v))
                                .map(str::to_string),
                        );
                    }
                }
            }
        }
    }
    assert!(!values.is_empty(), "the example has Secrets with values");
    let everything = read_tree(&out);
    for value in &values {
        assert!(
            !everything.contains(value.as_str()),
            "secret value {value} leaked"
        );
    }
    assert!(everything.contains("<redacted: "), "markers in place");

    // The same findings: a skill reading the capture says what it says
    // reading the original.
    for input in [r#"{"namespace":"staging"}"#, "{}"] {
        let summary = |snapshot: &Path| {
            run_ok(
                guardian(cache.path())
                    .args(["skills", "call", "cluster.summary", "--input", input])
                    .arg("--snapshot")
                    .arg(snapshot),
            )
        };
        let a: Value = serde_json::from_str(&summary(&example_snapshot())).unwrap();
        let b: Value = serde_json::from_str(&summary(&out)).unwrap();
        assert_eq!(a, b, "cluster.summary {input}");
    }

    // …and `guardian diagnose` finds the same problems in the capture as in
    // the original, down to the evidence and the dry-run of every fix.
    let original = diagnose(
        cache.path(),
        &["--snapshot", example_snapshot().to_str().unwrap()],
    );
    let recaptured = diagnose(cache.path(), &["--snapshot", out.to_str().unwrap()]);
    assert!(
        !original["findings"].as_array().unwrap().is_empty(),
        "the example is broken: {original}"
    );
    assert_eq!(recaptured["findings"], original["findings"]);

    // A second capture into the same folder is refused.
    let again = run_err(
        guardian(cache.path())
            .args(["snapshot", "capture", "-A", "-o"])
            .arg(&out)
            .arg("--kubeconfig")
            .arg(&kubeconfig),
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// `guardian diagnose -A -o json` with `args`, parsed.
fn diagnose(cache: &Path, args: &[&str]) -> Value {
    let text = run_ok(
        guardian(cache)
            .args(["diagnose", "-A", "-o", "json"])
            .args(args),
    );
    serde_json::from_str(&text).unwrap()
}

#[test]
fn diagnose_over_http_finds_what_the_snapshot_path_finds() {
    let serve = Serve::start(&example_snapshot(), false);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &serve.url());
    let cache = tempfile::tempdir().unwrap();
    let direct = diagnose(
        cache.path(),
        &["--snapshot", example_snapshot().to_str().unwrap()],
    );
    let live = diagnose(
        cache.path(),
        &["--kubeconfig", kubeconfig.to_str().unwrap()],
    );
    let findings = direct["findings"].as_array().unwrap();
    assert!(
        findings.len() >= 8,
        "the example's eight breakages: {direct}"
    );
    // Every fix was dry-run against the API endpoint, over HTTP.
    let fixes: Vec<&Value> = findings
        .iter()
        .flat_map(|f| f["fixes"].as_array().unwrap())
        .filter(|f| f["json_patch"].is_array())
        .collect();
    assert!(!fixes.is_empty());
    assert_eq!(live["findings"], direct["findings"]);
    assert_eq!(
        live["summary"]["objects_scanned"],
        direct["summary"]["objects_scanned"]
    );
    assert!(
        live["summary"]["source"]
            .as_str()
            .unwrap()
            .contains(&serve.url()),
        "{}",
        live["summary"]
    );
}

fn read_tree(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text.push_str(&read_tree(&path));
        } else {
            text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    text
}

/// An API server whose RBAC grants everything except `pods/log` (the
/// classic: a Role with `pods` but not `pods/log`), and that refuses the
/// token `bad-token`.
fn rbac_script(req: &Received) -> (u16, String) {
    if req
        .header_values("authorization")
        .contains(&"Bearer bad-token")
    {
        return (
            401,
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#.into(),
        );
    }
    let user = req
        .header_values("impersonate-user")
        .first()
        .map_or("kubernetes-admin".to_string(), |u| u.to_string());
    match (req.method.as_str(), req.path.split('?').next().unwrap()) {
        ("GET", "/version") => (
            200,
            json!({"major": "1", "minor": "31", "gitVersion": "v1.31.0-scripted",
                   "platform": "linux/amd64"})
            .to_string(),
        ),
        // Discovery: which resources exist, and their scope.
        ("GET", "/api/v1") => (
            200,
            json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
                 "verbs": ["get", "list"]},
                {"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod",
                 "verbs": ["get"]},
                {"name": "nodes", "singularName": "node", "namespaced": false, "kind": "Node",
                 "verbs": ["get", "list"]}]})
            .to_string(),
        ),
        ("GET", "/apis") => (
            200,
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}).to_string(),
        ),
        ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") => {
            let review: Value = serde_json::from_str(&req.body).unwrap();
            let attributes = &review["spec"]["resourceAttributes"];
            let allowed = attributes["subresource"] != "log";
            let mut answer = review.clone();
            answer["status"] = json!({"allowed": allowed});
            (201, answer.to_string())
        }
        ("GET", path) if path.ends_with("/log") => (
            403,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": format!("pods \"web-1\" is forbidden: User \"{user}\" cannot get resource \"pods/log\" in API group \"\" in the namespace \"staging\""),
                   "reason": "Forbidden", "details": {"name": "web-1", "kind": "pods"},
                   "code": 403})
            .to_string(),
        ),
        _ => (
            404,
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","code":404}"#.into(),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_unauthorized_and_impersonation_over_http() {
    let server = Scripted::start(Box::new(rbac_script));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &server.url());

    // Impersonation: kubectl's --as / --as-group headers reach the server.
    let audit = Arc::new(Audit::memory());
    let live = Broker::live(
        &ClusterOptions {
            kubeconfig: Some(kubeconfig.clone()),
            impersonate_user: Some("system:serviceaccount:guardian:guardian".into()),
            impersonate_groups: vec!["system:serviceaccounts".into(), "sre".into()],
            ..ClusterOptions::default()
        },
        policy(),
        audit.clone(),
    )
    .await
    .unwrap();
    assert!(
        live.describe()
            .ends_with("as system:serviceaccount:guardian:guardian")
    );
    let cx = CallContext::host("doctor");
    let version = live.server_version(&cx).await.unwrap();
    assert_eq!(
        (version.git_version.as_str(), version.platform.as_str()),
        ("v1.31.0-scripted", "linux/amd64")
    );
    let sent = server.received();
    let last = sent.last().unwrap();
    assert_eq!(
        last.header_values("impersonate-user"),
        ["system:serviceaccount:guardian:guardian"]
    );
    assert_eq!(
        last.header_values("impersonate-group"),
        ["system:serviceaccounts", "sre"]
    );
    assert_eq!(last.header_values("authorization"), ["Bearer good-token"]);

    // A 403 on pods/log: the verb, the subresource and the Role rule.
    let err = live
        .logs(&cx, "staging", "web-1", &LogQuery::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "denied");
    assert_eq!(
        err.message(),
        "RBAC forbids get on pods/log in namespace staging for user \
         \"system:serviceaccount:guardian:guardian\"; a Role rule that allows it: {apiGroups: \
         [\"\"], resources: [\"pods/log\"], verbs: [\"get\"]} — pods/log is a subresource: a \
         rule for \"pods\" alone does not cover it"
    );

    // SelfSubjectAccessReview, in the namespace asked for when the resource
    // is namespaced.
    let permission = |resource: &str, subresource: Option<&str>| Permission {
        group: String::new(),
        resource: resource.into(),
        subresource: subresource.map(str::to_string),
        verb: "get".into(),
    };
    let pods = live
        .access_review(&cx, &permission("pods", None), Some("staging"))
        .await
        .unwrap();
    assert!(pods.allowed);
    assert_eq!(pods.namespace.as_deref(), Some("staging"));
    let logs = live
        .access_review(&cx, &permission("pods", Some("log")), Some("staging"))
        .await
        .unwrap();
    assert!(!logs.allowed);
    let review = server.received().last().unwrap().clone();
    let body: Value = serde_json::from_str(&review.body).unwrap();
    assert_eq!(
        body["spec"]["resourceAttributes"],
        json!({"verb": "get", "group": "", "resource": "pods", "subresource": "log",
               "namespace": "staging"})
    );
    // …and cluster-wide for a cluster-scoped one, as `kubectl auth can-i`.
    let nodes = live
        .access_review(&cx, &permission("nodes", None), Some("staging"))
        .await
        .unwrap();
    assert_eq!(nodes.namespace, None);
    let review = server.received().last().unwrap().clone();
    let body: Value = serde_json::from_str(&review.body).unwrap();
    assert_eq!(
        body["spec"]["resourceAttributes"],
        json!({"verb": "get", "group": "", "resource": "nodes"})
    );
    // Each question was decided by policy and audited, saying what it asked.
    let lines: Vec<Value> = audit
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let reviews: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["verb"] == "review"
                && l["resource"] == "authorization.k8s.io/v1/selfsubjectaccessreviews"
        })
        .collect();
    assert_eq!(reviews.len(), 3, "{lines:?}");
    assert!(reviews.iter().all(|l| l["decision"] == "allow"
        && l["rule"] == "reviews-within-grants"
        && l["caller"] == "human:cli"
        && l["tool"] == "doctor"));
    assert_eq!(reviews[1]["namespace"], "staging");
    assert_eq!(reviews[1]["reasons"][1], "can-i get pods/log");
    assert_eq!(reviews[2]["namespace"], "");
    assert!(
        lines
            .iter()
            .any(|l| l["verb"] == "get" && l["resource"] == "/version"),
        "{lines:?}"
    );

    // Without impersonation no such header is sent.
    let plain = connect(&kubeconfig, None).await;
    plain.server_version(&cx).await.unwrap();
    assert!(
        server
            .received()
            .last()
            .unwrap()
            .header_values("impersonate-user")
            .is_empty()
    );

    // 401: the credentials were refused, and where.
    let bad = connect(&kubeconfig, Some("bad-token")).await;
    let err = bad.server_version(&cx).await.unwrap_err();
    assert_eq!(err.kind_str(), "denied");
    assert!(
        err.message()
            .contains("refused the credentials of context bad-token"),
        "{err}"
    );
    assert!(err.message().contains(&server.url()), "{err}");
}

#[test]
fn doctor_checks_every_grant_and_prints_the_missing_role() {
    let server = Scripted::start(Box::new(rbac_script));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &server.url());
    let cache = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    // KUBECONFIG, not --kubeconfig: the environment is honoured too.
    let out = guardian(cache.path())
        .env("KUBECONFIG", &kubeconfig)
        .args(["doctor", "--as", "system:serviceaccount:guardian:guardian"])
        .arg("--audit")
        .arg(&audit)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "missing pods/log → exit 1: {stdout}"
    );
    assert!(
        stdout.contains("Kubernetes v1.31.0-scripted (linux/amd64)"),
        "{stdout}"
    );
    assert!(stdout.contains("SKILL"), "{stdout}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("cluster") && l.contains("pods/log"))
        .unwrap_or_else(|| panic!("no pods/log row: {stdout}"));
    assert!(row.contains("get") && row.ends_with("NO"), "{row}");
    assert!(
        stdout.lines().any(|l| l.starts_with("cluster")
            && l.contains("deployments.apps")
            && l.ends_with("yes")),
        "{stdout}"
    );
    // The minimal ClusterRole: only what is missing.
    let yaml = &stdout[stdout
        .find("apiVersion: rbac.authorization.k8s.io/v1")
        .unwrap()..];
    let role: Value = serde_yaml::from_str(yaml).unwrap();
    assert_eq!(role["kind"], "ClusterRole");
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}])
    );
    // Every review went out as the impersonated service account.
    let reviews: Vec<Received> = server
        .received()
        .into_iter()
        .filter(|r| r.path.contains("selfsubjectaccessreviews"))
        .collect();
    assert!(reviews.len() >= 20, "{} reviews", reviews.len());
    assert!(reviews.iter().all(|r| {
        r.header_values("impersonate-user") == ["system:serviceaccount:guardian:guardian"]
    }));
    // Every question doctor asked the cluster was decided by policy and
    // audited: the version, then one line per review, saying what it asked.
    let lines: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let audited = |verb: &str, resource: &str| {
        lines
            .iter()
            .filter(|l| l["verb"] == verb && l["resource"] == resource)
            .count()
    };
    assert_eq!(audited("get", "/version"), 1, "{lines:?}");
    assert_eq!(
        audited("review", "authorization.k8s.io/v1/selfsubjectaccessreviews"),
        reviews.len(),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["reasons"][1] == "can-i get pods/log")
    );
    assert!(
        lines.iter().all(|l| l["tool"] == "doctor"
            && l["caller"] == "human:cli"
            && l["decision"] == "allow")
    );
}

/// A cluster with one restarted pod where the identity may not list
/// Secrets: what `snapshot capture` must get through.
fn restricted_cluster(req: &Received) -> (u16, String) {
    let (path, query) = req.path.split_once('?').unwrap_or((req.path.as_str(), ""));
    let resources = |list: &[(&str, &str, bool)]| {
        let resources: Vec<Value> = list
            .iter()
            .map(|(name, kind, namespaced)| {
                json!({"name": name, "singularName": "", "kind": kind, "namespaced": namespaced,
                       "verbs": ["get", "list"]})
            })
            .collect();
        json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": resources}).to_string()
    };
    match path {
        "/version" => (200, json!({"gitVersion": "v1.30.4", "platform": "linux/amd64"}).to_string()),
        "/api/v1" => (
            200,
            resources(&[
                ("namespaces", "Namespace", false),
                ("pods", "Pod", true),
                ("pods/log", "Pod", true),
                ("secrets", "Secret", true),
            ]),
        ),
        "/apis" => (200, json!({"kind": "APIGroupList", "groups": []}).to_string()),
        "/api/v1/namespaces" => (
            200,
            json!({"kind": "NamespaceList", "apiVersion": "v1", "metadata": {"resourceVersion": "5"},
                   "items": [{"metadata": {"name": "shop", "resourceVersion": "1"}}]})
            .to_string(),
        ),
        "/api/v1/pods" => (
            200,
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "5"},
                   "items": [{"metadata": {"name": "web-1", "namespace": "shop", "resourceVersion": "3"},
                              "spec": {"containers": [{"name": "app"}]},
                              "status": {"containerStatuses": [{"name": "app", "restartCount": 2}]}}]})
            .to_string(),
        ),
        "/api/v1/secrets" => (
            403,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "secrets is forbidden: User \"viewer\" cannot list resource \"secrets\" in API group \"\" at the cluster scope",
                   "reason": "Forbidden", "details": {"kind": "secrets"}, "code": 403})
            .to_string(),
        ),
        "/api/v1/namespaces/shop/pods/web-1/log" if query.contains("previous=true") => {
            (200, "panic: nil map\ngoroutine 1 [running]\n".to_string())
        }
        "/api/v1/namespaces/shop/pods/web-1/log" => (200, "listening on :8080\n".to_string()),
        _ => (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "the server could not find the requested resource",
                   "reason": "NotFound", "code": 404})
            .to_string(),
        ),
    }
}

#[test]
fn capture_skips_what_rbac_forbids_and_keeps_previous_logs() {
    let server = Scripted::start(Box::new(restricted_cluster));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &server.url());
    let out = dir.path().join("capture");
    let cache = tempfile::tempdir().unwrap();
    let result = guardian(cache.path())
        .args(["snapshot", "capture", "-A", "-o"])
        .arg(&out)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        result.status.success(),
        "a forbidden kind is not fatal: {stderr}"
    );
    assert!(
        stderr.contains("warning: secrets skipped: RBAC forbids list on secrets cluster-wide"),
        "{stderr}"
    );

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("capture-report.json")).unwrap())
            .unwrap();
    let report = &report["guardianCaptureReport"];
    let skipped = report["skipped"].as_array().unwrap();
    let secrets = skipped.iter().find(|s| s["resource"] == "secrets").unwrap();
    assert_eq!(secrets["why"], "forbidden");
    assert!(
        secrets["message"]
            .as_str()
            .unwrap()
            .contains("resources: [\"secrets\"], verbs: [\"list\"]"),
        "{secrets}"
    );
    assert_eq!(report["serverVersion"], "v1.30.4");
    assert_eq!(report["logs"]["previous"], 1);

    // What was captured loads, previous logs included.
    let captured = store(&out);
    assert_eq!(captured.namespaces(), ["shop"]);
    let current = captured
        .pod_logs("shop", "web-1", &LogQuery::default())
        .unwrap();
    assert_eq!(current, "listening on :8080\n");
    let previous = captured
        .pod_logs(
            "shop",
            "web-1",
            &LogQuery {
                previous: true,
                ..LogQuery::default()
            },
        )
        .unwrap();
    assert_eq!(previous, "panic: nil map\ngoroutine 1 [running]\n");
}
