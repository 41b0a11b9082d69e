//! `deploy/`: the in-cluster manifests, held to the code they deploy.
//!
//! - The ClusterRoles grant exactly what the built-in skills' effective
//!   grants need (computed with `guardian doctor`'s own functions, under the
//!   ConfigMap's config), plus the documented review APIs, and nothing
//!   broader.
//! - `kubectl apply -k deploy/deployment` (and `deploy/daemonset`) on a real kube-apiserver: every object is
//!   accepted as written; `guardian doctor --as` the pod's service account
//!   finds every permission granted; without the `guardian-propose` binding
//!   it misses exactly what that ClusterRole grants, and prints a
//!   ClusterRole that, bound, grants it.
//! - The ConfigMap's config and the tokens Secret template parse with the
//!   real loaders.
//! - `guardian serve` starts with the Deployment's exact arguments and
//!   environment, its volumes laid out as the kubelet does, on the real
//!   server as the pod's service account, and answers the probes, the
//!   filled-in tokens, Kubernetes tokens (TokenReview, audience `guardian`)
//!   and SIGTERM as the manifests expect.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use guardian_broker::live::rbac;
use serde::Deserialize;
use serde_json::{Value, json};

use guardian_tests::kube::{ControlPlane, control_plane};

use crate::serve::Killed;
use crate::support::{guardian, repo_root, sha256_hex};

/// What the review APIs need beyond the skills' grants: TokenReview for
/// `serve --token-review`, SelfSubjectAccessReview for `doctor`.
const REVIEWS: [(&str, &str, &str); 2] = [
    ("authentication.k8s.io", "tokenreviews", "create"),
    ("authorization.k8s.io", "selfsubjectaccessreviews", "create"),
];

/// Verbs no rule may hold on any resource.
const NEVER: [&str; 9] = [
    "*",
    "create",
    "update",
    "delete",
    "deletecollection",
    "escalate",
    "bind",
    "impersonate",
    "watch",
];

/// (API group, resource as a rule names it, verb).
type Triple = (String, String, String);

fn deploy_dir() -> PathBuf {
    repo_root().join("deploy")
}

/// `deploy/deployment/`: the Deployment mode (it includes `deploy/base/`).
fn deployment_dir() -> PathBuf {
    deploy_dir().join("deployment")
}

/// `deploy/daemonset/`: the node mode (it includes `deploy/base/`).
fn daemonset_dir() -> PathBuf {
    deploy_dir().join("daemonset")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The YAML documents of a file, as JSON values.
fn documents(path: &Path) -> Vec<Value> {
    let text = read(path);
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

/// Every object `kubectl apply -k deploy/deployment` applies.
fn manifests() -> Vec<Value> {
    manifests_of(&deployment_dir())
}

/// Every object `kubectl apply -k deploy/daemonset` applies.
fn daemonset_manifests() -> Vec<Value> {
    manifests_of(&daemonset_dir())
}

/// `deploy/argocd/`: the Role in Argo CD's namespace and its binding.
fn argocd_manifests() -> Vec<Value> {
    manifests_of(&deploy_dir().join("argocd"))
}

fn manifests_of(dir: &Path) -> Vec<Value> {
    let kustomization = documents(&dir.join("kustomization.yaml"));
    let kustomization = &kustomization[0];
    for key in kustomization.as_object().unwrap().keys() {
        assert!(
            ["apiVersion", "kind", "resources", "images"].contains(&key.as_str()),
            "kustomization.yaml: `{key}` changes what is applied; this test reads the resources as they are"
        );
    }
    kustomization["resources"]
        .as_array()
        .expect("kustomization.yaml lists resources")
        .iter()
        .flat_map(|r| {
            // A folder is another kustomization (`../base`).
            let path = dir.join(r.as_str().unwrap());
            if path.is_dir() {
                manifests_of(&path)
            } else {
                documents(&path)
            }
        })
        .collect()
}

fn find<'a>(all: &'a [Value], kind: &str, name: &str) -> &'a Value {
    all.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/"))
}

fn of_kind<'a>(all: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
    all.iter().filter(move |o| o["kind"] == kind)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

/// The tokens Secret template (not applied by the kustomization).
fn tokens_secret() -> Value {
    let docs = documents(&deploy_dir().join("tokens.example.yaml"));
    assert_eq!(docs.len(), 1, "tokens.example.yaml is one Secret");
    assert_eq!(docs[0]["kind"], "Secret");
    docs[0].clone()
}

fn deployment(all: &[Value]) -> &Value {
    find(all, "Deployment", "guardian")
}

fn container(all: &[Value]) -> &Value {
    let containers = deployment(all)["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

fn args(all: &[Value]) -> Vec<String> {
    strings(&container(all)["args"])
}

/// The value of `--flag=value` in the Deployment's args.
fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .find_map(|a| a.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

/// `system:serviceaccount:NS:NAME` of the Deployment's pods.
fn pod_user(all: &[Value]) -> String {
    let d = deployment(all);
    let sa = d["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .expect("serviceAccountName");
    let ns = d["metadata"]["namespace"].as_str().unwrap();
    find(all, "ServiceAccount", sa);
    format!("system:serviceaccount:{ns}:{sa}")
}

/// The ConfigMap's config file, written out and read by the real loader.
fn config(all: &[Value], dir: &Path) -> (PathBuf, guardian_core::Config) {
    let text = find(all, "ConfigMap", "guardian-config")["data"]["config.yaml"]
        .as_str()
        .expect("guardian-config has config.yaml");
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    let config = guardian_core::config::load(Some(&path)).expect("the config loads");
    config
        .limits
        .apply(Default::default())
        .expect("the config's limits are valid");
    (path, config)
}

// ----- RBAC -------------------------------------------------------------

/// The ClusterRoles and who they are bound to.
#[derive(Clone)]
struct Rbac {
    /// ClusterRole name → rules.
    roles: BTreeMap<String, Vec<Value>>,
    /// ClusterRoleBinding name → (ClusterRole, users).
    bindings: BTreeMap<String, (String, Vec<String>)>,
}

impl Rbac {
    fn of(all: &[Value]) -> Rbac {
        let roles = of_kind(all, "ClusterRole")
            .map(|r| {
                (
                    r["metadata"]["name"].as_str().unwrap().to_owned(),
                    r["rules"].as_array().cloned().unwrap_or_default(),
                )
            })
            .collect();
        let bindings = of_kind(all, "ClusterRoleBinding")
            .map(|b| {
                assert_eq!(b["roleRef"]["kind"], "ClusterRole", "{b}");
                let users = b["subjects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| match s["kind"].as_str() {
                        Some("ServiceAccount") => format!(
                            "system:serviceaccount:{}:{}",
                            s["namespace"].as_str().unwrap(),
                            s["name"].as_str().unwrap()
                        ),
                        other => panic!("binding subject of kind {other:?}: {b}"),
                    })
                    .collect();
                (
                    b["metadata"]["name"].as_str().unwrap().to_owned(),
                    (b["roleRef"]["name"].as_str().unwrap().to_owned(), users),
                )
            })
            .collect();
        Rbac { roles, bindings }
    }

    /// The rules bound to `user`, with the ClusterRole each is from.
    fn rules_of(&self, user: &str) -> Vec<(&str, &Value)> {
        self.bindings
            .values()
            .filter(|(_, users)| users.iter().any(|u| u == user))
            .flat_map(|(role, _)| {
                self.roles
                    .get(role)
                    .unwrap_or_else(|| panic!("a binding names ClusterRole {role}, not in deploy/"))
                    .iter()
                    .map(move |rule| (role.as_str(), rule))
            })
            .collect()
    }

    /// Whether a rule bound to `user` grants `verb` on `resource` in `group`.
    fn allows(&self, user: &str, group: &str, resource: &str, verb: &str) -> bool {
        let has =
            |list: &Value, want: &str| strings(list).iter().any(|item| item == "*" || item == want);
        self.rules_of(user).iter().any(|(_, rule)| {
            has(&rule["apiGroups"], group)
                && has(&rule["resources"], resource)
                && has(&rule["verbs"], verb)
        })
    }
}

/// Every (group, resource, verb) a rule grants, checked for shapes RBAC
/// must not have here.
fn triples(rule: &Value) -> Vec<Triple> {
    assert!(
        rule.get("nonResourceURLs").is_none() && rule.get("resourceNames").is_none(),
        "rule {rule}: only plain resource rules are expected"
    );
    let mut out = Vec::new();
    for group in strings(&rule["apiGroups"]) {
        for resource in strings(&rule["resources"]) {
            for verb in strings(&rule["verbs"]) {
                for item in [&group, &resource, &verb] {
                    assert!(!item.contains('*'), "rule {rule}: no wildcards");
                }
                out.push((group.clone(), resource.clone(), verb.clone()));
            }
        }
    }
    out
}

fn triple(p: &rbac::Permission) -> Triple {
    (p.group.clone(), p.rule_resource(), p.verb.clone())
}

/// What the built-in skills' effective grants under `config` need, as
/// `guardian doctor` computes it, plus what the host reads on its own.
fn needed(config: &guardian_core::Config) -> BTreeSet<Triple> {
    let mut needed = BTreeSet::new();
    for builtin in guardian_builtin_skills::all() {
        let manifest = guardian_runtime::Manifest::parse(builtin.manifest)
            .unwrap_or_else(|e| panic!("{}: {e}", builtin.name));
        let grants = config
            .skills
            .grants
            .effective(&manifest.name, &manifest.grants);
        // The metrics grant reads metrics.k8s.io's pod usage too (doctor's
        // rule).
        let mut read: Vec<String> = grants.read.iter().cloned().collect();
        if grants.metrics && !read.iter().any(|r| r == "*") {
            read.push("pods.metrics.k8s.io".to_owned());
        }
        for p in rbac::required_for_grants(&read, &grants.propose) {
            needed.insert(triple(&p));
        }
        // Applying an approved action reads the target first (its
        // resourceVersion) and polls it for the rollout.
        let none: Vec<String> = Vec::new();
        for p in rbac::required_for_grants(&none, &grants.propose) {
            needed.insert((p.group.clone(), p.rule_resource(), "get".to_owned()));
        }
    }
    // The protected-namespace rule reads the namespace's labels.
    needed.insert((String::new(), "namespaces".into(), "get".into()));
    needed
}

#[test]
fn cluster_roles_grant_exactly_what_the_skills_grants_need() {
    let all = manifests();
    let dir = tempfile::tempdir().unwrap();
    let (_, config) = config(&all, dir.path());
    let rbac = Rbac::of(&all);
    let user = pod_user(&all);

    // Every ClusterRole is bound, every binding to the pod's service account.
    for (name, (role, users)) in &rbac.bindings {
        assert_eq!(
            users,
            std::slice::from_ref(&user),
            "ClusterRoleBinding {name}"
        );
        assert!(rbac.roles.contains_key(role), "{name} binds missing {role}");
    }
    for role in rbac.roles.keys() {
        assert!(
            rbac.bindings.values().any(|(r, _)| r == role),
            "ClusterRole {role} is bound to nothing"
        );
    }
    assert_eq!(of_kind(&all, "Role").count(), 0);
    assert_eq!(of_kind(&all, "RoleBinding").count(), 0);

    // What is granted, and by which ClusterRole.
    let mut granted: BTreeMap<Triple, &str> = BTreeMap::new();
    for (role, rule) in rbac.rules_of(&user) {
        for t in triples(rule) {
            let review = REVIEWS
                .iter()
                .any(|(g, r, v)| *g == t.0 && *r == t.1 && *v == t.2);
            assert!(
                review || !NEVER.contains(&t.2.as_str()),
                "{role} grants {t:?}: Guardian never needs that verb"
            );
            // The split README.md documents: drop one binding, lose one kind.
            let home = match t.2.as_str() {
                "get" | "list" => "guardian-read",
                "patch" => "guardian-propose",
                _ => "guardian-reviews",
            };
            assert_eq!(role, home, "{t:?} belongs in {home}");
            granted.insert(t, role);
        }
    }

    // Argo CD's resources: in deploy/argocd/'s Role, in Argo CD's namespace
    // only, bound to the same service account.
    let (argocd_needed, mut expected): (BTreeSet<Triple>, BTreeSet<Triple>) = needed(&config)
        .into_iter()
        .partition(|t| t.0 == "argoproj.io");
    let argocd = argocd_manifests();
    let role = find(&argocd, "Role", "guardian-argocd");
    assert_eq!(
        strings(&json!(config.argocd.namespaces())),
        vec![role["metadata"]["namespace"].as_str().unwrap().to_owned()],
        "the Role is where the config says Applications live"
    );
    let binding = find(&argocd, "RoleBinding", "guardian-argocd");
    assert_eq!(
        binding["metadata"]["namespace"],
        role["metadata"]["namespace"]
    );
    assert_eq!(binding["roleRef"]["name"], "guardian-argocd");
    assert_eq!(
        format!(
            "system:serviceaccount:{}:{}",
            binding["subjects"][0]["namespace"].as_str().unwrap(),
            binding["subjects"][0]["name"].as_str().unwrap()
        ),
        user
    );
    let argocd_granted: BTreeSet<Triple> = role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(triples)
        .collect();
    assert_eq!(
        argocd_granted, argocd_needed,
        "deploy/argocd/rbac.yaml drifted from the skills' grants"
    );
    assert!(argocd_granted.contains(&(
        "argoproj.io".into(),
        "applications".into(),
        "patch".into()
    )));
    expected.extend(
        REVIEWS
            .iter()
            .map(|(g, r, v)| (g.to_string(), r.to_string(), v.to_string())),
    );
    let have: BTreeSet<Triple> = granted.keys().cloned().collect();
    let missing: Vec<_> = expected.difference(&have).collect();
    let extra: Vec<_> = have.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "deploy/base/rbac.yaml drifted from the skills' grants.\nmissing (group, resource, verb): {missing:#?}\nnot needed: {extra:#?}"
    );
    // Sanity: the set is the one doctor prints, not an empty one.
    assert!(have.contains(&(String::new(), "pods/log".into(), "get".into())));
    assert!(have.contains(&("apps".into(), "deployments".into(), "patch".into())));
    assert!(have.contains(&(String::new(), "secrets".into(), "list".into())));
}

#[test]
fn cluster_roles_let_every_analyzer_read_what_it_declares() {
    let all = manifests();
    let dir = tempfile::tempdir().unwrap();
    let (_, config) = config(&all, dir.path());
    let rbac = Rbac::of(&all);
    let user = pod_user(&all);
    let skill = guardian_builtin_skills::get("diagnostics").unwrap();
    let manifest = guardian_runtime::Manifest::parse(skill.manifest).unwrap();
    let grants = config
        .skills
        .grants
        .effective(&manifest.name, &manifest.grants);

    let none: Vec<String> = Vec::new();
    let argocd = argocd_manifests();
    let argocd_rules = find(&argocd, "Role", "guardian-argocd")["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (analyzer, reads) in crate::analyzer_reads::declared_reads(&dir.path().join("cache")) {
        for resource in reads {
            // The deployed Guardian lets the skill read it…
            if !grants.read.contains(&resource) {
                problems.push(format!(
                    "{analyzer} reads {resource}, which the diagnostics skill's effective grant \
                     under deploy/base/config.yaml lacks"
                ));
            }
            // …and RBAC lets Guardian read it: Argo CD's resources in Argo
            // CD's namespace (deploy/argocd/; the analyzer reads them only
            // there), the rest cluster-wide.
            for p in rbac::required_for_grants(std::slice::from_ref(&resource), &none) {
                let rule = p.rule_resource();
                if p.group == "argoproj.io" {
                    let granted = argocd_rules
                        .iter()
                        .flat_map(triples)
                        .any(|t| t == (p.group.clone(), rule.clone(), p.verb.clone()));
                    if !granted {
                        problems.push(format!(
                            "{analyzer} reads {resource}, but the Role in deploy/argocd/ does not \
                             grant {} on {rule}",
                            p.verb
                        ));
                    }
                } else if !rbac.allows(&user, &p.group, &rule, &p.verb) {
                    problems.push(format!(
                        "{analyzer} reads {resource}, but no ClusterRole in deploy/base/rbac.yaml \
                         grants {} on {rule} in API group {:?}",
                        p.verb, p.group
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // get and list on each of more than 20 resources.
    assert!(checked > 40, "only {checked} permissions checked");
}

// ----- deploy/ on a real API server ---------------------------------------

/// `kubectl apply -k deploy/deployment` on the real server, once per test run; the
/// lock keeps one test at a time on what it applied (the ClusterRoles and
/// bindings are cluster-wide, and a test changes them).
fn deployed(k: &ControlPlane) -> std::sync::MutexGuard<'static, ()> {
    static APPLIED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    APPLIED.get_or_init(|| apply_deploy(k));
    guard
}

/// Applies `deploy/deployment` and checks the server accepted every object as it is
/// written.
fn apply_deploy(k: &ControlPlane) {
    apply_checked(k, &deployment_dir(), &manifests());
    // Argo CD installed (other tests of the run install its CRDs anyway, and
    // doctor then checks its permissions), with deploy/argocd/ applied in
    // its namespace.
    guardian_tests::argocd::install_crds(k);
    k.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: argocd\n");
    k.run(&["apply", "-k", deploy_dir().join("argocd").to_str().unwrap()]);
}

/// `kubectl apply -k DIR`; every object of `all` is stored as written.
fn apply_checked(k: &ControlPlane, dir: &Path, all: &[Value]) {
    let out = k.run(&["apply", "-k", dir.to_str().unwrap()]);
    let applied: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(applied.len(), all.len(), "one line per object: {out}");
    for object in all {
        let kind = object["kind"].as_str().unwrap();
        let name = object["metadata"]["name"].as_str().unwrap();
        let mut args = vec!["get", kind, name, "-o", "json"];
        if let Some(ns) = object["metadata"]["namespace"].as_str() {
            args.extend(["-n", ns]);
        }
        let stored: Value = serde_json::from_str(&k.run(&args)).unwrap();
        for field in ["rules", "roleRef", "subjects", "data"] {
            assert_eq!(
                stored[field], object[field],
                "{kind} {name}: {field} as written"
            );
        }
        if kind == "Deployment" || kind == "DaemonSet" {
            let (want, got) = (
                &object["spec"]["template"]["spec"],
                &stored["spec"]["template"]["spec"],
            );
            assert_eq!(got["serviceAccountName"], want["serviceAccountName"]);
            assert_eq!(got["tolerations"], want["tolerations"], "{kind}");
            assert_eq!(got["containers"][0]["args"], want["containers"][0]["args"]);
            assert_eq!(got["containers"][0]["env"], want["containers"][0]["env"]);
        }
        if kind == "ValidatingAdmissionPolicy" {
            for field in [
                "failurePolicy",
                "matchConditions",
                "variables",
                "validations",
            ] {
                assert_eq!(
                    stored["spec"][field], object["spec"][field],
                    "{kind} {name}: spec.{field} as written"
                );
            }
        }
        if kind == "ValidatingAdmissionPolicyBinding" {
            assert_eq!(stored["spec"]["policyName"], object["spec"]["policyName"]);
            assert_eq!(stored["spec"]["validationActions"], json!(["Deny"]));
        }
    }
}

/// `guardian doctor --as USER` against the real server with `config` (the
/// ConfigMap's): exit code and output.
fn doctor(k: &ControlPlane, user: &str, config: &Path, dir: &Path) -> (Option<i32>, String) {
    let out = guardian(&crate::cluster::shared_cache())
        .env("GUARDIAN_CONFIG", config)
        .env_remove("KUBECONFIG")
        .arg("doctor")
        .arg("--kubeconfig")
        .arg(k.kubeconfig(dir))
        .args(["--as", user])
        .output()
        .expect("guardian doctor runs");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The (group, resource, verb) triples of the ClusterRole YAML doctor
/// printed.
fn printed_role(out: &str) -> (Value, BTreeSet<Triple>) {
    let yaml = &out[out
        .find("apiVersion: rbac.authorization.k8s.io/v1")
        .unwrap_or_else(|| panic!("no ClusterRole printed: {out}"))..];
    let role: Value = serde_yaml::from_str(yaml).unwrap();
    assert_eq!(role["kind"], "ClusterRole", "{yaml}");
    let triples = role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(triples)
        .collect();
    (role, triples)
}

#[test]
fn deploy_applies_and_guardian_doctor_finds_every_permission_granted() {
    let Some(k) = control_plane() else { return };
    let _deployed = deployed(k);
    let all = manifests();
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config(&all, dir.path());
    let rbac = Rbac::of(&all);
    let user = pod_user(&all);
    assert_eq!(user, "system:serviceaccount:guardian:guardian");

    // As the pod's service account, with deploy/'s bindings: all granted.
    let (code, out) = doctor(k, &user, &config, dir.path());
    assert_eq!(code, Some(0), "doctor as {user}:\n{out}");
    assert!(
        out.contains(&format!("Server:   Kubernetes {}", k.version)),
        "{out}"
    );
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.ends_with(" yes") || l.ends_with(" NO"))
        .collect();
    assert!(rows.len() >= 40, "a row per skill and permission: {out}");
    assert!(rows.iter().all(|r| r.ends_with(" yes")), "{out}");
    assert!(out.contains("permission(s) are granted"), "{out}");

    // Strictly read-only (README.md): without the guardian-propose binding
    // what is missing is exactly what guardian-propose grants, and the
    // printed ClusterRole holds it.
    k.run(&["delete", "clusterrolebinding", "guardian-propose"]);
    let (code, out) = doctor(k, &user, &config, dir.path());
    assert_eq!(code, Some(1), "{out}");
    let missing = out
        .lines()
        .filter(|l| l.ends_with(" NO"))
        .inspect(|l| assert!(l.contains(" patch "), "only patch is missing: {l}"))
        .count();
    assert!(missing > 0, "{out}");
    let (role, printed) = printed_role(&out);
    let propose: BTreeSet<Triple> = rbac.roles["guardian-propose"]
        .iter()
        .flat_map(triples)
        .collect();
    assert_eq!(printed, propose, "{out}");

    // Binding the printed ClusterRole grants what was missing.
    let mut role = role;
    role["metadata"]["name"] = "guardian-doctor-printed".into();
    k.apply(&serde_json::to_string(&role).unwrap());
    k.run(&[
        "create",
        "clusterrolebinding",
        "guardian-doctor-printed",
        "--clusterrole=guardian-doctor-printed",
        "--serviceaccount=guardian:guardian",
    ]);
    let (code, out) = doctor(k, &user, &config, dir.path());
    assert_eq!(code, Some(0), "the printed role is enough:\n{out}");
    // Back as deploy/ has it.
    k.run(&["delete", "clusterrolebinding", "guardian-doctor-printed"]);
    k.run(&["delete", "clusterrole", "guardian-doctor-printed"]);
    k.run(&["apply", "-k", deployment_dir().to_str().unwrap()]);
    let (code, out) = doctor(k, &user, &config, dir.path());
    assert_eq!(code, Some(0), "{out}");

    // Argo CD's permissions are checked in its namespace: without
    // deploy/argocd/'s binding exactly those are missing, and the Role
    // printed for that namespace is deploy/argocd/'s.
    assert!(
        out.lines()
            .any(|l| l.contains("applications.argoproj.io -n argocd ")
                && l.contains(" patch ")
                && l.ends_with(" yes")),
        "{out}"
    );
    k.run(&["delete", "rolebinding", "guardian-argocd", "-n", "argocd"]);
    let (code, out) = doctor(k, &user, &config, dir.path());
    k.run(&["apply", "-k", deploy_dir().join("argocd").to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    let missing: Vec<&str> = out.lines().filter(|l| l.ends_with(" NO")).collect();
    assert!(!missing.is_empty(), "{out}");
    for row in &missing {
        assert!(
            row.contains(".argoproj.io -n argocd "),
            "only Argo CD's: {row}"
        );
    }
    let yaml = &out[out
        .find("apiVersion: rbac.authorization.k8s.io/v1")
        .unwrap_or_else(|| panic!("no Role printed: {out}"))..];
    let printed: Value = serde_yaml::from_str(yaml).unwrap();
    assert_eq!(printed["kind"], "Role", "{yaml}");
    assert_eq!(printed["metadata"]["namespace"], "argocd", "{yaml}");
    let printed: BTreeSet<Triple> = printed["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(triples)
        .collect();
    let argocd = argocd_manifests();
    let deployed: BTreeSet<Triple> = find(&argocd, "Role", "guardian-argocd")["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(triples)
        .collect();
    assert_eq!(printed, deployed, "{out}");
}

// ----- config and tokens ------------------------------------------------

/// The template's placeholder hashes: 64 times the same hex digit.
fn is_placeholder(sha: &str) -> bool {
    sha.len() == 64
        && sha
            .bytes()
            .all(|b| b == sha.as_bytes()[0] && b.is_ascii_hexdigit())
}

/// The tokens file of the template, each placeholder replaced by the hash
/// of a token made up here (as README.md says to do), with those tokens.
fn filled_tokens(text: &str) -> (String, Vec<(String, String)>) {
    let file: Value = serde_yaml::from_str(text).unwrap();
    let mut filled = text.to_owned();
    let mut tokens = Vec::new();
    for entry in file["tokens"].as_array().expect("tokens") {
        let identity = entry["identity"].as_str().unwrap();
        let sha = entry["sha256"].as_str().unwrap();
        let token = format!("{identity}-0123456789abcdef0123456789");
        filled = filled.replace(sha, &sha256_hex(token.as_bytes()));
        tokens.push((identity.to_owned(), token));
    }
    (filled, tokens)
}

#[test]
fn config_and_tokens_template_parse_with_the_real_loaders() {
    let all = manifests();
    let dir = tempfile::tempdir().unwrap();
    let (_, config) = config(&all, dir.path());
    // Skills not named in the config get nothing.
    let default = config.skills.grants.default.as_ref().expect("a default");
    assert!(default.read.is_empty() && default.propose.is_empty() && !default.metrics);
    assert!(
        config.llm.model.is_none(),
        "the built-in reasoner by default"
    );

    let secret = tokens_secret();
    let volumes = deployment(&all)["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    assert!(
        volumes
            .iter()
            .any(|v| v["secret"]["secretName"] == secret["metadata"]["name"]),
        "the Deployment mounts the Secret the template makes"
    );
    assert_eq!(
        secret["metadata"]["namespace"],
        deployment(&all)["metadata"]["namespace"]
    );
    let text = secret["stringData"]["tokens.yaml"]
        .as_str()
        .expect("stringData.tokens.yaml");
    let tokens = guardian_api::auth::Tokens::parse(text).expect("the template parses");
    assert!(!tokens.is_empty());
    // As shipped it admits nobody: placeholders only, no plain tokens.
    let file: Value = serde_yaml::from_str(text).unwrap();
    for entry in file["tokens"].as_array().unwrap() {
        assert!(
            entry.get("token").is_none(),
            "{entry}: a template holds no token"
        );
        let sha = entry["sha256"].as_str().unwrap();
        assert!(is_placeholder(sha), "{entry}: not an obvious placeholder");
    }
    for (_, token) in filled_tokens(text).1 {
        assert!(
            tokens
                .authenticate(Some(&format!("Bearer {token}")))
                .is_err()
        );
    }
    // `serve --token-review` refuses to start without `kubernetes:`.
    if args(&all).iter().any(|a| a == "--token-review") {
        let rules = tokens.kubernetes.as_ref().expect("a kubernetes: section");
        assert!(
            rules.roles.is_empty(),
            "no example rule is live in a template"
        );
    }
    let (filled, _) = filled_tokens(text);
    assert_eq!(
        guardian_api::auth::Tokens::parse(&filled).unwrap().len(),
        tokens.len()
    );
}

// ----- the Deployment ---------------------------------------------------

#[test]
fn deployment_service_and_namespace_are_what_production_expects() {
    let all = manifests();
    let kinds: BTreeSet<&str> = all.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "Namespace",
            "Service",
            "ServiceAccount",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ])
    );
    let ns = find(&all, "Namespace", "guardian");
    assert_eq!(ns["metadata"]["labels"]["guardian.io/protected"], "true");
    for o in &all {
        if !matches!(
            o["kind"].as_str(),
            Some(
                "Namespace"
                    | "ClusterRole"
                    | "ClusterRoleBinding"
                    | "ValidatingAdmissionPolicy"
                    | "ValidatingAdmissionPolicyBinding"
            )
        ) {
            assert_eq!(o["metadata"]["namespace"], "guardian", "{}", o["kind"]);
        }
    }

    let d = deployment(&all);
    let spec = &d["spec"];
    let pod = &spec["template"]["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["strategy"]["type"], "Recreate");
    let labels = &spec["template"]["metadata"]["labels"];
    for (k, v) in spec["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&labels[k], v, "selector {k}");
    }
    assert_ne!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );

    let c = container(&all);
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert!(sc["capabilities"].get("add").is_none());
    for kind in ["requests", "limits"] {
        for r in ["cpu", "memory"] {
            assert!(c["resources"][kind][r].is_string(), "resources.{kind}.{r}");
        }
    }
    let image = c["image"].as_str().unwrap();
    assert_eq!(
        image.rsplit_once(':').map(|(_, tag)| tag),
        Some(env!("CARGO_PKG_VERSION")),
        "the image tag is the release it runs"
    );

    // Ports: each listen flag binds all interfaces on its named port, the
    // probes use the health port, the Service exposes each by name.
    let args = args(&all);
    assert_eq!(args[0], "serve");
    for forbidden in ["--kubeconfig", "--context", "--snapshot", "--as"] {
        assert!(
            !args.iter().any(|a| a.split('=').next() == Some(forbidden)),
            "{forbidden}: in a pod Guardian uses its service account"
        );
    }
    let ports: BTreeMap<String, u64> = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["containerPort"].as_u64().unwrap(),
            )
        })
        .collect();
    for (flag_name, port) in [
        ("--grpc-listen", "grpc"),
        ("--mcp-listen", "mcp"),
        ("--http-listen", "http"),
    ] {
        let value = flag(&args, flag_name).unwrap_or_else(|| panic!("{flag_name}=ADDR"));
        assert_eq!(value, format!("0.0.0.0:{}", ports[port]), "{flag_name}");
    }
    for (probe, path) in [
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ] {
        assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "http", "{probe}");
    }
    let drain: f64 = flag(&args, "--drain-timeout").map_or(30.0, |v| v.parse().unwrap());
    let grace = pod["terminationGracePeriodSeconds"].as_f64().unwrap();
    assert!(grace > drain, "the kubelet must wait out the drain");

    let service = find(&all, "Service", "guardian");
    for (k, v) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&labels[k], v, "Service selector {k}");
    }
    let targets: BTreeSet<&str> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["targetPort"].as_str().unwrap())
        .collect();
    assert_eq!(targets, BTreeSet::from(["grpc", "http", "mcp"]));

    // What `kubectl apply -k` builds is what this file read.
    match Command::new("kubectl")
        .arg("kustomize")
        .arg(deployment_dir())
        .output()
    {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8(out.stdout).unwrap();
            let built: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
                .map(|doc| Value::deserialize(doc).unwrap())
                .collect();
            let names = |objects: &[Value]| -> BTreeSet<String> {
                objects
                    .iter()
                    .map(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]))
                    .collect()
            };
            assert_eq!(names(&built), names(&all));
        }
        Ok(out) => panic!(
            "kubectl kustomize deploy/deployment failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("kubectl not available ({e}); kustomize build not checked"),
    }
}

// ----- the node mode (deploy/daemonset) ----------------------------------

/// The only container of a workload's pod template.
fn only_container(workload: &Value) -> &Value {
    let containers = workload["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

/// A CPU or memory quantity in millicores or bytes (the forms used here).
fn quantity(q: &Value) -> f64 {
    let q = q.as_str().expect("a quantity string");
    for (suffix, factor) in [
        ("m", 0.001),
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
    ] {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<f64>().unwrap() * factor;
        }
    }
    q.parse().unwrap()
}

#[test]
fn daemonset_is_the_deployments_pod_on_every_node_with_only_node_proxy_more() {
    let all = manifests();
    let nodes = daemonset_manifests();
    let key = |o: &Value| format!("{}/{}", o["kind"], o["metadata"]["name"]);

    // The base is shared: every object of both modes but the workloads,
    // their Services and the node mode's RBAC is the same object.
    let base = manifests_of(&deploy_dir().join("base"));
    for o in &base {
        assert!(all.contains(o), "{} is in deploy/deployment", key(o));
        assert!(nodes.contains(o), "{} is in deploy/daemonset", key(o));
    }
    let extra: BTreeSet<String> = nodes
        .iter()
        .filter(|o| !base.contains(o))
        .map(key)
        .collect();
    assert_eq!(
        extra,
        BTreeSet::from([
            "\"ClusterRole\"/\"guardian-node\"".to_owned(),
            "\"ClusterRoleBinding\"/\"guardian-node\"".to_owned(),
            "\"DaemonSet\"/\"guardian-node\"".to_owned(),
            "\"Service\"/\"guardian-node\"".to_owned(),
        ])
    );

    // Its extra RBAC: `get` on nodes/proxy and nodes/stats (the kubelet's
    // /stats/summary by either route), bound to the same service account,
    // and nothing else.
    let rbac = Rbac::of(&nodes);
    let user = pod_user(&all);
    assert_eq!(
        rbac.bindings["guardian-node"],
        ("guardian-node".to_owned(), vec![user.clone()])
    );
    let granted: BTreeSet<Triple> = rbac.roles["guardian-node"]
        .iter()
        .flat_map(triples)
        .collect();
    assert_eq!(
        granted,
        BTreeSet::from([
            (String::new(), "nodes/proxy".to_owned(), "get".to_owned()),
            (String::new(), "nodes/stats".to_owned(), "get".to_owned()),
        ])
    );

    // The pod: the Deployment's, hardened the same, on every node.
    let ds = find(&nodes, "DaemonSet", "guardian-node");
    let d = deployment(&all);
    let (pod, dpod) = (
        &ds["spec"]["template"]["spec"],
        &d["spec"]["template"]["spec"],
    );
    for field in [
        "serviceAccountName",
        "automountServiceAccountToken",
        "enableServiceLinks",
        "securityContext",
        "terminationGracePeriodSeconds",
    ] {
        assert_eq!(pod[field], dpod[field], "pod {field}");
    }
    assert_eq!(
        pod["tolerations"],
        json!([{"operator": "Exists"}]),
        "every taint"
    );
    for field in [
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "nodeSelector",
        "affinity",
    ] {
        assert!(pod.get(field).is_none(), "pod {field}");
    }
    let (c, dc) = (only_container(ds), only_container(d));
    for field in [
        "image",
        "securityContext",
        "ports",
        "startupProbe",
        "livenessProbe",
        "readinessProbe",
        "volumeMounts",
    ] {
        assert_eq!(c[field], dc[field], "container {field}");
    }
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    let volume_names = |p: &Value| -> Vec<Value> {
        p["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].clone())
            .collect()
    };
    assert_eq!(volume_names(pod), volume_names(dpod));
    // `serve --node=$(NODE_NAME)` (the downward API) `--kubelet=proxy`,
    // then the Deployment's arguments.
    let args = strings(&c["args"]);
    let mut expected = strings(&dc["args"]);
    expected.insert(1, "--node=$(NODE_NAME)".to_owned());
    expected.insert(2, "--kubelet=proxy".to_owned());
    assert_eq!(args, expected);
    let env = c["env"].as_array().unwrap();
    assert_eq!(
        env[0],
        json!({"name": "NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}})
    );
    assert_eq!(&env[1..], dc["env"].as_array().unwrap().as_slice());
    // Modest: no more than the one Deployment requests, on each node.
    for r in ["cpu", "memory"] {
        let (mine, server) = (
            quantity(&c["resources"]["requests"][r]),
            quantity(&dc["resources"]["requests"][r]),
        );
        assert!(
            mine > 0.0 && mine <= server,
            "requests.{r}: {mine} vs {server}"
        );
        assert!(c["resources"]["limits"][r].is_string(), "limits.{r}");
    }

    // The headless Service selects the node daemons, not the Deployment.
    let svc = find(&nodes, "Service", "guardian-node");
    assert_eq!(svc["spec"]["clusterIP"], "None");
    let labels = &ds["spec"]["template"]["metadata"]["labels"];
    let dlabels = &d["spec"]["template"]["metadata"]["labels"];
    let selector = svc["spec"]["selector"].as_object().unwrap();
    assert!(selector.iter().all(|(k, v)| &labels[k] == v));
    assert!(!selector.iter().all(|(k, v)| &dlabels[k] == v));
    let service = find(&all, "Service", "guardian");
    assert!(
        !service["spec"]["selector"]
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| &labels[k] == v),
        "the Deployment's Service does not send calls to node daemons"
    );
    let targets: BTreeSet<&str> = svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["targetPort"].as_str().unwrap())
        .collect();
    assert_eq!(targets, BTreeSet::from(["grpc", "http", "mcp"]));
}

#[test]
fn daemonset_applies_and_guardian_doctor_finds_every_permission_granted() {
    let Some(k) = control_plane() else { return };
    let _deployed = deployed(k);
    let nodes = daemonset_manifests();
    apply_checked(k, &daemonset_dir(), &nodes);
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config(&nodes, dir.path());
    let user = pod_user(&manifests());
    let (code, out) = doctor(k, &user, &config, dir.path());
    assert_eq!(code, Some(0), "doctor as {user}:\n{out}");
    // And the kubelet's stats by either route, which no skill grant names.
    for resource in ["nodes/proxy", "nodes/stats"] {
        let can = k.run(&["auth", "can-i", "get", resource, "--as", &user]);
        assert_eq!(can.trim(), "yes", "get {resource}");
    }
}

/// A volume as the kubelet lays it out, in a temporary directory.
struct Mount {
    path: String,
    local: PathBuf,
    writable: bool,
}

/// Lays out the container's volumes under `root` (a ConfigMap's keys as
/// files, the template Secret filled in, an emptyDir world-writable as the
/// kubelet makes it) and returns the mounts, longest path first.
fn lay_out(all: &[Value], root: &Path, tokens_file: &str) -> Vec<Mount> {
    let pod = &deployment(all)["spec"]["template"]["spec"];
    let secret = tokens_secret();
    let mut mounts = Vec::new();
    for m in container(all)["volumeMounts"].as_array().unwrap() {
        let name = m["name"].as_str().unwrap();
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("volume {name}"));
        let local = root.join(name);
        std::fs::create_dir_all(&local).unwrap();
        let mut writable = false;
        if let Some(cm) = volume.get("configMap") {
            assert!(cm.get("items").is_none());
            let data = &find(all, "ConfigMap", cm["name"].as_str().unwrap())["data"];
            for (key, text) in data.as_object().unwrap() {
                std::fs::write(local.join(key), text.as_str().unwrap()).unwrap();
            }
        } else if let Some(s) = volume.get("secret") {
            assert_eq!(s["secretName"], secret["metadata"]["name"]);
            for (key, text) in secret["stringData"].as_object().unwrap() {
                std::fs::write(local.join(key), text.as_str().unwrap()).unwrap();
            }
            std::fs::write(local.join("tokens.yaml"), tokens_file).unwrap();
        } else if volume.get("emptyDir").is_some() {
            std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o777)).unwrap();
            writable = m["readOnly"] != true;
        } else {
            panic!("volume {name}: only configMap, secret and emptyDir are laid out here");
        }
        mounts.push(Mount {
            path: m["mountPath"]
                .as_str()
                .unwrap()
                .trim_end_matches('/')
                .to_owned(),
            local,
            writable,
        });
    }
    mounts.sort_by_key(|m| std::cmp::Reverse(m.path.len()));
    mounts
}

/// `value` with a mount path replaced by its local directory; a path in no
/// volume is on the read-only root filesystem.
fn relocate(mounts: &[Mount], value: &str, write: bool) -> String {
    if !value.starts_with('/') {
        return value.to_owned();
    }
    let mount = mounts
        .iter()
        .find(|m| value == m.path || value.starts_with(&format!("{}/", m.path)))
        .unwrap_or_else(|| panic!("{value} is in no volume of the pod"));
    assert!(
        !write || mount.writable,
        "{value} must be writable but is not on a writable emptyDir"
    );
    format!("{}{}", mount.local.display(), &value[mount.path.len()..])
}

/// A plain HTTP request; the status code.
fn http_status(addr: &str, request: &str) -> u16 {
    let mut s = TcpStream::connect(addr).expect("the port accepts connections");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn get(addr: &str, path: &str) -> u16 {
    http_status(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
}

fn mcp_initialize_request(addr: &str, token: Option<&str>) -> String {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"deploy-test","version":"0"}}}"#;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

fn mcp_initialize(addr: &str, token: Option<&str>) -> u16 {
    http_status(addr, &mcp_initialize_request(addr, token))
}

/// An MCP initialize that is refused: the status and the whole answer.
fn mcp_refused(addr: &str, token: &str) -> (u16, String) {
    use std::io::Read;
    let mut s = TcpStream::connect(addr).expect("the port accepts connections");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(mcp_initialize_request(addr, Some(token)).as_bytes())
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

#[test]
fn serve_runs_with_the_deployments_arguments_environment_and_volumes() {
    let Some(k) = control_plane() else { return };
    let _deployed = deployed(k);
    let all = manifests();
    let root = tempfile::tempdir().unwrap();
    let secret = tokens_secret();
    let (tokens_file, tokens) =
        filled_tokens(secret["stringData"]["tokens.yaml"].as_str().unwrap());
    let mounts = lay_out(&all, root.path(), &tokens_file);
    let c = container(&all);

    // The exact args, with paths moved into the laid-out volumes and the
    // ports onto free loopback ones.
    let mut cmd_args = Vec::new();
    for arg in args(&all) {
        let arg = match arg.split_once('=') {
            Some((name, _)) if name.ends_with("-listen") => format!("{name}=127.0.0.1:0"),
            Some((name, value)) => format!("{name}={}", relocate(&mounts, value, false)),
            None => relocate(&mounts, &arg, false),
        };
        cmd_args.push(arg);
    }
    let home = root.path().join("home");
    std::fs::create_dir(&home).unwrap();
    // The cluster as the pod sees it: the API server, as the pod's service
    // account (its token from the TokenRequest API, as the kubelet
    // projects it), with deploy/'s RBAC.
    let sa_token = k
        .run(&[
            "create",
            "token",
            "guardian",
            "-n",
            "guardian",
            "--duration=1h",
        ])
        .trim()
        .to_owned();
    let kubeconfig = k.kubeconfig_with(root.path(), &[("pod", &sa_token)]);
    let mut cmd = guardian(&root.path().join("unused-cache"));
    for var in [
        "GUARDIAN_CACHE_DIR",
        "GUARDIAN_CONFIG",
        "KUBECONFIG",
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
    ] {
        cmd.env_remove(var);
    }
    // Anything written under HOME would be on the read-only root.
    cmd.env("HOME", &home);
    let mut env = BTreeMap::new();
    for e in c["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap().to_owned();
        let value = e["value"].as_str().expect("plain env values").to_owned();
        let write = matches!(
            name.as_str(),
            "GUARDIAN_STATE_DIR" | "GUARDIAN_CACHE_DIR" | "GUARDIAN_AUDIT"
        );
        let local = if value == "-" {
            value
        } else {
            relocate(&mounts, &value, write)
        };
        cmd.env(&name, &local);
        env.insert(name, local);
    }
    for var in [
        "GUARDIAN_CONFIG",
        "GUARDIAN_STATE_DIR",
        "GUARDIAN_CACHE_DIR",
    ] {
        assert!(env.contains_key(var), "the Deployment sets {var}");
    }
    cmd.args(&cmd_args)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--context", "pod"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Killed(cmd.spawn().expect("guardian serve starts"));
    let stderr = child.0.stderr.take().unwrap();
    let stdout = child.0.stdout.take().unwrap();
    let logged = Arc::new(Mutex::new(Vec::new()));
    let stderr_reader = {
        let logged = Arc::clone(&logged);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                logged.lock().unwrap().push(line);
            }
        })
    };
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let Ok(line) = rx.recv_timeout(Duration::from_secs(240)) else {
        let _ = child.0.kill();
        let _ = child.0.wait();
        let _ = stderr_reader.join();
        let text = logged.lock().unwrap().join("\n");
        panic!("guardian serve {cmd_args:?} did not start:\n{text}");
    };
    let addr = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
            .to_owned()
    };
    let (http, mcp) = (addr("http"), addr("mcp"));

    // The probes.
    assert_eq!(get(&http, "/healthz"), 200);
    assert_eq!(get(&http, "/readyz"), 200);
    assert_eq!(get(&http, "/metrics"), 200);
    // The tokens: none is refused (and audited), each filled-in one admitted.
    assert_eq!(mcp_initialize(&mcp, None), 401);
    for (identity, token) in &tokens {
        assert_eq!(mcp_initialize(&mcp, Some(token)), 200, "{identity}");
    }
    // --token-review: a Kubernetes token is checked by the API server, as
    // the pod's service account (guardian-reviews). One minted for
    // Guardian's audience is authenticated, and refused because no rule in
    // the template gives it a role; one for the API server's audience is
    // not accepted at all.
    let mint = |audience: Option<&str>| {
        let mut args = vec![
            "create",
            "token",
            "someone",
            "-n",
            "guardian",
            "--duration=1h",
        ];
        if let Some(audience) = audience {
            args.extend(["--audience", audience]);
        }
        k.run(&args).trim().to_owned()
    };
    k.service_account_token("guardian", "someone");
    let (status, answer) = mcp_refused(&mcp, &mint(Some("guardian")));
    assert_eq!(status, 401, "{answer}");
    assert!(
        answer.contains(
            "the cluster authenticates the token as system:serviceaccount:guardian:someone, \
             but the tokens file's kubernetes.roles give it no role"
        ),
        "{answer}"
    );
    let (status, answer) = mcp_refused(&mcp, &mint(None));
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("TokenReview did not accept it"), "{answer}");

    // The writable paths are the ones used, and nothing else was written.
    let state = Path::new(&env["GUARDIAN_STATE_DIR"]);
    assert!(
        state.join("actions.db").is_file(),
        "the action store is in GUARDIAN_STATE_DIR"
    );
    let cache = Path::new(&env["GUARDIAN_CACHE_DIR"]);
    assert!(
        std::fs::read_dir(cache).map(|d| d.count()).unwrap_or(0) > 0,
        "compiled skills are cached in GUARDIAN_CACHE_DIR"
    );
    assert_eq!(
        std::fs::read_dir(&home).unwrap().count(),
        0,
        "nothing under HOME"
    );

    // SIGTERM: drained and gone within the grace period.
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let grace = deployment(&all)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(grace);
    let exit = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "still running {grace}s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "{exit}");

    if let Some(audit) = env.get("GUARDIAN_AUDIT").filter(|a| *a != "-") {
        let text = read(Path::new(audit));
        assert!(
            text.lines()
                .any(|l| l.contains("\"event\":\"access\"") && l.contains("unauthenticated")),
            "the refused call is in GUARDIAN_AUDIT: {text}"
        );
    }
    // No warning (an action store, cache or config it could not use); the
    // refusal above is logged, and expected.
    let logged = logged.lock().unwrap();
    assert!(
        !logged
            .iter()
            .any(|l| l.to_ascii_lowercase().contains("warn") && !l.contains("refused")),
        "{}",
        logged.join("\n")
    );
}

/// A Dockerfile's instructions, continuation lines joined and comments
/// dropped: (INSTRUCTION, arguments).
fn dockerfile_instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            current.push_str(head.trim_end());
            current.push(' ');
            continue;
        }
        current.push_str(t);
        let (instr, rest) = current
            .split_once(char::is_whitespace)
            .unwrap_or((current.as_str(), ""));
        out.push((instr.to_uppercase(), rest.trim().to_owned()));
        current.clear();
    }
    out
}

/// The values of `--config.NAME VALUE` in scripts/build-image.sh's `umoci
/// config` call, in order (quotes removed).
fn umoci_config(script: &str, name: &str) -> Vec<String> {
    let flag = format!("--config.{name} ");
    let mut out = Vec::new();
    for line in script.lines() {
        let mut rest = line;
        while let Some(at) = rest.find(&flag) {
            rest = &rest[at + flag.len()..];
            let value: String = if let Some(quoted) = rest.strip_prefix('"') {
                quoted.split('"').next().unwrap().to_owned()
            } else {
                rest.split_whitespace().next().unwrap().to_owned()
            };
            out.push(value);
        }
    }
    out
}

/// `key = "value"` of the root Cargo.toml's `[workspace.package]`.
fn workspace_package(key: &str) -> String {
    let text = read(&repo_root().join("Cargo.toml"));
    let section = text
        .split("[workspace.package]")
        .nth(1)
        .expect("[workspace.package] in Cargo.toml");
    section
        .lines()
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| {
            l.strip_prefix(&format!("{key} = \""))
                .and_then(|v| v.strip_suffix('"'))
        })
        .unwrap_or_else(|| panic!("no {key} in [workspace.package]"))
        .to_owned()
}

/// deploy/Dockerfile (for users with Docker) and scripts/build-image.sh
/// (umoci, no container engine) build the same image: the same files, laid
/// out by scripts/image-rootfs.sh for both, the same static musl binary, and
/// the same user, entrypoint, cmd, environment, working directory and label
/// names; the user is the Deployment's `runAsUser:runAsGroup`.
/// scripts/check-image.sh
/// checks the built image against the Dockerfile too; this keeps the two
/// from drifting without building either.
#[test]
fn dockerfile_and_build_image_script_make_the_same_image() {
    let root = repo_root();
    let dockerfile = dockerfile_instructions(&read(&root.join("deploy/Dockerfile")));
    let script = read(&root.join("scripts/build-image.sh"));
    let last_from = dockerfile
        .iter()
        .rposition(|(i, _)| i == "FROM")
        .expect("FROM in deploy/Dockerfile");
    let (build, runtime) = dockerfile.split_at(last_from);
    let one = |stage: &[(String, String)], instr: &str| -> Vec<String> {
        stage
            .iter()
            .filter(|(i, _)| i == instr)
            .map(|(_, a)| a.clone())
            .collect()
    };

    // Files: an empty base plus what image-rootfs.sh lays out from the musl
    // build, in both.
    assert_eq!(one(runtime, "FROM"), ["scratch"], "the runtime stage");
    assert_eq!(
        one(runtime, "COPY"),
        ["--from=build /rootfs/ /"],
        "the runtime stage holds only the laid-out root filesystem"
    );
    let build_run = one(build, "RUN").join("\n");
    for needed in [
        "--target x86_64-unknown-linux-musl -p guardian-cli --bin guardian",
        "sh scripts/image-rootfs.sh target/x86_64-unknown-linux-musl/release/guardian /etc/ssl/certs/ca-certificates.crt /rootfs",
    ] {
        assert!(
            build_run.contains(needed),
            "deploy/Dockerfile's build stage runs `{needed}`"
        );
    }
    assert!(script.contains("target=x86_64-unknown-linux-musl"));
    assert!(script.contains(
        "cargo build --release --locked --target \"$target\" -p guardian-cli --bin guardian"
    ));
    assert!(script.contains(
        "sh \"$root/scripts/image-rootfs.sh\" \"$binary\" \"$ca\" \"$work/bundle/rootfs\""
    ));
    assert!(script.contains("ca=/etc/ssl/certs/ca-certificates.crt"));

    // The config.
    let all = manifests();
    let pod_sc = &deployment(&all)["spec"]["template"]["spec"]["securityContext"];
    let user = format!("{}:{}", pod_sc["runAsUser"], pod_sc["runAsGroup"]);
    assert_eq!(
        one(runtime, "USER"),
        [user.as_str()],
        "USER is the pod's user"
    );
    assert_eq!(umoci_config(&script, "user"), [user.as_str()]);
    let json_list = |args: &[String]| -> Vec<String> {
        assert_eq!(args.len(), 1, "one instruction: {args:?}");
        serde_json::from_str(&args[0]).expect("the JSON (exec) form")
    };
    let entrypoint = json_list(&one(runtime, "ENTRYPOINT"));
    assert_eq!(entrypoint, ["/usr/local/bin/guardian"]);
    assert_eq!(umoci_config(&script, "entrypoint"), entrypoint);
    assert_eq!(
        umoci_config(&script, "cmd"),
        json_list(&one(runtime, "CMD"))
    );
    assert_eq!(one(runtime, "WORKDIR"), umoci_config(&script, "workingdir"));
    assert_eq!(one(runtime, "ENV"), ["PATH=/usr/local/bin"]);
    assert_eq!(umoci_config(&script, "env"), one(runtime, "ENV"));

    let labels: BTreeMap<String, String> = one(runtime, "LABEL")
        .iter()
        .flat_map(|a| {
            a.split_whitespace()
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("LABEL key=value");
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let script_labels: BTreeMap<String, String> = umoci_config(&script, "label")
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("--config.label key=value");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    assert_eq!(
        labels.keys().collect::<Vec<_>>(),
        script_labels.keys().collect::<Vec<_>>(),
        "the same label names"
    );
    let oci = |k: &str| format!("org.opencontainers.image.{k}");
    assert_eq!(labels[&oci("title")], "guardian");
    assert_eq!(script_labels[&oci("title")], "guardian");
    assert_eq!(labels[&oci("source")], workspace_package("repository"));
    assert_eq!(labels[&oci("licenses")], workspace_package("license"));
    assert_eq!(labels[&oci("version")], "${VERSION}");
    assert_eq!(labels[&oci("revision")], "${REVISION}");
    assert_eq!(
        one(runtime, "ARG"),
        [
            format!("VERSION={}", env!("CARGO_PKG_VERSION")),
            "REVISION=unknown".to_owned()
        ]
    );
    assert_eq!(script_labels[&oci("source")], "$source_url");
    assert_eq!(script_labels[&oci("licenses")], "$licenses");
    assert_eq!(script_labels[&oci("version")], "$version");
    assert_eq!(script_labels[&oci("revision")], "$revision");

    // What image-rootfs.sh lays out: the entrypoint, executable; the user
    // named in /etc/passwd and /etc/group; CA roots; nothing else.
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("guardian");
    std::fs::write(&binary, "not really guardian").unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o700)).unwrap();
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
    let rootfs = dir.path().join("rootfs");
    let out = Command::new("sh")
        .arg(root.join("scripts/image-rootfs.sh"))
        .args([&binary, &ca, &rootfs])
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "image-rootfs.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files = BTreeMap::new();
    let mut stack = vec![rootfs.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let rel = format!("/{}", p.strip_prefix(&rootfs).unwrap().display());
            files.insert(rel, meta.permissions().mode() & 0o7777);
            if meta.is_dir() {
                stack.push(p);
            }
        }
    }
    let expected: BTreeMap<String, u32> = [
        ("/etc", 0o755),
        ("/etc/group", 0o644),
        ("/etc/passwd", 0o644),
        ("/etc/ssl", 0o755),
        ("/etc/ssl/certs", 0o755),
        ("/etc/ssl/certs/ca-certificates.crt", 0o644),
        ("/tmp", 0o1777),
        ("/usr", 0o755),
        ("/usr/local", 0o755),
        ("/usr/local/bin", 0o755),
        ("/usr/local/bin/guardian", 0o755),
    ]
    .into_iter()
    .map(|(p, m)| (p.to_owned(), m))
    .collect();
    assert_eq!(
        files, expected,
        "no shell, no package manager, nothing else"
    );
    assert!(files.contains_key(&entrypoint[0]));
    let (uid, gid) = user.split_once(':').unwrap();
    assert_eq!(
        read(&rootfs.join("etc/passwd")),
        format!("nonroot:x:{uid}:{gid}:nonroot:/nonexistent:/sbin/nologin\n")
    );
    assert_eq!(
        read(&rootfs.join("etc/group")),
        format!("nonroot:x:{gid}:\n")
    );
}
