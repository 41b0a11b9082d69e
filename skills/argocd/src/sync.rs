//! The sync proposal: the JSON Patch that asks Argo CD to sync an
//! Application, as `argocd app sync` does through the API (it sets the
//! top-level `operation`; the application controller runs it, records
//! `status.operationState` and removes `operation`). Pure: the tool in
//! `lib.rs` reads the Application and hands the plan to `actions.propose`.

use std::collections::BTreeSet;

use guardian_skill_sdk::ToolError;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::app::{self, AppSummary, text};
use crate::view::Res;

/// Who Argo CD records as having started the operation.
pub const INITIATED_BY: &str = "guardian";
/// The `info` reason when the caller gives none.
const DEFAULT_REASON: &str = "sync proposed with Guardian";

/// One resource to sync (all of the Application's when none is given).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceInput {
    /// The API group (`apps`; `""` for the core group). Taken from the
    /// Application's resources when absent.
    #[serde(default)]
    pub group: Option<String>,
    /// The kind: `Deployment`, `ConfigMap`.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// The object's namespace. Taken from the Application's resources when
    /// absent.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// Input of `sync`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncInput {
    /// The Application's name.
    pub name: String,
    /// The namespace the Application lives in (Argo CD's namespace, usually
    /// `argocd`).
    pub namespace: String,
    /// The revision to sync to (a commit, tag or branch; a chart version for
    /// a Helm repository). Default: the source's `targetRevision`.
    #[serde(default)]
    pub revision: Option<String>,
    /// Sync only these resources (default: all of the Application's).
    #[serde(default)]
    pub resources: Option<Vec<ResourceInput>>,
    /// Delete the resources that are no longer in Git. Default false: they
    /// are kept.
    #[serde(default)]
    pub prune: bool,
    /// Argo CD sync options for this sync, `Key=Value`
    /// (`ServerSideApply=true`, `ApplyOutOfSyncOnly=true`).
    #[serde(default)]
    pub sync_options: Option<Vec<String>>,
    /// Why, recorded in the operation's `info` (Argo CD shows it).
    #[serde(default)]
    pub reason: Option<String>,
}

/// What to propose.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The RFC 6902 JSON Patch on the Application.
    pub patch: Value,
    /// Why, for the person who approves it.
    pub rationale: String,
    /// What it does, in one sentence.
    pub what: String,
}

/// Why a sync cannot be requested now, if it cannot: an operation is
/// requested or running (a second one would replace it), or the
/// Application is being deleted.
pub fn refusal(app: &Value) -> Option<String> {
    let s = app::summary(app);
    let me = format!("Application {}/{}", s.namespace, s.name);
    let state = &app["status"]["operationState"];
    let what = |op: &Value| -> String {
        let mut t = String::from("sync");
        if let Some(r) = text(op, &["sync", "revision"]) {
            t.push_str(&format!(" to revision {r}"));
        }
        match text(op, &["initiatedBy", "username"]) {
            Some(u) => t.push_str(&format!(", initiated by {u}")),
            None if op["initiatedBy"]["automated"].as_bool() == Some(true) => {
                t.push_str(", started by automated sync")
            }
            None => {}
        }
        t
    };
    if let Some(op) = s.operation.as_ref().filter(|o| o.running) {
        let mut m = format!(
            "{me} already has an operation {}: {} (phase {} since {})",
            if op.phase == "Terminating" {
                "terminating"
            } else {
                "running"
            },
            what(&state["operation"]),
            op.phase,
            op.started_at.as_deref().unwrap_or("an unrecorded time"),
        );
        if let Some(msg) = &op.message {
            m.push_str(&format!(": {msg}"));
        }
        m.push_str(
            "; wait for it to end (argocd.status shows it), or terminate it in Argo CD, then \
             propose the sync again",
        );
        return Some(m);
    }
    if s.operation_requested {
        return Some(format!(
            "{me} already has an operation requested that Argo CD has not started yet: {} \
             (the `operation` field is set); wait for Argo CD to run it (argocd.status shows \
             it), then propose the sync again",
            what(&app["operation"])
        ));
    }
    if let Some(at) = text(app, &["metadata", "deletionTimestamp"]) {
        return Some(format!(
            "{me} is being deleted (since {at}): Argo CD does not sync it any more"
        ));
    }
    None
}

fn invalid(message: String) -> ToolError {
    ToolError::invalid_input(message)
}

/// A Kubernetes-style name or a revision: non-empty, no whitespace.
fn check_word(field: &str, value: &str) -> Result<(), ToolError> {
    if value.is_empty() {
        return Err(invalid(format!("{field}: must not be empty")));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(format!(
            "{field}: `{value}` contains whitespace; give a single word"
        )));
    }
    Ok(())
}

/// The input's resources, matched against the Application's
/// (`status.resources`) so that each names its group and namespace as Argo
/// CD compares them.
fn resolve_resources(
    input: &[ResourceInput],
    known: &[Res],
    me: &str,
) -> Result<Vec<Value>, ToolError> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, r) in input.iter().enumerate() {
        let field = format!("resources[{i}]");
        check_word(&format!("{field}.kind"), &r.kind)?;
        check_word(&format!("{field}.name"), &r.name)?;
        let wanted = format!(
            "{} {}{}",
            r.kind,
            r.namespace
                .as_deref()
                .map(|n| format!("{n}/"))
                .unwrap_or_default(),
            r.name
        );
        let (group, kind, namespace) = if known.is_empty() {
            let Some(group) = &r.group else {
                return Err(invalid(format!(
                    "{field}.group: {me} lists no resources yet (Argo CD has not compared it), \
                     so the group of {wanted} cannot be looked up; give it (\"\" for the core \
                     group, \"apps\" for a Deployment)"
                )));
            };
            (group.clone(), r.kind.clone(), r.namespace.clone())
        } else {
            let matches: Vec<&Res> = known
                .iter()
                .filter(|k| {
                    k.kind.eq_ignore_ascii_case(&r.kind)
                        && k.name == r.name
                        && r.group.as_ref().is_none_or(|g| &k.group == g)
                        && r.namespace
                            .as_ref()
                            .is_none_or(|n| k.namespace.as_ref() == Some(n))
                })
                .collect();
            match matches.as_slice() {
                [one] => (one.group.clone(), one.kind.clone(), one.namespace.clone()),
                [] => {
                    let mut there: Vec<String> = known.iter().take(20).map(Res::display).collect();
                    if known.len() > 20 {
                        there.push(format!("{} more", known.len() - 20));
                    }
                    return Err(invalid(format!(
                        "{field}: {me} has no resource {wanted}{}; its resources: {}",
                        r.group
                            .as_deref()
                            .map(|g| format!(" in group \"{g}\""))
                            .unwrap_or_default(),
                        there.join(", ")
                    )));
                }
                many => {
                    return Err(invalid(format!(
                        "{field}: {wanted} names several resources of {me} ({}); give group \
                         and namespace",
                        many.iter()
                            .map(|k| format!("{} in group \"{}\"", k.display(), k.group))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        };
        if !seen.insert((
            group.clone(),
            kind.clone(),
            namespace.clone(),
            r.name.clone(),
        )) {
            continue;
        }
        let mut entry = Map::new();
        entry.insert("group".into(), json!(group));
        entry.insert("kind".into(), json!(kind));
        entry.insert("name".into(), json!(r.name));
        if let Some(ns) = namespace {
            entry.insert("namespace".into(), json!(ns));
        }
        out.push(Value::Object(entry));
    }
    Ok(out)
}

/// The sync options: `Key=Value` each.
fn check_options(options: &[String]) -> Result<(), ToolError> {
    for (i, o) in options.iter().enumerate() {
        let ok = o.split_once('=').is_some_and(|(k, v)| {
            !k.is_empty()
                && !v.is_empty()
                && k.chars().all(|c| c.is_ascii_alphanumeric())
                && !v.chars().any(char::is_whitespace)
        });
        if !ok {
            return Err(invalid(format!(
                "sync_options[{i}]: `{o}` is not an Argo CD sync option `Key=Value` (e.g. \
                 ServerSideApply=true, ApplyOutOfSyncOnly=true, Validate=false)"
            )));
        }
    }
    Ok(())
}

/// The number of sources of the Application (`spec.sources`, else one).
fn source_count(app: &Value) -> usize {
    app["spec"]["sources"]
        .as_array()
        .filter(|s| !s.is_empty() && !app["spec"]["source"].is_object())
        .map_or(1, Vec::len)
}

/// The plan to sync `app` (the Application as read) as `input` asks: the
/// input checked (errors name the field), refused while an operation is
/// requested or running (a `failed` error naming it).
pub fn plan(app: &Value, input: &SyncInput) -> Result<Plan, ToolError> {
    let s = app::summary(app);
    let me = format!("Application {}/{}", s.namespace, s.name);
    if let Some(r) = &input.revision {
        check_word("revision", r)?;
        let n = source_count(app);
        if n > 1 {
            return Err(invalid(format!(
                "revision: {me} has {n} sources; one revision cannot name them all — leave \
                 revision out to sync each source at its targetRevision"
            )));
        }
    }
    if let Some(options) = &input.sync_options {
        check_options(options)?;
    }
    if let Some(reason) = &input.reason
        && reason.trim().is_empty()
    {
        return Err(invalid("reason: must not be empty when given".into()));
    }
    if let Some(why) = refusal(app) {
        return Err(ToolError::failed(why));
    }
    let known: Vec<Res> = app["status"]["resources"]
        .as_array()
        .map(|a| a.iter().map(Res::of).collect())
        .unwrap_or_default();
    let resources = match &input.resources {
        Some(list) if list.is_empty() => {
            return Err(invalid(
                "resources: empty; leave it out to sync every resource".into(),
            ));
        }
        Some(list) => Some(resolve_resources(list, &known, &me)?),
        None => None,
    };

    let mut sync = Map::new();
    if let Some(r) = &input.revision {
        sync.insert("revision".into(), json!(r));
    }
    sync.insert("prune".into(), json!(input.prune));
    if let Some(options) = input.sync_options.as_ref().filter(|o| !o.is_empty()) {
        sync.insert("syncOptions".into(), json!(options));
    }
    if let Some(r) = &resources {
        sync.insert("resources".into(), json!(r));
    }
    let reason = input
        .reason
        .as_deref()
        .map(str::trim)
        .unwrap_or(DEFAULT_REASON);
    let operation = json!({
        "initiatedBy": {"username": INITIATED_BY},
        "info": [{"name": "reason", "value": reason}],
        "sync": sync,
    });
    let mut patch = Vec::new();
    let phase = &app["status"]["operationState"]["phase"];
    patch.push(if phase.is_string() {
        // Pins that no operation started (or ended) in between.
        json!({"op": "test", "path": "/status/operationState/phase", "value": phase})
    } else {
        // Never synced: nothing to pin but the object itself (the host
        // takes no proposal without a test).
        match text(app, &["metadata", "uid"]) {
            Some(uid) => json!({"op": "test", "path": "/metadata/uid", "value": uid}),
            None => json!({"op": "test", "path": "/metadata/name", "value": s.name}),
        }
    });
    patch.push(json!({"op": "add", "path": "/operation", "value": operation}));

    let (what, rationale) = describe(&s, input, resources.as_deref(), &known, reason);
    Ok(Plan {
        patch: Value::Array(patch),
        rationale,
        what,
    })
}

/// The one-line description and the rationale of a sync.
fn describe(
    s: &AppSummary,
    input: &SyncInput,
    resources: Option<&[Value]>,
    known: &[Res],
    reason: &str,
) -> (String, String) {
    let me = format!("Argo CD Application {}/{}", s.namespace, s.name);
    let to = match (&input.revision, &s.target_revision) {
        (Some(r), _) => format!("revision {r}"),
        (None, Some(t)) => format!("its target revision {t}"),
        (None, None) => "its target revision HEAD".to_string(),
    };
    let scope = match resources {
        None => match known.len() {
            0 => "all its resources".to_string(),
            n => {
                let differ: Vec<String> = known
                    .iter()
                    .filter(|r| r.status.as_deref() == Some("OutOfSync"))
                    .map(Res::display)
                    .collect();
                if differ.is_empty() {
                    format!("all its {n} resources (none OutOfSync)")
                } else {
                    let mut shown: Vec<String> = differ.iter().take(10).cloned().collect();
                    if differ.len() > 10 {
                        shown.push(format!("{} more", differ.len() - 10));
                    }
                    format!(
                        "all its {n} resources ({} OutOfSync: {})",
                        differ.len(),
                        shown.join(", ")
                    )
                }
            }
        },
        Some(list) => format!(
            "only {}",
            list.iter()
                .map(|r| match r["namespace"].as_str() {
                    Some(ns) => format!(
                        "{} {ns}/{}",
                        r["kind"].as_str().unwrap_or(""),
                        r["name"].as_str().unwrap_or("")
                    ),
                    None => format!(
                        "{} {}",
                        r["kind"].as_str().unwrap_or(""),
                        r["name"].as_str().unwrap_or("")
                    ),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let prunable: Vec<String> = known
        .iter()
        .filter(|r| r.requires_pruning)
        .map(Res::display)
        .collect();
    let prune = match (input.prune, prunable.as_slice()) {
        (true, []) => "prune on (nothing is marked for pruning now)".to_string(),
        (true, p) => format!(
            "prune on: deletes what is no longer in Git ({})",
            p.join(", ")
        ),
        (false, []) => "prune off".to_string(),
        (false, p) => format!(
            "prune off: keeps what is no longer in Git ({})",
            p.join(", ")
        ),
    };
    let mut source = s.repo_url.clone().unwrap_or_else(|| "no source".into());
    if let Some(p) = s.path.as_ref().or(s.chart.as_ref()) {
        source.push_str(&format!(" {p}"));
    }
    let mut what = format!("Sync {me} to {to}: {scope}; {prune}");
    if let Some(o) = input.sync_options.as_ref().filter(|o| !o.is_empty()) {
        what.push_str(&format!("; sync options {}", o.join(", ")));
    }
    let rationale = format!(
        "{what}. Source: {source}. Now: {}, {}{}. Reason: {reason}. Approving sets the \
         Application's operation; Argo CD's controller runs the sync and records the result \
         (argocd.status shows it).",
        s.sync_status,
        s.health_status,
        s.revision
            .as_deref()
            .map(|r| format!(" at revision {r}"))
            .unwrap_or_default(),
    );
    (what, rationale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::tests::guestbook;

    fn input(json: Value) -> SyncInput {
        let mut v = json!({"name": "guestbook", "namespace": "argocd"});
        v.as_object_mut()
            .unwrap()
            .extend(json.as_object().unwrap().clone());
        serde_json::from_value(v).unwrap()
    }

    fn failed(r: Result<Plan, ToolError>) -> String {
        match r {
            Err(ToolError::Failed(m)) => m,
            other => panic!("expected a failed error, got {other:?}"),
        }
    }

    fn invalid_input(r: Result<Plan, ToolError>) -> String {
        match r {
            Err(ToolError::InvalidInput(m)) => m,
            other => panic!("expected an invalid-input error, got {other:?}"),
        }
    }

    /// The default proposal: the contract's exact patch, prune off.
    #[test]
    fn the_patch_pins_the_phase_and_requests_a_sync_without_prune() {
        let app = guestbook();
        let plan = plan(&app, &input(json!({}))).unwrap();
        assert_eq!(
            plan.patch,
            json!([
                {"op": "test", "path": "/status/operationState/phase", "value": "Succeeded"},
                {"op": "add", "path": "/operation", "value": {
                    "initiatedBy": {"username": "guardian"},
                    "info": [{"name": "reason", "value": "sync proposed with Guardian"}],
                    "sync": {"prune": false}
                }}
            ])
        );
        assert_eq!(
            plan.what,
            "Sync Argo CD Application argocd/guestbook to its target revision HEAD: all its 2 \
             resources (none OutOfSync); prune off"
        );
        assert!(
            plan.rationale.contains(
                "Now: Synced, Healthy at revision 53e28ff20cc530b9ada2173fbbd64d48338583ba."
            ),
            "{}",
            plan.rationale
        );
    }

    #[test]
    fn the_patch_carries_revision_resources_options_prune_and_reason() {
        let mut app = guestbook();
        app["status"]["operationState"]["phase"] = json!("Failed");
        app["status"]["resources"][1]["status"] = json!("OutOfSync");
        app["status"]["resources"]
            .as_array_mut()
            .unwrap()
            .push(json!(
                {"version": "v1", "kind": "ConfigMap", "namespace": "guestbook", "name": "old",
                 "status": "OutOfSync", "requiresPruning": true}
            ));
        let plan = plan(
            &app,
            &input(json!({
                "revision": "v1.2.3",
                "resources": [
                    {"kind": "deployment", "name": "guestbook-ui"},
                    {"kind": "Service", "name": "guestbook-ui", "namespace": "guestbook", "group": ""},
                    {"kind": "Deployment", "name": "guestbook-ui"}
                ],
                "prune": true,
                "sync_options": ["ServerSideApply=true"],
                "reason": "roll out the fixed image"
            })),
        )
        .unwrap();
        assert_eq!(
            plan.patch,
            json!([
                {"op": "test", "path": "/status/operationState/phase", "value": "Failed"},
                {"op": "add", "path": "/operation", "value": {
                    "initiatedBy": {"username": "guardian"},
                    "info": [{"name": "reason", "value": "roll out the fixed image"}],
                    "sync": {
                        "revision": "v1.2.3",
                        "prune": true,
                        "syncOptions": ["ServerSideApply=true"],
                        "resources": [
                            {"group": "apps", "kind": "Deployment", "name": "guestbook-ui", "namespace": "guestbook"},
                            {"group": "", "kind": "Service", "name": "guestbook-ui", "namespace": "guestbook"}
                        ]
                    }
                }}
            ])
        );
        assert_eq!(
            plan.what,
            "Sync Argo CD Application argocd/guestbook to revision v1.2.3: only Deployment \
             guestbook/guestbook-ui, Service guestbook/guestbook-ui; prune on: deletes what is \
             no longer in Git (ConfigMap guestbook/old); sync options ServerSideApply=true"
        );
        assert!(plan.rationale.ends_with("Reason: roll out the fixed image. Approving sets the Application's operation; Argo CD's controller runs the sync and records the result (argocd.status shows it)."), "{}", plan.rationale);
    }

    #[test]
    fn a_never_synced_app_is_pinned_by_its_uid() {
        let mut app = guestbook();
        app["status"]
            .as_object_mut()
            .unwrap()
            .remove("operationState");
        let plan = plan(&app, &input(json!({}))).unwrap();
        assert_eq!(
            plan.patch[0],
            json!({"op": "test", "path": "/metadata/uid", "value": "6f1f4c2e-2b0e-4d7c-9d8b-1c2e3f4a5b6c"})
        );
        assert_eq!(plan.patch[1]["op"], "add");
        assert_eq!(plan.patch.as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_running_or_requested_operation_refuses_the_sync() {
        let mut app = guestbook();
        app["status"]["operationState"] = json!({
            "operation": {"sync": {"revision": "abc123"}, "initiatedBy": {"username": "alice"}},
            "phase": "Running",
            "message": "waiting for healthy state of apps/Deployment/guestbook-ui",
            "startedAt": "2026-03-02T09:35:00Z"
        });
        let m = failed(plan(&app, &input(json!({}))));
        assert_eq!(
            m,
            "Application argocd/guestbook already has an operation running: sync to revision \
             abc123, initiated by alice (phase Running since 2026-03-02T09:35:00Z): waiting for \
             healthy state of apps/Deployment/guestbook-ui; wait for it to end (argocd.status \
             shows it), or terminate it in Argo CD, then propose the sync again"
        );
        app["status"]["operationState"]["phase"] = json!("Terminating");
        assert!(
            failed(plan(&app, &input(json!({})))).contains("already has an operation terminating")
        );

        let mut app = guestbook();
        app["operation"] =
            json!({"sync": {"revision": "abc123"}, "initiatedBy": {"automated": true}});
        let m = failed(plan(&app, &input(json!({}))));
        assert!(
            m.starts_with(
                "Application argocd/guestbook already has an operation requested that Argo CD has \
             not started yet: sync to revision abc123, started by automated sync"
            ),
            "{m}"
        );

        let mut app = guestbook();
        app["metadata"]["deletionTimestamp"] = json!("2026-03-02T09:59:00Z");
        assert!(failed(plan(&app, &input(json!({})))).contains("is being deleted"));
    }

    #[test]
    fn bad_input_names_the_field() {
        let app = guestbook();
        let m = invalid_input(plan(
            &app,
            &input(json!({"resources": [{"kind": "Deployment", "name": "web"}]})),
        ));
        assert_eq!(
            m,
            "resources[0]: Application argocd/guestbook has no resource Deployment web; its \
             resources: Service guestbook/guestbook-ui, Deployment guestbook/guestbook-ui"
        );
        let m = invalid_input(plan(
            &app,
            &input(json!({"sync_options": ["ServerSideApply=true", "prune"]})),
        ));
        assert!(
            m.starts_with("sync_options[1]: `prune` is not an Argo CD sync option"),
            "{m}"
        );
        let m = invalid_input(plan(&app, &input(json!({"revision": "main branch"}))));
        assert!(
            m.starts_with("revision: `main branch` contains whitespace"),
            "{m}"
        );
        let m = invalid_input(plan(&app, &input(json!({"resources": []}))));
        assert!(m.starts_with("resources: empty"), "{m}");
        let m = invalid_input(plan(
            &app,
            &input(json!({"resources": [{"kind": "", "name": "x"}]})),
        ));
        assert_eq!(m, "resources[0].kind: must not be empty");

        let mut multi = guestbook();
        multi["spec"].as_object_mut().unwrap().remove("source");
        multi["spec"]["sources"] =
            json!([{"repoURL": "a", "path": "x"}, {"repoURL": "b", "path": "y"}]);
        let m = invalid_input(plan(&multi, &input(json!({"revision": "main"}))));
        assert!(
            m.starts_with("revision: Application argocd/guestbook has 2 sources"),
            "{m}"
        );

        let mut fresh = guestbook();
        fresh["status"].as_object_mut().unwrap().remove("resources");
        let m = invalid_input(plan(
            &fresh,
            &input(json!({"resources": [{"kind": "Deployment", "name": "web"}]})),
        ));
        assert!(
            m.starts_with(
                "resources[0].group: Application argocd/guestbook lists no resources yet"
            ),
            "{m}"
        );
        let plan = plan(
            &fresh,
            &input(json!({"resources": [{"kind": "Deployment", "name": "web", "group": "apps"}]})),
        )
        .unwrap();
        assert_eq!(
            plan.patch[1]["value"]["sync"]["resources"],
            json!([{"group": "apps", "kind": "Deployment", "name": "web"}])
        );

        // Unknown fields are refused by the input type.
        let e = serde_json::from_value::<SyncInput>(
            json!({"name": "a", "namespace": "b", "force": true}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `force`"), "{e}");
        let e = serde_json::from_value::<SyncInput>(json!({"name": "a", "namespace": "b", "resources": [{"kind": "A", "name": "b", "version": "v1"}]})).unwrap_err();
        assert!(e.to_string().contains("unknown field `version`"), "{e}");
    }

    #[test]
    fn an_ambiguous_resource_asks_for_group_and_namespace() {
        let mut app = guestbook();
        app["status"]["resources"].as_array_mut().unwrap().push(json!(
            {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "other", "name": "guestbook-ui", "status": "Synced"}
        ));
        let m = invalid_input(plan(
            &app,
            &input(json!({"resources": [{"kind": "Deployment", "name": "guestbook-ui"}]})),
        ));
        assert!(m.contains("names several resources"), "{m}");
        let p = plan(&app, &input(json!({"resources": [{"kind": "Deployment", "name": "guestbook-ui", "namespace": "other"}]}))).unwrap();
        assert_eq!(
            p.patch[1]["value"]["sync"]["resources"][0]["namespace"],
            "other"
        );
    }
}
