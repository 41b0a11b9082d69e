//! `guardian actions list|show|approve|reject` and the guarded apply, on a
//! real kube-apiserver (`guardian_tests::kube`): the example's `search`
//! Deployment (OOMKilled: its memory limit is too low) recreated in a fresh
//! namespace per test, read and changed behind Guardian's back with kubectl.
//!
//! DESIGN.md §4: invariant 1 (nothing is written without a stored,
//! human-approved action, and never twice; policy decides again at apply
//! time), 5 (every transition and the apply decision are audited), 6 (an
//! apply a crash interrupted is neither lost nor repeated).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use guardian_actions::{
    ACTION_ANNOTATION, ActionStore, Proposal, Proposer, State, Target, is_valid_id,
};
use guardian_broker::Audit;
use guardian_tests::kube::{ControlPlane, control_plane};
use serde_json::{Value, json};

use crate::cluster::{of_app, shared_cache, staging_copy};
use crate::serve::Killed;
use crate::support::*;

// ----- the test's own view of the cluster (kubectl) ---------------------

/// The namespace of one test on the real server, read (and changed behind
/// Guardian's back) with kubectl.
struct Cluster {
    k: &'static ControlPlane,
    ns: String,
}

impl Cluster {
    /// The example's `search` app in a fresh namespace.
    fn search_app(k: &'static ControlPlane) -> Cluster {
        Cluster {
            k,
            ns: staging_copy(k, "actions", |o| of_app(o, "search")),
        }
    }

    /// The whole example in a fresh namespace.
    fn whole_example(k: &'static ControlPlane) -> Cluster {
        Cluster {
            k,
            ns: staging_copy(k, "actions", |_| true),
        }
    }

    fn search(&self) -> Value {
        let out = self
            .k
            .run(&["get", "deployment", "search", "-n", &self.ns, "-o", "json"]);
        serde_json::from_str(&out).unwrap()
    }

    /// Someone else changes `search` (replicas), outside Guardian's actions.
    fn change_search(&self, replicas: i64) {
        self.k.run(&[
            "scale",
            "deployment",
            "search",
            "-n",
            &self.ns,
            &format!("--replicas={replicas}"),
        ]);
    }

    /// `guardian.io/protected=true` on the namespace.
    fn protect(&self) {
        self.k
            .run(&["label", "namespace", &self.ns, "guardian.io/protected=true"]);
    }
}

fn rv(object: &Value) -> String {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn memory_limit(object: &Value) -> &str {
    object["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
        .as_str()
        .unwrap()
}

fn annotation(object: &Value) -> Option<&str> {
    object["metadata"]["annotations"][ACTION_ANNOTATION].as_str()
}

// ----- proposals and the CLI --------------------------------------------

/// A proposal raising `search`'s memory limit in `ns` from `from` to `to`,
/// made against the object as it is now (`resource_version`).
fn raise_memory(ns: &str, resource_version: &str, from: &str, to: &str) -> Proposal {
    let patch = json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "search"},
        {"op": "test", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": from},
        {"op": "replace", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": to},
    ]);
    Proposal {
        target: Target {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some(ns.into()),
            name: "search".into(),
            resource: "deployments.apps".into(),
        },
        patch: serde_json::to_vec(&patch).unwrap(),
        resource_version: resource_version.into(),
        rationale: format!(
            "search is OOMKilled: its memory limit ({from}) is below its working set"
        ),
        proposer: Proposer {
            caller: "agent".into(),
            skill: "diagnostics".into(),
            tool: "analyze".into(),
        },
        dry_run_result: "dry run accepted by the API server".into(),
        diff: format!("-            memory: {from}\n+            memory: {to}\n"),
        policy_decision: "allow (approved-action)".into(),
        ttl: None,
    }
}

/// Paths one scenario shares between the test and the `guardian` runs.
struct Env {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Env {
    fn new(cluster: &Cluster) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = cluster.k.kubeconfig(dir.path());
        Env { dir, kubeconfig }
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn audit_path(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    /// The store, as the proposing side (a daemon) opens it.
    fn store(&self) -> ActionStore {
        let audit = Arc::new(Audit::open(&self.audit_path()).unwrap());
        ActionStore::open_default(Some(&self.state_dir()), audit).unwrap()
    }

    /// `guardian actions ARGS --state-dir D --kubeconfig K --audit A`,
    /// with no terminal on stdin.
    /// `guardian actions ARGS` with this environment's flags.
    fn guardian(&self, args: &[&str]) -> Command {
        let mut all = vec!["actions"];
        all.extend_from_slice(args);
        self.guardian_cmd(&all)
    }

    fn list_json(&self) -> Vec<Value> {
        let out = run_ok(&mut self.guardian(&["list", "-o", "json"]));
        serde_json::from_str::<Vec<Value>>(&out).expect("list -o json is a JSON array")
    }

    fn audit_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.audit_path())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }

    /// The states an action went through, as the audit log has them.
    fn audited_states(&self, id: &str) -> Vec<String> {
        self.audit_lines()
            .iter()
            .filter(|l| l["event"] == "action" && l["action"] == id)
            .map(|l| l["to"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn approve_applies_once_refuses_stale_and_reject_works() {
    let Some(k) = control_plane() else { return };
    let cluster = Cluster::search_app(k);
    let env = Env::new(&cluster);
    let before = cluster.search();
    assert_eq!(memory_limit(&before), "256Mi");
    assert_eq!(annotation(&before), None);

    let store = env.store();
    let first = store
        .propose(raise_memory(&cluster.ns, &rv(&before), "256Mi", "512Mi"))
        .unwrap();
    let id = first.id.clone();

    // Listed as pending, with its diff.
    let listed = env.list_json();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], json!(id));
    assert_eq!(listed[0]["state"], "pending");
    assert!(listed[0]["diff"].as_str().unwrap().contains("512Mi"));
    assert!(
        listed[0]["rationale"]
            .as_str()
            .unwrap()
            .contains("OOMKilled")
    );
    assert!(listed[0]["created"].is_string() && listed[0]["expires"].is_string());
    assert_eq!(listed[0]["target"]["name"], "search");
    let table = run_ok(&mut env.guardian(&["list"]));
    assert!(table.contains(&id) && table.contains("pending"), "{table}");
    let shown = run_ok(&mut env.guardian(&["show", &id]));
    assert!(
        shown.contains("+            memory: 512Mi")
            && shown.contains(&format!(
                "kubectl patch deployments.apps search -n {} --type=json",
                cluster.ns
            )),
        "{shown}"
    );
    let shown: Value =
        serde_json::from_str(&run_ok(&mut env.guardian(&["show", &id, "-o", "json"]))).unwrap();
    assert!(shown["kubectl"].as_str().unwrap().contains(&rv(&before)));

    // Without a terminal and without --yes, nothing happens.
    let out = run_err(&mut env.guardian(&["approve", &id]));
    assert!(stderr_of(&out).contains("--yes"), "{}", stderr_of(&out));
    assert_eq!(store.get(&id).unwrap().state, State::Pending);
    // A snapshot cannot be changed: refused before anything is recorded.
    let out =
        run_err(&mut env.guardian(&["approve", &id, "--yes", "--snapshot", "examples/staging"]));
    assert!(stderr_of(&out).contains("read-only"), "{}", stderr_of(&out));
    assert_eq!(store.get(&id).unwrap().state, State::Pending);

    // Approve: applied, with the annotation.
    let out = run_ok(&mut env.guardian(&["approve", &id, "--yes", "--rollout-timeout", "1"]));
    assert!(out.contains(&format!("action {id} applied")), "{out}");
    let after = cluster.search();
    assert_eq!(memory_limit(&after), "512Mi");
    assert_eq!(annotation(&after), Some(id.as_str()));
    assert_ne!(rv(&after), rv(&before));
    let action = store.get(&id).unwrap();
    assert_eq!(action.state, State::Applied);
    assert_eq!(action.approver.as_ref().unwrap().identity(), "alice");
    // serve does not run controllers: the rollout never completes.
    assert!(
        action
            .outcome
            .as_deref()
            .unwrap()
            .starts_with("applied-but-degraded"),
        "{:?}",
        action.outcome
    );

    // Approving again is refused, and nothing is written twice.
    let out = run_err(&mut env.guardian(&["approve", &id, "--yes"]));
    assert!(
        stderr_of(&out).contains("already applied"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(rv(&cluster.search()), rv(&after));

    // A proposal whose object changed meanwhile fails as stale; the
    // object is not touched by it.
    let second = store
        .propose(raise_memory(&cluster.ns, &rv(&after), "512Mi", "1Gi"))
        .unwrap();
    cluster.change_search(3);
    let changed = cluster.search();
    let out = run_err(&mut env.guardian(&["approve", &second.id, "--yes"]));
    assert!(stderr_of(&out).contains("stale"), "{}", stderr_of(&out));
    let now = cluster.search();
    assert_eq!(rv(&now), rv(&changed));
    assert_eq!(memory_limit(&now), "512Mi");
    assert_eq!(annotation(&now), Some(id.as_str()));
    let failed = store.get(&second.id).unwrap();
    assert_eq!(failed.state, State::Failed);
    assert!(failed.outcome.as_deref().unwrap().contains("stale"));

    // Reject a pending one; it can then not be approved.
    let third = store
        .propose(raise_memory(&cluster.ns, &rv(&now), "512Mi", "768Mi"))
        .unwrap();
    let out = run_ok(&mut env.guardian(&[
        "reject",
        &third.id,
        "--reason",
        "fix the leak instead",
        "--as-user",
        "bob",
    ]));
    assert!(out.contains("rejected"), "{out}");
    let rejected = store.get(&third.id).unwrap();
    assert_eq!(rejected.state, State::Rejected);
    assert_eq!(rejected.approver.as_ref().unwrap().identity(), "bob");
    assert_eq!(
        rejected.last_transition().unwrap().note,
        "fix the leak instead"
    );
    let out = run_err(&mut env.guardian(&["approve", &third.id, "--yes"]));
    assert!(stderr_of(&out).contains("rejected"), "{}", stderr_of(&out));
    assert_eq!(rv(&cluster.search()), rv(&now));
    let listed = run_ok(&mut env.guardian(&["list", "--state", "rejected", "-o", "json"]));
    let listed: Vec<Value> = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], json!(third.id));

    // Unknown ids say how to see the ids.
    let out = run_err(&mut env.guardian(&["show", "act-aaaaaaaaaaaa"]));
    assert!(
        stderr_of(&out).contains("guardian actions list"),
        "{}",
        stderr_of(&out)
    );
    let out = run_err(&mut env.guardian(&["approve", "nonsense", "--yes"]));
    assert!(
        stderr_of(&out).contains("guardian actions list"),
        "{}",
        stderr_of(&out)
    );

    // Every transition, and the apply decision, is in the audit log.
    assert_eq!(
        env.audited_states(&id),
        ["pending", "approved", "applying", "applied"]
    );
    // Found stale at the review, before anyone approved it.
    assert_eq!(env.audited_states(&second.id), ["pending", "failed"]);
    assert_eq!(env.audited_states(&third.id), ["pending", "rejected"]);
    let writes: Vec<Value> = env
        .audit_lines()
        .into_iter()
        .filter(|l| l["verb"] == "patch" && l["dry_run"] == false)
        .collect();
    assert_eq!(writes.len(), 1, "exactly one real write: {writes:?}");
    assert_eq!(writes[0]["decision"], "allow");
    assert_eq!(writes[0]["rule"], "approved-action");
    assert_eq!(writes[0]["name"], "search");
    assert_eq!(writes[0]["caller"], "human:alice");
    assert!(
        writes[0]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains(&id)),
        "{writes:?}"
    );
}

#[test]
fn an_apply_killed_mid_way_is_neither_lost_nor_repeated() {
    let Some(k) = control_plane() else { return };
    let cluster = Cluster::search_app(k);
    let env = Env::new(&cluster);
    let before = cluster.search();
    let store = env.store();
    let action = store
        .propose(raise_memory(&cluster.ns, &rv(&before), "256Mi", "512Mi"))
        .unwrap();
    let id = action.id.clone();

    // Approve in a child process; it writes, then waits for a rollout that
    // never completes (serve runs no controllers). Kill it there.
    let mut child = Killed(
        env.guardian(&["approve", &id, "--yes", "--rollout-timeout", "600"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let written = loop {
        let object = cluster.search();
        if annotation(&object) == Some(id.as_str()) {
            break object;
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("approve exited early with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "the apply never reached the server"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    child.0.kill().unwrap(); // SIGKILL: no cleanup runs.
    let status = child.0.wait().unwrap();
    assert!(!status.success());

    // Not lost: still there, left applying.
    let listed = env.list_json();
    let entry = listed.iter().find(|a| a["id"] == json!(id)).unwrap();
    assert_eq!(entry["state"], "applying", "{entry}");

    // Approving again settles it from the annotation, without a second write.
    let out = run_ok(&mut env.guardian(&["approve", &id, "--yes", "--rollout-timeout", "1"]));
    assert!(out.contains("already applied"), "{out}");
    let after = cluster.search();
    assert_eq!(rv(&after), rv(&written), "nothing written again");
    assert_eq!(memory_limit(&after), "512Mi");
    let action = store.get(&id).unwrap();
    assert_eq!(action.state, State::Applied);
    assert_eq!(
        action
            .history
            .iter()
            .filter(|t| t.state == State::Applying)
            .count(),
        1,
        "claimed once: {:?}",
        action.history
    );
    let listed = env.list_json();
    let entry = listed.iter().find(|a| a["id"] == json!(id)).unwrap();
    assert_eq!(entry["state"], "applied");
    assert_eq!(
        env.audited_states(&id),
        ["pending", "approved", "applying", "applied"]
    );
    let writes = env
        .audit_lines()
        .into_iter()
        .filter(|l| l["verb"] == "patch" && l["dry_run"] == false)
        .count();
    assert_eq!(writes, 1);
}

/// A skill cannot approve. The skill ABI (every WIT version) has no approve,
/// reject or apply function — `actions` offers only `propose`, which the
/// runtime does not implement yet — so instead of a hostile skill calling an
/// approve import, this runs every tool of the hostile test skill against
/// the cluster and checks a pending action stays pending and the object
/// unchanged.
#[test]
fn skills_cannot_approve_or_apply() {
    for version in ["since_v0.1.0", "since_v0.2.0"] {
        let dir = repo_root().join("wit").join(version);
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines().filter(|l| l.contains(": func(")) {
                let name = line.trim().split(':').next().unwrap();
                assert!(
                    ![
                        "approve",
                        "reject",
                        "apply",
                        "apply-patch",
                        "patch",
                        "update",
                        "delete"
                    ]
                    .contains(&name),
                    "{}: a skill import that could change the cluster or an action: {line}",
                    path.display()
                );
            }
        }
    }

    let Some(k) = control_plane() else { return };
    let cluster = Cluster::search_app(k);
    let env = Env::new(&cluster);
    let before = cluster.search();
    let store = env.store();
    let action = store
        .propose(raise_memory(&cluster.ns, &rv(&before), "256Mi", "512Mi"))
        .unwrap();

    // Every tool of the hostile skill, through `guardian skills call` as
    // anyone would run it, with small limits (several tools loop or
    // allocate on purpose).
    let skills = env.dir.path().join("skills");
    install_test_skill(&skills, "hostile");
    let config = env.dir.path().join("config.yaml");
    std::fs::write(&config, "limits:\n  cpu_seconds: 0.5\n  memory_mib: 64\n").unwrap();
    let hostile = |args: &[&str]| {
        let mut cmd = env.guardian_cmd(args);
        cmd.arg("--skills-dir")
            .arg(&skills)
            .env("GUARDIAN_CONFIG", &config);
        cmd
    };
    let inspected: Value = serde_json::from_str(&run_ok(&mut hostile(&[
        "skills", "inspect", "hostile", "-o", "json",
    ])))
    .unwrap();
    let tools: Vec<&str> = inspected["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let patch = String::from_utf8(action.patch_bytes().to_vec()).unwrap();
    for tool in &tools {
        let input = match *tool {
            "get" => {
                json!({"resource": "deployments.apps", "namespace": cluster.ns, "name": "search"})
            }
            "patch" => json!({
                "resource": "deployments.apps", "namespace": cluster.ns, "name": "search",
                "patch": serde_json::from_str::<Value>(&patch).unwrap(),
            }),
            _ => json!({}),
        };
        // Whatever each returns (many fail on purpose), it cannot approve.
        let _ = hostile(&[
            "skills",
            "call",
            &format!("hostile.{tool}"),
            "--input",
            &input.to_string(),
        ])
        .output()
        .unwrap();
    }
    assert!(
        tools.contains(&"patch") && tools.contains(&"get"),
        "{tools:?}"
    );
    let after = store.get(&action.id).unwrap();
    assert_eq!(after.state, State::Pending);
    assert!(after.approver.is_none());
    assert_eq!(rv(&cluster.search()), rv(&before));
    assert!(is_valid_id(&action.id));
}

// ----- proposing through the host path ----------------------------------

impl Env {
    /// `guardian ARGS --state-dir D --kubeconfig K --audit A` (any command).
    fn guardian_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = guardian(&shared_cache());
        cmd.args(args)
            .arg("--state-dir")
            .arg(self.state_dir())
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--audit")
            .arg(self.audit_path())
            .env("USER", "alice")
            .stdin(Stdio::null());
        cmd
    }

    /// `guardian skills call patch.propose --input @FILE` against the
    /// cluster.
    fn propose_patch(&self, input: &Value) -> std::process::Output {
        let file = self.dir.path().join("proposal.json");
        std::fs::write(&file, input.to_string()).unwrap();
        let at = format!("@{}", file.display());
        self.guardian_cmd(&["skills", "call", "patch.propose", "--input", &at])
            .output()
            .expect("guardian runs")
    }
}

/// The `patch.propose` input raising `search`'s memory limit in `ns`.
fn patch_input(ns: &str, patch: Value) -> Value {
    json!({
        "target": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": ns, "name": "search"},
        "json_patch": patch,
        "rationale": "search is OOMKilled: its memory limit is below its working set",
    })
}

fn pinned_memory_patch(from: &str, to: &str) -> Value {
    json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "search"},
        {"op": "test", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": from},
        {"op": "replace", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": to},
    ])
}

/// The flow: `diagnose --propose` finds the OOMKilled `search` and
/// proposes raising its limit (and every other fix the server's dry run
/// accepts); the action is listed pending with its diff; a person approves
/// it; the object on the server changes once.
#[test]
fn diagnose_propose_then_approve_applies_the_fix_once() {
    let Some(k) = control_plane() else { return };
    let cluster = Cluster::whole_example(k);
    let env = Env::new(&cluster);
    let before = cluster.search();
    assert_eq!(memory_limit(&before), "256Mi");

    // Without --propose nothing is stored.
    let report = run_ok(&mut env.guardian_cmd(&["diagnose", "-n", &cluster.ns, "-o", "json"]));
    let report: Value = serde_json::from_str(&report).unwrap();
    assert!(report["findings"].as_array().unwrap().iter().all(|f| {
        f["fixes"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|x| x.get("proposed_action").is_none())
    }));
    assert!(env.list_json().is_empty());

    let report =
        run_ok(&mut env.guardian_cmd(&["diagnose", "-n", &cluster.ns, "--propose", "-o", "json"]));
    let report: Value = serde_json::from_str(&report).unwrap();
    // Every fix that passed its dry run and needs no input was proposed.
    let eligible: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["fixes"].as_array().into_iter().flatten())
        .filter(|x| x["dry_run"]["result"] == "passed" && x["requires_input"] != true)
        .collect();
    assert!(eligible.len() > 1);
    for x in &eligible {
        assert!(x["proposed_action"].is_string(), "not proposed: {x}");
    }
    assert_eq!(env.list_json().len(), eligible.len());
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["reason"] == "OOMKilled" && f["object"]["name"] == "search")
        .expect("the OOMKilled search finding");
    let fix = &finding["fixes"][0];
    assert_eq!(fix["dry_run"]["result"], "passed", "{fix}");
    let id = fix["proposed_action"]
        .as_str()
        .unwrap_or_else(|| panic!("no proposed_action: {fix}"))
        .to_owned();
    assert!(is_valid_id(&id), "{id}");
    // Proposing changed nothing on the cluster.
    assert_eq!(rv(&cluster.search()), rv(&before));

    // Listed as pending, with the diff of the limit.
    let listed = env.list_json();
    let action = listed
        .iter()
        .find(|a| a["id"] == json!(id))
        .unwrap_or_else(|| panic!("{id} not listed: {listed:?}"));
    assert_eq!(action["state"], "pending");
    assert_eq!(action["target"]["name"], "search");
    assert_eq!(action["resource_version"], json!(rv(&before)));
    let diff = action["diff"].as_str().unwrap();
    assert!(
        diff.contains("-            memory: 256Mi") && diff.contains("+            memory: "),
        "{diff}"
    );
    assert_eq!(action["proposer"]["caller"], "human:cli");
    assert_eq!(action["proposer"]["skill"], "diagnostics");
    assert_eq!(action["proposer"]["tool"], "analyze");
    let new_limit = fix["json_patch"]
        .as_array()
        .unwrap()
        .iter()
        .find(|op| op["op"] == "replace")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_limit, "256Mi");

    // The table shows the id next to the finding.
    let table = run_ok(&mut env.guardian_cmd(&["diagnose", "-n", &cluster.ns, "--propose"]));
    assert!(
        table.contains(&format!("proposed: {id} (guardian actions approve {id})")),
        "{table}"
    );
    // Proposing the same fixes again returned the pending actions.
    assert_eq!(env.list_json().len(), eligible.len());

    // Approve: applied, with the annotation.
    let out = run_ok(&mut env.guardian(&["approve", &id, "--yes", "--rollout-timeout", "1"]));
    assert!(out.contains(&format!("action {id} applied")), "{out}");
    let after = cluster.search();
    assert_eq!(memory_limit(&after), new_limit);
    assert_eq!(annotation(&after), Some(id.as_str()));

    // A second approve writes nothing.
    let _ = env.guardian(&["approve", &id, "--yes"]).output().unwrap();
    assert_eq!(rv(&cluster.search()), rv(&after));
    assert_eq!(env.audited_states(&id)[0], "pending");
    assert!(env.audited_states(&id).ends_with(&["applied".to_owned()]));
}

/// `patch.propose` through `skills call`: an unpinned patch is refused with
/// why, a target outside the skill's propose grants is denied (and
/// audited), a good proposal is stored pending, and proposing never
/// changes the served object.
#[test]
fn patch_propose_refuses_unpinned_and_ungranted_and_stores_the_rest() {
    let Some(k) = control_plane() else { return };
    let cluster = Cluster::search_app(k);
    let env = Env::new(&cluster);
    let before = cluster.search();

    let out = env.propose_patch(&patch_input(&cluster.ns, json!([
        {"op": "replace", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": "512Mi"},
    ])));
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("a proposal must pin what it changes with test operations"),
        "{}",
        stderr_of(&out)
    );

    let out = env.propose_patch(&json!({
        "target": {"apiVersion": "v1", "kind": "Secret", "namespace": cluster.ns, "name": "payments-db"},
        "json_patch": [
            {"op": "test", "path": "/data/pass", "value": "x"},
            {"op": "remove", "path": "/data/pass"},
        ],
        "rationale": "try to touch a secret",
    }));
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("no grant to propose changes to `secrets`"),
        "{err}"
    );
    let denial = env
        .audit_lines()
        .into_iter()
        .find(|l| l["skill"] == "patch" && l["decision"] == "deny")
        .expect("the refusal is audited");
    assert_eq!(denial["rule"], "outside-grants");
    assert_eq!(denial["resource"], "/v1/secrets");
    assert!(env.list_json().is_empty());

    let out = env.propose_patch(&patch_input(
        &cluster.ns,
        pinned_memory_patch("256Mi", "512Mi"),
    ));
    assert!(out.status.success(), "{}", stderr_of(&out));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = answer["action_id"].as_str().unwrap();
    assert_eq!(answer["state"], "pending");
    assert!(
        answer["next"]
            .as_str()
            .unwrap()
            .contains("guardian actions approve")
    );
    let listed = env.list_json();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], json!(id));
    assert_eq!(listed[0]["proposer"]["skill"], "patch");
    assert_eq!(listed[0]["policy_decision"], "allow (approved-action)");

    // A patch whose test no longer holds fails its dry run: not stored.
    let out = env.propose_patch(&patch_input(&cluster.ns, pinned_memory_patch("1Gi", "2Gi")));
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("dry run"), "{}", stderr_of(&out));
    assert_eq!(env.list_json().len(), 1);

    // Nothing of this reached the object.
    let now = cluster.search();
    assert_eq!(rv(&now), rv(&before));
    assert_eq!(memory_limit(&now), "256Mi");
    assert_eq!(annotation(&now), None);
    // The preview of the apply is audited as a decision, never as a write.
    let previews: Vec<Value> = env
        .audit_lines()
        .into_iter()
        .filter(|l| {
            l["reasons"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r == "preview of an apply"))
        })
        .collect();
    assert!(!previews.is_empty());
    assert!(
        previews
            .iter()
            .all(|l| l["dry_run"] == false && l["error"].is_null())
    );
}

/// A proposal in a namespace labelled `guardian.io/protected=true` is
/// refused: policy would deny its apply.
#[test]
fn a_proposal_in_a_protected_namespace_is_refused() {
    let Some(k) = control_plane() else { return };
    let cluster = Cluster::search_app(k);
    cluster.protect();
    let env = Env::new(&cluster);
    let before = cluster.search();

    let out = env.propose_patch(&patch_input(
        &cluster.ns,
        pinned_memory_patch("256Mi", "512Mi"),
    ));
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("policy would deny the apply") && err.contains("rule protected-namespace"),
        "{err}"
    );
    assert!(env.list_json().is_empty());
    assert_eq!(rv(&cluster.search()), rv(&before));
}

/// Policy decides again at every step: a namespace protected after the
/// proposal refuses the review's dry run (nothing approved, nothing
/// written, the action still pending); an operator rule that freezes real
/// writes, added after the proposal, lets the review's dry run through but
/// refuses the write itself — the action fails with the rule, and the one
/// decision on the write is audited as a denial.
#[test]
fn policy_decides_again_when_an_action_is_applied() {
    let Some(k) = control_plane() else { return };
    let cluster = Cluster::search_app(k);
    let env = Env::new(&cluster);
    let before = cluster.search();
    let propose = || {
        let out = env.propose_patch(&patch_input(
            &cluster.ns,
            pinned_memory_patch("256Mi", "512Mi"),
        ));
        assert!(out.status.success(), "{}", stderr_of(&out));
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
        answer["action_id"].as_str().unwrap().to_owned()
    };
    let unchanged = || {
        let now = cluster.search();
        assert_eq!(rv(&now), rv(&before), "nothing was written");
        assert_eq!(memory_limit(&now), "256Mi");
        assert_eq!(annotation(&now), None);
    };

    // A change freeze, written by the operator after the proposals.
    let first = propose();
    let policies = tempfile::tempdir().unwrap();
    std::fs::write(
        policies.path().join("freeze.rego"),
        "package guardian\nimport rego.v1\n\ndeny contains {\"rule\": \"change-freeze\", \"reason\": \"changes are frozen\"} if {\n\tinput.verb in write_verbs\n\tnot input.dry_run\n}\n",
    )
    .unwrap();
    let out = run_err(
        env.guardian(&["approve", &first, "--yes", "--rollout-timeout", "1"])
            .arg("--policies")
            .arg(policies.path()),
    );
    let err = stderr_of(&out);
    assert!(err.contains("change-freeze"), "{err}");
    unchanged();
    let action = env.store().get(&first).unwrap();
    assert_eq!(action.state, State::Failed);
    assert!(
        action.outcome.as_deref().unwrap().contains("change-freeze"),
        "{:?}",
        action.outcome
    );
    // The decisions on real writes (the proposal's preview of its apply,
    // audited as a decision, aside): one, refused by the new rule.
    let writes: Vec<Value> = env
        .audit_lines()
        .into_iter()
        .filter(|l| l["verb"] == "patch" && l["dry_run"] == false)
        .filter(|l| {
            !l["reasons"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r == "preview of an apply"))
        })
        .collect();
    assert_eq!(writes.len(), 1, "one decision on the write: {writes:?}");
    assert_eq!(writes[0]["decision"], "deny", "{writes:?}");
    assert_eq!(writes[0]["rule"], "change-freeze");
    assert_eq!(writes[0]["namespace"], cluster.ns.as_str());
    assert_eq!(
        env.audited_states(&first),
        ["pending", "approved", "applying", "failed"]
    );

    // The namespace protected after the proposal: refused at the review,
    // before anything is approved.
    let second = propose();
    cluster.protect();
    let out = run_err(&mut env.guardian(&["approve", &second, "--yes", "--rollout-timeout", "1"]));
    let err = stderr_of(&out);
    assert!(err.contains("protected-namespace"), "{err}");
    unchanged();
    assert_eq!(env.store().get(&second).unwrap().state, State::Pending);
    assert_eq!(env.audited_states(&second), ["pending"]);
}

/// A crash between approve and apply leaves the action approved: the next
/// `approve` applies it, once.
#[test]
fn an_action_approved_but_never_applied_is_applied_once_by_the_next_approve() {
    let Some(k) = control_plane() else { return };
    let cluster = Cluster::search_app(k);
    let env = Env::new(&cluster);
    let before = cluster.search();
    let store = env.store();
    let id = store
        .propose(raise_memory(&cluster.ns, &rv(&before), "256Mi", "512Mi"))
        .unwrap()
        .id;
    let alice = guardian_actions::Approver::new(guardian_actions::Channel::Cli, "alice").unwrap();
    store
        .approve(&id, &alice, "approved, then the process died")
        .unwrap();
    drop(store);
    assert_eq!(
        rv(&cluster.search()),
        rv(&before),
        "approval writes nothing"
    );

    run_ok(&mut env.guardian(&["approve", &id, "--yes", "--rollout-timeout", "1"]));
    let after = cluster.search();
    assert_eq!(memory_limit(&after), "512Mi");
    assert_eq!(annotation(&after), Some(id.as_str()));
    assert_eq!(
        env.audited_states(&id),
        ["pending", "approved", "applying", "applied"]
    );
    let again = env.guardian(&["approve", &id, "--yes"]).output().unwrap();
    assert!(!again.status.success());
    assert_eq!(rv(&cluster.search()), rv(&after), "never twice");
}

/// On a terminal, `approve` shows the change and asks; anything but `y`
/// leaves the action pending and the object untouched.
#[test]
fn approve_on_a_terminal_asks_first() {
    let Some(k) = control_plane() else { return };
    let cluster = Cluster::search_app(k);
    let env = Env::new(&cluster);
    let before = cluster.search();
    let id = env
        .store()
        .propose(raise_memory(&cluster.ns, &rv(&before), "256Mi", "512Mi"))
        .unwrap()
        .id;
    // `script` runs the command on a pseudo-terminal; "n" is the answer.
    let cmd = env.guardian(&["approve", &id]);
    let line = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = Command::new("script");
    script
        .args(["-qec", &line, "/dev/null"])
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if let Some(dir) = cmd.get_current_dir() {
        script.current_dir(dir);
    }
    let mut child = script.spawn().expect("script(1) from util-linux runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        stdin.write_all(b"n\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Apply this change to"), "{text}");
    assert!(text.contains("512Mi"), "the diff is shown: {text}");
    assert!(text.contains("Not approved"), "{text}");
    assert_eq!(env.store().get(&id).unwrap().state, State::Pending);
    assert_eq!(rv(&cluster.search()), rv(&before));
}

/// Issue 13, point 11: an existing state directory others can read (0755)
/// is made 0700 by the first command that opens the store, which says so on
/// stderr once.
#[cfg(unix)]
#[test]
fn an_existing_0755_state_directory_is_made_private_and_said_once() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let list = || {
        guardian(&dir.path().join("cache"))
            .args(["actions", "list", "--state-dir"])
            .arg(&state)
            .output()
            .unwrap()
    };
    let out = list();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700, "the state directory was left {mode:o}");
    assert!(
        stderr_of(&out).contains("was open to other users (mode 0755); made it 0700"),
        "{}",
        stderr_of(&out)
    );
    let again = list();
    assert!(
        !stderr_of(&again).contains("made it 0700"),
        "said once: {}",
        stderr_of(&again)
    );
}

/// Without `$USER` (and `$LOGNAME`), as under cron, a container or
/// `env -i`, the approver is the operating system's name for the user
/// running `guardian`, as git does; `--as-user` still wins.
#[test]
fn approve_without_user_in_the_environment_names_the_os_user() {
    let Some(k) = control_plane() else { return };
    let cluster = Cluster::search_app(k);
    let env = Env::new(&cluster);
    let before = cluster.search();
    let store = env.store();
    let id = store
        .propose(raise_memory(&cluster.ns, &rv(&before), "256Mi", "512Mi"))
        .unwrap()
        .id;
    let os_user = run_ok(Command::new("id").arg("-un")).trim().to_owned();
    assert!(!os_user.is_empty());
    let out = run_ok(
        env.guardian(&["approve", &id, "--yes", "--rollout-timeout", "0"])
            .env_remove("USER")
            .env_remove("LOGNAME"),
    );
    assert!(out.contains("applied"), "{out}");
    let approved = store.get(&id).unwrap();
    assert_eq!(approved.approver.as_ref().unwrap().identity(), os_user);
    assert_eq!(memory_limit(&cluster.search()), "512Mi");

    // --as-user is still who decides.
    let now = cluster.search();
    let second = store
        .propose(raise_memory(&cluster.ns, &rv(&now), "512Mi", "768Mi"))
        .unwrap()
        .id;
    run_ok(
        env.guardian(&["reject", &second, "--as-user", "bob"])
            .env_remove("USER")
            .env_remove("LOGNAME"),
    );
    let rejected = store.get(&second).unwrap();
    assert_eq!(rejected.approver.as_ref().unwrap().identity(), "bob");
}
