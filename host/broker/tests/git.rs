//! Git and forges through the broker, against a loopback Git server (`git
//! http-backend` with token auth) and GitHub/GitLab REST doubles: fetch at a
//! revision, push of a new branch (approved, refused by policy, refused by
//! the server, to the base branch), pull requests and every error mode; and
//! the credential in no audit line and no error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use guardian_broker::{
    Audit, BranchPush, Broker, BrokerError, CallContext, ForgeAccess, ForgeKind, GitCredential,
    GitOptions, NewPullRequest, Policy, PrState, RepositoryAccess, Snapshot,
};
use guardian_policy::ActionRef;
use guardian_tests::forge::{ErrorMode, ForgeDouble, RATE_LIMIT_RESET};
use guardian_tests::git::GitServer;
use serde_json::json;

const TOKEN: &str = "gt-s3cr3t-Tok3n-7f1d";
const FORGE_TOKEN: &str = "fg-s3cr3t-Tok3n-2b9c";

struct Setup {
    broker: Broker,
    server: GitServer,
    audit: PathBuf,
    dir: tempfile::TempDir,
}

impl Setup {
    fn audit_text(&self) -> String {
        std::fs::read_to_string(&self.audit).unwrap()
    }

    fn audit_lines(&self) -> Vec<serde_json::Value> {
        self.audit_text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The token appears nowhere the broker wrote.
    fn assert_no_token(&self, errors: &[&BrokerError]) {
        let audit = self.audit_text();
        for secret in [TOKEN, FORGE_TOKEN] {
            assert!(!audit.contains(secret), "token in the audit log: {audit}");
            for e in errors {
                assert!(!e.to_string().contains(secret), "token in {e}");
                assert!(!format!("{e:?}").contains(secret), "token in {e:?}");
            }
        }
    }
}

fn write_file(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn options(dir: &Path, server: &GitServer, token: &str) -> GitOptions {
    GitOptions {
        repositories: vec![RepositoryAccess {
            url_prefix: server.url.clone(),
            credential: Some(GitCredential::Token {
                token_file: write_file(dir, "git-token", &format!("{token}\n")),
                username: "x-access-token".into(),
            }),
        }],
        author_name: "Guardian Bot".into(),
        author_email: "bot@guardian.test".into(),
        ..Default::default()
    }
}

fn broker(dir: &Path, policy: Policy, options: GitOptions) -> (Broker, PathBuf) {
    let audit = dir.join("audit.jsonl");
    let (snapshot, _) = Snapshot::from_values(
        "empty",
        vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})],
    )
    .unwrap();
    let broker = Broker::from_snapshot(
        snapshot,
        Arc::new(policy),
        Arc::new(Audit::open(&audit).unwrap()),
    )
    .with_git(options);
    (broker, audit)
}

/// A server with repository `shop` holding two files on `main`, and a
/// broker allowed to reach it with the right token (`token` in its file).
fn setup_with(token: &str) -> Setup {
    let server = GitServer::start(Some(TOKEN));
    server.create_repo(
        "shop",
        &[
            ("apps/web/deployment.yaml", "image: web:1.0\n"),
            ("README.md", "shop\n"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let options = options(dir.path(), &server, token);
    let (broker, audit) = broker(dir.path(), Policy::defaults().unwrap(), options);
    Setup {
        broker,
        server,
        audit,
        dir,
    }
}

fn setup() -> Setup {
    setup_with(TOKEN)
}

/// The service layer's context: the host acting for a person, allowed to
/// propose branches and pull requests.
fn cx() -> CallContext {
    let mut cx = CallContext::host_for("human:alice", "gitops");
    cx.grants.propose = vec![
        "branches.git.guardian.dev".into(),
        "pullrequests.forge.guardian.dev".into(),
    ];
    cx
}

fn approved() -> ActionRef {
    ActionRef {
        id: "act-7".into(),
        approved: true,
        approver: "human:alice".into(),
    }
}

fn push_of(s: &Setup, branch: &str) -> BranchPush {
    BranchPush {
        url: s.server.repo_url("shop"),
        base_branch: "main".into(),
        base_commit: s.server.commit_of("shop", "main").unwrap(),
        branch: branch.into(),
        files: vec![
            ("apps/web/deployment.yaml".into(), "image: web:1.1\n".into()),
            ("apps/web/new.yaml".into(), "kind: ConfigMap\n".into()),
        ],
        message: "web: image 1.1\n\nProposed by Guardian.".into(),
    }
}

/// `git ls-remote` against the server, as anyone would check it.
fn ls_remote(server: &GitServer, repo: &str) -> String {
    let url = server
        .repo_url(repo)
        .replace("http://", &format!("http://u:{TOKEN}@"));
    let out = std::process::Command::new("git")
        .args(["ls-remote", &url])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn fetch_at_a_branch_a_tag_and_a_commit() {
    let s = setup();
    let first = s.server.commit_of("shop", "main").unwrap();
    s.server.git("shop", &["tag", "v1", &first]);
    let second = s.server.commit(
        "shop",
        "main",
        &[("apps/web/deployment.yaml", "image: web:2.0\n")],
        "web 2.0",
    );
    let url = s.server.repo_url("shop");

    let at_main = s.broker.git_fetch(&cx(), &url, "main").await.unwrap();
    assert_eq!(at_main.commit, second);
    assert_eq!(
        (at_main.url.as_str(), at_main.revision.as_str()),
        (url.as_str(), "main")
    );
    let read = |dir: &Path| std::fs::read_to_string(dir.join("apps/web/deployment.yaml")).unwrap();
    assert_eq!(read(at_main.dir.path()), "image: web:2.0\n");

    let at_head = s.broker.git_fetch(&cx(), &url, "HEAD").await.unwrap();
    assert_eq!(at_head.commit, second);

    let at_commit = s.broker.git_fetch(&cx(), &url, &first).await.unwrap();
    assert_eq!(at_commit.commit, first);
    assert_eq!(read(at_commit.dir.path()), "image: web:1.0\n");
    assert_eq!(
        std::fs::read_to_string(at_commit.dir.path().join("README.md")).unwrap(),
        "shop\n"
    );

    let at_tag = s.broker.git_fetch(&cx(), &url, "v1").await.unwrap();
    assert_eq!(at_tag.commit, first);
    // The branch a change would be proposed into: the branch itself, the
    // default branch for HEAD, none for a tag or a commit.
    assert_eq!(at_main.branch.as_deref(), Some("main"));
    assert_eq!(at_head.branch.as_deref(), Some("main"));
    assert_eq!(at_commit.branch, None);
    assert_eq!(at_tag.branch, None);

    let missing = s
        .broker
        .git_fetch(&cx(), &url, "no-such-branch")
        .await
        .unwrap_err();
    assert_eq!(missing.kind_str(), "not-found", "{missing}");
    assert!(missing.to_string().contains("no-such-branch"), "{missing}");

    // The token reached the server as basic auth from askpass.
    assert!(
        s.server
            .requests()
            .iter()
            .any(|r| r.user.as_deref() == Some("x-access-token") && r.status == 200)
    );
    let lines = s.audit_lines();
    assert_eq!(lines.len(), 5, "one line per fetch: {lines:#?}");
    let line = &lines[0];
    assert_eq!(line["verb"], "get");
    assert_eq!(line["resource"], "git.guardian.dev/v1/repositories");
    assert_eq!(line["name"], url);
    assert_eq!(line["decision"], "allow");
    assert_eq!(line["rule"], "reads-within-grants");
    let reasons = line["reasons"].to_string();
    assert!(
        reasons.contains(&format!("git fetch {url} at main")),
        "{reasons}"
    );
    assert!(reasons.contains(&second), "{reasons}");
    assert_eq!(lines[4]["error"], "not-found");
    s.assert_no_token(&[&missing]);
    // The checkout is the caller's: gone once dropped.
    let path = at_main.dir.path().to_owned();
    drop(at_main);
    assert!(!path.exists());
}

#[tokio::test]
async fn an_approved_push_adds_one_commit_on_the_base_with_the_files_and_author() {
    let s = setup();
    let base = s.server.commit_of("shop", "main").unwrap();
    let push = push_of(&s, "guardian/act-7");
    let pushed = s
        .broker
        .git_push_branch(&cx(), &approved(), &push)
        .await
        .unwrap();
    assert_eq!(pushed.branch, "guardian/act-7");
    let branches = s.server.branches("shop");
    assert_eq!(branches.get("guardian/act-7"), Some(&pushed.commit));
    assert_eq!(branches.get("main"), Some(&base), "main is untouched");
    let parents = s.server.git(
        "shop",
        &["rev-list", "--parents", "-n", "1", &pushed.commit],
    );
    assert_eq!(parents.trim(), format!("{} {base}", pushed.commit));
    let count = s.server.git(
        "shop",
        &["rev-list", "--count", &format!("{base}..{}", pushed.commit)],
    );
    assert_eq!(count.trim(), "1");
    let files = s.server.files("shop", "guardian/act-7");
    assert_eq!(
        files.into_iter().collect::<Vec<_>>(),
        vec![
            ("README.md".to_owned(), "shop\n".to_owned()),
            ("apps/web/deployment.yaml".into(), "image: web:1.1\n".into()),
            ("apps/web/new.yaml".into(), "kind: ConfigMap\n".into()),
        ]
    );
    let who = s.server.git(
        "shop",
        &[
            "log",
            "-1",
            "--format=%an <%ae>|%cn <%ce>|%B",
            &pushed.commit,
        ],
    );
    assert_eq!(
        who.trim(),
        "Guardian Bot <bot@guardian.test>|Guardian Bot <bot@guardian.test>|web: image 1.1\n\nProposed by Guardian."
    );
    assert!(ls_remote(&s.server, "shop").contains("refs/heads/guardian/act-7"));

    let lines = s.audit_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert_eq!(line["verb"], "create");
    assert_eq!(line["resource"], "git.guardian.dev/v1/branches");
    assert_eq!(
        line["name"],
        format!("{}#guardian/act-7", s.server.repo_url("shop"))
    );
    assert_eq!(line["rule"], "approved-action");
    assert_eq!(line["dry_run"], false);
    let reasons = line["reasons"].to_string();
    assert!(
        reasons.contains("action act-7 approved by human:alice"),
        "{reasons}"
    );
    assert!(reasons.contains(&format!("on main@{base}")), "{reasons}");
    assert!(
        reasons.contains(&format!("pushed commit {}", pushed.commit)),
        "{reasons}"
    );
    s.assert_no_token(&[]);
}

#[tokio::test]
async fn a_push_without_approval_is_denied_and_reaches_nothing() {
    let s = setup();
    let unapproved = ActionRef {
        approved: false,
        ..approved()
    };
    let err = s
        .broker
        .git_push_branch(&cx(), &unapproved, &push_of(&s, "guardian/x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "denied", "{err}");
    assert!(
        err.to_string().contains("branches.git.guardian.dev"),
        "{err}"
    );
    assert!(s.server.requests().is_empty(), "the server was asked");
    assert_eq!(s.server.branches("shop").len(), 1);
    let lines = s.audit_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["decision"], "deny");

    // A policy that allows the create but only as a dry run: refused,
    // since a push has no dry run.
    let lenient = Policy::with_modules(&[(
        "ops/lenient.rego".into(),
        "package guardian\nimport rego.v1\nallow contains \"ops-creates\" if input.verb == \"create\"\n"
            .into(),
    )])
    .unwrap();
    let (broker, audit) = broker(
        s.dir.path(),
        lenient,
        options(s.dir.path(), &s.server, TOKEN),
    );
    let err = broker
        .git_push_branch(&cx(), &unapproved, &push_of(&s, "guardian/x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "denied", "{err}");
    assert!(err.to_string().contains("no dry run of a push"), "{err}");
    assert!(s.server.requests().is_empty(), "the server was asked");
    let last = std::fs::read_to_string(audit).unwrap();
    let last: serde_json::Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert_eq!(last["decision"], "deny");
    assert_eq!(last["rule"], "ops-creates");
}

#[tokio::test]
async fn pushes_to_the_base_branch_or_an_existing_branch_are_refused() {
    let s = setup();
    let main = s.server.commit_of("shop", "main").unwrap();
    let err = s
        .broker
        .git_push_branch(&cx(), &approved(), &push_of(&s, "main"))
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "invalid", "{err}");
    assert!(err.to_string().contains("base or default branch"), "{err}");
    // The default branch, even when another base is named.
    s.server
        .commit("shop", "release", &[("r.txt", "r\n")], "release");
    let mut to_default = push_of(&s, "main");
    to_default.base_branch = "release".into();
    to_default.base_commit = s.server.commit_of("shop", "release").unwrap();
    let err = s
        .broker
        .git_push_branch(&cx(), &approved(), &to_default)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("base or default branch"), "{err}");
    assert_eq!(s.server.commit_of("shop", "main"), Some(main.clone()));

    let existing = s
        .server
        .commit("shop", "taken", &[("t.txt", "t\n")], "taken");
    let err = s
        .broker
        .git_push_branch(&cx(), &approved(), &push_of(&s, "taken"))
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "conflict", "{err}");
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(s.server.commit_of("shop", "taken"), Some(existing));
    assert_eq!(s.server.commit_of("shop", "main"), Some(main));
}

#[tokio::test]
async fn a_push_the_server_refuses_leaves_no_branch() {
    let s = setup();
    // The hook's message even repeats the token: it is scrubbed from
    // what git says before it reaches the error.
    s.server.refuse_pushes(
        "shop",
        &format!("pushes are frozen until Monday (seen: {TOKEN})"),
    );
    let err = s
        .broker
        .git_push_branch(&cx(), &approved(), &push_of(&s, "guardian/frozen"))
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "denied", "{err}");
    let text = err.to_string();
    assert!(text.contains("pushes are frozen until Monday"), "{text}");
    assert!(
        text.contains("refused the push of guardian/frozen"),
        "{text}"
    );
    let remote = ls_remote(&s.server, "shop");
    assert!(!remote.contains("guardian/frozen"), "{remote}");
    assert_eq!(s.server.branches("shop").len(), 1);
    let lines = s.audit_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["error"], "denied");
    assert!(lines[0]["reasons"].to_string().contains("frozen"));
    s.assert_no_token(&[&err]);
}

#[tokio::test]
async fn a_wrong_token_is_a_clear_denial_without_the_token() {
    let wrong = "wrong-s3cr3t-Tok3n-0000";
    let s = setup_with(wrong);
    let url = s.server.repo_url("shop");
    let fetch = s.broker.git_fetch(&cx(), &url, "main").await.unwrap_err();
    assert_eq!(fetch.kind_str(), "denied", "{fetch}");
    assert!(
        fetch.to_string().contains("refused the credential"),
        "{fetch}"
    );
    assert!(
        fetch
            .to_string()
            .contains("gitops.repositories[].credential"),
        "{fetch}"
    );
    let push = s
        .broker
        .git_push_branch(&cx(), &approved(), &push_of(&s, "guardian/x"))
        .await
        .unwrap_err();
    assert_eq!(push.kind_str(), "denied", "{push}");
    assert_eq!(s.server.branches("shop").len(), 1);
    s.assert_no_token(&[&fetch, &push]);
    for e in [&fetch, &push] {
        assert!(!e.to_string().contains(wrong), "{e}");
        assert!(!format!("{e:?}").contains(wrong), "{e:?}");
    }
    assert!(!s.audit_text().contains(wrong));
}

#[tokio::test]
async fn a_stopped_server_is_unreachable_and_an_unlisted_repository_is_never_asked() {
    let mut s = setup();
    let url = s.server.repo_url("shop");
    let elsewhere = "http://127.0.0.1:9/other/repo.git";
    let err = s
        .broker
        .git_fetch(&cx(), elsewhere, "main")
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "denied", "{err}");
    assert!(err.to_string().contains("gitops.repositories"), "{err}");
    assert!(s.server.requests().is_empty());

    s.server.stop();
    let err = s.broker.git_fetch(&cx(), &url, "main").await.unwrap_err();
    assert_eq!(err.kind_str(), "unavailable", "{err}");
    assert!(err.to_string().contains("cannot be reached"), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
    let push = s
        .broker
        .git_push_branch(&cx(), &approved(), &push_of(&s, "guardian/x"))
        .await
        .unwrap_err();
    assert_eq!(push.kind_str(), "unavailable", "{push}");
    s.assert_no_token(&[&err, &push]);
}

fn forge_setup(kind: ForgeKind, double: &ForgeDouble) -> (Setup, String) {
    let s = setup();
    let token_file = write_file(s.dir.path(), "forge-token", &format!("  {FORGE_TOKEN}\n"));
    let mut options = options(s.dir.path(), &s.server, TOKEN);
    options.forges = vec![ForgeAccess {
        kind,
        api_url: double.api_url(),
        repo_prefix: s.server.url.clone(),
        token_file,
    }];
    let (broker, audit) = broker(s.dir.path(), Policy::defaults().unwrap(), options);
    let url = format!("{}acme/shop.git", s.server.url);
    (Setup { broker, audit, ..s }, url)
}

fn new_pr(url: &str) -> NewPullRequest {
    NewPullRequest {
        repo_url: url.into(),
        head: "guardian/act-7".into(),
        base: "main".into(),
        title: "web: image 1.1".into(),
        body: "Proposed by Guardian (act-7).".into(),
    }
}

#[tokio::test]
async fn github_pull_requests_are_opened_and_read_with_the_api_shapes() {
    let double = ForgeDouble::github(FORGE_TOKEN);
    let (s, url) = forge_setup(ForgeKind::Github, &double);
    let pr = s
        .broker
        .open_pull_request(&cx(), &approved(), &new_pr(&url))
        .await
        .unwrap();
    assert_eq!(pr.number, 1);
    assert_eq!(pr.url, format!("{}/acme/shop/pull/1", double.url));
    assert_eq!(pr.state, PrState::Open);
    assert_eq!(
        (pr.head.as_str(), pr.base.as_str()),
        ("guardian/act-7", "main")
    );

    let requests = double.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/repos/acme/shop/pulls")
    );
    assert_eq!(r.headers["authorization"], format!("Bearer {FORGE_TOKEN}"));
    assert_eq!(r.headers["accept"], "application/vnd.github+json");
    assert_eq!(r.headers["x-github-api-version"], "2022-11-28");
    assert!(r.headers["user-agent"].starts_with("guardian/"), "{r:?}");
    assert_eq!(
        r.body,
        Some(json!({
            "title": "web: image 1.1", "head": "guardian/act-7", "base": "main",
            "body": "Proposed by Guardian (act-7).",
        }))
    );

    let read = s.broker.pull_request(&cx(), &url, 1).await.unwrap();
    assert_eq!(read, pr);
    let merge = "a".repeat(40);
    double.merge(1, &merge);
    let read = s.broker.pull_request(&cx(), &url, 1).await.unwrap();
    assert_eq!(
        read.state,
        PrState::Merged {
            merge_commit: merge
        }
    );
    let r = double.requests().pop().unwrap();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("GET", "/repos/acme/shop/pulls/1")
    );
    assert_eq!(r.headers["authorization"], format!("Bearer {FORGE_TOKEN}"));
    assert_eq!(r.body, None);

    let lines = s.audit_lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(lines[0]["resource"], "forge.guardian.dev/v1/pullrequests");
    assert_eq!(lines[0]["verb"], "create");
    assert_eq!(lines[0]["name"], format!("{url}#guardian/act-7"));
    assert_eq!(lines[0]["rule"], "approved-action");
    assert!(
        lines[0]["reasons"]
            .to_string()
            .contains(&format!("opened #1 {}", pr.url)),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1]["verb"], "get");
    assert_eq!(lines[1]["name"], format!("{url}#1"));

    let errors = error_modes(&s, &url, &double).await;
    let [exists, unauthorized, server, limited, missing] = &errors;
    assert!(
        exists
            .to_string()
            .contains("A pull request already exists for acme:guardian/other"),
        "{exists}"
    );
    assert!(limited.to_string().contains("HTTP 403"), "{limited}");
    assert!(
        limited.to_string().contains("(x-ratelimit-reset)"),
        "{limited}"
    );
    assert!(missing.to_string().contains("HTTP 404"), "{missing}");
    let _ = (unauthorized, server);
    s.assert_no_token(&errors.iter().collect::<Vec<_>>());
}

#[tokio::test]
async fn gitlab_merge_requests_are_opened_and_read_with_the_api_shapes() {
    let double = ForgeDouble::gitlab(FORGE_TOKEN);
    let (s, url) = forge_setup(ForgeKind::Gitlab, &double);
    let pr = s
        .broker
        .open_pull_request(&cx(), &approved(), &new_pr(&url))
        .await
        .unwrap();
    assert_eq!(pr.number, 1);
    assert_eq!(
        pr.url,
        format!("{}/acme/shop/-/merge_requests/1", double.url)
    );
    assert_eq!(pr.state, PrState::Open);
    let r = &double.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/api/v4/projects/acme%2Fshop/merge_requests")
    );
    assert_eq!(r.headers["private-token"], FORGE_TOKEN);
    assert!(!r.headers.contains_key("authorization"), "{r:?}");
    assert_eq!(
        r.body,
        Some(json!({
            "source_branch": "guardian/act-7", "target_branch": "main",
            "title": "web: image 1.1", "description": "Proposed by Guardian (act-7).",
        }))
    );
    double.merge(1, &"b".repeat(40));
    let read = s.broker.pull_request(&cx(), &url, 1).await.unwrap();
    assert_eq!(
        read.state,
        PrState::Merged {
            merge_commit: "b".repeat(40)
        }
    );
    let r = double.requests().pop().unwrap();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("GET", "/api/v4/projects/acme%2Fshop/merge_requests/1")
    );
    assert_eq!(r.headers["private-token"], FORGE_TOKEN);

    let errors = error_modes(&s, &url, &double).await;
    let [exists, _, _, limited, _] = &errors;
    assert!(
        exists
            .to_string()
            .contains("Another open merge request already exists"),
        "{exists}"
    );
    assert!(limited.to_string().contains("HTTP 429"), "{limited}");
    assert!(
        limited.to_string().contains("(ratelimit-reset)"),
        "{limited}"
    );
    s.assert_no_token(&errors.iter().collect::<Vec<_>>());
}

/// Each error mode of the double, and a pull request that does not exist:
/// [exists, unauthorized, server error, rate limited, not found].
async fn error_modes(s: &Setup, url: &str, double: &ForgeDouble) -> [BrokerError; 5] {
    let open = async |mode| {
        double.set_error(mode);
        let mut pr = new_pr(url);
        pr.head = "guardian/other".into();
        s.broker
            .open_pull_request(&cx(), &approved(), &pr)
            .await
            .unwrap_err()
    };
    let exists = open(ErrorMode::Exists).await;
    assert_eq!(exists.kind_str(), "conflict", "{exists}");
    assert!(exists.to_string().contains("already open"), "{exists}");
    let unauthorized = open(ErrorMode::Unauthorized).await;
    assert_eq!(unauthorized.kind_str(), "denied", "{unauthorized}");
    assert!(
        unauthorized.to_string().contains("HTTP 401"),
        "{unauthorized}"
    );
    assert!(
        unauthorized
            .to_string()
            .contains("gitops.forges[].token_file"),
        "{unauthorized}"
    );
    let server = open(ErrorMode::ServerError).await;
    assert_eq!(server.kind_str(), "unavailable", "{server}");
    assert!(server.to_string().contains("HTTP 500"), "{server}");
    let limited = open(ErrorMode::RateLimited).await;
    assert_eq!(limited.kind_str(), "unavailable", "{limited}");
    let text = limited.to_string();
    assert!(text.contains("rate limited"), "{text}");
    assert!(text.contains("retry after 60 s"), "{text}");
    assert!(text.contains(&RATE_LIMIT_RESET.to_string()), "{text}");
    double.set_error(ErrorMode::None);
    let missing = s.broker.pull_request(&cx(), url, 99).await.unwrap_err();
    assert_eq!(missing.kind_str(), "not-found", "{missing}");
    let audit = s.audit_text();
    assert!(audit.contains("\"error\":\"conflict\""), "{audit}");
    [exists, unauthorized, server, limited, missing]
}

#[tokio::test]
async fn a_pull_request_needs_a_configured_forge_and_an_approved_action() {
    let double = ForgeDouble::github(FORGE_TOKEN);
    let (s, url) = forge_setup(ForgeKind::Github, &double);
    let elsewhere = "https://github.com/acme/shop.git";
    let err = s
        .broker
        .open_pull_request(&cx(), &approved(), &new_pr(elsewhere))
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "denied", "{err}");
    assert!(err.to_string().contains("gitops.forges"), "{err}");
    let unapproved = ActionRef {
        approver: "agent:loop".into(),
        ..approved()
    };
    let err = s
        .broker
        .open_pull_request(&cx(), &unapproved, &new_pr(&url))
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "denied", "{err}");
    assert!(double.requests().is_empty(), "the forge was asked");
}

/// A server that accepts connections and never answers: git and the forge
/// client give up after `gitops.timeout` and say so.
#[tokio::test]
async fn a_silent_server_is_a_timeout_naming_the_setting() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", silent.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let options = GitOptions {
        repositories: vec![RepositoryAccess {
            url_prefix: base.clone(),
            credential: None,
        }],
        forges: vec![ForgeAccess {
            kind: ForgeKind::Github,
            api_url: base.trim_end_matches('/').to_owned(),
            repo_prefix: base.clone(),
            token_file: write_file(dir.path(), "forge-token", FORGE_TOKEN),
        }],
        timeout: std::time::Duration::from_secs(1),
        ..Default::default()
    };
    let (broker, _) = broker(dir.path(), Policy::defaults().unwrap(), options);
    let url = format!("{base}acme/shop.git");
    let err = broker.git_fetch(&cx(), &url, "main").await.unwrap_err();
    assert_eq!(err.kind_str(), "timeout", "{err}");
    assert!(err.to_string().contains("gitops.timeout"), "{err}");
    let err = broker.pull_request(&cx(), &url, 1).await.unwrap_err();
    assert_eq!(err.kind_str(), "timeout", "{err}");
    assert!(err.to_string().contains("gitops.timeout"), "{err}");
    drop(silent);
}

/// A base commit the server does not have, and a change that changes
/// nothing: refused before anything is pushed.
#[tokio::test]
async fn an_unknown_base_or_an_empty_change_pushes_nothing() {
    let s = setup();
    let mut push = push_of(&s, "guardian/unknown-base");
    push.base_commit = "0123456789abcdef0123456789abcdef01234567".into();
    let err = s
        .broker
        .git_push_branch(&cx(), &approved(), &push)
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "not-found", "{err}");
    assert!(
        err.to_string().contains("has no commit 0123456789abcdef"),
        "{err}"
    );

    let mut same = push_of(&s, "guardian/same");
    same.files = vec![("README.md".into(), "shop\n".into())];
    let err = s
        .broker
        .git_push_branch(&cx(), &approved(), &same)
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "invalid", "{err}");
    assert!(err.to_string().contains("nothing to push"), "{err}");
    assert_eq!(s.server.branches("shop").len(), 1);
    let lines = s.audit_lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["error"], "not-found");
    assert_eq!(lines[1]["error"], "invalid");
}

/// SSH, as GitHub's and GitLab's: a real OpenSSH server on loopback. With
/// the key and the host's key in `known_hosts_file`, a fetch and an
/// approved push work; an unknown host key is refused (never trusted on
/// first use) with the setting to fix; a key the server does not take is a
/// denial. The private key is in no error and no audit line.
#[tokio::test]
async fn over_ssh_a_known_host_and_a_key_fetch_and_push_and_an_unknown_host_is_refused() {
    use guardian_tests::git::{REQUIRE_SSH_ENV, SshGit};
    let server = GitServer::start(Some(TOKEN));
    let base = server.create_repo(
        "shop",
        &[
            ("apps/web/deployment.yaml", "image: web:1.0\n"),
            ("README.md", "shop\n"),
        ],
    );
    let ssh = match SshGit::start(&server) {
        Ok(ssh) => ssh,
        Err(e) => {
            assert!(
                std::env::var(REQUIRE_SSH_ENV).is_err(),
                "the SSH server must run: {e}"
            );
            eprintln!("skipped: {e}");
            return;
        }
    };
    let url = ssh.repo_url("shop");
    let private_key = std::fs::read_to_string(&ssh.client_key).unwrap();
    let key_body: String = private_key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let with = |key: &Path, known: Option<&Path>| GitOptions {
        repositories: vec![RepositoryAccess {
            url_prefix: ssh.url_prefix(),
            credential: Some(GitCredential::SshKey {
                ssh_key_file: key.to_owned(),
                known_hosts_file: known.map(Path::to_owned),
            }),
        }],
        author_name: "Guardian Bot".into(),
        author_email: "bot@guardian.test".into(),
        ..Default::default()
    };

    // The key and the known host: fetch, and an approved push.
    let dir = tempfile::tempdir().unwrap();
    let (good, audit) = broker(
        dir.path(),
        Policy::defaults().unwrap(),
        with(&ssh.client_key, Some(&ssh.known_hosts)),
    );
    let checkout = good.git_fetch(&cx(), &url, "main").await.unwrap();
    assert_eq!(checkout.commit, base);
    assert_eq!(checkout.branch.as_deref(), Some("main"));
    let push = BranchPush {
        url: url.clone(),
        base_branch: "main".into(),
        base_commit: base.clone(),
        branch: "guardian/act-7".into(),
        files: vec![("apps/web/deployment.yaml".into(), "image: web:1.1\n".into())],
        message: "web: image 1.1".into(),
    };
    let pushed = good
        .git_push_branch(&cx(), &approved(), &push)
        .await
        .unwrap();
    assert_eq!(
        server.branches("shop").get("guardian/act-7"),
        Some(&pushed.commit)
    );
    assert_eq!(
        server.files("shop", "guardian/act-7")["apps/web/deployment.yaml"],
        "image: web:1.1\n"
    );
    assert_eq!(server.commit_of("shop", "main").unwrap(), base);

    // No known host key: refused before anything is sent, saying what to set.
    let dir2 = tempfile::tempdir().unwrap();
    let (unknown, _) = broker(
        dir2.path(),
        Policy::defaults().unwrap(),
        with(&ssh.client_key, None),
    );
    let refused = unknown.git_fetch(&cx(), &url, "main").await.unwrap_err();
    assert_eq!(refused.kind_str(), "denied", "{refused}");
    assert!(
        refused.to_string().contains("SSH host key")
            && refused.to_string().contains("known_hosts_file"),
        "{refused}"
    );

    // A key the server does not accept: a denial naming the credential.
    let dir3 = tempfile::tempdir().unwrap();
    let (other, _) = broker(
        dir3.path(),
        Policy::defaults().unwrap(),
        with(&ssh.other_key, Some(&ssh.known_hosts)),
    );
    let denied = other.git_fetch(&cx(), &url, "main").await.unwrap_err();
    assert_eq!(denied.kind_str(), "denied", "{denied}");
    assert!(
        denied.to_string().contains("refused the credential"),
        "{denied}"
    );
    let second_push = BranchPush {
        branch: "guardian/act-8".into(),
        ..push
    };
    let denied_push = other
        .git_push_branch(&cx(), &approved(), &second_push)
        .await
        .unwrap_err();
    assert_eq!(denied_push.kind_str(), "denied", "{denied_push}");
    assert!(!server.branches("shop").contains_key("guardian/act-8"));

    // The private key is nowhere.
    let audit = std::fs::read_to_string(audit).unwrap();
    for text in [
        audit,
        refused.to_string(),
        denied.to_string(),
        denied_push.to_string(),
        format!("{refused:?}{denied:?}"),
    ] {
        assert!(!text.contains(&key_body), "the private key leaked: {text}");
    }
}
