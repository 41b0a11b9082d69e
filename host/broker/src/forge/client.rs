//! The forges' REST APIs: GitHub (`/repos/{owner}/{repo}/pulls`) and
//! GitLab (`/projects/{path}/merge_requests`). A token from a file, a
//! timeout, bounded answers, and errors that name the forge (never the
//! token) and say what to do.

use std::time::Duration;

use serde_json::{Value, json};

use super::{NewPullRequest, PrState, PullRequest};
use crate::BrokerError;
use crate::git::{ForgeAccess, ForgeKind, read_token};

/// The largest answer read from a forge.
const MAX_BODY: usize = 1 << 20;

const USER_AGENT: &str = concat!("guardian/", env!("CARGO_PKG_VERSION"));

/// One forge, ready to be asked about one repository.
pub(crate) struct Forge {
    kind: ForgeKind,
    /// The API base URL, without a trailing slash.
    api: String,
    /// `owner/repo` (GitHub) or the project's full path (GitLab).
    project: String,
    token: String,
    timeout: Duration,
    client: reqwest::Client,
    /// `GitHub at https://api.github.com`: what messages name.
    pub shown: String,
}

impl std::fmt::Debug for Forge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forge")
            .field("shown", &self.shown)
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

impl Forge {
    /// The forge `access` for the repository at `repo_url`.
    pub(crate) fn new(
        access: &ForgeAccess,
        repo_url: &str,
        timeout: Duration,
    ) -> Result<Self, BrokerError> {
        let api = access.api_url.trim().trim_end_matches('/').to_owned();
        let parsed = url::Url::parse(&api).map_err(|e| {
            BrokerError::Invalid(format!(
                "gitops.forges[].api_url {api:?} is not a URL ({e})"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || !parsed.username().is_empty() {
            return Err(BrokerError::Invalid(format!(
                "gitops.forges[].api_url must be an http(s) URL without credentials (the token \
                 goes in token_file), not {}",
                parsed.scheme()
            )));
        }
        if !crate::git::safe_for_tokens(&api) {
            return Err(BrokerError::Invalid(format!(
                "refusing to send the forge token to {api} over plain http: \
                 gitops.forges[].api_url must be https (or a loopback address)"
            )));
        }
        let shown = format!("{} at {api}", access.kind.name());
        let project = project_path(repo_url).ok_or_else(|| {
            BrokerError::Invalid(format!(
                "cannot tell the project of {repo_url} for {shown}: the URL must end in \
                 /OWNER/REPO(.git)"
            ))
        })?;
        if access.kind == ForgeKind::Github && project.split('/').count() != 2 {
            return Err(BrokerError::Invalid(format!(
                "{repo_url} is not a GitHub repository URL (https://HOST/OWNER/REPO): {project} \
                 is not OWNER/REPO"
            )));
        }
        let token = read_token(&access.token_file, "gitops.forges[].token_file")?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                BrokerError::Internal(format!("cannot build the client for {shown}: {e}"))
            })?;
        Ok(Forge {
            kind: access.kind,
            api,
            project,
            token,
            timeout,
            client,
            shown,
        })
    }

    fn project_url(&self) -> String {
        match self.kind {
            ForgeKind::Github => format!("{}/repos/{}/pulls", self.api, self.project),
            ForgeKind::Gitlab => {
                let id: String =
                    url::form_urlencoded::byte_serialize(self.project.as_bytes()).collect();
                format!("{}/projects/{id}/merge_requests", self.api)
            }
        }
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let r = self
            .client
            .request(method, url)
            .header(http::header::USER_AGENT, USER_AGENT);
        match self.kind {
            ForgeKind::Github => r
                .header(
                    http::header::AUTHORIZATION,
                    format!("Bearer {}", self.token),
                )
                .header(http::header::ACCEPT, "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28"),
            ForgeKind::Gitlab => r
                .header("PRIVATE-TOKEN", &self.token)
                .header(http::header::ACCEPT, "application/json"),
        }
    }

    /// Opens the pull (merge) request.
    pub(crate) async fn create(&self, pr: &NewPullRequest) -> Result<PullRequest, BrokerError> {
        let body = match self.kind {
            ForgeKind::Github => json!({
                "title": pr.title, "head": pr.head, "base": pr.base, "body": pr.body,
            }),
            ForgeKind::Gitlab => json!({
                "source_branch": pr.head, "target_branch": pr.base,
                "title": pr.title, "description": pr.body,
            }),
        };
        let request = self
            .request(reqwest::Method::POST, &self.project_url())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let what = format!("open a pull request from {} into {}", pr.head, pr.base);
        let value = self.exchange(request, &what).await?;
        self.pull_request_of(&value)
    }

    /// Reads pull (merge) request `number`.
    pub(crate) async fn get(&self, number: u64) -> Result<PullRequest, BrokerError> {
        let url = format!("{}/{number}", self.project_url());
        let request = self.request(reqwest::Method::GET, &url);
        let value = self
            .exchange(request, &format!("read pull request {number}"))
            .await?;
        self.pull_request_of(&value)
    }

    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Value, BrokerError> {
        let work = async {
            let mut response = request.send().await.map_err(|e| self.transport(&e, what))?;
            let status = response.status();
            let headers = response.headers().clone();
            let mut bytes = Vec::new();
            loop {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        if bytes.len() + chunk.len() > MAX_BODY {
                            if status.is_success() {
                                return Err(BrokerError::TooLarge(format!(
                                    "{} answered more than {MAX_BODY} bytes when asked to \
                                     {what}; is gitops.forges[].api_url the API's base URL?",
                                    self.shown
                                )));
                            }
                            break;
                        }
                        bytes.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    Err(e) => return Err(self.transport(&e, what)),
                }
            }
            Ok((status, headers, bytes))
        };
        let (status, headers, bytes) = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| self.timed_out(what))??;
        let value: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return value.ok_or_else(|| {
                BrokerError::Unavailable(format!(
                    "{} answered {what} with something that is not JSON (it begins {:?}); is \
                     gitops.forges[].api_url the API's base URL?",
                    self.shown,
                    self.scrub(&String::from_utf8_lossy(&bytes[..bytes.len().min(120)]))
                ))
            });
        }
        Err(self.api_error(status, &headers, value.as_ref(), what))
    }

    fn timed_out(&self, what: &str) -> BrokerError {
        BrokerError::Timeout(format!(
            "{} did not answer within {}s when asked to {what} (gitops.timeout)",
            self.shown,
            self.timeout.as_secs_f64()
        ))
    }

    fn transport(&self, e: &reqwest::Error, what: &str) -> BrokerError {
        if e.is_timeout() {
            return self.timed_out(what);
        }
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            let more = s.to_string();
            if !detail.contains(&more) {
                detail.push_str(": ");
                detail.push_str(&more);
            }
            source = s.source();
        }
        BrokerError::Unavailable(format!(
            "{} cannot be reached to {what}: {}; is gitops.forges[].api_url right and the forge \
             up?",
            self.shown,
            self.scrub(&detail)
        ))
    }

    /// The forge's own words: GitHub's `message` and `errors[].message`,
    /// GitLab's `message` (a string, a list or an object) or `error`.
    fn message_of(&self, value: Option<&Value>) -> String {
        let Some(v) = value else {
            return String::new();
        };
        let mut parts = Vec::new();
        let mut push = |m: &Value| match m {
            Value::String(s) => parts.push(s.clone()),
            Value::Array(items) => parts.extend(items.iter().map(|i| {
                match i {
                    Value::String(s) => s.clone(),
                    other => other
                        .get("message")
                        .and_then(Value::as_str)
                        .map_or_else(|| other.to_string(), str::to_owned),
                }
            })),
            Value::Object(_) => parts.push(m.to_string()),
            _ => {}
        };
        push(&v["message"]);
        push(&v["errors"]);
        push(&v["error"]);
        let text = parts.join("; ");
        self.scrub(crate::gate::truncate(&text, 600))
    }

    fn api_error(
        &self,
        status: http::StatusCode,
        headers: &http::HeaderMap,
        value: Option<&Value>,
        what: &str,
    ) -> BrokerError {
        let code = status.as_u16();
        let said = self.message_of(value);
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let at = format!(
            "{} answered HTTP {code} when asked to {what}{said}",
            self.shown
        );
        let limited = code == 429
            || (code == 403
                && (header("x-ratelimit-remaining") == Some("0")
                    || header("retry-after").is_some()
                    || said.to_ascii_lowercase().contains("rate limit")));
        if limited {
            let mut when = Vec::new();
            if let Some(after) = header("retry-after") {
                when.push(format!("retry after {after} s (Retry-After)"));
            }
            let reset = ["x-ratelimit-reset", "ratelimit-reset"]
                .into_iter()
                .find_map(|name| header(name).map(|v| (name, v)));
            if let Some((name, reset)) = reset {
                let at = reset
                    .parse::<i64>()
                    .ok()
                    .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                    .map(|t| format!(" ({})", t.to_rfc3339()))
                    .unwrap_or_default();
                when.push(format!("the limit resets at {reset}{at} ({name})"));
            }
            if when.is_empty() {
                when.push("retry later".into());
            }
            return BrokerError::Unavailable(format!("{at}; rate limited: {}", when.join("; ")));
        }
        match code {
            401 => BrokerError::Denied(format!(
                "{at}; the forge rejected the token: check gitops.forges[].token_file (is the \
                 token valid and unexpired?)"
            )),
            403 => BrokerError::Denied(format!(
                "{at}; the token may not do this: give it access to {} (pull requests: write)",
                self.project
            )),
            404 => BrokerError::NotFound(format!(
                "{at}; {} or the pull request does not exist, or the token cannot see it",
                self.project
            )),
            409 | 422 if said.to_ascii_lowercase().contains("already exist") => {
                BrokerError::Conflict(format!(
                    "{at}; a pull request for this branch is already open: read it instead of \
                     opening another"
                ))
            }
            400 | 409 | 422 => BrokerError::Invalid(format!(
                "{at}; check the branches (do both exist on the forge?) and the title"
            )),
            500..=599 => BrokerError::Unavailable(format!("{at}; the forge failed: retry later")),
            _ => BrokerError::Unavailable(at),
        }
    }

    /// A pull request from GitHub's or GitLab's answer.
    fn pull_request_of(&self, v: &Value) -> Result<PullRequest, BrokerError> {
        let missing = |field: &str| {
            BrokerError::Unavailable(format!(
                "{} answered a pull request without `{field}`; is gitops.forges[].kind right \
                 ({})?",
                self.shown,
                match self.kind {
                    ForgeKind::Github => "github",
                    ForgeKind::Gitlab => "gitlab",
                }
            ))
        };
        let text = |field: &str| v[field].as_str().map(str::to_owned);
        let sha = |field: &str| {
            v[field]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        match self.kind {
            ForgeKind::Github => {
                let number = v["number"].as_u64().ok_or_else(|| missing("number"))?;
                let url = text("html_url").ok_or_else(|| missing("html_url"))?;
                let state = match (v["merged"].as_bool(), v["state"].as_str()) {
                    (Some(true), _) => PrState::Merged {
                        merge_commit: sha("merge_commit_sha").unwrap_or_default(),
                    },
                    (_, Some("open")) => PrState::Open,
                    (_, Some("closed")) if v["merged_at"].is_string() => PrState::Merged {
                        merge_commit: sha("merge_commit_sha").unwrap_or_default(),
                    },
                    (_, Some("closed")) => PrState::Closed,
                    _ => return Err(missing("state")),
                };
                Ok(PullRequest {
                    number,
                    url,
                    state,
                    head: v["head"]["ref"].as_str().unwrap_or_default().to_owned(),
                    base: v["base"]["ref"].as_str().unwrap_or_default().to_owned(),
                })
            }
            ForgeKind::Gitlab => {
                let number = v["iid"].as_u64().ok_or_else(|| missing("iid"))?;
                let url = text("web_url").ok_or_else(|| missing("web_url"))?;
                let state = match v["state"].as_str() {
                    Some("opened" | "locked") => PrState::Open,
                    Some("merged") => PrState::Merged {
                        merge_commit: sha("merge_commit_sha")
                            .or_else(|| sha("squash_commit_sha"))
                            .or_else(|| sha("sha"))
                            .unwrap_or_default(),
                    },
                    Some("closed") => PrState::Closed,
                    _ => return Err(missing("state")),
                };
                Ok(PullRequest {
                    number,
                    url,
                    state,
                    head: text("source_branch").unwrap_or_default(),
                    base: text("target_branch").unwrap_or_default(),
                })
            }
        }
    }

    fn scrub(&self, text: &str) -> String {
        text.replace(self.token.as_str(), "<redacted>")
    }
}

/// `https://host/acme/shop.git` → `acme/shop`; `ssh://git@host/a/b` too.
fn project_path(repo_url: &str) -> Option<String> {
    let url = url::Url::parse(repo_url).ok()?;
    let path = url.path().trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    (path.contains('/') && !path.split('/').any(str::is_empty)).then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_is_the_url_path_without_git() {
        assert_eq!(
            project_path("https://github.com/acme/shop.git").as_deref(),
            Some("acme/shop")
        );
        assert_eq!(
            project_path("https://gitlab.example/group/sub/shop").as_deref(),
            Some("group/sub/shop")
        );
        assert_eq!(project_path("https://github.com/shop"), None);
    }
}
