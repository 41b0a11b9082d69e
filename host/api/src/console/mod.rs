//! The web console, under `/console/` on `guardian serve`'s HTTP listener
//! (loopback by default): the actions, pending and recent; one action with
//! its rationale, the change side by side as it would be applied now, the
//! checks, its history and audit trail; Approve and Reject for an approver.
//!
//! A thin adapter over the session, like gRPC and MCP: sign-in exchanges a
//! bearer token of the tokens file for a server-side session
//! ([`session`]); an approval is the CLI's review — settle, the change
//! computed now (and compared with what the page showed), then approve and
//! apply through the `Session` — as `human:<identity> (web)`. Every form
//! carries the session's CSRF token and must come from the console's own
//! pages; a refused post is answered 403 and audited (`event: "access"`,
//! channel `web`). Pages are server-rendered HTML with no script, under a
//! strict Content-Security-Policy, and load nothing from anywhere else.

pub mod diff;
pub mod html;
pub mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use guardian_actions::{ApplyOptions, Approver, Channel as ApprovalChannel, State as ActionState};
use guardian_core::actions::{Check, Settled};
use guardian_core::{ErrorClass, ServiceError};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::Api;
use crate::auth::{Channel, Gate, Refusal, Role};
use html::{Decision, Notice};
use session::{COOKIE, LOGIN_COOKIE, Sessions, WebSession};

/// The console's stylesheet (its only asset).
const CSS: &str = include_str!("console.css");

/// How long the action page waits for the cluster to check a change.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an approval's answer waits for its apply before showing the
/// action page (which reloads itself while the apply goes on).
const APPLY_WAIT: Duration = Duration::from_secs(5);

/// The longest rollout wait a form may ask for.
const MAX_ROLLOUT: Duration = Duration::from_secs(600);

/// The console's state: the API (session and drain flag), authentication
/// and its audit, the signed-in sessions, and the last failure of an apply
/// started from here, per action.
#[derive(Clone)]
pub struct Console(Arc<Inner>);

struct Inner {
    api: Arc<Api>,
    gate: Gate,
    sessions: Sessions,
    apply_errors: Mutex<HashMap<String, String>>,
}

/// The console's routes (all under `/console`), to merge into the HTTP
/// listener's router.
pub fn router(api: Arc<Api>, gate: Gate) -> Router {
    let console = Console(Arc::new(Inner {
        api,
        gate,
        sessions: Sessions::default(),
        apply_errors: Mutex::default(),
    }));
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(list))
        .route("/console/console.css", get(css))
        .route("/console/login", get(login_form).post(login))
        .route("/console/logout", post(logout))
        .route("/console/investigations", get(investigations))
        .route("/console/investigations/{id}", get(investigation))
        .route("/console/actions/{id}", get(show))
        .route("/console/actions/{id}/audit", get(audit))
        .route("/console/actions/{id}/approve", post(approve))
        .route("/console/actions/{id}/reject", post(reject))
        .route("/console/{*rest}", get(not_found).post(not_found))
        .layer(axum::middleware::map_response(with_security_headers))
        .with_state(console)
}

async fn with_security_headers(mut response: Response) -> Response {
    session::security_headers(response.headers_mut());
    response
}

/// An HTML page with `status`.
fn page(status: StatusCode, html: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

/// 303 See Other to `to` (after a form post, and to the sign-in page).
fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

fn status_of(class: ErrorClass) -> StatusCode {
    match class {
        ErrorClass::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorClass::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorClass::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorClass::NotFound => StatusCode::NOT_FOUND,
        ErrorClass::FailedPrecondition => StatusCode::CONFLICT,
        ErrorClass::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        ErrorClass::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        ErrorClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The digest of the change a page showed, which its approve form carries
/// back: the resourceVersion it was checked at and the diff.
pub fn seen_digest(check: &Check, stored_diff: &str) -> String {
    let (rv, diff) = match check {
        Check::Checked(p) => (p.resource_version.as_str(), p.diff.as_str()),
        Check::AsProposed(_) => ("", stored_diff),
        Check::Withheld => return String::new(),
    };
    let mut h = Sha256::new();
    h.update(rv.as_bytes());
    h.update(b"\n");
    h.update(diff.as_bytes());
    hex::encode(h.finalize())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfForm {
    csrf: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    csrf: String,
    token: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ApproveForm {
    csrf: String,
    seen: String,
    rollout: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RejectForm {
    csrf: String,
    reason: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    state: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ShowQuery {
    notice: Option<String>,
}

impl Console {
    fn api(&self) -> &Api {
        &self.0.api
    }

    /// The session the request's cookie names, if it is live.
    fn signed_in(&self, headers: &HeaderMap) -> Option<(String, WebSession)> {
        let id = session::cookie(headers, COOKIE)?;
        let s = self.0.sessions.get(id)?;
        Some((id.to_owned(), s))
    }

    /// A refused request: audited (`event: "access"`, channel `web`), and
    /// answered 403 with the reason.
    fn refuse(&self, method: &str, who: Option<&WebSession>, refusal: Refusal) -> Response {
        let caller = who
            .map(|w| w.identity.caller(Channel::Web))
            .unwrap_or_default();
        self.0
            .gate
            .refused(Channel::Web, method, &caller, None, &refusal);
        page(
            StatusCode::FORBIDDEN,
            html::error(who, "Refused", refusal.message()),
        )
    }

    /// Every form post passes here: it comes from the console's own pages,
    /// from a live session, with that session's CSRF token, by someone with
    /// `needed`. A refusal is audited and answered 403.
    fn check_post(
        &self,
        headers: &HeaderMap,
        csrf: &str,
        method: &str,
        needed: Role,
    ) -> Result<WebSession, Box<Response>> {
        let who = self.signed_in(headers).map(|(_, s)| s);
        if let Err(why) = session::check_same_origin(headers) {
            return Err(Box::new(self.refuse(
                method,
                who.as_ref(),
                Refusal::PermissionDenied(why),
            )));
        }
        let Some(who) = who else {
            return Err(Box::new(self.refuse(
                method,
                None,
                Refusal::Unauthenticated(
                    "not signed in (no console session, or it has ended): sign in again".into(),
                ),
            )));
        };
        if !session::constant_time_eq(csrf.as_bytes(), who.csrf.as_bytes()) {
            return Err(Box::new(self.refuse(
                method,
                Some(&who),
                Refusal::PermissionDenied(
                    "the form's CSRF token is missing or is not this session's; reload the page and try again".into(),
                ),
            )));
        }
        if let Err(r) = self
            .0
            .gate
            .require(Channel::Web, method, &who.identity, needed)
        {
            return Err(Box::new(page(
                StatusCode::FORBIDDEN,
                html::error(Some(&who), "Refused", r.message()),
            )));
        }
        Ok(who)
    }

    /// The action page for `id` as `who` sees it, with `notices` (and the
    /// last failure of an apply started here); `check` when the caller has
    /// just computed it.
    async fn action_page(
        &self,
        status: StatusCode,
        who: &WebSession,
        id: &str,
        mut notices: Vec<Notice>,
        check: Option<Check>,
    ) -> Response {
        let session = &self.api().session;
        let action = match session.get_action(id) {
            Ok(a) => a,
            Err(e) => return self.service_error(Some(who), "No such action", &e),
        };
        let check = match check {
            Some(c) => c,
            None => {
                session
                    .check_action(&action, &who.identity.caller(Channel::Web), CHECK_TIMEOUT)
                    .await
            }
        };
        let trail = {
            let session = Arc::clone(session);
            let id = action.id.clone();
            tokio::task::spawn_blocking(move || session.action_audit_trail(&id))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
        };
        if let Some(e) = self
            .0
            .apply_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&action.id)
        {
            notices.push(Notice::Error(e.clone()));
        }
        let seen = seen_digest(&check, &action.diff);
        let can_decide = who.identity.role >= Role::Approver
            && action.integrity.is_verified()
            && matches!(action.state, ActionState::Pending | ActionState::Approved)
            && !matches!(check, Check::Withheld)
            && !self.api().draining.is_cancelled();
        page(
            status,
            html::action(
                who,
                &action,
                &check,
                &trail,
                &notices,
                &Decision {
                    can_decide,
                    seen: &seen,
                },
            ),
        )
    }

    fn service_error(&self, who: Option<&WebSession>, heading: &str, e: &ServiceError) -> Response {
        page(status_of(e.class), html::error(who, heading, &e.message))
    }
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        CSS,
    )
        .into_response()
}

async fn not_found(State(c): State<Console>, headers: HeaderMap) -> Response {
    let who = c.signed_in(&headers).map(|(_, s)| s);
    page(
        StatusCode::NOT_FOUND,
        html::error(
            who.as_ref(),
            "Not found",
            "There is no such page in the console.",
        ),
    )
}

async fn login_form(State(c): State<Console>, headers: HeaderMap) -> Response {
    if c.signed_in(&headers).is_some() {
        return see_other("/console/");
    }
    login_page(&headers, StatusCode::OK, None)
}

/// The sign-in form with a fresh login CSRF token (also in a short-lived
/// cookie scoped to the sign-in path: the form must send both).
fn login_page(headers: &HeaderMap, status: StatusCode, error: Option<&str>) -> Response {
    let token = session::random_token();
    let mut r = page(status, html::login(&token, error));
    r.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(
            LOGIN_COOKIE,
            &token,
            "/console/login",
            Some(600),
            session::is_https(headers),
        ),
    );
    r
}

async fn login(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    const METHOD: &str = "console login";
    if let Err(why) = session::check_same_origin(&headers) {
        return c.refuse(METHOD, None, Refusal::PermissionDenied(why));
    }
    let expected = session::cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !session::constant_time_eq(form.csrf.as_bytes(), expected.as_bytes())
    {
        c.0.gate.refused(
            Channel::Web,
            METHOD,
            "",
            None,
            &Refusal::PermissionDenied(
                "the sign-in form's CSRF token does not match its cookie".into(),
            ),
        );
        return login_page(
            &headers,
            StatusCode::FORBIDDEN,
            Some("The sign-in form had expired or was not this console's; try again."),
        );
    }
    let token = form.token.trim();
    if token.is_empty() {
        return login_page(&headers, StatusCode::BAD_REQUEST, Some("Enter your token."));
    }
    // The gate audits a refusal (unknown token, no role).
    let identity = match c
        .0
        .gate
        .check(Channel::Web, METHOD, Some(&format!("Bearer {token}")))
        .await
    {
        Ok(i) => i,
        Err(r) => {
            return login_page(
                &headers,
                StatusCode::UNAUTHORIZED,
                Some(&format!("Not signed in: {}.", r.message())),
            );
        }
    };
    if let Some((old, _)) = c.signed_in(&headers) {
        c.0.sessions.remove(&old);
    }
    tracing::info!(identity = %identity.name, role = %identity.role, "console sign-in");
    let (id, _) = c.0.sessions.create(identity);
    let secure = session::is_https(&headers);
    let mut r = see_other("/console/");
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        session::set_cookie(COOKIE, &id, "/console", None, secure),
    );
    h.append(
        header::SET_COOKIE,
        session::set_cookie(LOGIN_COOKIE, "", "/console/login", Some(0), secure),
    );
    r
}

async fn logout(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (id, _) = match c.signed_in(&headers) {
        Some(s) => s,
        None => return see_other("/console/login"),
    };
    if let Err(r) = c.check_post(&headers, &form.csrf, "console logout", Role::Viewer) {
        return *r;
    }
    c.0.sessions.remove(&id);
    let mut r = see_other("/console/login");
    r.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(COOKIE, "", "/console", Some(0), session::is_https(&headers)),
    );
    r
}

async fn list(
    State(c): State<Console>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let Some((_, who)) = c.signed_in(&headers) else {
        return see_other("/console/login");
    };
    let filter = match q.state.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => match ActionState::parse(s) {
            Some(state) => Some(state),
            None => {
                return page(
                    StatusCode::BAD_REQUEST,
                    html::error(
                        Some(&who),
                        "Unknown state",
                        &format!(
                            "{s:?} is not an action state; one of: {}",
                            ActionState::ALL.map(|s| s.as_str()).join(", ")
                        ),
                    ),
                );
            }
        },
    };
    match c.api().session.list_actions(filter) {
        Ok(actions) => page(StatusCode::OK, html::actions(&who, &actions, filter)),
        Err(e) => c.service_error(Some(&who), "The actions cannot be listed", &e),
    }
}

async fn show(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let Some((_, who)) = c.signed_in(&headers) else {
        return see_other("/console/login");
    };
    let notices = match q.notice.as_deref() {
        Some("approved") => vec![Notice::Info(
            "Approved. The change is being applied; this page shows how it ends.".into(),
        )],
        Some("already-applied") => vec![Notice::Info(
            "An earlier apply that was interrupted had already applied this action; nothing was applied again.".into(),
        )],
        Some("rejected") => vec![Notice::Info("Rejected.".into())],
        _ => Vec::new(),
    };
    c.action_page(StatusCode::OK, &who, id.trim(), notices, None)
        .await
}

async fn investigations(State(c): State<Console>, headers: HeaderMap) -> Response {
    let Some((_, who)) = c.signed_in(&headers) else {
        return see_other("/console/login");
    };
    match c.api().session.list_investigations(None) {
        Ok(list) => page(StatusCode::OK, html::investigations(&who, &list)),
        Err(e) => c.service_error(Some(&who), "The investigations cannot be listed", &e),
    }
}

async fn investigation(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some((_, who)) = c.signed_in(&headers) else {
        return see_other("/console/login");
    };
    match c.api().session.get_investigation(id.trim()) {
        Ok(i) => page(StatusCode::OK, html::investigation(&who, &i)),
        Err(e) => c.service_error(Some(&who), "No such investigation", &e),
    }
}

async fn audit(State(c): State<Console>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some((_, who)) = c.signed_in(&headers) else {
        return see_other("/console/login");
    };
    let session = &c.api().session;
    let action = match session.get_action(id.trim()) {
        Ok(a) => a,
        Err(e) => return c.service_error(Some(&who), "No such action", &e),
    };
    let trail = {
        let session = Arc::clone(session);
        let id = action.id.clone();
        tokio::task::spawn_blocking(move || session.action_audit_trail(&id))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
    };
    page(StatusCode::OK, html::audit(&who, &action, &trail))
}

async fn approve(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ApproveForm>,
) -> Response {
    let id = id.trim().to_owned();
    let method = format!("console approve {id}");
    let who = match c.check_post(&headers, &form.csrf, &method, Role::Approver) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    if c.api().draining.is_cancelled() {
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            html::error(
                Some(&who),
                "Shutting down",
                "Guardian is shutting down and takes no new approvals; approve it once it is back.",
            ),
        );
    }
    let rollout = match form.rollout.as_deref().map(str::trim) {
        None | Some("") => ApplyOptions::default().rollout_timeout,
        Some(s) => match s.parse::<u64>() {
            Ok(secs) => Duration::from_secs(secs).min(MAX_ROLLOUT),
            Err(_) => {
                return page(
                    StatusCode::BAD_REQUEST,
                    html::error(
                        Some(&who),
                        "Bad request",
                        &format!("rollout: expected a number of seconds, not {s:?}"),
                    ),
                );
            }
        },
    };
    // The person signed in, on the web console: the approver.
    let approver = match Approver::new(ApprovalChannel::Web, &who.identity.name) {
        Ok(a) => a,
        Err(e) => {
            return page(
                StatusCode::BAD_REQUEST,
                html::error(Some(&who), "Refused", &e.to_string()),
            );
        }
    };
    let session = Arc::clone(&c.api().session);
    let failed = |e: ServiceError| {
        let c = c.clone();
        let who = who.clone();
        let id = id.clone();
        async move {
            c.action_page(
                status_of(e.class),
                &who,
                &id,
                vec![Notice::Error(format!("Not approved: {}", e.message))],
                None,
            )
            .await
        }
    };
    // An apply a crash interrupted is settled first, never re-applied.
    let mut notes = Vec::new();
    match session.settle_action(&id, &mut notes).await {
        Ok(Settled::Ready(_)) => {}
        Ok(Settled::AlreadyApplied(_)) => {
            return see_other(&format!("/console/actions/{id}?notice=already-applied"));
        }
        Err(e) => return failed(e).await,
    }
    for note in &notes {
        tracing::info!("{note}");
    }
    // What is approved is the change computed now; it must be the one the
    // page showed.
    let review = match session.review_action(&id, &approver).await {
        Ok(r) => r,
        Err(e) => return failed(e).await,
    };
    let now = Check::Checked(review.preview.clone());
    let digest = seen_digest(&now, &review.action.diff);
    if form.seen.is_empty() || !session::constant_time_eq(form.seen.as_bytes(), digest.as_bytes()) {
        return c
            .action_page(
                StatusCode::CONFLICT,
                &who,
                &id,
                vec![Notice::Error(
                    "Not approved: the change is no longer the one you were shown (the object changed, or the page was checked against another state). The change as it would be applied now is shown below; approve again to apply it.".into(),
                )],
                Some(now),
            )
            .await;
    }
    let options = ApplyOptions {
        rollout_timeout: rollout,
        ..ApplyOptions::default()
    };
    c.0.apply_errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    // The apply goes on even if the browser goes away; the page reloads
    // itself while it does.
    let task = {
        let c = c.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let _flight = crate::metrics::global().start();
            if let Err(e) = c
                .api()
                .session
                .apply_reviewed(&id, &approver, "approved in the web console", &options)
                .await
            {
                tracing::warn!(action = %id, error = %e, "console approval failed");
                c.0.apply_errors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id, format!("The approval failed: {}", e.message));
            }
        })
    };
    let _ = tokio::time::timeout(APPLY_WAIT, task).await;
    see_other(&format!("/console/actions/{id}?notice=approved"))
}

async fn reject(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<RejectForm>,
) -> Response {
    let id = id.trim().to_owned();
    let method = format!("console reject {id}");
    let who = match c.check_post(&headers, &form.csrf, &method, Role::Approver) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let approver = match Approver::new(ApprovalChannel::Web, &who.identity.name) {
        Ok(a) => a,
        Err(e) => {
            return page(
                StatusCode::BAD_REQUEST,
                html::error(Some(&who), "Refused", &e.to_string()),
            );
        }
    };
    let reason = form.reason.trim();
    let reason = if reason.is_empty() {
        "rejected in the web console"
    } else {
        reason
    };
    match c.api().session.reject_action(&approver, &id, reason) {
        Ok(_) => see_other(&format!("/console/actions/{id}?notice=rejected")),
        Err(e) => {
            c.action_page(
                status_of(e.class),
                &who,
                &id,
                vec![Notice::Error(format!("Not rejected: {}", e.message))],
                None,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use guardian_actions::Preview;

    #[test]
    fn the_seen_digest_binds_the_diff_and_the_resource_version() {
        let p = |rv: &str, diff: &str| {
            Check::Checked(Preview {
                resource_version: rv.into(),
                operations: Vec::new(),
                diff: diff.into(),
                dry_run: "ok".into(),
            })
        };
        let a = seen_digest(&p("1", "-a\n+b\n"), "");
        assert_eq!(a, seen_digest(&p("1", "-a\n+b\n"), "other"));
        assert_ne!(a, seen_digest(&p("2", "-a\n+b\n"), ""));
        assert_ne!(a, seen_digest(&p("1", "-a\n+c\n"), ""));
        assert_ne!(a, seen_digest(&Check::AsProposed("x".into()), "-a\n+b\n"));
        assert_eq!(seen_digest(&Check::Withheld, "-a\n+b\n"), "");
    }
}
