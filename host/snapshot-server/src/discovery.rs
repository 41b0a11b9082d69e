//! Discovery: `/version`, `/api`, `/apis`, and the resource list of each
//! group version, built from the snapshot's resource table.
//!
//! Only the legacy (unaggregated) documents are served. kubectl and client-go
//! ask for aggregated discovery first (`Accept: application/json;g=
//! apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,…,application/json`) and
//! fall back to these when the answer's Content-Type is plain
//! `application/json`, which it always is here.

use guardian_kube_types::{ResourceKind, ResourceTable};
use serde_json::{Value, json};

/// Kinds `kubectl get all` shows (the API server's `all` category).
fn in_category_all(kind: &ResourceKind) -> bool {
    matches!(
        (kind.group.as_str(), kind.kind.as_str()),
        ("", "Pod" | "Service" | "ReplicationController")
            | (
                "apps",
                "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet"
            )
            | ("batch", "Job" | "CronJob")
            | ("autoscaling", "HorizontalPodAutoscaler")
    )
}

/// Kinds with a `scale` subresource (what `kubectl scale` patches).
pub fn has_scale(kind: &ResourceKind) -> bool {
    matches!(
        (kind.group.as_str(), kind.kind.as_str()),
        ("", "ReplicationController") | ("apps", "Deployment" | "ReplicaSet" | "StatefulSet")
    )
}

/// `/version`. The version is the one the snapshot's nodes report (the
/// newest kubelet), so kubectl's version-skew logic sees the captured
/// cluster; `v1.33.0` when the snapshot has no nodes.
pub fn version(kubelet_versions: &[String]) -> Value {
    let parsed = kubelet_versions
        .iter()
        .filter_map(|v| {
            let trimmed = v.trim_start_matches('v');
            let mut parts = trimmed.split(['.', '-', '+']);
            let major: u32 = parts.next()?.parse().ok()?;
            let minor: u32 = parts.next()?.parse().ok()?;
            let patch: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            Some((major, minor, patch))
        })
        .max()
        .unwrap_or((1, 33, 0));
    let (major, minor, patch) = parsed;
    json!({
        "major": major.to_string(),
        "minor": minor.to_string(),
        "gitVersion": format!("v{major}.{minor}.{patch}"),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "guardian-snapshot",
        "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    })
}

/// `/api`.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    })
}

/// The served versions of each named group, in table order (which is
/// kubectl's priority order for the built-ins).
fn groups(kinds: &[ResourceKind]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for kind in kinds {
        if kind.group.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|(g, _)| *g == kind.group) {
            Some((_, versions)) => {
                if !versions.contains(&kind.version) {
                    versions.push(kind.version.clone());
                }
            }
            None => groups.push((kind.group.clone(), vec![kind.version.clone()])),
        }
    }
    groups
}

fn group_object(name: &str, versions: &[String]) -> Value {
    let entries: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": entries,
        "preferredVersion": entries.first().cloned().unwrap_or(Value::Null),
    })
}

/// The kinds discovery shows for `table` over a snapshot holding
/// `has_metrics` (any PodMetrics or NodeMetrics): all of them, except
/// metrics.k8s.io when the snapshot has no metrics — as a cluster without
/// metrics-server, so `kubectl top` says the Metrics API is not available
/// instead of listing nothing.
pub fn served(table: &ResourceTable, has_metrics: bool) -> Vec<ResourceKind> {
    table
        .kinds()
        .iter()
        .filter(|k| has_metrics || k.group != "metrics.k8s.io")
        .cloned()
        .collect()
}

/// `/apis`.
pub fn group_list(kinds: &[ResourceKind]) -> Value {
    let groups: Vec<Value> = groups(kinds)
        .iter()
        .map(|(name, versions)| group_object(name, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}`, or `None` if the snapshot serves no such group.
pub fn group(kinds: &[ResourceKind], name: &str) -> Option<Value> {
    let (name, versions) = groups(kinds).into_iter().find(|(g, _)| g == name)?;
    let mut group = group_object(&name, &versions);
    group["kind"] = json!("APIGroup");
    group["apiVersion"] = json!("v1");
    Some(group)
}

/// `/api/v1` or `/apis/{group}/{version}`, or `None` if no kind is served
/// there.
pub fn resource_list(kinds: &[ResourceKind], group: &str, version: &str) -> Option<Value> {
    let kinds: Vec<&ResourceKind> = kinds
        .iter()
        .filter(|k| k.group == group && k.version == version)
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for kind in kinds {
        let mut resource = json!({
            "name": kind.plural,
            "singularName": kind.singular,
            "namespaced": kind.namespaced,
            "kind": kind.kind,
            "verbs": kind.verbs,
        });
        if !kind.short_names.is_empty() {
            resource["shortNames"] = json!(kind.short_names);
        }
        if in_category_all(kind) {
            resource["categories"] = json!(["all"]);
        }
        resources.push(resource);
        if has_scale(kind) {
            resources.push(json!({
                "name": format!("{}/scale", kind.plural),
                "singularName": "",
                "namespaced": true,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
        if group.is_empty() && kind.kind == "Pod" {
            resources.push(json!({
                "name": "pods/log",
                "singularName": "",
                "namespaced": true,
                "kind": "Pod",
                "verbs": ["get"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_have_the_api_server_shapes() {
        let table = ResourceTable::builtin();
        let table = table.kinds();
        let core = resource_list(table, "", "v1").unwrap();
        let names: Vec<&str> = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"pods") && names.contains(&"pods/log"),
            "{names:?}"
        );
        let apps = resource_list(table, "apps", "v1").unwrap();
        assert_eq!(apps["groupVersion"], "apps/v1");
        let deploy = apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "deployments")
            .unwrap();
        assert_eq!(deploy["shortNames"], json!(["deploy"]));
        assert_eq!(deploy["categories"], json!(["all"]));
        assert!(resource_list(table, "apps", "v1beta1").is_none());

        let list = group_list(table);
        assert_eq!(list["kind"], "APIGroupList");
        assert!(
            list["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["preferredVersion"]["groupVersion"] == "apps/v1")
        );
        assert_eq!(group(table, "batch").unwrap()["kind"], "APIGroup");
        assert!(group(table, "nope.example.com").is_none());
    }

    #[test]
    fn metrics_are_discovered_only_when_the_snapshot_has_some() {
        let table = ResourceTable::builtin();
        let without = served(&table, false);
        assert!(group(&without, "metrics.k8s.io").is_none());
        assert!(resource_list(&without, "metrics.k8s.io", "v1beta1").is_none());
        assert!(group(&without, "apps").is_some());
        let with = served(&table, true);
        assert!(group(&with, "metrics.k8s.io").is_some());
    }

    #[test]
    fn version_is_the_newest_kubelet() {
        let v = version(&["v1.34.2".into(), "v1.35.1".into(), "junk".into()]);
        assert_eq!(v["gitVersion"], "v1.35.1");
        assert_eq!(v["minor"], "35");
        assert_eq!(version(&[])["gitVersion"], "v1.33.0");
    }
}
