//! What the read tools return, built from Application objects: pure
//! functions over `serde_json::Value`, unit-tested natively. The shapes are
//! documented in `docs/argocd.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::{self, AppSummary, items, text};
use crate::finding::{Finding, ObjRef};

/// The output bound of a tool call is 1 MiB: the list of Applications stops
/// well before it.
const APPS_BYTES: usize = 700 << 10;
/// History entries shown by `status` (Argo CD keeps 10 by default).
const HISTORY: usize = 10;

/// One resource of an Application, as Argo CD judges it (`status.resources`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Res {
    /// The API group (`""` for the core group).
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// `Synced` or `OutOfSync`.
    pub status: Option<String>,
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing`,
    /// `Unknown`; absent when Argo CD did not record it in the Application.
    pub health: Option<String>,
    pub health_message: Option<String>,
    /// Not in Git any more: a sync with prune deletes it.
    pub requires_pruning: bool,
}

impl Res {
    pub fn of(r: &Value) -> Res {
        Res {
            group: text(r, &["group"]).unwrap_or_default(),
            kind: text(r, &["kind"]).unwrap_or_default(),
            namespace: text(r, &["namespace"]),
            name: text(r, &["name"]).unwrap_or_default(),
            status: text(r, &["status"]),
            health: text(r, &["health", "status"]),
            health_message: text(r, &["health", "message"]),
            requires_pruning: r
                .get("requiresPruning")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }

    /// `Deployment shop/web`, `ClusterRole admin`.
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    fn out_of_sync(&self) -> bool {
        self.status.as_deref() == Some("OutOfSync")
    }

    fn unhealthy(&self) -> bool {
        self.health.as_deref().is_some_and(|h| h != "Healthy")
    }
}

/// A condition of `status.conditions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: Option<String>,
    pub last_transition_time: Option<String>,
}

/// The resources of an Application, and which of them are in trouble.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Resources {
    pub total: usize,
    pub out_of_sync: Vec<Res>,
    /// Resources whose recorded health is not `Healthy`.
    pub unhealthy: Vec<Res>,
    /// Whether Argo CD records each resource's health in the Application.
    /// Argo CD v3 does not by default (`status.resourceHealthSource:
    /// appTree`): then `unhealthy` is empty for want of data, not because
    /// every resource is healthy.
    pub health_recorded: bool,
}

/// One resource of a sync result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpResource {
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// `Synced`, `SyncFailed`, `Pruned`, `PruneSkipped`.
    pub status: Option<String>,
    pub message: Option<String>,
    pub hook_phase: Option<String>,
    pub sync_phase: Option<String>,
}

/// The current or last operation (`status.operationState`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Operation {
    pub phase: String,
    pub message: Option<String>,
    pub revision: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// A user name, `automated` (Argo CD's automated sync), or absent.
    pub initiated_by: Option<String>,
    pub resources: Vec<OpResource>,
}

/// One deployment of `status.history`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deployed {
    pub id: Option<i64>,
    pub revision: Option<String>,
    pub deployed_at: Option<String>,
    pub initiated_by: Option<String>,
}

/// The output of `status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Status {
    pub app: AppSummary,
    pub conditions: Vec<Condition>,
    pub resources: Resources,
    pub operation: Option<Operation>,
    /// Newest first.
    pub history: Vec<Deployed>,
    pub findings: Vec<Finding>,
}

/// `initiatedBy`: the user, or `automated`.
fn initiated_by(v: &Value) -> Option<String> {
    text(v, &["username"]).or_else(|| {
        (v.get("automated").and_then(Value::as_bool) == Some(true)).then(|| "automated".into())
    })
}

/// The output of `status` for one Application, as of `now` (RFC 3339).
pub fn status(app: &Value, now: &str) -> Status {
    let st = &app["status"];
    let all: Vec<Res> = items(st, &["resources"]).iter().map(Res::of).collect();
    let state = &st["operationState"];
    let summary = app::summary(app);
    let operation = summary.operation.as_ref().map(|op| Operation {
        phase: op.phase.clone(),
        message: op.message.clone(),
        revision: op.revision.clone(),
        started_at: op.started_at.clone(),
        finished_at: op.finished_at.clone(),
        initiated_by: initiated_by(&state["operation"]["initiatedBy"]),
        resources: items(state, &["syncResult", "resources"])
            .iter()
            .map(|r| OpResource {
                group: text(r, &["group"]).unwrap_or_default(),
                kind: text(r, &["kind"]).unwrap_or_default(),
                namespace: text(r, &["namespace"]),
                name: text(r, &["name"]).unwrap_or_default(),
                status: text(r, &["status"]),
                message: text(r, &["message"]),
                hook_phase: text(r, &["hookPhase"]),
                sync_phase: text(r, &["syncPhase"]),
            })
            .collect(),
    });
    Status {
        conditions: items(st, &["conditions"])
            .iter()
            .map(|c| Condition {
                kind: text(c, &["type"]).unwrap_or_default(),
                message: text(c, &["message"]),
                last_transition_time: text(c, &["lastTransitionTime"]),
            })
            .collect(),
        resources: Resources {
            total: all.len(),
            out_of_sync: all.iter().filter(|r| r.out_of_sync()).cloned().collect(),
            unhealthy: all.iter().filter(|r| r.unhealthy()).cloned().collect(),
            health_recorded: all.is_empty() || all.iter().any(|r| r.health.is_some()),
        },
        operation,
        history: items(st, &["history"])
            .iter()
            .rev()
            .take(HISTORY)
            .map(|h| Deployed {
                id: h.get("id").and_then(Value::as_i64),
                revision: text(h, &["revision"]).or_else(|| {
                    let all: Vec<&str> = items(h, &["revisions"])
                        .iter()
                        .filter_map(Value::as_str)
                        .collect();
                    (!all.is_empty()).then(|| all.join(", "))
                }),
                deployed_at: text(h, &["deployedAt"]),
                initiated_by: initiated_by(&h["initiatedBy"]),
            })
            .collect(),
        findings: app::findings(app, now),
        app: summary,
    }
}

/// A resource Argo CD finds different from Git, and the live object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Drifted {
    #[serde(flatten)]
    pub resource: Res,
    /// The object in the cluster (what `cluster.get` reads).
    pub live: ObjRef,
}

/// Where the desired state comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceRef {
    pub repo_url: Option<String>,
    pub path: Option<String>,
    pub target_revision: Option<String>,
}

/// The output of `drift`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Drift {
    pub app: AppSummary,
    pub drift: Vec<Drifted>,
    pub source: SourceRef,
    /// The field-level difference with Git: not available yet.
    pub git_diff: Option<Value>,
    pub note: String,
}

/// The apiVersion of a resource entry: `group/version`, or `version` for
/// the core group.
fn api_version(r: &Value) -> String {
    let group = text(r, &["group"]).unwrap_or_default();
    let kind = text(r, &["kind"]).unwrap_or_default();
    match (group.as_str(), text(r, &["version"])) {
        ("", Some(v)) => v,
        (g, Some(v)) => format!("{g}/{v}"),
        ("", None) => crate::kinds::api_version_of(&kind).to_string(),
        (g, None) => {
            let usual = crate::kinds::api_version_of(&kind);
            if usual.starts_with(&format!("{g}/")) {
                usual.to_string()
            } else {
                format!("{g}/v1")
            }
        }
    }
}

/// The output of `drift` for one Application.
pub fn drift(app: &Value) -> Drift {
    let s = app::summary(app);
    let st = &app["status"];
    let drift: Vec<Drifted> = items(st, &["resources"])
        .iter()
        .filter(|r| r["status"].as_str() == Some("OutOfSync"))
        .map(|r| {
            let resource = Res::of(r);
            let live = ObjRef::new(
                &api_version(r),
                &resource.kind,
                resource.namespace.as_deref(),
                &resource.name,
            );
            Drifted { resource, live }
        })
        .collect();
    let me = format!("Application {}/{}", s.namespace, s.name);
    let compared = match (&s.reconciled_at, &s.revision) {
        (Some(at), Some(rev)) => format!(" (compared at {at} with revision {rev})"),
        (Some(at), None) => format!(" (compared at {at})"),
        (None, Some(rev)) => format!(" (compared with revision {rev})"),
        (None, None) => String::new(),
    };
    let comparison_error = items(st, &["conditions"])
        .iter()
        .find(|c| c["type"].as_str() == Some("ComparisonError"))
        .and_then(|c| text(c, &["message"]));
    let mut note = if let Some(m) = comparison_error {
        format!(
            "Argo CD cannot compare {me} with Git now (ComparisonError: {m}): what follows is \
             its last verdict and may be stale. "
        )
    } else if !st.is_object() || text(st, &["sync", "status"]).is_none() {
        format!("Argo CD has not compared {me} with Git yet: it gives no verdict. ")
    } else {
        String::new()
    };
    note.push_str(&match (drift.len(), s.sync_status.as_str()) {
        (0, "Synced") => format!("Argo CD finds no difference between {me} and Git{compared}."),
        (0, other) => format!(
            "Argo CD lists no resource as OutOfSync, and the Application is {other}{compared}."
        ),
        (n, _) => format!(
            "Argo CD's own verdict per resource: {n} of {} differ from Git{compared}.",
            items(st, &["resources"]).len()
        ),
    });
    note.push_str(
        " The field-level difference with Git (git_diff) needs the GitOps source, which is not \
         configured yet: read the live objects (cluster.get) to see their current state.",
    );
    Drift {
        drift,
        source: SourceRef {
            repo_url: s.repo_url.clone(),
            path: s.path.clone().or_else(|| s.chart.clone()),
            target_revision: s.target_revision.clone(),
        },
        git_diff: None,
        note,
        app: s,
    }
}

/// The few fields of an Application the list reads: parsing only these
/// keeps thousands of Applications (with their resources and history) out
/// of the skill's memory.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct Lite {
    metadata: LiteMeta,
    spec: LiteSpec,
    operation: Option<serde::de::IgnoredAny>,
    status: LiteStatus,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct LiteMeta {
    name: Option<String>,
    namespace: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct LiteSpec {
    project: Option<String>,
    source: Option<LiteSource>,
    sources: Option<Vec<LiteSource>>,
    destination: Option<Value>,
    sync_policy: Option<LitePolicy>,
}

#[derive(Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
struct LiteSource {
    #[serde(rename = "repoURL", skip_serializing_if = "Option::is_none")]
    repo_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chart: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_revision: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct LitePolicy {
    automated: Option<Value>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct LiteStatus {
    sync: Option<LiteSync>,
    health: Option<LiteHealth>,
    operation_state: Option<LiteOperationState>,
    conditions: Vec<LiteCondition>,
    reconciled_at: Option<String>,
}

#[derive(Default, Deserialize, Serialize)]
#[serde(default)]
struct LiteSync {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    revisions: Vec<String>,
}

#[derive(Default, Deserialize, Serialize)]
#[serde(default)]
struct LiteHealth {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct LiteOperationState {
    phase: Option<String>,
    message: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
    sync_result: Option<LiteSync>,
    operation: Option<LiteOperation>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct LiteOperation {
    sync: Option<LiteSync>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct LiteCondition {
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl Lite {
    /// `metadata.name`.
    pub fn name(&self) -> Option<&str> {
        self.metadata.name.as_deref().filter(|n| !n.is_empty())
    }

    /// The Application with only the fields [`app::summary`] reads.
    pub fn to_value(&self) -> Value {
        let mut app = json!({
            "metadata": {"name": self.metadata.name, "namespace": self.metadata.namespace},
            "spec": {
                "project": self.spec.project,
                "destination": self.spec.destination,
            },
            "status": {
                "sync": self.status.sync,
                "health": self.status.health,
                "conditions": self.status.conditions.iter()
                    .map(|c| json!({"type": c.kind}))
                    .collect::<Vec<_>>(),
                "reconciledAt": self.status.reconciled_at,
            },
        });
        if let Some(source) = &self.spec.source {
            app["spec"]["source"] = json!(source);
        }
        if let Some(sources) = &self.spec.sources {
            app["spec"]["sources"] = json!(sources);
        }
        if let Some(policy) = &self.spec.sync_policy {
            app["spec"]["syncPolicy"] = json!({"automated": policy.automated});
        }
        if self.operation.is_some() {
            app["operation"] = json!({});
        }
        if let Some(op) = &self.status.operation_state {
            app["status"]["operationState"] = json!({
                "phase": op.phase,
                "message": op.message,
                "startedAt": op.started_at,
                "finishedAt": op.finished_at,
                "syncResult": op.sync_result,
                "operation": {"sync": op.operation.as_ref().and_then(|o| o.sync.as_ref())},
            });
        }
        app
    }
}

/// The filters of `apps`.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub project: Option<String>,
    pub unhealthy: bool,
    pub out_of_sync: bool,
    pub limit: Option<usize>,
}

impl Filter {
    fn keeps(&self, s: &AppSummary) -> bool {
        self.project.as_ref().is_none_or(|p| &s.project == p)
            && (!self.unhealthy || s.health_status != "Healthy")
            && (!self.out_of_sync || s.sync_status != "Synced")
    }
}

/// Counts of Applications by sync and health status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub sync: BTreeMap<String, usize>,
    pub health: BTreeMap<String, usize>,
}

/// The output of `apps`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Apps {
    pub apps: Vec<AppSummary>,
    /// `all namespaces` or `namespace X`.
    pub scope: String,
    /// Applications read in the scope.
    pub total: usize,
    /// Of those, the ones the filters keep.
    pub matched: usize,
    /// Of those, the ones in `apps`.
    pub shown: usize,
    /// Every Application read, by status (before the filters).
    pub counts: Counts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The output of `apps`: `summaries` (every Application read in `namespace`,
/// or in every namespace) filtered, sorted by namespace and name, and cut
/// to what fits the output.
pub fn apps(mut summaries: Vec<AppSummary>, namespace: Option<&str>, filter: &Filter) -> Apps {
    let scope = match namespace {
        Some(ns) => format!("namespace {ns}"),
        None => "all namespaces".to_string(),
    };
    let mut counts = Counts::default();
    for s in &summaries {
        *counts.sync.entry(s.sync_status.clone()).or_default() += 1;
        *counts.health.entry(s.health_status.clone()).or_default() += 1;
    }
    let total = summaries.len();
    summaries.retain(|s| filter.keeps(s));
    summaries.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let matched = summaries.len();
    let mut bytes = 0;
    let mut cut = None;
    for (i, s) in summaries.iter().enumerate() {
        if filter.limit.is_some_and(|l| i >= l) {
            cut = Some((i, "the limit"));
            break;
        }
        bytes += serde_json::to_string(s).map_or(0, |t| t.len()) + 1;
        if bytes > APPS_BYTES {
            cut = Some((i, "the output bound"));
            break;
        }
    }
    let mut note = None;
    if let Some((at, why)) = cut {
        summaries.truncate(at);
        note = Some(format!(
            "{matched} Applications match; the first {at} (by namespace and name) are shown, \
             cut at {why}: narrow with namespace, project, unhealthy or out_of_sync"
        ));
    } else if total == 0 {
        note = Some(match namespace {
            Some(ns) => format!(
                "no Applications in namespace {ns} (Argo CD may keep them in another namespace: \
                 omit namespace to list every namespace)"
            ),
            None => "no Applications in any namespace".to_string(),
        });
    } else if matched == 0 {
        note = Some(format!(
            "none of the {total} Applications matches the filters"
        ));
    }
    Apps {
        shown: summaries.len(),
        apps: summaries,
        scope,
        total,
        matched,
        counts,
        note,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An Application as Argo CD v3 writes it: two resources, an automated
    /// sync that succeeded, a history of two deployments.
    pub(crate) fn guestbook() -> Value {
        serde_json::from_str(include_str!("testdata/guestbook.json")).unwrap()
    }

    #[test]
    fn status_lists_the_troubled_resources_the_operation_and_the_history() {
        let mut app = guestbook();
        app["status"]["sync"]["status"] = json!("OutOfSync");
        app["status"]["resources"][1]["status"] = json!("OutOfSync");
        app["status"]["resources"][1]["health"] = json!({"status": "Degraded", "message": "Deployment \"guestbook-ui\" exceeded its progress deadline"});
        let out = status(&app, "2026-03-02T10:00:00Z");
        assert_eq!(out.app.name, "guestbook");
        assert_eq!(out.resources.total, 2);
        assert!(out.resources.health_recorded);
        let web = Res {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: Some("guestbook".into()),
            name: "guestbook-ui".into(),
            status: Some("OutOfSync".into()),
            health: Some("Degraded".into()),
            health_message: Some(
                "Deployment \"guestbook-ui\" exceeded its progress deadline".into(),
            ),
            requires_pruning: false,
        };
        assert_eq!(out.resources.out_of_sync, std::slice::from_ref(&web));
        assert_eq!(out.resources.unhealthy, [web]);
        let op = out.operation.as_ref().unwrap();
        assert_eq!(op.phase, "Succeeded");
        assert_eq!(op.initiated_by.as_deref(), Some("automated"));
        assert_eq!(op.resources.len(), 2);
        assert_eq!(
            op.resources[1].message.as_deref(),
            Some("deployment.apps/guestbook-ui configured")
        );
        assert_eq!(op.resources[1].sync_phase.as_deref(), Some("Sync"));
        // Newest first, with who deployed it.
        assert_eq!(out.history.len(), 2);
        assert_eq!(out.history[0].id, Some(4));
        assert_eq!(out.history[0].initiated_by.as_deref(), Some("automated"));
        assert_eq!(out.history[1].initiated_by.as_deref(), Some("admin"));
        let reasons: Vec<&str> = out.findings.iter().map(|f| f.reason.as_str()).collect();
        assert_eq!(reasons, ["ArgoOutOfSync"]);
        let v = serde_json::to_value(&out).unwrap();
        assert_eq!(
            v["resources"]["out_of_sync"][0]["health_message"],
            "Deployment \"guestbook-ui\" exceeded its progress deadline"
        );
        assert_eq!(v["operation"]["resources"][0]["hook_phase"], "Running");
        assert_eq!(v["history"][0]["deployed_at"], "2026-03-02T09:20:33Z");
    }

    #[test]
    fn status_says_when_argo_cd_records_no_resource_health() {
        let mut app = guestbook();
        for r in app["status"]["resources"].as_array_mut().unwrap() {
            r.as_object_mut().unwrap().remove("health");
        }
        let out = status(&app, "2026-03-02T10:00:00Z");
        assert!(out.resources.unhealthy.is_empty());
        assert!(!out.resources.health_recorded);
    }

    #[test]
    fn drift_is_argo_cds_verdict_with_the_live_objects() {
        let mut app = guestbook();
        app["status"]["sync"]["status"] = json!("OutOfSync");
        app["status"]["resources"][0]["status"] = json!("OutOfSync");
        app["status"]["resources"][1]["status"] = json!("OutOfSync");
        app["status"]["resources"][1]["requiresPruning"] = json!(true);
        let d = drift(&app);
        assert_eq!(d.drift.len(), 2);
        assert_eq!(
            d.drift[0].live,
            ObjRef::new("v1", "Service", Some("guestbook"), "guestbook-ui")
        );
        assert_eq!(
            d.drift[1].live,
            ObjRef::new("apps/v1", "Deployment", Some("guestbook"), "guestbook-ui")
        );
        assert!(d.drift[1].resource.requires_pruning);
        assert_eq!(
            d.source,
            SourceRef {
                repo_url: Some("https://github.com/argoproj/argocd-example-apps.git".into()),
                path: Some("guestbook".into()),
                target_revision: Some("HEAD".into()),
            }
        );
        assert!(
            d.note.starts_with(
                "Argo CD's own verdict per resource: 2 of 2 differ from Git (compared at \
             2026-03-02T09:58:12Z with revision 53e28ff20cc530b9ada2173fbbd64d48338583ba)."
            ),
            "{}",
            d.note
        );
        assert!(
            d.note
                .contains("needs the GitOps source, which is not configured yet")
        );
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["git_diff"], Value::Null);
        // Flattened: the resource's fields beside `live`.
        assert_eq!(v["drift"][1]["kind"], "Deployment");
        assert_eq!(v["drift"][1]["live"]["apiVersion"], "apps/v1");
    }

    #[test]
    fn drift_says_when_the_verdict_is_stale_or_absent() {
        let mut app = guestbook();
        app["status"]["conditions"] = json!([{"type": "ComparisonError", "message": "rpc error: code = Unknown desc = repository not found"}]);
        let d = drift(&app);
        assert!(d.note.starts_with("Argo CD cannot compare Application argocd/guestbook with Git now (ComparisonError: rpc error: code = Unknown desc = repository not found): what follows is its last verdict and may be stale. Argo CD finds no difference"), "{}", d.note);
        app.as_object_mut().unwrap().remove("status");
        let d = drift(&app);
        assert!(d.drift.is_empty());
        assert!(d.note.starts_with("Argo CD has not compared Application argocd/guestbook with Git yet: it gives no verdict. Argo CD lists no resource as OutOfSync, and the Application is Unknown."), "{}", d.note);
    }

    /// The list parses only what the summary needs, and the summary is the
    /// same as from the whole object.
    #[test]
    fn the_lite_parse_summarises_like_the_whole_object() {
        let mut cases = vec![guestbook()];
        let mut failed = guestbook();
        failed["operation"] =
            json!({"sync": {"revision": "abc"}, "initiatedBy": {"username": "guardian"}});
        failed["status"]["operationState"]["phase"] = json!("Failed");
        failed["status"]["conditions"] = json!([{"type": "SyncError", "message": "x"}]);
        failed["status"]["health"] = json!({"status": "Degraded", "message": "bad"});
        failed["spec"]["syncPolicy"]["automated"] = json!({"enabled": false, "selfHeal": true});
        cases.push(failed);
        let mut multi = guestbook();
        let spec = multi["spec"].as_object_mut().unwrap();
        spec.remove("source");
        spec.insert("sources".into(), json!([
            {"repoURL": "https://git.example.com/values.git", "targetRevision": "main", "ref": "values"},
            {"repoURL": "https://charts.example.com", "chart": "redis", "targetRevision": "19.0.1"}
        ]));
        multi["status"]["sync"] = json!({"status": "Synced", "revisions": ["a", "b"]});
        multi["status"]
            .as_object_mut()
            .unwrap()
            .remove("operationState");
        cases.push(multi);
        cases.push(json!({"metadata": {"name": "bare", "namespace": "argocd"}, "spec": {}}));
        for app in cases {
            let lite: Lite = serde_json::from_value(app.clone()).unwrap();
            assert_eq!(
                app::summary(&lite.to_value()),
                app::summary(&app),
                "{app:#}"
            );
        }
    }

    fn summary(ns: &str, name: &str, project: &str, sync: &str, health: &str) -> AppSummary {
        let mut app = guestbook();
        app["metadata"]["namespace"] = json!(ns);
        app["metadata"]["name"] = json!(name);
        app["spec"]["project"] = json!(project);
        app["status"]["sync"]["status"] = json!(sync);
        app["status"]["health"]["status"] = json!(health);
        app::summary(&app)
    }

    #[test]
    fn apps_filters_sorts_and_counts() {
        let all = vec![
            summary("team-b", "web", "b", "Synced", "Healthy"),
            summary("argocd", "shop", "a", "OutOfSync", "Healthy"),
            summary("argocd", "api", "a", "Synced", "Degraded"),
            summary("argocd", "db", "b", "Unknown", "Healthy"),
        ];
        let out = apps(all.clone(), None, &Filter::default());
        assert_eq!(out.scope, "all namespaces");
        assert_eq!((out.total, out.matched, out.shown), (4, 4, 4));
        let names: Vec<&str> = out.apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["api", "db", "shop", "web"]);
        assert_eq!(out.counts.sync["Synced"], 2);
        assert_eq!(out.counts.health["Degraded"], 1);
        assert_eq!(out.note, None);

        let f = Filter {
            out_of_sync: true,
            ..Default::default()
        };
        let names: Vec<String> = apps(all.clone(), None, &f)
            .apps
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, ["db", "shop"], "Unknown is not Synced either");
        let f = Filter {
            unhealthy: true,
            ..Default::default()
        };
        let names: Vec<String> = apps(all.clone(), None, &f)
            .apps
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, ["api"]);
        let f = Filter {
            project: Some("b".into()),
            out_of_sync: true,
            ..Default::default()
        };
        let out = apps(all.clone(), Some("argocd"), &f);
        assert_eq!(out.scope, "namespace argocd");
        assert_eq!((out.total, out.matched, out.shown), (4, 1, 1));
        let f = Filter {
            project: Some("zzz".into()),
            ..Default::default()
        };
        assert_eq!(
            apps(all.clone(), None, &f).note.as_deref(),
            Some("none of the 4 Applications matches the filters")
        );
        let f = Filter {
            limit: Some(2),
            ..Default::default()
        };
        let out = apps(all, None, &f);
        assert_eq!((out.total, out.matched, out.shown), (4, 4, 2));
        assert!(out.note.unwrap().starts_with(
            "4 Applications match; the first 2 (by namespace and name) are shown, cut at the limit"
        ));
        let out = apps(vec![], Some("argocd"), &Filter::default());
        assert!(
            out.note
                .unwrap()
                .starts_with("no Applications in namespace argocd")
        );
    }

    /// Thousands of Applications are cut before the tool's 1 MiB output
    /// bound, and the cut is said.
    #[test]
    fn a_long_list_is_cut_within_the_output_bound() {
        let one = summary("argocd", "x", "default", "Synced", "Healthy");
        let all: Vec<AppSummary> = (0..5000)
            .map(|i| AppSummary {
                name: format!("app-{i:05}"),
                ..one.clone()
            })
            .collect();
        let out = apps(all, None, &Filter::default());
        assert_eq!(out.total, 5000);
        assert!(out.shown < 5000 && out.shown > 500, "{}", out.shown);
        let text = serde_json::to_string(&out).unwrap();
        assert!(text.len() < 1 << 20, "{}", text.len());
        assert!(out.note.unwrap().contains("cut at the output bound"));
    }
}
