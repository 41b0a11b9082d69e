//! The built-in `diagnostics` skill: K8sGPT-class analyzers that say what is
//! broken, an evidence chain that says why (statuses, events, the previous
//! container's log, the ConfigMaps and Secrets a pod references), and fixes as
//! JSON Patches checked by server-side dry-run through the host.
//!
//! The output is documented in `docs/diagnostics.md`.

mod analyzers;
mod ctx;
mod finding;
mod fix;
mod gitops;
mod kinds;
mod model;
mod reasons;
mod yaml;

use guardian_skill_sdk::{Effect, ErrorKind, HostError, Tool, ToolError, log, skill};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use analyzers::{ANALYZERS, Run};
use ctx::{Loader, NotRead, Unavailable, name_of};
use finding::Finding;

skill!(Analyze, Analyzers);

/// Scans a namespace (or every namespace) and returns findings.
pub struct Analyze;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeInput {
    /// Only this namespace; every namespace (and the cluster-scoped objects:
    /// nodes, storage, webhooks, gateway classes) when absent.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Only these analyzers (names as the `analyzers` tool lists them, e.g.
    /// `Pod`, `Service`, `pvc`), and only what they read is listed; all
    /// when empty.
    #[serde(default)]
    pub filter: Vec<String>,
    /// Only the analyzers whose findings can explain objects of these kinds
    /// (`Deployment`, `Service`, `PersistentVolumeClaim`… — the `analyzers`
    /// tool lists what each explains), and only what they read is listed;
    /// with `filter`, those it names too. Every analyzer when both are empty.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Check every fix by server-side dry-run (default true). Nothing is
    /// ever persisted.
    #[serde(default = "yes")]
    pub dry_run: bool,
    /// For a scan split across parallel calls: this call takes every `of`-th
    /// namespace (in name order) starting at `index`, and only shard 0 runs
    /// the cluster-scoped analyzers. The shards' findings together are
    /// exactly one unsplit scan's.
    #[serde(default)]
    pub shard: Option<Shard>,
    /// Exactly these namespaces (instead of `namespace` or every namespace),
    /// for a caller that split the scan itself. A namespace that cannot be
    /// read is reported in `summary.not_read`, not as an error.
    #[serde(default)]
    pub namespaces: Option<Vec<String>>,
    /// With `namespaces`: also run the cluster-scoped analyzers (nodes,
    /// storage, webhooks, gateway classes).
    #[serde(default)]
    pub cluster_scoped: bool,
    /// With `namespaces`: how many namespaces the whole scan has, so this
    /// call's share of the log-read budget is what one unsplit scan gives
    /// each namespace (default: the number of `namespaces`).
    #[serde(default)]
    pub scan_size: Option<u32>,
    /// The namespaces Argo CD's Applications live in (the first is Argo
    /// CD's own). A finding about an object an Application tracks names it
    /// in `managed_by`, and its fixes say that the change belongs in Git.
    /// The Application analyzer reads Applications only in these.
    #[serde(default = "argocd_namespaces")]
    pub argocd_namespaces: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    /// 0-based.
    pub index: u32,
    /// How many shards (1 to 64).
    pub of: u32,
}

fn yes() -> bool {
    true
}

fn argocd_namespaces() -> Vec<String> {
    vec![gitops::DEFAULT_NAMESPACE.to_owned()]
}

/// A namespace name as the API server takes it (RFC 1123 label).
fn valid_namespace(ns: &str) -> bool {
    !ns.is_empty()
        && ns.len() <= 63
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !ns.starts_with('-')
        && !ns.ends_with('-')
}

#[derive(Serialize)]
pub struct AnalyzeOutput {
    findings: Vec<Finding>,
    summary: Summary,
}

#[derive(Serialize)]
struct Summary {
    objects_scanned: usize,
    findings: usize,
    namespaces: usize,
    /// Findings per severity.
    by_severity: std::collections::BTreeMap<String, usize>,
    /// What could not be read (not served, denied, missing from a snapshot).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unavailable: Vec<Unavailable>,
    /// Scopes not read at all (a namespace whose pods could not be listed,
    /// the cluster-scoped objects): the absence of findings there means
    /// nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    not_read: Vec<NotRead>,
}

impl Tool for Analyze {
    const NAME: &'static str = "analyze";
    const DESCRIPTION: &'static str = "Finds what is broken in a namespace or the whole cluster: each finding has a reason code, the evidence chain (status, events, logs, referenced ConfigMaps/Secrets), the root cause in one sentence, and fixes as JSON Patches checked by server-side dry-run.";
    const EFFECT: Effect = Effect::Read;
    type Input = AnalyzeInput;
    type Output = AnalyzeOutput;

    fn run(input: AnalyzeInput) -> Result<AnalyzeOutput, ToolError> {
        let selected =
            analyzers::select(&input.filter, &input.kinds).map_err(ToolError::invalid_input)?;
        if let Some(bad) = input
            .argocd_namespaces
            .iter()
            .find(|ns| !valid_namespace(ns))
        {
            return Err(ToolError::invalid_input(format!(
                "argocd_namespaces: `{bad}` is not a namespace name (lowercase letters, digits and `-`, at most 63)"
            )));
        }
        let mut gitops = gitops::Marker::new(input.argocd_namespaces.clone());
        let mut loader = Loader::new(
            selected.iter().map(|a| &a.reads),
            ANALYZERS.iter().map(|a| &a.reads),
        );
        // Applications are read where Argo CD keeps them, as Guardian is
        // granted them there; a scan of another namespace lists none.
        loader.confine(
            analyzers::argocd::APPLICATIONS,
            input.argocd_namespaces.clone(),
        );
        let mut findings = Vec::new();

        if input.namespaces.is_some() && (input.namespace.is_some() || input.shard.is_some()) {
            return Err(ToolError::invalid_input(
                "namespaces: give either `namespaces`, or `namespace` and `shard`, not both",
            ));
        }
        let explicit = input.namespaces.is_some();
        let namespaces = match (&input.namespaces, &input.namespace) {
            (Some(list), _) => {
                let mut list = list.clone();
                list.sort();
                list.dedup();
                list
            }
            (None, Some(ns)) => vec![ns.clone()],
            (None, None) => {
                // Every namespace: a namespace list that fails leaves
                // nothing to scan, and "no findings" would be a lie.
                let items = loader
                    .list_or_error::<Value>("namespaces", None)
                    .map_err(|e| {
                        ToolError::Host(HostError::new(
                            e.kind,
                            format!(
                                "cannot list the namespaces, so no namespace was scanned: {}",
                                e.message
                            ),
                        ))
                    })?;
                let mut names: Vec<String> = items.iter().map(|n| name_of(n).to_string()).collect();
                names.sort();
                names
            }
        };
        let (index, of) = match &input.shard {
            Some(Shard { index, of }) if *of == 0 || *of > 64 || index >= of => {
                return Err(ToolError::invalid_input(format!(
                    "shard: index {index} of {of}: want 0 <= index < of <= 64"
                )));
            }
            Some(Shard { index, of }) => (*index as usize, *of as usize),
            None => (0, 1),
        };
        let scanned_in_all = match input.scan_size {
            Some(n) if explicit => n as usize,
            _ => namespaces.len(),
        };
        let namespaces: Vec<String> = namespaces
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % of == index)
            .map(|(_, ns)| ns)
            .collect();
        // Namespaced scans read the cluster-scoped objects too (StorageClasses,
        // IngressClasses, nodes are cross-checked) but report nothing on them.
        let cluster = loader.cluster();
        let cluster_scope = if explicit {
            input.cluster_scoped
        } else {
            input.namespace.is_none() && index == 0
        };
        if !cluster_scope {
            // Only the call that reports on them says they were not read.
            loader.not_read.retain(|n| n.namespace.is_some());
        }
        if index != 0 || (explicit && !input.cluster_scoped) {
            // Shard 0 counts the namespaces and cluster-scoped objects.
            loader.objects_scanned = 0;
        }
        if cluster_scope {
            for analyzer in &selected {
                if let Run::Cluster(run) = analyzer.run {
                    cluster.reading(analyzer.name, analyzer.reads, || {
                        run(&cluster, &mut findings)
                    });
                }
            }
            loader.undeclared(&cluster, None);
            gitops.mark(&mut findings, &mut gitops::Host::cluster(&cluster));
        }
        let total = namespaces.len() as u32;
        let mut read = 0;
        for (i, ns) in namespaces.iter().enumerate() {
            log::progress(i as u32, total, format!("namespace {ns}"));
            analyzers::budget::start_namespace(scanned_in_all);
            let Some(scope) = loader.scope(&cluster, ns) else {
                continue;
            };
            read += 1;
            let first = findings.len();
            for analyzer in &selected {
                if let Run::Namespaced(run) = analyzer.run {
                    cluster.reading(analyzer.name, analyzer.reads, || run(&scope, &mut findings));
                }
            }
            loader.undeclared(&cluster, Some(ns));
            gitops.mark(&mut findings[first..], &mut gitops::Host::scope(&scope));
        }
        for (resource, namespace, error) in gitops.unreadable() {
            loader.unavailable.push(Unavailable {
                resource,
                namespace: Some(namespace),
                error,
            });
        }
        // Nothing of what was asked could be read: an error, never an empty
        // report (one namespace, or every namespace and the cluster scope).
        let nothing_read = if namespaces.is_empty() {
            cluster_scope && !cluster.readable
        } else {
            read == 0
        };
        if nothing_read && !explicit {
            let why: Vec<String> = loader
                .not_read
                .iter()
                .map(|n| format!("{}: {}", n.scope, n.error))
                .collect();
            let kind = loader
                .not_read
                .iter()
                .find_map(|n| n.kind)
                .unwrap_or(ErrorKind::Unavailable);
            return Err(ToolError::Host(HostError::new(
                kind,
                format!(
                    "nothing could be read, so nothing was scanned: {}",
                    why.join("; ")
                ),
            )));
        }
        log::progress(total, total, "checking fixes");

        if input.dry_run {
            fix::dry_run(&mut findings);
        }

        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.object.namespace.cmp(&b.object.namespace))
                .then_with(|| a.object.kind.cmp(&b.object.kind))
                .then_with(|| a.object.name.cmp(&b.object.name))
                .then_with(|| a.reason.cmp(&b.reason))
        });
        let mut by_severity = std::collections::BTreeMap::new();
        for f in &findings {
            *by_severity
                .entry(
                    serde_json::to_value(f.severity)?
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                )
                .or_insert(0) += 1;
        }
        Ok(AnalyzeOutput {
            summary: Summary {
                objects_scanned: loader.objects_scanned,
                findings: findings.len(),
                namespaces: read,
                by_severity,
                unavailable: loader.unavailable,
                not_read: loader.not_read,
            },
            findings,
        })
    }
}

/// Lists the analyzers `analyze` can run (the names its `filter` takes).
pub struct Analyzers;

#[derive(Serialize)]
pub struct AnalyzerInfo {
    name: &'static str,
    aliases: &'static [&'static str],
    scope: &'static str,
    /// The resources it reads besides pods, events and logs (which every
    /// scan reads), in kubectl grant spelling.
    reads: Vec<&'static str>,
    /// The kinds of object whose trouble its findings can explain (what
    /// `analyze`'s `kinds` selects it by).
    explains: Vec<&'static str>,
}

impl Tool for Analyzers {
    const NAME: &'static str = "analyzers";
    const DESCRIPTION: &'static str = "Lists the analyzers of `analyze`, with the names and aliases its `filter` takes and the resources each reads.";
    const EFFECT: Effect = Effect::Read;
    type Input = guardian_skill_sdk::NoInput;
    type Output = Vec<AnalyzerInfo>;

    fn run(_: guardian_skill_sdk::NoInput) -> Result<Vec<AnalyzerInfo>, ToolError> {
        Ok(ANALYZERS
            .iter()
            .map(|a| AnalyzerInfo {
                name: a.name,
                aliases: a.aliases,
                scope: match a.run {
                    Run::Namespaced(_) => "namespace",
                    Run::Cluster(_) => "cluster",
                },
                reads: a.reads.all(),
                explains: a.explains.all(),
            })
            .collect())
    }
}
