//! Applying an approved Git change, against a loopback Git server (`git
//! http-backend` with token auth) and a GitHub REST double: the branch
//! `guardian/<id>` with exactly the bound files on the base commit, the pull
//! request, the action `submitted` and then settled by the merge; and every
//! failure — a push the server refuses, a repository that cannot be
//! reached, a forge that refuses the pull request — leaves the action
//! `failed` with the reason and nothing half-done in Git.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use guardian_actions::{
    ActionStore, Approver, Channel, GitChange, GitFile, Proposal, Proposer, PullRequestCheck,
    State, StoreOptions, Target,
};
use guardian_broker::{
    Audit, Broker, ForgeAccess, ForgeKind, GitCredential, GitOptions, Policy, RepositoryAccess,
    Snapshot,
};
use guardian_tests::forge::{ErrorMode, ForgeDouble};
use guardian_tests::git::GitServer;
use serde_json::json;

const TOKEN: &str = "gt-apply-Tok3n-91c2";
const FORGE_TOKEN: &str = "fg-apply-Tok3n-5d7e";
const MANIFEST: &str = "# The web tier.\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web # keep\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: \"127.0.0.1:5000/shop/web:1.2.0\" # pinned\n";

struct Setup {
    server: GitServer,
    forge: ForgeDouble,
    broker: Broker,
    store: ActionStore,
    audit: PathBuf,
    url: String,
    base: String,
    _dir: tempfile::TempDir,
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn setup() -> Setup {
    let server = GitServer::start(Some(TOKEN));
    let base = server.create_repo(
        "acme/deploy",
        &[
            ("apps/web/deployment.yaml", MANIFEST),
            ("README.md", "deploy\n"),
        ],
    );
    let forge = ForgeDouble::github(FORGE_TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let options = GitOptions {
        repositories: vec![RepositoryAccess {
            url_prefix: server.url.clone(),
            credential: Some(GitCredential::Token {
                token_file: write(dir.path(), "git-token", TOKEN),
                username: "x-access-token".into(),
            }),
        }],
        forges: vec![ForgeAccess {
            kind: ForgeKind::Github,
            api_url: forge.api_url(),
            repo_prefix: server.url.clone(),
            token_file: write(dir.path(), "forge-token", FORGE_TOKEN),
        }],
        ..Default::default()
    };
    let audit = dir.path().join("audit.jsonl");
    let audit_log = Arc::new(Audit::open(&audit).unwrap());
    let (snapshot, _) = Snapshot::from_values(
        "empty",
        vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})],
    )
    .unwrap();
    let broker = Broker::from_snapshot(
        snapshot,
        Arc::new(Policy::defaults().unwrap()),
        audit_log.clone(),
    )
    .with_git(options);
    let store = ActionStore::open_with(
        &dir.path().join("state/actions.db"),
        audit_log,
        StoreOptions::default(),
    )
    .unwrap();
    let url = server.repo_url("acme/deploy");
    Setup {
        server,
        forge,
        broker,
        store,
        audit,
        url,
        base,
        _dir: dir,
    }
}

fn change(s: &Setup) -> GitChange {
    GitChange {
        repo_url: s.url.clone(),
        base_branch: "main".into(),
        base_commit: s.base.clone(),
        files: vec![GitFile {
            path: "apps/web/deployment.yaml".into(),
            before: MANIFEST.into(),
            after: MANIFEST.replace("web:1.2.0", "web:1.2.1"),
        }],
        message: "deployment/web: set image to 1.2.1\n\nRoot cause: tag 1.2.0 does not exist.\n"
            .into(),
        body: "## Root cause\n\ntag 1.2.0 does not exist\n".into(),
        app: None,
    }
}

fn propose_and_approve(s: &Setup, change: &GitChange) -> String {
    let a = s
        .store
        .propose(Proposal {
            target: Target {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                namespace: Some("shop".into()),
                name: "web".into(),
                resource: "deployments.apps".into(),
            },
            patch: change.to_payload(),
            resource_version: change.base_commit.clone(),
            rationale: "tag 1.2.0 does not exist in the registry".into(),
            proposer: Proposer {
                caller: "agent".into(),
                skill: "diagnostics".into(),
                tool: "analyze".into(),
            },
            dry_run_result: "rendered; dry run passed".into(),
            diff: change.diff(),
            policy_decision: "approved-action".into(),
            ttl: None,
        })
        .unwrap();
    s.store
        .approve(&a.id, &Approver::new(Channel::Cli, "alice").unwrap(), "")
        .unwrap();
    a.id
}

impl Setup {
    fn assert_no_token(&self, texts: &[&str]) {
        let audit = std::fs::read_to_string(&self.audit).unwrap();
        for secret in [TOKEN, FORGE_TOKEN] {
            assert!(!audit.contains(secret), "a token in the audit log");
            for t in texts {
                assert!(!t.contains(secret), "a token in {t}");
            }
        }
    }
}

#[tokio::test]
async fn an_approved_git_change_becomes_a_branch_and_a_pull_request_then_its_merge_settles_it() {
    let s = setup();
    let change = change(&s);
    let id = propose_and_approve(&s, &change);
    let report = guardian_actions::apply(&s.store, &s.broker, &id, "human:alice")
        .await
        .unwrap();
    assert_eq!(
        report.action.state,
        State::Submitted,
        "{:?}",
        report.outcome
    );
    let branch = format!("guardian/{id}");
    let progress = report.action.git.clone().unwrap();
    assert_eq!(progress.branch.as_deref(), Some(branch.as_str()));
    assert_eq!(progress.pull_request, Some(1));
    assert_eq!(
        progress.pull_request_url.as_deref(),
        Some(format!("{}/acme/deploy/pull/1", s.forge.url).as_str())
    );
    // The branch holds exactly the bound files, one commit on the base;
    // main is untouched.
    let files = s.server.files("acme/deploy", &branch);
    assert_eq!(files["apps/web/deployment.yaml"], change.files[0].after);
    assert_eq!(files["README.md"], "deploy\n");
    assert_eq!(s.server.commit_of("acme/deploy", "main").unwrap(), s.base);
    let parents = s.server.git(
        "acme/deploy",
        &["rev-list", "--parents", "-n", "1", &branch],
    );
    assert!(parents.trim().ends_with(&s.base), "{parents}");
    let diff = s
        .server
        .git("acme/deploy", &["diff", "--unified=0", &s.base, &branch]);
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert_eq!(
        changed,
        [
            "-          image: \"127.0.0.1:5000/shop/web:1.2.0\" # pinned",
            "+          image: \"127.0.0.1:5000/shop/web:1.2.1\" # pinned",
        ]
    );
    // The pull request: head, base, title from the message, the body.
    let requests = s.forge.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].body,
        Some(json!({
            "title": "deployment/web: set image to 1.2.1",
            "head": branch, "base": "main",
            "body": change.body,
        }))
    );
    // Open: nothing settles yet; merged: the merge commit is recorded.
    let (_, check) =
        guardian_actions::check_pull_request(&s.store, &s.broker, &id, "system:guardian")
            .await
            .unwrap();
    assert!(matches!(check, PullRequestCheck::Open { .. }), "{check:?}");
    let merge = "b".repeat(40);
    s.forge.merge(1, &merge);
    let (action, check) =
        guardian_actions::check_pull_request(&s.store, &s.broker, &id, "system:guardian")
            .await
            .unwrap();
    assert_eq!(
        check,
        PullRequestCheck::Merged {
            merge_commit: merge.clone()
        }
    );
    assert_eq!(action.state, State::Submitted);
    assert_eq!(action.git.unwrap().merge_commit, Some(merge));
    s.assert_no_token(&[&format!("{:?}", report)]);
}

#[tokio::test]
async fn a_closed_pull_request_fails_the_action() {
    let s = setup();
    let id = propose_and_approve(&s, &change(&s));
    guardian_actions::apply(&s.store, &s.broker, &id, "human:alice")
        .await
        .unwrap();
    s.forge.close(1);
    let (action, check) =
        guardian_actions::check_pull_request(&s.store, &s.broker, &id, "system:guardian")
            .await
            .unwrap();
    assert_eq!(check, PullRequestCheck::Closed);
    assert_eq!(action.state, State::Failed);
    assert!(action.outcome.unwrap().contains("closed without a merge"));
}

/// The forge refuses the pull request: the pushed branch is deleted again,
/// the action fails with the forge's reason.
#[tokio::test]
async fn a_forge_error_fails_the_action_and_removes_its_branch() {
    let s = setup();
    let id = propose_and_approve(&s, &change(&s));
    s.forge.set_error(ErrorMode::ServerError);
    let report = guardian_actions::apply(&s.store, &s.broker, &id, "human:alice")
        .await
        .unwrap();
    assert_eq!(report.action.state, State::Failed);
    let outcome = report.action.outcome.clone().unwrap();
    assert!(
        outcome.contains("the pull request was not opened"),
        "{outcome}"
    );
    assert!(outcome.contains("was deleted again"), "{outcome}");
    let branches = s.server.branches("acme/deploy");
    assert_eq!(
        branches.keys().collect::<Vec<_>>(),
        ["main"],
        "{branches:?}"
    );
    assert_eq!(s.server.commit_of("acme/deploy", "main").unwrap(), s.base);
    s.assert_no_token(&[&outcome]);
}

#[tokio::test]
async fn a_refused_push_fails_the_action_and_leaves_no_branch() {
    let s = setup();
    let id = propose_and_approve(&s, &change(&s));
    s.server
        .refuse_pushes("acme/deploy", "pushes are frozen for the release");
    let report = guardian_actions::apply(&s.store, &s.broker, &id, "human:alice")
        .await
        .unwrap();
    assert_eq!(report.action.state, State::Failed);
    let outcome = report.action.outcome.clone().unwrap();
    assert!(outcome.contains("was not pushed"), "{outcome}");
    assert!(
        outcome.contains("pushes are frozen for the release"),
        "{outcome}"
    );
    assert_eq!(
        s.server.branches("acme/deploy").keys().collect::<Vec<_>>(),
        ["main"]
    );
    assert!(s.forge.requests().is_empty(), "no pull request asked");
    s.assert_no_token(&[&outcome]);
}

#[tokio::test]
async fn an_unreachable_repository_fails_the_action() {
    let mut s = setup();
    let id = propose_and_approve(&s, &change(&s));
    s.server.stop();
    let report = guardian_actions::apply(&s.store, &s.broker, &id, "human:alice")
        .await
        .unwrap();
    assert_eq!(report.action.state, State::Failed);
    let outcome = report.action.outcome.clone().unwrap();
    assert!(
        outcome.contains("cannot be reached") || outcome.contains("unable to access"),
        "{outcome}"
    );
    assert!(s.forge.requests().is_empty());
    s.assert_no_token(&[&outcome]);
}

/// Without a person's approval nothing is pushed: the store refuses the
/// claim, and the server sees no request.
#[tokio::test]
async fn an_unapproved_git_change_is_never_pushed() {
    let s = setup();
    let change = change(&s);
    let id = propose_and_approve(&s, &change);
    // A second, pending one.
    let pending = s
        .store
        .propose(Proposal {
            patch: GitChange {
                message: "other".into(),
                ..change.clone()
            }
            .to_payload(),
            ..s.store
                .get(&id)
                .map(|a| Proposal {
                    target: a.target,
                    patch: Vec::new(),
                    resource_version: a.resource_version,
                    rationale: a.rationale,
                    proposer: a.proposer,
                    dry_run_result: a.dry_run_result,
                    diff: a.diff,
                    policy_decision: a.policy_decision,
                    ttl: None,
                })
                .unwrap()
        })
        .unwrap();
    let before = s.server.requests().len();
    let err = guardian_actions::apply(&s.store, &s.broker, &pending.id, "human:alice")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("approve it first"), "{err}");
    assert_eq!(s.server.requests().len(), before);
    assert!(s.forge.requests().is_empty());
}
