//! Who is signed in to the console, and the checks every request passes:
//! server-side sessions behind a random cookie, the per-session CSRF token,
//! the same-origin check of a form post, and the headers every answer
//! carries.
//!
//! A session is created when a bearer token of the tokens file (the same
//! identities as gRPC and MCP) is exchanged at `/console/login`; the
//! browser holds only its random id, in an `HttpOnly`, `SameSite=Strict`
//! cookie (`Secure` when the console is reached over HTTPS). Sessions end
//! at logout, after [`IDLE`] without a request, or [`LIFETIME`] after
//! sign-in, whichever comes first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};

use crate::auth::Identity;

/// The session cookie's name.
pub const COOKIE: &str = "guardian-console";
/// The pre-sign-in cookie that carries the login form's CSRF token.
pub const LOGIN_COOKIE: &str = "guardian-console-login";
/// A session unused this long is gone.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session is gone this long after sign-in, used or not.
pub const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// At most this many sessions are kept; the oldest go first.
pub const MAX_SESSIONS: usize = 10_000;

/// The Content-Security-Policy of every console answer: nothing but the
/// console's own stylesheet is loaded, no script runs, forms post only to
/// the console, and no other site may frame it.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// 32 random bytes, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The operating system's generator; without it nothing here is safe.
    getrandom::fill(&mut bytes).expect("the operating system's random number generator");
    hex::encode(bytes)
}

/// Equal, compared in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One signed-in person.
#[derive(Clone, Debug)]
pub struct WebSession {
    pub identity: Identity,
    /// The token every form of this session carries.
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

/// The sessions, by the sha256 of their id (a lookup never compares the
/// secret itself).
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], WebSession>>,
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl WebSession {
    fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.last_seen) > IDLE || now.duration_since(self.created) > LIFETIME
    }
}

impl Sessions {
    /// A new session for `identity`; its id (for the cookie) and itself.
    pub fn create(&self, identity: Identity) -> (String, WebSession) {
        let id = random_token();
        let now = Instant::now();
        let session = WebSession {
            identity,
            csrf: random_token(),
            created: now,
            last_seen: now,
        };
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, s| !s.expired(now));
        while map.len() >= MAX_SESSIONS {
            let Some(oldest) = map.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| *k) else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(key(&id), session.clone());
        (id, session)
    }

    /// The live session `id` names (its idle clock restarted), if any.
    pub fn get(&self, id: &str) -> Option<WebSession> {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let k = key(id);
        match map.get_mut(&k) {
            Some(s) if !s.expired(now) => {
                s.last_seen = now;
                Some(s.clone())
            }
            Some(_) => {
                map.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Ends session `id` (logout).
    pub fn remove(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key(id));
    }

    /// Sessions kept now.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Whether the browser reached the console over HTTPS: a TLS-terminating
/// proxy in front says so with `X-Forwarded-Proto: https` (the listener
/// itself is plain HTTP). Trusting it can only add `Secure` to a cookie
/// and `https` to the origin a form must come from.
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("https")
        })
}

/// A `Set-Cookie` value: `HttpOnly` and `SameSite=Strict` always, `Secure`
/// when `secure`, `Max-Age` when given (0 deletes it; none: it ends with
/// the browser).
pub fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<u64>,
    secure: bool,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("cookie values are hex and fixed names")
}

/// This console's origin as the browser sees it: `http://127.0.0.1:9464`.
pub fn own_origin(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?.trim();
    if host.is_empty() || host.contains(['/', ' ', '@']) {
        return None;
    }
    let scheme = if is_https(headers) { "https" } else { "http" };
    Some(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// Whether a form post comes from the console's own pages. The browser's
/// Fetch Metadata (`Sec-Fetch-Site`) must say `same-origin` when sent; the
/// `Origin` must be the console's (or `null`, which a page with
/// `Referrer-Policy: no-referrer` sends, only when Fetch Metadata vouches
/// for it); without an `Origin`, the `Referer` must be one of the console's
/// pages. A post that shows none of them is refused: the console is for
/// browsers, which send them.
pub fn check_same_origin(headers: &HeaderMap) -> Result<(), String> {
    let own = own_origin(headers).ok_or("the request has no usable Host header")?;
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let site = get("sec-fetch-site");
    if let Some(site) = site
        && site != "same-origin"
    {
        return Err(format!(
            "the form was not sent from the console's own pages (Sec-Fetch-Site: {site})"
        ));
    }
    let vouched = site == Some("same-origin");
    match get("origin") {
        Some(origin) if origin.eq_ignore_ascii_case(&own) => Ok(()),
        Some("null") if vouched => Ok(()),
        Some(origin) => Err(format!(
            "the form was sent from {origin}, not from the console ({own})"
        )),
        None => match get("referer") {
            Some(r) if r.starts_with(&format!("{own}/")) => Ok(()),
            Some(_) => Err(format!(
                "the form was sent from a page that is not the console's ({own})"
            )),
            None if vouched => Ok(()),
            None => Err("the form post carries neither Origin nor Referer".into()),
        },
    }
}

/// The headers every console answer carries.
pub fn security_headers(headers: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(headers, "content-security-policy", CSP);
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "cross-origin-opener-policy", "same-origin");
    set(headers, "cross-origin-resource-policy", "same-origin");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, "cache-control", "no-store");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn alice() -> Identity {
        Identity {
            name: "alice".into(),
            role: Role::Approver,
        }
    }

    #[test]
    fn the_session_cookie_is_http_only_strict_and_secure_over_https() {
        let plain = set_cookie(COOKIE, "abc", "/console", None, false);
        let plain = plain.to_str().unwrap();
        assert_eq!(
            plain,
            "guardian-console=abc; Path=/console; HttpOnly; SameSite=Strict"
        );
        let secure = set_cookie(COOKIE, "abc", "/console", None, true);
        assert!(secure.to_str().unwrap().ends_with("; Secure"), "{secure:?}");
        let gone = set_cookie(COOKIE, "", "/console", Some(0), false);
        assert!(gone.to_str().unwrap().contains("Max-Age=0"));
        assert!(is_https(&headers(&[("x-forwarded-proto", "https")])));
        assert!(!is_https(&headers(&[("x-forwarded-proto", "http")])));
        assert!(!is_https(&HeaderMap::new()));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let h = headers(&[
            ("cookie", "a=1; guardian-console=s3cr3t"),
            ("cookie", "b=2"),
        ]);
        assert_eq!(cookie(&h, COOKIE), Some("s3cr3t"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "guardian"), None);
        assert_eq!(
            cookie(&headers(&[("cookie", "guardian-console=")]), COOKIE),
            None
        );
    }

    #[test]
    fn sessions_are_random_found_by_id_and_end_at_logout() {
        let sessions = Sessions::default();
        let (id, s) = sessions.create(alice());
        let (id2, s2) = sessions.create(alice());
        assert_ne!(id, id2);
        assert_ne!(s.csrf, s2.csrf);
        assert_eq!(id.len(), 64);
        assert_eq!(sessions.get(&id).unwrap().identity, alice());
        assert!(sessions.get("not-a-session").is_none());
        sessions.remove(&id);
        assert!(sessions.get(&id).is_none());
        assert!(sessions.get(&id2).is_some());
    }

    #[test]
    fn an_idle_or_old_session_is_gone() {
        let sessions = Sessions::default();
        let (id, _) = sessions.create(alice());
        {
            let mut map = sessions.map.lock().unwrap();
            let s = map.values_mut().next().unwrap();
            s.last_seen = Instant::now() - IDLE - Duration::from_secs(1);
        }
        assert!(sessions.get(&id).is_none(), "idle");
        assert!(sessions.is_empty(), "and removed");
        let (id, _) = sessions.create(alice());
        {
            let mut map = sessions.map.lock().unwrap();
            let s = map.values_mut().next().unwrap();
            if let Some(t) = Instant::now().checked_sub(LIFETIME + Duration::from_secs(1)) {
                s.created = t;
            } else {
                return; // the machine booted less than LIFETIME ago
            }
        }
        assert!(sessions.get(&id).is_none(), "older than its lifetime");
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        assert!(constant_time_eq(b"abcd", b"abcd"));
        assert!(!constant_time_eq(b"abcd", b"abce"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn a_form_post_must_come_from_the_console() {
        let host = ("host", "127.0.0.1:9464");
        // A browser on the console's own page.
        assert!(
            check_same_origin(&headers(&[
                host,
                ("origin", "http://127.0.0.1:9464"),
                ("sec-fetch-site", "same-origin")
            ]))
            .is_ok()
        );
        // Referrer-Policy: no-referrer makes the browser send `Origin: null`.
        assert!(
            check_same_origin(&headers(&[
                host,
                ("origin", "null"),
                ("sec-fetch-site", "same-origin")
            ]))
            .is_ok()
        );
        // Another page, even on the same host (same site: the cookie goes).
        let e = check_same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-site"),
        ]))
        .unwrap_err();
        assert!(e.contains("Sec-Fetch-Site: same-site"), "{e}");
        let e =
            check_same_origin(&headers(&[host, ("origin", "http://evil.example")])).unwrap_err();
        assert!(e.contains("http://evil.example"), "{e}");
        assert!(check_same_origin(&headers(&[host, ("origin", "null")])).is_err());
        // Without Origin, the Referer.
        assert!(
            check_same_origin(&headers(&[
                host,
                ("referer", "http://127.0.0.1:9464/console/")
            ]))
            .is_ok()
        );
        assert!(
            check_same_origin(&headers(&[
                host,
                ("referer", "http://127.0.0.1:9464.evil.example/")
            ]))
            .is_err()
        );
        let e = check_same_origin(&headers(&[host])).unwrap_err();
        assert!(e.contains("neither Origin nor Referer"), "{e}");
        // Behind an HTTPS proxy the origin is https.
        assert!(
            check_same_origin(&headers(&[
                ("host", "guardian.example.com"),
                ("x-forwarded-proto", "https"),
                ("origin", "https://guardian.example.com")
            ]))
            .is_ok()
        );
        assert!(
            check_same_origin(&headers(&[
                ("host", "guardian.example.com"),
                ("x-forwarded-proto", "https"),
                ("origin", "http://guardian.example.com")
            ]))
            .is_err()
        );
    }

    #[test]
    fn every_answer_gets_the_security_headers() {
        let mut h = HeaderMap::new();
        security_headers(&mut h);
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        assert!(
            csp.contains("style-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        assert!(!csp.contains("script-src"), "no script at all: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
        let mut css = HeaderMap::new();
        css.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        security_headers(&mut css);
        assert_eq!(css["cache-control"], "no-cache", "a set one is kept");
    }
}
