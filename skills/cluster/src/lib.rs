//! The built-in `cluster` skill: read-only views of the cluster for the agent
//! and for people. Objects are handled as `serde_json::Value` (no typed
//! Kubernetes model in the guest), and outputs are compact: what a person or
//! a language model needs to see, not whole objects (except `get`).

mod status;

use std::collections::BTreeMap;

use guardian_skill_sdk::{
    Effect, HostError, ListOptions, LogOptions, ObjectRef, Tool, ToolError, kube, log, skill,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use status::{PodHealth, Workload};

skill!(Summary, Get, List, Logs, Events);

// ---------------------------------------------------------------- summary

/// What is in the cluster and what is unhealthy, per namespace.
pub struct Summary;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryInput {
    /// Only this namespace; every namespace (and the nodes) when absent.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Also the names of what is there: every namespace, node, and object
    /// counted, per namespace and kind (to find what a question is about).
    #[serde(default)]
    pub names: bool,
}

#[derive(Serialize)]
pub struct SummaryOutput {
    /// `all namespaces` or `namespace <name>`.
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    nodes: Option<NodesSummary>,
    namespaces: Vec<NamespaceSummary>,
    /// Resources that could not be listed (denied, missing from a snapshot…).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unavailable: Vec<Unavailable>,
}

#[derive(Serialize)]
struct NodesSummary {
    total: usize,
    /// With `names`: every node's name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    names: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    not_ready: Vec<Value>,
}

#[derive(Serialize, Default)]
struct NamespaceSummary {
    namespace: String,
    counts: BTreeMap<&'static str, usize>,
    /// Pods not Ready (and not Succeeded), with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unhealthy_pods: Vec<PodHealth>,
    /// Ready pods whose containers restarted, with the last termination.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    restarted_pods: Vec<PodHealth>,
    /// Deployments, StatefulSets and DaemonSets with fewer ready replicas than wanted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    degraded_workloads: Vec<Workload>,
    /// With `names`: the names of the objects counted, per kind of `counts`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    names: BTreeMap<&'static str, Vec<String>>,
}

#[derive(Serialize)]
struct Unavailable {
    resource: &'static str,
    error: String,
}

/// Resources counted per namespace: (resource, key in `counts`).
const COUNTED: &[(&str, &str)] = &[
    ("pods", "pods"),
    ("deployments.apps", "deployments"),
    ("statefulsets.apps", "statefulsets"),
    ("daemonsets.apps", "daemonsets"),
    ("jobs.batch", "jobs"),
    ("cronjobs.batch", "cronjobs"),
    ("services", "services"),
    ("persistentvolumeclaims", "persistentvolumeclaims"),
    ("ingresses.networking.k8s.io", "ingresses"),
];

impl Tool for Summary {
    const NAME: &'static str = "summary";
    const DESCRIPTION: &'static str = "Overview of the cluster or one namespace: object counts, pods that are not Ready \
         (phase, waiting reason such as CrashLoopBackOff, last termination such as OOMKilled, \
         restarts), workloads with unavailable replicas, and nodes that are not Ready. Start here.";
    const EFFECT: Effect = Effect::Read;
    type Input = SummaryInput;
    type Output = SummaryOutput;

    fn run(input: SummaryInput) -> Result<SummaryOutput, ToolError> {
        let ns = input.namespace.as_deref();
        let mut namespaces: BTreeMap<String, NamespaceSummary> = BTreeMap::new();
        if let Some(ns) = ns {
            // Show the namespace even when it holds nothing we count.
            namespaces.insert(
                ns.to_string(),
                NamespaceSummary {
                    namespace: ns.to_string(),
                    ..Default::default()
                },
            );
        }
        let mut unavailable = Vec::new();
        let mut first_error: Option<HostError> = None;
        let steps = COUNTED.len() as u32 + u32::from(ns.is_none());
        if input.names && ns.is_none() {
            // Namespaces that hold nothing counted are still names a
            // question may use. Not being allowed to list them is no error:
            // the namespaces of the objects are known anyway.
            if let Ok(list) = kube::list::<Value>("namespaces", &ListOptions::default()) {
                for item in &list.items {
                    if let Some(name) = item["metadata"]["name"].as_str() {
                        namespaces
                            .entry(name.to_string())
                            .or_insert_with(|| NamespaceSummary {
                                namespace: name.to_string(),
                                ..Default::default()
                            });
                    }
                }
            }
        }
        let options = ListOptions {
            namespace: input.namespace.clone(),
            ..Default::default()
        };

        for (step, &(resource, key)) in COUNTED.iter().enumerate() {
            log::progress(step as u32, steps, format!("listing {resource}"));
            let items = match kube::list::<Value>(resource, &options) {
                Ok(list) => list.items,
                Err(e) => {
                    unavailable.push(Unavailable {
                        resource,
                        error: e.describe(),
                    });
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            for item in &items {
                let item_ns = item["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                let entry = namespaces
                    .entry(item_ns.clone())
                    .or_insert_with(|| NamespaceSummary {
                        namespace: item_ns,
                        ..Default::default()
                    });
                *entry.counts.entry(key).or_default() += 1;
                if input.names
                    && let Some(name) = item["metadata"]["name"].as_str()
                {
                    entry.names.entry(key).or_default().push(name.to_string());
                }
                match key {
                    "pods" => {
                        let health = status::pod_health(item);
                        if health.is_unhealthy() {
                            entry.unhealthy_pods.push(health);
                        } else if health.restarts > 0 {
                            entry.restarted_pods.push(health);
                        }
                    }
                    "deployments" | "statefulsets" | "daemonsets" => {
                        if let Some(w) = status::degraded_workload(key, item) {
                            entry.degraded_workloads.push(w);
                        }
                    }
                    _ => {}
                }
            }
        }

        let nodes = if ns.is_none() {
            log::progress(steps - 1, steps, "listing nodes");
            match kube::list::<Value>("nodes", &ListOptions::default()) {
                Ok(list) => Some(NodesSummary {
                    total: list.items.len(),
                    names: if input.names {
                        list.items
                            .iter()
                            .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
                            .collect()
                    } else {
                        Vec::new()
                    },
                    not_ready: list.items.iter().filter_map(status::node_problem).collect(),
                }),
                Err(e) => {
                    unavailable.push(Unavailable {
                        resource: "nodes",
                        error: e.describe(),
                    });
                    None
                }
            }
        } else {
            None
        };
        log::progress(steps, steps, "done");

        if unavailable.len() == COUNTED.len() + usize::from(ns.is_none())
            && let Some(e) = first_error
        {
            // Nothing could be listed: that is an error, not an empty cluster.
            return Err(ToolError::Host(e));
        }
        Ok(SummaryOutput {
            scope: match ns {
                Some(ns) => format!("namespace {ns}"),
                None => "all namespaces".to_string(),
            },
            nodes,
            namespaces: namespaces.into_values().collect(),
            unavailable,
        })
    }
}

// ---------------------------------------------------------------- get

/// One object, whole.
pub struct Get;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetInput {
    /// As kubectl names it: `pods`, `deployments.apps`, `Deployment`, `configmap`.
    pub resource: String,
    /// The namespace; absent for cluster-scoped resources such as nodes.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
}

impl Tool for Get {
    const NAME: &'static str = "get";
    const DESCRIPTION: &'static str =
        "One Kubernetes object as JSON (spec and status), like `kubectl get -o json`.";
    const EFFECT: Effect = Effect::Read;
    type Input = GetInput;
    type Output = Value;

    fn run(input: GetInput) -> Result<Value, ToolError> {
        Ok(kube::get(
            &input.resource,
            input.namespace.as_deref(),
            &input.name,
        )?)
    }
}

// ---------------------------------------------------------------- list

/// Compact rows of a list.
pub struct List;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInput {
    /// As kubectl names it: `pods`, `deployments.apps`, `nodes`.
    pub resource: String,
    /// The namespace; every namespace when absent.
    #[serde(default)]
    pub namespace: Option<String>,
    /// kubectl syntax: `app=web,tier!=cache`, `env in (prod,staging)`.
    #[serde(default)]
    pub label_selector: Option<String>,
    /// kubectl syntax: `status.phase=Running,spec.nodeName=node-1`.
    #[serde(default)]
    pub field_selector: Option<String>,
    /// At most this many items.
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Serialize)]
pub struct ListOutput {
    resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    count: usize,
    items: Vec<Value>,
}

impl Tool for List {
    const NAME: &'static str = "list";
    const DESCRIPTION: &'static str = "Lists objects as compact rows (namespace, name, and for pods phase/ready/restarts, for \
         workloads ready replicas, for nodes readiness), like `kubectl get`. Use `get` for one \
         object in full.";
    const EFFECT: Effect = Effect::Read;
    type Input = ListInput;
    type Output = ListOutput;

    fn run(input: ListInput) -> Result<ListOutput, ToolError> {
        let options = ListOptions {
            namespace: input.namespace,
            label_selector: input.label_selector,
            field_selector: input.field_selector,
            limit: input.limit,
        };
        let list = kube::list::<Value>(&input.resource, &options)?;
        let kind = list
            .kind
            .as_deref()
            .and_then(|k| k.strip_suffix("List"))
            .map(str::to_string);
        let shape = status::shape_of(kind.as_deref(), &input.resource);
        let items: Vec<Value> = list
            .items
            .iter()
            .map(|item| status::row(shape, item))
            .collect();
        Ok(ListOutput {
            resource: input.resource,
            kind,
            count: items.len(),
            items,
        })
    }
}

// ---------------------------------------------------------------- logs

/// The tail of a container's log.
pub struct Logs;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsInput {
    pub namespace: String,
    pub pod: String,
    /// Required when the pod has more than one container.
    #[serde(default)]
    pub container: Option<String>,
    /// Only the last N lines; 0 for the whole log.
    #[serde(default = "default_tail_lines")]
    pub tail_lines: u32,
    /// The previous (terminated) instance of the container: why it crashed.
    #[serde(default)]
    pub previous: bool,
}

fn default_tail_lines() -> u32 {
    100
}

#[derive(Serialize)]
pub struct LogsOutput {
    namespace: String,
    pod: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<String>,
    previous: bool,
    lines: usize,
    log: String,
}

impl Tool for Logs {
    const NAME: &'static str = "logs";
    const DESCRIPTION: &'static str = "The last lines of a container's log (100 by default); `previous: true` for the instance \
         that crashed before the current one.";
    const EFFECT: Effect = Effect::Read;
    type Input = LogsInput;
    type Output = LogsOutput;

    fn run(input: LogsInput) -> Result<LogsOutput, ToolError> {
        let options = LogOptions {
            container: input.container.clone(),
            tail_lines: (input.tail_lines > 0).then_some(input.tail_lines),
            previous: input.previous,
        };
        let log = kube::logs(&input.namespace, &input.pod, &options)?;
        Ok(LogsOutput {
            namespace: input.namespace,
            pod: input.pod,
            container: input.container,
            previous: input.previous,
            lines: log.lines().count(),
            log,
        })
    }
}

// ---------------------------------------------------------------- events

/// The events about one object.
pub struct Events;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsInput {
    /// The object's namespace; absent for cluster-scoped objects (nodes).
    #[serde(default)]
    pub namespace: Option<String>,
    /// The object's kind: `Pod`, `Deployment`, `Node`…
    pub kind: String,
    pub name: String,
    /// The object's apiVersion; guessed from the kind when absent (`Pod` → `v1`,
    /// `Deployment` → `apps/v1`).
    #[serde(default)]
    pub api_version: Option<String>,
}

#[derive(Serialize)]
pub struct EventsOutput {
    object: String,
    count: usize,
    events: Vec<Value>,
}

impl Tool for Events {
    const NAME: &'static str = "events";
    const DESCRIPTION: &'static str = "The events about one object, oldest first (type, reason, message, count, last seen), \
         like the Events section of `kubectl describe`.";
    const EFFECT: Effect = Effect::Read;
    type Input = EventsInput;
    type Output = EventsOutput;

    fn run(input: EventsInput) -> Result<EventsOutput, ToolError> {
        let kind = status::canonical_kind(&input.kind);
        let api_version = match input.api_version {
            Some(v) => v,
            None => status::api_version_of(&kind)
                .ok_or_else(|| {
                    ToolError::invalid_input(format!(
                        "api_version: required for kind {kind} (e.g. `apps/v1`)"
                    ))
                })?
                .to_string(),
        };
        let object = ObjectRef {
            api_version,
            kind: kind.clone(),
            namespace: input.namespace.clone().filter(|ns| !ns.is_empty()),
            name: input.name.clone(),
        };
        let events: Vec<Value> = kube::events(&object)?
            .iter()
            .map(status::event_row)
            .collect();
        Ok(EventsOutput {
            object: match &object.namespace {
                Some(ns) => format!("{kind} {ns}/{}", input.name),
                None => format!("{kind} {}", input.name),
            },
            count: events.len(),
            events,
        })
    }
}
