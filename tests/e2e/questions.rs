//! `guardian ask` on clusters of several namespaces: the question corpus
//! (`tests/questions`) scored by `guardian eval`, and the questions that
//! once got false all-clears asked of the real kube-apiserver holding the
//! `acme` cluster.

use std::path::{Path, PathBuf};

use guardian_tests::kube::{ControlPlane, control_plane, read_dump};
use serde_json::Value;

use crate::support::{guardian, output, repo_root, run_ok};

fn corpus() -> PathBuf {
    repo_root().join("tests/questions")
}

#[test]
fn the_question_corpus_is_answered_without_a_false_all_clear() {
    let cache = tempfile::tempdir().unwrap();
    let out = run_ok(
        guardian(cache.path())
            .args(["eval"])
            .arg(corpus())
            .args(["-o", "json"]),
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    let m = &report["summary"];
    let n = m["questions"].as_u64().unwrap();
    let right = m["correct"].as_u64().unwrap() + m["honest_negative"].as_u64().unwrap();
    let misses: Vec<String> = report["questions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| !matches!(q["verdict"].as_str(), Some("correct" | "honest-negative")))
        .map(|q| format!("{} [{}]: {}", q["question"], q["verdict"], q["problems"]))
        .collect();
    println!("{right}/{n} right; misses:\n{}", misses.join("\n"));
    assert!(n >= 120, "the corpus holds {n} questions");
    assert_eq!(m["false_all_clear"], 0, "false all-clears: {misses:#?}");
    assert!(
        right * 100 >= n * 95,
        "{right}/{n} answered right: {misses:#?}"
    );
    // Every kind of question is there, and each kind is answered.
    for about in ["problem", "healthy", "missing"] {
        assert!(
            report["questions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|q| q["about"] == about),
            "no {about} question"
        );
    }
}

#[test]
fn a_namespace_with_two_problems_gets_both_most_severe_first() {
    let cache = tempfile::tempdir().unwrap();
    let out = run_ok(
        guardian(cache.path())
            .args(["ask", "what's wrong in the notify namespace?", "--snapshot"])
            .arg(corpus().join("retail/snapshot")),
    );
    let mailer = out.find("Deployment notify/mailer").expect(&out);
    let hpa = out
        .find("HorizontalPodAutoscaler notify/notifications")
        .expect(&out);
    assert!(mailer < hpa, "the critical problem comes first:\n{out}");
    assert!(
        out.contains("smtp-credentials") && out.contains("requests"),
        "{out}"
    );
    assert!(out.contains("Scope: namespace notify"), "{out}");
}

/// The `acme` cluster's namespaces, objects and logs on the real server
/// (those the questions below are about, and two more).
fn acme(k: &ControlPlane) {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let snapshot = corpus().join("acme/snapshot");
        let dump = read_dump(&snapshot);
        let mut namespaces: Vec<String> = dump
            .objects
            .iter()
            .filter_map(|o| o["metadata"]["namespace"].as_str().map(str::to_owned))
            .collect();
        namespaces.sort();
        namespaces.dedup();
        namespaces.retain(|n| ["ml", "notifications", "payments", "shop", "web"].contains(&n.as_str()));
        let cluster: Vec<Value> = dump
            .objects
            .iter()
            .filter(|o| o["metadata"]["namespace"].is_null() && o["kind"] != "Namespace")
            .cloned()
            .collect();
        for ns in &namespaces {
            k.apply(&format!(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"
            ));
            k.apply(&format!(
                "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n  namespace: {ns}\n"
            ));
            for log in dump.logs.iter().filter(|l| l.namespace == *ns) {
                k.set_log(log);
            }
            let mut objects: Vec<Value> = dump
                .objects
                .iter()
                .filter(|o| o["metadata"]["namespace"].as_str() == Some(ns))
                .filter(|o| !(o["kind"] == "ServiceAccount" && o["metadata"]["name"] == "default"))
                .cloned()
                .collect();
            if ns == &namespaces[0] {
                objects.extend(cluster.iter().cloned());
            }
            k.create_objects(ns, ns, &objects, false);
        }
    });
}

fn ask(k: &ControlPlane, dir: &Path, question: &str) -> String {
    let (code, out, err) = output(
        guardian(dir)
            .arg("--kubeconfig")
            .arg(k.kubeconfig(dir))
            .args(["ask", question]),
    );
    assert_eq!(code, 0, "{question}: {err}\n{out}");
    out
}

#[test]
fn the_questions_that_got_false_all_clears_are_answered_on_the_real_server() {
    let Some(k) = control_plane() else { return };
    acme(k);
    let dir = tempfile::tempdir().unwrap();
    for (question, facts) in [
        (
            "why is the notifier deployment in the notifications namespace crashing?",
            &["Deployment notifications/notifier", "REDIS_URL"][..],
        ),
        (
            "why is notifier crashing?",
            &["Deployment notifications/notifier", "REDIS_URL"],
        ),
        (
            "what's wrong with payments-api",
            &["Deployment payments/payments-api", "DB_PASSWORD"],
        ),
        (
            "why can't ml-trainer start",
            &["Deployment ml/ml-trainer", "Unschedulable"],
        ),
    ] {
        let out = ask(k, dir.path(), question);
        for fact in facts {
            assert!(out.contains(fact), "{question}: no {fact:?} in\n{out}");
        }
        assert!(!out.contains("No problems found"), "{question}:\n{out}");
    }
    // The whole cluster: the server holds other tests' namespaces too, so
    // the answer is held to reading everything and reporting problems.
    let out = ask(k, dir.path(), "is anything broken in the cluster?");
    assert!(
        out.contains("Scope: every namespace") && out.contains("problems, most severe first"),
        "{out}"
    );
    assert!(!out.contains("No problems found"), "{out}");
    // A name that exists nowhere: said so, with the nearest names.
    let out = ask(k, dir.path(), "why is notifer-worker down?");
    assert!(
        out.contains("Nothing is named `notifer-worker`") && out.contains("`notifier`"),
        "{out}"
    );
}

#[test]
fn a_caller_who_may_read_one_namespace_is_answered_about_it() {
    let Some(k) = control_plane() else { return };
    let ns = crate::cluster::staging_copy(k, "viewer", |_| true);
    k.apply(&format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: viewer, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: viewer, namespace: {ns}}}
rules:
- apiGroups: ["", apps, batch, networking.k8s.io, autoscaling, policy]
  resources: ["*"]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: viewer, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: viewer}}
subjects:
- {{kind: ServiceAccount, name: viewer, namespace: {ns}}}
"#
    ));
    let token = k.service_account_token(&ns, "viewer");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = k.kubeconfig_with(dir.path(), &[("viewer", &token)]);
    let set = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["config", "set-context", "viewer"])
        .arg(format!("--namespace={ns}"))
        .output()
        .expect("kubectl runs");
    assert!(set.status.success(), "{set:?}");
    let ask = |q: &str| {
        output(
            guardian(dir.path())
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(["--context", "viewer", "ask", q]),
        )
    };
    // It may list nothing cluster-wide: the names are found in the
    // context's namespace, and "anything" means that namespace.
    let (code, out, err) = ask("why is checkout failing?");
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(out.contains(&format!("Deployment {ns}/checkout")), "{out}");
    assert!(
        out.contains(&format!("namespace {ns}, the context's")),
        "{out}"
    );
    let (code, out, err) = ask("is anything broken?");
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(out.contains(&format!("Scope: namespace {ns}")), "{out}");
    assert!(!out.contains("No problems found"), "{out}");
}

/// The namespaced resources `guardian ask QUESTION` listed in `namespace`
/// (from its audit log), and its answer.
fn lists_in(namespace: &str, question: &str) -> (Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let out = run_ok(
        guardian(dir.path())
            .args(["ask", question, "--snapshot"])
            .arg(corpus().join("acme/snapshot"))
            .arg("--audit")
            .arg(&audit),
    );
    let lists = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["verb"] == "list" && r["namespace"] == namespace)
        .map(|r| r["resource"].as_str().unwrap().to_owned())
        .collect();
    (lists, out)
}

#[test]
fn a_question_about_one_object_reads_only_what_can_explain_its_kind() {
    // A Deployment: its pods, their configuration, the services in front,
    // the autoscaler — not the Ingresses or Gateway API routes.
    let (named, out) = lists_in("notifications", "why is notifier crashing?");
    assert!(out.contains("REDIS_URL"), "{out}");
    assert!(
        out.contains("scanned by the analyzers that explain a Deployment"),
        "the scope says which analyzers read it:\n{out}"
    );
    for needed in [
        "/v1/pods",
        "/v1/configmaps",
        "/v1/secrets",
        "apps/v1/deployments",
    ] {
        assert!(
            named.iter().any(|r| r == needed),
            "{needed} not read: {named:?}"
        );
    }
    assert!(
        !named
            .iter()
            .any(|r| r.ends_with("/ingresses") || r.contains("gateway.networking")),
        "read what cannot explain a Deployment: {named:?}"
    );
    // The namespace as a whole: every analyzer.
    let (whole, out) = lists_in(
        "notifications",
        "what's wrong in the notifications namespace?",
    );
    assert!(out.contains("scanned by every analyzer"), "{out}");
    assert!(
        whole.iter().any(|r| r.ends_with("/ingresses")),
        "the whole namespace reads Ingresses: {whole:?}"
    );
    assert!(named.len() < whole.len(), "{named:?} vs {whole:?}");
}
