//! `guardian snapshot serve`, driven by the real `kubectl`.
//!
//! Each test starts the real binary on `127.0.0.1:0`, reads the bound address
//! from its first stderr line, and points kubectl at it through a kubeconfig
//! in a temporary folder (with its own discovery cache). The server is killed
//! when the test's [`Served`] guard drops, pass or fail.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// How long the server may take to print its address (it loads the
/// snapshot first; the binary is already built).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `guardian snapshot serve`, killed on drop.
struct Served {
    child: Child,
    url: String,
    kubeconfig: PathBuf,
    /// Holds the kubeconfig, kubectl's cache and guardian's cache.
    dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn start(writable: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = guardian(&dir.path().join("guardian-cache"));
        cmd.args([
            "snapshot",
            "serve",
            "examples/staging",
            "--listen",
            "127.0.0.1:0",
        ]);
        if writable {
            cmd.arg("--writable");
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("guardian starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Reads the address, then keeps draining so the server never blocks
        // on a full pipe.
        std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("on http://")
                    && line.starts_with("serving snapshot ")
                {
                    let _ = tx.send(Ok(line[at + 3..].trim().to_string()));
                }
                lines.push(line);
            }
            let _ = tx.send(Err(lines.join("\n")));
        });
        let url = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(url)) => url,
            Ok(Err(stderr)) => panic!("guardian snapshot serve exited early:\n{stderr}"),
            Err(_) => {
                let _ = child.kill();
                panic!("guardian snapshot serve printed no address in {START_TIMEOUT:?}");
            }
        };
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: snapshot\n  cluster:\n    \
                 server: {url}\ncontexts:\n- name: snapshot\n  context:\n    cluster: \
                 snapshot\n    user: nobody\ncurrent-context: snapshot\nusers:\n- name: \
                 nobody\n  user: {{}}\n"
            ),
        )
        .unwrap();
        Served {
            child,
            url,
            kubeconfig,
            dir,
        }
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path().join("kube-cache"))
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run kubectl ({e}); these tests need kubectl on PATH")
            })
    }

    /// kubectl's stdout; panics with its stderr if it failed.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} against {} failed: {}",
            self.url,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// kubectl's stderr; panics if it succeeded.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }
}

/// The first column of each data row of a kubectl table.
fn names(table: &str) -> Vec<&str> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

#[test]
fn kubectl_reads_the_served_snapshot() {
    let served = Served::start(false);

    // Server-side tables across namespaces, with the pod printer's columns.
    let pods = served.ok(&["get", "pods", "-A"]);
    let header = pods.lines().next().unwrap();
    for column in ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"] {
        assert!(header.contains(column), "{pods}");
    }
    let payments = pods
        .lines()
        .find(|l| l.contains("payments-mw4w7xggnc-5v8q8"))
        .unwrap_or_else(|| panic!("{pods}"));
    assert!(payments.starts_with("staging"), "{payments}");
    assert!(payments.contains("0/1") && payments.contains("CreateContainerConfigError"));
    let checkout = pods
        .lines()
        .find(|l| l.contains("checkout-kztvhqzmsz-drzl8"))
        .unwrap();
    assert!(
        checkout.contains("CrashLoopBackOff") && checkout.contains(" 7 ("),
        "{checkout}"
    );
    assert_eq!(pods.lines().count(), 1 + 25, "{pods}");

    // Label and field selectors.
    let checkout = served.ok(&["get", "deploy", "-n", "staging", "-l", "app=checkout"]);
    assert_eq!(names(&checkout), ["checkout"], "{checkout}");
    assert!(
        checkout.lines().next().unwrap().contains("UP-TO-DATE"),
        "{checkout}"
    );
    let pending = served.ok(&[
        "get",
        "pods",
        "-n",
        "staging",
        "--field-selector",
        "status.phase=Pending",
    ]);
    assert_eq!(
        names(&pending),
        [
            "catalog-nq4xfkhs5g-vmrhs",
            "orders-db-0",
            "payments-mw4w7xggnc-5v8q8",
            "payments-mw4w7xggnc-jjtcq"
        ],
        "{pending}"
    );

    // Logs: previous instance, tail, and the API server's error for a
    // container that never restarted.
    let previous = served.ok(&[
        "logs",
        "-n",
        "staging",
        "checkout-kztvhqzmsz-b829f",
        "-c",
        "checkout",
        "--previous",
    ]);
    assert!(previous.contains("DATABASE_URL is not set"), "{previous}");
    assert!(previous.contains("NullPointerException"), "{previous}");
    let tail = served.ok(&[
        "logs",
        "-n",
        "staging",
        "checkout-kztvhqzmsz-b829f",
        "-c",
        "checkout",
        "--previous",
        "--tail=2",
    ]);
    assert_eq!(tail.lines().count(), 2, "{tail}");
    let err = served.fails(&[
        "logs",
        "-n",
        "staging",
        "catalog-d5gfpmmqx6-dblvg",
        "--previous",
    ]);
    assert!(
        err.contains("BadRequest") && err.contains("previous terminated container"),
        "{err}"
    );
    let err = served.fails(&["get", "pod", "-n", "staging", "no-such-pod"]);
    assert!(
        err.contains("(NotFound)") && err.contains("pods \"no-such-pod\" not found"),
        "{err}"
    );

    // Secrets: keys kept, values redacted.
    let secret = served.json(&["get", "secret", "-n", "staging", "payments-db"]);
    let data = secret["data"].as_object().unwrap();
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["pass", "username"]);
    for value in data.values() {
        assert!(
            value.as_str().unwrap().starts_with("<redacted: "),
            "{value}"
        );
    }

    // Events as kubectl describe finds them (field selector on involvedObject),
    // and the namespace the dump holds no object for.
    let describe = served.ok(&[
        "describe",
        "pod",
        "-n",
        "staging",
        "payments-mw4w7xggnc-5v8q8",
    ]);
    assert!(
        describe.contains("couldn't find key password in Secret staging/payments-db"),
        "{describe}"
    );
    let namespaces = served.ok(&["get", "namespaces"]);
    assert!(names(&namespaces).contains(&"staging"), "{namespaces}");
}

#[test]
fn kubectl_patches_are_dry_runs_unless_the_server_is_writable() {
    let served = Served::start(false);
    let replicas = |s: &Served| {
        s.json(&["get", "deploy", "-n", "staging", "payments"])["spec"]["replicas"].clone()
    };
    assert_eq!(replicas(&served), 2);

    let patched = served.json(&[
        "patch",
        "deploy",
        "payments",
        "-n",
        "staging",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/spec/replicas","value":2},{"op":"replace","path":"/spec/replicas","value":3}]"#,
        "--dry-run=server",
    ]);
    assert_eq!(patched["spec"]["replicas"], 3);
    assert_eq!(replicas(&served), 2, "a dry run changed the snapshot");

    // Strategic merge (kubectl's default type): containers merge by name.
    let patched = served.json(&[
        "patch",
        "deploy",
        "payments",
        "-n",
        "staging",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"payments","image":"registry.example.com/shop/payments:3.6.2"}]}}}}"#,
        "--dry-run=server",
    ]);
    let containers = patched["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1);
    assert_eq!(
        containers[0]["image"],
        "registry.example.com/shop/payments:3.6.2"
    );
    assert!(containers[0]["env"].is_array(), "merge dropped the env");

    // A failing `test` is the API server's 422, with the reason shown.
    let err = served.fails(&[
        "patch",
        "deploy",
        "payments",
        "-n",
        "staging",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/spec/replicas","value":9}]"#,
        "--dry-run=server",
    ]);
    assert!(
        err.contains("is invalid") && err.contains("expected 9, found 2"),
        "{err}"
    );

    // Without a dry run the read-only server refuses.
    let err = served.fails(&[
        "patch",
        "deploy",
        "payments",
        "-n",
        "staging",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":3}]"#,
    ]);
    assert!(
        err.contains("(MethodNotAllowed)")
            && err.contains("read-only")
            && err.contains("--writable"),
        "{err}"
    );
    let err = served.fails(&["delete", "pod", "-n", "staging", "orders-db-0"]);
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(replicas(&served), 2);
}

#[test]
fn a_writable_server_applies_patches_with_optimistic_locking() {
    let served = Served::start(true);
    let before = served.json(&["get", "deploy", "-n", "staging", "payments"]);
    let old_rv: u64 = before["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let patched = served.json(&[
        "patch",
        "deploy",
        "payments",
        "-n",
        "staging",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":3}]"#,
    ]);
    assert_eq!(patched["spec"]["replicas"], 3);
    let after = served.json(&["get", "deploy", "-n", "staging", "payments"]);
    assert_eq!(after["spec"]["replicas"], 3);
    let new_rv: u64 = after["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(new_rv > old_rv, "resourceVersion {old_rv} -> {new_rv}");
    assert_eq!(
        after["metadata"]["generation"].as_i64().unwrap(),
        before["metadata"]["generation"].as_i64().unwrap() + 1
    );
    assert_eq!(
        after["status"], before["status"],
        "status is the controller's"
    );

    // A merge patch written against the old version is a conflict.
    let stale =
        format!(r#"{{"metadata":{{"resourceVersion":"{old_rv}"}},"spec":{{"replicas":1}}}}"#);
    let err = served.fails(&[
        "patch",
        "deploy",
        "payments",
        "-n",
        "staging",
        "--type=merge",
        "-p",
        &stale,
    ]);
    assert!(
        err.contains("(Conflict)") && err.contains("the object has been modified"),
        "{err}"
    );
    // The same patch against the current version applies.
    let current =
        format!(r#"{{"metadata":{{"resourceVersion":"{new_rv}"}},"spec":{{"replicas":1}}}}"#);
    served.ok(&[
        "patch",
        "deploy",
        "payments",
        "-n",
        "staging",
        "--type=merge",
        "-p",
        &current,
    ]);
    let after = served.json(&["get", "deploy", "-n", "staging", "payments"]);
    assert_eq!(after["spec"]["replicas"], 1);

    // kubectl scale goes through the scale subresource.
    served.ok(&[
        "scale",
        "deploy",
        "checkout",
        "-n",
        "staging",
        "--replicas=4",
    ]);
    let checkout = served.json(&["get", "deploy", "-n", "staging", "checkout"]);
    assert_eq!(checkout["spec"]["replicas"], 4);

    // Deletes apply in memory too.
    served.ok(&["delete", "pod", "-n", "staging", "orders-db-0"]);
    let err = served.fails(&["get", "pod", "-n", "staging", "orders-db-0"]);
    assert!(err.contains("not found"), "{err}");
}
