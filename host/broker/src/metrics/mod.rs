//! Resource usage, through the broker like every other read: Prometheus
//! queries (the HTTP API, [`prometheus`]) and `metrics.k8s.io` pod usage
//! (what `kubectl top` reads: the live API server's `pods.metrics.k8s.io`,
//! or a snapshot's PodMetrics objects and `top-pods.txt`).
//!
//! A Prometheus query is decided by policy as a `get` of the pseudo-resource
//! `prometheus.metrics.guardian.dev` (`input.name` is the PromQL), and its
//! audit line records the query (cut at 1 KiB), the source and the outcome
//! (series, points, bytes, or the error). Pod usage is an ordinary `list`
//! of `pods.metrics.k8s.io`. Where Prometheus is: the configured URL
//! ([`PrometheusOptions`]); else, on a live cluster, a Prometheus Service
//! found in it ([`discover`]), reached by its cluster DNS name from inside
//! the cluster and through the API server's service proxy from outside.
//! A skill sees the answers, never the URL's credentials, a token or a path.

pub(crate) mod bounds;
mod discover;
pub(crate) mod prometheus;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

pub use bounds::Bounds;
use prometheus::{Answer, Endpoint};
pub use prometheus::{DEFAULT_MAX_POINTS, DEFAULT_MAX_SERIES, DEFAULT_TIMEOUT, PrometheusOptions};

use crate::gate::Request;
use crate::{Broker, BrokerError, CallContext, ListQuery, Permit, ResourceKind};

/// The pseudo-resource policy decides Prometheus queries on.
pub const PROMETHEUS_GROUP: &str = "metrics.guardian.dev";
/// Its plural: the grant name is `prometheus.metrics.guardian.dev`.
pub const PROMETHEUS_RESOURCE: &str = "prometheus";

/// The snapshot file holding `kubectl top pods -A --containers` output.
pub use guardian_snapshot::TOP_PODS_FILE;

/// What policy sees for a Prometheus query.
pub fn prometheus_kind() -> ResourceKind {
    ResourceKind {
        group: PROMETHEUS_GROUP.into(),
        version: "v1".into(),
        kind: "PrometheusQuery".into(),
        plural: PROMETHEUS_RESOURCE.into(),
        singular: "prometheus".into(),
        short_names: Vec::new(),
        namespaced: false,
        verbs: vec!["get".into()],
    }
}

/// The current usage of one container (`kubectl top pods --containers`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerUsage {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub cpu_millicores: u64,
    pub memory_bytes: u64,
}

/// Where Prometheus is for this broker: configured, found, or why neither.
pub(crate) struct MetricsState {
    options: PrometheusOptions,
    /// The endpoint once found; a failure is kept for a short while, so a
    /// run of queries does not search the cluster once each.
    resolved: tokio::sync::Mutex<Option<(Instant, Found)>>,
}

/// The endpoint, or why there is none.
type Found = Result<Arc<Endpoint>, BrokerError>;

/// How long a failed search for Prometheus is remembered.
const RETRY_AFTER: Duration = Duration::from_secs(30);

impl MetricsState {
    pub(crate) fn new(options: PrometheusOptions) -> Self {
        Self {
            options,
            resolved: tokio::sync::Mutex::new(None),
        }
    }
}

/// What `guardian doctor` says about the metrics source.
#[derive(Clone, Debug, Serialize)]
pub struct MetricsSourceReport {
    /// The Prometheus URL (without credentials) or the Service and proxy
    /// path, and how it was chosen; or why there is none.
    pub prometheus: String,
    /// `None` when there is no source; else whether a trivial query
    /// (`vector(1)`) was answered, and the error when not.
    pub answered: Option<Result<(), String>>,
}

impl Broker {
    /// This broker with Prometheus at `options` (a URL, or — when none is
    /// given — discovery in the live cluster).
    pub fn with_prometheus(mut self, options: PrometheusOptions) -> Broker {
        self.metrics = Arc::new(MetricsState::new(options));
        self
    }

    /// The Prometheus endpoint: configured, or found in the live cluster.
    async fn prometheus(&self) -> Result<Arc<Endpoint>, BrokerError> {
        let state = &self.metrics;
        let mut slot = state.resolved.lock().await;
        if let Some((at, found)) = slot.as_ref()
            && (found.is_ok() || at.elapsed() < RETRY_AFTER)
        {
            return found.clone();
        }
        let found = match (&state.options.url, &self.live) {
            (Some(url), _) => Endpoint::direct(url, &state.options),
            (None, Some(live)) => discover::find(self, live, &state.options).await,
            (None, None) => Err(BrokerError::Unavailable(format!(
                "no Prometheus is configured for {}: pass --prometheus URL (or set \
                 prometheus.url in the config file); on a live cluster Guardian looks for a \
                 prometheus-operated or prometheus-server Service itself",
                self.describe()
            ))),
        }
        .map(Arc::new);
        match &found {
            Ok(e) => tracing::info!(source = %e.shown, "Prometheus source"),
            Err(e) => tracing::info!("no Prometheus source: {e}"),
        }
        *slot = Some((Instant::now(), found.clone()));
        found
    }

    /// A PromQL instant query at `at` (RFC 3339 or Unix seconds; now when
    /// `None`): Prometheus' `data` object as JSON text.
    pub async fn prometheus_query(
        &self,
        cx: &CallContext,
        promql: &str,
        at: Option<&str>,
    ) -> Result<String, BrokerError> {
        let mut form = vec![("query", promql)];
        if let Some(at) = at {
            form.push(("time", at));
        }
        let what = match at {
            Some(at) => format!("instant query at {at}"),
            None => "instant query".to_owned(),
        };
        self.ask_prometheus(cx, promql, "/api/v1/query", &form, &what)
            .await
    }

    /// A PromQL range query: Prometheus' `data` object (a matrix) as JSON
    /// text.
    pub async fn prometheus_query_range(
        &self,
        cx: &CallContext,
        promql: &str,
        start: &str,
        end: &str,
        step: &str,
    ) -> Result<String, BrokerError> {
        let form = [
            ("query", promql),
            ("start", start),
            ("end", end),
            ("step", step),
        ];
        let what = format!("range query {start} .. {end} step {step}");
        self.ask_prometheus(cx, promql, "/api/v1/query_range", &form, &what)
            .await
    }

    /// Policy decides, the endpoint answers, the audit line says what
    /// happened.
    async fn ask_prometheus(
        &self,
        cx: &CallContext,
        promql: &str,
        api: &str,
        form: &[(&str, &str)],
        what: &str,
    ) -> Result<String, BrokerError> {
        if promql.trim().is_empty() {
            return Err(BrokerError::Invalid(
                "the PromQL query is empty; give an expression, e.g. \
                 sum by (pod) (rate(container_cpu_usage_seconds_total[5m]))"
                    .into(),
            ));
        }
        let kind = prometheus_kind();
        let req = Request::new("get", &kind, None, promql);
        let (permit, started) = self.authorize(cx, &req).await?;
        let outcome = match self.prometheus().await {
            Ok(endpoint) => {
                let asked = ask(&endpoint, &permit, api, form).await;
                (endpoint.shown.clone(), asked)
            }
            Err(e) => ("none".to_owned(), Err(e)),
        };
        let (source, result) = outcome;
        let mut reasons = vec![
            format!("allowed by {}", permit.rule()),
            format!("prometheus {source}: {what}"),
        ];
        match &result {
            Ok(answer) => {
                reasons.push(format!(
                    "answered {} series, {} points, {} bytes",
                    answer.series, answer.points, answer.bytes
                ));
                for warning in answer.warnings.iter().take(3) {
                    reasons.push(format!("warning: {}", crate::gate::truncate(warning, 300)));
                }
            }
            Err(e) => reasons.push(format!(
                "failed: {}",
                crate::gate::truncate(e.message(), 600)
            )),
        }
        let error = result.as_ref().err().map(BrokerError::kind_str);
        self.audit(cx, &req, "allow", permit.rule(), &reasons, error, started);
        result.map(|a| a.data)
    }

    /// The current usage of the containers of the pods in `namespace` (all
    /// when `None`) matching `label_selector`, from `pods.metrics.k8s.io`:
    /// the live API server's (metrics-server), or a snapshot's PodMetrics
    /// (objects beside the dump, or `top-pods.txt`).
    pub async fn pod_usage(
        &self,
        cx: &CallContext,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<ContainerUsage>, BrokerError> {
        // A node daemon reads its node's kubelet, not metrics.k8s.io.
        if self.node.is_some() {
            return self.node_pod_usage(cx, namespace, label_selector).await;
        }
        let not_served = |detail: &str| match &self.live {
            Some(live) => BrokerError::Unavailable(format!(
                "metrics.k8s.io is not served by this cluster ({}) (is metrics-server \
                 installed?){detail}",
                live.server_url()
            )),
            None => BrokerError::Unavailable(format!(
                "{} holds no pod metrics{detail}; add them to the snapshot: `kubectl get --raw \
                 /apis/metrics.k8s.io/v1beta1/pods > pod-metrics.json` or `kubectl top pods -A \
                 --containers > {}`",
                self.describe(),
                guardian_snapshot::TOP_PODS_FILE
            )),
        };
        let kind = match self.backend.resolve("pods.metrics.k8s.io").await {
            Ok(kind) if kind.group == "metrics.k8s.io" => kind,
            Ok(_) | Err(BrokerError::NotFound(_) | BrokerError::Invalid(_)) => {
                return Err(not_served(""));
            }
            Err(e) => return Err(e),
        };
        let query = ListQuery {
            namespace: namespace.map(str::to_owned),
            label_selector: label_selector.map(str::to_owned),
            ..Default::default()
        };
        let list = match self.list(cx, &kind, &query).await {
            Err(BrokerError::NotFound(m)) => return Err(not_served(&format!(": {m}"))),
            other => other?,
        };
        let items = list["items"].as_array().cloned().unwrap_or_default();
        if items.is_empty() && self.live.is_none() {
            // A snapshot without any pod metrics cannot say "no usage".
            let any = ListQuery {
                limit: Some(1),
                ..Default::default()
            };
            let all = self.list(cx, &kind, &any).await?;
            if all["items"].as_array().is_none_or(Vec::is_empty) {
                return Err(not_served(""));
            }
        }
        Ok(usage_of(&items))
    }

    /// The metrics source and whether it answers a trivial query (for
    /// `guardian doctor`), asked as `cx` (decided and audited).
    pub async fn metrics_source(&self, cx: &CallContext) -> MetricsSourceReport {
        match self.prometheus().await {
            Err(e) => MetricsSourceReport {
                prometheus: e.to_string(),
                answered: None,
            },
            Ok(endpoint) => {
                let how = if self.metrics.options.url.is_some() {
                    "configured"
                } else {
                    "found in the cluster"
                };
                let answered = self
                    .prometheus_query(cx, "vector(1)", None)
                    .await
                    .map(|_| ())
                    // The source is said once, in `prometheus`.
                    .map_err(|e| {
                        let at = format!("Prometheus at {} ", endpoint.shown);
                        e.message().replacen(&at, "", 1)
                    });
                MetricsSourceReport {
                    prometheus: format!("{} ({how})", endpoint.shown),
                    answered: Some(answered),
                }
            }
        }
    }
}

async fn ask(
    endpoint: &Endpoint,
    permit: &Permit,
    api: &str,
    form: &[(&str, &str)],
) -> Result<Answer, BrokerError> {
    let resource = &permit.input().resource;
    if permit.verb() != "get"
        || resource.group != PROMETHEUS_GROUP
        || resource.resource != PROMETHEUS_RESOURCE
    {
        return Err(BrokerError::Internal(format!(
            "a permit for {} {} was used for a Prometheus query",
            permit.verb(),
            resource.grant
        )));
    }
    endpoint.ask(permit, api, form).await
}

/// PodMetrics items → one usage per container. A container whose usage
/// does not parse is left out (logged): the others still answer.
pub(crate) fn usage_of(items: &[Value]) -> Vec<ContainerUsage> {
    use guardian_kube_types::quantity;
    let mut out = Vec::new();
    for item in items {
        let namespace = item["metadata"]["namespace"].as_str().unwrap_or_default();
        let pod = item["metadata"]["name"].as_str().unwrap_or_default();
        for container in item["containers"].as_array().into_iter().flatten() {
            let name = container["name"].as_str().unwrap_or_default();
            let usage = &container["usage"];
            let cpu = usage["cpu"].as_str().and_then(quantity::millicores);
            let memory = usage["memory"].as_str().and_then(quantity::bytes);
            match (cpu, memory) {
                (Some(cpu_millicores), Some(memory_bytes)) => out.push(ContainerUsage {
                    namespace: namespace.to_owned(),
                    pod: pod.to_owned(),
                    container: name.to_owned(),
                    cpu_millicores,
                    memory_bytes,
                }),
                _ => tracing::warn!(
                    "PodMetrics {namespace}/{pod} container {name}: usage {usage} is not a pair \
                     of quantities; left out"
                ),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A stand-in API server on loopback: answers every request with
    /// `status` and `body`, recording each request's text.
    fn stand_in(status: u16, body: &'static str) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = conn.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .to_ascii_lowercase()
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:").map(str::to_owned))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                record
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf).into_owned());
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: \
                     {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(reply.as_bytes());
            }
        });
        (url, seen)
    }

    async fn live_at(url: &str, dir: &std::path::Path) -> crate::live::LiveBackend {
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  \
                 cluster:\n    server: {url}\nusers:\n- name: u\n  user:\n    token: \
                 kube-t0k\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n"
            ),
        )
        .unwrap();
        crate::live::LiveBackend::connect(&crate::ClusterOptions {
            kubeconfig: Some(kubeconfig),
            ..Default::default()
        })
        .await
        .unwrap()
    }

    fn query_permit() -> Permit {
        let kind = prometheus_kind();
        let input = guardian_policy::PolicyInput {
            caller: guardian_policy::Caller::parse("human:test"),
            verb: "get".into(),
            resource: guardian_policy::Resource::new(
                &kind.group,
                &kind.version,
                &kind.plural,
                "",
                &kind.kind,
            ),
            name: "up".into(),
            grants: guardian_policy::GrantSets {
                read: vec!["*".into()],
                propose: Vec::new(),
            },
            ..Default::default()
        };
        let (decision, permit) = guardian_policy::Policy::defaults().unwrap().decide(input);
        permit.unwrap_or_else(|| panic!("{decision:?}"))
    }

    /// Outside the cluster a found Service is asked through the API
    /// server's service proxy, with the kubeconfig's credentials.
    #[tokio::test]
    async fn the_service_proxy_carries_a_query_through_the_api_server() {
        let dir = tempfile::tempdir().unwrap();
        let answer = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"x"},"value":[1765000000,"1"]}]}}"#;
        let (url, seen) = stand_in(200, answer);
        let live = live_at(&url, dir.path()).await;
        let options = PrometheusOptions::default();
        let endpoint = Endpoint::proxy(&live, "monitoring", "prometheus-operated", 9090, &options);
        assert!(
            endpoint.shown.contains(
                "/api/v1/namespaces/monitoring/services/prometheus-operated:9090/proxy (Service \
                 monitoring/prometheus-operated"
            ),
            "{}",
            endpoint.shown
        );
        let got = endpoint
            .ask(&query_permit(), "/api/v1/query", &[("query", "up")])
            .await
            .unwrap();
        assert_eq!((got.series, got.points), (1, 1));
        let data: Value = serde_json::from_str(&got.data).unwrap();
        assert_eq!(data["result"][0]["value"][1], "1");
        let request = seen.lock().unwrap()[0].clone();
        assert!(
            request.starts_with(
                "POST /api/v1/namespaces/monitoring/services/prometheus-operated:9090/proxy/api/v1/query "
            ),
            "{request}"
        );
        assert!(
            request
                .to_ascii_lowercase()
                .contains("authorization: bearer kube-t0k"),
            "{request}"
        );
        assert!(request.ends_with("query=up"), "{request}");

        // The API server's own refusal (no endpoints behind the Service).
        let status = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"no endpoints available for service \"prometheus-operated\"","reason":"ServiceUnavailable","code":503}"#;
        let (url, _) = stand_in(503, status);
        let live = live_at(&url, dir.path()).await;
        let endpoint = Endpoint::proxy(&live, "monitoring", "prometheus-operated", 9090, &options);
        let err = endpoint
            .ask(&query_permit(), "/api/v1/query", &[("query", "up")])
            .await
            .unwrap_err();
        assert_eq!(err.kind_str(), "unavailable", "{err}");
        assert!(err.message().contains("no endpoints available"), "{err}");
        assert!(
            err.message()
                .contains("Service monitoring/prometheus-operated"),
            "{err}"
        );
    }

    #[test]
    fn pod_metrics_become_container_usage() {
        let items = vec![json!({
            "metadata": {"name": "web-1", "namespace": "shop"},
            "containers": [
                {"name": "app", "usage": {"cpu": "12345678n", "memory": "52428Ki"}},
                {"name": "sidecar", "usage": {"cpu": "2m", "memory": "10Mi"}},
                {"name": "broken", "usage": {"cpu": "lots", "memory": "10Mi"}}
            ]
        })];
        let usage = usage_of(&items);
        assert_eq!(usage.len(), 2);
        assert_eq!(
            usage[0],
            ContainerUsage {
                namespace: "shop".into(),
                pod: "web-1".into(),
                container: "app".into(),
                cpu_millicores: 13,
                memory_bytes: 52428 * 1024,
            }
        );
        assert_eq!(usage[1].memory_bytes, 10 << 20);
    }
}
