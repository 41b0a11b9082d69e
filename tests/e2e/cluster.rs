//! Helpers for the tests against the real kube-apiserver
//! (`guardian_tests::kube`): the example cluster recreated in a fresh
//! namespace, and `guardian` pointed at the server.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use guardian_tests::kube::{ControlPlane, read_dump};
use serde_json::Value;

use crate::support::{example_snapshot, guardian};

/// `examples/staging` recreated on the real server, once per test run, in
/// a namespace named `staging` as in the example, which no test changes:
/// every object of the example's namespace (owners first, statuses as the
/// dump has them, Services with their cluster IPs) and its cluster-scoped
/// objects (nodes served by the kubelet stand-in, which serves the pods'
/// logs, previous instances included). Returns the namespace.
pub fn staging(k: &ControlPlane) -> &'static str {
    static NS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NS.get_or_init(|| {
        k.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: staging\n");
        load_staging(k, "staging".into(), |_| true, true)
    })
}

/// Deletes the Events the API server itself wrote in `ns` after the example
/// was loaded: its Service IP allocator's periodic repair ("Cluster IP … is
/// not allocated; repairing", every few minutes from the server's start)
/// speaks of the example's Services, which were created with the cluster
/// IPs of the dump. They are the server's, not the example's, so a test
/// comparing the server with the snapshot leaves them out.
pub fn forget_server_repairs(k: &ControlPlane, ns: &str) {
    k.run(&[
        "delete",
        "events",
        "-n",
        ns,
        "--field-selector",
        "reportingComponent=ipallocator-repair-controller",
        "--ignore-not-found",
    ]);
}

/// A fresh namespace `<prefix>-…` holding the namespaced objects of
/// `examples/staging` that `keep` accepts (Services get new cluster IPs),
/// for a test that changes them. Returns the namespace.
pub fn staging_copy(k: &ControlPlane, prefix: &str, keep: impl Fn(&Value) -> bool) -> String {
    load_staging(k, k.namespace(prefix), keep, false)
}

fn load_staging(
    k: &ControlPlane,
    ns: String,
    keep: impl Fn(&Value) -> bool,
    keep_cluster_ips: bool,
) -> String {
    let dump = read_dump(&example_snapshot());
    let objects: Vec<Value> = dump
        .objects
        .into_iter()
        .filter(|o| {
            o["metadata"]["namespace"]
                .as_str()
                .is_none_or(|n| n == "staging")
        })
        .filter(|o| o["metadata"]["namespace"].is_null() || keep(o))
        .collect();
    let pods: Vec<&str> = objects
        .iter()
        .filter(|o| o["kind"] == "Pod")
        .filter_map(|o| o["metadata"]["name"].as_str())
        .collect();
    for mut log in dump.logs {
        if log.namespace == "staging" && pods.contains(&log.pod.as_str()) {
            log.namespace = ns.clone();
            k.set_log(&log);
        }
    }
    // The example's own ServiceAccount `default` replaces the one the
    // namespace was made with.
    if objects
        .iter()
        .any(|o| o["kind"] == "ServiceAccount" && o["metadata"]["name"] == "default")
    {
        k.run(&[
            "delete",
            "serviceaccount",
            "default",
            "-n",
            &ns,
            "--ignore-not-found",
        ]);
    }
    k.create_objects(&ns, "staging", &objects, keep_cluster_ips);
    ns
}

/// Whether `object` is about the app `name` of the example (its Deployment,
/// ReplicaSets, pods, Service and their events).
pub fn of_app(object: &Value, name: &str) -> bool {
    let own = |o: &Value| {
        o["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n == name || n.starts_with(&format!("{name}-")))
    };
    match object["kind"].as_str() {
        Some("Event") => {
            let about = &object["involvedObject"]["name"];
            about
                .as_str()
                .is_some_and(|n| n == name || n.starts_with(&format!("{name}-")))
        }
        _ => own(object),
    }
}

/// A folder with the admin kubeconfig, a compile cache and a state folder,
/// for running `guardian` against the real server.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl Env {
    pub fn new(k: &ControlPlane) -> Env {
        Env::with_users(k, &[])
    }

    /// With one more context per `(name, token)` of `users`.
    pub fn with_users(k: &ControlPlane, users: &[(&str, &str)]) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = k.kubeconfig_with(dir.path(), users);
        Env { dir, kubeconfig }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `guardian --kubeconfig K --state-dir S ARGS`.
    pub fn guardian(&self, args: &[&str]) -> Command {
        let mut cmd = guardian(&shared_cache());
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .args(args)
            .stdin(std::process::Stdio::null());
        cmd
    }

    /// `guardian skills call SKILL.TOOL --input INPUT` with `extra` flags.
    pub fn call(&self, tool: &str, input: &Value, extra: &[&str]) -> Output {
        self.guardian(&["skills", "call", tool, "--input", &input.to_string()])
            .args(extra)
            .output()
            .expect("guardian runs")
    }

    /// [`Env::call`] that must succeed: its JSON answer.
    pub fn call_ok(&self, tool: &str, input: &Value, extra: &[&str]) -> Value {
        let out = self.call(tool, input, extra);
        assert!(
            out.status.success(),
            "{tool} {input} {extra:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{tool}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// [`Env::call`] that must fail: its error output.
    pub fn call_err(&self, tool: &str, input: &Value, extra: &[&str]) -> String {
        let out = self.call(tool, input, extra);
        assert!(
            !out.status.success(),
            "{tool} {input} {extra:?} unexpectedly succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

/// One compile cache for every test against the real server (in cargo's
/// folder for integration tests): the built-in skills are compiled once,
/// not once per test.
pub fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-compile-cache")
}

/// A Deployment `web` (one replica, container `web`, image `nginx:1.0`)
/// in `ns`: the target the write-path tests propose changes to.
pub fn web_deployment(k: &ControlPlane, ns: &str) {
    k.apply(&format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - {{name: web, image: "nginx:1.0"}}
"#
    ));
}

/// The Deployment `web` of `ns`, as the server holds it.
pub fn web(k: &ControlPlane, ns: &str) -> Value {
    serde_json::from_str(&k.run(&["get", "deployment", "web", "-n", ns, "-o", "json"])).unwrap()
}

/// The image of the Deployment `web` of `ns`.
pub fn web_image(k: &ControlPlane, ns: &str) -> String {
    web(k, ns)["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_owned()
}
