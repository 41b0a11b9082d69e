//! Git, through the broker like every other call: fetch a repository at a
//! revision, push a new branch, decided by policy and audited.
//!
//! A fetch is decided as a `get` of the pseudo-resource
//! `repositories.git.guardian.dev` (`input.name` is the URL without
//! credentials); a push as a `create` of `branches.git.guardian.dev`
//! (`input.name` is `URL#BRANCH`) carrying a human-approved action, and
//! refused when policy allows only a dry run: there is no dry run of a push.
//! A repository is reached only when [`GitOptions::repositories`] lists it;
//! anything else is refused before any connection. Each call leaves one
//! audit line with the URL, the revision or branch, the commit, or the
//! error. Git runs as the `git` binary ([`run`]); its credential never
//! reaches the command line, a URL, an audit line or an error.

mod options;
mod run;

use std::path::Path;

pub(crate) use options::read_token;
pub use options::{
    DEFAULT_GIT_TIMEOUT, ForgeAccess, ForgeKind, GitCredential, GitOptions, RepositoryAccess,
};
use run::{Git, io_error};

use crate::gate::{Request, truncate};
use crate::{Broker, BrokerError, CallContext, ResourceKind};

/// The group of the Git pseudo-resources.
pub const GIT_GROUP: &str = "git.guardian.dev";
/// A fetch: `get` of `repositories.git.guardian.dev`.
pub const REPOSITORIES_RESOURCE: &str = "repositories";
/// A push of a branch: `create` of `branches.git.guardian.dev`.
pub const BRANCHES_RESOURCE: &str = "branches";

fn git_kind(plural: &str, singular: &str, kind: &str, verb: &str) -> ResourceKind {
    ResourceKind {
        group: GIT_GROUP.into(),
        version: "v1".into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: singular.into(),
        short_names: Vec::new(),
        namespaced: false,
        verbs: vec![verb.into()],
    }
}

/// What policy sees for a fetch.
pub fn repositories_kind() -> ResourceKind {
    git_kind(REPOSITORIES_RESOURCE, "repository", "GitRepository", "get")
}

/// What policy sees for a push of a branch.
pub fn branches_kind() -> ResourceKind {
    git_kind(BRANCHES_RESOURCE, "branch", "GitBranch", "create")
}

/// A repository checked out at a revision, in a temporary directory the
/// caller owns (removed when dropped).
#[derive(Debug)]
pub struct Checkout {
    pub dir: tempfile::TempDir,
    /// The URL without credentials.
    pub url: String,
    /// As asked: a branch, tag, commit or `HEAD`.
    pub revision: String,
    /// The commit checked out (full sha).
    pub commit: String,
    /// The branch the revision names: the revision itself when it is a
    /// branch of the remote, the remote's default branch for `HEAD`;
    /// `None` for a tag or a commit (no branch to propose a change into).
    pub branch: Option<String>,
}

/// A new branch to push: `files` (repo-relative path → new content)
/// committed on `base_commit`, with `message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BranchPush {
    pub url: String,
    pub base_branch: String,
    pub base_commit: String,
    pub branch: String,
    pub files: Vec<(String, String)>,
    pub message: String,
}

/// The branch pushed and its commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedBranch {
    pub branch: String,
    pub commit: String,
}

/// The access entry for `url` (the URL already checked), or the error
/// naming the setting to add.
pub(crate) fn access_for<'a>(
    options: &'a GitOptions,
    url: &str,
) -> Result<&'a RepositoryAccess, BrokerError> {
    options
        .repositories
        .iter()
        .filter(|r| !r.url_prefix.is_empty() && url.starts_with(r.url_prefix.as_str()))
        .max_by_key(|r| r.url_prefix.len())
        .ok_or_else(|| {
            BrokerError::Denied(format!(
                "the repository {url} is not configured: Guardian reaches only the repositories \
                 listed under gitops.repositories (url_prefix, credential) in the config file; \
                 add an entry whose url_prefix covers it"
            ))
        })
}

/// Checks a repository URL: http(s) or ssh, without credentials in it.
pub(crate) fn check_url(url: &str) -> Result<String, BrokerError> {
    let url = url.trim();
    let parsed = url::Url::parse(url).map_err(|e| {
        BrokerError::Invalid(format!(
            "the repository URL {url:?} is not a URL ({e}); give it as https://host/owner/repo.git \
             or ssh://git@host/owner/repo.git"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https" | "ssh") {
        return Err(BrokerError::Invalid(format!(
            "the repository URL must be https://, http:// or ssh://, not {}://",
            parsed.scheme()
        )));
    }
    if parsed.password().is_some() || (!parsed.username().is_empty() && parsed.scheme() != "ssh") {
        let mut shown = parsed.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        return Err(BrokerError::Invalid(format!(
            "the repository URL {shown} carries credentials; give the URL without them and put \
             the credential in gitops.repositories[].credential (token_file or ssh_key_file)"
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) || parsed.query().is_some() {
        return Err(BrokerError::Invalid(format!(
            "the repository URL {url} must name a host and a path, without a query"
        )));
    }
    Ok(url.to_owned())
}

/// True when a credential may travel to `url`: https, ssh, or plain http
/// to a loopback address.
pub(crate) fn safe_for_tokens(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    match parsed.scheme() {
        "https" | "ssh" => true,
        "http" => match parsed.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        },
        _ => false,
    }
}

/// A branch, tag or commit name git will not take for an option or a range.
fn check_revision(what: &str, rev: &str) -> Result<(), BrokerError> {
    let bad = rev.is_empty()
        || (rev == "HEAD" && what != "the revision")
        || rev.starts_with('-')
        || rev.starts_with('/')
        || rev.ends_with('/')
        || rev.ends_with('.')
        || rev.ends_with(".lock")
        || rev.contains("..")
        || rev.contains("//")
        || rev.contains("@{")
        || rev
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c));
    if bad {
        return Err(BrokerError::Invalid(format!(
            "{what} {rev:?} is not a valid git ref name (no spaces, `..`, `~^:?*[\\`, leading `-`)"
        )));
    }
    Ok(())
}

fn is_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A repo-relative path that stays inside the work tree and out of `.git`.
fn check_path(path: &str) -> Result<(), BrokerError> {
    let p = Path::new(path);
    let bad = path.is_empty()
        || p.is_absolute()
        || p.components().any(
            |c| !matches!(c, std::path::Component::Normal(n) if !n.eq_ignore_ascii_case(".git")),
        );
    if bad {
        return Err(BrokerError::Invalid(format!(
            "the file path {path:?} must be relative to the repository root, without `..` and \
             outside .git"
        )));
    }
    Ok(())
}

fn tempdir(prefix: &str) -> Result<tempfile::TempDir, BrokerError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| io_error("create a temporary directory", &e))
}

/// Says why a fetch failed, from git's words.
fn fetch_error(url: &str, what: &str, stderr: &str) -> BrokerError {
    remote_error(url, what, stderr).unwrap_or_else(|| {
        BrokerError::NotFound(format!(
            "git could not {what} from {url}: {stderr}; check that the revision exists"
        ))
    })
}

/// Transport and permission failures, told apart from git's messages.
fn remote_error(url: &str, what: &str, stderr: &str) -> Option<BrokerError> {
    let lower = stderr.to_ascii_lowercase();
    let has = |s: &str| lower.contains(s);
    if has("host key verification failed")
        || has("no ed25519 host key is known")
        || has("host key is known for")
    {
        return Some(BrokerError::Denied(format!(
            "the SSH host key of {url} is not known (or has changed), so git refused to {what}: \
             {stderr}; put the server's host key in a file (ssh-keyscan -p PORT HOST, checked \
             against the server) and name it in gitops.repositories[].credential.known_hosts_file"
        )));
    }
    if has("authentication failed")
        || has("could not read username")
        || has("could not read password")
        || has("permission denied")
        || has("returned error: 403")
        || has("returned error: 401")
    {
        return Some(BrokerError::Denied(format!(
            "{url} refused the credential when asked to {what}: {stderr}; check the token or \
             key in gitops.repositories[].credential and its access to this repository"
        )));
    }
    if has("repository not found")
        || has("not found")
        || has("does not appear to be a git repository")
    {
        return Some(BrokerError::NotFound(format!(
            "{url} has no such repository (or the credential cannot see it) when asked to \
             {what}: {stderr}"
        )));
    }
    if has("could not connect")
        || has("couldn't connect")
        || has("connection refused")
        || has("could not resolve")
        || has("failed to connect")
        || has("connection timed out")
        || has("empty reply")
        || has("unable to access")
    {
        return Some(BrokerError::Unavailable(format!(
            "{url} cannot be reached to {what}: {stderr}; is the server running and the URL \
             right?"
        )));
    }
    None
}

impl Broker {
    /// This broker with the repositories and forges of `options`.
    pub fn with_git(mut self, options: GitOptions) -> Broker {
        self.git = std::sync::Arc::new(options);
        self
    }

    /// The git environment for `url`, or why it may not be reached.
    fn git_for(&self, url: &str) -> Result<Git, BrokerError> {
        let access = access_for(&self.git, url)?;
        if matches!(access.credential, Some(GitCredential::Token { .. })) && !safe_for_tokens(url) {
            return Err(BrokerError::Invalid(format!(
                "refusing to send a token to {url} over plain http: use https (or a loopback \
                 address), or drop the credential of its gitops.repositories entry"
            )));
        }
        Git::new(
            url,
            access.credential.as_ref(),
            "gitops.repositories[].credential",
            (&self.git.author_name, &self.git.author_email),
            self.git.timeout,
        )
    }

    /// Clone (shallow where the server allows) `url` at `revision`
    /// (branch, tag or commit sha; `HEAD` = the default branch) into a new
    /// temporary directory the caller owns.
    pub async fn git_fetch(
        &self,
        cx: &CallContext,
        url: &str,
        revision: &str,
    ) -> Result<Checkout, BrokerError> {
        let url = check_url(url)?;
        check_revision("the revision", revision)?;
        let kind = repositories_kind();
        let req = Request::new("get", &kind, None, &url);
        let (permit, started) = self.authorize(cx, &req).await?;
        let result = self.fetch(&url, revision).await;
        let mut reasons = vec![
            format!("allowed by {}", permit.rule()),
            format!("git fetch {url} at {revision}"),
        ];
        match &result {
            Ok(c) => reasons.push(format!("checked out commit {}", c.commit)),
            Err(e) => reasons.push(format!("failed: {}", truncate(e.message(), 600))),
        }
        let error = result.as_ref().err().map(BrokerError::kind_str);
        self.audit(cx, &req, "allow", permit.rule(), &reasons, error, started);
        result
    }

    async fn fetch(&self, url: &str, revision: &str) -> Result<Checkout, BrokerError> {
        let git = self.git_for(url)?;
        let dir = tempdir("guardian-checkout-")?;
        let root = dir.path();
        let internal = |what: &'static str| {
            move |e: &str| BrokerError::Internal(format!("git could not {what}: {e}"))
        };
        git.must(root, &["init", "-q"], internal("init a repository"))
            .await?;
        git.must(
            root,
            &["remote", "add", "origin", url],
            internal("add the remote"),
        )
        .await?;
        let shallow = git
            .run(
                root,
                &[
                    "fetch",
                    "-q",
                    "--depth",
                    "1",
                    "--no-tags",
                    "origin",
                    revision,
                ],
            )
            .await?;
        if !shallow.ok {
            let stderr = run::summary(&shallow.stderr);
            if let Some(e) = remote_error(url, &format!("fetch {revision}"), &stderr) {
                return Err(e);
            }
            if !is_sha(revision) {
                return Err(fetch_error(url, &format!("fetch {revision}"), &stderr));
            }
            // A server that does not serve a commit by its sha: fetch all
            // and look for it.
            git.must(
                root,
                &[
                    "fetch",
                    "-q",
                    "origin",
                    "+refs/heads/*:refs/remotes/origin/*",
                    "+refs/tags/*:refs/tags/*",
                ],
                |e| fetch_error(url, "fetch its branches", e),
            )
            .await?;
        }
        let target = if shallow.ok {
            "FETCH_HEAD".to_owned()
        } else {
            revision.to_owned()
        };
        let commit_of = format!("{target}^{{commit}}");
        let commit = git
            .must(root, &["rev-parse", "--verify", "-q", &commit_of], |_| {
                BrokerError::NotFound(format!(
                    "{url} has no commit {revision}; give a branch, tag or commit of it"
                ))
            })
            .await?
            .trim()
            .to_owned();
        git.must(
            root,
            &["checkout", "-q", "--detach", &commit],
            internal("check out the commit"),
        )
        .await?;
        // Which branch the revision is: a change is proposed into it.
        let listed = git
            .must(
                root,
                &["ls-remote", "--symref", "origin", "HEAD", "refs/heads/*"],
                |e| {
                    remote_error(url, "list its branches", e).unwrap_or_else(|| {
                        BrokerError::Unavailable(format!(
                            "git could not list the branches of {url}: {e}"
                        ))
                    })
                },
            )
            .await?;
        let mut branch = None;
        {
            for line in listed.lines() {
                if revision == "HEAD"
                    && let Some(rest) = line.strip_prefix("ref: refs/heads/")
                    && let Some((target, "HEAD")) = rest.split_once('\t')
                {
                    branch = Some(target.to_owned());
                }
                if line.split('\t').nth(1) == Some(&format!("refs/heads/{revision}")) {
                    branch = Some(revision.to_owned());
                }
            }
        }
        Ok(Checkout {
            dir,
            url: url.to_owned(),
            revision: revision.to_owned(),
            commit,
            branch,
        })
    }

    /// Deletes the branch `branch` of `url` again — only an approved
    /// action's own `guardian/<action-id>` branch, pushed moments before,
    /// when its pull request could not be opened (policy allows no other
    /// delete). Decided as a `delete` of `branches.git.guardian.dev` with
    /// `action`; audited.
    pub async fn git_delete_branch(
        &self,
        cx: &CallContext,
        action: &guardian_policy::ActionRef,
        url: &str,
        branch: &str,
    ) -> Result<(), BrokerError> {
        let url = check_url(url)?;
        check_revision("the branch", branch)?;
        let name = format!("{url}#{branch}");
        let kind = branches_kind();
        let approved = format!("action {} approved by {}", action.id, action.approver);
        let req = Request::new("delete", &kind, None, &name)
            .with_action(action)
            .noting(&approved);
        let (permit, started) = self.authorize(cx, &req).await?;
        if permit.dry_run() {
            let reason = format!(
                "action {}: policy allows only a dry run (rule {}); a branch delete has none",
                action.id,
                permit.rule()
            );
            self.audit(
                cx,
                &req,
                "deny",
                permit.rule(),
                std::slice::from_ref(&reason),
                None,
                started,
            );
            return Err(BrokerError::Denied(reason));
        }
        let result = async {
            let git = self.git_for(&url)?;
            let dir = tempdir("guardian-delete-")?;
            let root = dir.path();
            git.must(root, &["init", "-q"], |e| {
                BrokerError::Internal(format!("git could not init a repository: {e}"))
            })
            .await?;
            git.must(
                root,
                &["push", "-q", &url, &format!(":refs/heads/{branch}")],
                |e| {
                    remote_error(&url, &format!("delete the branch {branch}"), e).unwrap_or_else(
                        || {
                            BrokerError::Unavailable(format!(
                                "git could not delete the branch {branch} of {url}: {e}"
                            ))
                        },
                    )
                },
            )
            .await?;
            Ok::<(), BrokerError>(())
        }
        .await;
        let mut reasons = vec![
            format!("allowed by {}", permit.rule()),
            approved.clone(),
            format!("git push {url} --delete {branch}"),
        ];
        if let Err(e) = &result {
            reasons.push(format!("failed: {}", truncate(e.message(), 600)));
        }
        let error = result.as_ref().err().map(BrokerError::kind_str);
        self.audit(cx, &req, "allow", permit.rule(), &reasons, error, started);
        result
    }

    /// Commit `files` on a new branch whose parent is exactly
    /// `base_commit`, and push only that branch. Refused when the branch is
    /// the repository's default branch or `base_branch`, or already exists
    /// on the remote. Decided as a `create` of `branches.git.guardian.dev`
    /// with `action`; refused when policy allows only a dry run. Nothing
    /// half-done: a push that fails leaves no branch on the remote.
    pub async fn git_push_branch(
        &self,
        cx: &CallContext,
        action: &guardian_policy::ActionRef,
        push: &BranchPush,
    ) -> Result<PushedBranch, BrokerError> {
        let url = check_url(&push.url)?;
        check_revision("the branch", &push.branch)?;
        check_revision("the base branch", &push.base_branch)?;
        if !is_sha(&push.base_commit) {
            return Err(BrokerError::Invalid(format!(
                "the base commit {:?} must be a full commit sha (40 hex digits)",
                push.base_commit
            )));
        }
        if push.files.is_empty() {
            return Err(BrokerError::Invalid(
                "a push needs at least one file to change".into(),
            ));
        }
        for (path, _) in &push.files {
            check_path(path)?;
        }
        if push.message.trim().is_empty() {
            return Err(BrokerError::Invalid("a push needs a commit message".into()));
        }
        let name = format!("{url}#{}", push.branch);
        let kind = branches_kind();
        let approved = format!("action {} approved by {}", action.id, action.approver);
        let req = Request::new("create", &kind, None, &name)
            .with_action(action)
            .noting(&approved);
        let (permit, started) = self.authorize(cx, &req).await?;
        let asked = format!(
            "git push {url} branch {} on {}@{}",
            push.branch, push.base_branch, push.base_commit
        );
        if permit.dry_run() {
            let reason = format!(
                "action {}: policy allows only a dry run (rule {}); there is no dry run of a \
                 push: it needs an action approved by a person on a human channel",
                action.id,
                permit.rule()
            );
            let reasons = [reason.clone(), asked];
            self.audit(cx, &req, "deny", permit.rule(), &reasons, None, started);
            return Err(BrokerError::Denied(format!(
                "policy denied the push of branch {} to {url}: {reason}",
                push.branch
            )));
        }
        let result = self.push(&url, push).await;
        let mut reasons = vec![
            format!("allowed by {}", permit.rule()),
            approved.clone(),
            asked,
        ];
        match &result {
            Ok(p) => reasons.push(format!("pushed commit {}", p.commit)),
            Err(e) => reasons.push(format!("failed: {}", truncate(e.message(), 600))),
        }
        let error = result.as_ref().err().map(BrokerError::kind_str);
        self.audit(cx, &req, "allow", permit.rule(), &reasons, error, started);
        result
    }

    async fn push(&self, url: &str, push: &BranchPush) -> Result<PushedBranch, BrokerError> {
        let git = self.git_for(url)?;
        let branch = push.branch.as_str();
        let dir = tempdir("guardian-push-")?;
        let root = dir.path();
        let internal = |what: &'static str| {
            move |e: &str| BrokerError::Internal(format!("git could not {what}: {e}"))
        };
        git.must(root, &["init", "-q"], internal("init a repository"))
            .await?;
        git.must(
            root,
            &["remote", "add", "origin", url],
            internal("add the remote"),
        )
        .await?;
        git.must(
            root,
            &["check-ref-format", &format!("refs/heads/{branch}")],
            |_| {
                BrokerError::Invalid(format!(
                    "the branch {branch:?} is not a valid git branch name"
                ))
            },
        )
        .await?;
        // What the remote has now: its default branch and whether the
        // branch exists.
        let listed = git
            .must(root, &["ls-remote", "--symref", "origin"], |e| {
                remote_error(url, "list its branches", e).unwrap_or_else(|| {
                    BrokerError::Unavailable(format!(
                        "git could not list the branches of {url}: {e}"
                    ))
                })
            })
            .await?;
        let mut default_branch = None;
        let mut exists = false;
        for line in listed.lines() {
            if let Some(rest) = line.strip_prefix("ref: refs/heads/")
                && let Some((target, "HEAD")) = rest.split_once('\t')
            {
                default_branch = Some(target.to_owned());
            }
            if line.split('\t').nth(1) == Some(&format!("refs/heads/{branch}")) {
                exists = true;
            }
        }
        if branch == push.base_branch || default_branch.as_deref() == Some(branch) {
            return Err(BrokerError::Invalid(format!(
                "refusing to push to {branch} of {url}: it is the base or default branch; a \
                 change is pushed on a new branch and reviewed as a pull request"
            )));
        }
        if exists {
            return Err(BrokerError::Conflict(format!(
                "the branch {branch} already exists on {url}; Guardian pushes only new branches: \
                 choose another branch name"
            )));
        }
        let base = push.base_commit.as_str();
        let fetched = git
            .run(
                root,
                &["fetch", "-q", "--depth", "1", "--no-tags", "origin", base],
            )
            .await?;
        if !fetched.ok {
            let stderr = run::summary(&fetched.stderr);
            if let Some(e) = remote_error(url, "fetch the base commit", &stderr) {
                return Err(e);
            }
            let base_ref = format!("refs/heads/{}", push.base_branch);
            git.must(
                root,
                &["fetch", "-q", "--no-tags", "origin", &base_ref],
                |e| {
                    fetch_error(
                        url,
                        &format!("fetch the base branch {}", push.base_branch),
                        e,
                    )
                },
            )
            .await?;
        }
        let base_of = format!("{base}^{{commit}}");
        git.must(root, &["rev-parse", "--verify", "-q", &base_of], |_| {
            BrokerError::NotFound(format!(
                "{url} has no commit {base} (the base commit on {}); fetch the repository again \
                 and propose the change on its current commit",
                push.base_branch
            ))
        })
        .await?;
        git.must(
            root,
            &["checkout", "-q", "--detach", base],
            internal("check out the base commit"),
        )
        .await?;
        for (path, content) in &push.files {
            let file = root.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| io_error(&format!("create the directory of {path}"), &e))?;
            }
            std::fs::write(&file, content).map_err(|e| io_error(&format!("write {path}"), &e))?;
        }
        let mut add = vec!["add", "--"];
        add.extend(push.files.iter().map(|(p, _)| p.as_str()));
        git.must(root, &add, internal("stage the files")).await?;
        let staged = git.run(root, &["diff", "--cached", "--quiet"]).await?;
        if staged.ok {
            return Err(BrokerError::Invalid(format!(
                "the files given are already as they are at {base}: there is nothing to push"
            )));
        }
        git.must(
            root,
            &["commit", "-q", "--no-verify", "-m", push.message.as_str()],
            internal("commit the change"),
        )
        .await?;
        let commit = git
            .must(
                root,
                &["rev-parse", "HEAD"],
                internal("read the new commit"),
            )
            .await?
            .trim()
            .to_owned();
        let parents = git
            .must(
                root,
                &["rev-list", "--parents", "-n", "1", "HEAD"],
                internal("read the new commit's parents"),
            )
            .await?;
        if parents.split_whitespace().skip(1).collect::<Vec<_>>() != [base] {
            return Err(BrokerError::Internal(format!(
                "the new commit's parents are not exactly {base}: {parents}"
            )));
        }
        let refspec = format!("{commit}:refs/heads/{branch}");
        // The lease with an empty value: the branch must not exist.
        let lease = format!("--force-with-lease=refs/heads/{branch}:");
        let pushed = git
            .run(root, &["push", "--porcelain", &lease, "origin", &refspec])
            .await?;
        if pushed.ok {
            return Ok(PushedBranch {
                branch: branch.to_owned(),
                commit,
            });
        }
        // `--porcelain` says per ref why it was rejected (`!\tFROM:TO\t[remote
        // rejected] (pre-receive hook declined)`); git's own stderr says the
        // rest (the hook's `remote:` lines, transport errors).
        let rejected: Vec<String> = git
            .scrub(&pushed.stdout)
            .lines()
            .filter(|l| l.starts_with('!'))
            .filter_map(|l| l.rsplit('\t').next().map(str::to_owned))
            .collect();
        let said: Vec<&str> = pushed
            .stderr
            .lines()
            .filter(|l| !l.starts_with("error: failed to push some refs"))
            .collect();
        let stderr = run::summary(&format!("{}\n{}", said.join("\n"), rejected.join("\n")));
        let left = self.remove_half_pushed(&git, root, branch, &commit).await;
        let lower = stderr.to_ascii_lowercase();
        let what = format!("push the branch {branch}");
        let error = if lower.contains("pre-receive hook declined")
            || lower.contains("hook declined")
            || lower.contains("[remote rejected]")
        {
            BrokerError::Denied(format!(
                "{url} refused the push of {branch} (a server-side hook or rule declined it): \
                 {stderr}{left}"
            ))
        } else if lower.contains("stale info") || lower.contains("already exists") {
            BrokerError::Conflict(format!(
                "the branch {branch} appeared on {url} while pushing; choose another branch \
                 name: {stderr}{left}"
            ))
        } else {
            match remote_error(url, &what, &stderr) {
                Some(BrokerError::Denied(m)) => BrokerError::Denied(format!("{m}{left}")),
                Some(BrokerError::Unavailable(m)) => BrokerError::Unavailable(format!("{m}{left}")),
                Some(BrokerError::NotFound(m)) => BrokerError::NotFound(format!("{m}{left}")),
                _ => BrokerError::Unavailable(format!(
                    "git could not push {branch} to {url}: {stderr}{left}"
                )),
            }
        };
        Err(error)
    }

    /// After a failed push: if the branch is on the remote at our commit
    /// anyway (the answer was lost), delete it. Says what is left, if
    /// anything.
    async fn remove_half_pushed(
        &self,
        git: &Git,
        root: &Path,
        branch: &str,
        commit: &str,
    ) -> String {
        let full = format!("refs/heads/{branch}");
        let Ok(out) = git.run(root, &["ls-remote", "origin", &full]).await else {
            return String::new();
        };
        if !out.ok || !out.stdout.contains(commit) {
            return String::new();
        }
        let lease = format!("--force-with-lease={full}:{commit}");
        let delete = format!(":{full}");
        match git.run(root, &["push", &lease, "origin", &delete]).await {
            Ok(o) if o.ok => " (the branch had reached the server; it was deleted again)".into(),
            _ => format!(
                " (the branch {branch} reached the server at {commit} and could not be deleted: \
                 delete it by hand)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_credentials_and_odd_schemes_are_refused() {
        assert!(check_url("https://github.com/acme/shop.git").is_ok());
        assert!(check_url("ssh://git@github.com/acme/shop.git").is_ok());
        let err = check_url("https://x:s3cret@github.com/acme/shop.git").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(err.to_string().contains("credential"), "{err}");
        assert!(check_url("ext::sh -c evil").is_err());
        assert!(check_url("file:///etc").is_err());
    }

    #[test]
    fn revisions_and_paths_cannot_become_options_or_escape() {
        assert!(check_revision("r", "main").is_ok());
        assert!(check_revision("r", "guardian/fix-1").is_ok());
        for bad in ["--upload-pack=x", "a..b", "a b", "x:y", ""] {
            assert!(check_revision("r", bad).is_err(), "{bad}");
        }
        assert!(check_path("apps/web/deploy.yaml").is_ok());
        for bad in ["../x", "/etc/passwd", ".git/config", "a/../../b", ""] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_travel_only_over_https_ssh_or_loopback() {
        assert!(safe_for_tokens("https://github.com/a/b.git"));
        assert!(safe_for_tokens("ssh://git@github.com/a/b.git"));
        assert!(safe_for_tokens("http://127.0.0.1:8080/a.git"));
        assert!(safe_for_tokens("http://[::1]:8080/a.git"));
        assert!(safe_for_tokens("http://localhost/a.git"));
        assert!(!safe_for_tokens("http://git.example.com/a.git"));
        assert!(!safe_for_tokens("http://10.0.0.1/a.git"));
    }

    #[test]
    fn the_longest_prefix_wins_and_an_unlisted_repository_names_the_key() {
        let options = GitOptions {
            repositories: vec![
                RepositoryAccess {
                    url_prefix: "https://github.com/".into(),
                    credential: None,
                },
                RepositoryAccess {
                    url_prefix: "https://github.com/acme/".into(),
                    credential: None,
                },
            ],
            ..Default::default()
        };
        let got = access_for(&options, "https://github.com/acme/shop.git").unwrap();
        assert_eq!(got.url_prefix, "https://github.com/acme/");
        let err = access_for(&options, "https://gitlab.com/acme/shop.git").unwrap_err();
        assert!(err.to_string().contains("gitops.repositories"), "{err}");
    }
}
