//! The fixes for common failures (scenarios 49–62) on the real API server:
//! a scenario's objects recreated in a fresh namespace (pods bound to nodes
//! served by the kubelet stand-in, so their logs are read through the API
//! server; Secrets stored with their real values, which the broker redacts
//! before the skill sees them), `diagnostics.analyze` run live, and the fix
//! each scenario's truth calls for proposed and accepted by the server's
//! own dry-run (schema, defaults and validation included).

use guardian_tests::kube::{ControlPlane, control_plane, read_dump};
use serde_json::{Value, json};

use crate::cluster::{Env, staging};
use crate::support::repo_root;

/// Recreates scenario `name` in a fresh namespace: its namespaced objects
/// and its pods' logs. Nodes are shared by every test of the server, so the
/// pods are bound to the example cluster's nodes (`worker-N` →
/// `stg-worker-N`, served by the kubelet stand-in) instead of adding the
/// scenario's own. Returns the namespace.
fn load(k: &ControlPlane, name: &str, from: &str) -> String {
    staging(k);
    let dir = repo_root()
        .join("tests/scenarios")
        .join(name)
        .join("snapshot");
    let dump = read_dump(&dir);
    let ns = k.namespace("fixes");
    // The namespace's own ServiceAccount and CA bundle exist already. Only
    // namespace fields are moved: a scenario's namespace may also be an
    // app's name (`ledger`), which must stay.
    let objects: Vec<Value> = dump
        .objects
        .into_iter()
        .filter(|o| o["metadata"]["namespace"].as_str() == Some(from))
        .filter(|o| {
            !matches!(
                (o["kind"].as_str(), o["metadata"]["name"].as_str()),
                (Some("ServiceAccount"), Some("default"))
                    | (Some("ConfigMap"), Some("kube-root-ca.crt"))
            )
        })
        .map(|mut o| {
            move_namespace(&mut o, from, &ns);
            if let Some(node) = o["spec"]["nodeName"].as_str() {
                o["spec"]["nodeName"] = format!("stg-{node}").into();
            }
            o
        })
        .collect();
    for mut log in dump.logs {
        if log.namespace == from {
            log.namespace = ns.clone();
            k.set_log(&log);
        }
    }
    k.create_objects(&ns, &ns, &objects, false);
    ns
}

/// Every `namespace` field of `value` that is `from` becomes `to`.
fn move_namespace(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "namespace" && v == from {
                    *v = Value::String(to.to_string());
                } else {
                    move_namespace(v, from, to);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| move_namespace(v, from, to)),
        _ => {}
    }
}

/// The finding `reason` about `kind`/`name` of a live scan of `ns`.
fn finding(env: &Env, ns: &str, reason: &str, kind: &str, name: &str) -> Value {
    let out = env.call_ok(
        "diagnostics.analyze",
        &json!({"namespace": ns}),
        &["-o", "json"],
    );
    out["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| {
            f["reason"] == reason && f["object"]["kind"] == kind && f["object"]["name"] == name
        })
        .cloned()
        .unwrap_or_else(|| panic!("no {reason} on {kind} {name} in {ns}: {out:#}"))
}

/// The fix of `finding` whose patch has an operation `op` at `path` (and
/// `value`, when given): it must have passed the server's dry-run.
fn passed_fix(finding: &Value, op: &str, path: &str, value: Option<&Value>) -> Value {
    let fix = finding["fixes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| {
            f["json_patch"].as_array().is_some_and(|ops| {
                ops.iter().any(|o| {
                    o["op"] == op && o["path"] == path && value.is_none_or(|v| &o["value"] == v)
                })
            })
        })
        .cloned()
        .unwrap_or_else(|| panic!("no fix with {op} {path}: {finding:#}"));
    assert_eq!(
        fix["dry_run"]["result"], "passed",
        "the server refused the fix: {fix:#}"
    );
    fix
}

#[test]
fn fixes_for_common_failures_pass_the_servers_dry_run() {
    let Some(k) = control_plane() else { return };
    let env = Env::new(k);
    let c0 = "/spec/template/spec/containers/0";

    // A liveness probe that kills a slow start: a startupProbe sized from
    // the 142.6s the previous revision's pods logged.
    let ns = load(k, "49-liveness-kills-slow-spring-start", "ledger");
    let f = finding(&env, &ns, "ProbeFailing", "Deployment", "ledger");
    let root = f["root_cause"].as_str().unwrap_or("");
    assert!(root.contains("60s") && root.contains("142.6"), "{root}");
    let fix = passed_fix(&f, "add", &format!("{c0}/startupProbe"), None);
    let probe = fix["json_patch"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["op"] == "add")
        .unwrap()["value"]
        .clone();
    let budget =
        probe["periodSeconds"].as_i64().unwrap() * probe["failureThreshold"].as_i64().unwrap();
    assert!(
        budget >= 143,
        "a startup budget of {budget}s is shorter than the start: {probe}"
    );

    // A read-only root filesystem: an emptyDir at /var/cache/nginx.
    let ns = load(k, "51-readonly-rootfs-nginx-cache", "web");
    let f = finding(&env, &ns, "CrashLoopBackOff", "Deployment", "edge");
    let fix = passed_fix(&f, "add", &format!("{c0}/volumeMounts/-"), None);
    assert!(
        fix["kubectl"]
            .as_str()
            .unwrap()
            .contains(r#""mountPath":"/var/cache/nginx""#),
        "{fix:#}"
    );

    // A private registry's 401 and a credential Secret not referenced: the
    // Secret is told from what the broker leaves visible.
    let ns = load(k, "55-ghcr-401-pull-secret-not-referenced", "fintech");
    let f = finding(&env, &ns, "ImagePullBackOff", "Deployment", "ledger-sync");
    passed_fix(
        &f,
        "add",
        "/spec/template/spec/imagePullSecrets",
        Some(&json!([{"name": "ghcr-pull"}])),
    );
    let text = f.to_string();
    assert!(
        !text.contains("example-not-a-real-token"),
        "a Secret value leaked: {text}"
    );

    // A LimitRange refusing the pods: the limit brought to its maximum.
    let ns = load(k, "54-limitrange-max-memory", "analytics");
    let f = finding(&env, &ns, "ReplicaSetCreateFailed", "Deployment", "etl-api");
    assert!(
        f["root_cause"]
            .as_str()
            .unwrap_or("")
            .contains("container-limits"),
        "{f:#}"
    );
    passed_fix(
        &f,
        "replace",
        &format!("{c0}/resources/limits/memory"),
        Some(&json!("1Gi")),
    );

    // A sidecar's unknown flag: corrected to the one its usage lists.
    let ns = load(k, "59-sidecar-exporter-bad-flag", "shop");
    let f = finding(&env, &ns, "CrashLoopBackOff", "Deployment", "storefront");
    passed_fix(
        &f,
        "replace",
        "/spec/template/spec/containers/1/args/1",
        Some(&json!("-web.listen-address=:9113")),
    );
}
