//! `usage`: the current CPU and memory of each container (`kubectl top
//! pods --containers`), as the `pod-usage` host import answers a skill:
//! metrics.k8s.io on a cluster-wide session, the node's kubelet summary
//! in the node mode (`--node NAME`).

use guardian_broker::{CallContext, ContainerUsage};
use serde::Serialize;

use crate::{ServiceError, Session};

/// The usage of the containers of a scope.
#[derive(Clone, Debug, Serialize)]
pub struct UsageReport {
    /// `namespace shop`, `all namespaces`; with `, node NAME only` in the
    /// node mode.
    pub scope: String,
    /// The node read, in the node mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// `metrics.k8s.io` or `kubelet /stats/summary of node NAME`.
    pub source: String,
    pub containers: Vec<ContainerUsage>,
}

impl Session {
    /// The current usage of the containers of the pods in `namespace` (all
    /// when `None`) matching `label_selector`, read as `caller` through the
    /// broker (decided and audited).
    pub async fn usage(
        &self,
        caller: &str,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<UsageReport, ServiceError> {
        let broker = self.broker()?;
        let failed = |e: guardian_broker::BrokerError| {
            ServiceError::new(crate::error::host_class(e.kind_str()), e.to_string())
        };
        broker.check_scoped_node().await.map_err(failed)?;
        let cx = CallContext::host_for(caller, "usage");
        let mut containers = broker
            .pod_usage(&cx, namespace, label_selector)
            .await
            .map_err(failed)?;
        containers.sort_by(|a, b| {
            (&a.namespace, &a.pod, &a.container).cmp(&(&b.namespace, &b.pod, &b.container))
        });
        let node = broker.node_scope().map(str::to_owned);
        let mut scope = match namespace {
            Some(ns) => format!("namespace {ns}"),
            None => "all namespaces".to_owned(),
        };
        if let Some(selector) = label_selector {
            scope.push_str(&format!(", pods matching {selector}"));
        }
        let source = match &node {
            Some(node) => {
                scope.push_str(&format!(", node {node} only"));
                format!("kubelet /stats/summary of node {node}")
            }
            None => "metrics.k8s.io".to_owned(),
        };
        Ok(UsageReport {
            scope,
            node,
            source,
            containers,
        })
    }
}
