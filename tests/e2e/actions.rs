//! `guardian actions list|show|approve|reject` and the guarded apply, against
//! `guardian snapshot serve --writable` (a real Kubernetes API over HTTP).
//!
//! DESIGN.md §4: invariant 1 (nothing is written without a stored,
//! human-approved action, and never twice), 5 (every transition and the
//! apply decision are audited), 6 (an apply a crash interrupted is neither
//! lost nor repeated).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use guardian_actions::{
    ACTION_ANNOTATION, ActionStore, Proposal, Proposer, State, Target, is_valid_id,
};
use guardian_broker::{
    Audit, Broker, CallContext, ClusterOptions, GrantSets, Policy, ResourceKind,
};
use serde_json::{Value, json};

use crate::serve::{Killed, Serve, write_kubeconfig};
use crate::support::*;

// ----- the test's own view of the cluster (over HTTP) ------------------

/// The served cluster, read (and changed behind Guardian's back) over HTTP,
/// through a broker of the test's own.
struct Cluster {
    broker: Broker,
    deployments: ResourceKind,
}

impl Cluster {
    async fn connect(kubeconfig: &Path) -> Cluster {
        let broker = Broker::live(
            &ClusterOptions {
                kubeconfig: Some(kubeconfig.to_path_buf()),
                ..ClusterOptions::default()
            },
            Arc::new(Policy::defaults().unwrap()),
            Arc::new(Audit::Off),
        )
        .await
        .expect("connect");
        let deployments = broker.resolve("deployments.apps").await.unwrap();
        Cluster {
            broker,
            deployments,
        }
    }

    fn cx() -> CallContext {
        CallContext {
            caller: "human:test".into(),
            skill: "guardian".into(),
            tool: "test".into(),
            grants: GrantSets {
                read: vec!["*".into()],
                propose: vec!["deployments.apps".into()],
            },
            scope: Default::default(),
        }
    }

    async fn search(&self) -> Value {
        self.broker
            .get(&Self::cx(), &self.deployments, Some("staging"), "search")
            .await
            .unwrap()
    }

    /// Someone else changes `search` (replicas), outside Guardian's actions.
    async fn change_search(&self, replicas: i64) {
        let current = self.search().await;
        let rv = current["metadata"]["resourceVersion"].as_str().unwrap();
        let someone_else = guardian_policy::ActionRef {
            id: "act-someoneelse".into(),
            approved: true,
            approver: "human:test".into(),
        };
        self.broker
            .apply_approved(
                &Self::cx(),
                &someone_else,
                &self.deployments,
                Some("staging"),
                "search",
                &json!([{"op": "replace", "path": "/spec/replicas", "value": replicas}]),
                rv,
            )
            .await
            .unwrap();
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

/// A proposal raising `search`'s memory limit from `from` to `to`, made
/// against the object as it is now (`resource_version`).
fn raise_memory(resource_version: &str, from: &str, to: &str) -> Proposal {
    let patch = json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "search"},
        {"op": "test", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": from},
        {"op": "replace", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": to},
    ]);
    Proposal {
        target: Target {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("staging".into()),
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
    fn new(serve: &Serve) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = write_kubeconfig(dir.path(), &serve.url());
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
    fn guardian(&self, args: &[&str]) -> Command {
        let mut cmd = guardian(&self.dir.path().join("cache"));
        cmd.arg("actions")
            .args(args)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_applies_once_refuses_stale_and_reject_works() {
    let serve = Serve::start(&example_snapshot(), true);
    let env = Env::new(&serve);
    let cluster = Cluster::connect(&env.kubeconfig).await;
    let before = cluster.search().await;
    assert_eq!(memory_limit(&before), "256Mi");
    assert_eq!(annotation(&before), None);

    let store = env.store();
    let first = store
        .propose(raise_memory(&rv(&before), "256Mi", "512Mi"))
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
            && shown.contains("kubectl patch deployments.apps search -n staging --type=json"),
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
    let after = cluster.search().await;
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
    assert_eq!(rv(&cluster.search().await), rv(&after));

    // A proposal whose object changed meanwhile fails as stale; the
    // object is not touched by it.
    let second = store
        .propose(raise_memory(&rv(&after), "512Mi", "1Gi"))
        .unwrap();
    cluster.change_search(3).await;
    let changed = cluster.search().await;
    let out = run_err(&mut env.guardian(&["approve", &second.id, "--yes"]));
    assert!(stderr_of(&out).contains("stale"), "{}", stderr_of(&out));
    let now = cluster.search().await;
    assert_eq!(rv(&now), rv(&changed));
    assert_eq!(memory_limit(&now), "512Mi");
    assert_eq!(annotation(&now), Some(id.as_str()));
    let failed = store.get(&second.id).unwrap();
    assert_eq!(failed.state, State::Failed);
    assert!(failed.outcome.as_deref().unwrap().contains("stale"));

    // Reject a pending one; it can then not be approved.
    let third = store
        .propose(raise_memory(&rv(&now), "512Mi", "768Mi"))
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
    assert_eq!(rv(&cluster.search().await), rv(&now));
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
    assert_eq!(
        env.audited_states(&second.id),
        ["pending", "approved", "applying", "failed"]
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_killed_mid_way_is_neither_lost_nor_repeated() {
    let serve = Serve::start(&example_snapshot(), true);
    let env = Env::new(&serve);
    let cluster = Cluster::connect(&env.kubeconfig).await;
    let before = cluster.search().await;
    let store = env.store();
    let action = store
        .propose(raise_memory(&rv(&before), "256Mi", "512Mi"))
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
        let object = cluster.search().await;
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
        tokio::time::sleep(Duration::from_millis(100)).await;
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
    let after = cluster.search().await;
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
/// the served cluster and checks a pending action stays pending and the
/// object unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skills_cannot_approve_or_apply() {
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

    let serve = Serve::start(&example_snapshot(), true);
    let env = Env::new(&serve);
    let cluster = Cluster::connect(&env.kubeconfig).await;
    let before = cluster.search().await;
    let store = env.store();
    let action = store
        .propose(raise_memory(&rv(&before), "256Mi", "512Mi"))
        .unwrap();

    let broker = Broker::live(
        &ClusterOptions {
            kubeconfig: Some(env.kubeconfig.clone()),
            ..ClusterOptions::default()
        },
        Arc::new(Policy::defaults().unwrap()),
        Arc::new(Audit::Off),
    )
    .await
    .unwrap();
    let skills = tempfile::tempdir().unwrap();
    install_test_skill(skills.path(), "hostile");
    let runtime = runtime_with(test_limits(), Some(broker)).await;
    let errors = runtime.load_dir(skills.path()).await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let hostile = runtime.skill("hostile").unwrap();
    let patch = String::from_utf8(action.patch_bytes().to_vec()).unwrap();
    for tool in &hostile.tools {
        let input = match tool.name.as_str() {
            "get" => {
                json!({"resource": "deployments.apps", "namespace": "staging", "name": "search"})
            }
            "patch" => json!({
                "resource": "deployments.apps", "namespace": "staging", "name": "search",
                "patch": serde_json::from_str::<Value>(&patch).unwrap(),
            }),
            _ => json!({}),
        };
        // Whatever each returns (many fail on purpose), it cannot approve.
        let _ = runtime
            .call(
                "agent",
                &format!("hostile.{}", tool.name),
                &input.to_string(),
            )
            .await;
    }
    assert!(hostile.tools.iter().any(|t| t.name == "patch"));
    let after = store.get(&action.id).unwrap();
    assert_eq!(after.state, State::Pending);
    assert!(after.approver.is_none());
    assert_eq!(rv(&cluster.search().await), rv(&before));
    assert!(is_valid_id(&action.id));
}

// ----- proposing through the host path ----------------------------------

/// A copy of the example cluster whose `staging` namespace is protected
/// (`guardian.io/protected=true`), as `broker.rs` builds it.
fn protected_snapshot() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("cp")
        .arg("-r")
        .arg(example_snapshot())
        .arg(dir.path().join("snap"))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(
        dir.path().join("snap/namespace.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: staging\n  labels:\n    guardian.io/protected: \"true\"\n",
    )
    .unwrap();
    dir
}

impl Env {
    /// `guardian ARGS --state-dir D --kubeconfig K --audit A` (any command).
    fn guardian_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = guardian(&self.dir.path().join("cache"));
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
    /// served cluster.
    fn propose_patch(&self, input: &Value) -> std::process::Output {
        let file = self.dir.path().join("proposal.json");
        std::fs::write(&file, input.to_string()).unwrap();
        let at = format!("@{}", file.display());
        self.guardian_cmd(&["skills", "call", "patch.propose", "--input", &at])
            .output()
            .expect("guardian runs")
    }
}

/// The `patch.propose` input raising `search`'s memory limit.
fn patch_input(patch: Value) -> Value {
    json!({
        "target": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "staging", "name": "search"},
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

/// The issue's flow: `diagnose --propose` finds the OOMKilled `search` and
/// proposes raising its limit; the action is listed pending with its diff;
/// a person approves it; the served object changes once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnose_propose_then_approve_applies_the_fix_once() {
    let serve = Serve::start(&example_snapshot(), true);
    let env = Env::new(&serve);
    let cluster = Cluster::connect(&env.kubeconfig).await;
    let before = cluster.search().await;
    assert_eq!(memory_limit(&before), "256Mi");

    // Without --propose nothing is stored.
    let report = run_ok(&mut env.guardian_cmd(&["diagnose", "-n", "staging", "-o", "json"]));
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
        run_ok(&mut env.guardian_cmd(&["diagnose", "-n", "staging", "--propose", "-o", "json"]));
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
    assert_eq!(rv(&cluster.search().await), rv(&before));

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
    let table = run_ok(&mut env.guardian_cmd(&["diagnose", "-n", "staging", "--propose"]));
    assert!(
        table.contains(&format!("proposed: {id} (guardian actions approve {id})")),
        "{table}"
    );
    // Proposing the same fixes again returned the pending actions.
    assert_eq!(env.list_json().len(), eligible.len());

    // Approve: applied, with the annotation.
    let out = run_ok(&mut env.guardian(&["approve", &id, "--yes", "--rollout-timeout", "1"]));
    assert!(out.contains(&format!("action {id} applied")), "{out}");
    let after = cluster.search().await;
    assert_eq!(memory_limit(&after), new_limit);
    assert_eq!(annotation(&after), Some(id.as_str()));

    // A second approve writes nothing.
    let _ = env.guardian(&["approve", &id, "--yes"]).output().unwrap();
    assert_eq!(rv(&cluster.search().await), rv(&after));
    assert_eq!(env.audited_states(&id)[0], "pending");
    assert!(env.audited_states(&id).ends_with(&["applied".to_owned()]));
}

/// `patch.propose` through `skills call`: an unpinned patch is refused with
/// why, a target outside the skill's propose grants is denied (and
/// audited), a good proposal is stored pending, and proposing never
/// changes the served object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_propose_refuses_unpinned_and_ungranted_and_stores_the_rest() {
    let serve = Serve::start(&example_snapshot(), true);
    let env = Env::new(&serve);
    let cluster = Cluster::connect(&env.kubeconfig).await;
    let before = cluster.search().await;

    let out = env.propose_patch(&patch_input(json!([
        {"op": "replace", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": "512Mi"},
    ])));
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("a proposal must pin what it changes with test operations"),
        "{}",
        stderr_of(&out)
    );

    let out = env.propose_patch(&json!({
        "target": {"apiVersion": "v1", "kind": "Secret", "namespace": "staging", "name": "payments-db"},
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

    let out = env.propose_patch(&patch_input(pinned_memory_patch("256Mi", "512Mi")));
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
    let out = env.propose_patch(&patch_input(pinned_memory_patch("1Gi", "2Gi")));
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("dry run"), "{}", stderr_of(&out));
    assert_eq!(env.list_json().len(), 1);

    // Nothing of this reached the object.
    let now = cluster.search().await;
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
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_in_a_protected_namespace_is_refused() {
    let snap = protected_snapshot();
    let serve = Serve::start(&snap.path().join("snap"), true);
    let env = Env::new(&serve);
    let cluster = Cluster::connect(&env.kubeconfig).await;
    let before = cluster.search().await;

    let out = env.propose_patch(&patch_input(pinned_memory_patch("256Mi", "512Mi")));
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("policy would deny the apply") && err.contains("rule protected-namespace"),
        "{err}"
    );
    assert!(env.list_json().is_empty());
    assert_eq!(rv(&cluster.search().await), rv(&before));
}

/// A crash between approve and apply leaves the action approved: the next
/// `approve` applies it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_approved_but_never_applied_is_applied_once_by_the_next_approve() {
    let serve = Serve::start(&example_snapshot(), true);
    let env = Env::new(&serve);
    let cluster = Cluster::connect(&env.kubeconfig).await;
    let before = cluster.search().await;
    let store = env.store();
    let id = store
        .propose(raise_memory(&rv(&before), "256Mi", "512Mi"))
        .unwrap()
        .id;
    let alice = guardian_actions::Approver::new(guardian_actions::Channel::Cli, "alice").unwrap();
    store
        .approve(&id, &alice, "approved, then the process died")
        .unwrap();
    drop(store);
    assert_eq!(
        rv(&cluster.search().await),
        rv(&before),
        "approval writes nothing"
    );

    run_ok(&mut env.guardian(&["approve", &id, "--yes", "--rollout-timeout", "1"]));
    let after = cluster.search().await;
    assert_eq!(memory_limit(&after), "512Mi");
    assert_eq!(annotation(&after), Some(id.as_str()));
    assert_eq!(
        env.audited_states(&id),
        ["pending", "approved", "applying", "applied"]
    );
    let again = env.guardian(&["approve", &id, "--yes"]).output().unwrap();
    assert!(!again.status.success());
    assert_eq!(rv(&cluster.search().await), rv(&after), "never twice");
}

/// On a terminal, `approve` shows the change and asks; anything but `y`
/// leaves the action pending and the object untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_on_a_terminal_asks_first() {
    let serve = Serve::start(&example_snapshot(), true);
    let env = Env::new(&serve);
    let cluster = Cluster::connect(&env.kubeconfig).await;
    let before = cluster.search().await;
    let id = env
        .store()
        .propose(raise_memory(&rv(&before), "256Mi", "512Mi"))
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
    assert_eq!(rv(&cluster.search().await), rv(&before));
}
