//! Finding Prometheus in a live cluster when no URL is given: a Service
//! with one of the names the common installations give it, in any
//! namespace Guardian may list (each list is a broker call as Guardian
//! itself, decided and audited). Inside the cluster it is reached by its
//! DNS name; outside, where that name does not resolve, through the API
//! server's service proxy.

use std::time::Duration;

use serde_json::Value;

use super::prometheus::{Endpoint, PrometheusOptions};
use crate::live::LiveBackend;
use crate::{Broker, BrokerError, CallContext, ListQuery};

/// The Service names looked for, in order: the Prometheus Operator's
/// governing Service, the prometheus-community Helm chart's, kube-prometheus',
/// kube-prometheus-stack's.
pub const SERVICE_NAMES: [&str; 4] = [
    "prometheus-operated",
    "prometheus-server",
    "prometheus-k8s",
    "kube-prometheus-stack-prometheus",
];

/// Namespaces tried one by one when Guardian may not list Services
/// cluster-wide (besides the context's own).
const USUAL_NAMESPACES: [&str; 4] = ["monitoring", "prometheus", "observability", "kube-system"];

/// The port a Prometheus Service serves its API on: one named `web`,
/// `http-web` or `http`, else 9090, else the first.
fn api_port(service: &Value) -> Option<u16> {
    let ports = service["spec"]["ports"].as_array()?;
    let number = |p: &Value| p["port"].as_u64().and_then(|n| u16::try_from(n).ok());
    ports
        .iter()
        .find(|p| matches!(p["name"].as_str(), Some("web" | "http-web" | "http")))
        .or_else(|| ports.iter().find(|p| p["port"].as_u64() == Some(9090)))
        .or_else(|| ports.first())
        .and_then(number)
}

pub(crate) async fn find(
    broker: &Broker,
    live: &LiveBackend,
    options: &PrometheusOptions,
) -> Result<Endpoint, BrokerError> {
    let cx = CallContext::guardian("metrics-discovery", &["services"]);
    let services = broker.backend.resolve("services").await?;
    let mut problems: Vec<String> = Vec::new();
    let mut scopes: Vec<Option<String>> = vec![None];
    let mut found: Option<(String, String, u16)> = None;
    'scopes: while let Some(scope) = scopes.first().cloned() {
        scopes.remove(0);
        for name in SERVICE_NAMES {
            let query = ListQuery {
                namespace: scope.clone(),
                field_selector: Some(format!("metadata.name={name}")),
                ..Default::default()
            };
            match broker.list(&cx, &services, &query).await {
                Ok(list) => {
                    let hit = list["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find_map(|s| {
                            Some((
                                s["metadata"]["namespace"].as_str()?.to_owned(),
                                name.to_owned(),
                                api_port(s)?,
                            ))
                        });
                    if hit.is_some() {
                        found = hit;
                        break 'scopes;
                    }
                }
                Err(e @ (BrokerError::Denied(_) | BrokerError::NotFound(_))) => {
                    let at = scope
                        .as_deref()
                        .map_or("cluster-wide".to_owned(), |ns| format!("in namespace {ns}"));
                    problems.push(format!("listing Services {at}: {e}"));
                    if scope.is_none() {
                        // Not cluster-wide: the usual namespaces, one by one.
                        scopes.push(Some(live.default_namespace().to_owned()));
                        for ns in USUAL_NAMESPACES {
                            if ns != live.default_namespace() {
                                scopes.push(Some(ns.to_owned()));
                            }
                        }
                    }
                    continue 'scopes;
                }
                Err(e) => return Err(e),
            }
        }
    }
    let Some((namespace, name, port)) = found else {
        let why = if problems.is_empty() {
            String::new()
        } else {
            format!(" ({})", problems.join("; "))
        };
        return Err(BrokerError::Unavailable(format!(
            "no Prometheus is configured, and none was found in {}: no Service named {} in any \
             namespace Guardian may list{why}; pass --prometheus URL (or set prometheus.url in \
             the config file)",
            live.description(),
            SERVICE_NAMES.join(", "),
        )));
    };
    let host = format!("{name}.{namespace}.svc");
    if resolves(&host, port).await {
        let url = format!("http://{host}:{port}");
        tracing::info!("Prometheus found in the cluster: {url}");
        return Endpoint::direct(&url, options);
    }
    tracing::info!(
        "Prometheus found in the cluster: Service {namespace}/{name}:{port}; {host} does not \
         resolve here (outside the cluster), so it is reached through the API server's service \
         proxy"
    );
    Ok(Endpoint::proxy(live, &namespace, &name, port, options))
}

/// Whether `host` resolves here (it does inside the cluster).
async fn resolves(host: &str, port: u16) -> bool {
    let lookup = tokio::net::lookup_host((host.to_owned(), port));
    match tokio::time::timeout(Duration::from_secs(2), lookup).await {
        Ok(Ok(mut addrs)) => addrs.next().is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_api_port_is_the_named_one() {
        let svc = |ports: Value| json!({"spec": {"ports": ports}});
        assert_eq!(
            api_port(&svc(
                json!([{"name": "reloader", "port": 8080}, {"name": "web", "port": 9090}])
            )),
            Some(9090)
        );
        assert_eq!(
            api_port(&svc(
                json!([{"name": "metrics", "port": 8080}, {"name": "http", "port": 80}])
            )),
            Some(80)
        );
        assert_eq!(
            api_port(&svc(
                json!([{"name": "a", "port": 8080}, {"name": "b", "port": 9090}])
            )),
            Some(9090)
        );
        assert_eq!(api_port(&svc(json!([{"port": 8080}]))), Some(8080));
        assert_eq!(api_port(&svc(json!([]))), None);
    }
}
