//! The OCI Distribution API's tags list (`GET /v2/NAME/tags/list?n=N`),
//! page after page (`Link: <…>; rel="next"`), with the registry's
//! authentication: a `401` with `WWW-Authenticate: Bearer realm=…,service=…,
//! scope=…` sends the client to the token service (Basic credentials when
//! there are some), whose `token` (or `access_token`) answers the request
//! again as `Authorization: Bearer`; a `Basic` challenge is answered with
//! Basic credentials. Every answer is read within a byte bound; every error
//! names the registry and repository — never a credential or token — and
//! says what to do.

use std::time::Duration;

use serde_json::Value;

use super::RegistryOptions;
use super::credentials::Credential;
use crate::BrokerError;

/// The most bytes one tags page may hold.
const MAX_PAGE_BYTES: usize = 8 << 20;
/// The most bytes an error answer or a token answer is read to.
const MAX_SMALL_BYTES: usize = 64 << 10;

/// What to ask.
pub(crate) struct Target<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// `host[:port]`.
    pub registry: &'a str,
    pub repository: &'a str,
}

impl Target<'_> {
    fn shown(&self) -> String {
        format!("the tags of {}", self.repository)
    }
}

/// The tags, and how they were read.
#[derive(Debug)]
pub(crate) struct Listing {
    pub tags: Vec<String>,
    pub pages: usize,
    /// More pages were there than `max_pages`.
    pub truncated: bool,
    /// The registry was answered with the pull secret's credentials.
    pub authenticated: bool,
    /// How authentication went, for the audit line (no values).
    pub auth_note: String,
}

#[derive(Clone)]
enum Auth {
    None,
    Bearer(String),
    Basic(String, String),
}

/// A `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    Basic,
    Other(String),
}

/// Parses `Bearer realm="…",service="…",scope="…"` (or `Basic realm=…`).
pub(crate) fn parse_challenge(header: &str) -> Challenge {
    let header = header.trim();
    let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
    let mut realm = None;
    let mut service = None;
    let mut scope = None;
    let mut rest = params.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        match key.as_str() {
            "realm" => realm = Some(value),
            "service" => service = Some(value),
            "scope" => scope = Some(value),
            _ => {}
        }
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => match realm {
            Some(realm) => Challenge::Bearer {
                realm,
                service,
                scope,
            },
            None => Challenge::Other(scheme.to_owned()),
        },
        "basic" => Challenge::Basic,
        _ => Challenge::Other(scheme.to_owned()),
    }
}

/// The `rel="next"` target of a `Link` header.
pub(crate) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let next = params.split(';').any(|p| {
            let p = p.trim().to_ascii_lowercase().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        next.then(|| target.to_owned())
    })
}

/// An answer's status, headers and body (read within a bound).
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The client of one tags listing.
pub(crate) struct Lister<'a> {
    pub client: &'a reqwest::Client,
    pub options: &'a RegistryOptions,
    pub target: Target<'a>,
}

impl Lister<'_> {
    fn whom(&self) -> String {
        format!("registry {}", self.target.registry)
    }

    /// Every tag, following `Link` up to `max_pages`, trying `credentials`
    /// in order while the registry refuses them (as the kubelet tries its
    /// keyring's matches).
    pub async fn list(&self, credentials: &[Credential]) -> Result<Listing, BrokerError> {
        if credentials.is_empty() {
            return self.list_with(None).await;
        }
        let mut refused = Vec::new();
        for credential in credentials {
            match self.list_with(Some(credential)).await {
                Err(BrokerError::Denied(m)) => refused.push(m),
                other => return other,
            }
        }
        if refused.len() == 1 {
            return Err(BrokerError::Denied(refused.remove(0)));
        }
        Err(BrokerError::Denied(refused.join("; then: ")))
    }

    async fn list_with(&self, credential: Option<&Credential>) -> Result<Listing, BrokerError> {
        let t = &self.target;
        let base = format!("{}://{}", t.scheme, t.registry);
        let mut url = reqwest::Url::parse(&format!("{base}/v2/{}/tags/list", t.repository))
            .map_err(|e| {
                BrokerError::Invalid(format!(
                    "cannot make the tags URL of {}: {e}",
                    self.target.shown()
                ))
            })?;
        url.query_pairs_mut()
            .append_pair("n", &self.options.page_size.max(1).to_string());
        let origin = url.origin();
        let mut auth = Auth::None;
        let mut authenticated = false;
        let mut auth_note = "anonymous: the registry asked for no credentials".to_owned();
        let mut tags = Vec::new();
        let mut pages = 0;
        let mut truncated = false;
        loop {
            if pages >= self.options.max_pages.max(1) {
                truncated = true;
                break;
            }
            let mut answer = self.get(&url, &auth, MAX_PAGE_BYTES).await?;
            // A challenge: authenticate once, then ask again.
            if answer.status == 401 {
                let challenge = answer
                    .header("www-authenticate")
                    .map(parse_challenge)
                    .unwrap_or(Challenge::Other("none".into()));
                let was = matches!(auth, Auth::None);
                if !was {
                    return Err(self.refused_after_auth(&answer, credential));
                }
                match challenge {
                    Challenge::Bearer {
                        realm,
                        service,
                        scope,
                    } => {
                        let token = self
                            .token(&realm, service.as_deref(), scope.as_deref(), credential)
                            .await?;
                        auth = Auth::Bearer(token);
                        authenticated = credential.is_some();
                        auth_note = match credential {
                            Some(c) => {
                                format!("token from {} with {}", shown_url(&realm), c.source)
                            }
                            None => format!("anonymous token from {}", shown_url(&realm)),
                        };
                    }
                    Challenge::Basic => {
                        let Some(c) = credential else {
                            return Err(self.needs_credentials(&answer));
                        };
                        // Over plain http only when the operator listed the
                        // host in registries.insecure_http_hosts.
                        auth = Auth::Basic(c.username.clone(), c.password.clone());
                        authenticated = true;
                        auth_note = format!("basic auth with {}", c.source);
                    }
                    Challenge::Other(scheme) => {
                        return Err(BrokerError::Unavailable(format!(
                            "{} asked for authentication Guardian does not speak ({scheme}) for \
                             {}; only the OCI token (Bearer) and Basic schemes are supported",
                            self.whom(),
                            self.target.shown()
                        )));
                    }
                }
                answer = self.get(&url, &auth, MAX_PAGE_BYTES).await?;
                if answer.status == 401 {
                    return Err(self.refused_after_auth(&answer, credential));
                }
            }
            if !(200..300).contains(&answer.status) {
                return Err(self.error_of(&answer, credential));
            }
            let page: Value = serde_json::from_slice(&answer.body).map_err(|e| {
                BrokerError::Unavailable(format!(
                    "{} answered {} with a body that is not the tags list's JSON ({e}; it begins \
                     {:?}); is this an OCI registry (its /v2/ API)?",
                    self.whom(),
                    self.target.shown(),
                    excerpt(&answer.body)
                ))
            })?;
            match &page["tags"] {
                Value::Array(items) => {
                    tags.extend(items.iter().filter_map(|t| t.as_str().map(str::to_owned)))
                }
                Value::Null => {}
                _ => {
                    return Err(BrokerError::Unavailable(format!(
                        "{} answered {} without a `tags` list; is this an OCI registry?",
                        self.whom(),
                        self.target.shown()
                    )));
                }
            }
            pages += 1;
            let Some(next) = answer.header("link").and_then(next_link) else {
                break;
            };
            let next = url.join(&next).map_err(|e| {
                BrokerError::Unavailable(format!(
                    "{} answered {} with a next-page link that is not a URL ({e})",
                    self.whom(),
                    self.target.shown()
                ))
            })?;
            if next.origin() != origin {
                return Err(BrokerError::Unavailable(format!(
                    "{} answered {} with a next page on another host ({}); it is not followed \
                     (credentials go only to the registry asked)",
                    self.whom(),
                    self.target.shown(),
                    shown_url(next.as_str())
                )));
            }
            url = next;
        }
        Ok(Listing {
            tags,
            pages,
            truncated,
            authenticated,
            auth_note,
        })
    }

    /// GET `url` with `auth`, the body read to at most `limit` bytes
    /// (`TooLarge` beyond, for a success; an error answer is cut).
    async fn get(
        &self,
        url: &reqwest::Url,
        auth: &Auth,
        limit: usize,
    ) -> Result<Answer, BrokerError> {
        let mut request = self
            .client
            .get(url.clone())
            .timeout(self.options.timeout)
            .header(reqwest::header::ACCEPT, "application/json");
        request = match auth {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
        };
        let whom = self.whom();
        self.read(request, &whom, limit).await
    }

    async fn read(
        &self,
        request: reqwest::RequestBuilder,
        whom: &str,
        limit: usize,
    ) -> Result<Answer, BrokerError> {
        let timeout = self.options.timeout;
        let mut response = request
            .send()
            .await
            .map_err(|e| transport(&self.target, whom, &e, timeout))?;
        let status = response.status().as_u16();
        let ok = (200..300).contains(&status);
        let limit = if ok { limit } else { MAX_SMALL_BYTES };
        let too_large = |at_least: u64| {
            BrokerError::TooLarge(format!(
                "{whom} answered {} with more than {limit} bytes (at least {at_least}); it was \
                 not read further",
                self.target.shown()
            ))
        };
        if ok
            && let Some(length) = response.content_length()
            && length > limit as u64
        {
            return Err(too_large(length));
        }
        let headers = response.headers().clone();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > limit {
                        if ok {
                            return Err(too_large((body.len() + chunk.len()) as u64));
                        }
                        body.extend_from_slice(&chunk[..limit - body.len()]);
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(transport(&self.target, whom, &e, timeout)),
            }
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// The token service's token for this repository.
    async fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
        credential: Option<&Credential>,
    ) -> Result<String, BrokerError> {
        let shown_realm = shown_url(realm);
        let mut url = reqwest::Url::parse(realm).map_err(|e| {
            BrokerError::Unavailable(format!(
                "{} named a token service that is not a URL ({shown_realm}: {e}) for {}",
                self.whom(),
                self.target.shown()
            ))
        })?;
        let realm_host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        match url.scheme() {
            "https" => {}
            "http" => {
                let listed = |h: &str| {
                    self.options
                        .insecure_http_hosts
                        .iter()
                        .any(|i| i.eq_ignore_ascii_case(h))
                };
                let registry_name = self
                    .target
                    .registry
                    .rsplit_once(':')
                    .map_or(self.target.registry, |(h, _)| h);
                let same_plain_host = self.target.scheme == "http"
                    && url
                        .host_str()
                        .is_some_and(|h| h.eq_ignore_ascii_case(registry_name));
                if !(listed(&realm_host) || same_plain_host) {
                    return Err(BrokerError::Denied(format!(
                        "{} sends clients for a token to {shown_realm}, which is plain http; \
                         credentials are not sent there in clear. List {realm_host} in \
                         registries.insecure_http_hosts if that is intended",
                        self.whom()
                    )));
                }
            }
            other => {
                return Err(BrokerError::Unavailable(format!(
                    "{} named a token service with scheme {other}: ({shown_realm}); only http(s) \
                     is spoken",
                    self.whom()
                )));
            }
        }
        let scope = match scope {
            // The registry's own scope is for this repository; ask for pull.
            Some(s) if !s.is_empty() => s.to_owned(),
            _ => format!("repository:{}:pull", self.target.repository),
        };
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", &scope);
        }
        let mut request = self
            .client
            .get(url)
            .timeout(self.options.timeout)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(c) = credential {
            request = request.basic_auth(&c.username, Some(&c.password));
        }
        let whom = format!(
            "the token service {shown_realm} of registry {}",
            self.target.registry
        );
        let answer = self.read(request, &whom, MAX_SMALL_BYTES).await?;
        if matches!(answer.status, 401 | 403) {
            let detail = oci_errors(&answer.body)
                .map(|e| format!(" ({e})"))
                .or_else(|| details_field(&answer.body).map(|d| format!(" ({d})")))
                .unwrap_or_default();
            return Err(BrokerError::Denied(match credential {
                Some(c) => format!(
                    "{whom} refused the credentials of {} for {}: HTTP {}{detail}; fix that \
                     pull secret's username and password (or the registry account)",
                    c.source,
                    self.target.shown(),
                    answer.status
                ),
                None => format!(
                    "{whom} refused an anonymous token for {}: HTTP {}{detail}; the registry \
                     needs credentials: give the pod an imagePullSecrets entry for {}",
                    self.target.shown(),
                    answer.status,
                    self.target.registry
                ),
            }));
        }
        if !(200..300).contains(&answer.status) {
            let detail = oci_errors(&answer.body)
                .unwrap_or_else(|| format!("the answer begins {:?}", excerpt(&answer.body)));
            return Err(BrokerError::Unavailable(format!(
                "{whom} answered HTTP {} asking a token for {}: {detail}",
                answer.status,
                self.target.shown()
            )));
        }
        let parsed: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let token = parsed["token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .or_else(|| parsed["access_token"].as_str().filter(|t| !t.is_empty()));
        token.map(str::to_owned).ok_or_else(|| {
            BrokerError::Unavailable(format!(
                "{whom} answered without a `token` (or `access_token`) for {}; is the realm the \
                 registry names a token service?",
                self.target.shown()
            ))
        })
    }

    /// A 401 once credentials (or a token) were sent.
    fn refused_after_auth(&self, answer: &Answer, credential: Option<&Credential>) -> BrokerError {
        let detail = oci_errors(&answer.body)
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        match credential {
            Some(c) => BrokerError::Denied(format!(
                "{} refused {} with the credentials of {}: HTTP 401{detail}; that account may \
                 not pull this repository: fix the pull secret or the account's access",
                self.whom(),
                self.target.shown(),
                c.source
            )),
            None => self.needs_credentials(answer),
        }
    }

    fn needs_credentials(&self, answer: &Answer) -> BrokerError {
        let detail = oci_errors(&answer.body)
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        BrokerError::Denied(format!(
            "{} refused {} without credentials: HTTP {}{detail}; the registry needs them: give \
             the pod an imagePullSecrets entry (a kubernetes.io/dockerconfigjson Secret) for {}",
            self.whom(),
            self.target.shown(),
            answer.status,
            self.target.registry
        ))
    }

    /// A non-success answer as the error it means.
    fn error_of(&self, answer: &Answer, credential: Option<&Credential>) -> BrokerError {
        let code = first_code(&answer.body);
        let detail = oci_errors(&answer.body)
            .unwrap_or_else(|| format!("the answer begins {:?}", excerpt(&answer.body)));
        let whom = self.whom();
        let t = &self.target;
        let http = answer.status;
        match (http, code.as_deref()) {
            (_, Some("NAME_UNKNOWN")) | (404, _) => BrokerError::NotFound(format!(
                "repository {} is not known to registry {} (HTTP {http}: {detail}); check the \
                 image name in the pod spec (registry host and repository path)",
                t.repository, t.registry
            )),
            (_, Some("NAME_INVALID")) => BrokerError::Invalid(format!(
                "{whom} says the repository name {} is invalid (HTTP {http}: {detail}); check \
                 the image name",
                t.repository
            )),
            (_, Some("DENIED" | "UNAUTHORIZED")) | (403, _) => BrokerError::Denied(format!(
                "{whom} denied {} (HTTP {http}: {detail}){}",
                t.shown(),
                match credential {
                    Some(c) => format!(
                        "; the account of {} may not pull it: fix its access",
                        c.source
                    ),
                    None => format!(
                        "; give the pod an imagePullSecrets entry for {}",
                        t.registry
                    ),
                }
            )),
            (429, _) | (_, Some("TOOMANYREQUESTS")) => {
                let after = answer
                    .header("retry-after")
                    .map(|s| format!(" (Retry-After: {s})"))
                    .unwrap_or_default();
                BrokerError::Unavailable(format!(
                    "{whom} is rate-limiting requests for {}{after}: HTTP {http}: {detail}; try \
                     again later",
                    t.shown()
                ))
            }
            (300..400, _) => BrokerError::Unavailable(format!(
                "{whom} redirected the request for {} (HTTP {http}); redirects are not followed: \
                 check the registry host",
                t.shown()
            )),
            _ => BrokerError::Unavailable(format!(
                "{whom} answered HTTP {http} asking for {}: {detail}; try again later, or check \
                 the registry",
                t.shown()
            )),
        }
    }
}

/// The first `errors[].code` of an OCI error body.
fn first_code(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v["errors"][0]["code"].as_str().map(str::to_owned)
}

/// `CODE: message` for each of an OCI error body's `errors` (at most 3),
/// masked and cut.
fn oci_errors(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let errors = v["errors"].as_array()?;
    let parts: Vec<String> = errors
        .iter()
        .take(3)
        .map(|e| {
            let code = e["code"].as_str().unwrap_or("UNKNOWN");
            let message = e["message"].as_str().unwrap_or_default();
            let detail = match &e["detail"] {
                Value::String(s) => format!(" ({s})"),
                _ => String::new(),
            };
            clip(&format!("{code}: {message}{detail}"))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Docker Hub's token service says `{"details": "…"}`.
fn details_field(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v["details"].as_str().map(clip)
}

/// At most 300 bytes of text, masked.
fn clip(text: &str) -> String {
    let cut = crate::gate::truncate(text, 300);
    let masked = crate::redact::text(cut).into_owned();
    if cut.len() < text.len() {
        format!("{masked}…")
    } else {
        masked
    }
}

/// The beginning of a body, for a message.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    crate::redact::text(one_line.trim()).into_owned()
}

/// A URL as messages show it: no userinfo, no query.
pub(crate) fn shown_url(raw: &str) -> String {
    match reqwest::Url::parse(raw) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => clip(raw.split(['?', '#']).next().unwrap_or_default()),
    }
}

/// The error of a transport failure (nothing answered).
fn transport(
    target: &Target<'_>,
    whom: &str,
    e: &reqwest::Error,
    timeout: Duration,
) -> BrokerError {
    let detail = error_chain(e);
    let shown = target.shown();
    if e.is_timeout() {
        return BrokerError::Timeout(format!(
            "{whom} did not answer within {}s asking for {shown} (registries.timeout); is it \
             overloaded or unreachable from here? Try again, or raise the timeout",
            timeout.as_secs_f64()
        ));
    }
    let lower = detail.to_ascii_lowercase();
    let hint = if lower.contains("connection refused") {
        "connection refused: is the registry running there, and is the image's registry host \
         right?"
            .to_owned()
    } else if lower.contains("dns") || lower.contains("resolve") || lower.contains("lookup") {
        format!("the host name does not resolve ({detail}); check the image's registry host")
    } else if lower.contains("invalidcontenttype") || lower.contains("corrupt message") {
        format!(
            "TLS failed: the server did not answer in TLS ({detail}); if it speaks plain http \
             (a loopback test registry), list it in registries.insecure_http_hosts; else give the \
             CA that signed its certificate in registries.ca_file"
        )
    } else if is_tls(e)
        || lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("handshake")
        || lower.contains("ssl")
    {
        format!(
            "TLS failed ({detail}): give the CA that signed its certificate in \
             registries.ca_file, or — for a registry that speaks plain http — list it in \
             registries.insecure_http_hosts"
        )
    } else {
        format!("{detail}; check that the registry is running and reachable from here")
    };
    BrokerError::Unavailable(format!(
        "{whom} cannot be reached asking for {shown}: {hint}"
    ))
}

/// Whether `err` has a rustls error among its sources.
fn is_tls(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(s) = source {
        if s.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        source = s.source();
    }
    false
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#
            ),
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/nginx:pull".into()),
            }
        );
        // Spaces after commas, a scope with a comma inside quotes, unquoted values.
        assert_eq!(
            parse_challenge(
                r#"bearer realm="http://127.0.0.1:1/token", service=reg, scope="repository:a/b:pull,push""#
            ),
            Challenge::Bearer {
                realm: "http://127.0.0.1:1/token".into(),
                service: Some("reg".into()),
                scope: Some("repository:a/b:pull,push".into()),
            }
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry""#),
            Challenge::Basic
        );
        assert_eq!(
            parse_challenge("Bearer service=x"),
            Challenge::Other("Bearer".into())
        );
        assert_eq!(
            parse_challenge("Negotiate"),
            Challenge::Other("Negotiate".into())
        );
    }

    #[test]
    fn next_links_parse() {
        assert_eq!(
            next_link(r#"</v2/shop/web/tags/list?n=50&last=1.2.3>; rel="next""#).as_deref(),
            Some("/v2/shop/web/tags/list?n=50&last=1.2.3")
        );
        assert_eq!(
            next_link(r#"<https://x/a>; rel="prev", <https://x/b>; rel=next"#).as_deref(),
            Some("https://x/b")
        );
        assert_eq!(next_link(r#"<https://x/a>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn oci_error_bodies_are_read_and_masked() {
        let body = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"shop/nope"}}]}"#;
        assert_eq!(first_code(body).as_deref(), Some("NAME_UNKNOWN"));
        assert_eq!(
            oci_errors(body).as_deref(),
            Some("NAME_UNKNOWN: repository name not known to registry")
        );
        let token = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl";
        let leaky = format!(r#"{{"errors":[{{"code":"DENIED","message":"bad {token}"}}]}}"#);
        let shown = oci_errors(leaky.as_bytes()).unwrap();
        assert!(!shown.contains("eyJzdWIiOiIxIn0"), "{shown}");
        assert_eq!(oci_errors(b"not json"), None);
    }

    fn answer(status: u16, headers: &[(&'static str, &str)], body: &str) -> Answer {
        let mut map = reqwest::header::HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, v.parse().unwrap());
        }
        Answer {
            status,
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn error_answers_become_broker_errors_that_say_what_to_do() {
        let options = RegistryOptions::default();
        let client = super::super::client_for(&options).unwrap();
        let lister = Lister {
            client: &client,
            options: &options,
            target: Target {
                scheme: "https",
                registry: "ghcr.io",
                repository: "acme/api",
            },
        };
        let credential = Credential {
            username: "u".into(),
            password: "pw-never-shown".into(),
            source: "pull secret shop/regcred (entry ghcr.io)".into(),
        };
        let cases: Vec<(Answer, Option<&Credential>, &str, &[&str])> = vec![
            (
                answer(
                    404,
                    &[],
                    r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#,
                ),
                None,
                "not-found",
                &[
                    "repository acme/api is not known to registry ghcr.io",
                    "NAME_UNKNOWN",
                    "check the image name",
                ],
            ),
            (
                answer(404, &[], "404 page not found"),
                None,
                "not-found",
                &["HTTP 404", "404 page not found"],
            ),
            (
                answer(
                    400,
                    &[],
                    r#"{"errors":[{"code":"NAME_INVALID","message":"invalid repository name"}]}"#,
                ),
                None,
                "invalid",
                &["NAME_INVALID"],
            ),
            (
                answer(
                    403,
                    &[],
                    r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
                ),
                Some(&credential),
                "denied",
                &[
                    "registry ghcr.io denied the tags of acme/api",
                    "pull secret shop/regcred (entry ghcr.io) may not pull it",
                ],
            ),
            (
                answer(403, &[], ""),
                None,
                "denied",
                &["imagePullSecrets entry for ghcr.io"],
            ),
            (
                answer(
                    429,
                    &[("retry-after", "30")],
                    r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#,
                ),
                None,
                "unavailable",
                &["rate-limiting", "Retry-After: 30", "try again later"],
            ),
            (
                answer(503, &[], "<html>upstream down</html>"),
                None,
                "unavailable",
                &["HTTP 503", "upstream down"],
            ),
            (
                answer(307, &[("location", "https://elsewhere.example/x")], ""),
                None,
                "unavailable",
                &["redirects are not followed"],
            ),
        ];
        for (answer, credential, kind, says) in cases {
            let e = lister.error_of(&answer, credential);
            assert_eq!(e.kind_str(), kind, "{e}");
            for s in says {
                assert!(e.message().contains(s), "{s:?} not in: {e}");
            }
            assert!(!format!("{e} {e:?}").contains("pw-never-shown"));
        }
    }

    #[test]
    fn shown_urls_keep_no_credentials() {
        assert_eq!(
            shown_url("https://u:p@auth.example/token?account=u&scope=x"),
            "https://auth.example/token"
        );
    }
}
