//! `POST /alertmanager` on `guardian serve`'s HTTP listener: Alertmanager's
//! webhook (payload version 4), authenticated with the tokens file's bearer
//! tokens (Alertmanager's `http_config.authorization`; the operator role
//! or above). A thin adapter: the session records each alert and
//! investigates in the background ([`guardian_core::Session::intake_alerts`]),
//! so the answer comes at once.
//!
//! | answer | when |
//! | --- | --- |
//! | 200 | accepted (the body says what became of each alert) |
//! | 400 | not a version 4 payload; the body names the field |
//! | 401 | no token, or one nobody issued (audited) |
//! | 403 | a viewer's token (audited) |
//! | 413 | a body over 4 MiB |
//! | 503 | draining, the store unavailable, or the queue full (Alertmanager retries a 5xx) |

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use serde_json::json;

use crate::auth::{Channel, Refusal, Role};
use crate::{Api, metrics};

/// The largest body accepted.
pub const MAX_BODY: usize = 4 << 20;

const METHOD: &str = "alertmanager";

/// The route, with its body limit.
pub fn route() -> MethodRouter<Arc<Api>> {
    post(receive).layer(DefaultBodyLimit::max(MAX_BODY))
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    metrics::global().request(Channel::Alertmanager.as_str(), METHOD, status.as_str());
    (status, axum::Json(body)).into_response()
}

async fn receive(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    if api.draining.is_cancelled() {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "the server is shutting down; retry on another replica"}),
        );
    }
    let Some(gate) = &api.gate else {
        return answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "no authentication is configured"}),
        );
    };
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let identity = match gate.check(Channel::Alertmanager, METHOD, auth).await {
        Ok(id) => id,
        Err(r) => return refusal(&r),
    };
    if let Err(r) = gate.require(Channel::Alertmanager, METHOD, &identity, Role::Operator) {
        return refusal(&r);
    }
    let notification = match guardian_core::investigations::parse_payload(&body) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(caller = %identity.caller(Channel::Alertmanager), "refused an Alertmanager payload: {e}");
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("invalid Alertmanager webhook payload: {e}"), "field": e.field}),
            );
        }
    };
    let session = Arc::clone(&api.session);
    let name = identity.name.clone();
    let taken =
        tokio::task::spawn_blocking(move || session.intake_alerts(&name, &notification)).await;
    match taken {
        Ok(Ok(intake)) => {
            let refused = intake.iter().filter(|i| i.outcome == "refused").count();
            let body = json!({"alerts": intake});
            if refused > 0 {
                let mut r = answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": format!("{refused} alert(s) refused: the investigation queue is full; retry later"),
                           "alerts": body["alerts"]}),
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
                r
            } else {
                answer(StatusCode::OK, body)
            }
        }
        Ok(Err(e)) => answer(StatusCode::SERVICE_UNAVAILABLE, json!({"error": e.message})),
        Err(e) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": format!("the intake failed: {e}")}),
        ),
    }
}

fn refusal(r: &Refusal) -> Response {
    match r {
        Refusal::Unauthenticated(m) => {
            let mut resp = answer(StatusCode::UNAUTHORIZED, json!({"error": m}));
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            resp
        }
        Refusal::PermissionDenied(m) => answer(StatusCode::FORBIDDEN, json!({"error": m})),
    }
}
