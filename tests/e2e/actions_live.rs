//! The action store against the real API server: a store edited behind
//! Guardian's back never gets another patch applied (issue 13, point 3), and
//! an apply killed after its write landed is never recorded as "failed"
//! (point 10). The real `guardian` binary proposes, shows and approves; the
//! test edits `actions.db` with SQLite and writes the object with kubectl,
//! as an attacker or another person would.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use guardian_actions::{ActionStore, Approver, Channel, ManualClock, StoreOptions};
use guardian_broker::Audit;
use guardian_tests::kube::{ControlPlane, control_plane};
use serde_json::{Value, json};

use crate::support::{guardian, run_ok, sha256_hex};

const ANNOTATION: &str = "guardian.dev/action-id";

use crate::cluster::{web as object, web_deployment as deployment, web_image as image_of};

fn rv(object: &Value) -> String {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The patch replacing the image, pinned by tests.
fn image_patch(from: &str, to: &str) -> Value {
    json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "web"},
        {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": from},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": to},
    ])
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One scenario's files: kubeconfig, state directory, audit log, cache.
struct Live {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Live {
    fn new(k: &ControlPlane) -> Live {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = k.kubeconfig(dir.path());
        Live { dir, kubeconfig }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.state().join("actions.db")).unwrap()
    }

    /// `guardian ARGS --kubeconfig K --state-dir S --audit A`, as alice,
    /// with no terminal.
    fn guardian(&self, args: &[&str]) -> Command {
        let mut cmd = guardian(&self.dir.path().join("cache"));
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--state-dir")
            .arg(self.state())
            .arg("--audit")
            .arg(self.dir.path().join("audit.jsonl"))
            .args(args)
            .env("USER", "alice")
            .stdin(Stdio::null());
        cmd
    }

    /// Proposes `patch` on `ns/web` with the real binary; the action id.
    fn propose(&self, ns: &str, patch: &Value) -> String {
        let input = json!({
            "target": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": ns, "name": "web"},
            "json_patch": patch,
            "rationale": "roll web to the patched image",
        });
        let out = run_ok(
            self.guardian(&["skills", "call", "patch.propose", "--input"])
                .arg(input.to_string()),
        );
        serde_json::from_str::<Value>(&out).unwrap()["action_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn approve(&self, id: &str) -> Output {
        self.guardian(&["actions", "approve", id, "--yes", "--rollout-timeout", "0"])
            .output()
            .unwrap()
    }

    fn show(&self, id: &str) -> Value {
        serde_json::from_str(&run_ok(
            &mut self.guardian(&["actions", "show", id, "-o", "json"]),
        ))
        .unwrap()
    }

    /// The real writes (not dry runs) the audit log has.
    fn real_writes(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["verb"] == "patch" && l["dry_run"] == false && l["decision"] == "allow")
            .filter(|l| {
                l["reasons"]
                    .as_array()
                    .is_none_or(|r| r.iter().all(|r| r != "preview of an apply"))
            })
            .count()
    }

    /// The store, its clock `ago` in the past (for claims a recovery will
    /// judge as old).
    fn store_at(&self, ago: chrono::TimeDelta) -> ActionStore {
        ActionStore::open_with(
            &self.state().join("actions.db"),
            Arc::new(Audit::Off),
            StoreOptions {
                clock: Arc::new(ManualClock::new(chrono::Utc::now() - ago)),
                ..StoreOptions::default()
            },
        )
        .unwrap()
    }
}

/// Issue 13, point 3. The attack: rewrite `patch` and `patch_sha256`
/// together in `actions.db` (the sha256 proves nothing to whoever can write
/// the file). Before, `actions show` showed the stored diff next to the
/// evil kubectl line and `approve --yes` applied `evil.example/x:1`. Now the
/// row fails its MAC (keyed with a key that is not in the database): `show`
/// flags it and shows no diff, and `approve` fails it for good, writing
/// nothing. The same for a row edited to `approved` without a person, and
/// for a key that is missing or was replaced (refused, left pending). What
/// a person approves is the write dry-run now, with the annotation the
/// apply adds — not the stored diff text.
#[test]
fn a_tampered_action_store_never_applies_another_patch() {
    let Some(k) = control_plane() else { return };
    let ns = k.namespace("tamper");
    deployment(k, &ns);
    let live = Live::new(k);

    // 1. patch and patch_sha256 rewritten together.
    let id = live.propose(&ns, &image_patch("nginx:1.0", "nginx:1.1"));
    let evil = json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "web"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "evil.example/x:1"},
    ])
    .to_string();
    let n = live
        .db()
        .execute(
            "UPDATE actions SET patch = ?1, patch_sha256 = ?2 WHERE id = ?3",
            rusqlite::params![evil.as_bytes(), sha256_hex(evil.as_bytes()), id],
        )
        .unwrap();
    assert_eq!(n, 1);
    let shown = run_ok(&mut live.guardian(&["actions", "show", &id]));
    assert!(shown.contains("TAMPERED"), "show flags it: {shown}");
    assert!(
        !shown.contains("nginx:1.1") && !shown.contains("kubectl patch"),
        "no diff and no kubectl line for a tampered action: {shown}"
    );
    let out = live.approve(&id);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("tampered"), "{}", text(&out));
    assert_eq!(image_of(k, &ns), "nginx:1.0", "nothing was written");
    let action = live.show(&id);
    assert_eq!(action["state"], "failed", "{action}");
    assert!(
        action["outcome"].as_str().unwrap().contains("tampered"),
        "{action}"
    );
    assert_eq!(action["integrity"]["status"], "tampered", "{action}");
    assert_eq!(action["diff"], "", "{action}");
    assert!(action.get("kubectl").is_none(), "{action}");

    // 2. A row edited to approved, with an approver, without a person.
    let id = live.propose(&ns, &image_patch("nginx:1.0", "nginx:1.2"));
    live.db()
        .execute(
            "UPDATE actions SET state = 'approved', approver_channel = 'cli', approver_identity = 'alice' WHERE id = ?1",
            [&id],
        )
        .unwrap();
    let out = live.approve(&id);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("tampered"), "{}", text(&out));
    assert_eq!(image_of(k, &ns), "nginx:1.0", "nothing was written");
    assert_eq!(live.show(&id)["state"], "failed");

    // 3. The key replaced, then missing: refused, nothing written, the
    //    action left pending.
    let id = live.propose(&ns, &image_patch("nginx:1.0", "nginx:1.3"));
    let key = live.state().join("action.key");
    let saved = std::fs::read(&key).expect("the key is created with the store");
    assert_eq!(saved.len(), 32);
    for what in ["replaced", "missing"] {
        if what == "replaced" {
            std::fs::write(&key, [9u8; 32]).unwrap();
        } else {
            std::fs::remove_file(&key).unwrap();
        }
        let out = live.approve(&id);
        assert!(!out.status.success(), "{what}: {}", text(&out));
        assert!(
            text(&out).contains("action key"),
            "{what}: says why: {}",
            text(&out)
        );
        assert_eq!(image_of(k, &ns), "nginx:1.0", "{what}: nothing was written");
        assert_eq!(live.show(&id)["state"], "pending", "{what}");
    }
    assert_eq!(live.real_writes(), 0, "no real write was even attempted");

    // 4. The key back: approved, and what was shown is the write itself,
    //    dry-run now (the annotation the apply adds is in the diff).
    std::fs::write(&key, &saved).unwrap();
    let out = live.approve(&id);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with('+') && l.contains(&format!("{ANNOTATION}: {id}"))),
        "the diff shown is of the exact write: {stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with('+') && l.contains("image: nginx:1.3")),
        "{stdout}"
    );
    assert_eq!(image_of(k, &ns), "nginx:1.3");
    assert_eq!(live.real_writes(), 1);
}

/// Claims `id` through the store with a clock ten minutes back (a claim a
/// recovery judges as old), then writes the object the way the apply does:
/// the stored patch plus the annotation, as field manager `guardian`,
/// behind a test of the proposal's resourceVersion.
fn claim_and_write_as_guardian(k: &ControlPlane, live: &Live, ns: &str, id: &str) {
    let store = live.store_at(chrono::TimeDelta::minutes(10));
    let alice = Approver::new(Channel::Cli, "alice").unwrap();
    store.approve(id, &alice, "").unwrap();
    let action = store.claim_for_apply(id, "human:alice").unwrap();
    let mut ops = vec![json!({
        "op": "test", "path": "/metadata/resourceVersion", "value": action.resource_version,
    })];
    ops.extend(serde_json::from_slice::<Vec<Value>>(action.patch_bytes()).unwrap());
    ops.push(
        json!({"op": "add", "path": "/metadata/annotations/guardian.dev~1action-id", "value": id}),
    );
    k.run(&[
        "patch",
        "deployment",
        "web",
        "-n",
        ns,
        "--type=json",
        "--field-manager=guardian",
        "-p",
        &Value::Array(ops).to_string(),
    ]);
}

/// Someone else (field manager `kubectl-annotate`) changes the annotation.
fn annotate_as_someone_else(k: &ControlPlane, ns: &str) {
    k.run(&[
        "annotate",
        "deployment",
        "web",
        "-n",
        ns,
        &format!("{ANNOTATION}=changed-by-someone-else"),
        "--overwrite",
    ]);
}

/// Issue 13, point 10. An apply whose write landed, then the process was
/// killed (state `applying`), then someone else changed the annotation: the
/// recovery used to record "failed: interrupted before it reached the
/// cluster". Now it decides from what survives: the resourceVersion the
/// write returned (recorded before the rollout wait), Guardian's
/// managedFields entry dated after the claim — and, when nothing tells,
/// `unknown` (check the object), never a wrong `failed`. Never re-applied.
#[test]
fn recovery_never_records_a_landed_write_as_failed() {
    let Some(k) = control_plane() else { return };

    // A. The real binary, killed while it waits for a rollout that never
    //    completes (nothing runs controllers here), after its write.
    let ns = k.namespace("killed");
    deployment(k, &ns);
    let live = Live::new(k);
    let id = live.propose(&ns, &image_patch("nginx:1.0", "nginx:1.1"));
    let mut child = live
        .guardian(&[
            "actions",
            "approve",
            &id,
            "--yes",
            "--rollout-timeout",
            "600",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while image_of(k, &ns) != "nginx:1.1" {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("approve exited early with {status}");
        }
        assert!(Instant::now() < deadline, "the write never landed");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Give it the moment it needs to record what the write returned (a
    // build without that record goes on after the wait).
    let deadline = Instant::now() + Duration::from_secs(10);
    while live.show(&id).get("written_resource_version").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap(); // SIGKILL: nothing records the end.
    child.wait().unwrap();
    assert_eq!(live.show(&id)["state"], "applying");
    annotate_as_someone_else(k, &ns);
    // The recovery runs long after the claim.
    let at = (chrono::Utc::now() - chrono::TimeDelta::minutes(10))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    live.db()
        .execute(
            "UPDATE transitions SET at = ?1 WHERE action_id = ?2 AND state = 'applying'",
            [&at, &id],
        )
        .unwrap();
    let before = rv(&object(k, &ns));
    let out = live.approve(&id);
    let action = live.show(&id);
    assert_eq!(action["state"], "applied", "{action}\n{}", text(&out));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("already applied"), "{}", text(&out));
    assert_eq!(rv(&object(k, &ns)), before, "nothing re-applied");
    assert_eq!(image_of(k, &ns), "nginx:1.1");

    // B. Killed between the write and recording what it returned: the
    //    managedFields entry of `guardian`, dated after the claim, says so.
    let ns = k.namespace("managed");
    deployment(k, &ns);
    let live = Live::new(k);
    let id = live.propose(&ns, &image_patch("nginx:1.0", "nginx:1.1"));
    claim_and_write_as_guardian(k, &live, &ns, &id);
    annotate_as_someone_else(k, &ns);
    let before = rv(&object(k, &ns));
    let out = live.approve(&id);
    let action = live.show(&id);
    assert_eq!(action["state"], "applied", "{action}\n{}", text(&out));
    assert!(
        action["outcome"]
            .as_str()
            .unwrap()
            .contains("from managedFields"),
        "{action}"
    );
    assert!(text(&out).contains("from managedFields"), "{}", text(&out));
    assert_eq!(rv(&object(k, &ns)), before, "nothing re-applied");

    // C. The write landed, then someone deleted and recreated the object:
    //    nothing on it tells. Unknown — check the object; not failed.
    let ns = k.namespace("recreated");
    deployment(k, &ns);
    let live = Live::new(k);
    let id = live.propose(&ns, &image_patch("nginx:1.0", "nginx:1.1"));
    claim_and_write_as_guardian(k, &live, &ns, &id);
    k.run(&["delete", "deployment", "web", "-n", &ns]);
    deployment(k, &ns);
    let before = rv(&object(k, &ns));
    let out = live.approve(&id);
    let action = live.show(&id);
    assert_eq!(action["state"], "unknown", "{action}\n{}", text(&out));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("unknown"), "{}", text(&out));
    assert!(
        action["outcome"]
            .as_str()
            .unwrap()
            .starts_with("unknown — check the object"),
        "{action}"
    );
    assert_eq!(rv(&object(k, &ns)), before, "nothing applied");
    assert_eq!(image_of(k, &ns), "nginx:1.0");
    let listed: Vec<Value> = serde_json::from_str(&run_ok(
        &mut live.guardian(&["actions", "list", "--state", "unknown", "-o", "json"]),
    ))
    .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], json!(id));
}
