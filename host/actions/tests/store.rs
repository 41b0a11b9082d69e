//! The action store: state machine, expiry, integrity, durability, races,
//! audit.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use guardian_actions::{
    ACTION_ANNOTATION, Action, ActionError, ActionKind, ActionStore, ApplyOutcome, Approver,
    Channel, GitChange, GitFile, GitProgress, Health, Integrity, ManualClock, Proposal, Proposer,
    State, StoreOptions, Target,
};
use guardian_broker::Audit;
use serde_json::{Value, json};

const PATCH: &str = r#"[{"op":"test","path":"/spec/template/spec/containers/0/name","value":"web"},{"op":"replace","path":"/spec/template/spec/containers/0/resources/limits/memory","value":"512Mi"}]"#;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()
}

fn proposal() -> Proposal {
    Proposal {
        target: Target {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("shop".into()),
            name: "web".into(),
            resource: "deployments.apps".into(),
        },
        patch: PATCH.as_bytes().to_vec(),
        resource_version: "4711".into(),
        rationale: "web is OOMKilled: its memory limit (256Mi) is below its working set".into(),
        proposer: Proposer {
            caller: "agent".into(),
            skill: "diagnostics".into(),
            tool: "analyze".into(),
        },
        dry_run_result: "dry run accepted by the API server".into(),
        diff: "-        memory: 256Mi\n+        memory: 512Mi\n".into(),
        policy_decision: "allow (approved-action)".into(),
        ttl: None,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    clock: Arc<ManualClock>,
    audit: Arc<Audit>,
    store: ActionStore,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("actions.db");
        let clock = Arc::new(ManualClock::new(start()));
        let audit = Arc::new(Audit::memory());
        let store = open(&path, &clock, &audit);
        Self {
            _dir: dir,
            path,
            clock,
            audit,
            store,
        }
    }

    /// Another store on the same file (another connection, as another
    /// process would have).
    fn reopen(&self) -> ActionStore {
        open(&self.path, &self.clock, &self.audit)
    }

    /// The audit lines about actions, parsed.
    fn action_lines(&self) -> Vec<Value> {
        self.audit
            .lines()
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["event"] == "action")
            .collect()
    }
}

fn open(path: &Path, clock: &Arc<ManualClock>, audit: &Arc<Audit>) -> ActionStore {
    ActionStore::open_with(
        path,
        audit.clone(),
        StoreOptions {
            clock: clock.clone(),
            ..StoreOptions::default()
        },
    )
    .unwrap()
}

fn alice() -> Approver {
    Approver::new(Channel::Cli, "alice").unwrap()
}

fn states(a: &Action) -> Vec<State> {
    a.history.iter().map(|t| t.state).collect()
}

#[test]
fn happy_path_pending_approved_applying_applied() {
    let f = Fixture::new();
    let proposed = f.store.propose(proposal()).unwrap();
    assert!(
        guardian_actions::is_valid_id(&proposed.id),
        "{}",
        proposed.id
    );
    assert_eq!(proposed.state, State::Pending);
    assert_eq!(proposed.created, start());
    assert_eq!(proposed.expires, start() + TimeDelta::hours(24));
    assert_eq!(proposed.patch_bytes(), PATCH.as_bytes());
    assert_eq!(proposed.patch_sha256.len(), 64);
    assert_eq!(
        proposed.action_ref(),
        None,
        "a pending action carries no approval"
    );
    assert_eq!(f.store.get(&proposed.id).unwrap(), proposed);

    f.clock.advance(TimeDelta::minutes(5));
    let approved = f
        .store
        .approve(&proposed.id, &alice(), "looks right")
        .unwrap();
    assert_eq!(approved.state, State::Approved);
    assert_eq!(approved.approver.as_ref().unwrap().caller(), "human:alice");
    assert_eq!(approved.approver.as_ref().unwrap().channel(), Channel::Cli);
    assert_eq!(
        approved.action_ref(),
        None,
        "only a claimed action is applied"
    );

    f.clock.advance(TimeDelta::minutes(1));
    let claimed = f
        .store
        .claim_for_apply(&proposed.id, "system:guardian")
        .unwrap();
    assert_eq!(claimed.state, State::Applying);
    assert!(claimed.needs_check());
    let action_ref = claimed.action_ref().unwrap();
    assert_eq!(action_ref.id, proposed.id);
    assert!(action_ref.approved);
    assert_eq!(action_ref.approver, "human:alice");
    assert_eq!(
        claimed.verified_patch().unwrap(),
        serde_json::from_str::<Value>(PATCH).unwrap()
    );

    let applied = f
        .store
        .finish_apply(
            &proposed.id,
            ApplyOutcome::Applied {
                health: Health::Healthy,
                detail: "rollout complete, 3/3 ready".into(),
            },
        )
        .unwrap();
    assert_eq!(applied.state, State::Applied);
    assert_eq!(
        applied.outcome.as_deref(),
        Some("applied-and-healthy: rollout complete, 3/3 ready")
    );
    assert_eq!(
        states(&applied),
        [
            State::Pending,
            State::Approved,
            State::Applying,
            State::Applied
        ]
    );
    let who: Vec<&str> = applied.history.iter().map(|t| t.who.as_str()).collect();
    assert_eq!(
        who,
        [
            "agent via diagnostics.analyze",
            "human:alice (cli)",
            "system:guardian",
            "system:guardian"
        ]
    );
    assert_eq!(applied.history[1].note, "looks right");
    assert_eq!(applied.history[1].at, start() + TimeDelta::minutes(5));
    assert_eq!(f.store.get(&proposed.id).unwrap(), applied);
    assert!(!applied.needs_check());
    assert_eq!(applied.action_ref(), None);

    // One audit line per transition, in order, with who and when.
    let lines = f.action_lines();
    let summary: Vec<(Value, Value, Value)> = lines
        .iter()
        .map(|l| (l["from"].clone(), l["to"].clone(), l["who"].clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                Value::Null,
                json!("pending"),
                json!("agent via diagnostics.analyze")
            ),
            (
                json!("pending"),
                json!("approved"),
                json!("human:alice (cli)")
            ),
            (
                json!("approved"),
                json!("applying"),
                json!("system:guardian")
            ),
            (
                json!("applying"),
                json!("applied"),
                json!("system:guardian")
            ),
        ]
    );
    for l in &lines {
        assert_eq!(l["action"], json!(proposed.id));
        assert_eq!(l["target"], "deployments.apps shop/web");
        assert!(l["note"].is_string());
    }
    assert_eq!(lines[0]["time"], "2030-01-02T03:04:05.000000Z");
    assert_eq!(lines[1]["time"], "2030-01-02T03:09:05.000000Z");
    assert_eq!(lines[1]["note"], "looks right");
    assert_eq!(
        lines[3]["note"],
        "applied-and-healthy: rollout complete, 3/3 ready"
    );
}

#[test]
fn patch_sha256_is_of_the_exact_bytes() {
    use sha2::Digest;
    let f = Fixture::new();
    let a = f.store.propose(proposal()).unwrap();
    assert_eq!(
        a.patch_sha256,
        hex::encode(sha2::Sha256::digest(PATCH.as_bytes()))
    );
}

#[test]
fn failed_apply_and_rejection_are_recorded() {
    let f = Fixture::new();
    let a = f.store.propose(proposal()).unwrap();
    f.store.approve(&a.id, &alice(), "").unwrap();
    f.store.claim_for_apply(&a.id, "system:guardian").unwrap();
    let failed = f
        .store
        .finish_apply(
            &a.id,
            ApplyOutcome::Failed {
                error: "conflict: resourceVersion changed".into(),
            },
        )
        .unwrap();
    assert_eq!(failed.state, State::Failed);
    assert_eq!(
        failed.outcome.as_deref(),
        Some("failed: conflict: resourceVersion changed")
    );

    let b = f.store.propose(proposal()).unwrap();
    let bob = Approver::new(Channel::GrpcApproval, "human:bob").unwrap();
    let rejected = f.store.reject(&b.id, &bob, "not during the sale").unwrap();
    assert_eq!(rejected.state, State::Rejected);
    assert_eq!(rejected.history[1].who, "human:bob (grpc-approval)");
    assert_eq!(rejected.history[1].note, "not during the sale");
    let last = f.action_lines().pop().unwrap();
    assert_eq!(last["from"], "pending");
    assert_eq!(last["to"], "rejected");
    assert_eq!(last["who"], "human:bob (grpc-approval)");
}

/// Puts a fresh action into `state` (expired: past its TTL).
fn action_in(f: &Fixture, state: State) -> String {
    let mut p = if state == State::Submitted {
        git_proposal()
    } else {
        proposal()
    };
    if state == State::Expired {
        p.ttl = Some(TimeDelta::minutes(1));
    }
    let id = f.store.propose(p).unwrap().id;
    let s = &f.store;
    match state {
        State::Pending => {}
        State::Approved => {
            s.approve(&id, &alice(), "").unwrap();
        }
        State::Rejected => {
            s.reject(&id, &alice(), "").unwrap();
        }
        State::Expired => {
            f.clock.advance(TimeDelta::minutes(2));
            assert_eq!(s.get(&id).unwrap().state, State::Expired);
            f.clock.advance(TimeDelta::minutes(-2));
        }
        State::Applying | State::Submitted | State::Applied | State::Failed | State::Unknown => {
            s.approve(&id, &alice(), "").unwrap();
            s.claim_for_apply(&id, "system:guardian").unwrap();
            match state {
                State::Applied => {
                    s.finish_apply(
                        &id,
                        ApplyOutcome::Applied {
                            health: Health::Degraded,
                            detail: String::new(),
                        },
                    )
                    .unwrap();
                }
                State::Failed => {
                    s.finish_apply(&id, ApplyOutcome::Failed { error: "x".into() })
                        .unwrap();
                }
                State::Unknown => {
                    s.finish_apply(&id, ApplyOutcome::Unknown { detail: "x".into() })
                        .unwrap();
                }
                State::Submitted => {
                    s.finish_apply(&id, ApplyOutcome::Submitted { detail: "x".into() })
                        .unwrap();
                }
                _ => {}
            }
        }
    }
    assert_eq!(s.get(&id).unwrap().state, state);
    id
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Approve,
    Reject,
    Claim,
    Finish,
}

fn run(f: &Fixture, op: Op, id: &str) -> Result<Action, ActionError> {
    match op {
        Op::Approve => f.store.approve(id, &alice(), ""),
        Op::Reject => f.store.reject(id, &alice(), ""),
        Op::Claim => f.store.claim_for_apply(id, "system:guardian"),
        Op::Finish => f.store.finish_apply(
            id,
            ApplyOutcome::Applied {
                health: Health::Unchecked,
                detail: String::new(),
            },
        ),
    }
}

#[test]
fn every_invalid_transition_is_a_typed_error_and_changes_nothing() {
    let allowed = [
        (Op::Approve, State::Pending),
        (Op::Reject, State::Pending),
        (Op::Claim, State::Approved),
        (Op::Finish, State::Applying),
    ];
    let mut refused = 0;
    for state in State::ALL {
        for op in [Op::Approve, Op::Reject, Op::Claim, Op::Finish] {
            let f = Fixture::new();
            let id = action_in(&f, state);
            let before = f.store.get(&id).unwrap();
            let audit_before = f.action_lines().len();
            let result = run(&f, op, &id);
            if allowed.contains(&(op, state)) {
                assert!(result.is_ok(), "{op:?} from {state}: {result:?}");
                continue;
            }
            refused += 1;
            let err = result.expect_err(&format!("{op:?} from {state} must be refused"));
            let msg = err.to_string();
            match (&err, op, state) {
                (ActionError::AlreadyClaimed { by, .. }, Op::Claim, State::Applying) => {
                    assert_eq!(by, "system:guardian");
                    assert!(msg.contains(ACTION_ANNOTATION), "{msg}");
                }
                (ActionError::InvalidTransition { state: s, .. }, _, _) => {
                    assert_eq!(*s, state);
                    let rule = match op {
                        Op::Approve => "only a pending action can be approved",
                        Op::Reject => "only a pending action can be rejected",
                        Op::Claim => "only an approved action can be applied",
                        Op::Finish => "only an applying action",
                    };
                    assert!(
                        msg.starts_with(&format!("action {id} is {state}; {rule}")),
                        "{msg}"
                    );
                }
                _ => panic!("{op:?} from {state}: unexpected {err:?}"),
            }
            assert_eq!(f.store.get(&id).unwrap(), before, "{op:?} from {state}");
            assert_eq!(f.action_lines().len(), audit_before, "{op:?} from {state}");
        }
    }
    assert_eq!(refused, State::ALL.len() * 4 - 4);
}

#[test]
fn error_message_reads_for_people() {
    let f = Fixture::new();
    let id = action_in(&f, State::Applied);
    let err = f.store.approve(&id, &alice(), "").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("action {id} is applied; only a pending action can be approved")
    );
    let err = f.store.get("act-zzzzzzzzzzzz").unwrap_err();
    assert!(matches!(err, ActionError::NotFound { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("no action act-zzzzzzzzzzzz in "),
        "{err}"
    );
    let err = f.store.approve("../../etc", &alice(), "").unwrap_err();
    assert!(matches!(err, ActionError::InvalidId(_)), "{err:?}");
}

#[test]
fn approvers_are_people_on_human_channels() {
    let a = Approver::new(Channel::McpElicitation, " human:carol@example.com ").unwrap();
    assert_eq!(a.identity(), "carol@example.com");
    assert_eq!(a.caller(), "human:carol@example.com");
    assert_eq!(a.label(), "human:carol@example.com (mcp-elicitation)");
    for bad in [
        "",
        "   ",
        "human:",
        "agent:loop",
        "mcp:claude",
        "skill:x",
        "a\nb",
    ] {
        let err = Approver::new(Channel::Cli, bad).unwrap_err();
        assert!(
            matches!(err, ActionError::InvalidApprover(_)),
            "{bad:?}: {err:?}"
        );
    }
    assert!(Approver::new(Channel::Cli, &"x".repeat(300)).is_err());
}

#[test]
fn pending_expires_after_the_ttl_and_can_never_be_approved() {
    let f = Fixture::new();
    let id = f.store.propose(proposal()).unwrap().id;
    f.clock
        .advance(TimeDelta::hours(24) - TimeDelta::microseconds(1));
    assert_eq!(f.store.get(&id).unwrap().state, State::Pending);
    f.clock.advance(TimeDelta::microseconds(1));

    let err = f.store.approve(&id, &alice(), "").unwrap_err();
    match &err {
        ActionError::Expired { was, verb, .. } => {
            assert_eq!(*was, State::Pending);
            assert_eq!(*verb, "approved");
        }
        _ => panic!("{err:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "action {id} expired at 2030-01-03T03:04:05.000000Z while pending; an expired action cannot be approved; propose it again"
        )
    );
    let a = f.store.get(&id).unwrap();
    assert_eq!(a.state, State::Expired);
    assert_eq!(a.history.last().unwrap().who, "system:guardian");
    let err = f.store.approve(&id, &alice(), "").unwrap_err();
    assert!(matches!(
        err,
        ActionError::InvalidTransition {
            state: State::Expired,
            ..
        }
    ));

    let lines = f.action_lines();
    let last = lines.last().unwrap();
    assert_eq!(
        (last["from"].as_str(), last["to"].as_str()),
        (Some("pending"), Some("expired"))
    );
    assert_eq!(last["who"], "system:guardian");
    assert_eq!(
        lines.len(),
        2,
        "proposed, expired: the expiry is audited once"
    );
}

#[test]
fn approved_expires_too_and_can_never_be_applied() {
    let f = Fixture::new();
    let mut p = proposal();
    p.ttl = Some(TimeDelta::minutes(30));
    let id = f.store.propose(p).unwrap().id;
    f.store.approve(&id, &alice(), "").unwrap();
    f.clock.advance(TimeDelta::minutes(30));
    let err = f.store.claim_for_apply(&id, "system:guardian").unwrap_err();
    assert!(
        matches!(
            err,
            ActionError::Expired {
                was: State::Approved,
                verb: "applied",
                ..
            }
        ),
        "{err:?}"
    );
    let a = f.store.get(&id).unwrap();
    assert_eq!(a.state, State::Expired);
    assert_eq!(
        a.approver.as_ref().map(Approver::caller).as_deref(),
        Some("human:alice"),
        "who approved is kept"
    );
    assert_eq!(a.action_ref(), None);
}

#[test]
fn reads_expire_lazily_and_list_filters_by_state() {
    let f = Fixture::new();
    let short = {
        let mut p = proposal();
        p.ttl = Some(TimeDelta::hours(1));
        f.store.propose(p).unwrap().id
    };
    f.clock.advance(TimeDelta::seconds(1));
    let long = f.store.propose(proposal()).unwrap().id;
    let ids = |v: Vec<Action>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        ids(f.store.list(None).unwrap()),
        [long.clone(), short.clone()]
    );
    f.clock.advance(TimeDelta::hours(2));
    assert_eq!(ids(f.store.list(Some(State::Pending)).unwrap()), [long]);
    assert_eq!(
        ids(f.store.list(Some(State::Expired)).unwrap()),
        std::slice::from_ref(&short)
    );
    assert_eq!(f.store.get(&short).unwrap().state, State::Expired);
    let expired_lines = f
        .action_lines()
        .into_iter()
        .filter(|l| l["to"] == "expired")
        .count();
    assert_eq!(expired_lines, 1);
}

#[test]
fn an_applying_action_does_not_expire() {
    let f = Fixture::new();
    let id = action_in(&f, State::Applying);
    f.clock.advance(TimeDelta::days(3));
    assert_eq!(f.store.get(&id).unwrap().state, State::Applying);
    f.store
        .finish_apply(
            &id,
            ApplyOutcome::Failed {
                error: "timeout".into(),
            },
        )
        .unwrap();
}

#[test]
fn tampered_patch_bytes_are_refused_for_apply() {
    let f = Fixture::new();
    let id = action_in(&f, State::Approved);
    {
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        let evil = PATCH.replace("512Mi", "64Gi");
        let n = conn
            .execute(
                "UPDATE actions SET patch = ?1 WHERE id = ?2",
                rusqlite::params![evil.as_bytes(), id],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let read = f.store.get(&id).unwrap();
    assert!(matches!(
        read.verified_patch(),
        Err(ActionError::PatchMismatch { .. })
    ));
    assert!(
        matches!(read.integrity, Integrity::Tampered { .. }),
        "{:?}",
        read.integrity
    );
    let err = f.store.claim_for_apply(&id, "system:guardian").unwrap_err();
    assert!(matches!(err, ActionError::Tampered { .. }), "{err:?}");
    assert!(err.to_string().contains("tampered with"), "{err}");
    let a = f.store.get(&id).unwrap();
    assert_eq!(
        a.state,
        State::Failed,
        "a tampered action is failed for good"
    );
    assert_eq!(a.action_ref(), None);
    let last = f.action_lines().pop().unwrap();
    assert_eq!(last["to"], "failed");
    assert!(last["note"].as_str().unwrap().contains("tampered"));
}

/// Issue 13, point 3: rewriting `patch` and `patch_sha256` together (the
/// sha256 alone proves nothing to someone who can write the file) is caught
/// by the MAC, whose key is not in the database: the action is flagged on
/// read (no diff), and approving or applying it fails it for good.
#[test]
fn rewriting_the_patch_and_its_sha256_together_is_caught_by_the_mac() {
    const EVIL: &str = r#"[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"evil.example/x:1"}]"#;
    let f = Fixture::new();
    let pending = f.store.propose(proposal()).unwrap().id;
    let approved = action_in(&f, State::Approved);
    {
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(EVIL.as_bytes()));
        for id in [&pending, &approved] {
            conn.execute(
                "UPDATE actions SET patch = ?1, patch_sha256 = ?2 WHERE id = ?3",
                rusqlite::params![EVIL.as_bytes(), sha, id],
            )
            .unwrap();
        }
    }
    let read = f.store.get(&pending).unwrap();
    read.verified_patch().expect("the sha256 alone is fooled");
    let Integrity::Tampered { reason } = &read.integrity else {
        panic!("{:?}", read.integrity)
    };
    assert!(reason.contains("does not match its MAC"), "{reason}");
    assert_eq!(read.diff, "", "no diff is shown for a tampered action");
    let listed = f.store.list(None).unwrap();
    assert!(listed.iter().all(|a| !a.integrity.is_verified()));

    let err = f.store.approve(&pending, &alice(), "").unwrap_err();
    assert!(matches!(err, ActionError::Tampered { .. }), "{err:?}");
    let a = f.store.get(&pending).unwrap();
    assert_eq!(states(&a), [State::Pending, State::Failed]);
    assert!(a.outcome.unwrap().starts_with("failed: tampered:"));
    assert!(a.approver.is_none(), "nobody approved it");

    let err = f
        .store
        .claim_for_apply(&approved, "system:guardian")
        .unwrap_err();
    assert!(matches!(err, ActionError::Tampered { .. }), "{err:?}");
    let a = f.store.get(&approved).unwrap();
    assert_eq!(a.state, State::Failed);
    assert_eq!(a.action_ref(), None);
    let last = f.action_lines().pop().unwrap();
    assert_eq!(last["to"], "failed");
    assert!(last["note"].as_str().unwrap().starts_with("tampered:"));
}

/// A row edited to `approved` (with an approver) without a person's
/// approval carries no approval MAC: claiming it fails it for good.
#[test]
fn a_row_edited_to_approved_without_a_person_is_refused_at_claim() {
    let f = Fixture::new();
    let id = f.store.propose(proposal()).unwrap().id;
    {
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        conn.execute(
            "UPDATE actions SET state = 'approved', approver_channel = 'cli', approver_identity = 'mallory' WHERE id = ?1",
            [&id],
        )
        .unwrap();
    }
    let read = f.store.get(&id).unwrap();
    let Integrity::Tampered { reason } = &read.integrity else {
        panic!("{:?}", read.integrity)
    };
    assert!(reason.contains("no valid approval by a person"), "{reason}");
    let err = f.store.claim_for_apply(&id, "system:guardian").unwrap_err();
    assert!(matches!(err, ActionError::Tampered { .. }), "{err:?}");
    assert_eq!(f.store.get(&id).unwrap().state, State::Failed);

    // Copying a real approval's MAC onto another action does not help
    // either: it binds the action id and its proposal.
    let real = action_in(&f, State::Approved);
    let other = f.store.propose(proposal()).unwrap().id;
    {
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        conn.execute(
            "UPDATE actions SET state = 'approved', approver_channel = 'cli', approver_identity = 'alice', \
             approval_mac = (SELECT approval_mac FROM actions WHERE id = ?1) WHERE id = ?2",
            [&real, &other],
        )
        .unwrap();
    }
    let err = f
        .store
        .claim_for_apply(&other, "system:guardian")
        .unwrap_err();
    assert!(matches!(err, ActionError::Tampered { .. }), "{err:?}");
    f.store.claim_for_apply(&real, "system:guardian").unwrap();
}

/// Without its key (deleted, or replaced by another), the store still
/// opens and lists, but nothing can be proposed, approved or applied, and
/// nothing is changed; the right key back, all works again.
#[test]
fn a_missing_or_replaced_key_refuses_and_changes_nothing() {
    let f = Fixture::new();
    let pending = f.store.propose(proposal()).unwrap().id;
    let approved = action_in(&f, State::Approved);
    let key = f.path.with_file_name(guardian_actions::KEY_FILE);
    assert_eq!(f.store.key_path(), key);
    let saved = std::fs::read(&key).unwrap();
    assert_eq!(saved.len(), 32);

    let check = |what: &str| {
        let store = f.reopen();
        let problem = store
            .key_problem()
            .unwrap_or_else(|| panic!("{what}: no problem"));
        assert!(problem.contains(&key.display().to_string()), "{problem}");
        let a = store.get(&pending).unwrap();
        assert!(
            matches!(a.integrity, Integrity::KeyUnavailable { .. }),
            "{what}: {:?}",
            a.integrity
        );
        let lines = f.action_lines().len();
        for err in [
            store.approve(&pending, &alice(), "").unwrap_err(),
            store
                .claim_for_apply(&approved, "system:guardian")
                .unwrap_err(),
            store.propose(proposal()).unwrap_err(),
        ] {
            assert!(
                matches!(err, ActionError::KeyUnavailable { .. }),
                "{what}: {err:?}"
            );
        }
        assert_eq!(store.get(&pending).unwrap().state, State::Pending);
        assert_eq!(store.get(&approved).unwrap().state, State::Approved);
        assert_eq!(f.action_lines().len(), lines, "{what}: nothing recorded");
        problem.to_owned()
    };

    std::fs::remove_file(&key).unwrap();
    let problem = check("missing");
    assert!(problem.contains("is missing"), "{problem}");
    assert!(!key.exists(), "a missing key is not silently replaced");

    std::fs::write(&key, [7u8; 32]).unwrap();
    let problem = check("replaced");
    assert!(problem.contains("is not the key"), "{problem}");

    std::fs::write(&key, &saved).unwrap();
    let store = f.reopen();
    assert_eq!(store.key_problem(), None);
    store.approve(&pending, &alice(), "").unwrap();
    store.claim_for_apply(&approved, "system:guardian").unwrap();
}

/// `StoreOptions::key_file` (a mounted Secret): the key is read there and
/// never written next to the database.
#[test]
fn the_key_can_live_outside_the_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::create_dir(&secret).unwrap();
    let key = secret.join("key");
    std::fs::write(&key, [42u8; 32]).unwrap();
    let db = dir.path().join("state").join("actions.db");
    let open = || {
        ActionStore::open_with(
            &db,
            Arc::new(Audit::Off),
            StoreOptions {
                key_file: Some(key.clone()),
                ..StoreOptions::default()
            },
        )
        .unwrap()
    };
    let store = open();
    assert_eq!(store.key_problem(), None);
    let id = store.propose(proposal()).unwrap().id;
    assert!(!db.with_file_name(guardian_actions::KEY_FILE).exists());
    assert!(open().get(&id).unwrap().integrity.is_verified());
    // Opened with the default key instead, it cannot check them.
    let other = ActionStore::open(&db, Arc::new(Audit::Off)).unwrap();
    assert!(other.key_problem().is_some());
    // A key too short to be a key is refused.
    std::fs::write(&key, b"short").unwrap();
    let problem = open().key_problem().unwrap().to_owned();
    assert!(problem.contains("5 bytes"), "{problem}");
}

/// A schema-1 store (actions without MACs) is migrated on open; its actions
/// are listed but can never be approved.
#[test]
fn a_schema_1_store_is_migrated_and_its_actions_cannot_be_approved() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let db = state.join("actions.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(SCHEMA_1).unwrap();
        conn.execute(
            "INSERT INTO actions VALUES ('act-aaaaaaaaaaaa', 'apps/v1', 'Deployment', 'shop', 'web', \
             'deployments.apps', ?1, ?2, '4711', 'why', 'agent', 'diagnostics', 'analyze', 'ok', \
             'a diff', 'allow', '2030-01-02T03:04:05.000000Z', '2030-01-03T03:04:05.000000Z', \
             'pending', NULL, NULL, NULL)",
            rusqlite::params![
                PATCH.as_bytes(),
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(PATCH.as_bytes()))
            ],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO transitions VALUES ('act-aaaaaaaaaaaa', 0, 'pending', 'agent', '2030-01-02T03:04:05.000000Z', 'proposed')",
            [],
        )
        .unwrap();
    }
    let clock = Arc::new(ManualClock::new(start()));
    let audit = Arc::new(Audit::memory());
    let store = open(&db, &clock, &audit);
    assert!(
        store.notices().iter().any(|n| n.contains("migrated")),
        "{:?}",
        store.notices()
    );
    let a = store.get("act-aaaaaaaaaaaa").unwrap();
    assert!(
        matches!(a.integrity, Integrity::Unauthenticated { .. }),
        "{:?}",
        a.integrity
    );
    assert_eq!(a.diff, "");
    let err = store.approve("act-aaaaaaaaaaaa", &alice(), "").unwrap_err();
    assert!(
        matches!(err, ActionError::Unauthenticated { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("proposed before actions were authenticated; propose it again"),
        "{err}"
    );
    assert_eq!(store.get("act-aaaaaaaaaaaa").unwrap().state, State::Failed);
    // New proposals in the migrated store are authenticated.
    let id = store.propose(proposal()).unwrap().id;
    store.approve(&id, &alice(), "").unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, guardian_actions::SCHEMA_VERSION.to_string());
}

const SCHEMA_1: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
CREATE TABLE actions (
    id TEXT PRIMARY KEY NOT NULL, api_version TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT,
    name TEXT NOT NULL, resource TEXT NOT NULL, patch BLOB NOT NULL, patch_sha256 TEXT NOT NULL,
    resource_version TEXT NOT NULL, rationale TEXT NOT NULL, proposer_caller TEXT NOT NULL,
    proposer_skill TEXT NOT NULL, proposer_tool TEXT NOT NULL, dry_run_result TEXT NOT NULL,
    diff TEXT NOT NULL, policy_decision TEXT NOT NULL, created TEXT NOT NULL, expires TEXT NOT NULL,
    state TEXT NOT NULL, approver_channel TEXT, approver_identity TEXT, outcome TEXT
);
CREATE INDEX actions_state ON actions(state);
CREATE TABLE transitions (
    action_id TEXT NOT NULL REFERENCES actions(id), seq INTEGER NOT NULL, state TEXT NOT NULL,
    who TEXT NOT NULL, at TEXT NOT NULL, note TEXT NOT NULL, PRIMARY KEY (action_id, seq)
);
";

#[test]
fn proposals_are_checked() {
    let f = Fixture::new();
    type Change = Box<dyn Fn(&mut Proposal)>;
    let cases: Vec<(&str, Change)> = vec![
        ("not JSON", Box::new(|p| p.patch = b"op: replace".to_vec())),
        (
            "not a JSON Patch array",
            Box::new(|p| p.patch = b"{\"spec\":{}}".to_vec()),
        ),
        ("no operations", Box::new(|p| p.patch = b"[]".to_vec())),
        (
            "lacks a string `op`",
            Box::new(|p| p.patch = b"[{\"path\":\"/a\"}]".to_vec()),
        ),
        (
            "no resourceVersion",
            Box::new(|p| p.resource_version.clear()),
        ),
        ("rationale is empty", Box::new(|p| p.rationale = " ".into())),
        ("target name is empty", Box::new(|p| p.target.name.clear())),
        ("caller is empty", Box::new(|p| p.proposer.caller.clear())),
        (
            "TTL must be positive",
            Box::new(|p| p.ttl = Some(TimeDelta::zero())),
        ),
    ];
    for (want, change) in cases {
        let mut p = proposal();
        change(&mut p);
        let err = f.store.propose(p).unwrap_err();
        assert!(
            matches!(err, ActionError::InvalidProposal(_)),
            "{want}: {err:?}"
        );
        assert!(err.to_string().contains(want), "{want}: {err}");
    }
    assert!(f.store.list(None).unwrap().is_empty());
    assert!(f.action_lines().is_empty());
    let mut p = proposal();
    p.target.namespace = Some(String::new());
    let a = f.store.propose(p).unwrap();
    assert_eq!(a.target.namespace, None);
    assert_eq!(a.target.label(), "deployments.apps web");
}

#[test]
fn threads_racing_to_approve_and_claim_exactly_one_wins() {
    let f = Fixture::new();
    let id = f.store.propose(proposal()).unwrap().id;
    const N: usize = 8;
    // One store (one connection) per thread, as separate processes have.
    let stores: Vec<Arc<ActionStore>> = (0..N).map(|_| Arc::new(f.reopen())).collect();
    let race = |op: Op| -> Vec<Result<Action, ActionError>> {
        let barrier = Arc::new(Barrier::new(N));
        let handles: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let (store, barrier, id) = (store.clone(), barrier.clone(), id.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    match op {
                        Op::Approve => {
                            let who = Approver::new(Channel::Cli, &format!("user{i}")).unwrap();
                            store.approve(&id, &who, "")
                        }
                        _ => store.claim_for_apply(&id, &format!("system:worker{i}")),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    };

    let approvals = race(Op::Approve);
    assert_eq!(approvals.iter().filter(|r| r.is_ok()).count(), 1);
    for r in approvals.iter().filter(|r| r.is_err()) {
        assert!(
            matches!(
                r,
                Err(ActionError::InvalidTransition {
                    state: State::Approved,
                    ..
                })
            ),
            "{r:?}"
        );
    }
    let claims = race(Op::Claim);
    let winners: Vec<&Action> = claims.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{claims:?}");
    for r in claims.iter().filter(|r| r.is_err()) {
        assert!(
            matches!(r, Err(ActionError::AlreadyClaimed { .. })),
            "{r:?}"
        );
    }
    let a = f.store.get(&id).unwrap();
    assert_eq!(a.state, State::Applying);
    assert_eq!(
        a.history.last().unwrap().who,
        winners[0].history.last().unwrap().who
    );
    assert_eq!(
        states(&a),
        [State::Pending, State::Approved, State::Applying]
    );
    let lines = f.action_lines();
    assert_eq!(
        lines.len(),
        3,
        "one audit line per transition that happened"
    );
}

/// Helper mode of this test binary: run as a child by
/// `processes_racing_to_approve_and_claim_exactly_one_wins`. A no-op otherwise.
#[test]
fn child_process_helper() {
    let Ok(mode) = std::env::var("GUARDIAN_ACTIONS_CHILD") else {
        return;
    };
    let var = |k: &str| std::env::var(k).unwrap();
    let db = PathBuf::from(var("GUARDIAN_ACTIONS_DB"));
    let id = var("GUARDIAN_ACTIONS_ID");
    let out = PathBuf::from(var("GUARDIAN_ACTIONS_OUT"));
    let go = PathBuf::from(var("GUARDIAN_ACTIONS_GO"));
    let me = std::process::id();
    let store = ActionStore::open(&db, Arc::new(Audit::Off)).unwrap();
    std::fs::write(out.with_extension("ready"), "").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !go.exists() {
        assert!(std::time::Instant::now() < deadline, "never told to go");
        std::thread::sleep(Duration::from_millis(1));
    }
    let result = match mode.as_str() {
        "approve" => store
            .approve(
                &id,
                &Approver::new(Channel::Cli, &format!("user{me}")).unwrap(),
                "",
            )
            .map(|_| ()),
        "claim" => store
            .claim_for_apply(&id, &format!("system:pid{me}"))
            .map(|_| ()),
        other => panic!("unknown child mode {other}"),
    };
    let text = match result {
        Ok(()) => "won".to_owned(),
        Err(ActionError::InvalidTransition { .. } | ActionError::AlreadyClaimed { .. }) => {
            "lost".to_owned()
        }
        Err(e) => format!("error: {e}"),
    };
    std::fs::write(&out, text).unwrap();
}

#[test]
fn processes_racing_to_approve_and_claim_exactly_one_wins() {
    let f = Fixture::new();
    let id = f.store.propose(proposal()).unwrap().id;
    let exe = std::env::current_exe().unwrap();
    const N: usize = 4;
    for mode in ["approve", "claim"] {
        let work = f.path.parent().unwrap().join(format!("race-{mode}"));
        std::fs::create_dir_all(&work).unwrap();
        let go = work.join("go");
        let outs: Vec<PathBuf> = (0..N).map(|i| work.join(format!("out{i}"))).collect();
        let children: Vec<_> = outs
            .iter()
            .map(|out| {
                std::process::Command::new(&exe)
                    .args([
                        "--exact",
                        "child_process_helper",
                        "--test-threads=1",
                        "--quiet",
                    ])
                    .env("GUARDIAN_ACTIONS_CHILD", mode)
                    .env("GUARDIAN_ACTIONS_DB", &f.path)
                    .env("GUARDIAN_ACTIONS_ID", &id)
                    .env("GUARDIAN_ACTIONS_OUT", out)
                    .env("GUARDIAN_ACTIONS_GO", &go)
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !outs.iter().all(|o| o.with_extension("ready").exists()) {
            assert!(
                std::time::Instant::now() < deadline,
                "children did not start"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::fs::write(&go, "").unwrap();
        for mut child in children {
            assert!(child.wait().unwrap().success());
        }
        let results: Vec<String> = outs
            .iter()
            .map(|o| std::fs::read_to_string(o).unwrap())
            .collect();
        assert_eq!(
            results.iter().filter(|r| *r == "won").count(),
            1,
            "{mode}: {results:?}"
        );
        assert_eq!(
            results.iter().filter(|r| *r == "lost").count(),
            N - 1,
            "{mode}: {results:?}"
        );
    }
    let a = f.store.get(&id).unwrap();
    assert_eq!(
        states(&a),
        [State::Pending, State::Approved, State::Applying]
    );
    assert!(
        a.history[2].who.starts_with("system:pid"),
        "{:?}",
        a.history
    );
    let conn = rusqlite::Connection::open(&f.path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let transitions: i64 = conn
        .query_row("SELECT COUNT(*) FROM transitions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(transitions, 3);
}

#[test]
fn actions_survive_reopening_the_store() {
    let f = Fixture::new();
    let pending = f.store.propose(proposal()).unwrap();
    let approved = action_in(&f, State::Approved);
    let approved = f.store.get(&approved).unwrap();
    let Fixture {
        _dir,
        path,
        clock,
        audit,
        store,
    } = f;
    drop(store);
    let store = open(&path, &clock, &audit);
    assert_eq!(store.get(&pending.id).unwrap(), pending);
    assert_eq!(store.get(&approved.id).unwrap(), approved);
    assert_eq!(store.list(None).unwrap().len(), 2);
    assert!(store.needs_check().unwrap().is_empty());
    store
        .claim_for_apply(&approved.id, "system:guardian")
        .unwrap();
}

#[test]
fn an_applying_action_found_on_reopen_needs_a_check_not_a_reapply() {
    let f = Fixture::new();
    let id = action_in(&f, State::Applying);
    let Fixture {
        _dir,
        path,
        clock,
        audit,
        store,
    } = f;
    drop(store); // the daemon died mid-apply
    let store = open(&path, &clock, &audit);
    let stuck = store.needs_check().unwrap();
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0].id, id);
    assert!(stuck[0].needs_check());
    let err = store.claim_for_apply(&id, "system:guardian").unwrap_err();
    assert!(matches!(err, ActionError::AlreadyClaimed { .. }), "{err:?}");

    // The check: the annotation tells whether it landed.
    let landed = json!({"metadata": {"annotations": {ACTION_ANNOTATION: id}}});
    let other = json!({"metadata": {"annotations": {ACTION_ANNOTATION: "act-aaaaaaaaaaaa"}}});
    assert!(stuck[0].landed_on(&landed));
    assert!(!stuck[0].landed_on(&other));
    assert!(!stuck[0].landed_on(&json!({"metadata": {}})));
    let done = store
        .finish_apply(
            &id,
            ApplyOutcome::Applied {
                health: Health::Unchecked,
                detail: "found applied after a restart".into(),
            },
        )
        .unwrap();
    assert_eq!(done.state, State::Applied);
    assert!(store.needs_check().unwrap().is_empty());
}

#[test]
fn a_newer_schema_is_refused() {
    let f = Fixture::new();
    {
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        conn.execute(
            "UPDATE meta SET value = '7' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    }
    let err = ActionStore::open(&f.path, Arc::new(Audit::Off))
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            ActionError::SchemaTooNew {
                found: 7,
                supported: guardian_actions::SCHEMA_VERSION,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("newer than this guardian understands"),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("actions.db");
    std::fs::write(
        &path,
        "definitely not sqlite, but long enough to have a header......",
    )
    .unwrap();
    let err = ActionStore::open(&path, Arc::new(Audit::Off))
        .err()
        .unwrap();
    assert!(matches!(err, ActionError::Store { .. }), "{err:?}");
    assert!(err.to_string().contains("not an action store"), "{err}");
}

#[cfg(unix)]
#[test]
fn the_store_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    f.store.propose(proposal()).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(f.path.parent().unwrap()), 0o700);
    assert_eq!(mode(&f.path), 0o600);
    let wal = f.path.with_extension("db-wal");
    assert!(wal.exists(), "WAL mode");
    assert_eq!(mode(&wal), 0o600);

    let open_dir = f.path.parent().unwrap().parent().unwrap().join("shared");
    std::fs::create_dir(&open_dir).unwrap();
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = ActionStore::open(&open_dir.join("actions.db"), Arc::new(Audit::Off))
        .err()
        .unwrap();
    assert!(err.to_string().contains("writable by other users"), "{err}");
    let key = f.path.with_file_name(guardian_actions::KEY_FILE);
    assert_eq!(mode(&key), 0o600, "the key is private");
}

/// Issue 13, point 11: an existing state directory others can read (0755)
/// is made 0700, and the store says so once.
#[cfg(unix)]
#[test]
fn an_existing_0755_state_directory_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let store = ActionStore::open(&state.join("actions.db"), Arc::new(Audit::Off)).unwrap();
    let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700, "the state directory was left {mode:o}");
    assert!(
        store
            .notices()
            .iter()
            .any(|n| n.contains("mode 0755") && n.contains("made it 0700")),
        "{:?}",
        store.notices()
    );
    drop(store);
    let again = ActionStore::open(&state.join("actions.db"), Arc::new(Audit::Off)).unwrap();
    assert!(
        !again.notices().iter().any(|n| n.contains("0700")),
        "said once: {:?}",
        again.notices()
    );
}

#[test]
fn default_path_uses_the_state_dir() {
    assert_eq!(
        guardian_actions::default_path(Some(Path::new("/var/lib/guardian"))).unwrap(),
        Path::new("/var/lib/guardian/actions.db")
    );
    if let Some(data) = dirs::data_dir() {
        assert_eq!(
            guardian_actions::default_path(None).unwrap(),
            data.join("guardian").join("actions.db")
        );
    }
}

#[test]
fn audit_lines_go_to_a_file_and_decision_lines_are_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let audit = Arc::new(Audit::open(&log).unwrap());
    let store = ActionStore::open(&dir.path().join("s").join("actions.db"), audit).unwrap();
    let a = store.propose(proposal()).unwrap();
    store.reject(&a.id, &alice(), "no").unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let keys: Vec<&str> = lines[1]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort();
    assert_eq!(
        keys,
        [
            "action", "event", "from", "note", "target", "time", "to", "who"
        ]
    );
    assert_eq!(lines[1]["event"], "action");
    assert_eq!(lines[1]["to"], "rejected");
}

#[test]
fn actions_serialize_for_show() {
    let f = Fixture::new();
    let id = action_in(&f, State::Approved);
    let a = serde_json::to_value(f.store.get(&id).unwrap()).unwrap();
    assert_eq!(a["state"], "approved");
    assert_eq!(a["patch"], PATCH);
    assert_eq!(
        a["approver"],
        json!({"channel": "cli", "identity": "alice"})
    );
    assert_eq!(a["created"], "2030-01-02T03:04:05.000000Z");
    assert_eq!(a["history"][1]["state"], "approved");
    assert_eq!(a["target"]["resource"], "deployments.apps");
}

fn git_proposal() -> Proposal {
    let change = GitChange {
        repo_url: "http://127.0.0.1:1/shop/deploy.git".into(),
        base_branch: "main".into(),
        base_commit: "0123456789abcdef0123456789abcdef01234567".into(),
        files: vec![GitFile {
            path: "apps/web/deployment.yaml".into(),
            before: "# web\nimage: web:1.2.0 # pinned\n".into(),
            after: "# web\nimage: web:1.2.1 # pinned\n".into(),
        }],
        message: "web: image tag 1.2.0 does not exist; use 1.2.1".into(),
        body: "root cause".into(),
        app: None,
    };
    Proposal {
        patch: change.to_payload(),
        resource_version: change.base_commit.clone(),
        diff: "-image: web:1.2.0 # pinned\n+image: web:1.2.1 # pinned\n".into(),
        ..proposal()
    }
}

/// A Git change goes through the same state machine, with `submitted`
/// between the pull request's opening and its merge; its progress is
/// recorded and audited, and it survives reopening the store.
#[test]
fn a_git_change_is_submitted_then_settled_by_its_pull_request() {
    let f = Fixture::new();
    let a = f.store.propose(git_proposal()).unwrap();
    assert_eq!(a.kind, ActionKind::GitChange);
    let change = a.verified_git_change().unwrap().unwrap();
    assert_eq!(change.files[0].path, "apps/web/deployment.yaml");
    assert_eq!(GitChange::branch(&a.id), format!("guardian/{}", a.id));
    // A cluster patch is not a Git change and cannot be submitted.
    let p = f.store.propose(proposal()).unwrap();
    assert_eq!(p.kind, ActionKind::ClusterPatch);
    assert!(p.verified_git_change().unwrap().is_none());
    f.store.approve(&p.id, &alice(), "").unwrap();
    f.store.claim_for_apply(&p.id, "human:alice").unwrap();
    let err = f
        .store
        .finish_apply(&p.id, ApplyOutcome::Submitted { detail: "x".into() })
        .unwrap_err();
    assert!(
        matches!(err, ActionError::InvalidTransition { .. }),
        "{err:?}"
    );
    assert!(f.store.record_git(&p.id, &GitProgress::default()).is_err());

    // Progress cannot be recorded before the apply starts.
    assert!(f.store.record_git(&a.id, &GitProgress::default()).is_err());
    f.store.approve(&a.id, &alice(), "").unwrap();
    f.store.claim_for_apply(&a.id, "human:alice").unwrap();
    let progress = GitProgress {
        branch: Some(GitChange::branch(&a.id)),
        commit: Some("f".repeat(40)),
        pull_request: Some(7),
        pull_request_url: Some("http://127.0.0.1:1/shop/deploy/pull/7".into()),
        ..GitProgress::default()
    };
    f.store.record_git(&a.id, &progress).unwrap();
    let submitted = f
        .store
        .finish_apply(
            &a.id,
            ApplyOutcome::Submitted {
                detail: "pull request #7 opened".into(),
            },
        )
        .unwrap();
    assert_eq!(submitted.state, State::Submitted);
    assert_eq!(submitted.git.as_ref().unwrap().pull_request, Some(7));
    assert!(submitted.integrity.is_verified());
    // It does not expire while its pull request is open.
    f.clock.advance(TimeDelta::days(3));
    let reopened = f.reopen();
    let again = reopened.get(&a.id).unwrap();
    assert_eq!(again.state, State::Submitted);
    assert_eq!(again.git, submitted.git);
    let merged = GitProgress {
        merge_commit: Some("e".repeat(40)),
        ..progress
    };
    reopened.record_git(&a.id, &merged).unwrap();
    let done = reopened
        .settle_submitted(
            &a.id,
            "system:guardian",
            ApplyOutcome::Applied {
                health: Health::Healthy,
                detail: "merged, synced, Synced and Healthy".into(),
            },
        )
        .unwrap();
    assert_eq!(done.state, State::Applied);
    assert_eq!(
        done.git.as_ref().unwrap().merge_commit.as_deref(),
        Some("e".repeat(40).as_str())
    );
    assert_eq!(
        states(&done),
        [
            State::Pending,
            State::Approved,
            State::Applying,
            State::Submitted,
            State::Applied
        ]
    );
    // Settled once: a second settle is refused.
    assert!(
        reopened
            .settle_submitted(&a.id, "x", ApplyOutcome::Failed { error: "e".into() })
            .is_err()
    );
    let lines = f.action_lines();
    let notes: Vec<String> = lines
        .iter()
        .filter(|l| l["action"] == a.id.as_str())
        .map(|l| l.to_string())
        .collect();
    assert!(
        notes
            .iter()
            .any(|l| l.contains("pull request http://127.0.0.1:1/shop/deploy/pull/7")),
        "{notes:#?}"
    );
    assert!(
        notes.iter().any(|l| l.contains("merged as eeee")),
        "{notes:#?}"
    );
}

/// A Git change that writes outside the repository, or one whose bytes
/// were changed in the store, never reaches a push.
#[test]
fn git_changes_are_checked_and_bound_to_their_bytes() {
    let f = Fixture::new();
    let mut bad = git_proposal();
    let mut change: Value = serde_json::from_slice(&bad.patch).unwrap();
    change["git"]["files"][0]["path"] = json!("../../etc/cron.d/x");
    bad.patch = serde_json::to_vec(&change).unwrap();
    let err = f.store.propose(bad).unwrap_err();
    assert!(
        err.to_string()
            .contains("not a plain repository-relative path"),
        "{err}"
    );

    let a = f.store.propose(git_proposal()).unwrap();
    f.store.approve(&a.id, &alice(), "").unwrap();
    let conn = rusqlite::Connection::open(&f.path).unwrap();
    let mut payload: Value = serde_json::from_slice(&git_proposal().patch).unwrap();
    payload["git"]["repo_url"] = json!("http://127.0.0.1:2/attacker/repo.git");
    conn.execute(
        "UPDATE actions SET patch = ?1 WHERE id = ?2",
        rusqlite::params![serde_json::to_vec(&payload).unwrap(), a.id],
    )
    .unwrap();
    let err = f.store.claim_for_apply(&a.id, "human:alice").unwrap_err();
    assert!(matches!(err, ActionError::Tampered { .. }), "{err:?}");
    assert_eq!(f.store.get(&a.id).unwrap().state, State::Failed);
}

/// A schema-2 store gains the Git progress column on open; its actions
/// keep their MACs and can still be approved.
#[test]
fn a_schema_2_store_is_migrated_to_3() {
    let f = Fixture::new();
    let id = f.store.propose(proposal()).unwrap().id;
    {
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        conn.execute_batch(
            "ALTER TABLE actions DROP COLUMN git_progress; \
             UPDATE meta SET value = '2' WHERE key = 'schema_version';",
        )
        .unwrap();
    }
    let store = f.reopen();
    store.approve(&id, &alice(), "").unwrap();
    assert!(store.get(&id).unwrap().integrity.is_verified());
    let conn = rusqlite::Connection::open(&f.path).unwrap();
    let version: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, "3");
}
