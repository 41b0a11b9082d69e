//! The decision table in `policies/tests/defaults.yaml`, plus operator
//! policies: adding rules, disabling rules, and what they cannot do.

use guardian_policy::{Policy, PolicyError, PolicyInput};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Table {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    input: Value,
    expect: Value,
}

fn input(overrides: &Value) -> PolicyInput {
    let mut base = json!({
        "caller": {"kind": "agent", "id": "loop"},
        "skill": "diagnostics",
        "tool": "analyze",
        "verb": "get",
        "resource": {"group": "", "version": "v1", "resource": "pods", "kind": "Pod"},
        "namespace": "staging",
        "name": "web",
        "dry_run": false,
        "action": null,
        "grants": {"read": ["*"], "propose": ["deployments.apps"]},
    });
    for (k, v) in overrides.as_object().expect("input is a map") {
        base[k] = v.clone();
    }
    // The broker fills `resource.grant`; so does the table's harness.
    let r = &base["resource"];
    let s = |k: &str| r[k].as_str().unwrap_or("").to_owned();
    let resource = guardian_policy::Resource::new(
        &s("group"),
        &s("version"),
        &s("resource"),
        &s("subresource"),
        &s("kind"),
    );
    base["resource"] = serde_json::to_value(resource).unwrap();
    serde_json::from_value(base).expect("valid policy input")
}

#[test]
fn default_policy_decision_table() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../policies/tests/defaults.yaml"
    ))
    .unwrap();
    let table: Table = serde_yaml::from_str(&text).unwrap();
    assert!(table.cases.len() >= 20);
    let policy = Policy::defaults().unwrap();
    let mut rules_seen = std::collections::BTreeSet::new();
    for case in &table.cases {
        let (decision, permit) = policy.decide(input(&case.input));
        let got = serde_json::to_value(&decision).unwrap();
        for (k, want) in case.expect.as_object().unwrap() {
            assert_eq!(
                &got[k], want,
                "case {:?}: field {k}: decision {got}",
                case.name
            );
        }
        assert_eq!(permit.is_some(), decision.allow, "case {:?}", case.name);
        if let Some(permit) = permit {
            assert_eq!(permit.dry_run(), decision.dry_run);
            assert_eq!(permit.rule(), decision.rule);
        }
        rules_seen.insert(decision.rule.clone());
    }
    // Every default rule is exercised by the table.
    for rule in [
        "reads-within-grants",
        "reviews-within-grants",
        "dry-run-within-grants",
        "approved-action",
        "no-namespace-delete",
        "protected-namespace",
        "default-deny",
    ] {
        assert!(rules_seen.contains(rule), "no case decided by {rule}");
    }
}

fn with(files: &[(&str, &str)]) -> Result<Policy, PolicyError> {
    let extra: Vec<(String, String)> = files
        .iter()
        .map(|(f, t)| ((*f).to_owned(), (*t).to_owned()))
        .collect();
    Policy::with_modules(&extra)
}

#[test]
fn operators_add_deny_rules() {
    let policy = with(&[(
        "ops/no-kube-system.rego",
        r#"package guardian
import rego.v1
deny contains {"rule": "no-kube-system", "reason": "kube-system is off limits"} if input.namespace == "kube-system"
"#,
    )])
    .unwrap();
    let (d, p) = policy.decide(input(&json!({"namespace": "kube-system"})));
    assert!(!d.allow && p.is_none());
    assert_eq!(d.rule, "no-kube-system");
    assert_eq!(d.reasons, vec!["kube-system is off limits"]);
    let (d, _) = policy.decide(input(&json!({"namespace": "staging"})));
    assert!(d.allow);
}

#[test]
fn operators_disable_default_rules_but_not_invariants() {
    let policy = with(&[(
        "ops/quiet.rego",
        r#"package guardian
import rego.v1
disabled contains "reads-within-grants"
disabled contains "protected-namespace"
disabled contains "no-namespace-delete"
"#,
    )])
    .unwrap();
    let (d, _) = policy.decide(input(&json!({})));
    assert!(!d.allow, "reads switched off: {d:?}");
    let (d, _) = policy.decide(input(&json!({
        "verb": "delete", "dry_run": true, "namespace": "", "name": "staging",
        "resource": {"group": "", "version": "v1", "resource": "namespaces", "kind": "Namespace"},
        "grants": {"read": ["*"], "propose": ["*"]},
    })));
    assert_eq!(
        d.rule, "no-namespace-delete",
        "invariants ignore `disabled`"
    );
}

#[test]
fn operators_cannot_use_the_reserved_package() {
    let err = with(&[(
        "ops/evil.rego",
        "package guardian.system\nimport rego.v1\napproved_action := true\n",
    )])
    .err()
    .expect("refused");
    assert!(matches!(err, PolicyError::Reserved { .. }), "{err}");
    assert!(err.to_string().contains("ops/evil.rego"));
}

#[test]
fn a_policy_that_does_not_parse_names_file_and_line() {
    let err = with(&[(
        "ops/broken.rego",
        "package guardian\nimport rego.v1\n\ndeny contains x if {\n  x := \n}\n",
    )])
    .err()
    .expect("refused");
    let msg = err.to_string();
    assert!(msg.contains("ops/broken.rego"), "{msg}");
    assert!(
        msg.contains(":5:") || msg.contains("line 5") || msg.contains(":6:"),
        "{msg}"
    );
}

#[test]
fn a_policy_dir_is_loaded_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("10-deny.rego"),
        "package guardian\nimport rego.v1\ndeny contains {\"rule\": \"ops-freeze\", \"reason\": \"change freeze\"} if input.verb == \"patch\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("README.md"), "not a policy").unwrap();
    let policy = Policy::load(Some(dir.path())).unwrap();
    assert_eq!(policy.files().len(), 3);
    let (d, _) = policy.decide(input(&json!({
        "verb": "patch", "dry_run": true,
        "resource": {"group": "apps", "version": "v1", "resource": "deployments", "kind": "Deployment"},
    })));
    assert_eq!(d.rule, "ops-freeze");
    let err = Policy::load(Some(&dir.path().join("missing")))
        .err()
        .unwrap();
    assert!(err.to_string().contains("missing"));
}

#[test]
fn decisions_are_remembered_only_when_they_are_a_function_of_the_input() {
    let policy = Policy::defaults().unwrap();
    assert!(policy.remembers_decisions());
    let read = input(&json!({"verb": "list", "name": ""}));
    let mut delete = read.clone();
    delete.verb = "delete".into();
    // The same input twice, and inputs that differ in one field, each get
    // the decision a fresh evaluation gives.
    for _ in 0..2 {
        for i in [&read, &delete] {
            let fresh = Policy::defaults().unwrap().decide(i.clone()).0;
            assert_eq!(policy.decide(i.clone()).0, fresh);
        }
    }
    assert!(policy.decide(read).0.allow);
    assert!(!policy.decide(delete).0.allow);

    // A module that may depend on something else (a clock, randomness, the
    // network) is either refused, the built-in being unknown, or evaluated
    // on every request.
    for (name, call) in [
        ("clock", "time.now_ns() < 0"),
        ("random", "rand.intn(\"x\", 2) == 0"),
        ("uuid", "uuid.rfc4122(\"x\") == \"\""),
        (
            "network",
            "http.send({\"method\": \"get\", \"url\": \"http://x\"}).status_code == 200",
        ),
    ] {
        let module = format!(
            "package guardian\nimport rego.v1\ndeny contains {{\"rule\": \"{name}\", \"reason\": \"x\"}} if {{ {call} }}\n"
        );
        match with(&[("ops/impure.rego", &module)]) {
            Ok(p) => assert!(!p.remembers_decisions(), "{name}"),
            Err(e) => assert!(e.to_string().contains("Unknown function"), "{name}: {e}"),
        }
    }
}

#[test]
fn operators_turn_prometheus_queries_off_or_deny_some() {
    let query = |name: &str| {
        input(&json!({
            "verb": "get", "namespace": "", "name": name,
            "resource": {"group": "metrics.guardian.dev", "version": "v1", "resource": "prometheus", "kind": "PrometheusQuery"},
        }))
    };
    let (d, _) = Policy::defaults().unwrap().decide(query("up"));
    assert_eq!((d.allow, d.rule.as_str()), (true, "prometheus-queries"));
    let off = with(&[(
        "ops/no-prometheus.rego",
        "package guardian\nimport rego.v1\ndisabled contains \"prometheus-queries\"\n",
    )])
    .unwrap();
    let (d, p) = off.decide(query("up"));
    assert!(!d.allow && p.is_none(), "{d:?}");
    let (d, _) = off.decide(input(&json!({})));
    assert!(d.allow, "other reads still allowed: {d:?}");
    let some = with(&[(
        "ops/no-payments.rego",
        r#"package guardian
import rego.v1
deny contains {"rule": "no-payments-metrics", "reason": "payments usage is private"} if {
	input.resource.group == "metrics.guardian.dev"
	contains(input.name, "payments")
}
"#,
    )])
    .unwrap();
    let (d, _) = some.decide(query(r#"up{namespace="payments"}"#));
    assert_eq!((d.allow, d.rule.as_str()), (false, "no-payments-metrics"));
    let (d, _) = some.decide(query(r#"up{namespace="shop"}"#));
    assert!(d.allow);
}
