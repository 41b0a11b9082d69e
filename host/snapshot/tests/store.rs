//! The snapshot store against real API-server output and hand-built
//! layouts, driven through its own API (the broker over a snapshot is tested
//! in `host/broker/tests/snapshot.rs`).

use std::path::{Path, PathBuf};

use guardian_kube_types::{BrokerError, ListQuery, LogQuery, ObjectRef, ResourceKind};
use guardian_snapshot::{LoadOptions, LoadProblem, Snapshot};
use serde_json::{Value, json};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/real-dumps/staging/snapshot"
);

fn fixture() -> Snapshot {
    let (backend, problems) = Snapshot::load(Path::new(FIXTURE)).expect("fixture loads");
    assert!(problems.is_empty(), "unexpected problems: {problems:#?}");
    backend
}

fn kind(backend: &Snapshot, name: &str) -> ResourceKind {
    backend
        .table()
        .resolve(name)
        .unwrap_or_else(|e| panic!("resolve {name}: {e}"))
}

fn list(backend: &Snapshot, resource: &str, query: ListQuery) -> Value {
    let k = kind(backend, resource);
    backend
        .list_objects(&k, &query)
        .unwrap_or_else(|e| panic!("list {resource}: {e}"))
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            i["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn staging(query: ListQuery) -> ListQuery {
    ListQuery {
        namespace: Some("staging".into()),
        ..query
    }
}

/// `get` through the snapshot's own API (tests hold no permits).
fn get_obj(
    backend: &Snapshot,
    kind: &ResourceKind,
    ns: Option<&str>,
    name: &str,
) -> Result<Value, BrokerError> {
    backend.get_object(kind, ns, name).map(|o| Value::clone(&o))
}

fn logs(backend: &Snapshot, ns: &str, pod: &str, q: LogQuery) -> Result<String, BrokerError> {
    backend.pod_logs(ns, pod, &q)
}

fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&path, text).expect("write");
    path
}

fn problems_for<'a>(problems: &'a [LoadProblem], file: &str) -> Vec<&'a LoadProblem> {
    problems.iter().filter(|p| p.file.ends_with(file)).collect()
}

// ---------------------------------------------------------------- real dump

#[test]
fn real_dump_loads_every_object() {
    let backend = fixture();
    let counts = [
        ("pods", 16),
        ("events", 9),
        ("deployments", 4),
        ("replicasets", 4),
        ("services", 1),
        ("daemonsets", 0),
        ("replicationcontrollers", 0),
        ("nodes", 3),
        ("configmaps", 1),
        ("secrets", 1),
        ("serviceaccounts", 1),
        ("storageclasses", 1),
        ("ingressclasses", 1),
    ];
    for (resource, want) in counts {
        let all = list(&backend, resource, ListQuery::default());
        assert_eq!(
            all["items"].as_array().map(Vec::len),
            Some(want),
            "{resource}"
        );
    }
    assert_eq!(backend.objects_scanned(), 16 + 9 + 4 + 4 + 1 + 3 + 3 + 2);
    assert_eq!(backend.object_count(), backend.objects_scanned());
    assert_eq!(backend.namespaces(), ["staging"]);
    assert!(backend.description().starts_with("snapshot "));

    // Typed-list items got their apiVersion and kind; lists are well-formed.
    let pods = list(&backend, "po", staging(ListQuery::default()));
    assert_eq!(pods["apiVersion"], "v1");
    assert_eq!(pods["kind"], "PodList");
    assert_eq!(pods["metadata"]["resourceVersion"], "683");
    for pod in pods["items"].as_array().unwrap_or(&Vec::new()) {
        assert_eq!(pod["apiVersion"], "v1");
        assert_eq!(pod["kind"], "Pod");
    }
    let mut sorted = names(&pods);
    sorted.sort();
    assert_eq!(names(&pods), sorted, "sorted by name within a namespace");
    let deploys = list(&backend, "deployments.apps", ListQuery::default());
    assert_eq!(deploys["kind"], "DeploymentList");
    assert_eq!(deploys["items"][0]["apiVersion"], "apps/v1");
    assert_eq!(
        names(&deploys),
        ["auth-service", "billing", "checkout-service", "web"]
    );

    let node = get_obj(&backend, &kind(&backend, "no"), None, "worker-a").expect("node");
    assert_eq!(node["kind"], "Node");
    let sc = get_obj(&backend, &kind(&backend, "sc"), Some("ignored"), "standard").expect("sc");
    assert_eq!(sc["provisioner"], "ebs.csi.aws.com");
}

#[test]
fn real_dump_get_errors_read_like_the_api_server() {
    let backend = fixture();
    let pods = kind(&backend, "pods");
    let err = get_obj(&backend, &pods, Some("staging"), "nope").unwrap_err();
    assert_eq!(
        err,
        BrokerError::NotFound(r#"pods "nope" not found in namespace "staging""#.into())
    );
    let deploy = kind(&backend, "deploy");
    let err = get_obj(&backend, &deploy, Some("prod"), "web").unwrap_err();
    assert_eq!(
        err.message(),
        r#"deployments.apps "web" not found in namespace "prod""#
    );
    let err = get_obj(&backend, &kind(&backend, "nodes"), None, "worker-z").unwrap_err();
    assert_eq!(err.message(), r#"nodes "worker-z" not found"#);
    let err = get_obj(&backend, &pods, None, "web").unwrap_err();
    assert_eq!(err.kind_str(), "invalid");
    assert!(err.message().contains("namespace"), "{err}");
}

#[test]
fn real_dump_logs() {
    let backend = fixture();
    let q = LogQuery::default;

    let billing = logs(&backend, "staging", "billing-64aaedb81a-9acc7", q()).expect("logs");
    assert!(
        billing.starts_with("panic: runtime error: invalid memory address"),
        "{billing}"
    );
    assert_eq!(billing.lines().count(), 9);
    let last = logs(
        &backend,
        "staging",
        "billing-64aaedb81a-9acc7",
        LogQuery {
            tail_lines: Some(1),
            container: Some("billing".into()),
            ..q()
        },
    )
    .expect("tail");
    assert_eq!(
        last,
        "time=\"2026-11-23T13:55:02Z\" level=warning msg=\"LEDGER_URL is empty\"\n"
    );

    // The dump could not reach the kubelet for these: Unavailable, quoted.
    let err = logs(&backend, "staging", "auth-service-c8e4fff738-a038b", q()).unwrap_err();
    assert_eq!(err.kind_str(), "unavailable");
    assert!(
        err.message().contains(
            "\"Request log error: an error on the server (\"unknown\") has prevented the request \
             from succeeding (get pods auth-service-c8e4fff738-a038b)\""
        ),
        "{err}"
    );

    // Previous logs: the web pods never restarted → NotFound like the API;
    // billing restarted 5 times but the dump has no previous block.
    let previous = || LogQuery {
        previous: true,
        ..q()
    };
    let err = logs(&backend, "staging", "web-6efe70165c-07ca9", previous()).unwrap_err();
    assert_eq!(
        err,
        BrokerError::NotFound(
            "previous terminated container \"web\" in pod \"staging/web-6efe70165c-07ca9\" not found"
                .into()
        )
    );
    let err = logs(&backend, "staging", "billing-64aaedb81a-9acc7", previous()).unwrap_err();
    assert_eq!(err.kind_str(), "unavailable");
    assert!(err.message().contains("5 restart(s)"), "{err}");

    let err = logs(
        &backend,
        "staging",
        "billing-64aaedb81a-9acc7",
        LogQuery {
            container: Some("sidecar".into()),
            ..q()
        },
    )
    .unwrap_err();
    assert_eq!(err.kind_str(), "invalid");
    assert!(err.message().contains("[billing]"), "{err}");
    let err = logs(&backend, "staging", "ghost", q()).unwrap_err();
    assert_eq!(
        err.message(),
        r#"pods "ghost" not found in namespace "staging""#
    );
}

#[test]
fn real_dump_events() {
    let backend = fixture();
    let pod_ref = ObjectRef {
        api_version: "v1".into(),
        kind: "Pod".into(),
        namespace: Some("staging".into()),
        name: "auth-service-c8e4fff738-a038b".into(),
    };
    let events = backend.events_of(&pod_ref);
    assert_eq!(events["kind"], "EventList");
    let items = events["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["kind"], "Event");
    assert_eq!(
        items[0]["message"],
        "Error: couldn't find key password in Secret staging/auth-db"
    );

    let deploy_ref = ObjectRef {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        namespace: Some("staging".into()),
        name: "billing".into(),
    };
    let events = backend.events_of(&deploy_ref);
    assert_eq!(events["items"][0]["reason"], "ScalingReplicaSet");
    let elsewhere = ObjectRef {
        namespace: Some("prod".into()),
        ..deploy_ref.clone()
    };
    let none = backend.events_of(&elsewhere);
    assert_eq!(none["items"], json!([]));
    let wrong_group = ObjectRef {
        api_version: "argoproj.io/v1alpha1".into(),
        ..deploy_ref
    };
    assert_eq!(backend.events_of(&wrong_group)["items"], json!([]));
}

#[test]
fn real_dump_list_selectors_and_limits() {
    let backend = fixture();
    let by_label = |selector: &str| {
        names(&list(
            &backend,
            "pods",
            staging(ListQuery {
                label_selector: Some(selector.into()),
                ..Default::default()
            }),
        ))
    };
    assert_eq!(by_label("app=auth-service").len(), 6);
    assert_eq!(
        by_label("app=web,pod-template-hash=ca0f3e0b21"),
        ["web-ca0f3e0b21-35000", "web-ca0f3e0b21-8eb81"]
    );
    assert_eq!(by_label("app in (billing, checkout-service)").len(), 6);
    assert_eq!(
        by_label("app notin (web),topology.kubernetes.io/zone=eu-west-1c").len(),
        2
    );
    assert_eq!(by_label("!component").len(), 12);

    let by_field = |selector: &str| {
        names(&list(
            &backend,
            "pods",
            ListQuery {
                field_selector: Some(selector.into()),
                ..Default::default()
            },
        ))
    };
    assert_eq!(by_field("status.phase=Pending").len(), 6);
    assert_eq!(
        by_field("status.phase!=Pending,spec.nodeName=worker-b").len(),
        4
    );
    assert_eq!(
        by_field("metadata.name=web-6efe70165c-07ca9"),
        ["web-6efe70165c-07ca9"]
    );
    let warnings = list(
        &backend,
        "ev",
        staging(ListQuery {
            field_selector: Some("type=Warning,involvedObject.kind=Pod".into()),
            ..Default::default()
        }),
    );
    assert_eq!(names(&warnings).len(), 5);

    let limited = list(
        &backend,
        "pods",
        ListQuery {
            limit: Some(3),
            ..Default::default()
        },
    );
    assert_eq!(names(&limited).len(), 3);
    assert_eq!(limited["metadata"]["remainingItemCount"], 13);
    let other_ns = list(
        &backend,
        "pods",
        ListQuery {
            namespace: Some("default".into()),
            ..Default::default()
        },
    );
    assert_eq!(other_ns["items"], json!([]));

    let k = kind(&backend, "pods");
    let err = backend
        .list_objects(
            &k,
            &ListQuery {
                label_selector: Some("app in web".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.kind_str(), "invalid");
    assert!(err.message().contains("\"web\""), "{err}");
}

#[test]
fn real_dump_resolve_and_api_resources() {
    let backend = fixture();
    assert_eq!(kind(&backend, "deploy").grant_name(), "deployments.apps");
    assert_eq!(
        kind(&backend, "Deployment").grant_name(),
        "deployments.apps"
    );
    assert!(backend.table().resolve("pods/log").is_err());
    let resources = backend.table().kinds().to_vec();
    for name in [
        "pods",
        "deployments.apps",
        "ingressclasses.networking.k8s.io",
        "applications.argoproj.io",
    ] {
        assert!(resources.iter().any(|r| r.grant_name() == name), "{name}");
    }
}

// ---------------------------------------------------------------- dry run

#[test]
fn dry_run_patch_applies_to_a_copy() {
    let backend = fixture();
    let deploy = kind(&backend, "deploy");
    let patch = json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "billing"},
        {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "ghcr.io/example/billing:0.8.0"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "ghcr.io/example/billing:0.8.1"},
        {"op": "add", "path": "/spec/template/spec/containers/0/env/0/value", "value": "http://ledger"}
    ]);
    let patched = backend
        .dry_run_json_patch(&deploy, Some("staging"), "billing", &patch)
        .expect("dry run");
    let container = &patched["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "ghcr.io/example/billing:0.8.1");
    assert_eq!(container["env"][0]["value"], "http://ledger");
    // A dry run bumps nothing and persists nothing.
    assert_eq!(patched["metadata"]["resourceVersion"], "670");
    let stored = get_obj(&backend, &deploy, Some("staging"), "billing").expect("get");
    assert_eq!(
        stored["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/example/billing:0.8.0"
    );
}

#[test]
fn dry_run_patch_errors() {
    let backend = fixture();
    let deploy = kind(&backend, "deploy");
    let run = |patch: Value| {
        backend
            .dry_run_json_patch(&deploy, Some("staging"), "billing", &patch)
            .unwrap_err()
    };

    let err = run(json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "ledger"},
        {"op": "replace", "path": "/spec/replicas", "value": 0}
    ]));
    assert_eq!(err.kind_str(), "conflict");
    assert!(
        err.message()
            .contains("/spec/template/spec/containers/0/name"),
        "{err}"
    );
    assert!(err.message().contains("expected \"ledger\""), "{err}");
    assert!(err.message().contains("found \"billing\""), "{err}");

    let err = run(
        json!([{"op": "replace", "path": "/spec/template/spec/containers/3/image", "value": "x"}]),
    );
    assert_eq!(err.kind_str(), "invalid");
    assert!(
        err.message()
            .contains("/spec/template/spec/containers/3/image"),
        "{err}"
    );

    let err = run(json!({"op": "replace"}));
    assert_eq!(err.kind_str(), "invalid");
    assert!(err.message().contains("RFC 6902"), "{err}");

    let err = run(json!([{"op": "replace", "path": "/metadata/name", "value": "other"}]));
    assert_eq!(err.kind_str(), "invalid");
    assert!(err.message().contains("/metadata/name"), "{err}");

    let err = backend
        .dry_run_json_patch(&deploy, Some("staging"), "ghost", &json!([]))
        .unwrap_err();
    assert_eq!(err.kind_str(), "not-found");
}

// ---------------------------------------------------------------- layouts

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

fn typed_list(api_version: &str, kind: &str, items: Vec<Value>) -> String {
    let list = json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "900"}, "items": items});
    serde_json::to_string_pretty(&list).unwrap_or_default()
}

fn block(previous: bool, container: &str, ns: &str, pod: &str, body: &str) -> String {
    let which = if previous { "previous logs" } else { "logs" };
    format!(
        "==== START {which} for container {container} of pod {ns}/{pod} ====\n{body}==== END {which} for container {container} of pod {ns}/{pod} ====\n"
    )
}

#[test]
fn all_namespaces_layout_with_multi_container_pods() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "nodes.json",
        &typed_list(
            "v1",
            "NodeList",
            vec![json!({"metadata": {"name": "node-1", "resourceVersion": "5"}})],
        ),
    );
    for ns in ["default", "kube-system", "staging"] {
        write(
            root,
            &format!("{ns}/pods.json"),
            &typed_list(
                "v1",
                "PodList",
                vec![pod_json(
                    ns,
                    &format!("{ns}-app"),
                    "10",
                    &["app"],
                    json!({"app": ns}),
                )],
            ),
        );
        write(
            root,
            &format!("{ns}/{ns}-app/logs.txt"),
            &block(false, "app", ns, &format!("{ns}-app"), "hello\n"),
        );
        write(
            root,
            &format!("{ns}/events.json"),
            &typed_list("v1", "EventList", vec![]),
        );
        write(
            root,
            &format!("{ns}/daemonsets.json"),
            r#"{"kind":"DaemonSetList","apiVersion":"apps/v1","metadata":{"resourceVersion":"900"},"items":null}"#,
        );
    }
    // A two-container pod with previous logs for one container.
    write(
        root,
        "staging/pods.json",
        &typed_list(
            "v1",
            "PodList",
            vec![
                pod_json(
                    "staging",
                    "staging-app",
                    "10",
                    &["app"],
                    json!({"app": "staging"}),
                ),
                pod_json(
                    "staging",
                    "api-0",
                    "11",
                    &["api", "proxy"],
                    json!({"app": "api"}),
                ),
            ],
        ),
    );
    let api_logs = [
        block(false, "api", "staging", "api-0", "starting\nready\n"),
        block(true, "api", "staging", "api-0", "panic: nil map\n"),
        block(false, "proxy", "staging", "api-0", "proxy up\n"),
    ]
    .concat();
    write(root, "staging/api-0/logs.txt", &api_logs);

    let (backend, problems) = Snapshot::load(root).expect("load");
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(backend.namespaces(), ["default", "kube-system", "staging"]);
    let all = list(&backend, "pods", ListQuery::default());
    assert_eq!(
        names(&all),
        ["default-app", "kube-system-app", "api-0", "staging-app"],
        "sorted by namespace, then name"
    );
    assert_eq!(
        list(&backend, "nodes", ListQuery::default())["items"][0]["kind"],
        "Node"
    );
    assert_eq!(
        list(
            &backend,
            "pods",
            ListQuery {
                namespace: Some("kube-system".into()),
                ..Default::default()
            }
        )["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        logs(
            &backend,
            "kube-system",
            "kube-system-app",
            LogQuery::default()
        )
        .as_deref(),
        Ok("hello\n")
    );

    let err = logs(&backend, "staging", "api-0", LogQuery::default()).unwrap_err();
    assert_eq!(
        err.message(),
        "a container name must be specified for pod staging/api-0, choose one of: [api proxy]"
    );
    let with = |container: &str, previous: bool| LogQuery {
        container: Some(container.into()),
        previous,
        tail_lines: None,
    };
    assert_eq!(
        logs(&backend, "staging", "api-0", with("api", false)).as_deref(),
        Ok("starting\nready\n")
    );
    assert_eq!(
        logs(&backend, "staging", "api-0", with("api", true)).as_deref(),
        Ok("panic: nil map\n")
    );
    assert_eq!(
        logs(&backend, "staging", "api-0", with("proxy", false)).as_deref(),
        Ok("proxy up\n")
    );
    let err = logs(&backend, "staging", "api-0", with("proxy", true)).unwrap_err();
    assert_eq!(
        err.message(),
        "previous terminated container \"proxy\" in pod \"staging/api-0\" not found"
    );
}

#[test]
fn dump_merges_with_extra_yaml() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "dump/staging/pods.json",
        &typed_list(
            "v1",
            "PodList",
            vec![
                pod_json("staging", "a", "100", &["c"], json!({"v": "dump"})),
                pod_json("staging", "b", "300", &["c"], json!({"v": "dump"})),
            ],
        ),
    );
    write(
        root,
        "dump/staging/a/logs.txt",
        &block(false, "c", "staging", "a", "x\n"),
    );
    write(
        root,
        "dump/staging/b/logs.txt",
        &block(false, "c", "staging", "b", "y\n"),
    );
    // `kubectl get -o yaml` output: a generic List, a typed list whose items
    // lack kind, a multi-document stream, newer and older copies of pods.
    write(
        root,
        "extra.yaml",
        r#"apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a, namespace: staging, resourceVersion: "200", labels: {v: extra}}
  spec: {containers: [{name: c}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: b, namespace: staging, resourceVersion: "250", labels: {v: extra}}
  spec: {containers: [{name: c}]}
- apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: db, namespace: staging, resourceVersion: "7"}
metadata:
  resourceVersion: ""
---
apiVersion: v1
kind: ConfigMapList
items:
- metadata: {name: settings, namespace: staging}
  data: {LEDGER_URL: ""}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: staging}
spec: {minReplicas: 2, maxReplicas: 5}
---
"#,
    );
    write(
        root,
        "cluster.yml",
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast}\nprovisioner: x\n",
    );
    write(root, "README.md", "not a manifest\n");
    write(root, ".git/config.yaml", ": : not yaml at all");

    let (backend, problems) = Snapshot::load(root).expect("load");
    assert!(problems.is_empty(), "{problems:#?}");
    let pods = list(&backend, "pods", ListQuery::default());
    assert_eq!(names(&pods), ["a", "b"]);
    assert_eq!(
        pods["items"][0]["metadata"]["labels"]["v"], "extra",
        "newer copy from extra.yaml"
    );
    assert_eq!(
        pods["items"][1]["metadata"]["labels"]["v"], "dump",
        "newer copy from the dump"
    );
    assert_eq!(backend.objects_scanned(), 8);
    assert_eq!(backend.object_count(), 6);

    let cm = get_obj(&backend, &kind(&backend, "cm"), Some("staging"), "settings").expect("cm");
    assert_eq!(
        (cm["apiVersion"].as_str(), cm["kind"].as_str()),
        (Some("v1"), Some("ConfigMap"))
    );
    assert_eq!(names(&list(&backend, "sts", ListQuery::default())), ["db"]);
    assert_eq!(names(&list(&backend, "hpa", ListQuery::default())), ["web"]);
    assert_eq!(
        names(&list(
            &backend,
            "storageclasses.storage.k8s.io",
            ListQuery::default()
        )),
        ["fast"]
    );
}

#[test]
fn custom_resources_are_discovered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "crds.yaml",
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: certificates.cert-manager.io}
spec:
  group: cert-manager.io
  names: {kind: Certificate, plural: certificates, singular: certificate, shortNames: [cert]}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true}]
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web-tls, namespace: staging}
---
apiVersion: example.com/v1alpha1
kind: WidgetPolicy
metadata: {name: strict}
---
apiVersion: example.com/v1alpha1
kind: Gadget
metadata: {name: g1, namespace: team-a}
"#,
    );
    let (backend, problems) = Snapshot::load(root).expect("load");
    assert!(problems.is_empty(), "{problems:#?}");
    let cert = kind(&backend, "cert");
    assert_eq!(cert.grant_name(), "certificates.cert-manager.io");
    assert_eq!(
        names(&list(&backend, "certificates", ListQuery::default())),
        ["web-tls"]
    );
    let policy = kind(&backend, "widgetpolicies");
    assert!(!policy.namespaced);
    assert_eq!(policy.api_version(), "example.com/v1alpha1");
    assert_eq!(kind(&backend, "WidgetPolicy"), policy);
    assert!(kind(&backend, "gadgets.example.com").namespaced);
    assert_eq!(backend.namespaces(), ["staging", "team-a"]);
    let resources = backend.table().kinds().to_vec();
    assert!(
        resources
            .iter()
            .any(|r| r.grant_name() == "gadgets.example.com")
    );
    assert!(resources.iter().any(|r| r.grant_name() == "pods"));
}

#[test]
fn broken_files_are_reported_and_the_rest_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "staging/pods.json",
        &typed_list(
            "v1",
            "PodList",
            vec![
                pod_json("staging", "ok", "1", &["c"], json!({})),
                pod_json("staging", "nologs", "2", &["c"], json!({})),
            ],
        ),
    );
    write(
        root,
        "staging/ok/logs.txt",
        &block(false, "c", "staging", "ok", "fine\n"),
    );
    write(root, "staging/empty/logs.txt", "nothing here\n");
    write(
        root,
        "staging/cut/logs.txt",
        "==== START logs for container c of pod staging/cut ====\npartial line\n",
    );
    write(root, "array.json", "[1, 2, 3]");
    write(
        root,
        "truncated.json",
        "{\"kind\": \"PodList\", \"items\": [",
    );
    write(
        root,
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good, namespace: staging}\n---\nkind: ConfigMap\n  metadata: broken: [\n---\napiVersion: v1\nkind: Podd\nmetadata: {name: typo}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: staging}\n---\nmetadata: {name: kindless}\n---\nkind: Frobnicator\nmetadata: {name: f}\n",
    );

    let (backend, problems) = Snapshot::load(root).expect("load");
    let describe = |p: &[&LoadProblem]| format!("{p:#?}");

    let bad = problems_for(&problems, "bad.yaml");
    assert_eq!(bad.len(), 5, "{}", describe(&bad));
    assert!(
        bad[0]
            .message
            .starts_with("document 2 (line 4): invalid YAML"),
        "{}",
        bad[0].message
    );
    assert!(
        bad[0].message.contains("line 6"),
        "absolute line number: {}",
        bad[0].message
    );
    assert!(bad[1].message.contains("Podd"), "{}", bad[1].message);
    assert!(
        bad[1].message.contains("not part of the core v1 API"),
        "{}",
        bad[1].message
    );
    assert!(
        bad[2]
            .message
            .contains("ConfigMap object has no metadata.name"),
        "{}",
        bad[2].message
    );
    assert!(
        bad[3].message.contains("object has no kind"),
        "{}",
        bad[3].message
    );
    assert!(
        bad[4]
            .message
            .contains("Frobnicator \"f\" has no apiVersion"),
        "{}",
        bad[4].message
    );

    let array = problems_for(&problems, "array.json");
    assert_eq!(array.len(), 1);
    assert!(
        array[0].message.contains("found an array"),
        "{}",
        array[0].message
    );
    let truncated = problems_for(&problems, "truncated.json");
    assert_eq!(truncated.len(), 1);
    assert!(
        truncated[0].message.contains("invalid JSON at line 1"),
        "{}",
        truncated[0].message
    );

    let missing = problems_for(&problems, "staging/nologs/logs.txt");
    assert_eq!(missing.len(), 1, "{problems:#?}");
    assert!(
        missing[0].message.contains("pod staging/nologs"),
        "{}",
        missing[0].message
    );
    let empty = problems_for(&problems, "staging/empty/logs.txt");
    assert_eq!(empty.len(), 1);
    assert!(
        empty[0].message.contains("START logs for container"),
        "{}",
        empty[0].message
    );
    let cut = problems_for(&problems, "staging/cut/logs.txt");
    assert_eq!(cut.len(), 1);
    assert!(cut[0].message.contains("no END line"), "{}", cut[0].message);
    assert_eq!(problems.len(), 10, "{problems:#?}");
    for problem in &problems {
        assert!(
            problem.to_string().starts_with(&root.display().to_string()),
            "{problem}"
        );
    }

    // The rest loaded.
    assert_eq!(
        names(&list(&backend, "pods", ListQuery::default())),
        ["nologs", "ok"]
    );
    assert_eq!(names(&list(&backend, "cm", ListQuery::default())), ["good"]);
    assert_eq!(
        logs(&backend, "staging", "ok", LogQuery::default()).as_deref(),
        Ok("fine\n")
    );
    assert_eq!(
        logs(&backend, "staging", "cut", LogQuery::default()).as_deref(),
        Ok("partial line\n")
    );
    let err = logs(&backend, "staging", "nologs", LogQuery::default()).unwrap_err();
    assert_eq!(err.kind_str(), "unavailable");
    assert!(
        err.message().contains("container c of pod staging/nologs"),
        "{err}"
    );
}

#[test]
fn load_fails_only_when_nothing_is_usable() {
    let err = Snapshot::load(Path::new("/nonexistent/snapshot")).unwrap_err();
    assert_eq!(err.kind_str(), "not-found");
    assert!(err.message().contains("/nonexistent/snapshot"), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let err = Snapshot::load(dir.path()).unwrap_err();
    assert_eq!(err.kind_str(), "invalid");
    assert!(
        err.message().contains("no YAML, JSON or logs.txt files"),
        "{err}"
    );

    write(dir.path(), "broken.yaml", "kind: [\n");
    let err = Snapshot::load(dir.path()).unwrap_err();
    assert!(err.message().contains("broken.yaml"), "{err}");

    // A single file is a snapshot too.
    let file = write(
        dir.path(),
        "one.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: solo}\n",
    );
    let (backend, problems) = Snapshot::load(&file).expect("single file");
    assert!(problems.is_empty());
    assert_eq!(backend.namespaces(), ["solo"]);
}

#[test]
fn events_are_ordered_oldest_first() {
    let event = |name: &str, last: Option<&str>, event_time: Option<&str>, first: Option<&str>| {
        json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": "staging"},
            "involvedObject": {"kind": "Pod", "namespace": "staging", "name": "web-1", "apiVersion": "v1"},
            "lastTimestamp": last, "eventTime": event_time, "firstTimestamp": first,
        })
    };
    let other = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "other", "namespace": "staging"},
        "involvedObject": {"kind": "Pod", "namespace": "staging", "name": "web-2"},
    });
    let node_event = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "node-1.a", "namespace": "default"},
        "involvedObject": {"kind": "Node", "name": "node-1"},
    });
    let (backend, _) = Snapshot::from_values(
        "memory",
        vec![
            event("c", Some("2026-01-01T10:00:00Z"), None, None),
            event("a", None, Some("2026-01-01T09:30:00.000000Z"), None),
            event("b", None, None, Some("2026-01-01T11:00:00+02:00")),
            event(
                "d",
                Some("2026-01-01T12:00:00Z"),
                None,
                Some("2026-01-01T08:00:00Z"),
            ),
            other,
            node_event,
        ],
    )
    .expect("from values");
    let r = ObjectRef {
        api_version: "v1".into(),
        kind: "Pod".into(),
        namespace: Some("staging".into()),
        name: "web-1".into(),
    };
    let events = backend.events_of(&r);
    assert_eq!(names(&events), ["b", "a", "c", "d"]);
    let node = ObjectRef {
        api_version: "v1".into(),
        kind: "Node".into(),
        namespace: None,
        name: "node-1".into(),
    };
    assert_eq!(names(&backend.events_of(&node)), ["node-1.a"]);
    assert!(backend.description().contains("memory"));
}

#[test]
fn a_dump_without_namespace_objects_lists_its_namespaces() {
    // cluster-info dump writes no Namespace objects; `list namespaces` still
    // answers, as a live server would, with minimal synthesized ones.
    let backend = fixture();
    let listed = list(&backend, "namespaces", ListQuery::default());
    assert_eq!(names(&listed), ["staging"]);
    let ns = &listed["items"][0];
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(
        ns["metadata"]["annotations"]["guardian.io/synthesized"],
        "true"
    );
    // A Namespace object the snapshot holds is served as it is.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "objects.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    team: web\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: shop\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: batch\n",
    );
    let (backend, problems) = Snapshot::load(dir.path()).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let listed = list(&backend, "namespaces", ListQuery::default());
    assert_eq!(names(&listed), ["batch", "shop"]);
    assert_eq!(listed["items"][1]["metadata"]["labels"]["team"], "web");
    assert!(listed["items"][1]["metadata"]["annotations"].is_null());
}

// ------------------------------------------------- hostile folders (issue 13)

/// Loads `root` on another thread; `None` if it has not finished within a
/// generous bound (the load would otherwise hang the test forever).
fn load_within(
    root: &Path,
    options: LoadOptions,
) -> Option<Result<(Snapshot, Vec<LoadProblem>), BrokerError>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(Snapshot::load_with(&root, &options));
    });
    rx.recv_timeout(std::time::Duration::from_secs(60)).ok()
}

fn one_pod_snapshot(root: &Path) {
    write(
        root,
        "staging/pods.json",
        &typed_list(
            "v1",
            "PodList",
            vec![pod_json("staging", "web", "1", &["c"], json!({}))],
        ),
    );
    write(
        root,
        "staging/web/logs.txt",
        &block(false, "c", "staging", "web", "up\n"),
    );
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

#[cfg(unix)]
#[test]
fn special_files_and_device_links_are_skipped_not_read() {
    // Before: a FIFO named *.json or *.txt blocked the load forever, and a
    // symlink to /dev/zero read until memory ran out (~270 MB/s).
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    one_pod_snapshot(root);
    mkfifo(&root.join("fifo.json"));
    mkfifo(&root.join("staging/web/notes.txt"));
    std::os::unix::fs::symlink("/dev/zero", root.join("zero.json")).unwrap();
    std::os::unix::fs::symlink("/dev/urandom", root.join("staging/random.yaml")).unwrap();

    let (backend, problems) = load_within(root, Default::default())
        .expect("the load finished (it used to hang on the FIFO or read /dev/zero forever)")
        .expect("the rest loads");
    assert_eq!(
        names(&list(&backend, "pods", ListQuery::default())),
        ["web"]
    );
    let one = |file: &str| -> String {
        let found = problems_for(&problems, file);
        assert_eq!(found.len(), 1, "{file}: {problems:#?}");
        found[0].message.clone()
    };
    for fifo in ["fifo.json", "staging/web/notes.txt"] {
        let message = one(fifo);
        assert!(
            message.contains("a FIFO is not a regular file; skipped"),
            "{message}"
        );
    }
    for (link, target) in [
        ("zero.json", "/dev/zero"),
        ("staging/random.yaml", "/dev/urandom"),
    ] {
        let message = one(link);
        assert!(
            message.contains(&format!(
                "a symlink to {target}, outside the snapshot folder"
            )) && message.contains("not followed"),
            "{message}"
        );
    }
    assert_eq!(problems.len(), 4, "{problems:#?}");
}

#[cfg(unix)]
#[test]
fn links_loops_and_odd_entries_are_warned_about() {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;
    // Before: none of these produced a warning.
    let outside = tempfile::tempdir().expect("tempdir");
    write(
        outside.path(),
        "secret.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: outside, namespace: staging}\n",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    one_pod_snapshot(root);
    // A directory symlink loop, and a link to a file outside the folder.
    symlink("..", root.join("staging/up")).unwrap();
    symlink(
        outside.path().join("secret.yaml"),
        root.join("staging/outside.yaml"),
    )
    .unwrap();
    // A link to a file inside the folder is followed.
    write(
        root,
        "real/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: linked, namespace: staging}\n",
    );
    symlink(root.join("real/cm.yaml"), root.join("staging/cm.yaml")).unwrap();
    // An empty pods.json, a pods.json that is a folder, a name that is not
    // UTF-8, a YAML file of comments only.
    write(root, "other/pods.json", "");
    std::fs::create_dir_all(root.join("third/pods.json")).unwrap();
    let bad_name = root.join(std::ffi::OsStr::from_bytes(b"bad\xff.yaml"));
    std::fs::write(
        &bad_name,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hidden}\n",
    )
    .unwrap();
    write(root, "notes.yaml", "# nothing yet\n---\n");

    let (backend, problems) = load_within(root, Default::default())
        .expect("finished")
        .expect("loads");
    let message = |file: &str| -> String {
        let found = problems_for(&problems, file);
        assert_eq!(found.len(), 1, "{file}: {problems:#?}");
        found[0].message.clone()
    };
    let looped = message("staging/up");
    assert!(
        looped.contains("a folder already read") && looped.contains("symlink loop"),
        "{looped}"
    );
    let out = message("staging/outside.yaml");
    assert!(out.contains("outside the snapshot folder"), "{out}");
    let empty = message("other/pods.json");
    assert!(empty.starts_with("empty file"), "{empty}");
    let folder = message("third/pods.json");
    assert!(
        folder.contains("a folder named like a snapshot file"),
        "{folder}"
    );
    let invalid = problems
        .iter()
        .find(|p| p.file == bad_name)
        .unwrap_or_else(|| panic!("no problem for the non-UTF-8 name: {problems:#?}"));
    assert!(
        invalid.message.contains("not valid UTF-8"),
        "{}",
        invalid.message
    );
    let notes = message("notes.yaml");
    assert!(notes.contains("no YAML documents"), "{notes}");
    assert_eq!(problems.len(), 6, "{problems:#?}");
    // What is inside loaded once; what is outside did not.
    assert_eq!(
        names(&list(&backend, "configmaps", ListQuery::default())),
        ["linked"]
    );
    assert_eq!(
        names(&list(&backend, "pods", ListQuery::default())),
        ["web"]
    );
}

#[test]
fn deep_yaml_flow_nesting_is_refused_before_parsing() {
    // Before: a 100,000-deep flow sequence took minutes in the YAML parser
    // (its cost grows with the depth on every token) before the recursion
    // limit said anything.
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    one_pod_snapshot(root);
    let depth = 100_000;
    write(
        root,
        "deep.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: fine, namespace: staging}}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: deep, namespace: staging}}\n\
             data: {}{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
    );
    let (backend, problems) = load_within(root, Default::default())
        .expect("the load finished")
        .expect("loads");
    let deep = problems_for(&problems, "deep.yaml");
    assert_eq!(deep.len(), 1, "{problems:#?}");
    assert!(
        deep[0].message.starts_with(
            "document 2 (line 4): flow collections ([…] or {…}) nested more than 128 deep at \
             line 8"
        ),
        "{}",
        deep[0].message
    );
    assert_eq!(
        names(&list(&backend, "configmaps", ListQuery::default())),
        ["fine"]
    );
}

#[test]
fn a_misshapen_object_is_skipped_alone_and_named() {
    // Before: a Pod with `spec: [1,2,3]` loaded, and the skill that decoded
    // the namespace's pods failed for all of them, naming neither file nor
    // object.
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let mut bad = pod_json("staging", "web-1", "2", &["c"], json!({}));
    bad["spec"] = json!([1, 2, 3]);
    let mut bad_port = pod_json("staging", "web-3", "4", &["c"], json!({}));
    bad_port["spec"]["containers"][0]["ports"] = json!([{"containerPort": "http"}]);
    write(
        root,
        "staging/pods.json",
        &typed_list(
            "v1",
            "PodList",
            vec![
                pod_json("staging", "web-0", "1", &["c"], json!({})),
                bad,
                pod_json("staging", "web-2", "3", &["c"], json!({})),
                bad_port,
            ],
        ),
    );
    write(
        root,
        "deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: staging}\nspec: {replicas: many}\n",
    );
    let (backend, problems) = Snapshot::load(root).expect("loads");
    let pods = problems_for(&problems, "staging/pods.json");
    assert_eq!(pods.len(), 2, "{problems:#?}");
    assert!(
        pods[0]
            .message
            .starts_with("item 2 (Pod staging/web-1): spec: invalid type: sequence"),
        "{}",
        pods[0].message
    );
    assert!(
        pods[1].message.starts_with(
            "item 4 (Pod staging/web-3): spec.containers[0].ports[0].containerPort: invalid \
             type: string \"http\""
        ),
        "{}",
        pods[1].message
    );
    assert!(pods[0].message.contains("skipped"), "{}", pods[0].message);
    let deploy = problems_for(&problems, "deploy.yaml");
    assert_eq!(deploy.len(), 1, "{problems:#?}");
    assert!(
        deploy[0]
            .message
            .starts_with("Deployment staging/web: spec.replicas: invalid type: string \"many\""),
        "{}",
        deploy[0].message
    );
    // The others load, and the whole list decodes as the API's type.
    let listed = list(&backend, "pods", ListQuery::default());
    assert_eq!(names(&listed), ["web-0", "web-2"]);
    serde_json::from_value::<k8s_openapi::List<k8s_openapi::api::core::v1::Pod>>(listed)
        .expect("every served pod decodes");
}

#[test]
fn a_file_over_the_size_bound_is_skipped_and_named() {
    // Before: any size was read whole (a 200 MB ConfigMap then broke
    // diagnose with an error naming no file).
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    one_pod_snapshot(root);
    let big = write(
        root,
        "staging/configmaps.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big, namespace: staging}}\ndata:\n  blob: {}\n",
            "x".repeat(3 << 20)
        ),
    );
    let options = LoadOptions {
        max_file_bytes: 2 << 20,
    };
    let (backend, problems) = load_within(root, options)
        .expect("finished")
        .expect("loads");
    let found = problems_for(&problems, "staging/configmaps.yaml");
    assert_eq!(found.len(), 1, "{problems:#?}");
    assert_eq!(found[0].file, big);
    assert!(
        found[0]
            .message
            .starts_with("3 MiB, over the per-file limit of 2 MiB; skipped"),
        "{}",
        found[0].message
    );
    assert!(
        found[0]
            .message
            .contains("GUARDIAN_SNAPSHOT_MAX_FILE_BYTES"),
        "{}",
        found[0].message
    );
    assert_eq!(
        names(&list(&backend, "pods", ListQuery::default())),
        ["web"]
    );
    // The default bound is 64 MiB.
    assert_eq!(LoadOptions::default().max_file_bytes, 64 << 20);
}

#[test]
fn twenty_thousand_small_config_maps_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let items: Vec<Value> = (0..20_000)
        .map(|i| {
            json!({"metadata": {"name": format!("cm-{i:05}"), "namespace": format!("ns-{}", i % 20)},
                   "data": {"app.properties": format!("key.{i}=value-{i}\nmode=fast\n")}})
        })
        .collect();
    write(
        root,
        "configmaps.json",
        &typed_list("v1", "ConfigMapList", items),
    );
    let (backend, problems) = Snapshot::load(root).expect("loads");
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(backend.object_count(), 20_000);
    let one = list(
        &backend,
        "configmaps",
        ListQuery {
            namespace: Some("ns-7".into()),
            ..ListQuery::default()
        },
    );
    assert_eq!(one["items"].as_array().map(Vec::len), Some(1000));
}
