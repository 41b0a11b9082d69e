//! The guard in front of MCP over streamable HTTP (`/mcp`), in this order:
//!
//! 1. `Host` (DNS rebinding): on a loopback listener it must be a loopback
//!    name; `--mcp-allowed-host` adds names (and, on any other listener,
//!    makes the check apply at all).
//! 2. `Origin`, when present (browsers send it; other clients do not): it
//!    must be a configured origin (`--mcp-allowed-origin`) or, on a loopback
//!    listener, a loopback origin (`http://localhost:PORT`, …). `null` only
//!    when configured.
//! 3. The bearer token ([`Gate::check`]).
//! 4. The session: each `Mcp-Session-Id` belongs to the identity whose
//!    `initialize` opened it. A request carrying another identity's session
//!    is refused — it could otherwise answer that identity's approval
//!    elicitation, or read its stream.
//!
//! Every refusal is an `event: "access"` audit line (403; 401 for a token).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

use crate::auth::{Channel, Gate, Identity, Refusal};

/// The MCP session header.
pub const SESSION_HEADER: &str = "mcp-session-id";

/// Host names that are the machine itself.
const LOOPBACK_HOSTS: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// A configured origin or host that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GuardConfigError {
    #[error(
        "--mcp-allowed-origin {0:?}: expected `null` or SCHEME://HOST[:PORT|:*] (as a browser sends it, e.g. https://app.example.com)"
    )]
    Origin(String),
    #[error("--mcp-allowed-host {0:?}: expected HOST or HOST:PORT (e.g. guardian.example.com)")]
    Host(String),
}

/// One allowed origin: `null`, or scheme, host and port (`None`: any port).
#[derive(Clone, Debug, PartialEq, Eq)]
enum AllowedOrigin {
    Null,
    Tuple {
        scheme: String,
        host: String,
        port: Option<u16>,
    },
}

/// An origin as a browser sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Origin {
    Null,
    Tuple {
        scheme: String,
        host: String,
        port: u16,
    },
}

fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// `scheme://host[:port]`, nothing after it (a trailing `/` is tolerated).
fn parse_origin_parts(value: &str) -> Option<(String, String, Option<u16>)> {
    let value = value.trim();
    let (scheme, rest) = value.split_once("://")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        || rest.is_empty()
        || rest.contains(['/', '?', '#', '@'])
    {
        return None;
    }
    let authority: axum::http::uri::Authority = rest.parse().ok()?;
    let host = normalize_host(authority.host());
    if host.is_empty() {
        return None;
    }
    Some((scheme.to_ascii_lowercase(), host, authority.port_u16()))
}

impl AllowedOrigin {
    fn parse(value: &str) -> Result<Self, GuardConfigError> {
        let bad = || GuardConfigError::Origin(value.to_owned());
        let v = value.trim();
        if v.eq_ignore_ascii_case("null") {
            return Ok(AllowedOrigin::Null);
        }
        if let Some(base) = v.strip_suffix(":*") {
            let (scheme, host, port) = parse_origin_parts(base).ok_or_else(bad)?;
            if port.is_some() {
                return Err(bad());
            }
            return Ok(AllowedOrigin::Tuple {
                scheme,
                host,
                port: None,
            });
        }
        let (scheme, host, port) = parse_origin_parts(v).ok_or_else(bad)?;
        // No port: the scheme's default one, as a browser omits it.
        let port = port.or_else(|| default_port(&scheme)).ok_or_else(bad)?;
        Ok(AllowedOrigin::Tuple {
            scheme,
            host,
            port: Some(port),
        })
    }

    fn admits(&self, origin: &Origin) -> bool {
        match (self, origin) {
            (AllowedOrigin::Null, Origin::Null) => true,
            (
                AllowedOrigin::Tuple { scheme, host, port },
                Origin::Tuple {
                    scheme: s,
                    host: h,
                    port: p,
                },
            ) => scheme == s && host == h && port.is_none_or(|port| port == *p),
            _ => false,
        }
    }
}

impl Origin {
    fn parse(value: &str) -> Option<Self> {
        if value.trim() == "null" {
            return Some(Origin::Null);
        }
        let (scheme, host, port) = parse_origin_parts(value)?;
        let port = port.or_else(|| default_port(&scheme))?;
        Some(Origin::Tuple { scheme, host, port })
    }
}

/// One allowed `Host`: a name, and a port (`None`: any).
#[derive(Clone, Debug, PartialEq, Eq)]
struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    fn parse(value: &str) -> Result<Self, GuardConfigError> {
        let bad = || GuardConfigError::Host(value.to_owned());
        let v = value.trim();
        if v.is_empty() || v.contains(['/', '@', '?', '#']) {
            return Err(bad());
        }
        let authority: axum::http::uri::Authority = v.parse().map_err(|_| bad())?;
        let host = normalize_host(authority.host());
        if host.is_empty() {
            return Err(bad());
        }
        Ok(AllowedHost {
            host,
            port: authority.port_u16(),
        })
    }
}

/// What the guard admits: from `--mcp-allowed-origin` and
/// `--mcp-allowed-host`, and whether the listener is on loopback.
#[derive(Clone, Debug, Default)]
pub struct OriginPolicy {
    loopback: bool,
    origins: Vec<AllowedOrigin>,
    hosts: Vec<AllowedHost>,
}

impl OriginPolicy {
    /// Checks every configured value; a bad one is an error naming it.
    pub fn new(
        loopback: bool,
        origins: &[String],
        hosts: &[String],
    ) -> Result<Self, GuardConfigError> {
        Ok(OriginPolicy {
            loopback,
            origins: origins
                .iter()
                .map(|o| AllowedOrigin::parse(o))
                .collect::<Result<_, _>>()?,
            hosts: hosts
                .iter()
                .map(|h| AllowedHost::parse(h))
                .collect::<Result<_, _>>()?,
        })
    }

    /// `Err(reason)` when the `Host` of the request is not admitted.
    pub fn check_host(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), String> {
        let value = match headers.get(header::HOST) {
            Some(v) => v
                .to_str()
                .map_err(|_| "the Host header is not text".to_owned())?
                .to_owned(),
            None => match uri.authority() {
                Some(a) => a.as_str().to_owned(),
                None => return Err("the request has no Host header".into()),
            },
        };
        let authority: axum::http::uri::Authority = value
            .parse()
            .map_err(|_| format!("the Host header {value:?} is not a host"))?;
        let host = normalize_host(authority.host());
        let port = authority.port_u16();
        if LOOPBACK_HOSTS.contains(&host.as_str()) {
            return Ok(());
        }
        if self
            .hosts
            .iter()
            .any(|a| a.host == host && a.port.is_none_or(|p| Some(p) == port))
        {
            return Ok(());
        }
        if !self.loopback && self.hosts.is_empty() {
            // Not on loopback and no names given: the token is the guard.
            return Ok(());
        }
        Err(format!(
            "the Host header {value:?} is not allowed (DNS-rebinding protection); a host name the server answers to is given with --mcp-allowed-host"
        ))
    }

    /// `Err(reason)` when the request carries an `Origin` not admitted.
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), String> {
        let mut values = headers.get_all(header::ORIGIN).iter();
        let Some(value) = values.next() else {
            // No Origin: not a browser; nothing to check.
            return Ok(());
        };
        if values.next().is_some() {
            return Err("the request has more than one Origin header".into());
        }
        let text = value
            .to_str()
            .map_err(|_| "the Origin header is not text".to_owned())?;
        let origin = Origin::parse(text)
            .ok_or_else(|| format!("the Origin header {text:?} is not an origin"))?;
        if self.origins.iter().any(|a| a.admits(&origin)) {
            return Ok(());
        }
        if self.loopback
            && let Origin::Tuple { scheme, host, .. } = &origin
            && matches!(scheme.as_str(), "http" | "https")
            && LOOPBACK_HOSTS.contains(&host.as_str())
        {
            return Ok(());
        }
        Err(format!(
            "the Origin {text:?} is not allowed (a web page on another site may not call this server); allow it with --mcp-allowed-origin"
        ))
    }
}

/// Who opened each live MCP session.
pub struct Sessions {
    owners: Mutex<HashMap<String, Identity>>,
    manager: Arc<LocalSessionManager>,
}

impl Sessions {
    pub fn new(manager: Arc<LocalSessionManager>) -> Self {
        Sessions {
            owners: Mutex::default(),
            manager,
        }
    }

    fn owner(&self, id: &str) -> Option<Identity> {
        self.owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Remembers `id` as `identity`'s, and forgets the sessions rmcp has
    /// closed since (so the map holds at most the live sessions and this one).
    async fn opened(&self, id: String, identity: Identity) {
        let live: HashSet<String> = self
            .manager
            .sessions
            .read()
            .await
            .keys()
            .map(|k| k.to_string())
            .collect();
        let mut owners = self.owners.lock().unwrap_or_else(|p| p.into_inner());
        owners.retain(|k, _| live.contains(k));
        owners.insert(id, identity);
    }

    fn closed(&self, id: &str) {
        self.owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// How many sessions are remembered.
    pub fn len(&self) -> usize {
        self.owners.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The state of [`guard`].
pub struct Guard {
    pub gate: Gate,
    pub policy: OriginPolicy,
    pub sessions: Sessions,
}

fn forbidden(message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(serde_json::json!({"error": message})),
    )
        .into_response()
}

/// The middleware in front of `/mcp` (see the module docs).
pub async fn guard(State(guard): State<Arc<Guard>>, mut request: Request, next: Next) -> Response {
    let method = format!("{} {}", request.method(), request.uri().path());
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    // Host and Origin first: a browser tricked into calling us is turned
    // away whatever it carries. The audit names the caller when the token
    // is one of the tokens file's.
    let browser_check = guard
        .policy
        .check_host(request.uri(), request.headers())
        .and_then(|()| guard.policy.check_origin(request.headers()));
    if let Err(reason) = browser_check {
        let caller = guard
            .gate
            .tokens
            .authenticate(authorization.as_deref())
            .map(|i| i.caller(Channel::Mcp))
            .unwrap_or_default();
        let refusal = Refusal::PermissionDenied(reason);
        guard
            .gate
            .refused(Channel::Mcp, &method, &caller, None, &refusal);
        return forbidden(refusal.message());
    }

    let identity = match guard
        .gate
        .check(Channel::Mcp, &method, authorization.as_deref())
        .await
    {
        Ok(identity) => identity,
        Err(refusal) => {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                axum::Json(serde_json::json!({"error": refusal.message()})),
            )
                .into_response();
        }
    };

    let session = match request.headers().get(SESSION_HEADER) {
        None => None,
        Some(v) => match v.to_str() {
            Ok(s) if !s.is_empty() => Some(s.to_owned()),
            _ => {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(serde_json::json!({"error": "the Mcp-Session-Id header is not a session id"})),
                )
                    .into_response();
            }
        },
    };
    if let Some(id) = &session {
        match guard.sessions.owner(id) {
            Some(owner) if owner == identity => {}
            Some(owner) => {
                let refusal = Refusal::PermissionDenied(format!(
                    "the MCP session {id} was opened by {} ({} role); {} ({} role) may not use it",
                    owner.name, owner.role, identity.name, identity.role
                ));
                guard.gate.refused(
                    Channel::Mcp,
                    &method,
                    &identity.caller(Channel::Mcp),
                    Some(id),
                    &refusal,
                );
                return forbidden(refusal.message());
            }
            None => {
                // Ended, or never opened here: the client starts a new one
                // (the MCP specification's answer to an unknown session).
                return (
                    StatusCode::NOT_FOUND,
                    axum::Json(serde_json::json!({
                        "error": "no such MCP session (it ended or never existed); send initialize to open a new one"
                    })),
                )
                    .into_response();
            }
        }
    }

    let deleting = request.method() == axum::http::Method::DELETE;
    request.extensions_mut().insert(identity.clone());
    let response = next.run(request).await;
    match &session {
        None if response.status().is_success() => {
            if let Some(id) = response
                .headers()
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
            {
                guard.sessions.opened(id.to_owned(), identity).await;
            }
        }
        Some(id) if deleting && response.status().is_success() => guard.sessions.closed(id),
        _ => {}
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn origin(policy: &OriginPolicy, value: &str) -> Result<(), String> {
        policy.check_origin(&headers(&[(header::ORIGIN, value)]))
    }

    fn host(policy: &OriginPolicy, value: &str) -> Result<(), String> {
        policy.check_host(
            &Uri::from_static("/mcp"),
            &headers(&[(header::HOST, value)]),
        )
    }

    /// The owners map forgets the sessions rmcp has closed.
    #[tokio::test]
    async fn sessions_are_forgotten_once_closed() {
        use crate::auth::Role;
        use rmcp::transport::streamable_http_server::SessionManager;
        let manager = Arc::new(LocalSessionManager::default());
        let sessions = Sessions::new(Arc::clone(&manager));
        let alice = Identity {
            name: "alice".into(),
            role: Role::Approver,
        };
        let (first, _t1) = manager.create_session().await.unwrap();
        sessions.opened(first.to_string(), alice.clone()).await;
        assert_eq!(sessions.owner(&first), Some(alice.clone()));
        manager.close_session(&first).await.unwrap();
        let (second, _t2) = manager.create_session().await.unwrap();
        sessions.opened(second.to_string(), alice.clone()).await;
        assert_eq!(sessions.owner(&first), None);
        assert_eq!(sessions.len(), 1);
        sessions.closed(&second);
        assert!(sessions.is_empty());
    }

    #[test]
    fn origins_on_a_loopback_listener() {
        let p = OriginPolicy::new(true, &[], &[]).unwrap();
        assert!(p.check_origin(&HeaderMap::new()).is_ok(), "no Origin");
        for ok in [
            "http://localhost:3000",
            "http://127.0.0.1:8765",
            "https://[::1]",
            "HTTP://LOCALHOST",
        ] {
            assert!(origin(&p, ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://evil.example",
            "null",
            "http://localhost.evil.example",
            "file://localhost",
            "not an origin",
            "",
        ] {
            let e = origin(&p, bad).unwrap_err();
            assert!(e.contains("Origin"), "{bad}: {e}");
        }
    }

    #[test]
    fn configured_origins_are_exact_and_null_only_when_listed() {
        let p = OriginPolicy::new(
            false,
            &[
                "https://app.example.com".into(),
                "http://dev.example.com:*".into(),
                "null".into(),
            ],
            &[],
        )
        .unwrap();
        for ok in [
            "https://app.example.com",
            "https://app.example.com:443",
            "http://dev.example.com:8080",
            "null",
        ] {
            assert!(origin(&p, ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://app.example.com:8443",
            "http://app.example.com",
            "https://evil.example",
            // Not a loopback listener: loopback origins are not implied.
            "http://localhost:3000",
        ] {
            assert!(origin(&p, bad).is_err(), "{bad}");
        }
        let p = OriginPolicy::new(false, &[], &[]).unwrap();
        assert!(origin(&p, "null").is_err());
        for bad in [
            "app.example.com",
            "https://",
            "https://a.example/path",
            "x:*",
        ] {
            assert!(
                OriginPolicy::new(false, &[bad.into()], &[]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn hosts() {
        let p = OriginPolicy::new(true, &[], &[]).unwrap();
        for ok in ["127.0.0.1:8765", "localhost", "[::1]:1", "LOCALHOST:80"] {
            assert!(host(&p, ok).is_ok(), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8765",
            "127.0.0.1.evil.example",
        ] {
            assert!(host(&p, bad).unwrap_err().contains("Host"), "{bad}");
        }
        assert!(
            p.check_host(&Uri::from_static("/mcp"), &HeaderMap::new())
                .is_err(),
            "no Host"
        );
        let p = OriginPolicy::new(
            true,
            &[],
            &["guardian.example.com".into(), "gw.example.com:8443".into()],
        )
        .unwrap();
        assert!(host(&p, "guardian.example.com:8765").is_ok());
        assert!(host(&p, "gw.example.com:8443").is_ok());
        assert!(host(&p, "gw.example.com:9000").is_err());
        // Not on loopback: any Host, unless names are given.
        let p = OriginPolicy::new(false, &[], &[]).unwrap();
        assert!(host(&p, "anything.example").is_ok());
        let p = OriginPolicy::new(false, &[], &["guardian.example.com".into()]).unwrap();
        assert!(host(&p, "anything.example").is_err());
        assert!(host(&p, "localhost:8765").is_ok(), "port-forwarding");
        assert!(OriginPolicy::new(false, &[], &["http://x".into()]).is_err());
    }
}
