//! The kubelet's Summary API (`/stats/summary`,
//! `k8s.io/kubelet/pkg/apis/stats/v1alpha1`): what metrics-server itself
//! reads, so a node daemon needs no metrics-server for current usage.
//!
//! One read of one node's summary is decided by policy as a `get` of
//! `nodes/stats` named for the node (a skill's `metrics` grant covers it),
//! audited with its route and what it answered, and bounded
//! ([`MAX_SUMMARY_BYTES`]). Two routes ([`KubeletRoute`]):
//! - `proxy`: the API server's node proxy,
//!   `GET /api/v1/nodes/NODE/proxy/stats/summary`, as the session's
//!   identity (RBAC `get nodes/proxy`);
//! - `direct`: the kubelet at the Node's `InternalIP` and
//!   `status.daemonEndpoints.kubeletEndpoint.Port`, over HTTPS verified with
//!   `--kubelet-ca-file` (or not, only with `--kubelet-insecure-tls`), with
//!   the session's bearer token (in a pod, its service account's); the
//!   kubelet authorizes it as `get nodes/stats`. Only the scoped node's own
//!   kubelet is reached.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::gate::Request;
use crate::node::{KubeletRoute, NodeOptions, NodeScope};
use crate::{Broker, BrokerError, CallContext, ContainerUsage, ListQuery, Permit, ResourceKind};

/// The largest summary read (a node with hundreds of pods and their
/// volumes answers well under this).
pub const MAX_SUMMARY_BYTES: u64 = 16 << 20;

/// How long the kubelet may take to answer.
const KUBELET_TIMEOUT: Duration = Duration::from_secs(20);

/// `Summary`: the node and its pods (the fields Guardian reads).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Summary {
    #[serde(default)]
    pub node: NodeStats,
    #[serde(default)]
    pub pods: Vec<PodStats>,
}

/// `NodeStats` (its name only).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NodeStats {
    #[serde(rename = "nodeName", default)]
    pub node_name: String,
}

/// `PodStats`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PodStats {
    #[serde(rename = "podRef")]
    pub pod_ref: PodReference,
    #[serde(default)]
    pub containers: Vec<ContainerStats>,
}

/// `PodReference`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PodReference {
    pub name: String,
    pub namespace: String,
    #[serde(default)]
    pub uid: String,
}

/// `ContainerStats`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ContainerStats {
    pub name: String,
    #[serde(default)]
    pub cpu: Option<CpuStats>,
    #[serde(default)]
    pub memory: Option<MemoryStats>,
}

/// `CPUStats`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CpuStats {
    #[serde(rename = "usageNanoCores", default)]
    pub usage_nano_cores: Option<u64>,
}

/// `MemoryStats`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct MemoryStats {
    #[serde(rename = "workingSetBytes", default)]
    pub working_set_bytes: Option<u64>,
}

/// What policy sees for a read of a node's kubelet stats: `get` of
/// `nodes/stats`.
pub(crate) fn nodes_kind() -> ResourceKind {
    ResourceKind {
        group: String::new(),
        version: "v1".into(),
        kind: "Node".into(),
        plural: "nodes".into(),
        singular: "node".into(),
        short_names: vec!["no".into()],
        namespaced: false,
        verbs: vec!["get".into(), "list".into()],
    }
}

/// The HTTPS client of the direct route, and how it checks the kubelet.
pub(crate) fn direct_client(
    options: &NodeOptions,
) -> Result<(reqwest::Client, String), BrokerError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(KUBELET_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    let tls = match (&options.kubelet_ca_file, options.kubelet_insecure_tls) {
        (Some(_), true) => {
            return Err(BrokerError::Invalid(
                "--kubelet-ca-file and --kubelet-insecure-tls contradict each other: give the CA \
                 that signed the kubelets' serving certificates, or (knowingly) skip the check"
                    .into(),
            ));
        }
        (None, false) => {
            return Err(BrokerError::Invalid(
                "--kubelet direct needs --kubelet-ca-file FILE (the CA that signed the kubelets' \
                 serving certificates) or, knowingly, --kubelet-insecure-tls (no check of the \
                 kubelet's certificate, as metrics-server's flag)"
                    .into(),
            ));
        }
        (None, true) => {
            builder = builder.tls_danger_accept_invalid_certs(true);
            "TLS not verified (--kubelet-insecure-tls)".to_owned()
        }
        (Some(path), false) => {
            let pem = std::fs::read(path).map_err(|e| {
                BrokerError::Invalid(format!(
                    "cannot read the kubelet CA file {} (--kubelet-ca-file): {e}",
                    path.display()
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    BrokerError::Invalid(format!(
                        "the kubelet CA file {} (--kubelet-ca-file) holds no PEM certificate",
                        path.display()
                    ))
                })?;
            builder = builder.tls_certs_only(certs);
            format!("TLS verified with {}", path.display())
        }
    };
    let client = builder.build().map_err(|e| {
        BrokerError::Invalid(format!(
            "cannot build the kubelet client: {}",
            error_chain(&e)
        ))
    })?;
    Ok((client, tls))
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

/// A summary's containers as usage: CPU `usageNanoCores` → millicores
/// (rounded up, as a quantity is), memory `workingSetBytes`. A container
/// without both figures (just started) is left out (logged).
pub fn usage_of_summary(summary: &Summary) -> Vec<ContainerUsage> {
    let mut out = Vec::new();
    for pod in &summary.pods {
        for c in &pod.containers {
            let cpu = c.cpu.as_ref().and_then(|c| c.usage_nano_cores);
            let memory = c.memory.as_ref().and_then(|m| m.working_set_bytes);
            match (cpu, memory) {
                (Some(nano), Some(memory_bytes)) => out.push(ContainerUsage {
                    namespace: pod.pod_ref.namespace.clone(),
                    pod: pod.pod_ref.name.clone(),
                    container: c.name.clone(),
                    cpu_millicores: nano.div_ceil(1_000_000),
                    memory_bytes,
                }),
                _ => tracing::info!(
                    "kubelet summary: pod {}/{} container {} has no usageNanoCores or \
                     workingSetBytes yet; left out",
                    pod.pod_ref.namespace,
                    pod.pod_ref.name,
                    c.name
                ),
            }
        }
    }
    out
}

/// Where the direct route reaches a node's kubelet: its `InternalIP` and
/// kubelet port, from the Node object.
fn kubelet_address(node: &serde_json::Value, name: &str) -> Result<String, BrokerError> {
    let ip = node["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == "InternalIP")
        .and_then(|a| a["address"].as_str())
        .filter(|a| a.parse::<std::net::IpAddr>().is_ok());
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .filter(|p| (1..=65535).contains(p));
    match (ip, port) {
        (Some(ip), Some(port)) if ip.contains(':') => Ok(format!("https://[{ip}]:{port}")),
        (Some(ip), Some(port)) => Ok(format!("https://{ip}:{port}")),
        (None, _) => Err(BrokerError::Unavailable(format!(
            "node {name} has no InternalIP address in its status.addresses, so its kubelet \
             cannot be reached directly; use --kubelet proxy"
        ))),
        (_, None) => Err(BrokerError::Unavailable(format!(
            "node {name} has no status.daemonEndpoints.kubeletEndpoint.Port, so its kubelet \
             cannot be reached directly; use --kubelet proxy"
        ))),
    }
}

/// Reads `response`'s body up to [`MAX_SUMMARY_BYTES`] (an error answer:
/// 64 KiB of it).
async fn read_bounded(
    mut response: reqwest::Response,
    what: &str,
) -> Result<(reqwest::StatusCode, Vec<u8>), BrokerError> {
    let status = response.status();
    let max = if status.is_success() {
        MAX_SUMMARY_BYTES
    } else {
        64 << 10
    };
    if status.is_success() && response.content_length().is_some_and(|n| n > max) {
        return Err(too_large(what));
    }
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() as u64 > max {
                    if status.is_success() {
                        return Err(too_large(what));
                    }
                    bytes.truncate(max as usize);
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                return Err(BrokerError::Unavailable(format!(
                    "{what} broke off its answer: {}",
                    error_chain(&e.without_url())
                )));
            }
        }
    }
    Ok((status, bytes))
}

fn too_large(what: &str) -> BrokerError {
    BrokerError::TooLarge(format!(
        "the summary {what} answered is larger than {MAX_SUMMARY_BYTES} bytes; it was not read \
         further"
    ))
}

/// An error answer's text on one line, masked, cut short.
fn answer_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    // An API server's Status: its message.
    let text = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| text.into_owned());
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut = crate::gate::truncate(&one_line, 400);
    crate::redact::text(cut).into_owned()
}

impl Broker {
    /// The kubelet summary of the scoped node, read as `cx` by the scope's
    /// route: decided as a `get` of `nodes/stats` named for the node, and
    /// audited with the route and the outcome.
    pub async fn kubelet_summary(&self, cx: &CallContext) -> Result<Summary, BrokerError> {
        let Some(scope) = self.node.clone() else {
            return Err(BrokerError::Invalid(
                "the kubelet's summary is read by a node daemon only: pass --node NAME".into(),
            ));
        };
        let kind = nodes_kind();
        let req = Request::new("get", &kind, None, &scope.name).on("stats");
        let (permit, started) = self.authorize(cx, &req).await?;
        let mut shown = String::new();
        let result = self.read_summary(&permit, &scope, &mut shown).await;
        let mut reasons = vec![
            format!("allowed by {}", permit.rule()),
            format!(
                "kubelet /stats/summary of node {} by route {}: {shown}",
                scope.name,
                scope.route.as_str()
            ),
        ];
        match &result {
            Ok((summary, bytes)) => reasons.push(format!(
                "answered {} pods, {bytes} bytes",
                summary.pods.len()
            )),
            Err(e) => reasons.push(format!(
                "failed: {}",
                crate::gate::truncate(e.message(), 600)
            )),
        }
        let error = result.as_ref().err().map(BrokerError::kind_str);
        self.audit(cx, &req, "allow", permit.rule(), &reasons, error, started);
        result.map(|(summary, _)| summary)
    }

    async fn read_summary(
        &self,
        permit: &Permit,
        scope: &NodeScope,
        shown: &mut String,
    ) -> Result<(Summary, usize), BrokerError> {
        let resource = &permit.input().resource;
        if permit.verb() != "get"
            || resource.grant != "nodes/stats"
            || permit.input().name != scope.name
        {
            return Err(BrokerError::Internal(format!(
                "a permit for {} {} {} was used to read the kubelet of node {}",
                permit.verb(),
                resource.grant,
                permit.input().name,
                scope.name
            )));
        }
        let Some(live) = &self.live else {
            return Err(BrokerError::Unavailable(format!(
                "{} has no kubelet to ask: a node's usage is read from a live cluster",
                self.describe()
            )));
        };
        let name = &scope.name;
        let (what, bytes) = match (scope.route, &scope.direct) {
            (KubeletRoute::Direct, Some(client)) => {
                // The node object says where its kubelet is; read as
                // Guardian itself (decided and audited).
                let cx = CallContext::guardian("kubelet-address", &["nodes"]);
                let node = Box::pin(self.get(&cx, &nodes_kind(), None, name)).await?;
                let base = kubelet_address(&node, name)?;
                let url = format!("{base}/stats/summary");
                *shown = format!("{url} ({})", scope.tls);
                let what = format!("the kubelet of node {name} at {base}");
                let token = live.bearer_token().map_err(|why| {
                    BrokerError::Unavailable(format!(
                        "{what} cannot be asked: {why}; --kubelet direct sends the session's \
                         bearer token (in a pod, its service account's)"
                    ))
                })?;
                let response = client
                    .get(&url)
                    .bearer_auth(token)
                    .header("Accept", "application/json")
                    .send()
                    .await
                    .map_err(|e| direct_transport(&e, &what, &scope.tls))?;
                let (status, bytes) = read_bounded(response, &what).await?;
                if !status.is_success() {
                    return Err(direct_status(status, &bytes, &what, name));
                }
                (what, bytes)
            }
            _ => {
                let path = format!("/api/v1/nodes/{name}/proxy/stats/summary");
                *shown = format!("{}{path} (the API server's node proxy)", live.server_url());
                let what = format!(
                    "the kubelet of node {name} through the API server's node proxy (GET {path})"
                );
                let (status, bytes) = live
                    .proxy_kubelet_stats(permit, &path, MAX_SUMMARY_BYTES)
                    .await
                    .map_err(|e| match e {
                        BrokerError::TooLarge(_) => too_large(&what),
                        other => proxy_failed(other.message(), &what),
                    })?;
                if !status.is_success() {
                    return Err(proxy_failed(
                        &format!("{} {}", status.as_u16(), answer_text(&bytes)),
                        &what,
                    ));
                }
                (what, bytes)
            }
        };
        let summary: Summary = serde_json::from_slice(&bytes).map_err(|e| {
            BrokerError::Unavailable(format!(
                "{what} answered with something that is not a kubelet summary ({e})"
            ))
        })?;
        if summary.node.node_name != *name {
            return Err(BrokerError::Unavailable(format!(
                "{what} answered for node {:?}, not {name}: the node's address leads to another \
                 node's kubelet; nothing of it was used",
                summary.node.node_name
            )));
        }
        Ok((summary, bytes.len()))
    }

    /// Pod usage in node mode: the kubelet summary of the scoped node, for
    /// the pods of that node in `namespace` (all when `None`) matching
    /// `label_selector` (the pods are listed through the broker, scoped to
    /// the node, to know their labels).
    pub(crate) async fn node_pod_usage(
        &self,
        cx: &CallContext,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<ContainerUsage>, BrokerError> {
        let started = Instant::now();
        let pods_kind = self.backend.resolve("pods").await?;
        let query = ListQuery {
            namespace: namespace.map(str::to_owned),
            label_selector: label_selector.map(str::to_owned),
            ..Default::default()
        };
        let pods = self.list_shared(cx, &pods_kind, &query).await?;
        let wanted: BTreeSet<(String, String)> = pods
            .items
            .iter()
            .map(|item| {
                let v = item.to_value();
                let meta = &v["metadata"];
                (
                    meta["namespace"].as_str().unwrap_or_default().to_owned(),
                    meta["name"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let summary = self.kubelet_summary(cx).await?;
        let usage: Vec<ContainerUsage> = usage_of_summary(&summary)
            .into_iter()
            .filter(|u| wanted.contains(&(u.namespace.clone(), u.pod.clone())))
            .collect();
        tracing::debug!(
            pods = wanted.len(),
            containers = usage.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "pod usage from the kubelet"
        );
        Ok(usage)
    }
}

fn proxy_failed(detail: &str, what: &str) -> BrokerError {
    BrokerError::Unavailable(format!(
        "reading {what} failed: {detail}; an API server refuses to proxy to some node addresses \
         (loopback, link-local: 'address not allowed') — read the kubelet itself with --kubelet \
         direct (and --kubelet-ca-file), which needs `get nodes/stats`"
    ))
}

fn direct_transport(e: &reqwest::Error, what: &str, tls: &str) -> BrokerError {
    let detail = error_chain(e);
    if e.is_timeout() {
        return BrokerError::Timeout(format!(
            "{what} did not answer within {}s: {detail}",
            KUBELET_TIMEOUT.as_secs()
        ));
    }
    let lower = detail.to_ascii_lowercase();
    let hint = if lower.contains("certificate") || lower.contains("tls") {
        format!(
            "TLS failed ({tls}); give the CA that signed the kubelet's serving certificate with \
             --kubelet-ca-file"
        )
    } else {
        "is the kubelet listening there, and may this pod reach the node's address?".to_owned()
    };
    BrokerError::Unavailable(format!("{what} cannot be reached: {detail}; {hint}"))
}

fn direct_status(status: reqwest::StatusCode, bytes: &[u8], what: &str, name: &str) -> BrokerError {
    let text = answer_text(bytes);
    let code = status.as_u16();
    match code {
        401 => BrokerError::Denied(format!(
            "{what} refused the bearer token Guardian sent (401 Unauthorized: {text}); the \
             kubelet must accept the session's token (in a pod, the service account's; kubelet \
             --authentication-token-webhook)"
        )),
        403 => BrokerError::Denied(format!(
            "{what} forbade the read (403 Forbidden: {text}); grant `get` on nodes/stats to \
             Guardian's identity (deploy/daemonset/rbac.yaml)"
        )),
        404 => BrokerError::NotFound(format!(
            "{what} does not serve /stats/summary (404: {text}); is that port node {name}'s \
             kubelet?"
        )),
        _ => BrokerError::Unavailable(format!("{what} answered {code}: {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_becomes_container_usage() {
        let summary: Summary = serde_json::from_str(
            r#"{"node": {"nodeName": "n1", "cpu": {"usageNanoCores": 5}},
                "pods": [
                  {"podRef": {"name": "web-0", "namespace": "shop", "uid": "u1"},
                   "containers": [
                     {"name": "app", "cpu": {"time": "2026-12-07T10:00:00Z", "usageNanoCores": 12345678, "usageCoreNanoSeconds": 9},
                      "memory": {"workingSetBytes": 52428800, "usageBytes": 60000000}},
                     {"name": "starting", "cpu": {}, "memory": {}}
                   ]},
                  {"podRef": {"name": "idle", "namespace": "shop"},
                   "containers": [{"name": "app", "cpu": {"usageNanoCores": 0}, "memory": {"workingSetBytes": 0}}]}
                ]}"#,
        )
        .unwrap();
        assert_eq!(summary.node.node_name, "n1");
        let usage = usage_of_summary(&summary);
        assert_eq!(
            usage,
            vec![
                ContainerUsage {
                    namespace: "shop".into(),
                    pod: "web-0".into(),
                    container: "app".into(),
                    cpu_millicores: 13,
                    memory_bytes: 52428800,
                },
                ContainerUsage {
                    namespace: "shop".into(),
                    pod: "idle".into(),
                    container: "app".into(),
                    cpu_millicores: 0,
                    memory_bytes: 0,
                },
            ]
        );
    }

    #[test]
    fn the_kubelet_address_is_the_internal_ip_and_the_kubelet_port() {
        let node = serde_json::json!({"status": {
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.7"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}});
        assert_eq!(
            kubelet_address(&node, "n1").unwrap(),
            "https://10.0.0.7:10250"
        );
        let v6 = serde_json::json!({"status": {
            "addresses": [{"type": "InternalIP", "address": "fd00::7"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}});
        assert_eq!(
            kubelet_address(&v6, "n1").unwrap(),
            "https://[fd00::7]:10250"
        );
        let none = serde_json::json!({"status": {"addresses": [{"type": "InternalIP", "address": "evil/path"}]}});
        assert!(kubelet_address(&none, "n1").is_err());
    }
}
