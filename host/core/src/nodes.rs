//! The node daemons a cluster-wide Guardian fans a question out to: the
//! ready endpoints of their headless Service, from its EndpointSlices, read
//! through the broker (decided and audited like every other read).

use guardian_broker::{CallContext, ListQuery};
use serde::Serialize;

use crate::{ErrorClass, ServiceError, Session};

/// One ready endpoint of a Service's named port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceEndpoint {
    /// `10.0.3.7:50051` (`[fd00::7]:50051` for IPv6; a name for a slice
    /// of addressType FQDN).
    pub address: String,
    /// The node the endpoint runs on, when the slice says.
    pub node: Option<String>,
}

impl Session {
    /// The ready endpoints of `namespace/service`'s port `port_name`, from
    /// the EndpointSlices labelled `kubernetes.io/service-name=SERVICE`, in
    /// address order.
    pub async fn service_endpoints(
        &self,
        caller: &str,
        namespace: &str,
        service: &str,
        port_name: &str,
    ) -> Result<Vec<ServiceEndpoint>, ServiceError> {
        let broker = self.broker()?;
        let cx = CallContext::host_for(caller, "fan-out");
        let err = |e: guardian_broker::BrokerError| {
            ServiceError::new(
                crate::error::host_class(e.kind_str()),
                format!("cannot list the EndpointSlices of Service {namespace}/{service}: {e}"),
            )
        };
        let kind = broker
            .resolve("endpointslices.discovery.k8s.io")
            .await
            .map_err(err)?;
        let query = ListQuery {
            namespace: Some(namespace.to_owned()),
            label_selector: Some(format!("kubernetes.io/service-name={service}")),
            ..Default::default()
        };
        let slices = broker.list_shared(&cx, &kind, &query).await.map_err(err)?;
        let mut out = Vec::new();
        for slice in &slices.items {
            let slice = slice.to_value();
            let Some(port) = slice["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == port_name)
                .and_then(|p| p["port"].as_u64())
            else {
                continue;
            };
            for endpoint in slice["endpoints"].as_array().into_iter().flatten() {
                // Ready unless the slice says otherwise (as kube-proxy).
                if endpoint["conditions"]["ready"] == false {
                    continue;
                }
                let Some(ip) = endpoint["addresses"][0].as_str() else {
                    continue;
                };
                // An IPv6 address in brackets; an IPv4 one or a name
                // (addressType FQDN) as it is.
                let address = if ip.contains(':') {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                };
                out.push(ServiceEndpoint {
                    address,
                    node: endpoint["nodeName"].as_str().map(str::to_owned),
                });
            }
        }
        out.sort_by(|a, b| a.address.cmp(&b.address));
        out.dedup();
        if out.is_empty() {
            return Err(ServiceError::new(
                ErrorClass::Unavailable,
                format!(
                    "Service {namespace}/{service} has no ready endpoint with a port named \
                     {port_name:?} (EndpointSlices labelled kubernetes.io/service-name={service}): \
                     are the node daemons (deploy/daemonset) running and ready?"
                ),
            ));
        }
        Ok(out)
    }
}
