//! Node scope: a broker that reads one node only (`guardian serve --node
//! NAME`, the node mode's daemon), so that a large cluster is not read
//! through one process.
//!
//! When a [`Broker`] is scoped to node `NAME`:
//! - every list of `pods` (in a namespace or across them) is sent with the
//!   field selector `spec.nodeName=NAME`, ANDed with the caller's own;
//! - a list of `nodes` is sent with `metadata.name=NAME`;
//! - a `get` of a pod on another node (or of another node) is refused with
//!   [`BrokerError::OutOfScope`], which names both nodes; so are a pod's
//!   logs;
//! - the policy input carries `node: NAME` and every audit line `node`,
//!   and a scoped list's audit line says the field selector it was sent
//!   with;
//! - pod usage (`pod-usage`) comes from the node's kubelet
//!   ([`crate::kubelet`]), not from metrics.k8s.io.
//!
//! Everything else (other kinds, other namespaces' objects) is read as
//! without a scope: a node daemon sees the workloads whose pods it runs on
//! the same terms as the cluster-wide server.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use crate::{Broker, BrokerError, CallContext, ListQuery, ResourceKind};

/// How a node daemon reaches its kubelet's `/stats/summary`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KubeletRoute {
    /// Through the API server's node proxy:
    /// `GET /api/v1/nodes/NODE/proxy/stats/summary` (RBAC `get
    /// nodes/proxy`).
    #[default]
    Proxy,
    /// The node's kubelet itself, at the Node's `InternalIP` and
    /// `status.daemonEndpoints.kubeletEndpoint.Port`, with the session's
    /// bearer token (the kubelet authorizes it as `get nodes/stats`).
    Direct,
}

impl KubeletRoute {
    /// `proxy` or `direct`, as the flag takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            KubeletRoute::Proxy => "proxy",
            KubeletRoute::Direct => "direct",
        }
    }
}

/// What a node-scoped broker is built with (`--node`, `--kubelet`,
/// `--kubelet-ca-file`, `--kubelet-insecure-tls`).
#[derive(Clone, Debug, Default)]
pub struct NodeOptions {
    /// The node's name (in a DaemonSet: `spec.nodeName` from the downward
    /// API).
    pub name: String,
    pub kubelet: KubeletRoute,
    /// PEM CA certificate(s) that verify the kubelet's serving certificate
    /// (the direct route).
    pub kubelet_ca_file: Option<PathBuf>,
    /// Reach the kubelet over HTTPS without verifying its certificate (the
    /// direct route; as metrics-server's flag of the same name).
    pub kubelet_insecure_tls: bool,
}

/// A broker's node scope.
pub(crate) struct NodeScope {
    pub(crate) name: String,
    pub(crate) route: KubeletRoute,
    /// The HTTPS client of the direct route.
    pub(crate) direct: Option<reqwest::Client>,
    /// How the direct route checks the kubelet's certificate, for messages.
    pub(crate) tls: String,
}

impl std::fmt::Debug for NodeScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeScope")
            .field("name", &self.name)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

/// Whether `kind` is the core group's `resource`.
fn is_core(kind: &ResourceKind, resource: &str) -> bool {
    kind.group.is_empty() && kind.plural == resource
}

/// A node name as the API server accepts one (a DNS subdomain).
fn check_node_name(name: &str) -> Result<(), BrokerError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name
            .split('.')
            .all(|part| !part.is_empty() && !part.starts_with('-') && !part.ends_with('-'));
    if ok {
        return Ok(());
    }
    Err(BrokerError::Invalid(format!(
        "--node {name:?} is not a node name (lowercase letters, digits, '-' and '.', at most 253 \
         characters); in a DaemonSet pass --node=$(NODE_NAME) with NODE_NAME from the downward \
         API's spec.nodeName"
    )))
}

impl NodeScope {
    fn new(options: &NodeOptions) -> Result<NodeScope, BrokerError> {
        check_node_name(&options.name)?;
        let tls_flags = options.kubelet_ca_file.is_some() || options.kubelet_insecure_tls;
        let (direct, tls) = match options.kubelet {
            KubeletRoute::Proxy if tls_flags => {
                return Err(BrokerError::Invalid(
                    "--kubelet-ca-file and --kubelet-insecure-tls are for --kubelet direct; the \
                     default route (--kubelet proxy) reaches the kubelet through the API server, \
                     which verifies it itself"
                        .into(),
                ));
            }
            KubeletRoute::Proxy => (None, String::new()),
            KubeletRoute::Direct => {
                let (client, tls) = crate::kubelet::direct_client(options)?;
                (Some(client), tls)
            }
        };
        Ok(NodeScope {
            name: options.name.clone(),
            route: options.kubelet,
            direct,
            tls,
        })
    }

    /// `query` narrowed to this node when `kind` is pods or nodes, and the
    /// note the audit line carries; `None` for every other kind.
    pub(crate) fn scope_list(
        &self,
        kind: &ResourceKind,
        query: &ListQuery,
    ) -> Option<(ListQuery, String)> {
        let field = if is_core(kind, "pods") {
            format!("spec.nodeName={}", self.name)
        } else if is_core(kind, "nodes") {
            format!("metadata.name={}", self.name)
        } else {
            return None;
        };
        let selector = match query.field_selector.as_deref().map(str::trim) {
            Some(own) if !own.is_empty() => format!("{own},{field}"),
            _ => field.clone(),
        };
        let note = format!(
            "node scope {}: sent with fieldSelector {selector}",
            self.name
        );
        Some((
            ListQuery {
                field_selector: Some(selector),
                ..query.clone()
            },
            note,
        ))
    }

    /// Refuses `name` of `kind` when it is another node.
    pub(crate) fn check_node_get(
        &self,
        kind: &ResourceKind,
        name: &str,
    ) -> Result<(), BrokerError> {
        if !is_core(kind, "nodes") || name == self.name {
            return Ok(());
        }
        Err(BrokerError::OutOfScope(format!(
            "node {name} is not this daemon's node: this daemon reads node {} only (guardian \
             serve --node {}); ask the daemon of node {name}, or a Guardian without --node",
            self.name, self.name
        )))
    }

    /// Refuses a pod object that is not on this node.
    pub(crate) fn check_pod(
        &self,
        object: &Value,
        namespace: &str,
        name: &str,
    ) -> Result<(), BrokerError> {
        let on = object["spec"]["nodeName"].as_str().unwrap_or_default();
        if on == self.name {
            return Ok(());
        }
        let mine = &self.name;
        Err(BrokerError::OutOfScope(if on.is_empty() {
            format!(
                "pod {namespace}/{name} is not scheduled on any node; this daemon reads node \
                 {mine} only (guardian serve --node {mine}): ask a Guardian without --node"
            )
        } else {
            format!(
                "pod {namespace}/{name} runs on node {on}; this daemon reads node {mine} \
                 (guardian serve --node {mine}): ask the daemon of node {on}, or a Guardian \
                 without --node"
            )
        }))
    }
}

impl Broker {
    /// This broker scoped to one node (module docs). Fails on a name that
    /// cannot be a node's, or route flags that do not fit together.
    pub fn with_node_scope(mut self, options: &NodeOptions) -> Result<Broker, BrokerError> {
        self.node = Some(Arc::new(NodeScope::new(options)?));
        Ok(self)
    }

    /// The node this broker is scoped to, if any.
    pub fn node_scope(&self) -> Option<&str> {
        self.node.as_deref().map(|n| n.name.as_str())
    }

    /// Checks that the scoped node exists (a get of it, as Guardian itself,
    /// decided and audited): a mistyped `--node` would otherwise read no
    /// pod and find nothing wrong. Nothing to check without a scope.
    pub async fn check_scoped_node(&self) -> Result<(), BrokerError> {
        let Some(scope) = self.node.as_deref() else {
            return Ok(());
        };
        let kind = self.backend.resolve("nodes").await?;
        let cx = CallContext::guardian("node-scope", &["nodes"]);
        let name = scope.name.as_str();
        let req = crate::gate::Request::new("get", &kind, None, name);
        let got = Box::pin(self.call(
            &cx,
            &req,
            async |permit| self.backend.get(permit, &kind, None, name).await,
            |_| {},
        ))
        .await;
        match got {
            Ok(_) => Ok(()),
            Err(BrokerError::NotFound(_)) => Err(BrokerError::NotFound(format!(
                "node {name} does not exist (kubectl get nodes lists them), so no pod of it was \
                 read: check --node (in a DaemonSet, NODE_NAME from spec.nodeName)"
            ))),
            Err(e) => Err(e),
        }
    }

    /// Refuses `namespace/pod` when it is not on the scoped node: the pod
    /// is read as Guardian itself (decided and audited), and only its node
    /// is looked at.
    pub(crate) async fn pod_on_node(&self, namespace: &str, pod: &str) -> Result<(), BrokerError> {
        let Some(scope) = self.node.as_deref() else {
            return Ok(());
        };
        let kind = self.backend.resolve("pods").await?;
        let cx = CallContext::guardian("node-scope", &["pods"]);
        let req = crate::gate::Request::new("get", &kind, Some(namespace), pod);
        let object = Box::pin(self.call(
            &cx,
            &req,
            async |permit| self.backend.get(permit, &kind, Some(namespace), pod).await,
            |_| {},
        ))
        .await?;
        scope.check_pod(&object, namespace, pod)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn scope(name: &str) -> NodeScope {
        NodeScope::new(&NodeOptions {
            name: name.into(),
            ..Default::default()
        })
        .unwrap()
    }

    fn kind(group: &str, plural: &str) -> ResourceKind {
        ResourceKind {
            group: group.into(),
            version: "v1".into(),
            kind: String::new(),
            plural: plural.into(),
            singular: String::new(),
            short_names: Vec::new(),
            namespaced: true,
            verbs: Vec::new(),
        }
    }

    #[test]
    fn pod_and_node_lists_are_narrowed_to_the_node() {
        let s = scope("n1");
        let (q, note) = s
            .scope_list(&kind("", "pods"), &ListQuery::default())
            .unwrap();
        assert_eq!(q.field_selector.as_deref(), Some("spec.nodeName=n1"));
        assert!(note.contains("spec.nodeName=n1"), "{note}");
        let own = ListQuery {
            namespace: Some("shop".into()),
            field_selector: Some("status.phase=Running".into()),
            label_selector: Some("app=web".into()),
            ..Default::default()
        };
        let (q, _) = s.scope_list(&kind("", "pods"), &own).unwrap();
        assert_eq!(
            q.field_selector.as_deref(),
            Some("status.phase=Running,spec.nodeName=n1")
        );
        assert_eq!(q.label_selector.as_deref(), Some("app=web"));
        assert_eq!(q.namespace.as_deref(), Some("shop"));
        let (q, _) = s
            .scope_list(&kind("", "nodes"), &ListQuery::default())
            .unwrap();
        assert_eq!(q.field_selector.as_deref(), Some("metadata.name=n1"));
        // Not the core group's pods, or another kind: untouched.
        assert!(
            s.scope_list(&kind("metrics.k8s.io", "pods"), &own)
                .is_none()
        );
        assert!(s.scope_list(&kind("apps", "deployments"), &own).is_none());
    }

    #[test]
    fn a_pod_elsewhere_is_out_of_scope_and_says_where() {
        let s = scope("n1");
        let pod = |node: &str| json!({"spec": {"nodeName": node}});
        assert!(s.check_pod(&pod("n1"), "shop", "web-0").is_ok());
        let err = s.check_pod(&pod("n2"), "shop", "web-1").unwrap_err();
        assert_eq!(err.kind_str(), "out-of-scope");
        assert!(
            err.message()
                .starts_with("pod shop/web-1 runs on node n2; this daemon reads node n1"),
            "{err}"
        );
        let err = s
            .check_pod(&json!({"spec": {}}), "shop", "pending")
            .unwrap_err();
        assert!(err.message().contains("not scheduled"), "{err}");
        assert!(s.check_node_get(&kind("", "nodes"), "n1").is_ok());
        let err = s.check_node_get(&kind("", "nodes"), "n2").unwrap_err();
        assert_eq!(err.kind_str(), "out-of-scope", "{err}");
    }

    #[test]
    fn bad_names_and_flags_are_refused() {
        for bad in ["", "N1", "n1/..", "-n1", "a..b"] {
            let err = NodeScope::new(&NodeOptions {
                name: bad.into(),
                ..Default::default()
            })
            .unwrap_err();
            assert!(err.message().contains("not a node name"), "{bad}: {err}");
        }
        let err = NodeScope::new(&NodeOptions {
            name: "n1".into(),
            kubelet_insecure_tls: true,
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.message().contains("--kubelet direct"), "{err}");
        let err = NodeScope::new(&NodeOptions {
            name: "n1".into(),
            kubelet: KubeletRoute::Direct,
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.message().contains("--kubelet-ca-file"), "{err}");
    }

    fn pod(name: &str, node: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": "shop", "labels": {"app": "web"}},
               "spec": {"nodeName": node, "containers": [{"name": "app", "image": "web:1"}]},
               "status": {"phase": "Running"}})
    }

    /// Over a snapshot holding two nodes' pods: a node-scoped broker lists
    /// its node's pods only, refuses the others' by name (get and logs),
    /// and its audit lines and policy input carry the node.
    #[tokio::test]
    async fn a_scoped_broker_reads_its_node_only() {
        let node =
            |name: &str| json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}});
        let (snapshot, problems) = crate::Snapshot::from_values(
            "two-nodes",
            vec![
                node("n1"),
                node("n2"),
                pod("web-0", "n1"),
                pod("web-1", "n2"),
                pod("web-2", "n1"),
            ],
        )
        .unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        let audit = Arc::new(crate::Audit::memory());
        let policy = Arc::new(crate::Policy::defaults().unwrap());
        let whole = Broker::from_snapshot(snapshot, policy, audit.clone());
        let broker = whole
            .clone()
            .with_node_scope(&NodeOptions {
                name: "n1".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(broker.node_scope(), Some("n1"));
        let cx = CallContext::host("test");
        let pods = broker.resolve("pods").await.unwrap();
        let names = |list: Value| -> Vec<String> {
            let mut n: Vec<String> = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
                .collect();
            n.sort();
            n
        };
        let all = ListQuery::default();
        assert_eq!(
            names(whole.list(&cx, &pods, &all).await.unwrap()),
            ["web-0", "web-1", "web-2"]
        );
        assert_eq!(
            names(broker.list(&cx, &pods, &all).await.unwrap()),
            ["web-0", "web-2"]
        );
        let own = ListQuery {
            namespace: Some("shop".into()),
            field_selector: Some("metadata.name=web-1".into()),
            ..Default::default()
        };
        assert!(names(broker.list(&cx, &pods, &own).await.unwrap()).is_empty());
        let nodes = broker.resolve("nodes").await.unwrap();
        assert_eq!(names(broker.list(&cx, &nodes, &all).await.unwrap()), ["n1"]);

        assert!(broker.get(&cx, &pods, Some("shop"), "web-0").await.is_ok());
        let err = broker
            .get(&cx, &pods, Some("shop"), "web-1")
            .await
            .unwrap_err();
        assert_eq!(err.kind_str(), "out-of-scope", "{err}");
        assert!(
            err.message()
                .starts_with("pod shop/web-1 runs on node n2; this daemon reads node n1"),
            "{err}"
        );
        let err = broker
            .logs(&cx, "shop", "web-1", &Default::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind_str(), "out-of-scope", "{err}");
        let err = broker.get(&cx, &nodes, None, "n2").await.unwrap_err();
        assert_eq!(err.kind_str(), "out-of-scope", "{err}");
        // The unscoped broker still reads everything.
        assert!(whole.get(&cx, &pods, Some("shop"), "web-1").await.is_ok());

        let lines: Vec<Value> = audit
            .lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let scoped_list = lines
            .iter()
            .find(|l| l["verb"] == "list" && l["resource"] == "/v1/pods" && l["node"] == "n1")
            .expect("a scoped pod list in the audit log");
        assert!(
            scoped_list["reasons"]
                .to_string()
                .contains("fieldSelector spec.nodeName=n1"),
            "{scoped_list}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l["verb"] == "logs" && l["error"] == "out-of-scope"),
            "{lines:#?}"
        );
        // The unscoped broker's lines carry no node.
        assert!(lines.iter().any(|l| l.get("node").is_none()));
        let req = crate::gate::Request::new("list", &pods, Some("shop"), "");
        assert_eq!(broker.input(&cx, &req).await.node.as_deref(), Some("n1"));
        assert_eq!(whole.input(&cx, &req).await.node, None);
    }
}
