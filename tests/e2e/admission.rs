//! `deploy/base/admission.yaml` on the real API server: the
//! ValidatingAdmissionPolicy that bounds every write Guardian's service
//! account makes, whatever Guardian itself decides. As
//! `system:serviceaccount:guardian:guardian` (impersonated by the admin,
//! with RBAC that would allow each request), the API server itself refuses
//! a delete, a namespace delete, a change without a new
//! `guardian.dev/action-id`, any write in a protected namespace, a
//! subresource write, a create, and a kubelet request other than its stats;
//! it admits the dry runs Guardian checks fixes with, and an approved
//! action's write, made by the real `guardian actions approve`. Other users
//! are unaffected.

use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use guardian_tests::kube::{ControlPlane, control_plane};
use serde_json::{Value, json};

use crate::cluster::{web as object, web_deployment as deployment, web_image as image_of};
use crate::support::{guardian, repo_root, run_ok};

/// Guardian's service account, as the policy matches it.
const SA: &str = "system:serviceaccount:guardian:guardian";

const ANNOTATION: &str = "guardian.dev/action-id";

/// What every denial starts with, after the API server's own prefix.
const DENIED: &str = "ValidatingAdmissionPolicy 'guardian-writes' with binding 'guardian-writes' \
                      denied request: guardian admission policy, rule";

fn policy_file() -> std::path::PathBuf {
    repo_root().join("deploy/base/admission.yaml")
}

/// `kubectl ARGS` as the admin impersonating Guardian's service account.
fn as_sa(k: &ControlPlane, args: &[&str]) -> Output {
    k.kubectl()
        .args(["--as", SA])
        .args(args)
        .output()
        .expect("kubectl runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `args` as the service account must be refused with `message`.
fn refused(k: &ControlPlane, args: &[&str], message: &str) {
    let out = as_sa(k, args);
    assert!(
        !out.status.success(),
        "kubectl --as {SA} {} was admitted: {}",
        args.join(" "),
        text(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(message),
        "kubectl --as {SA} {}: refused, but not by the policy's rule:\n{err}\nexpected: {message}",
        args.join(" ")
    );
}

/// `args` as the service account must succeed.
fn admitted(k: &ControlPlane, args: &[&str]) -> String {
    let out = as_sa(k, args);
    assert!(
        out.status.success(),
        "kubectl --as {SA} {} was refused: {}",
        args.join(" "),
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A namespace where the service account may read, patch, update, create
/// and delete Deployments and ConfigMaps (RBAC allows what the policy then
/// refuses), and delete and patch the namespace itself.
fn writable_namespace(k: &ControlPlane, prefix: &str, labels: &[(&str, &str)]) -> String {
    let ns = k.namespace_labelled(prefix, labels);
    k.apply(&format!(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: admission-test, namespace: {ns}}}
rules:
  - apiGroups: ["apps"]
    resources: ["deployments", "deployments/scale", "deployments/status", "replicasets"]
    verbs: ["get", "list", "patch", "update", "create", "delete"]
  - apiGroups: [""]
    resources: ["configmaps", "pods", "events"]
    verbs: ["get", "list", "patch", "update", "create", "delete"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: admission-test, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: admission-test}}
subjects: [{{kind: ServiceAccount, name: guardian, namespace: guardian}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: admission-test-{ns}}}
rules:
  - apiGroups: [""]
    resources: ["namespaces"]
    resourceNames: ["{ns}"]
    verbs: ["get", "patch", "update", "delete"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: admission-test-{ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admission-test-{ns}}}
subjects: [{{kind: ServiceAccount, name: guardian, namespace: guardian}}]
"#
    ));
    ns
}

/// Applies the policy (once per test process) and waits until the API
/// server enforces it in `ns` (its policy informer takes a moment): a
/// dry-run delete as the service account, which nothing else refuses, is
/// refused by rule no-delete.
fn enforced(k: &ControlPlane, ns: &str) {
    static APPLIED: OnceLock<()> = OnceLock::new();
    APPLIED.get_or_init(|| {
        k.run(&["apply", "-f", policy_file().to_str().unwrap()]);
    });
    k.run(&["create", "configmap", "probe", "-n", ns]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = as_sa(
            k,
            &["delete", "configmap", "probe", "-n", ns, "--dry-run=server"],
        );
        if !out.status.success() && text(&out).contains(&format!("{DENIED} no-delete")) {
            return;
        }
        assert!(
            out.status.success(),
            "the probe failed otherwise: {}",
            text(&out)
        );
        assert!(
            Instant::now() < deadline,
            "the admission policy is not enforced 60 s after it was applied"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn annotation(k: &ControlPlane, ns: &str) -> Value {
    object(k, ns)["metadata"]["annotations"][ANNOTATION].clone()
}

fn replicas(k: &ControlPlane, ns: &str) -> Value {
    object(k, ns)["spec"]["replicas"].clone()
}

#[test]
fn the_api_server_refuses_guardians_service_account_every_write_outside_an_approved_action() {
    let Some(k) = control_plane() else { return };
    let ns = writable_namespace(k, "admission", &[]);
    deployment(k, &ns);
    enforced(k, &ns);

    // Every DELETE: a Deployment, the namespace itself — dry runs included.
    refused(
        k,
        &["delete", "deployment", "web", "-n", &ns],
        &format!(
            "{DENIED} no-delete: Guardian's service account may not delete \
             (deployments.apps {ns}/web); Guardian never deletes"
        ),
    );
    refused(
        k,
        &["delete", "deployment", "web", "-n", &ns, "--dry-run=server"],
        &format!("{DENIED} no-delete"),
    );
    refused(
        k,
        &["delete", "namespace", &ns],
        &format!(
            "{DENIED} no-delete: Guardian's service account may not delete (namespaces {ns}); \
             Guardian never deletes"
        ),
    );
    assert_eq!(
        k.run(&["get", "namespace", &ns, "-o", "jsonpath={.status.phase}"]),
        "Active"
    );
    assert_eq!(
        image_of(k, &ns),
        "nginx:1.0",
        "the Deployment is still there"
    );

    // A change without the annotation (a JSON patch, as Guardian sends).
    let scale_to =
        |n: u32| json!([{"op": "replace", "path": "/spec/replicas", "value": n}]).to_string();
    refused(
        k,
        &[
            "patch",
            "deployment",
            "web",
            "-n",
            &ns,
            "--type=json",
            "-p",
            &scale_to(2),
        ],
        &format!(
            "{DENIED} approved-update: Guardian's service account may change \
             (deployments.apps {ns}/web) only as an approved action: the write must set a new \
             guardian.dev/action-id annotation (it sets none)"
        ),
    );
    assert_eq!(replicas(k, &ns), 1);
    // The same patch as a server-side dry run: how every fix is checked.
    admitted(
        k,
        &[
            "patch",
            "deployment",
            "web",
            "-n",
            &ns,
            "--type=json",
            "-p",
            &scale_to(2),
            "--dry-run=server",
        ],
    );
    assert_eq!(replicas(k, &ns), 1, "a dry run persists nothing");

    // An approved action's write: it sets a new action id.
    let approved = |id: &str, n: u32| {
        json!([
            {"op": "add", "path": "/metadata/annotations", "value": {ANNOTATION: id}},
            {"op": "replace", "path": "/spec/replicas", "value": n},
        ])
        .to_string()
    };
    admitted(
        k,
        &[
            "patch",
            "deployment",
            "web",
            "-n",
            &ns,
            "--type=json",
            "-p",
            &approved("act-1", 3),
        ],
    );
    assert_eq!(replicas(k, &ns), 3);
    assert_eq!(annotation(k, &ns), "act-1");
    // The same action id again (a replay, or a write that leaves the
    // annotation as it is) is refused; a new one is admitted.
    refused(
        k,
        &[
            "patch",
            "deployment",
            "web",
            "-n",
            &ns,
            "--type=json",
            "-p",
            &approved("act-1", 4),
        ],
        &format!(
            "{DENIED} approved-update: Guardian's service account may change \
             (deployments.apps {ns}/web) only as an approved action: the write must set a new \
             guardian.dev/action-id annotation (it keeps act-1)"
        ),
    );
    refused(
        k,
        &[
            "patch",
            "deployment",
            "web",
            "-n",
            &ns,
            "--type=json",
            "-p",
            &scale_to(4),
        ],
        "(it keeps act-1)",
    );
    assert_eq!(replicas(k, &ns), 3);
    admitted(
        k,
        &[
            "patch",
            "deployment",
            "web",
            "-n",
            &ns,
            "--type=json",
            "-p",
            &approved("act-2", 4),
        ],
    );
    assert_eq!(replicas(k, &ns), 4);

    // A subresource (Guardian never writes one), even with a new action id.
    refused(
        k,
        &["scale", "deployment", "web", "-n", &ns, "--replicas=5"],
        &format!(
            "{DENIED} no-subresource: Guardian's service account may not write a subresource \
             (UPDATE deployments.apps/scale {ns}/web)"
        ),
    );
    refused(
        k,
        &[
            "patch",
            "deployment",
            "web",
            "-n",
            &ns,
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"metadata":{"annotations":{"guardian.dev/action-id":"act-3"}},"status":{"replicas":9}}"#,
        ],
        &format!("{DENIED} no-subresource"),
    );
    // A create (Guardian creates only review requests); its dry run
    // persists nothing and is admitted.
    refused(
        k,
        &["create", "configmap", "made", "-n", &ns],
        &format!(
            "{DENIED} create-reviews-only: Guardian's service account may not create \
             (configmaps {ns}/made)"
        ),
    );
    admitted(
        k,
        &["create", "configmap", "made", "-n", &ns, "--dry-run=server"],
    );
    // The review APIs stay open: `guardian doctor`'s SelfSubjectAccessReview.
    assert_eq!(
        admitted(k, &["auth", "can-i", "patch", "deployments", "-n", &ns]).trim(),
        "yes"
    );

    // Every other user is unaffected: the admin patches without an
    // annotation, and deletes.
    k.run(&[
        "patch",
        "deployment",
        "web",
        "-n",
        &ns,
        "--type=json",
        "-p",
        &scale_to(6),
    ]);
    assert_eq!(replicas(k, &ns), 6);
    k.run(&["delete", "configmap", "probe", "-n", &ns]);
    assert!(
        k.run_err(&["get", "configmap", "probe", "-n", &ns])
            .contains("NotFound")
    );
}

#[test]
fn a_protected_namespace_refuses_every_write_even_an_approved_one_or_a_dry_run() {
    let Some(k) = control_plane() else { return };
    let ns = writable_namespace(
        k,
        "admission-protected",
        &[("guardian.io/protected", "true")],
    );
    deployment(k, &ns);
    // The probe (a delete) is refused in any namespace.
    enforced(k, &ns);
    let approved = json!([
        {"op": "add", "path": "/metadata/annotations", "value": {ANNOTATION: "act-p"}},
        {"op": "replace", "path": "/spec/replicas", "value": 2},
    ])
    .to_string();
    let message = format!(
        "{DENIED} protected-namespace: Guardian's service account may not write \
         (UPDATE deployments.apps {ns}/web) in a namespace labelled guardian.io/protected=true"
    );
    refused(
        k,
        &[
            "patch",
            "deployment",
            "web",
            "-n",
            &ns,
            "--type=json",
            "-p",
            &approved,
        ],
        &message,
    );
    refused(
        k,
        &[
            "patch",
            "deployment",
            "web",
            "-n",
            &ns,
            "--type=json",
            "-p",
            &approved,
            "--dry-run=server",
        ],
        &message,
    );
    refused(
        k,
        &["create", "configmap", "made", "-n", &ns, "--dry-run=server"],
        &format!("{DENIED} protected-namespace"),
    );
    // The namespace itself: its label cannot be taken off.
    refused(
        k,
        &[
            "patch",
            "namespace",
            &ns,
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"guardian.io/protected":"false"},"annotations":{"guardian.dev/action-id":"act-q"}}}"#,
        ],
        &format!(
            "{DENIED} protected-namespace: Guardian's service account may not write \
             (UPDATE namespaces {ns}) in a namespace labelled guardian.io/protected=true"
        ),
    );
    assert_eq!(object(k, &ns)["spec"]["replicas"], 1);
    assert_eq!(
        k.run(&[
            "get",
            "namespace",
            &ns,
            "-o",
            r"jsonpath={.metadata.labels.guardian\.io/protected}"
        ]),
        "true"
    );
    // The admin still writes there.
    k.run(&[
        "patch",
        "deployment",
        "web",
        "-n",
        &ns,
        "--type=json",
        "-p",
        &approved,
    ]);
    assert_eq!(object(k, &ns)["spec"]["replicas"], 2);
}

#[test]
fn a_kubelet_is_reached_through_the_node_proxy_only_for_its_stats() {
    let Some(k) = control_plane() else { return };
    let ns = writable_namespace(k, "admission-node", &[]);
    enforced(k, &ns);
    // RBAC as the node mode's (deploy/daemonset/rbac.yaml), on a node that
    // does not exist: admission answers before the node is looked up.
    let node = format!("no-such-node-{ns}");
    k.apply(&format!(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: admission-test-{ns}-proxy}}
rules:
  - apiGroups: [""]
    resources: ["nodes/proxy"]
    resourceNames: ["{node}"]
    verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: admission-test-{ns}-proxy}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admission-test-{ns}-proxy}}
subjects: [{{kind: ServiceAccount, name: guardian, namespace: guardian}}]
"#
    ));
    let path = format!("/api/v1/nodes/{node}/proxy/exec/{ns}/web/web?command=id");
    refused(
        k,
        &["get", "--raw", &path],
        &format!(
            "{DENIED} node-proxy-stats-only: Guardian's service account may reach a kubelet \
             (nodes/proxy {node}) only at /stats/summary, not /exec/{ns}/web/web"
        ),
    );
    // The stats pass admission (and then find no such node).
    let out = as_sa(
        k,
        &[
            "get",
            "--raw",
            &format!("/api/v1/nodes/{node}/proxy/stats/summary"),
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("nodes \"{node}\" not found")) && !text(&out).contains(DENIED),
        "{}",
        text(&out)
    );
}

/// The real approval path under the policy: `guardian skills call
/// patch.propose` (its server-side dry run, without the annotation) and
/// `guardian actions approve --yes` (the write, with the action's id), both
/// as Guardian's service account, are admitted; the same write replayed is
/// not.
#[test]
fn guardians_propose_and_approve_as_its_service_account_pass_the_policy() {
    let Some(k) = control_plane() else { return };
    let ns = writable_namespace(k, "admission-approve", &[]);
    deployment(k, &ns);
    enforced(k, &ns);
    // Guardian's policy reads the namespace's protected label.
    k.apply(&format!(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: admission-test-{ns}-read}}
rules:
  - apiGroups: [""]
    resources: ["namespaces"]
    verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: admission-test-{ns}-read}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admission-test-{ns}-read}}
subjects: [{{kind: ServiceAccount, name: guardian, namespace: guardian}}]
"#
    ));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = k.kubeconfig(dir.path());
    let run = |args: &[&str]| -> Command {
        let mut cmd = guardian(&dir.path().join("cache"));
        cmd.arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--as", SA])
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--audit")
            .arg(dir.path().join("audit.jsonl"))
            .args(args)
            .env("USER", "alice")
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null());
        cmd
    };
    let propose = |to: &str| -> String {
        let input = json!({
            "target": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": ns, "name": "web"},
            "json_patch": [
                {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "web"},
                {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": to},
            ],
            "rationale": "roll web to the patched image",
        });
        let out =
            run_ok(run(&["skills", "call", "patch.propose", "--input"]).arg(input.to_string()));
        let answer: Value = serde_json::from_str(&out).unwrap();
        answer["action_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no action proposed: {answer}"))
            .to_owned()
    };
    let approve = |id: &str| {
        run(&["actions", "approve", id, "--yes", "--rollout-timeout", "0"])
            .output()
            .unwrap()
    };

    // The proposal's dry run (no annotation) was admitted: there is an
    // action, and nothing changed.
    let first = propose("nginx:1.1");
    assert_eq!(image_of(k, &ns), "nginx:1.0");
    let out = approve(&first);
    assert!(out.status.success(), "approve {first}: {}", text(&out));
    assert_eq!(image_of(k, &ns), "nginx:1.1");
    assert_eq!(annotation(k, &ns), first.as_str());

    // A second approved action: a new id, admitted again.
    let second = propose("nginx:1.2");
    assert_ne!(first, second);
    let out = approve(&second);
    assert!(out.status.success(), "approve {second}: {}", text(&out));
    assert_eq!(image_of(k, &ns), "nginx:1.2");
    assert_eq!(annotation(k, &ns), second.as_str());

    // The same write replayed behind Guardian's back, as its service
    // account: the action id is no longer new.
    let replay = json!([
        {"op": "add", "path": "/metadata/annotations", "value": {ANNOTATION: second}},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "evil.example/x:1"},
    ])
    .to_string();
    refused(
        k,
        &[
            "patch",
            "deployment",
            "web",
            "-n",
            &ns,
            "--type=json",
            "-p",
            &replay,
        ],
        &format!("{DENIED} approved-update"),
    );
    assert_eq!(image_of(k, &ns), "nginx:1.2");
}
