//! Loopback doubles of the GitHub and GitLab REST APIs for pull (merge)
//! requests, with their real request and response shapes:
//!
//! - GitHub: `POST /repos/{owner}/{repo}/pulls` (`{title, head, base,
//!   body}` → 201 with `number`, `html_url`, `state`, `head.ref`,
//!   `base.ref`, `merged`, `merge_commit_sha`), `GET
//!   /repos/{owner}/{repo}/pulls/{n}`; `Authorization: Bearer TOKEN`.
//! - GitLab: `POST /api/v4/projects/{url-encoded path}/merge_requests`
//!   (`{source_branch, target_branch, title, description}` → 201 with
//!   `iid`, `web_url`, `state: opened`, `merge_commit_sha`), `GET
//!   …/merge_requests/{iid}`; `PRIVATE-TOKEN: TOKEN`.
//!
//! Every request is recorded (method, path, headers, JSON body) for tests
//! to assert exactly. Error modes switch what the next requests get: the
//! "already exists" refusal (GitHub 422, GitLab 409), 401, 500, and a rate
//! limit (GitHub 403 with `x-ratelimit-*` and `retry-after`, GitLab 429
//! with `Retry-After` and `RateLimit-Reset`). A test marks a pull request
//! merged with [`ForgeDouble::merge`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use serde_json::{Value, json};

/// Which API the double speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    GitHub,
    GitLab,
}

/// What the double answers every request with until changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorMode {
    /// Normal answers.
    None,
    /// Creating says a pull request for the branch already exists.
    Exists,
    /// 401: bad credentials.
    Unauthorized,
    /// 500.
    ServerError,
    /// GitHub: 403 with `x-ratelimit-remaining: 0`, `x-ratelimit-reset`
    /// and `retry-after: 60`; GitLab: 429 with `Retry-After: 60`.
    RateLimited,
}

/// The `x-ratelimit-reset` the rate-limited answer carries (Unix seconds).
pub const RATE_LIMIT_RESET: u64 = 1_893_456_000;

/// One request as received.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent (GitLab's project path stays encoded).
    pub path: String,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The body as JSON (`None` when empty or not JSON).
    pub body: Option<Value>,
}

#[derive(Clone, Debug)]
struct Pr {
    project: String,
    number: u64,
    title: String,
    body: String,
    head: String,
    base: String,
    state: &'static str,
    merge_commit: Option<String>,
}

struct State {
    kind: Kind,
    token: String,
    url: String,
    mode: ErrorMode,
    requests: Vec<Recorded>,
    prs: Vec<Pr>,
}

/// A running double; stopped when dropped.
pub struct ForgeDouble {
    /// `http://127.0.0.1:PORT` (the server's web URL).
    pub url: String,
    kind: Kind,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ForgeDouble {
    /// A GitHub double accepting `token`.
    pub fn github(token: &str) -> Self {
        Self::start(Kind::GitHub, token)
    }

    /// A GitLab double accepting `token`.
    pub fn gitlab(token: &str) -> Self {
        Self::start(Kind::GitLab, token)
    }

    fn start(kind: Kind, token: &str) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State {
            kind,
            token: token.to_owned(),
            url: url.clone(),
            mode: ErrorMode::None,
            requests: Vec::new(),
            prs: Vec::new(),
        }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = axum::Router::new().fallback(move |req: Request<Body>| {
                    let state = shared.clone();
                    async move { handle(&state, req).await }
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("serve");
            });
            rt.shutdown_background();
        });
        ForgeDouble {
            url,
            kind,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The API base URL: the server's URL (GitHub) or `URL/api/v4`
    /// (GitLab).
    pub fn api_url(&self) -> String {
        match self.kind {
            Kind::GitHub => self.url.clone(),
            Kind::GitLab => format!("{}/api/v4", self.url),
        }
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Sets what the next requests get.
    pub fn set_error(&self, mode: ErrorMode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// Marks pull request `number` merged with `merge_commit`.
    pub fn merge(&self, number: u64, merge_commit: &str) {
        let mut state = self.state.lock().unwrap();
        let pr = state
            .prs
            .iter_mut()
            .find(|p| p.number == number)
            .unwrap_or_else(|| panic!("no pull request {number}"));
        pr.state = "merged";
        pr.merge_commit = Some(merge_commit.to_owned());
    }

    /// Marks pull request `number` closed without merging.
    pub fn close(&self, number: u64) {
        let mut state = self.state.lock().unwrap();
        if let Some(pr) = state.prs.iter_mut().find(|p| p.number == number) {
            pr.state = "closed";
        }
    }
}

impl Drop for ForgeDouble {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn handle(state: &Mutex<State>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: serde_json::from_slice(&bytes).ok(),
    };
    let mut state = state.lock().unwrap();
    state.requests.push(recorded.clone());
    match state.kind {
        Kind::GitHub => github(&mut state, &recorded),
        Kind::GitLab => gitlab(&mut state, &recorded),
    }
}

fn reply(status: u16, body: &Value, headers: &[(&str, String)]) -> Response<Body> {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json; charset=utf-8");
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    b.body(Body::from(body.to_string())).unwrap()
}

const GITHUB_DOCS: &str = "https://docs.github.com/rest/pulls/pulls";

fn github(state: &mut State, req: &Recorded) -> Response<Body> {
    let authorized = req.headers.get("authorization") == Some(&format!("Bearer {}", state.token));
    if state.mode == ErrorMode::Unauthorized || !authorized {
        return reply(
            401,
            &json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
            &[],
        );
    }
    match state.mode {
        ErrorMode::ServerError => {
            return reply(500, &json!({"message": "Server Error"}), &[]);
        }
        ErrorMode::RateLimited => {
            return reply(
                403,
                &json!({
                    "message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                    "status": "403"
                }),
                &[
                    ("x-ratelimit-limit", "5000".into()),
                    ("x-ratelimit-remaining", "0".into()),
                    ("x-ratelimit-used", "5000".into()),
                    ("x-ratelimit-reset", RATE_LIMIT_RESET.to_string()),
                    ("x-ratelimit-resource", "core".into()),
                    ("retry-after", "60".into()),
                ],
            );
        }
        _ => {}
    }
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let not_found = || {
        reply(
            404,
            &json!({"message": "Not Found", "documentation_url": GITHUB_DOCS, "status": "404"}),
            &[],
        )
    };
    let ["repos", owner, repo, "pulls", rest @ ..] = segments.as_slice() else {
        return not_found();
    };
    let project = format!("{owner}/{repo}");
    match (req.method.as_str(), rest) {
        ("POST", []) => {
            let body = req.body.clone().unwrap_or_default();
            let field = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
            let (head, base) = (field("head"), field("base"));
            if head.is_empty() || base.is_empty() || field("title").is_empty() {
                return reply(
                    422,
                    &json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "missing_field", "field": if head.is_empty() { "head" } else if base.is_empty() { "base" } else { "title" }}], "documentation_url": GITHUB_DOCS, "status": "422"}),
                    &[],
                );
            }
            let exists = state
                .prs
                .iter()
                .any(|p| p.project == project && p.head == head && p.state == "open");
            if state.mode == ErrorMode::Exists || exists {
                return reply(
                    422,
                    &json!({
                        "message": "Validation Failed",
                        "errors": [{"resource": "PullRequest", "code": "custom", "message": format!("A pull request already exists for {owner}:{head}.")}],
                        "documentation_url": format!("{GITHUB_DOCS}#create-a-pull-request"),
                        "status": "422"
                    }),
                    &[],
                );
            }
            let pr = Pr {
                project,
                number: state.prs.len() as u64 + 1,
                title: field("title"),
                body: field("body"),
                head,
                base,
                state: "open",
                merge_commit: None,
            };
            state.prs.push(pr.clone());
            reply(201, &github_pr(&state.url, &pr), &[])
        }
        ("GET", [n]) => {
            let found = n.parse::<u64>().ok().and_then(|n| {
                state
                    .prs
                    .iter()
                    .find(|p| p.project == project && p.number == n)
            });
            match found {
                Some(pr) => reply(200, &github_pr(&state.url, pr), &[]),
                None => not_found(),
            }
        }
        _ => not_found(),
    }
}

fn github_pr(url: &str, pr: &Pr) -> Value {
    let merged = pr.state == "merged";
    let (owner, repo) = pr.project.split_once('/').unwrap();
    json!({
        "url": format!("{url}/repos/{}/pulls/{}", pr.project, pr.number),
        "id": 1000 + pr.number,
        "node_id": format!("PR_{}", pr.number),
        "html_url": format!("{url}/{}/pull/{}", pr.project, pr.number),
        "number": pr.number,
        "state": if pr.state == "open" { "open" } else { "closed" },
        "locked": false,
        "title": pr.title,
        "user": {"login": "guardian-bot", "id": 1, "type": "User"},
        "body": pr.body,
        "created_at": "2026-12-07T08:00:00Z",
        "updated_at": "2026-12-07T08:00:00Z",
        "closed_at": if pr.state == "open" { Value::Null } else { json!("2026-12-07T09:00:00Z") },
        "merged_at": if merged { json!("2026-12-07T09:00:00Z") } else { Value::Null },
        "merge_commit_sha": pr.merge_commit,
        "draft": false,
        "head": {"label": format!("{owner}:{}", pr.head), "ref": pr.head, "sha": "0".repeat(40), "repo": {"name": repo, "full_name": pr.project}},
        "base": {"label": format!("{owner}:{}", pr.base), "ref": pr.base, "sha": "0".repeat(40), "repo": {"name": repo, "full_name": pr.project}},
        "merged": merged,
        "mergeable": null,
        "comments": 0,
        "commits": 1,
        "additions": 1,
        "deletions": 1,
        "changed_files": 1
    })
}

fn gitlab(state: &mut State, req: &Recorded) -> Response<Body> {
    let authorized = req.headers.get("private-token") == Some(&state.token);
    if state.mode == ErrorMode::Unauthorized || !authorized {
        return reply(401, &json!({"message": "401 Unauthorized"}), &[]);
    }
    match state.mode {
        ErrorMode::ServerError => {
            return reply(500, &json!({"message": "500 Internal Server Error"}), &[]);
        }
        ErrorMode::RateLimited => {
            return reply(
                429,
                &json!({"message": "Retry later"}),
                &[
                    ("retry-after", "60".into()),
                    ("ratelimit-limit", "600".into()),
                    ("ratelimit-remaining", "0".into()),
                    ("ratelimit-reset", RATE_LIMIT_RESET.to_string()),
                ],
            );
        }
        _ => {}
    }
    let path = req.path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let not_found = |what: &str| reply(404, &json!({"message": format!("404 {what}")}), &[]);
    let ["api", "v4", "projects", id, "merge_requests", rest @ ..] = segments.as_slice() else {
        return not_found("Project Not Found");
    };
    let project = id.replace("%2F", "/").replace("%2f", "/");
    match (req.method.as_str(), rest) {
        ("POST", []) => {
            let body = req.body.clone().unwrap_or_default();
            let field = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
            let (head, base) = (field("source_branch"), field("target_branch"));
            if head.is_empty() || base.is_empty() || field("title").is_empty() {
                return reply(
                    400,
                    &json!({"error": "source_branch, target_branch, title are missing"}),
                    &[],
                );
            }
            let existing = state
                .prs
                .iter()
                .find(|p| p.project == project && p.head == head && p.state == "opened")
                .map(|p| p.number);
            if state.mode == ErrorMode::Exists || existing.is_some() {
                return reply(
                    409,
                    &json!({"message": [format!("Another open merge request already exists for this source branch: !{}", existing.unwrap_or(1))]}),
                    &[],
                );
            }
            let pr = Pr {
                project,
                number: state.prs.len() as u64 + 1,
                title: field("title"),
                body: field("description"),
                head,
                base,
                state: "opened",
                merge_commit: None,
            };
            state.prs.push(pr.clone());
            reply(201, &gitlab_mr(&state.url, &pr), &[])
        }
        ("GET", [n]) => {
            let found = n.parse::<u64>().ok().and_then(|n| {
                state
                    .prs
                    .iter()
                    .find(|p| p.project == project && p.number == n)
            });
            match found {
                Some(pr) => reply(200, &gitlab_mr(&state.url, pr), &[]),
                None => not_found("Not found"),
            }
        }
        _ => not_found("Not found"),
    }
}

fn gitlab_mr(url: &str, pr: &Pr) -> Value {
    json!({
        "id": 1000 + pr.number,
        "iid": pr.number,
        "project_id": 7,
        "title": pr.title,
        "description": pr.body,
        "state": pr.state,
        "created_at": "2026-12-07T08:00:00.000Z",
        "updated_at": "2026-12-07T08:00:00.000Z",
        "merged_at": if pr.state == "merged" { json!("2026-12-07T09:00:00.000Z") } else { Value::Null },
        "target_branch": pr.base,
        "source_branch": pr.head,
        "author": {"id": 1, "username": "guardian-bot", "name": "Guardian"},
        "source_project_id": 7,
        "target_project_id": 7,
        "draft": false,
        "merge_status": "can_be_merged",
        "detailed_merge_status": "mergeable",
        "sha": "0".repeat(40),
        "merge_commit_sha": pr.merge_commit,
        "squash_commit_sha": null,
        "web_url": format!("{url}/{}/-/merge_requests/{}", pr.project, pr.number),
    })
}
