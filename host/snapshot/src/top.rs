//! `kubectl top` output kept beside a snapshot, read as the metrics.k8s.io
//! objects it was printed from: `top-pods.txt` (`kubectl top pods -A
//! --containers`) becomes PodMetrics, `top-nodes.txt` (`kubectl top nodes`)
//! NodeMetrics — so the broker's pod usage and `snapshot serve`'s
//! metrics.k8s.io (what `kubectl top` reads) answer from them as from
//! PodMetrics objects.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// `kubectl top pods -A --containers > top-pods.txt`.
pub const TOP_PODS_FILE: &str = "top-pods.txt";
/// `kubectl top nodes > top-nodes.txt`.
pub const TOP_NODES_FILE: &str = "top-nodes.txt";

/// The header's columns, by name.
fn columns(header: &str) -> Vec<String> {
    header
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect()
}

fn position(columns: &[String], names: &[&str]) -> Option<usize> {
    columns.iter().position(|c| names.contains(&c.as_str()))
}

/// `top-pods.txt` → PodMetrics objects (one per pod, its containers in
/// file order) and problems (line-numbered). Quantities are kept as
/// printed (`13m`, `51Mi`); a row whose quantities do not parse is skipped
/// and said.
pub(crate) fn pod_metrics(text: &str) -> (Vec<Value>, Vec<String>) {
    let mut problems = Vec::new();
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return (Vec::new(), vec!["empty file; no pod usage loaded".into()]);
    };
    let cols = columns(header);
    let (Some(ns), Some(pod), Some(name), Some(cpu), Some(memory)) = (
        position(&cols, &["NAMESPACE"]),
        position(&cols, &["POD"]),
        position(&cols, &["NAME"]),
        position(&cols, &["CPU(CORES)"]),
        position(&cols, &["MEMORY(BYTES)"]),
    ) else {
        let hint =
            if position(&cols, &["NAMESPACE"]).is_none() && position(&cols, &["NAME"]).is_some() {
                " (no NAMESPACE column: captured without -A?)"
            } else if position(&cols, &["POD"]).is_none() {
                " (no POD column: captured without --containers?)"
            } else {
                ""
            };
        return (
            Vec::new(),
            vec![format!(
                "the header {:?} is not that of `kubectl top pods -A --containers` (NAMESPACE \
                 POD NAME CPU(cores) MEMORY(bytes)){hint}; nothing loaded from it — capture it \
                 again with that command",
                header.trim()
            )],
        );
    };
    let mut pods: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for (number, line) in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != cols.len() {
            problems.push(format!(
                "line {}: {} fields where the header has {}; row skipped",
                number + 1,
                fields.len(),
                cols.len()
            ));
            continue;
        }
        let (c, m) = (fields[cpu], fields[memory]);
        if guardian_kube_types::quantity::parse(c).is_none()
            || guardian_kube_types::quantity::parse(m).is_none()
        {
            problems.push(format!(
                "line {}: CPU {c:?} or memory {m:?} is not a Kubernetes quantity; row skipped",
                number + 1
            ));
            continue;
        }
        pods.entry((fields[ns].to_owned(), fields[pod].to_owned()))
            .or_default()
            .push(json!({"name": fields[name], "usage": {"cpu": c, "memory": m}}));
    }
    let objects = pods
        .into_iter()
        .map(|((namespace, name), containers)| {
            json!({
                "apiVersion": "metrics.k8s.io/v1beta1",
                "kind": "PodMetrics",
                "metadata": {"name": name, "namespace": namespace},
                "window": "0s",
                "containers": containers,
            })
        })
        .collect();
    (objects, problems)
}

/// `top-nodes.txt` → NodeMetrics objects and problems.
pub(crate) fn node_metrics(text: &str) -> (Vec<Value>, Vec<String>) {
    let mut problems = Vec::new();
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return (Vec::new(), vec!["empty file; no node usage loaded".into()]);
    };
    let cols = columns(header);
    let (Some(name), Some(cpu), Some(memory)) = (
        position(&cols, &["NAME"]),
        position(&cols, &["CPU(CORES)"]),
        position(&cols, &["MEMORY(BYTES)"]),
    ) else {
        return (
            Vec::new(),
            vec![format!(
                "the header {:?} is not that of `kubectl top nodes` (NAME CPU(cores) CPU(%) \
                 MEMORY(bytes) MEMORY(%)); nothing loaded from it",
                header.trim()
            )],
        );
    };
    let mut objects = Vec::new();
    for (number, line) in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != cols.len() {
            problems.push(format!(
                "line {}: {} fields where the header has {}; row skipped",
                number + 1,
                fields.len(),
                cols.len()
            ));
            continue;
        }
        let (c, m) = (fields[cpu], fields[memory]);
        if guardian_kube_types::quantity::parse(c).is_none()
            || guardian_kube_types::quantity::parse(m).is_none()
        {
            // `<unknown>` for a node without metrics.
            problems.push(format!(
                "line {}: node {}: CPU {c:?} or memory {m:?} is not a quantity; row skipped",
                number + 1,
                fields[name]
            ));
            continue;
        }
        objects.push(json!({
            "apiVersion": "metrics.k8s.io/v1beta1",
            "kind": "NodeMetrics",
            "metadata": {"name": fields[name]},
            "window": "0s",
            "usage": {"cpu": c, "memory": m},
        }));
    }
    (objects, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOP: &str = "NAMESPACE     POD                       NAME      CPU(cores)   MEMORY(bytes)   \n\
kube-system   coredns-5d78c9869d-x2x4   coredns   3m           15Mi            \n\
shop          web-7d4b9c-abcde          app       250m         300Mi           \n\
shop          web-7d4b9c-abcde          envoy     12m          40Mi            \n\
shop          broken                    app       lots         1Mi             \n\
shop          short                     app       1m\n";

    #[test]
    fn top_pods_text_becomes_pod_metrics() {
        let (objects, problems) = pod_metrics(TOP);
        assert_eq!(objects.len(), 2, "{objects:#?}");
        let web = &objects[1];
        assert_eq!(web["metadata"]["namespace"], "shop");
        assert_eq!(web["metadata"]["name"], "web-7d4b9c-abcde");
        assert_eq!(
            web["containers"][0],
            json!({"name": "app", "usage": {"cpu": "250m", "memory": "300Mi"}})
        );
        assert_eq!(web["containers"][1]["name"], "envoy");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("line 5:"), "{problems:?}");
        assert!(problems[1].contains("line 6: 4 fields"), "{problems:?}");
    }

    #[test]
    fn top_without_containers_or_namespaces_is_refused_with_the_command() {
        let (objects, problems) =
            pod_metrics("NAME   CPU(cores)   MEMORY(bytes)\nweb   1m   2Mi\n");
        assert!(objects.is_empty());
        assert!(
            problems[0].contains("kubectl top pods -A --containers"),
            "{problems:?}"
        );
        assert!(problems[0].contains("NAMESPACE"), "{problems:?}");
    }

    #[test]
    fn top_nodes_text_becomes_node_metrics() {
        let (objects, problems) = node_metrics(
            "NAME     CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)\nnode-1   250m   12%   2048Mi   26%\nnode-2   <unknown>   <unknown>   <unknown>   <unknown>\n",
        );
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0]["usage"]["memory"], "2048Mi");
        assert_eq!(problems.len(), 1);
    }
}
