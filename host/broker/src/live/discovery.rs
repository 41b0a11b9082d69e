//! Which resources the server serves: the legacy discovery documents, read
//! once and refreshed when a name does not resolve (a CRD installed
//! meanwhile), and kubectl's name resolution against them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::LiveBackend;
use super::errors::Op;
use crate::BrokerError;
use crate::resources::{ResourceKind, ResourceTable, split_api_version};

/// How long a discovery answer is trusted before a name that does not
/// resolve triggers a fresh discovery (a CRD installed meanwhile).
const DISCOVERY_REFRESH: Duration = Duration::from_secs(10);

/// What discovery found: the resources the server serves, and the table that
/// resolves kubectl-style names against them.
#[derive(Debug)]
pub(super) struct Discovered {
    /// Served resources, the built-in kinds first in kubectl's priority
    /// order, then the rest (custom resources) in discovery order.
    served: Vec<ResourceKind>,
    /// Built-ins plus every served kind: kubectl's name resolution.
    table: ResourceTable,
}

impl LiveBackend {
    async fn discovered(&self, refresh: bool) -> Result<Arc<Discovered>, BrokerError> {
        let mut cache = self.inner.discovery.lock().await;
        if let Some((at, data)) = cache.as_ref()
            && !(refresh && at.elapsed() >= DISCOVERY_REFRESH)
        {
            return Ok(data.clone());
        }
        let data = Arc::new(self.discover().await?);
        *cache = Some((Instant::now(), data.clone()));
        Ok(data)
    }

    /// The legacy discovery documents (`/api/v1`, `/apis`, `/apis/G/V` for
    /// each group's preferred version), which every API server serves.
    async fn discover(&self) -> Result<Discovered, BrokerError> {
        let op = |what: &str| Op {
            verb: "get",
            what: what.to_string(),
            ..Op::default()
        };
        let mut lists: Vec<Value> = vec![self.get_path("/api/v1", &op("discovery /api/v1")).await?];
        let groups = self.get_path("/apis", &op("discovery /apis")).await?;
        let preferred: Vec<String> = groups
            .get("groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|g| {
                g.get("preferredVersion")
                    .and_then(|p| p.get("groupVersion"))
                    .or_else(|| {
                        g.get("versions")
                            .and_then(|v| v.get(0))
                            .and_then(|v| v.get("groupVersion"))
                    })
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for group_version in preferred {
            let this = self.clone();
            tasks.spawn(async move {
                let path = format!("/apis/{group_version}");
                let result = this
                    .get_path(&path, &op(&format!("discovery {path}")))
                    .await;
                (group_version, result)
            });
        }
        let mut by_group: Vec<(String, Value)> = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (group_version, result) =
                joined.map_err(|e| BrokerError::Internal(format!("discovery task failed: {e}")))?;
            match result {
                Ok(list) => by_group.push((group_version, list)),
                // kubectl does the same: an aggregated API that is down
                // (metrics-server, a broken webhook) costs only its group.
                Err(e) => tracing::warn!(%group_version, error = %e, "discovery: group skipped"),
            }
        }
        by_group.sort_by(|a, b| a.0.cmp(&b.0));
        lists.extend(by_group.into_iter().map(|(_, list)| list));
        Ok(discovered_from(&lists))
    }

    /// Resolve a kubectl-style name to a resource the server serves.
    pub(crate) async fn resolve_resource(
        &self,
        resource: &str,
    ) -> Result<ResourceKind, BrokerError> {
        let first = self.discovered(false).await?;
        match resolve_in(&first, resource, &self.inner.target.server) {
            Ok(kind) => Ok(kind),
            Err(first_error) => {
                let fresh = self.discovered(true).await?;
                if Arc::ptr_eq(&first, &fresh) {
                    return Err(first_error);
                }
                resolve_in(&fresh, resource, &self.inner.target.server)
            }
        }
    }

    /// Every resource the server serves (`kubectl api-resources`).
    pub(crate) async fn served_resources(&self) -> Result<Vec<ResourceKind>, BrokerError> {
        Ok(self.discovered(false).await?.served.clone())
    }
}

/// Build the served list and the resolution table from discovery documents
/// (`APIResourceList`s).
fn discovered_from(lists: &[Value]) -> Discovered {
    let builtin = ResourceTable::builtin();
    let mut served: Vec<(usize, ResourceKind)> = Vec::new();
    for list in lists {
        let group_version = list
            .get("groupVersion")
            .and_then(Value::as_str)
            .unwrap_or("v1");
        let (group, version) = split_api_version(group_version);
        for resource in list
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let text = |f: &str| resource.get(f).and_then(Value::as_str).unwrap_or("");
            let (name, kind) = (text("name"), text("kind"));
            if name.is_empty() || kind.is_empty() || name.contains('/') {
                continue; // subresources (pods/log) are not kinds
            }
            let strings = |f: &str| -> Vec<String> {
                resource
                    .get(f)
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let singular = match text("singularName") {
                "" => kind.to_ascii_lowercase(),
                s => s.to_string(),
            };
            let kind = ResourceKind {
                group: group.to_string(),
                version: version.to_string(),
                kind: kind.to_string(),
                plural: name.to_string(),
                singular,
                short_names: strings("shortNames"),
                namespaced: resource
                    .get("namespaced")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                verbs: strings("verbs"),
            };
            // Built-ins in kubectl's priority order, then the rest.
            let rank = builtin
                .kinds()
                .iter()
                .position(|b| b.group == kind.group && b.kind == kind.kind)
                .unwrap_or(usize::MAX);
            if !served
                .iter()
                .any(|(_, k)| k.group == kind.group && k.kind == kind.kind)
            {
                served.push((rank, kind));
            }
        }
    }
    // Stable: discovery order among the non-built-ins.
    served.sort_by_key(|(rank, _)| *rank);
    let served: Vec<ResourceKind> = served.into_iter().map(|(_, k)| k).collect();
    let mut table = builtin;
    for kind in &served {
        table.insert(kind.clone());
    }
    Discovered { served, table }
}

/// Resolve `name` like kubectl, then find the resource as the server serves
/// it (its version, verbs and scope).
fn resolve_in(d: &Discovered, name: &str, server: &str) -> Result<ResourceKind, BrokerError> {
    let wanted = d.table.resolve(name)?;
    if let Some(served) = d
        .served
        .iter()
        .find(|k| k.group == wanted.group && k.kind == wanted.kind)
    {
        return Ok(served.clone());
    }
    // A built-in the server lacks may shadow a served custom resource with
    // the same name (`applications` of another group): try served kinds only.
    let lower = name.trim().to_ascii_lowercase();
    let (bare, group) = match lower.split_once('.') {
        Some((bare, group)) => (bare.to_string(), Some(group.to_string())),
        None => (lower.clone(), None),
    };
    let matches: Vec<&ResourceKind> = d
        .served
        .iter()
        .filter(|k| group.as_deref().is_none_or(|g| k.group == g))
        .filter(|k| {
            k.plural == bare
                || k.singular == bare
                || k.kind.eq_ignore_ascii_case(&bare)
                || k.short_names.iter().any(|s| s.eq_ignore_ascii_case(&bare))
        })
        .collect();
    if let [only] = matches.as_slice() {
        return Ok((*only).clone());
    }
    Err(BrokerError::NotFound(format!(
        "the API server at {server} does not serve {} ({}): the resource type does not exist on \
         this cluster (its CRD or API service is not installed); `api-resources` lists what it \
         serves",
        wanted.grant_name(),
        wanted.api_version()
    )))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn discovery_orders_builtins_first_and_resolves_crds() {
        let lists = [
            json!({"groupVersion": "v1", "resources": [
                {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
                 "verbs": ["get", "list"], "shortNames": ["po"]},
                {"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod",
                 "verbs": ["get"]},
                {"name": "nodes", "singularName": "node", "namespaced": false, "kind": "Node",
                 "verbs": ["get", "list"], "shortNames": ["no"]}]}),
            json!({"groupVersion": "example.com/v1alpha1", "resources": [
                {"name": "widgets", "singularName": "widget", "namespaced": true,
                 "kind": "Widget", "verbs": ["get", "list"], "shortNames": ["wdg"]}]}),
            json!({"groupVersion": "apps/v1", "resources": [
                {"name": "deployments", "singularName": "deployment", "namespaced": true,
                 "kind": "Deployment", "verbs": ["get", "list", "patch"], "shortNames": ["deploy"]}]}),
        ];
        let d = discovered_from(&lists);
        let names: Vec<String> = d.served.iter().map(ResourceKind::grant_name).collect();
        assert_eq!(
            names,
            ["pods", "nodes", "deployments.apps", "widgets.example.com"]
        );
        let server = "http://x";
        assert_eq!(resolve_in(&d, "wdg", server).unwrap().version, "v1alpha1");
        assert_eq!(
            resolve_in(&d, "deploy", server).unwrap().verbs,
            ["get", "list", "patch"]
        );
        let err = resolve_in(&d, "applications.argoproj.io", server).unwrap_err();
        assert_eq!(err.kind_str(), "not-found");
        assert!(
            err.message()
                .contains("does not serve applications.argoproj.io"),
            "{err}"
        );
        assert_eq!(
            resolve_in(&d, "nonsense", server).unwrap_err().kind_str(),
            "invalid"
        );
    }
}
