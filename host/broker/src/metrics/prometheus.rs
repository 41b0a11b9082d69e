//! The Prometheus HTTP API (`/api/v1/query`, `/api/v1/query_range`, POST
//! form): where it is ([`Endpoint`]: a URL, or a Service reached through the
//! API server's service proxy), how it is asked (bearer token or basic auth
//! from files, a CA file, a timeout), and how its answer is read — counted
//! against the bounds while it streams in ([`super::bounds`]), then checked
//! to be the API's shape, its label values masked.
//!
//! Every error names the URL (never its credentials) and says what to do.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::bounds::{Bounds, Counter, Exceeded};
use crate::live::LiveBackend;
use crate::{BrokerError, Permit};

/// Default request timeout: under the 30 s host-call deadline, so a slow
/// Prometheus is reported as itself.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// Default bound on the series of one answer.
pub const DEFAULT_MAX_SERIES: u64 = 10_000;
/// Default bound on the points (series × samples) of one answer.
pub const DEFAULT_MAX_POINTS: u64 = 1_000_000;

/// How to reach Prometheus: the `prometheus:` section of the config file
/// and the `--prometheus*` flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrometheusOptions {
    /// Base URL (`http://prometheus:9090`, `https://host/prometheus`);
    /// `None`: look for a Prometheus Service in the live cluster.
    pub url: Option<String>,
    /// A file holding the bearer token (trailing whitespace ignored).
    pub token_file: Option<PathBuf>,
    /// A file holding `user:password` for basic auth.
    pub basic_auth_file: Option<PathBuf>,
    /// PEM CA certificates that verify the server (replacing the system's).
    pub ca_file: Option<PathBuf>,
    /// [default: 20 s]
    pub timeout: Option<Duration>,
    /// [default: 10,000]
    pub max_series: Option<u64>,
    /// Series × samples [default: 1,000,000].
    pub max_points: Option<u64>,
}

impl PrometheusOptions {
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }

    pub fn bounds(&self) -> Bounds {
        Bounds::new(
            self.max_series.unwrap_or(DEFAULT_MAX_SERIES),
            self.max_points.unwrap_or(DEFAULT_MAX_POINTS),
        )
    }
}

#[derive(Clone)]
enum Auth {
    None,
    Bearer(String),
    Basic(String, String),
}

/// Where queries go.
pub(crate) struct Endpoint {
    /// The base URL without credentials, or the Service and its proxy path:
    /// what every message and audit line names.
    pub shown: String,
    via: Via,
    timeout: Duration,
    bounds: Bounds,
}

enum Via {
    Direct {
        client: reqwest::Client,
        base: reqwest::Url,
        auth: Auth,
    },
    /// The API server's service proxy:
    /// `/api/v1/namespaces/NS/services/NAME:PORT/proxy`.
    Proxy { live: LiveBackend, path: String },
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("shown", &self.shown)
            .finish_non_exhaustive()
    }
}

/// `http://user:pw@host:9090/x/` → (`http://host:9090/x`, basic auth from
/// the URL's userinfo).
fn split_url(raw: &str) -> Result<(reqwest::Url, Option<(String, String)>), BrokerError> {
    let mut url = reqwest::Url::parse(raw.trim()).map_err(|e| {
        BrokerError::Invalid(format!(
            "the Prometheus URL is not a URL ({e}); give its base URL, e.g. \
             http://prometheus.monitoring.svc:9090 (--prometheus / prometheus.url)"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(BrokerError::Invalid(format!(
            "the Prometheus URL must be http:// or https://, not {}:// (--prometheus / \
             prometheus.url)",
            url.scheme()
        )));
    }
    let userinfo = (!url.username().is_empty()).then(|| {
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        (
            decode(url.username()),
            decode(url.password().unwrap_or_default()),
        )
    });
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok((url, userinfo))
}

fn read_secret_file(path: &Path, what: &str, key: &str) -> Result<String, BrokerError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BrokerError::Invalid(format!(
            "cannot read the Prometheus {what} file {} ({key}): {e}",
            path.display()
        ))
    })?;
    let text = text.trim().to_owned();
    if text.is_empty() {
        return Err(BrokerError::Invalid(format!(
            "the Prometheus {what} file {} ({key}) is empty",
            path.display()
        )));
    }
    Ok(text)
}

fn auth_of(
    options: &PrometheusOptions,
    userinfo: Option<(String, String)>,
) -> Result<Auth, BrokerError> {
    if let Some(path) = &options.token_file {
        let token = read_secret_file(path, "bearer token", "--prometheus-token-file")?;
        return Ok(Auth::Bearer(token));
    }
    if let Some(path) = &options.basic_auth_file {
        let text = read_secret_file(path, "basic auth", "prometheus.basic_auth_file")?;
        let Some((user, password)) = text.split_once(':') else {
            return Err(BrokerError::Invalid(format!(
                "the Prometheus basic auth file {} must hold `user:password` on one line",
                path.display()
            )));
        };
        return Ok(Auth::Basic(user.to_owned(), password.to_owned()));
    }
    Ok(userinfo.map_or(Auth::None, |(u, p)| Auth::Basic(u, p)))
}

fn client_for(options: &PrometheusOptions) -> Result<reqwest::Client, BrokerError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10).min(options.timeout()))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if let Some(path) = &options.ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            BrokerError::Invalid(format!(
                "cannot read the Prometheus CA file {} (--prometheus-ca-file): {e}",
                path.display()
            ))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            BrokerError::Invalid(format!(
                "the Prometheus CA file {} holds no usable PEM certificate: {e}",
                path.display()
            ))
        })?;
        if certs.is_empty() {
            return Err(BrokerError::Invalid(format!(
                "the Prometheus CA file {} holds no PEM certificate",
                path.display()
            )));
        }
        builder = builder.tls_certs_only(certs);
    }
    builder.build().map_err(|e| {
        BrokerError::Invalid(format!(
            "cannot build the Prometheus client: {}",
            error_chain(&e)
        ))
    })
}

impl Endpoint {
    /// The Prometheus at `url` (its userinfo, if any, becomes basic auth
    /// and leaves the URL shown).
    pub(crate) fn direct(url: &str, options: &PrometheusOptions) -> Result<Self, BrokerError> {
        let (base, userinfo) = split_url(url)?;
        let auth = auth_of(options, userinfo)?;
        Ok(Endpoint {
            shown: base.to_string().trim_end_matches('/').to_owned(),
            via: Via::Direct {
                client: client_for(options)?,
                base,
                auth,
            },
            timeout: options.timeout(),
            bounds: options.bounds(),
        })
    }

    /// The Service `namespace/name` reached through the API server at
    /// `live`'s URL.
    pub(crate) fn proxy(
        live: &LiveBackend,
        namespace: &str,
        name: &str,
        port: u16,
        options: &PrometheusOptions,
    ) -> Self {
        let path = format!("/api/v1/namespaces/{namespace}/services/{name}:{port}/proxy");
        Endpoint {
            shown: format!(
                "{}{path} (Service {namespace}/{name} through the API server's service proxy)",
                live.server_url()
            ),
            via: Via::Proxy {
                live: live.clone(),
                path,
            },
            timeout: options.timeout(),
            bounds: options.bounds(),
        }
    }

    /// POSTs `form` to `api` (`/api/v1/query`) and returns the `data`
    /// object of the answer, as JSON text, with what it held.
    pub(crate) async fn ask(
        &self,
        permit: &Permit,
        api: &str,
        form: &[(&str, &str)],
    ) -> Result<Answer, BrokerError> {
        let body = {
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in form {
                s.append_pair(k, v);
            }
            s.finish()
        };
        match tokio::time::timeout(self.timeout, self.exchange(permit, api, body)).await {
            Ok(out) => out,
            Err(_) => Err(BrokerError::Timeout(format!(
                "Prometheus at {} did not answer within {}s (prometheus.timeout_seconds); the \
                 query may be too expensive: narrow it (label matchers, a shorter range, a \
                 larger step) or raise the timeout",
                self.shown,
                self.timeout.as_secs_f64()
            ))),
        }
    }

    async fn exchange(
        &self,
        permit: &Permit,
        api: &str,
        form: String,
    ) -> Result<Answer, BrokerError> {
        let (status, mut body) = match &self.via {
            Via::Direct { client, base, auth } => {
                let mut url = base.clone();
                url.set_path(&format!("{}{api}", base.path().trim_end_matches('/')));
                let mut request = client
                    .post(url)
                    .header(
                        http::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .header(http::header::ACCEPT, "application/json")
                    .body(form);
                request = match auth {
                    Auth::None => request,
                    Auth::Bearer(token) => request.bearer_auth(token),
                    Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
                };
                let response = request.send().await.map_err(|e| self.transport(&e))?;
                (response.status(), Body::Reqwest(response))
            }
            Via::Proxy { live, path } => {
                let request = http::Request::post(format!("{path}{api}"))
                    .header(
                        http::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .header(http::header::ACCEPT, "application/json")
                    .body(kube::client::Body::from(form.into_bytes()))
                    .map_err(|e| {
                        BrokerError::Internal(format!("cannot build the proxied request: {e}"))
                    })?;
                let response =
                    live.proxy_prometheus(permit, request)
                        .await
                        .map_err(|e| match e {
                            BrokerError::Internal(_) => e,
                            BrokerError::Timeout(m) => BrokerError::Timeout(format!(
                                "Prometheus at {} did not answer: {m}",
                                self.shown
                            )),
                            other => BrokerError::Unavailable(format!(
                                "Prometheus at {} cannot be reached: {}",
                                self.shown,
                                other.message()
                            )),
                        })?;
                let status = response.status();
                (status, Body::Kube(response.into_body()))
            }
        };
        if let Some(length) = body.content_length()
            && length > self.bounds.max_bytes
        {
            return Err(self.too_large(Exceeded::Bytes(length)));
        }
        let ok = status.is_success();
        // An error answer is small; read only so much of one.
        let bounds = if ok {
            self.bounds
        } else {
            Bounds {
                max_bytes: 256 << 10,
                ..self.bounds
            }
        };
        let mut counter = Counter::new(bounds);
        let mut bytes = Vec::new();
        loop {
            match body.chunk().await {
                Ok(Some(chunk)) => {
                    if let Err(exceeded) = counter.feed(&chunk) {
                        if ok {
                            return Err(self.too_large(exceeded));
                        }
                        break;
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(BrokerError::Unavailable(format!(
                        "Prometheus at {} broke off its answer: {e}",
                        self.shown
                    )));
                }
            }
        }
        self.answer(status, &bytes, &counter)
    }

    fn too_large(&self, exceeded: Exceeded) -> BrokerError {
        let b = self.bounds;
        BrokerError::TooLarge(match exceeded {
            Exceeded::Series(_) => format!(
                "the answer of Prometheus at {} has more than {} series (the bound \
                 prometheus.max_series); it was not read further. Narrow the query: select fewer \
                 series with label matchers (e.g. namespace=\"shop\"), or aggregate with \
                 sum/max by (namespace, pod, container)",
                self.shown, b.max_series
            ),
            Exceeded::Points(_) => format!(
                "the answer of Prometheus at {} has more than {} points (series × samples; the \
                 bound prometheus.max_points); it was not read further. Narrow the query: a \
                 larger step, a shorter range, fewer series (label matchers), or an \
                 aggregation",
                self.shown, b.max_points
            ),
            Exceeded::Bytes(n) => format!(
                "the answer of Prometheus at {} is larger than {} bytes (at least {n}; the bound \
                 that follows from prometheus.max_points and max_series); it was not read \
                 further. Narrow the query: fewer series, a larger step or a shorter range",
                self.shown, b.max_bytes
            ),
        })
    }

    fn transport(&self, e: &reqwest::Error) -> BrokerError {
        let detail = error_chain(e);
        if e.is_timeout() {
            return BrokerError::Timeout(format!(
                "Prometheus at {} did not answer within {}s: {detail}",
                self.shown,
                self.timeout.as_secs_f64()
            ));
        }
        let lower = detail.to_ascii_lowercase();
        let hint = if lower.contains("connection refused") {
            "connection refused: is Prometheus running there, and is the URL right \
             (--prometheus / prometheus.url)?"
                .to_owned()
        } else if lower.contains("dns") || lower.contains("resolve") || lower.contains("lookup") {
            format!("the host name does not resolve ({detail}); check the URL")
        } else if lower.contains("certificate") || lower.contains("tls") {
            format!(
                "TLS failed ({detail}); give the CA that signed its certificate with \
                 --prometheus-ca-file"
            )
        } else {
            format!("{detail}; check the URL and that Prometheus is running")
        };
        BrokerError::Unavailable(format!(
            "Prometheus at {} cannot be reached: {hint}",
            self.shown
        ))
    }

    /// The answer's `data`, or the error it means.
    fn answer(
        &self,
        status: http::StatusCode,
        bytes: &[u8],
        counter: &Counter,
    ) -> Result<Answer, BrokerError> {
        let shown = &self.shown;
        let parsed: Result<ApiAnswer<'_>, _> = serde_json::from_slice(bytes);
        let http = format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_owned();
        if matches!(status.as_u16(), 401 | 403) {
            let detail = parsed
                .as_ref()
                .ok()
                .and_then(|a| a.error.clone())
                .or_else(|| kube_status_message(bytes))
                .map(|m| format!(" ({})", clip(&m)))
                .unwrap_or_default();
            return Err(BrokerError::Denied(format!(
                "Prometheus at {shown} refused the request: {http}{detail}; check its \
                 credentials: a bearer token (--prometheus-token-file / prometheus.token_file) \
                 or basic auth (prometheus.basic_auth_file)"
            )));
        }
        let answer = match parsed {
            Ok(a) if a.status == "success" || a.status == "error" => a,
            _ => {
                if let Some(message) = kube_status_message(bytes) {
                    return Err(BrokerError::Unavailable(format!(
                        "Prometheus at {shown} cannot be reached: the API server answered \
                         {http}: {message}"
                    )));
                }
                let why = if status.is_success() {
                    "its answer is not the Prometheus HTTP API's JSON".to_owned()
                } else {
                    format!("it answered {http}")
                };
                return Err(BrokerError::Unavailable(format!(
                    "Prometheus at {shown} cannot be used: {why} (the answer begins {:?}); is \
                     this the Prometheus server's base URL (without /api/v1)?",
                    excerpt(bytes)
                )));
            }
        };
        if answer.status == "error" || !status.is_success() {
            let kind = answer.error_type.as_deref().unwrap_or("unknown");
            let text = clip(answer.error.as_deref().unwrap_or("(no error text)"));
            let message = format!("Prometheus at {shown} answered {http}: {kind}: {text}");
            return Err(match kind {
                "bad_data" => BrokerError::Invalid(format!(
                    "{message}; fix the PromQL (or the times and step of a range query)"
                )),
                "timeout" | "canceled" => BrokerError::Timeout(format!(
                    "{message}; narrow the query (label matchers, a shorter range, a larger step)"
                )),
                "execution" if text.contains("too many samples") => BrokerError::TooLarge(format!(
                    "{message}; narrow the query (a shorter range, a larger step, fewer series)"
                )),
                "execution" => BrokerError::Invalid(message),
                _ => BrokerError::Unavailable(message),
            });
        }
        let data = answer.data.ok_or_else(|| {
            BrokerError::Unavailable(format!(
                "Prometheus at {shown} answered success without `data`; is this a Prometheus \
                 server?"
            ))
        })?;
        let text = mask_data(data).map_err(|why| {
            BrokerError::Unavailable(format!(
                "Prometheus at {shown} answered a `data` object that is not the API's shape \
                 ({why}); is this a Prometheus server?"
            ))
        })?;
        Ok(Answer {
            data: text,
            series: counter.series,
            points: counter.points,
            bytes: counter.bytes,
            warnings: answer.warnings.unwrap_or_default(),
        })
    }
}

/// What a query returned.
#[derive(Debug)]
pub(crate) struct Answer {
    /// Prometheus' `data` object as JSON text, label values masked.
    pub data: String,
    pub series: u64,
    pub points: u64,
    pub bytes: u64,
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
struct ApiAnswer<'a> {
    status: String,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(rename = "errorType", default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(borrow)]
    result: &'a RawValue,
}

#[derive(Deserialize)]
struct Series<'a> {
    #[serde(default)]
    metric: std::collections::BTreeMap<String, String>,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
    #[serde(borrow, default)]
    values: Option<&'a RawValue>,
    #[serde(borrow, default)]
    histogram: Option<&'a RawValue>,
    #[serde(borrow, default)]
    histograms: Option<&'a RawValue>,
}

/// Re-writes `data` with credential-shaped label values masked, checking
/// its shape on the way: samples are passed through as they came.
fn mask_data(data: &RawValue) -> Result<String, String> {
    let parsed: Data<'_> = serde_json::from_str(data.get()).map_err(|e| e.to_string())?;
    let result_type = parsed.result_type.as_str();
    let quoted = serde_json::to_string(result_type).map_err(|e| e.to_string())?;
    if !matches!(result_type, "vector" | "matrix") {
        if !matches!(result_type, "scalar" | "string") {
            return Err(format!("unknown resultType {quoted}"));
        }
        return Ok(format!(
            "{{\"resultType\":{quoted},\"result\":{}}}",
            parsed.result.get()
        ));
    }
    let series: Vec<Series<'_>> =
        serde_json::from_str(parsed.result.get()).map_err(|e| format!("result: {e}"))?;
    let mut out = String::with_capacity(data.get().len());
    out.push_str("{\"resultType\":");
    out.push_str(&quoted);
    out.push_str(",\"result\":[");
    for (i, s) in series.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let metric: serde_json::Map<String, serde_json::Value> = s
            .metric
            .iter()
            .map(|(k, v)| (k.clone(), crate::redact::text(v).into_owned().into()))
            .collect();
        out.push_str("{\"metric\":");
        out.push_str(&serde_json::Value::Object(metric).to_string());
        for (key, raw) in [
            ("value", s.value),
            ("values", s.values),
            ("histogram", s.histogram),
            ("histograms", s.histograms),
        ] {
            if let Some(raw) = raw {
                out.push_str(&format!(",\"{key}\":{}", raw.get()));
            }
        }
        out.push('}');
    }
    out.push_str("]}");
    Ok(out)
}

/// The message of a Kubernetes `Status` body (the service proxy's errors).
fn kube_status_message(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    (value["kind"] == "Status")
        .then(|| value["message"].as_str().map(str::to_owned))
        .flatten()
}

/// At most 200 bytes of text, masked.
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

enum Body {
    Reqwest(reqwest::Response),
    Kube(kube::client::Body),
}

impl Body {
    fn content_length(&self) -> Option<u64> {
        match self {
            Body::Reqwest(r) => r.content_length(),
            Body::Kube(b) => http_body::Body::size_hint(b).exact(),
        }
    }

    async fn chunk(&mut self) -> Result<Option<Bytes>, String> {
        match self {
            Body::Reqwest(r) => r.chunk().await.map_err(|e| error_chain(&e.without_url())),
            Body::Kube(b) => loop {
                use http_body_util::BodyExt;
                match b.frame().await {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(error_chain(&e)),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            return Ok(Some(data));
                        }
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_keeps_no_credentials() {
        let (url, userinfo) =
            split_url("http://al%40ice:s3cr%3At@prom.example:9090/base/").unwrap();
        assert_eq!(url.as_str(), "http://prom.example:9090/base");
        assert_eq!(userinfo, Some(("al@ice".to_owned(), "s3cr:t".to_owned())));
        assert!(split_url("ftp://x").is_err());
        assert!(split_url("not a url").is_err());
    }

    #[test]
    fn data_is_checked_and_label_values_masked() {
        let raw: Box<RawValue> = serde_json::from_str(
            r#"{"resultType":"vector","result":[{"metric":{"pod":"a","note":"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl"},"value":[1,"2"]}]}"#,
        )
        .unwrap();
        let out = mask_data(&raw).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["result"][0]["value"], serde_json::json!([1, "2"]));
        assert_eq!(v["result"][0]["metric"]["pod"], "a");
        assert!(!out.contains("eyJzdWIiOiIxIn0"), "{out}");
        let bad: Box<RawValue> =
            serde_json::from_str(r#"{"resultType":"table","result":[]}"#).unwrap();
        assert!(mask_data(&bad).unwrap_err().contains("table"));
        let bad: Box<RawValue> =
            serde_json::from_str(r#"{"resultType":"vector","result":{}}"#).unwrap();
        assert!(mask_data(&bad).is_err());
    }
}
