//! The live path against a real kube-apiserver (`guardian_tests::kube`),
//! through the real `guardian` binary:
//! - what Guardian reads (get, list with label and field selectors, limit,
//!   events, logs through the API server from the node's kubelet) is what
//!   kubectl reads, and what Guardian reads from the snapshot the objects
//!   came from;
//! - discovery finds custom resources once their CRD is Established;
//! - an RBAC 403 names the verb, the resource and the Role rule for the
//!   identity impersonated with `--as` / `--as-group`; a 401 names the
//!   context and the server;
//! - a server-side dry run is the API server's answer: its validation and
//!   its admission (a ValidatingAdmissionPolicy) refuse what they refuse;
//! - an unreachable server, an unknown context, a missing kubeconfig and an
//!   untrusted certificate are each said so;
//! - `diagnose` on the server finds what it finds in the snapshot.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use guardian_broker::{Audit, Broker, CallContext, ClusterOptions, Policy};
use guardian_tests::kube::{ControlPlane, control_plane};
use serde_json::{Value, json};

use crate::cluster::{Env, of_app, staging, staging_copy};
use crate::serve::closed_port;
use crate::support::example_snapshot;

/// The names of a `cluster.list` answer.
fn names(answer: &Value) -> BTreeSet<String> {
    answer["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {answer}"))
        .iter()
        .map(|row| row["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The names kubectl lists with `args` (`get RESOURCE -n NS …`).
fn kubectl_names(k: &ControlPlane, args: &[&str]) -> BTreeSet<String> {
    let mut all = args.to_vec();
    all.extend([
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
    ]);
    k.run(&all).lines().map(str::to_owned).collect()
}

/// The same call against the example snapshot the server's objects came
/// from.
fn snapshot_flag() -> Vec<String> {
    vec![
        "--snapshot".into(),
        example_snapshot().to_str().unwrap().into(),
    ]
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn reads_are_what_kubectl_and_the_snapshot_read() {
    let Some(k) = control_plane() else { return };
    let ns = staging(k);
    crate::cluster::forget_server_repairs(k, ns);
    let env = Env::new(k);
    let snap = snapshot_flag();
    let snap: Vec<&str> = snap.iter().map(String::as_str).collect();

    // Every kind the example holds: the same objects as kubectl lists, and
    // the same rows as the snapshot gives (phase, readiness, restarts…).
    for resource in [
        "pods",
        "deployments.apps",
        "replicasets.apps",
        "statefulsets.apps",
        "daemonsets.apps",
        "services",
        "endpoints",
        "endpointslices.discovery.k8s.io",
        "configmaps",
        "serviceaccounts",
        "persistentvolumeclaims",
        "horizontalpodautoscalers.autoscaling",
        "poddisruptionbudgets.policy",
        "ingresses.networking.k8s.io",
        "networkpolicies.networking.k8s.io",
        "events",
    ] {
        let input = json!({"resource": resource, "namespace": ns});
        let live = env.call_ok("cluster.list", &input, &[]);
        let want = kubectl_names(k, &["get", resource, "-n", ns]);
        assert!(!want.is_empty(), "the example has {resource}");
        assert_eq!(names(&live), want, "list {resource}");
        assert_eq!(live["count"], json!(want.len()), "{resource}");
        let offline = env.call_ok("cluster.list", &input, &snap);
        if live["items"] != offline["items"] {
            // Which objects the server holds beyond the example's, and who
            // made them.
            let extra: Vec<&Value> = live["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| !offline["items"].as_array().unwrap().contains(i))
                .collect();
            for i in &extra {
                if let Some(name) = i["name"].as_str() {
                    eprintln!(
                        "{}",
                        k.run(&["get", resource, name, "-n", ns, "-o", "yaml"])
                    );
                }
            }
        }
        assert_eq!(live["items"], offline["items"], "rows of {resource}");
    }
    // Cluster-scoped: the example's nodes are on the server.
    let nodes = env.call_ok("cluster.list", &json!({"resource": "nodes"}), &[]);
    assert_eq!(names(&nodes), kubectl_names(k, &["get", "nodes"]));
    assert!(names(&nodes).contains("stg-worker-3"), "{nodes}");

    // get: the object as kubectl gets it, redacted the same way.
    for (resource, namespace, name) in [
        ("pods", Some(ns), "search-cm2pt495j6-sh7fd"),
        ("deployments.apps", Some(ns), "checkout"),
        ("configmaps", Some(ns), "checkout-config"),
        ("services", Some(ns), "recommender"),
        ("nodes", None, "stg-worker-1"),
    ] {
        let mut input = json!({"resource": resource, "name": name});
        let mut args = vec!["get", resource, name, "-o", "json", "--show-managed-fields"];
        if let Some(namespace) = namespace {
            input["namespace"] = namespace.into();
            args.extend(["-n", namespace]);
        }
        let got = env.call_ok("cluster.get", &input, &[]);
        let mut want: Value = serde_json::from_str(&k.run(&args)).unwrap();
        guardian_broker::redact::object(&mut want);
        assert_eq!(got, want, "get {resource} {name}");
    }

    // kubectl's names for resources, resolved by discovery.
    for (name, kind) in [
        ("po", "Pod"),
        ("deploy", "Deployment"),
        ("Deployment", "Deployment"),
        ("ev", "Event"),
        ("svc", "Service"),
    ] {
        let answer = env.call_ok(
            "cluster.list",
            &json!({"resource": name, "namespace": ns, "limit": 1}),
            &[],
        );
        assert_eq!(answer["kind"], kind, "{name}");
    }
    let err = env.call_err(
        "cluster.list",
        &json!({"resource": "nonsense", "namespace": ns}),
        &[],
    );
    assert!(err.contains("unknown resource type \"nonsense\""), "{err}");

    // Label and field selectors: the server's answer, the snapshot's.
    for (labels, fields) in [
        (Some("app in (checkout,payments)"), None),
        (Some("app!=catalog,tier"), None),
        (None, Some("status.phase!=Running")),
        (Some("app=catalog"), Some("status.phase=Running")),
    ] {
        let mut input = json!({"resource": "pods", "namespace": ns});
        let mut args = vec!["get", "pods", "-n", ns];
        if let Some(l) = labels {
            input["label_selector"] = l.into();
            args.extend(["-l", l]);
        }
        if let Some(f) = fields {
            input["field_selector"] = f.into();
            args.extend(["--field-selector", f]);
        }
        let live = env.call_ok("cluster.list", &input, &[]);
        let want = kubectl_names(k, &args);
        assert!(!want.is_empty(), "{labels:?} {fields:?} selects something");
        assert_eq!(names(&live), want, "{labels:?} {fields:?}");
        let offline = env.call_ok("cluster.list", &input, &snap);
        assert_eq!(names(&offline), want, "{labels:?} {fields:?} (snapshot)");
    }
    let limited = env.call_ok(
        "cluster.list",
        &json!({"resource": "pods", "namespace": ns, "limit": 2}),
        &[],
    );
    assert_eq!(limited["count"], 2, "{limited}");
    let err = env.call_err(
        "cluster.list",
        &json!({"resource": "pods", "namespace": ns, "label_selector": "app in ("}),
        &[],
    );
    assert!(
        err.contains("list pods in namespace \"staging\"")
            && err.contains("unable to parse requirement"),
        "the API server's words, and what was asked: {err}"
    );

    // Not found: what, where.
    let err = env.call_err(
        "cluster.get",
        &json!({"resource": "pods", "namespace": ns, "name": "nope"}),
        &[],
    );
    assert!(
        err.contains("pods \"nope\" not found in namespace \"staging\""),
        "{err}"
    );

    // Events of an object: kubectl's, oldest first, as the snapshot has them.
    for (kind, name) in [
        ("Pod", "search-cm2pt495j6-sh7fd"),
        ("Deployment", "search"),
        ("StatefulSet", "orders-db"),
        ("Pod", "checkout-kztvhqzmsz-drzl8"),
    ] {
        let input = json!({"namespace": ns, "kind": kind, "name": name});
        let live = env.call_ok("cluster.events", &input, &[]);
        let offline = env.call_ok("cluster.events", &input, &snap);
        assert_eq!(live, offline, "events of {kind} {name}");
        let selector = format!("involvedObject.kind={kind},involvedObject.name={name}");
        let want = kubectl_names(
            k,
            &["get", "events", "-n", ns, "--field-selector", &selector],
        );
        assert!(!want.is_empty(), "{kind} {name} has events");
        assert_eq!(live["count"], json!(want.len()), "events of {kind} {name}");
        let seen: Vec<&str> = live["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["last_seen"].as_str().unwrap())
            .collect();
        assert!(
            seen.windows(2).all(|w| w[0] <= w[1]),
            "oldest first: {seen:?}"
        );
    }
}

#[test]
fn logs_come_from_the_kubelet_through_the_api_server() {
    let Some(k) = control_plane() else { return };
    let ns = staging(k);
    let env = Env::new(k);
    let snap = snapshot_flag();
    let snap: Vec<&str> = snap.iter().map(String::as_str).collect();

    // Current and previous instance, whole tail and two lines: what the
    // snapshot of the same pods holds, masked the same way.
    for pod in ["search-cm2pt495j6-sh7fd", "checkout-kztvhqzmsz-drzl8"] {
        for previous in [false, true] {
            for tail in [0, 2] {
                let input =
                    json!({"namespace": ns, "pod": pod, "previous": previous, "tail_lines": tail});
                let live = env.call_ok("cluster.logs", &input, &[]);
                let offline = env.call_ok("cluster.logs", &input, &snap);
                assert_eq!(live, offline, "{input}");
                assert!(live["lines"].as_u64().unwrap() > 0, "{input}: {live}");
                if tail == 2 {
                    assert_eq!(live["lines"], 2, "{input}");
                }
            }
        }
    }

    // A container whose kubelet cannot give its log: an error that names
    // the pod, the server and the kubelet's reason — not an empty log.
    let input = json!({"namespace": ns, "pod": "payments-mw4w7xggnc-5v8q8"});
    let err = env.call_err("cluster.logs", &input, &[]);
    assert!(
        err.contains(&format!(
            "get logs of pod staging/payments-mw4w7xggnc-5v8q8: the API server at {} answered 500",
            k.url
        )) && err.contains(
            "container \"payments\" in pod \"payments-mw4w7xggnc-5v8q8\" is waiting to start: \
             CreateContainerConfigError"
        ),
        "{err}"
    );
    // A previous instance that does not exist: the kubelet's words.
    let input = json!({"namespace": ns, "pod": "catalog-d5gfpmmqx6-dblvg", "previous": true});
    let err = env.call_err("cluster.logs", &input, &[]);
    assert!(
        err.contains("previous terminated container \"catalog\""),
        "{err}"
    );

    // Two containers: which one is asked.
    let other = k.namespace("logs");
    k.create_objects(
        &other,
        &other,
        &[json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "two", "namespace": other, "uid": "old-two"},
            "spec": {"nodeName": "stg-worker-1", "containers": [
                {"name": "app", "image": "example/app:1"},
                {"name": "sidecar", "image": "example/sidecar:1"}]}
        })],
        false,
    );
    for (container, text) in [("app", "app says hello\n"), ("sidecar", "sidecar ready\n")] {
        k.set_log(&guardian_tests::kube::PodLog {
            namespace: other.clone(),
            pod: "two".into(),
            container: container.into(),
            previous: false,
            text: Ok(text.into()),
        });
    }
    let err = env.call_err(
        "cluster.logs",
        &json!({"namespace": other, "pod": "two"}),
        &[],
    );
    assert!(err.contains("app") && err.contains("sidecar"), "{err}");
    let got = env.call_ok(
        "cluster.logs",
        &json!({"namespace": other, "pod": "two", "container": "sidecar"}),
        &[],
    );
    assert_eq!(got["log"], "sidecar ready\n");
}

/// The Argo CD Application CRD (the fixture, applied server-side as Argo CD
/// ships it) and a CRD of our own that no built-in table knows: once
/// Established, discovery serves both — to a skill granted them, by any of
/// kubectl's names, and to `snapshot capture`, which takes Argo CD's kinds
/// when the server serves them.
#[test]
fn custom_resources_are_found_by_discovery_once_established() {
    let Some(k) = control_plane() else { return };
    let crds = Path::new(guardian_tests::REPO_ROOT).join("../shared/fixtures/argocd-crds");
    k.run(&[
        "apply",
        "--server-side",
        "-f",
        crds.join("application-crd.yaml").to_str().unwrap(),
    ]);
    k.apply(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wdg]}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
"#,
    );
    k.wait_established("applications.argoproj.io");
    k.wait_established("widgets.example.com");
    let ns = k.namespace("crds");
    k.apply(&format!(
        r#"apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: shop, namespace: {ns}}}
spec:
  project: default
  source: {{repoURL: "https://git.example.com/shop.git", path: deploy, targetRevision: HEAD}}
  destination: {{server: "https://kubernetes.default.svc", namespace: shop}}
---
apiVersion: example.com/v1alpha1
kind: Widget
metadata: {{name: w1, namespace: {ns}}}
spec: {{size: 3}}
"#
    ));

    // A skill granted the two kinds (the test skill `hostile`, whose `get`
    // reads any object the host lets it).
    let env = Env::new(k);
    let skills = env.path().join("skills");
    let manifest = env.path().join("skill.toml");
    let original = std::fs::read_to_string(guardian_tests::skill_manifest("hostile")).unwrap();
    std::fs::write(
        &manifest,
        original.replace(
            "read = [\"pods\"]",
            "read = [\"pods\", \"widgets.example.com\", \"applications.argoproj.io\"]",
        ),
    )
    .unwrap();
    assert_ne!(std::fs::read_to_string(&manifest).unwrap(), original);
    crate::support::install_skill(
        &skills,
        "hostile",
        &guardian_tests::skill_wasm("hostile"),
        &manifest,
    );
    let dir = ["--skills-dir", skills.to_str().unwrap()];
    for (resource, name, api_version) in [
        ("applications.argoproj.io", "shop", "argoproj.io/v1alpha1"),
        ("app", "shop", "argoproj.io/v1alpha1"),
        ("Application", "shop", "argoproj.io/v1alpha1"),
        ("widgets.example.com", "w1", "example.com/v1alpha1"),
        ("wdg", "w1", "example.com/v1alpha1"),
        ("Widget", "w1", "example.com/v1alpha1"),
    ] {
        let got = env.call_ok(
            "hostile.get",
            &json!({"resource": resource, "namespace": ns, "name": name}),
            &dir,
        );
        assert_eq!(got["metadata"]["name"], name, "{resource}");
        assert_eq!(got["apiVersion"], api_version, "{resource}");
    }
    let widget = env.call_ok(
        "hostile.get",
        &json!({"resource": "wdg", "namespace": ns, "name": "w1"}),
        &dir,
    );
    assert_eq!(widget["spec"]["size"], 3);
    // Served, but not granted: the grant is named, not the server asked.
    let err = env.call_err(
        "cluster.get",
        &json!({"resource": "wdg", "namespace": ns, "name": "w1"}),
        &[],
    );
    assert!(
        err.contains("no grant to read `widgets.example.com`"),
        "{err}"
    );

    // `snapshot capture` takes the Argo CD kinds the server serves.
    let out = env.path().join("capture");
    let captured = env
        .guardian(&[
            "snapshot",
            "capture",
            "-n",
            &ns,
            "-o",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(captured.status.success(), "{}", text(&captured));
    let apps = std::fs::read_to_string(out.join(&ns).join("applications.argoproj.io.json"))
        .unwrap_or_else(|e| panic!("applications captured: {e}: {}", text(&captured)));
    assert!(apps.contains("https://git.example.com/shop.git"), "{apps}");
}

/// A namespace with the example's `search` app, a ServiceAccount `viewer`
/// that may read pods but not their logs or Deployments, and a group `sre`
/// that may read pods. Returns the namespace.
fn rbac_namespace(k: &ControlPlane) -> String {
    let ns = staging_copy(k, "rbac", |o| of_app(o, "search"));
    k.apply(&format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: viewer, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: pod-reader, namespace: {ns}}}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: viewer, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}}
subjects:
- {{kind: ServiceAccount, name: viewer, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: sre, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}}
subjects:
- {{kind: Group, name: sre, apiGroup: rbac.authorization.k8s.io}}
"#
    ));
    ns
}

#[test]
fn rbac_denials_name_the_role_rule_and_the_identity_impersonated() {
    let Some(k) = control_plane() else { return };
    let ns = rbac_namespace(k);
    let env = Env::with_users(k, &[("bad-token", "not-a-token-the-server-knows")]);
    let viewer = format!("system:serviceaccount:{ns}:viewer");
    let pod = "search-cm2pt495j6-sh7fd";

    // Allowed by the Role: read.
    let got = env.call_ok(
        "cluster.get",
        &json!({"resource": "pods", "namespace": ns, "name": pod}),
        &["--as", &viewer],
    );
    assert_eq!(got["metadata"]["name"], pod);

    // pods/log: the verb, the subresource, the identity and the rule.
    let audit = env.path().join("audit.jsonl");
    let err = env.call_err(
        "cluster.logs",
        &json!({"namespace": ns, "pod": pod}),
        &["--as", &viewer, "--audit", audit.to_str().unwrap()],
    );
    let want = format!(
        "RBAC forbids get on pods/log in namespace {ns} for user \"{viewer}\"; a Role rule that \
         allows it: {{apiGroups: [\"\"], resources: [\"pods/log\"], verbs: [\"get\"]}} — pods/log \
         is a subresource: a rule for \"pods\" alone does not cover it"
    );
    assert!(err.contains(&want), "{err}");
    // Policy allowed the read; the server refused it: both in the audit.
    let lines: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let logs = lines
        .iter()
        .find(|l| l["verb"] == "logs")
        .unwrap_or_else(|| panic!("no audit line for the log read: {lines:?}"));
    assert_eq!(logs["decision"], "allow", "{logs}");
    assert_eq!(logs["error"], "denied", "{logs}");

    // Another API group: the rule names it.
    let err = env.call_err(
        "cluster.list",
        &json!({"resource": "deployments.apps", "namespace": ns}),
        &["--as", &viewer],
    );
    assert!(
        err.contains(&format!(
            "RBAC forbids list on deployments.apps in namespace {ns} for user \"{viewer}\"; a Role \
             rule that allows it: {{apiGroups: [\"apps\"], resources: [\"deployments\"], verbs: [\"list\"]}}"
        )),
        "{err}"
    );

    // --as-group reaches the server: jane alone may not read pods; as a
    // member of sre she may.
    let list = json!({"resource": "pods", "namespace": ns});
    let err = env.call_err("cluster.list", &list, &["--as", "jane"]);
    assert!(
        err.contains(&format!(
            "RBAC forbids list on pods in namespace {ns} for user \"jane\""
        )),
        "{err}"
    );
    let pods = env.call_ok(
        "cluster.list",
        &list,
        &["--as", "jane", "--as-group", "sre"],
    );
    assert!(names(&pods).contains(pod), "{pods}");

    // 401: the credentials were refused, which context's, and where.
    let err = env.call_err("cluster.list", &list, &["--context", "bad-token"]);
    assert!(
        err.contains("refused the credentials of context bad-token") && err.contains(&k.url),
        "{err}"
    );
}

/// `patch.propose` dry-runs the patch on the server: what the API server's
/// validation or admission refuses is refused with its words, nothing is
/// stored, and the object does not change.
#[test]
fn a_dry_run_is_the_api_servers_answer() {
    let Some(k) = control_plane() else { return };
    let ns = staging_copy(k, "dryrun", |o| of_app(o, "search"));
    let env = Env::new(k);
    let version = || {
        k.run(&[
            "get",
            "deployment",
            "search",
            "-n",
            &ns,
            "-o",
            "jsonpath={.metadata.resourceVersion}/{.metadata.generation}",
        ])
    };
    let before = version();
    let propose = |patch: Value| {
        let input = json!({
            "target": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": ns, "name": "search"},
            "json_patch": patch,
            "rationale": "test",
        });
        env.call("patch.propose", &input, &[])
    };
    let pending = || {
        let out = env
            .guardian(&["actions", "list", "-o", "json"])
            .output()
            .unwrap();
        serde_json::from_slice::<Vec<Value>>(&out.stdout)
            .unwrap()
            .len()
    };

    // Validation: a negative replica count.
    let out = propose(json!([
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": -1},
    ]));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
        "{}",
        text(&out)
    );
    // A test that no longer holds: the server's conflict.
    let out = propose(json!([
        {"op": "test", "path": "/spec/replicas", "value": 9},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
    ]));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("dry run"), "{}", text(&out));

    // Admission: a ValidatingAdmissionPolicy bound to this namespace
    // refuses images from outside the registry.
    k.apply(&format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: registry-{ns}}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [apps]
      apiVersions: [v1]
      operations: [CREATE, UPDATE]
      resources: [deployments]
  validations:
  - expression: "object.spec.template.spec.containers.all(c, c.image.startsWith('registry.example.com/'))"
    message: images must come from registry.example.com
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: registry-{ns}}}
spec:
  policyName: registry-{ns}
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {{kubernetes.io/metadata.name: {ns}}}
"#
    ));
    let evil = json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "search"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "evil.example/search:1"},
    ]);
    // The policy takes effect once the server has loaded it: wait for
    // kubectl's own server-side dry run to be refused.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = k
            .kubectl()
            .args(["patch", "deployment", "search", "-n", &ns, "--type=json"])
            .args(["--dry-run=server", "-p", &evil.to_string()])
            .output()
            .unwrap();
        if !out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the admission policy never took effect"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = propose(evil);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("images must come from registry.example.com"),
        "the admission policy's message: {}",
        text(&out)
    );

    // Nothing of this was stored or changed the object.
    let listed = env
        .guardian(&["actions", "list", "--state", "pending", "-o", "json"])
        .output()
        .unwrap();
    let listed: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    assert_eq!(version(), before);

    // A good patch passes the same dry run: stored pending, object as it was.
    let out = propose(json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "search"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "registry.example.com/shop/search:1.9.1"},
    ]));
    assert!(out.status.success(), "{}", text(&out));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["state"], "pending", "{answer}");
    assert!(pending() >= 1);
    assert_eq!(version(), before, "a dry run changes nothing");
}

#[test]
fn unreachable_servers_unknown_contexts_and_refused_certificates_are_said_so() {
    let Some(k) = control_plane() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The server's CA beside the kubeconfig, named by a relative path as
    // kubectl allows; a context whose server is down.
    std::fs::copy(&k.ca, d.join("ca.crt")).unwrap();
    let dead = format!("https://127.0.0.1:{}", closed_port());
    let kubeconfig = |ca: bool| {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: real\nclusters:\n\
             - name: real\n  cluster:\n    server: {}\n{}\
             - name: dead\n  cluster:\n    server: {dead}\n    insecure-skip-tls-verify: true\n\
             users:\n- name: admin\n  user:\n    token: {}\n\
             contexts:\n- name: real\n  context:\n    cluster: real\n    user: admin\n\
             - name: dead\n  context:\n    cluster: dead\n    user: admin\n",
            k.url,
            if ca {
                "    certificate-authority: ca.crt\n"
            } else {
                ""
            },
            guardian_tests::kube::ADMIN_TOKEN,
        )
    };
    std::fs::write(d.join("trusted"), kubeconfig(true)).unwrap();
    std::fs::write(d.join("untrusted"), kubeconfig(false)).unwrap();
    let doctor = |kubeconfig: &str, extra: &[&str]| {
        let out = crate::support::guardian(&crate::cluster::shared_cache())
            .arg("--kubeconfig")
            .arg(d.join(kubeconfig))
            .arg("doctor")
            .args(extra)
            .output()
            .unwrap();
        (out.status.code(), text(&out))
    };

    // Trusted through the relative CA path: the server's version.
    let (_, out) = doctor("trusted", &[]);
    assert!(
        out.contains(&format!("Server:   Kubernetes {}", k.version)),
        "{out}"
    );
    // Without that CA the certificate is refused, and the error says TLS.
    let (code, out) = doctor("untrusted", &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("TLS with the API server at {}", k.url)),
        "{out}"
    );
    // A context whose server is down: unavailable, naming the URL and the
    // context.
    let (code, out) = doctor("trusted", &["--context", "dead"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&dead) && out.contains("context dead"), "{out}");
    // An unknown context lists the others.
    let (code, out) = doctor("trusted", &["--context", "prod"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("its contexts: real, dead"), "{out}");
    // A missing kubeconfig says so.
    let (code, out) = doctor("nope", &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("does not exist"), "{out}");
}

/// `diagnose` on the real server finds what it finds in the snapshot the
/// objects came from: the same findings, the same evidence (logs through the
/// kubelet, events, statuses), the same fixes — each dry-run by the API
/// server, whose defaults only move the diff's line numbers.
#[test]
fn diagnose_on_the_server_finds_what_it_finds_in_the_snapshot() {
    let Some(k) = control_plane() else { return };
    let ns = staging(k);
    crate::cluster::forget_server_repairs(k, ns);
    let env = Env::new(k);
    let diagnose = |extra: &[&str]| -> Value {
        let out = env
            .guardian(&["diagnose", "-n", ns, "-o", "json"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let live = diagnose(&[]);
    let snap = snapshot_flag();
    let offline = diagnose(&snap.iter().map(String::as_str).collect::<Vec<_>>());
    let findings = |report: &Value| -> Vec<Value> {
        let mut all = report["findings"].as_array().unwrap().clone();
        for finding in &mut all {
            for fix in finding["fixes"].as_array_mut().into_iter().flatten() {
                if let Some(diff) = fix["yaml_diff"].as_str() {
                    fix["yaml_diff"] = changed_lines(diff).into();
                }
            }
        }
        all
    };
    let (live_findings, offline_findings) = (findings(&live), findings(&offline));
    assert!(
        offline_findings.len() >= 8,
        "the example's breakages: {offline}"
    );
    assert_eq!(live_findings, offline_findings);
    let dry_runs = live_findings
        .iter()
        .flat_map(|f| f["fixes"].as_array().into_iter().flatten())
        .filter(|x| x["dry_run"]["result"] == "passed")
        .count();
    assert!(dry_runs >= 5, "fixes dry-run by the API server: {live}");
    assert!(
        live["summary"]["source"].as_str().unwrap().contains(&k.url),
        "{}",
        live["summary"]
    );
}

/// The lines a unified diff adds or removes (not its hunk headers, whose
/// line numbers depend on the fields the server defaulted).
pub fn changed_lines(diff: &str) -> String {
    diff.lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ----- the backend's own guards -----------------------------------------

/// A broker on the real server, with the default policy, auditing to
/// memory.
async fn real_broker(k: &ControlPlane, dir: &std::path::Path) -> (Broker, Arc<Audit>) {
    let audit = Arc::new(Audit::memory());
    let broker = Broker::live(
        &ClusterOptions {
            kubeconfig: Some(k.kubeconfig(dir)),
            ..ClusterOptions::default()
        },
        Arc::new(Policy::defaults().unwrap()),
        audit.clone(),
    )
    .await
    .unwrap();
    (broker, audit)
}

/// The caller of the approved writes below: the host applying for alice,
/// allowed to write Deployments (policy still decides).
fn applier() -> CallContext {
    CallContext {
        caller: "human:alice".into(),
        skill: "guardian".into(),
        tool: "actions.apply".into(),
        grants: guardian_broker::GrantSets {
            read: vec!["*".into()],
            propose: vec!["deployments.apps".into()],
        },
        ..Default::default()
    }
}

fn approved_by(approver: &str) -> guardian_policy::ActionRef {
    guardian_policy::ActionRef {
        id: "act-1".into(),
        approved: true,
        approver: approver.into(),
    }
}

/// The broker writes only what a human approved, and only on the version
/// approved: an action approved by anything but a person is refused by
/// policy (audited, nothing sent), the approved write lands on the
/// approved resourceVersion, and the same approval on that (now old)
/// version is refused by the server, nothing written. (That a backend
/// refuses a permit minted for another call is the broker crate's unit
/// test.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_writes_only_what_was_approved_on_the_version_approved() {
    let Some(k) = control_plane() else { return };
    let ns = staging_copy(k, "guards", |o| of_app(o, "search"));
    let dir = tempfile::tempdir().unwrap();
    let (broker, audit) = real_broker(k, dir.path()).await;
    let deployments = broker.resolve("deployments.apps").await.unwrap();
    let cx = applier();
    let current = broker
        .get(&cx, &deployments, Some(&ns), "search")
        .await
        .unwrap();
    let version = current["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let patch = json!([{"op": "replace", "path": "/spec/replicas", "value": 5}]);
    let replicas = || {
        k.run(&[
            "get",
            "deployment",
            "search",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.replicas}",
        ])
    };
    // Approved by the agent loop: no write.
    let err = broker
        .apply_approved(
            &cx,
            &approved_by("agent:loop"),
            &deployments,
            Some(&ns),
            "search",
            &patch,
            &version,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "denied", "{err}");
    assert_eq!(replicas(), "2", "nothing was written");
    let denied = audit
        .lines()
        .into_iter()
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
        .filter(|l| l["verb"] == "patch" && l["dry_run"] == false && l["decision"] == "deny")
        .count();
    assert_eq!(denied, 1, "the refusal is audited");

    // Approved by a person: the write lands on the approved version…
    let applied = broker
        .apply_approved(
            &cx,
            &approved_by("human:alice"),
            &deployments,
            Some(&ns),
            "search",
            &patch,
            &version,
        )
        .await
        .unwrap();
    assert_eq!(applied["spec"]["replicas"], 5);
    assert_eq!(replicas(), "5");
    // …and only there: the same approval again is refused as a conflict.
    let again = json!([{"op": "replace", "path": "/spec/replicas", "value": 6}]);
    let err = broker
        .apply_approved(
            &cx,
            &approved_by("human:alice"),
            &deployments,
            Some(&ns),
            "search",
            &again,
            &version,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "conflict", "{err}");
    assert_eq!(replicas(), "5");

    // The server's version, as doctor prints it.
    let version = broker
        .server_version(&CallContext::host("test"))
        .await
        .unwrap();
    assert_eq!(version.git_version, k.version);
}

/// A JSON Patch whose `test` does not hold is a conflict — the object is not
/// what the patch was written against — on a real API server too, where it
/// answers 422 `Invalid` with the generic message "the server rejected our
/// request due to an error in our request" and no causes (the JSON Patch
/// library's "test failed" is not passed on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_whose_test_fails_is_a_conflict_on_the_real_server() {
    let Some(k) = control_plane() else { return };
    let ns = staging_copy(k, "stale", |o| of_app(o, "search"));
    let dir = tempfile::tempdir().unwrap();
    let (broker, _) = real_broker(k, dir.path()).await;
    let deployments = broker.resolve("deployments.apps").await.unwrap();
    // An approval for a version the object has moved on from.
    let patch = json!([{"op": "replace", "path": "/spec/replicas", "value": 6}]);
    let err = broker
        .apply_approved(
            &applier(),
            &approved_by("human:alice"),
            &deployments,
            Some(&ns),
            "search",
            &patch,
            "1",
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "conflict", "{err}");
    assert!(err.message().contains("test operation"), "{err}");

    // A proposal whose test no longer holds: its dry run says why.
    let env = Env::new(k);
    let err = env.call_err(
        "patch.propose",
        &json!({
            "target": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": ns, "name": "search"},
            "json_patch": [
                {"op": "test", "path": "/spec/replicas", "value": 9},
                {"op": "replace", "path": "/spec/replicas", "value": 3},
            ],
            "rationale": "test",
        }),
        &[],
    );
    assert!(
        err.contains("test operation failed") && err.contains("re-propose"),
        "{err}"
    );
}
