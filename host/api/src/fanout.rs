//! The Deployment's fan-out to the node daemons (`guardian serve --node`,
//! docs/node-mode.md): the daemons are the ready endpoints of their
//! headless Service (its EndpointSlices, read through the broker); each is
//! asked for `Diagnose` over gRPC with a bearer token, and the answers are
//! merged. A daemon that does not answer is named in `not_read`: nothing
//! is said about its node.

use std::time::Duration;

use guardian_core::nodes::ServiceEndpoint;
use guardian_core::{DiagnoseRequest, ErrorClass, ServiceError, Session};
use serde_json::{Value, json};

use crate::proto::{self, guardian_client::GuardianClient};

/// Where the node daemons are and how to ask them.
#[derive(Clone, Debug)]
pub struct FanOut {
    /// The namespace of their headless Service.
    pub namespace: String,
    /// The Service (`guardian-node`); its port named `grpc` is asked.
    pub service: String,
    /// The bearer token the daemons admit (a viewer is enough).
    pub token: String,
    /// How long one daemon may take to answer.
    pub timeout: Duration,
}

impl FanOut {
    /// `NAMESPACE/SERVICE`, with the token.
    pub fn parse(target: &str, token: String) -> Result<FanOut, ServiceError> {
        let (namespace, service) = target
            .split_once('/')
            .filter(|(n, s)| !n.is_empty() && !s.is_empty() && !s.contains('/'))
            .ok_or_else(|| {
                ServiceError::new(
                    ErrorClass::InvalidArgument,
                    format!(
                        "--fan-out {target:?}: give the node daemons' headless Service as \
                         NAMESPACE/SERVICE, e.g. guardian/guardian-node"
                    ),
                )
            })?;
        if token.trim().is_empty() {
            return Err(ServiceError::new(
                ErrorClass::InvalidArgument,
                "the fan-out token is empty: give the node daemons' token (a viewer) in the file",
            ));
        }
        Ok(FanOut {
            namespace: namespace.to_owned(),
            service: service.to_owned(),
            token: token.trim().to_owned(),
            timeout: Duration::from_secs(300),
        })
    }
}

/// Asks every node daemon for `request`'s diagnosis and merges the
/// answers: findings by id, once each (a workload's finding repeats on
/// every daemon that reads it); a daemon that does not answer is a
/// `not_read` scope. Fails when none answers.
pub async fn diagnose(
    session: &Session,
    caller: &str,
    request: &DiagnoseRequest,
    fan: &FanOut,
) -> Result<Value, ServiceError> {
    let daemons = session
        .service_endpoints(caller, &fan.namespace, &fan.service, "grpc")
        .await?;
    let asked = futures::future::join_all(daemons.iter().map(|d| ask(d, request, fan))).await;
    let mut parts = Vec::new();
    let mut not_read = Vec::new();
    let mut answered = Vec::new();
    for (daemon, answer) in daemons.iter().zip(asked) {
        let name = daemon_name(daemon);
        match answer {
            Ok(report) => {
                answered.push(name);
                parts.push(report);
            }
            Err(e) => not_read.push(json!({
                "scope": format!("node daemon {name}"),
                "error": e,
            })),
        }
    }
    if parts.is_empty() {
        let why: Vec<String> = not_read
            .iter()
            .map(|n| {
                format!(
                    "{}: {}",
                    n["scope"].as_str().unwrap_or(""),
                    n["error"].as_str().unwrap_or("")
                )
            })
            .collect();
        return Err(ServiceError::new(
            ErrorClass::Unavailable,
            format!(
                "no node daemon of Service {}/{} answered, so nothing was read: {}",
                fan.namespace,
                fan.service,
                why.join("; ")
            ),
        ));
    }
    // A finding seen by several daemons (a Deployment, a Service) once.
    let mut seen = std::collections::BTreeSet::new();
    for part in &mut parts {
        if let Some(findings) = part["findings"].as_array_mut() {
            findings.retain(|f| seen.insert(f["id"].as_str().unwrap_or_default().to_owned()));
        }
    }
    let mut nodes_read: Vec<String> = parts
        .iter()
        .filter_map(|p| p["summary"]["node"].as_str().map(str::to_owned))
        .collect();
    nodes_read.sort();
    nodes_read.dedup();
    // Every daemon reads the same namespaces (its node's pods in them).
    let namespaces = parts
        .iter()
        .filter_map(|p| p["summary"]["namespaces"].as_u64())
        .max()
        .unwrap_or(0);
    let mut report = guardian_core::merge(parts);
    let summary = &mut report["summary"];
    summary["namespaces"] = json!(namespaces);
    if !not_read.is_empty() {
        let mut all = summary["not_read"].as_array().cloned().unwrap_or_default();
        all.extend(not_read);
        summary["not_read"] = Value::Array(all);
    }
    let scope = match &request.namespace {
        Some(ns) => format!("namespace {ns}"),
        None => "all namespaces".to_owned(),
    };
    summary["scope"] = json!(format!(
        "{scope} (the pods of node{} {}, merged from their node daemons)",
        if nodes_read.len() == 1 { "" } else { "s" },
        nodes_read.join(", ")
    ));
    summary["nodes"] = json!(nodes_read);
    summary["source"] = json!(format!(
        "the node daemons of Service {}/{} ({} answered: {})",
        fan.namespace,
        fan.service,
        answered.len(),
        answered.join(", ")
    ));
    summary["notes"] = json!([
        "merged from the node daemons: each read the pods of its own node only; a pod on no node \
         (not scheduled) is read by none of them, and a workload is explained by the pods of \
         the node daemon that reported it (docs/node-mode.md)"
    ]);
    Ok(report)
}

fn daemon_name(d: &ServiceEndpoint) -> String {
    match &d.node {
        Some(node) => format!("{} (node {node})", d.address),
        None => d.address.clone(),
    }
}

/// One daemon's report, or why it has none.
async fn ask(
    daemon: &ServiceEndpoint,
    request: &DiagnoseRequest,
    fan: &FanOut,
) -> Result<Value, String> {
    let url = format!("http://{}", daemon.address);
    let endpoint = tonic::transport::Endpoint::from_shared(url.clone())
        .map_err(|e| format!("{url} is not an address: {e}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(fan.timeout);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {url}: {}", chain(&e)))?;
    let mut client = GuardianClient::new(channel);
    let mut call = tonic::Request::new(proto::DiagnoseRequest {
        namespace: request.namespace.clone(),
        filter: request.filter.clone(),
        no_dry_run: !request.dry_run,
        propose: false,
    });
    let bearer = format!("Bearer {}", fan.token)
        .parse()
        .map_err(|_| "the fan-out token is not valid in a header".to_owned())?;
    call.metadata_mut().insert("authorization", bearer);
    let answer = client
        .diagnose(call)
        .await
        .map_err(|s| format!("{url} answered {:?}: {}", s.code(), s.message()))?;
    let report: Value = serde_json::from_str(&answer.into_inner().report_json)
        .map_err(|e| format!("{url} answered a report that is not JSON: {e}"))?;
    Ok(report)
}

fn chain(err: &dyn std::error::Error) -> String {
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
