//! Cascades, as `guardian diagnose` reports them: a workload that fails
//! because a Service's backends fail names their finding in `caused_by`,
//! and that finding lists it in `symptoms`.

use serde_json::Value;

use crate::support::*;

fn diagnose(cache: &std::path::Path, scenario: &str) -> Value {
    let snapshot = format!("tests/scenarios/{scenario}/snapshot");
    let text =
        run_ok(guardian(cache).args(["diagnose", "-A", "--snapshot", &snapshot, "-o", "json"]));
    serde_json::from_str(&text).unwrap()
}

fn finding<'a>(report: &'a Value, kind: &str, name: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["object"]["kind"] == kind && f["object"]["name"] == name && f["severity"] != "warning"
        })
        .unwrap_or_else(|| panic!("no finding on {kind} {name}: {report:#}"))
}

fn ids(f: &Value, field: &str) -> Vec<String> {
    f[field]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn symptoms_and_their_cause_are_linked_both_ways() {
    let cache = tempfile::tempdir().unwrap();
    let report = diagnose(cache.path(), "63-cascade-redis-oomkilled");
    let redis = finding(&report, "Deployment", "redis");
    let redis_id = redis["id"].as_str().unwrap();
    assert_eq!(redis["reason"], "OOMKilled");
    assert!(ids(redis, "caused_by").is_empty(), "{redis:#}");
    let mut symptoms = ids(redis, "symptoms");
    symptoms.sort();
    let mut downstream = Vec::new();
    for name in ["cart", "sessions"] {
        let f = finding(&report, "Deployment", name);
        assert_eq!(ids(f, "caused_by"), [redis_id], "{f:#}");
        assert!(ids(f, "symptoms").is_empty(), "{f:#}");
        let root = f["root_cause"].as_str().unwrap_or("");
        assert!(
            root.contains("Service storefront/redis") && root.contains("OOMKilled"),
            "{root}"
        );
        downstream.push(f["id"].as_str().unwrap().to_string());
    }
    assert_eq!(symptoms, downstream, "{redis:#}");

    // The StatefulSet case, where one symptom's log says `Connection to pg:5432 refused`.
    let report = diagnose(cache.path(), "64-cascade-postgres-statefulset-crash");
    let pg = finding(&report, "StatefulSet", "pg");
    assert_eq!(ids(pg, "symptoms").len(), 2, "{pg:#}");
    for name in ["invoice-api", "ledger-worker"] {
        let f = finding(&report, "Deployment", name);
        assert_eq!(ids(f, "caused_by"), [pg["id"].as_str().unwrap()], "{f:#}");
    }
}

#[test]
fn a_mistyped_host_is_a_configuration_error_with_a_fix() {
    let cache = tempfile::tempdir().unwrap();
    let report = diagnose(cache.path(), "68-wrong-host-configmap-key");
    let f = finding(&report, "Deployment", "pick-service");
    assert!(ids(f, "caused_by").is_empty(), "{f:#}");
    let root = f["root_cause"].as_str().unwrap();
    assert!(
        root.contains("not a DNS outage") && root.contains("`amqp.url`"),
        "{root}"
    );
    let fix = &f["fixes"][0];
    assert_eq!(fix["target"]["kind"], "ConfigMap");
    assert_eq!(fix["target"]["name"], "pick-config");
    assert_eq!(fix["dry_run"]["result"], "passed", "{fix:#}");
    assert_eq!(
        fix["json_patch"][1]["value"],
        "amqp://pick@rabbitmq.fulfilment.svc:5672/fulfilment"
    );
}
