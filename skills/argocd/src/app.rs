//! The Argo CD `Application` (`argoproj.io/v1alpha1`) as Guardian reads it:
//! a summary of its state, the Application a tracked object belongs to, and
//! the Application's own failures as findings.
//!
//! Pure functions over the object as the API server returns it (Argo CD v3
//! writes `status` with the object itself: the CRD has no status
//! subresource). This file is compiled by the `argocd` skill and, by path,
//! by the `diagnostics` skill: it uses only `serde`, `serde_json` and
//! `crate::finding` (diagnostics' `finding.rs`). The reason codes are listed
//! in `docs/argocd.md` and `docs/diagnostics.md`.

use serde::Serialize;
use serde_json::Value;

use crate::finding::{Finding, ObjRef, Severity, Source};

const API_VERSION: &str = "argoproj.io/v1alpha1";
const KIND: &str = "Application";

/// A sync still running after this many seconds is stuck.
const STUCK_SECONDS: i64 = 10 * 60;
/// At most this many resources are listed as evidence of one finding.
const MAX_LISTED: usize = 20;

const COMPARISON_ERROR: &str = "ArgoComparisonError";
const INVALID_SPEC: &str = "ArgoInvalidSpec";
const SYNC_FAILED: &str = "ArgoSyncFailed";
const OUT_OF_SYNC: &str = "ArgoOutOfSync";
const DEGRADED: &str = "ArgoDegraded";
const SYNC_STUCK: &str = "ArgoSyncStuck";

/// Where an Application deploys to (`spec.destination`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Destination {
    /// The cluster's API server URL (`https://kubernetes.default.svc`).
    pub server: Option<String>,
    /// The cluster's name, as Argo CD's cluster secrets name it.
    pub name: Option<String>,
    /// The namespace of namespaced resources without one.
    pub namespace: Option<String>,
}

/// The Application's current or last operation (`status.operationState`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OperationSummary {
    /// `Running`, `Terminating`, `Failed`, `Error` or `Succeeded`.
    pub phase: String,
    pub message: Option<String>,
    /// The revision synced (the sync result's, else the one requested).
    pub revision: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// The phase is `Running` or `Terminating`: the operation is not over.
    pub running: bool,
}

/// One Application, in the terms a person asks about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppSummary {
    pub name: String,
    pub namespace: String,
    /// `spec.project`.
    pub project: String,
    /// `status.sync.status`: `Synced`, `OutOfSync` or `Unknown` (also when
    /// Argo CD has written no status yet).
    pub sync_status: String,
    /// `status.health.status`: `Healthy`, `Progressing`, `Degraded`,
    /// `Suspended`, `Missing` or `Unknown` (also when absent).
    pub health_status: String,
    pub health_message: Option<String>,
    /// The revision Argo CD last compared with (`status.sync.revision`; a
    /// multi-source Application's revisions joined with `, `).
    pub revision: Option<String>,
    /// The source's `targetRevision` (absent: Argo CD uses `HEAD`).
    pub target_revision: Option<String>,
    pub repo_url: Option<String>,
    pub path: Option<String>,
    /// A Helm chart's name (a Helm repository source).
    pub chart: Option<String>,
    pub destination: Destination,
    /// Automated sync is on (`spec.syncPolicy.automated` present and not
    /// `enabled: false`).
    pub automated: bool,
    /// Automated sync prunes what left Git (only with `automated`).
    pub prune: bool,
    /// Automated sync reverts changes made in the cluster (only with
    /// `automated`): a direct patch does not last.
    pub self_heal: bool,
    pub operation: Option<OperationSummary>,
    /// `operation` is set: an operation is requested and Argo CD has not
    /// finished it.
    pub operation_requested: bool,
    /// The types of `status.conditions` (`ComparisonError`, `SyncError`…).
    pub conditions: Vec<String>,
    /// When Argo CD last compared the Application with its source.
    pub reconciled_at: Option<String>,
}

/// A non-empty string at `path`.
pub(crate) fn text(value: &Value, path: &[&str]) -> Option<String> {
    let mut v = value;
    for key in path {
        v = v.get(key)?;
    }
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// The array at `path`, or none.
pub(crate) fn items<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    let mut v = value;
    for key in path {
        match v.get(key) {
            Some(next) => v = next,
            None => return &[],
        }
    }
    v.as_array().map_or(&[], Vec::as_slice)
}

/// The source a person means by "the app's repo": `spec.source`, or of
/// `spec.sources` the first with a path or chart (not a values-only `ref`).
fn primary_source(spec: &Value) -> &Value {
    if spec.get("source").is_some_and(Value::is_object) {
        return &spec["source"];
    }
    let sources = items(spec, &["sources"]);
    sources
        .iter()
        .find(|s| text(s, &["path"]).is_some() || text(s, &["chart"]).is_some())
        .or_else(|| sources.first())
        .unwrap_or(&Value::Null)
}

/// Automated sync is on: `automated` is an object and not `enabled: false`.
fn automated_on(spec: &Value) -> bool {
    let automated = &spec["syncPolicy"]["automated"];
    automated.is_object() && automated.get("enabled").and_then(Value::as_bool) != Some(false)
}

/// `revision`, else `revisions` joined (multi-source).
fn revision_of(value: &Value) -> Option<String> {
    text(value, &["revision"]).or_else(|| {
        let all: Vec<&str> = items(value, &["revisions"])
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        (!all.is_empty()).then(|| all.join(", "))
    })
}

fn operation_of(state: &Value) -> Option<OperationSummary> {
    if !state.is_object() {
        return None;
    }
    let phase = text(state, &["phase"]).unwrap_or_else(|| "Unknown".into());
    Some(OperationSummary {
        running: matches!(phase.as_str(), "Running" | "Terminating"),
        phase,
        message: text(state, &["message"]),
        revision: revision_of(&state["syncResult"])
            .or_else(|| revision_of(&state["operation"]["sync"])),
        started_at: text(state, &["startedAt"]),
        finished_at: text(state, &["finishedAt"]),
    })
}

/// The summary of one Application object.
pub fn summary(app: &Value) -> AppSummary {
    let spec = &app["spec"];
    let status = &app["status"];
    let source = primary_source(spec);
    let automated = automated_on(spec);
    let flag = |key: &str| {
        automated
            && spec["syncPolicy"]["automated"]
                .get(key)
                .and_then(Value::as_bool)
                .unwrap_or(false)
    };
    AppSummary {
        name: text(app, &["metadata", "name"]).unwrap_or_default(),
        namespace: text(app, &["metadata", "namespace"]).unwrap_or_default(),
        project: text(spec, &["project"]).unwrap_or_default(),
        sync_status: text(status, &["sync", "status"]).unwrap_or_else(|| "Unknown".into()),
        health_status: text(status, &["health", "status"]).unwrap_or_else(|| "Unknown".into()),
        health_message: text(status, &["health", "message"]),
        revision: revision_of(&status["sync"]),
        target_revision: text(source, &["targetRevision"]),
        repo_url: text(source, &["repoURL"]),
        path: text(source, &["path"]),
        chart: text(source, &["chart"]),
        destination: Destination {
            server: text(spec, &["destination", "server"]),
            name: text(spec, &["destination", "name"]),
            namespace: text(spec, &["destination", "namespace"]),
        },
        automated,
        prune: flag("prune"),
        self_heal: flag("selfHeal"),
        operation: operation_of(&status["operationState"]),
        operation_requested: app.get("operation").is_some_and(|o| !o.is_null()),
        conditions: items(status, &["conditions"])
            .iter()
            .filter_map(|c| text(c, &["type"]))
            .collect(),
        reconciled_at: text(status, &["reconciledAt"]),
    }
}

/// The Application an `argocd.argoproj.io/tracking-id` annotation names:
/// `<app>:<group>/<kind>:<namespace>/<name>`, where `<app>` is the
/// Application's name, or `<app-namespace>_<app>` for an Application
/// outside Argo CD's own namespace. Returns (the Application's namespace
/// when the annotation says it, its name); `None` when the value is not of
/// that form.
pub fn tracking_app(annotation: &str) -> Option<(Option<String>, String)> {
    let parts: Vec<&str> = annotation.split(':').collect();
    let [app, group_kind, namespace_name] = parts.as_slice() else {
        return None;
    };
    let (_group, kind) = group_kind.split_once('/')?;
    let (_namespace, name) = namespace_name.split_once('/')?;
    if kind.is_empty() || kind.contains('/') || name.is_empty() || name.contains('/') {
        return None;
    }
    let valid = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    match app.split_once('_') {
        Some((ns, name)) if valid(ns) && valid(name) => {
            Some((Some(ns.to_string()), name.to_string()))
        }
        Some(_) => None,
        None if valid(app) => Some((None, app.to_string())),
        None => None,
    }
}

/// Seconds since the epoch of an RFC 3339 time (`2026-11-20T09:00:14Z`,
/// with a fraction or an offset).
fn epoch(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut rest = &t[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let r = rest.as_bytes();
            if r.len() != 6 || r[3] != b':' {
                return None;
            }
            let h: i64 = rest[1..3].parse().ok()?;
            let m: i64 = rest[4..6].parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss - offset)
}

/// `45s`, `12m`, `3h 5m`, `2d 4h`.
fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => match (s % 3600) / 60 {
            0 => format!("{}h", s / 3600),
            m => format!("{}h {m}m", s / 3600),
        },
        _ => match (s % 86_400) / 3600 {
            0 => format!("{}d", s / 86_400),
            h => format!("{}d {h}h", s / 86_400),
        },
    }
}

/// `2026-11-20T09:00:14Z (42m ago)`, or the time alone when either time
/// does not parse.
fn at_ago(time: &str, now: Option<i64>) -> String {
    match (epoch(time), now) {
        (Some(t), Some(n)) if n >= t => format!("{time} ({} ago)", duration(n - t)),
        _ => time.to_string(),
    }
}

/// One entry of `status.resources` or of a sync result, as evidence names it.
struct Resource<'a> {
    value: &'a Value,
}

impl<'a> Resource<'a> {
    fn field(&self, key: &str) -> Option<String> {
        text(self.value, &[key])
    }

    /// `Deployment shop/web`, `ClusterRole admin`.
    fn display(&self) -> String {
        let kind = self.field("kind").unwrap_or_else(|| "?".into());
        let name = self.field("name").unwrap_or_else(|| "?".into());
        match self.field("namespace") {
            Some(ns) => format!("{kind} {ns}/{name}"),
            None => format!("{kind} {name}"),
        }
    }

    fn health(&self) -> Option<String> {
        text(self.value, &["health", "status"])
    }

    fn health_message(&self) -> Option<String> {
        text(self.value, &["health", "message"])
    }
}

fn resources<'a>(value: &'a Value, path: &[&str]) -> impl Iterator<Item = Resource<'a>> {
    items(value, path).iter().map(|value| Resource { value })
}

/// Finds the Application's failures as of `now` (RFC 3339; a time that
/// does not parse turns off only what depends on it: a sync's age). A
/// Synced, Healthy Application with no failed or stuck operation and no
/// error condition has none.
pub fn findings(app: &Value, now: &str) -> Vec<Finding> {
    let s = summary(app);
    let status = &app["status"];
    let now = epoch(now);
    let object = ObjRef::new(
        API_VERSION,
        KIND,
        (!s.namespace.is_empty()).then_some(s.namespace.as_str()),
        &s.name,
    );
    let me = object.display();
    let source = source_text(&s);
    let conditions = items(status, &["conditions"]);
    let of_type = |t: &str| -> Vec<&Value> {
        conditions
            .iter()
            .filter(|c| c["type"].as_str() == Some(t))
            .collect()
    };
    let mut out = Vec::new();

    // Argo CD cannot compute what Git says: nothing else it reports is current.
    let comparison = of_type("ComparisonError");
    if let Some(first) = comparison.first() {
        let message = text(first, &["message"]).unwrap_or_else(|| "(no message)".into());
        let mut f = Finding::new(
            object.clone(),
            Severity::Error,
            COMPARISON_ERROR,
            format!(
                "Argo CD cannot compare {me} with its source ({source}): {message}; its sync \
                 status and resources are not current until this is fixed"
            ),
        );
        if let Some(root) = comparison_root_cause(&message, &s) {
            f = f.root_cause(root);
        }
        for c in &comparison {
            f = f.evidence(
                Source::Status,
                condition_ref(&me, c),
                text(c, &["message"]).unwrap_or_default(),
            );
        }
        out.push(f);
    }

    let invalid = of_type("InvalidSpecError");
    if let Some(first) = invalid.first() {
        let message = text(first, &["message"]).unwrap_or_else(|| "(no message)".into());
        let mut f = Finding::new(
            object.clone(),
            Severity::Error,
            INVALID_SPEC,
            format!("Argo CD refuses the spec of {me}: {message}"),
        );
        if let Some(root) = invalid_spec_root_cause(&message, &s) {
            f = f.root_cause(root);
        }
        for c in &invalid {
            f = f.evidence(
                Source::Status,
                condition_ref(&me, c),
                text(c, &["message"]).unwrap_or_default(),
            );
        }
        out.push(f);
    }

    let state = &status["operationState"];
    let sync_errors = of_type("SyncError");
    let failed_op = s
        .operation
        .as_ref()
        .filter(|o| matches!(o.phase.as_str(), "Failed" | "Error"));
    if failed_op.is_some() || !sync_errors.is_empty() {
        out.push(sync_failed(
            &object,
            &me,
            &s,
            state,
            failed_op,
            &sync_errors,
            now,
        ));
    }

    if let Some(op) = s.operation.as_ref().filter(|o| o.running)
        && let (Some(start), Some(now)) = (op.started_at.as_deref().and_then(epoch), now)
        && now - start > STUCK_SECONDS
    {
        out.push(sync_stuck(&object, &me, op, state, status, now - start));
    }

    if s.health_status == "Degraded" {
        out.push(degraded(&object, &me, &s, status));
    }

    if s.sync_status == "OutOfSync" {
        let mut f = out_of_sync(&object, &me, &s, &source, status, now);
        if let Some(failed) = out.iter_mut().find(|f| f.reason == SYNC_FAILED) {
            f.caused_by.push(failed.id.clone());
            failed.symptoms.push(f.id.clone());
        }
        out.push(f);
    }
    out
}

/// `https://git.example.com/shop.git, path apps/shop at main`.
fn source_text(s: &AppSummary) -> String {
    let mut t = s.repo_url.clone().unwrap_or_else(|| "no source".into());
    if let Some(p) = &s.path {
        t.push_str(&format!(", path {p}"));
    }
    if let Some(c) = &s.chart {
        t.push_str(&format!(", chart {c}"));
    }
    t.push_str(&format!(
        " at {}",
        s.target_revision.as_deref().unwrap_or("HEAD")
    ));
    t
}

fn condition_ref(me: &str, condition: &Value) -> String {
    let kind = text(condition, &["type"]).unwrap_or_default();
    match text(condition, &["lastTransitionTime"]) {
        Some(t) => format!("{me} status.conditions {kind} (since {t})"),
        None => format!("{me} status.conditions {kind}"),
    }
}

fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    let lower = haystack.to_ascii_lowercase();
    needles.iter().any(|n| lower.contains(n))
}

/// The cause of a ComparisonError, when its message is one Argo CD's repo
/// server writes for a known failure.
fn comparison_root_cause(message: &str, s: &AppSummary) -> Option<String> {
    let repo = s.repo_url.as_deref().unwrap_or("the repository");
    let revision = s.target_revision.as_deref().unwrap_or("HEAD");
    if contains_any(message, &["app path does not exist"]) {
        return Some(format!(
            "The path {} does not exist in {repo} at {revision}: spec.source.path or the \
             repository's layout changed",
            s.path.as_deref().unwrap_or("(none)")
        ));
    }
    if contains_any(
        message,
        &[
            "unable to resolve",
            "couldn't find remote ref",
            "reference not found",
        ],
    ) {
        return Some(format!(
            "The target revision {revision} does not exist in {repo}: \
             spec.source.targetRevision names no branch, tag or commit there"
        ));
    }
    if contains_any(
        message,
        &[
            "authentication required",
            "authentication failed",
            "permission denied",
            "invalid username or password",
            "ssh: handshake failed",
        ],
    ) {
        return Some(format!(
            "Argo CD's credentials for {repo} are missing or refused: check the repository \
             secret in Argo CD's namespace"
        ));
    }
    if contains_any(
        message,
        &[
            "repository not found",
            "no such host",
            "connection refused",
            "i/o timeout",
            "dial tcp",
            "context deadline exceeded",
            "could not read from remote repository",
        ],
    ) {
        return Some(format!(
            "Argo CD cannot reach the repository {repo} (it does not exist, or the network or \
             the repo server fails)"
        ));
    }
    if contains_any(
        message,
        &["kustomize build", "helm template", "yaml: ", "json: "],
    ) {
        return Some(format!(
            "The manifests at {repo} {revision} do not render: the last change to them in Git \
             broke them"
        ));
    }
    None
}

/// The cause of an InvalidSpecError about the project's restrictions.
fn invalid_spec_root_cause(message: &str, s: &AppSummary) -> Option<String> {
    if contains_any(
        message,
        &["not permitted", "do not match any of the allowed"],
    ) {
        return Some(format!(
            "The AppProject {} does not allow this Application's source or destination: \
             change spec.project, or the project's sourceRepos / destinations",
            if s.project.is_empty() {
                "(none)"
            } else {
                &s.project
            }
        ));
    }
    if contains_any(message, &["project"])
        && contains_any(message, &["not found", "does not exist"])
    {
        return Some(format!(
            "The AppProject {} does not exist in Argo CD's namespace",
            s.project
        ));
    }
    None
}

fn sync_failed(
    object: &ObjRef,
    me: &str,
    s: &AppSummary,
    state: &Value,
    failed_op: Option<&OperationSummary>,
    sync_errors: &[&Value],
    now: Option<i64>,
) -> Finding {
    let healthy_now = s.sync_status == "Synced" && s.health_status == "Healthy";
    let severity = if healthy_now {
        Severity::Warning
    } else {
        Severity::Error
    };
    let failed_resources: Vec<Resource> = resources(state, &["syncResult", "resources"])
        .filter(|r| {
            r.field("status").as_deref() == Some("SyncFailed")
                || matches!(r.field("hookPhase").as_deref(), Some("Failed" | "Error"))
        })
        .collect();
    let mut cause = match failed_op {
        Some(op) => {
            let mut c = format!("The last sync of {me}");
            if let Some(r) = &op.revision {
                c.push_str(&format!(" (revision {r})"));
            }
            if let Some(t) = op.finished_at.as_deref().or(op.started_at.as_deref()) {
                c.push_str(&format!(
                    ", {} {}",
                    if op.finished_at.is_some() {
                        "finished"
                    } else {
                        "started"
                    },
                    at_ago(t, now)
                ));
            }
            c.push_str(&format!(
                ", ended in phase {}: {}",
                op.phase,
                op.message.as_deref().unwrap_or("(no message)")
            ));
            c
        }
        None => format!(
            "Argo CD reports a failed sync of {me}: {}",
            sync_errors
                .first()
                .and_then(|c| text(c, &["message"]))
                .unwrap_or_else(|| "(no message)".into())
        ),
    };
    if healthy_now {
        cause.push_str("; the Application is Synced and Healthy now");
    }
    let mut f = Finding::new(object.clone(), severity, SYNC_FAILED, cause);
    if let [one] = failed_resources.as_slice() {
        f = f.root_cause(format!(
            "{} failed to sync: {}",
            one.display(),
            one.field("message")
                .unwrap_or_else(|| "(Argo CD gave no message)".into())
        ));
    }
    if let Some(op) = failed_op
        && let Some(m) = &op.message
    {
        f = f.evidence(
            Source::Status,
            format!("{me} status.operationState ({})", op.phase),
            m.clone(),
        );
    }
    for r in failed_resources.iter().take(MAX_LISTED) {
        let mut what = r.field("status").unwrap_or_else(|| "SyncFailed".into());
        if let Some(h) = r.field("hookPhase")
            && r.value.get("hookType").is_some()
        {
            what = format!("hook {h}");
        }
        f = f.evidence(
            Source::Status,
            format!("{me} status.operationState.syncResult {}", r.display()),
            format!(
                "{what}: {}",
                r.field("message").unwrap_or_else(|| "(no message)".into())
            ),
        );
    }
    if failed_resources.len() > MAX_LISTED {
        f = f.evidence(
            Source::Status,
            format!("{me} status.operationState.syncResult"),
            format!("and {} more", failed_resources.len() - MAX_LISTED),
        );
    }
    for c in sync_errors {
        f = f.evidence(
            Source::Status,
            condition_ref(me, c),
            text(c, &["message"]).unwrap_or_default(),
        );
    }
    f
}

/// `waiting for healthy state of apps/Deployment/web` → what Argo CD waits for.
fn waiting_for(message: &str) -> Option<String> {
    for (marker, what) in [
        ("waiting for healthy state of ", "to become healthy"),
        ("waiting for completion of hook ", "(a hook) to complete"),
        ("waiting for deletion of ", "to be deleted"),
    ] {
        if let Some(at) = message.find(marker) {
            let target = message[at + marker.len()..]
                .split([' ', ',', ';'])
                .next()
                .unwrap_or("");
            // `group/Kind/name`, `/Kind/name` or `Kind/name`.
            let parts: Vec<&str> = target.split('/').collect();
            let (kind, name) = match parts.as_slice() {
                [_, kind, name] | [kind, name] if !kind.is_empty() && !name.is_empty() => {
                    (*kind, *name)
                }
                _ => continue,
            };
            return Some(format!("{kind} {name} {what}"));
        }
    }
    None
}

fn sync_stuck(
    object: &ObjRef,
    me: &str,
    op: &OperationSummary,
    state: &Value,
    status: &Value,
    running_for: i64,
) -> Finding {
    let started = op.started_at.as_deref().unwrap_or("?");
    let mut cause = format!(
        "A sync of {me} has been {} for {} (since {started})",
        if op.phase == "Terminating" {
            "terminating"
        } else {
            "running"
        },
        duration(running_for)
    );
    if let Some(r) = &op.revision {
        cause.push_str(&format!(", revision {r}"));
    }
    if let Some(m) = &op.message {
        cause.push_str(&format!(": {m}"));
    }
    cause.push_str("; no other sync of it can start until it ends");
    let mut f = Finding::new(object.clone(), Severity::Warning, SYNC_STUCK, cause);
    if let Some(waits) = op.message.as_deref().and_then(waiting_for) {
        f = f.root_cause(format!(
            "Argo CD waits for {waits}: look at that object, or terminate the operation"
        ));
    }
    if let Some(m) = &op.message {
        f = f.evidence(
            Source::Status,
            format!("{me} status.operationState ({})", op.phase),
            m.clone(),
        );
    }
    let pending: Vec<Resource> = resources(state, &["syncResult", "resources"])
        .filter(|r| matches!(r.field("hookPhase").as_deref(), Some("Running" | "Pending")))
        .collect();
    for r in pending.iter().take(MAX_LISTED) {
        f = f.evidence(
            Source::Status,
            format!("{me} status.operationState.syncResult {}", r.display()),
            format!(
                "{}{}",
                r.field("hookPhase").unwrap_or_default(),
                r.field("message")
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        );
    }
    for r in resources(status, &["resources"]).filter(|r| {
        matches!(
            r.health().as_deref(),
            Some("Degraded" | "Missing" | "Progressing")
        )
    }) {
        f = f.evidence(
            Source::Status,
            format!("{me} status.resources {}", r.display()),
            health_text(&r),
        );
    }
    f
}

/// `Degraded: Deployment "web" exceeded its progress deadline`.
fn health_text(r: &Resource) -> String {
    let health = r.health().unwrap_or_else(|| "Unknown".into());
    match r.health_message() {
        Some(m) => format!("{health}: {m}"),
        None => health,
    }
}

fn degraded(object: &ObjRef, me: &str, s: &AppSummary, status: &Value) -> Finding {
    let bad: Vec<Resource> = resources(status, &["resources"])
        .filter(|r| matches!(r.health().as_deref(), Some("Degraded" | "Missing")))
        .collect();
    let recorded = resources(status, &["resources"]).any(|r| r.health().is_some());
    let mut cause = format!("{me} is Degraded");
    match (&s.health_message, bad.as_slice()) {
        (Some(m), _) => cause.push_str(&format!(": {m}")),
        (None, []) => {}
        (None, some) => cause.push_str(&format!(
            ": {}",
            some.iter()
                .take(5)
                .map(|r| format!("{} is {}", r.display(), r.health().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    let mut f = Finding::new(object.clone(), Severity::Error, DEGRADED, cause);
    let degraded_only: Vec<&Resource> = bad
        .iter()
        .filter(|r| r.health().as_deref() == Some("Degraded"))
        .collect();
    if let [one] = degraded_only.as_slice() {
        f = f.root_cause(format!(
            "{} is Degraded{}",
            one.display(),
            one.health_message()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ));
    }
    if let Some(m) = &s.health_message {
        f = f.evidence(
            Source::Status,
            format!("{me} status.health"),
            format!("Degraded: {m}"),
        );
    }
    for r in bad.iter().take(MAX_LISTED) {
        f = f.evidence(
            Source::Status,
            format!("{me} status.resources {}", r.display()),
            health_text(r),
        );
    }
    if bad.len() > MAX_LISTED {
        f = f.evidence(
            Source::Status,
            format!("{me} status.resources"),
            format!("and {} more Degraded or Missing", bad.len() - MAX_LISTED),
        );
    }
    if !recorded {
        f = f.evidence(
            Source::Status,
            format!("{me} status.resources"),
            "Argo CD did not record the health of each resource in the Application \
             (status.resourceHealthSource: appTree): read the objects it deploys to see which \
             one is Degraded",
        );
    }
    f
}

fn out_of_sync(
    object: &ObjRef,
    me: &str,
    s: &AppSummary,
    source: &str,
    status: &Value,
    now: Option<i64>,
) -> Finding {
    let all: Vec<Resource> = resources(status, &["resources"]).collect();
    let differ: Vec<&Resource> = all
        .iter()
        .filter(|r| r.field("status").as_deref() == Some("OutOfSync"))
        .collect();
    let mut cause = format!("{me} is OutOfSync with {source}");
    if !all.is_empty() {
        cause.push_str(&format!(
            ": {} of {} resources differ",
            differ.len(),
            all.len()
        ));
        if !differ.is_empty() {
            let mut names: Vec<String> = differ.iter().take(5).map(|r| r.display()).collect();
            if differ.len() > 5 {
                names.push(format!("{} more", differ.len() - 5));
            }
            cause.push_str(&format!(" ({})", names.join(", ")));
        }
    }
    cause.push_str(&format!("; {}", age_text(s, status, now)));
    cause.push_str(if !s.automated {
        "; automated sync is off: it stays so until someone syncs it"
    } else if s.self_heal {
        "; automated sync with selfHeal is on: Argo CD should revert the difference by itself"
    } else {
        "; automated sync is on without selfHeal: a change made in the cluster stays until the \
         next change in Git"
    });
    let mut f = Finding::new(object.clone(), Severity::Warning, OUT_OF_SYNC, cause);
    for r in differ.iter().take(MAX_LISTED) {
        let mut t = "OutOfSync".to_string();
        if r.value.get("requiresPruning").and_then(Value::as_bool) == Some(true) {
            t.push_str(", not in Git any more (requires pruning)");
        }
        if let Some(h) = r.health() {
            t.push_str(&format!(", health {h}"));
            if h == "Missing" {
                t.push_str(" (not in the cluster)");
            }
        }
        f = f.evidence(
            Source::Status,
            format!("{me} status.resources {}", r.display()),
            t,
        );
    }
    if differ.len() > MAX_LISTED {
        f = f.evidence(
            Source::Status,
            format!("{me} status.resources"),
            format!("and {} more OutOfSync", differ.len() - MAX_LISTED),
        );
    }
    f
}

/// How long the Application may have been OutOfSync, from which time:
/// Argo CD records no time for the change itself.
fn age_text(s: &AppSummary, status: &Value, now: Option<i64>) -> String {
    let last_sync = s
        .operation
        .as_ref()
        .filter(|o| o.phase == "Succeeded")
        .and_then(|o| o.finished_at.clone());
    let last_deploy = items(status, &["history"])
        .last()
        .and_then(|h| text(h, &["deployedAt"]));
    let health_changed = text(status, &["health", "lastTransitionTime"]);
    let mut t = if let Some(at) = last_sync {
        format!(
            "the last sync finished at {} (status.operationState.finishedAt): the difference \
             is at most that old",
            at_ago(&at, now)
        )
    } else if let Some(at) = last_deploy {
        format!(
            "the last deployment was at {} (status.history): the difference is at most that old",
            at_ago(&at, now)
        )
    } else if let Some(at) = health_changed {
        format!(
            "no sync is recorded; its health last changed at {} (status.health.lastTransitionTime)",
            at_ago(&at, now)
        )
    } else {
        "no sync is recorded, and Argo CD records no time for the change".to_string()
    };
    if let Some(at) = &s.reconciled_at {
        t.push_str(&format!(
            "; Argo CD last compared it at {} (status.reconciledAt)",
            at_ago(at, now)
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: &str = "2026-03-02T10:00:00Z";
    const REV: &str = "53e28ff20cc530b9ada2173fbbd64d48338583ba";
    const OLD_REV: &str = "0c2d9e1a7f4b8e3d6c5a4b3c2d1e0f9a8b7c6d5e";

    /// A synced, healthy Application as Argo CD v3 writes it after an
    /// automated sync of a Directory source.
    fn healthy() -> Value {
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {
                "name": "guestbook",
                "namespace": "argocd",
                "uid": "6f1f4c2e-2b0e-4d7c-9d8b-1c2e3f4a5b6c",
                "resourceVersion": "48213",
                "generation": 27,
                "finalizers": ["resources-finalizer.argocd.argoproj.io"]
            },
            "spec": {
                "project": "default",
                "source": {
                    "repoURL": "https://github.com/argoproj/argocd-example-apps.git",
                    "path": "guestbook",
                    "targetRevision": "HEAD"
                },
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "guestbook"},
                "syncPolicy": {
                    "automated": {"prune": true, "selfHeal": true},
                    "syncOptions": ["CreateNamespace=true"]
                }
            },
            "status": {
                "sync": {
                    "status": "Synced",
                    "revision": REV,
                    "comparedTo": {
                        "source": {
                            "repoURL": "https://github.com/argoproj/argocd-example-apps.git",
                            "path": "guestbook",
                            "targetRevision": "HEAD"
                        },
                        "destination": {"server": "https://kubernetes.default.svc", "namespace": "guestbook"}
                    }
                },
                "health": {"status": "Healthy", "lastTransitionTime": "2026-03-02T09:20:41Z"},
                "resources": [
                    {"version": "v1", "kind": "Service", "namespace": "guestbook",
                     "name": "guestbook-ui", "status": "Synced", "health": {"status": "Healthy"}},
                    {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "guestbook",
                     "name": "guestbook-ui", "status": "Synced", "health": {"status": "Healthy"}}
                ],
                "operationState": {
                    "operation": {
                        "sync": {"revision": REV, "prune": true, "syncOptions": ["CreateNamespace=true"]},
                        "initiatedBy": {"automated": true},
                        "retry": {"limit": 5}
                    },
                    "phase": "Succeeded",
                    "message": "successfully synced (all tasks run)",
                    "startedAt": "2026-03-02T09:20:30Z",
                    "finishedAt": "2026-03-02T09:20:33Z",
                    "syncResult": {
                        "resources": [
                            {"group": "", "version": "v1", "kind": "Service", "namespace": "guestbook",
                             "name": "guestbook-ui", "status": "Synced",
                             "message": "service/guestbook-ui unchanged", "hookPhase": "Running",
                             "syncPhase": "Sync"},
                            {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "guestbook",
                             "name": "guestbook-ui", "status": "Synced",
                             "message": "deployment.apps/guestbook-ui configured", "hookPhase": "Running",
                             "syncPhase": "Sync"}
                        ],
                        "revision": REV,
                        "source": {
                            "repoURL": "https://github.com/argoproj/argocd-example-apps.git",
                            "path": "guestbook",
                            "targetRevision": "HEAD"
                        }
                    }
                },
                "history": [
                    {"revision": OLD_REV, "deployedAt": "2026-03-01T16:02:10Z", "id": 3,
                     "deployStartedAt": "2026-03-01T16:02:07Z", "initiatedBy": {"username": "admin"},
                     "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps.git",
                                "path": "guestbook", "targetRevision": "HEAD"}},
                    {"revision": REV, "deployedAt": "2026-03-02T09:20:33Z", "id": 4,
                     "deployStartedAt": "2026-03-02T09:20:30Z", "initiatedBy": {"automated": true},
                     "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps.git",
                                "path": "guestbook", "targetRevision": "HEAD"}}
                ],
                "reconciledAt": "2026-03-02T09:58:12Z",
                "sourceType": "Directory",
                "summary": {"images": ["gcr.io/heptio-images/ks-guestbook-demo:0.2"]},
                "controllerNamespace": "argocd"
            }
        })
    }

    fn reasons(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.reason.as_str()).collect()
    }

    fn evidence(f: &Finding) -> Vec<String> {
        f.evidence
            .iter()
            .map(|e| format!("{} | {}", e.reference, e.text))
            .collect()
    }

    #[test]
    fn a_synced_healthy_app_is_summarised_and_has_no_finding() {
        let app = healthy();
        let s = summary(&app);
        assert_eq!(
            s,
            AppSummary {
                name: "guestbook".into(),
                namespace: "argocd".into(),
                project: "default".into(),
                sync_status: "Synced".into(),
                health_status: "Healthy".into(),
                health_message: None,
                revision: Some(REV.into()),
                target_revision: Some("HEAD".into()),
                repo_url: Some("https://github.com/argoproj/argocd-example-apps.git".into()),
                path: Some("guestbook".into()),
                chart: None,
                destination: Destination {
                    server: Some("https://kubernetes.default.svc".into()),
                    name: None,
                    namespace: Some("guestbook".into()),
                },
                automated: true,
                prune: true,
                self_heal: true,
                operation: Some(OperationSummary {
                    phase: "Succeeded".into(),
                    message: Some("successfully synced (all tasks run)".into()),
                    revision: Some(REV.into()),
                    started_at: Some("2026-03-02T09:20:30Z".into()),
                    finished_at: Some("2026-03-02T09:20:33Z".into()),
                    running: false,
                }),
                operation_requested: false,
                conditions: vec![],
                reconciled_at: Some("2026-03-02T09:58:12Z".into()),
            }
        );
        assert!(findings(&app, NOW).is_empty(), "{:#?}", findings(&app, NOW));
        // The JSON a tool returns: snake_case, absent values as null.
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["self_heal"], true);
        assert_eq!(v["health_message"], Value::Null);
        assert_eq!(v["operation"]["started_at"], "2026-03-02T09:20:30Z");
        assert_eq!(v["destination"]["server"], "https://kubernetes.default.svc");
    }

    #[test]
    fn an_app_without_status_is_unknown_and_without_finding() {
        let app = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "new", "namespace": "argocd"},
            "spec": {"project": "default",
                     "source": {"repoURL": "https://git.example.com/new.git", "path": "."},
                     "destination": {"name": "in-cluster", "namespace": "new"}}
        });
        let s = summary(&app);
        assert_eq!(
            (s.sync_status.as_str(), s.health_status.as_str()),
            ("Unknown", "Unknown")
        );
        assert_eq!(s.target_revision, None);
        assert_eq!(s.destination.name.as_deref(), Some("in-cluster"));
        assert!(!s.automated && !s.prune && !s.self_heal);
        assert_eq!(s.operation, None);
        assert!(findings(&app, NOW).is_empty());
    }

    #[test]
    fn automated_off_by_enabled_false_turns_prune_and_self_heal_off() {
        let mut app = healthy();
        app["spec"]["syncPolicy"]["automated"]["enabled"] = json!(false);
        let s = summary(&app);
        assert!(!s.automated && !s.prune && !s.self_heal);
        app["spec"]["syncPolicy"]["automated"] = json!({"enabled": true});
        let s = summary(&app);
        assert!(s.automated && !s.prune && !s.self_heal);
        app["spec"]["syncPolicy"] = json!({"syncOptions": ["CreateNamespace=true"]});
        assert!(!summary(&app).automated);
    }

    #[test]
    fn multi_source_apps_name_the_chart_source_and_all_revisions() {
        let mut app = healthy();
        let spec = app["spec"].as_object_mut().unwrap();
        spec.remove("source");
        spec.insert(
            "sources".into(),
            json!([
                {"repoURL": "https://git.example.com/values.git", "targetRevision": "main", "ref": "values"},
                {"repoURL": "https://charts.bitnami.com/bitnami", "chart": "redis",
                 "targetRevision": "19.0.1",
                 "helm": {"valueFiles": ["$values/redis/values.yaml"]}}
            ]),
        );
        app["status"]["sync"] = json!({"status": "Synced", "revisions": [REV, "19.0.1"]});
        let s = summary(&app);
        assert_eq!(s.chart.as_deref(), Some("redis"));
        assert_eq!(
            s.repo_url.as_deref(),
            Some("https://charts.bitnami.com/bitnami")
        );
        assert_eq!(s.target_revision.as_deref(), Some("19.0.1"));
        assert_eq!(s.path, None);
        assert_eq!(s.revision, Some(format!("{REV}, 19.0.1")));
    }

    #[test]
    fn a_requested_operation_is_seen() {
        let mut app = healthy();
        app["operation"] = json!({
            "initiatedBy": {"username": "guardian"},
            "info": [{"name": "reason", "value": "roll out the fix"}],
            "sync": {"revision": REV, "prune": false}
        });
        assert!(summary(&app).operation_requested);
        app["operation"] = Value::Null;
        assert!(!summary(&app).operation_requested);
    }

    /// The app drifted: a person scaled the Deployment by hand and deleted
    /// the Service; automated sync with selfHeal is on, so it should be
    /// reverted, and the finding says how old the difference may be.
    #[test]
    fn out_of_sync_with_self_heal_lists_the_resources_and_the_age() {
        let mut app = healthy();
        app["status"]["sync"]["status"] = json!("OutOfSync");
        app["status"]["health"] =
            json!({"status": "Missing", "lastTransitionTime": "2026-03-02T09:50:00Z"});
        app["status"]["resources"] = json!([
            {"version": "v1", "kind": "Service", "namespace": "guestbook", "name": "guestbook-ui",
             "status": "OutOfSync", "health": {"status": "Missing"}},
            {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "guestbook",
             "name": "guestbook-ui", "status": "OutOfSync", "health": {"status": "Healthy"}},
            {"version": "v1", "kind": "ConfigMap", "namespace": "guestbook", "name": "old-config",
             "status": "OutOfSync", "requiresPruning": true},
            {"version": "v1", "kind": "ServiceAccount", "namespace": "guestbook", "name": "guestbook",
             "status": "Synced"}
        ]);
        let found = findings(&app, NOW);
        assert_eq!(reasons(&found), ["ArgoOutOfSync"]);
        let f = &found[0];
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.id, "argooutofsync/application/argocd/guestbook");
        assert_eq!(
            f.object,
            ObjRef::new(
                "argoproj.io/v1alpha1",
                "Application",
                Some("argocd"),
                "guestbook"
            )
        );
        assert!(
            f.cause.starts_with(
                "Application argocd/guestbook is OutOfSync with \
                 https://github.com/argoproj/argocd-example-apps.git, path guestbook at HEAD: \
                 3 of 4 resources differ (Service guestbook/guestbook-ui, Deployment \
                 guestbook/guestbook-ui, ConfigMap guestbook/old-config)"
            ),
            "{}",
            f.cause
        );
        assert!(
            f.cause.contains(
                "the last sync finished at 2026-03-02T09:20:33Z (39m ago) \
                 (status.operationState.finishedAt): the difference is at most that old; \
                 Argo CD last compared it at 2026-03-02T09:58:12Z (1m ago) (status.reconciledAt)"
            ),
            "{}",
            f.cause
        );
        assert!(
            f.cause.ends_with(
                "automated sync with selfHeal is on: Argo CD should revert the difference by itself"
            ),
            "{}",
            f.cause
        );
        assert_eq!(
            evidence(f),
            [
                "Application argocd/guestbook status.resources Service guestbook/guestbook-ui | \
                 OutOfSync, health Missing (not in the cluster)",
                "Application argocd/guestbook status.resources Deployment guestbook/guestbook-ui | \
                 OutOfSync, health Healthy",
                "Application argocd/guestbook status.resources ConfigMap guestbook/old-config | \
                 OutOfSync, not in Git any more (requires pruning)",
            ]
        );
    }

    #[test]
    fn out_of_sync_without_a_sync_says_which_time_it_uses() {
        let mut app = healthy();
        let status = app["status"].as_object_mut().unwrap();
        status.remove("operationState");
        status.remove("history");
        app["status"]["sync"]["status"] = json!("OutOfSync");
        app["spec"]["syncPolicy"] = json!({});
        let f = &findings(&app, NOW)[0];
        assert!(
            f.cause.contains(
                "no sync is recorded; its health last changed at 2026-03-02T09:20:41Z (39m ago) \
                 (status.health.lastTransitionTime)"
            ),
            "{}",
            f.cause
        );
        assert!(
            f.cause
                .ends_with("automated sync is off: it stays so until someone syncs it"),
            "{}",
            f.cause
        );
        // Without operationState but with history: the last deployment.
        let mut app = healthy();
        app["status"]
            .as_object_mut()
            .unwrap()
            .remove("operationState");
        app["status"]["sync"]["status"] = json!("OutOfSync");
        let f = &findings(&app, NOW)[0];
        assert!(
            f.cause.contains(
                "the last deployment was at 2026-03-02T09:20:33Z (39m ago) (status.history)"
            ),
            "{}",
            f.cause
        );
    }

    /// A sync that failed: the Deployment was rejected by the API server.
    /// The app is OutOfSync because of it, and the two findings say so.
    #[test]
    fn a_failed_sync_names_each_failed_resource() {
        let mut app = healthy();
        app["status"]["sync"]["status"] = json!("OutOfSync");
        app["status"]["operationState"] = json!({
            "operation": {"sync": {"revision": REV}, "initiatedBy": {"username": "admin"}},
            "phase": "Failed",
            "message": "one or more objects failed to apply, reason: Deployment.apps \"guestbook-ui\" is invalid: spec.template.spec.containers[0].image: Required value",
            "startedAt": "2026-03-02T09:40:00Z",
            "finishedAt": "2026-03-02T09:40:04Z",
            "syncResult": {
                "revision": REV,
                "resources": [
                    {"group": "", "version": "v1", "kind": "Service", "namespace": "guestbook",
                     "name": "guestbook-ui", "status": "Synced", "message": "service/guestbook-ui unchanged",
                     "hookPhase": "Running", "syncPhase": "Sync"},
                    {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "guestbook",
                     "name": "guestbook-ui", "status": "SyncFailed",
                     "message": "Deployment.apps \"guestbook-ui\" is invalid: spec.template.spec.containers[0].image: Required value",
                     "hookPhase": "Failed", "syncPhase": "Sync"}
                ]
            }
        });
        app["status"]["conditions"] = json!([{
            "type": "SyncError",
            "message": "Failed sync attempt to 53e28ff20cc530b9ada2173fbbd64d48338583ba: one or more objects failed to apply (retried 5 times).",
            "lastTransitionTime": "2026-03-02T09:40:04Z"
        }]);
        let found = findings(&app, NOW);
        assert_eq!(reasons(&found), ["ArgoSyncFailed", "ArgoOutOfSync"]);
        let f = &found[0];
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(
            f.cause,
            format!(
                "The last sync of Application argocd/guestbook (revision {REV}), finished \
                 2026-03-02T09:40:04Z (19m ago), ended in phase Failed: one or more objects \
                 failed to apply, reason: Deployment.apps \"guestbook-ui\" is invalid: \
                 spec.template.spec.containers[0].image: Required value"
            )
        );
        assert_eq!(
            f.root_cause.as_deref(),
            Some(
                "Deployment guestbook/guestbook-ui failed to sync: Deployment.apps \
                 \"guestbook-ui\" is invalid: spec.template.spec.containers[0].image: Required value"
            )
        );
        let ev = evidence(f);
        assert_eq!(ev.len(), 3, "{ev:#?}");
        assert!(ev[0].starts_with("Application argocd/guestbook status.operationState (Failed) | one or more objects failed"));
        assert!(ev[1].starts_with(
            "Application argocd/guestbook status.operationState.syncResult Deployment guestbook/guestbook-ui | SyncFailed: Deployment.apps"
        ), "{}", ev[1]);
        assert!(ev[2].starts_with(
            "Application argocd/guestbook status.conditions SyncError (since 2026-03-02T09:40:04Z) | Failed sync attempt"
        ), "{}", ev[2]);
        assert_eq!(found[1].caused_by, [f.id.as_str()]);
        assert_eq!(f.symptoms, [found[1].id.as_str()]);
    }

    #[test]
    fn a_failed_sync_of_an_app_healthy_again_is_a_warning() {
        let mut app = healthy();
        app["status"]["operationState"]["phase"] = json!("Error");
        app["status"]["operationState"]["message"] = json!("PostSync hook failed");
        let found = findings(&app, NOW);
        assert_eq!(reasons(&found), ["ArgoSyncFailed"]);
        assert_eq!(found[0].severity, Severity::Warning);
        assert!(found[0].cause.ends_with("ended in phase Error: PostSync hook failed; the Application is Synced and Healthy now"), "{}", found[0].cause);
    }

    #[test]
    fn a_degraded_app_names_each_degraded_resource() {
        let mut app = healthy();
        app["status"]["health"] = json!({
            "status": "Degraded",
            "lastTransitionTime": "2026-03-02T09:31:00Z"
        });
        app["status"]["resources"][1]["health"] = json!({
            "status": "Degraded",
            "message": "Deployment \"guestbook-ui\" exceeded its progress deadline"
        });
        let found = findings(&app, NOW);
        assert_eq!(reasons(&found), ["ArgoDegraded"]);
        let f = &found[0];
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(
            f.cause,
            "Application argocd/guestbook is Degraded: Deployment guestbook/guestbook-ui is Degraded"
        );
        assert_eq!(
            f.root_cause.as_deref(),
            Some(
                "Deployment guestbook/guestbook-ui is Degraded: Deployment \"guestbook-ui\" exceeded its progress deadline"
            )
        );
        assert_eq!(
            evidence(f),
            [
                "Application argocd/guestbook status.resources Deployment guestbook/guestbook-ui | \
              Degraded: Deployment \"guestbook-ui\" exceeded its progress deadline"
            ]
        );
    }

    /// Argo CD v3 keeps per-resource health out of the Application by
    /// default (`resourceHealthSource: appTree`): the finding says so rather
    /// than pointing at nothing.
    #[test]
    fn a_degraded_app_without_resource_health_says_where_to_look() {
        let mut app = healthy();
        app["status"]["health"] =
            json!({"status": "Degraded", "message": "1 of 2 resources degraded"});
        app["status"]["resourceHealthSource"] = json!("appTree");
        for r in app["status"]["resources"].as_array_mut().unwrap() {
            r.as_object_mut().unwrap().remove("health");
        }
        let f = &findings(&app, NOW)[0];
        assert_eq!(f.reason, "ArgoDegraded");
        assert_eq!(
            f.cause,
            "Application argocd/guestbook is Degraded: 1 of 2 resources degraded"
        );
        assert_eq!(f.root_cause, None);
        let ev = evidence(f);
        assert_eq!(ev.len(), 2);
        assert!(
            ev[1].contains("(status.resourceHealthSource: appTree)"),
            "{}",
            ev[1]
        );
    }

    #[test]
    fn a_sync_running_too_long_is_stuck_and_says_what_it_waits_for() {
        let mut app = healthy();
        app["status"]["operationState"] = json!({
            "operation": {"sync": {"revision": REV}, "initiatedBy": {"username": "admin"}},
            "phase": "Running",
            "message": "waiting for healthy state of apps/Deployment/guestbook-ui",
            "startedAt": "2026-03-02T09:35:00Z",
            "syncResult": {"revision": REV, "resources": [
                {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "guestbook",
                 "name": "guestbook-ui", "status": "Synced", "message": "deployment.apps/guestbook-ui configured",
                 "hookPhase": "Running", "syncPhase": "Sync"}
            ]}
        });
        app["status"]["health"] = json!({"status": "Progressing"});
        app["status"]["resources"][1]["health"] = json!({
            "status": "Progressing",
            "message": "Waiting for rollout to finish: 1 old replicas are pending termination..."
        });
        let found = findings(&app, NOW);
        assert_eq!(reasons(&found), ["ArgoSyncStuck"]);
        let f = &found[0];
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(
            f.cause,
            format!(
                "A sync of Application argocd/guestbook has been running for 25m (since \
                 2026-03-02T09:35:00Z), revision {REV}: waiting for healthy state of \
                 apps/Deployment/guestbook-ui; no other sync of it can start until it ends"
            )
        );
        assert_eq!(
            f.root_cause.as_deref(),
            Some(
                "Argo CD waits for Deployment guestbook-ui to become healthy: look at that object, or terminate the operation"
            )
        );
        assert!(
            evidence(f)
                .iter()
                .any(|e| e.contains("Progressing: Waiting for rollout to finish"))
        );

        // Nine minutes in, it is not stuck yet; a now that does not parse
        // says nothing about age.
        assert!(findings(&app, "2026-03-02T09:44:00Z").is_empty());
        assert!(findings(&app, "yesterday").is_empty());
        // With an offset: 10:20+01:00 is 09:20Z, before the start.
        assert!(findings(&app, "2026-03-02T10:20:00+01:00").is_empty());
        assert_eq!(
            reasons(&findings(&app, "2026-03-02T11:46:00.123+01:00")),
            ["ArgoSyncStuck"]
        );
    }

    #[test]
    fn a_comparison_error_names_the_missing_path() {
        let mut app = healthy();
        app["spec"]["source"]["path"] = json!("guestbok");
        app["status"]["sync"] =
            json!({"status": "Unknown", "comparedTo": {"source": {}, "destination": {}}});
        app["status"]["conditions"] = json!([{
            "type": "ComparisonError",
            "message": "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = guestbok: app path does not exist",
            "lastTransitionTime": "2026-03-02T09:55:00Z"
        }]);
        let found = findings(&app, NOW);
        assert_eq!(reasons(&found), ["ArgoComparisonError"]);
        let f = &found[0];
        assert_eq!(f.severity, Severity::Error);
        assert!(
            f.cause.starts_with(
                "Argo CD cannot compare Application argocd/guestbook with its source \
             (https://github.com/argoproj/argocd-example-apps.git, path guestbok at HEAD): \
             Failed to load target state"
            ),
            "{}",
            f.cause
        );
        assert_eq!(
            f.root_cause.as_deref(),
            Some(
                "The path guestbok does not exist in https://github.com/argoproj/argocd-example-apps.git at HEAD: spec.source.path or the repository's layout changed"
            )
        );
        assert_eq!(f.evidence.len(), 1);
        assert_eq!(
            f.evidence[0].reference,
            "Application argocd/guestbook status.conditions ComparisonError (since 2026-03-02T09:55:00Z)"
        );
    }

    #[test]
    fn a_comparison_error_tells_an_unreachable_repo_from_a_bad_revision() {
        let mut app = healthy();
        app["status"]["sync"]["status"] = json!("Unknown");
        let with = |message: &str| {
            let mut app = app.clone();
            app["status"]["conditions"] = json!([{"type": "ComparisonError", "message": message}]);
            findings(&app, NOW)[0]
                .root_cause
                .clone()
                .unwrap_or_default()
        };
        assert!(with("Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = failed to list refs: repository not found")
            .starts_with("Argo CD cannot reach the repository https://github.com/argoproj/argocd-example-apps.git"));
        assert!(with("Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = failed to list refs: authentication required: Repository not found.")
            .starts_with("Argo CD's credentials for"));
        assert!(with("Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = Unable to resolve 'HEAD' to a commit SHA")
            .starts_with("The target revision HEAD does not exist"));
        app["status"]["conditions"] =
            json!([{"type": "ComparisonError", "message": "something new"}]);
        assert_eq!(findings(&app, NOW)[0].root_cause, None);
    }

    #[test]
    fn an_invalid_spec_names_the_project() {
        let mut app = healthy();
        app["spec"]["project"] = json!("team-a");
        app["status"]["conditions"] = json!([{
            "type": "InvalidSpecError",
            "message": "application destination server 'https://kubernetes.default.svc' and namespace 'guestbook' do not match any of the allowed destinations in project 'team-a'",
            "lastTransitionTime": "2026-03-02T09:55:00Z"
        }]);
        let found = findings(&app, NOW);
        assert_eq!(reasons(&found), ["ArgoInvalidSpec"]);
        assert_eq!(found[0].severity, Severity::Error);
        assert!(
            found[0]
                .root_cause
                .as_deref()
                .unwrap()
                .starts_with("The AppProject team-a does not allow")
        );
        // Warnings among the conditions are no finding.
        app["status"]["conditions"] = json!([{"type": "OrphanedResourceWarning", "message": "Application has 1 orphaned resources"}]);
        assert!(findings(&app, NOW).is_empty());
        assert_eq!(summary(&app).conditions, ["OrphanedResourceWarning"]);
    }

    #[test]
    fn tracking_ids_name_the_application() {
        assert_eq!(
            tracking_app("guestbook:apps/Deployment:guestbook/guestbook-ui"),
            Some((None, "guestbook".into()))
        );
        // Core group, cluster-scoped object.
        assert_eq!(
            tracking_app("guestbook:/Service:guestbook/guestbook-ui"),
            Some((None, "guestbook".into()))
        );
        assert_eq!(
            tracking_app("platform:rbac.authorization.k8s.io/ClusterRole:/platform-admin"),
            Some((None, "platform".into()))
        );
        // An Application outside Argo CD's namespace: `<namespace>_<name>`.
        assert_eq!(
            tracking_app("team-a_shop:apps/Deployment:shop/web"),
            Some((Some("team-a".into()), "shop".into()))
        );
        assert_eq!(
            tracking_app("team-a_shop.v2:/ConfigMap:shop/cfg"),
            Some((Some("team-a".into()), "shop.v2".into()))
        );
        for bad in [
            "",
            "guestbook",
            "guestbook:apps/Deployment",
            "guestbook:apps/Deployment:guestbook-ui",
            "guestbook:Deployment:guestbook/guestbook-ui",
            "guestbook:apps/Deployment:guestbook/guestbook-ui:extra",
            ":apps/Deployment:guestbook/guestbook-ui",
            "_shop:apps/Deployment:shop/web",
            "team-a_:apps/Deployment:shop/web",
            "a_b_c:apps/Deployment:shop/web",
            "Guestbook:apps/Deployment:guestbook/guestbook-ui",
            "guestbook:apps/:guestbook/guestbook-ui",
            "guestbook:apps/Deployment:guestbook/",
            "guestbook:a/b/Deployment:guestbook/web",
            "guestbook:apps/Deployment:ns/a/b",
        ] {
            assert_eq!(tracking_app(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn times_parse_as_rfc3339() {
        assert_eq!(epoch("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(epoch("2026-03-02T10:00:00Z"), Some(1_772_445_600));
        assert_eq!(epoch("2026-03-02T10:00:00.5Z"), Some(1_772_445_600));
        assert_eq!(epoch("2026-03-02T11:00:00+01:00"), Some(1_772_445_600));
        assert_eq!(epoch("2026-03-02T09:30:00-00:30"), Some(1_772_445_600));
        for bad in [
            "2026-03-02",
            "2026-03-02T10:00:00",
            "2026-13-02T10:00:00Z",
            "2026-03-02T10:00:00.Z",
            "x026-03-02T10:00:00Z",
            "2026-03-02T10:00:00+0100",
        ] {
            assert_eq!(epoch(bad), None, "{bad}");
        }
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(60 * 25), "25m");
        assert_eq!(duration(3600 * 3 + 300), "3h 5m");
        assert_eq!(duration(86_400 * 2), "2d");
    }
}
