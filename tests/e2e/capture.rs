//! `guardian snapshot capture` against the real API server: what it writes
//! is masked the way the read path masks what reaches a skill, and only the
//! owner can read it.

use std::path::{Path, PathBuf};

use guardian_tests::kube::control_plane;
use serde_json::json;

use crate::support::guardian;

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjYXB0dXJlLXRlc3QifQ.dGhpcy1pcy1ub3QtYS1yZWFsLXNpZ25hdHVyZQ";
const URL_PASSWORD: &str = "Sup3rS3cretPw";
const PLAIN_SECRET: &str = "hunter2plainvalue";
const CONFIG_PASSWORD: &str = "Cfg0nlyPassw0rd";
const ANNOTATION_TOKEN: &str = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";

/// Every secret the objects below carry, and where.
const SECRETS: &[(&str, &str)] = &[
    ("a JWT", JWT),
    ("a password in a URL", URL_PASSWORD),
    ("PLAIN_SECRET=… in args", PLAIN_SECRET),
    ("a password in a ConfigMap value", CONFIG_PASSWORD),
    ("a token in an annotation", ANNOTATION_TOKEN),
];

fn pod_template() -> serde_json::Value {
    json!({
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{
            "name": "web",
            "image": "example/web:1",
            "args": ["--mode=serve", format!("PLAIN_SECRET={PLAIN_SECRET}")],
            "env": [
                {"name": "SESSION", "value": JWT},
                {"name": "DATABASE_URL", "value": format!("postgres://app:{URL_PASSWORD}@db.staging:5432/app")},
                {"name": "LOG_LEVEL", "value": "debug"}
            ]
        }]}
    })
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.push(path.clone());
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn capture_writes_no_credentials_and_only_for_its_owner() {
    let Some(k) = control_plane() else { return };
    let ns = k.namespace("capture");
    let template = pod_template();
    let objects = [
        // No controller makes it here; the Pod's admission needs it.
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": ns}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "app", "namespace": ns,
                "annotations": {"example.com/deploy-token": format!("token {ANNOTATION_TOKEN}")}},
            "data": {"app.properties": format!("db.user=app\ndb.password={CONFIG_PASSWORD}\nthreads=4\n")}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template}}),
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-7d4b9c", "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template}}),
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-7d4b9c-x1", "namespace": ns, "labels": {"app": "web"}},
            "spec": template["spec"]}),
        json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "web-7d4b9c-x1.1", "namespace": ns},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "web-7d4b9c-x1", "namespace": ns},
            "reason": "Failed", "type": "Warning",
            "message": format!("probe sent Authorization: Bearer {JWT}; app said PLAIN_SECRET={PLAIN_SECRET} is wrong")}),
    ];
    let yaml: Vec<String> = objects
        .iter()
        .map(|o| serde_yaml::to_string(o).unwrap())
        .collect();
    k.apply(&yaml.join("---\n"));
    let message =
        format!("connect postgres://app:{URL_PASSWORD}@db.staging:5432/app failed; token {JWT}");
    k.set_status(
        &ns,
        "pods",
        "web-7d4b9c-x1",
        &json!({"phase": "Running", "message": message,
            "conditions": [{"type": "Ready", "status": "False", "message": message}],
            "containerStatuses": [{"name": "web", "image": "example/web:1", "imageID": "", "ready": false,
                "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff", "message": message}}}]}),
    );
    for resource in ["deployments", "replicasets"] {
        let name = if resource == "deployments" {
            "web"
        } else {
            "web-7d4b9c"
        };
        k.set_status(
            &ns,
            resource,
            name,
            &json!({"replicas": 1, "conditions": [{"type": "ReplicaFailure", "status": "True",
                "reason": "FailedCreate", "message": message}]}),
        );
    }
    // The server holds every secret (so the test cannot pass vacuously).
    let held = k.run(&[
        "get",
        "pods,deployments,replicasets,events,configmaps",
        "-n",
        &ns,
        "-o",
        "json",
    ]);
    for (what, secret) in SECRETS {
        assert!(held.contains(secret), "the server holds {what}");
    }

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = k.kubeconfig(dir.path());
    let out = dir.path().join("capture");
    let result = guardian(&dir.path().join("cache"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["snapshot", "capture", "-n", &ns, "-o"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "capture failed: {stderr}");

    let mut paths = Vec::new();
    files_under(&out, &mut paths);
    let mut leaks = Vec::new();
    let mut captured = String::new();
    for path in &paths {
        if path.is_dir() {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        for (what, secret) in SECRETS {
            if text.contains(secret) {
                leaks.push(format!("{what} in {}", path.display()));
            }
        }
        captured.push_str(&text);
    }
    assert!(leaks.is_empty(), "secrets written by capture: {leaks:#?}");
    // What the objects are, and what helps a diagnosis, is still there.
    for kept in [
        "web-7d4b9c-x1",
        "db.staging:5432",
        "LOG_LEVEL",
        "threads=4",
        "CrashLoopBackOff",
        "<redacted",
    ] {
        assert!(captured.contains(kept), "{kept} missing from the capture");
    }
    for file in [
        format!("{ns}/pods.json"),
        format!("{ns}/deployments.apps.json"),
        format!("{ns}/replicasets.apps.json"),
        format!("{ns}/events.json"),
        format!("{ns}/configmaps.json"),
    ] {
        assert!(out.join(&file).is_file(), "{file} written");
    }

    // Owner only: the folder and every folder in it 0700, every file 0600.
    assert_eq!(mode(&out), 0o700, "{}", out.display());
    for path in &paths {
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(path), expected, "{:o} {}", mode(path), path.display());
    }

    // An existing empty folder others can read is made private, and said.
    use std::os::unix::fs::PermissionsExt;
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    let result = guardian(&dir.path().join("cache"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["snapshot", "capture", "-n", &ns, "-o"])
        .arg(&open)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "capture failed: {stderr}");
    assert!(stderr.contains("was mode 755; made 0700"), "{stderr}");
    assert_eq!(mode(&open), 0o700);
}
