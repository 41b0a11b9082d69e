//! Pull requests on GitHub and GitLab, through the broker: opening one is
//! decided as a `create` of the pseudo-resource
//! `pullrequests.forge.guardian.dev` (`input.name` is `URL#BRANCH`) carrying
//! a human-approved action, and refused when policy allows only a dry run;
//! reading one as a `get` (`input.name` is `URL#NUMBER`). A forge is asked
//! only when [`crate::GitOptions::forges`] lists one for the repository;
//! each call leaves one audit line with the repository, the branch or
//! number, the pull request's number and URL, or the error.

mod client;

use client::Forge;

use crate::gate::{Request, truncate};
use crate::git::check_url;
use crate::{Broker, BrokerError, CallContext, ResourceKind};

/// The group of the forge pseudo-resource.
pub const FORGE_GROUP: &str = "forge.guardian.dev";
/// Pull (merge) requests: `pullrequests.forge.guardian.dev`.
pub const PULLREQUESTS_RESOURCE: &str = "pullrequests";

/// What policy sees for a pull request.
pub fn pullrequests_kind() -> ResourceKind {
    ResourceKind {
        group: FORGE_GROUP.into(),
        version: "v1".into(),
        kind: "PullRequest".into(),
        plural: PULLREQUESTS_RESOURCE.into(),
        singular: "pullrequest".into(),
        short_names: Vec::new(),
        namespaced: false,
        verbs: vec!["get".into(), "create".into()],
    }
}

/// A pull request to open: from `head` into `base` of `repo_url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPullRequest {
    pub repo_url: String,
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
}

/// A pull (merge) request as the forge reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequest {
    /// GitHub's `number`, GitLab's `iid`.
    pub number: u64,
    /// `html_url` / `web_url`.
    pub url: String,
    pub state: PrState,
    pub head: String,
    pub base: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrState {
    Open,
    Merged { merge_commit: String },
    Closed,
}

impl Broker {
    /// The forge serving `repo_url`, or why there is none.
    fn forge_for(&self, repo_url: &str) -> Result<Forge, BrokerError> {
        let access = self
            .git
            .forges
            .iter()
            .filter(|f| !f.repo_prefix.is_empty() && repo_url.starts_with(f.repo_prefix.as_str()))
            .max_by_key(|f| f.repo_prefix.len())
            .ok_or_else(|| {
                BrokerError::Denied(format!(
                    "no forge is configured for {repo_url}: Guardian opens pull requests only on \
                     the forges listed under gitops.forges (kind, api_url, repo_prefix, \
                     token_file) in the config file; add one whose repo_prefix covers it"
                ))
            })?;
        Forge::new(access, repo_url, self.git.timeout)
    }

    /// Opens a pull (merge) request from `pr.head` into `pr.base`.
    pub async fn open_pull_request(
        &self,
        cx: &CallContext,
        action: &guardian_policy::ActionRef,
        pr: &NewPullRequest,
    ) -> Result<PullRequest, BrokerError> {
        let url = check_url(&pr.repo_url)?;
        if pr.head.trim().is_empty() || pr.base.trim().is_empty() || pr.head == pr.base {
            return Err(BrokerError::Invalid(format!(
                "a pull request needs two different branches (head {:?}, base {:?})",
                pr.head, pr.base
            )));
        }
        if pr.title.trim().is_empty() {
            return Err(BrokerError::Invalid("a pull request needs a title".into()));
        }
        let name = format!("{url}#{}", pr.head);
        let kind = pullrequests_kind();
        let approved = format!("action {} approved by {}", action.id, action.approver);
        let req = Request::new("create", &kind, None, &name)
            .with_action(action)
            .noting(&approved);
        let (permit, started) = self.authorize(cx, &req).await?;
        let asked = format!(
            "open a pull request on {url} from {} into {}",
            pr.head, pr.base
        );
        if permit.dry_run() {
            let reason = format!(
                "action {}: policy allows only a dry run (rule {}); a pull request cannot be \
                 opened as a dry run: it needs an action approved by a person on a human channel",
                action.id,
                permit.rule()
            );
            let reasons = [reason.clone(), asked];
            self.audit(cx, &req, "deny", permit.rule(), &reasons, None, started);
            return Err(BrokerError::Denied(format!(
                "policy denied opening a pull request from {} on {url}: {reason}",
                pr.head
            )));
        }
        let result = match self.forge_for(&url) {
            Ok(forge) => forge.create(pr).await.map(|p| (forge.shown.clone(), p)),
            Err(e) => Err(e),
        };
        let mut reasons = vec![
            format!("allowed by {}", permit.rule()),
            approved.clone(),
            asked,
        ];
        match &result {
            Ok((shown, p)) => reasons.push(format!("{shown} opened #{} {}", p.number, p.url)),
            Err(e) => reasons.push(format!("failed: {}", truncate(e.message(), 600))),
        }
        let error = result.as_ref().err().map(BrokerError::kind_str);
        self.audit(cx, &req, "allow", permit.rule(), &reasons, error, started);
        result.map(|(_, p)| p)
    }

    /// Reads pull (merge) request `number` of `repo_url`.
    pub async fn pull_request(
        &self,
        cx: &CallContext,
        repo_url: &str,
        number: u64,
    ) -> Result<PullRequest, BrokerError> {
        let url = check_url(repo_url)?;
        let name = format!("{url}#{number}");
        let kind = pullrequests_kind();
        let req = Request::new("get", &kind, None, &name);
        let (permit, started) = self.authorize(cx, &req).await?;
        let result = match self.forge_for(&url) {
            Ok(forge) => forge.get(number).await.map(|p| (forge.shown.clone(), p)),
            Err(e) => Err(e),
        };
        let mut reasons = vec![
            format!("allowed by {}", permit.rule()),
            format!("read pull request #{number} of {url}"),
        ];
        match &result {
            Ok((shown, p)) => {
                reasons.push(format!("{shown}: #{} {} {:?}", p.number, p.url, p.state))
            }
            Err(e) => reasons.push(format!("failed: {}", truncate(e.message(), 600))),
        }
        let error = result.as_ref().err().map(BrokerError::kind_str);
        self.audit(cx, &req, "allow", permit.rule(), &reasons, error, started);
        result.map(|(_, p)| p)
    }
}
