//! The guarded apply: the one path that writes an approved action to the
//! cluster, and the check that settles an apply a crash interrupted.
//!
//! [`apply`] claims the action (approved → applying, exactly once across
//! processes), adds an operation that sets [`ACTION_ANNOTATION`] to the
//! action id, and sends the patch through [`Broker::apply_approved`] with the
//! action's resourceVersion as precondition: policy decides the real write
//! again, and an object that changed since the proposal is a conflict, so
//! nothing is written and the action fails as stale. Rollouts
//! (Deployment, StatefulSet, DaemonSet) are then watched, bounded, to record
//! whether the change left the workload healthy.
//!
//! [`preview_write`] is what a person is shown before approving: the exact
//! operations the apply will send, dry-run server-side against the object
//! as it is now, and the YAML diff of that.
//!
//! [`recover`] never re-applies: for an action left `applying` it reads the
//! object and weighs what survives (the annotation, the resourceVersion the
//! write returned, the object's resourceVersion, Guardian's managedFields
//! entry); when none of it settles the question the action ends `unknown`.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use guardian_broker::{Broker, BrokerError, CallContext, GrantSets, ResourceKind};
use serde_json::{Value, json};

use crate::{ACTION_ANNOTATION, Action, ActionError, ActionStore, ApplyOutcome, Health, State};

/// Why an action whose object changed after the proposal was not applied.
pub const STALE: &str = "stale: the object changed since it was proposed; re-propose";

/// Why an interrupted apply that never reached the cluster was failed.
pub const INTERRUPTED: &str = "the apply was interrupted before it reached the cluster; re-propose";

/// The field manager Guardian's writes are recorded under in
/// `metadata.managedFields`.
pub const FIELD_MANAGER: &str = guardian_broker::live::FIELD_MANAGER;

/// How an apply waits for a rollout.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// How long to wait for a Deployment, StatefulSet or DaemonSet to finish
    /// rolling out after the write (default 60 s). Zero: do not wait
    /// (health `unchecked`).
    pub rollout_timeout: Duration,
    /// How often to read the object while waiting (default 2 s).
    pub poll_interval: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            rollout_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_secs(2),
        }
    }
}

/// How [`recover`] leaves an `applying` action whose object does not carry
/// its annotation: only once its claim is this old. A live apply writes
/// within seconds of its claim; a younger claim may belong to a process
/// that is still applying, and failing it then could record `failed` for a
/// patch about to land.
pub const RECOVER_GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(120);

/// What [`apply`] did.
#[derive(Clone, Debug)]
pub struct ApplyReport {
    /// The action as it ended (`applied` or `failed`).
    pub action: Action,
    /// How it ended.
    pub outcome: ApplyOutcome,
    /// Whether this call sent the write (false when the object already
    /// carried the annotation, or the apply failed before writing).
    pub wrote: bool,
}

/// What [`recover`] found for one `applying` action.
#[derive(Clone, Debug)]
pub struct Recovered {
    /// The action as it now is (`applied`, `failed`, or still `applying`).
    pub action: Action,
    /// One line for the person: what was found.
    pub note: String,
}

/// Why an apply could not run or could not record its end.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The store refused (unknown id, not approved, already applied or being
    /// applied, expired) or failed.
    #[error(transparent)]
    Store(#[from] ActionError),
    /// The write may have reached the cluster but its result is unknown, and
    /// the object could not be read to find out; the action stays
    /// `applying` and [`recover`] settles it once the cluster answers.
    #[error(
        "action {id}: {error}; the write may or may not have landed and the object could not be read to check ({check}); the action stays applying until a later run checks the object's {ACTION_ANNOTATION} annotation"
    )]
    Unknown {
        id: String,
        error: BrokerError,
        check: BrokerError,
    },
}

/// Applies the approved action `id` (see the module docs). `who` is who is
/// applying (`human:alice`): the claim is recorded under it and it is the
/// caller policy sees. An apply that fails after the claim (stale object,
/// policy denial, API error) is recorded as `failed` and returned as a
/// report, not an error; errors are refusals of the store and writes whose
/// result is unknown.
pub async fn apply(
    store: &ActionStore,
    broker: &Broker,
    id: &str,
    who: &str,
) -> Result<ApplyReport, ApplyError> {
    apply_with(store, broker, id, who, &ApplyOptions::default()).await
}

/// [`apply`] with explicit rollout-wait options.
pub async fn apply_with(
    store: &ActionStore,
    broker: &Broker,
    id: &str,
    who: &str,
    options: &ApplyOptions,
) -> Result<ApplyReport, ApplyError> {
    if store.get(id)?.kind == crate::ActionKind::GitChange {
        return Ok(crate::git_apply::apply_git(store, broker, id, who).await?);
    }
    let claimed = store.claim_for_apply(id, who)?;
    let fail = |error: String| -> Result<ApplyReport, ApplyError> {
        let outcome = ApplyOutcome::Failed { error };
        let action = finish(store, id, outcome.clone())?;
        Ok(ApplyReport {
            action,
            outcome,
            wrote: false,
        })
    };
    if let Err(e) = claimed.verified_patch() {
        return fail(e.to_string());
    }
    let Some(action_ref) = claimed.action_ref() else {
        return fail("the action has no human approver; it cannot be applied".into());
    };
    let target = &claimed.target;
    let cx = context(who, &target.resource);
    let namespace = target.namespace.as_deref();
    let kind = match broker.resolve(&target.resource).await {
        Ok(k) => k,
        Err(e) => return fail(format!("cannot resolve {}: {e}", target.resource)),
    };
    let current = match broker.get(&cx, &kind, namespace, &target.name).await {
        Ok(o) => o,
        Err(e) => return fail(format!("cannot read {}: {e}", target.label())),
    };
    if claimed.landed_on(&current) {
        // An earlier run wrote it and did not record the end.
        let outcome = ApplyOutcome::Applied {
            health: Health::Unchecked,
            detail: format!(
                "already on the object ({ACTION_ANNOTATION}={id}); nothing written again"
            ),
        };
        let action = finish(store, id, outcome.clone())?;
        return Ok(ApplyReport {
            action,
            outcome,
            wrote: false,
        });
    }
    if current
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .is_some_and(|rv| rv != claimed.resource_version)
    {
        return fail(STALE.into());
    }
    let guarded = match write_operations(&claimed, &current) {
        Ok(ops) => ops,
        Err(e) => return fail(e.to_string()),
    };
    let result = broker
        .apply_approved(
            &cx,
            &action_ref,
            &kind,
            namespace,
            &target.name,
            &Value::Array(guarded),
            &claimed.resource_version,
        )
        .await;
    let applied = match result {
        Ok(object) => object,
        Err(BrokerError::Conflict(_)) => return fail(STALE.into()),
        Err(e @ (BrokerError::Denied(_) | BrokerError::Invalid(_) | BrokerError::NotFound(_))) => {
            // Refused before or by the server: nothing was written.
            return fail(e.to_string());
        }
        Err(e) => {
            // Unavailable, timeout, internal: the write may have landed.
            match broker.get(&cx, &kind, namespace, &target.name).await {
                Ok(object) if claimed.landed_on(&object) => object,
                Ok(_) => return fail(e.to_string()),
                Err(check) => {
                    return Err(ApplyError::Unknown {
                        id: id.to_owned(),
                        error: e,
                        check,
                    });
                }
            }
        }
    };
    // Proof that it landed, should this process die before recording the
    // end (the rollout wait can be long).
    if let Some(rv) = applied
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        && let Err(e) = store.record_written(id, rv)
    {
        tracing::warn!(
            action = id,
            "cannot record the written resourceVersion: {e}"
        );
    }
    let (health, detail) = if is_rollout(&kind) {
        wait_for_rollout(
            broker,
            &cx,
            &kind,
            namespace,
            &target.name,
            applied,
            options,
        )
        .await
    } else {
        (Health::Unchecked, "no rollout to wait for".to_owned())
    };
    let outcome = ApplyOutcome::Applied { health, detail };
    let action = finish(store, id, outcome.clone())?;
    Ok(ApplyReport {
        action,
        outcome,
        wrote: true,
    })
}

/// Settles every action left `applying` (a crash or kill during an apply),
/// never re-applying. The object is read and the evidence weighed in this
/// order ([`judge`]):
///
/// 1. the object carries [`ACTION_ANNOTATION`] = the id → `applied`;
/// 2. the write's returned resourceVersion was recorded → `applied`;
/// 3. the object's resourceVersion is still the proposal's → it did not
///    land → `failed` ([`INTERRUPTED`]);
/// 4. a `managedFields` entry of Guardian's field manager (operation
///    `Update`) dated at or after the claim (second resolution), which no
///    other action of this store on the same object explains → `applied`;
/// 5. otherwise → `unknown`: a person must check the object.
///
/// A claim younger than [`RECOVER_GRACE`] that only 3 or 5 would settle is
/// left `applying` (its process may still be writing), and so is an action
/// whose object cannot be read.
pub async fn recover(store: &ActionStore, broker: &Broker) -> Result<Vec<Recovered>, ActionError> {
    let mut out = Vec::new();
    let stuck = store.needs_check()?;
    if stuck.is_empty() {
        return Ok(out);
    }
    let all = store.list(None)?;
    for action in stuck {
        if action.kind == crate::ActionKind::GitChange {
            let (outcome, note) = crate::git_apply::judge_interrupted(&action, Utc::now());
            let action = match outcome {
                Some(outcome) => match store.finish_apply(&action.id, outcome) {
                    Ok(a) => a,
                    Err(ActionError::InvalidTransition { .. }) => store.get(&action.id)?,
                    Err(e) => return Err(e),
                },
                None => action,
            };
            out.push(Recovered { action, note });
            continue;
        }
        let target = &action.target;
        let cx = context("system:guardian", &target.resource);
        let read = match broker.resolve(&target.resource).await {
            Ok(kind) => {
                broker
                    .get(&cx, &kind, target.namespace.as_deref(), &target.name)
                    .await
            }
            Err(e) => Err(e),
        };
        let others: Vec<&Action> = all
            .iter()
            .filter(|a| a.id != action.id && a.target == action.target)
            .collect();
        let (outcome, note) = judge(&action, read, &others, Utc::now());
        let action = match outcome {
            Some(outcome) => match store.finish_apply(&action.id, outcome) {
                Ok(a) => a,
                // Another process finished it meanwhile.
                Err(ActionError::InvalidTransition { .. }) => store.get(&action.id)?,
                Err(e) => return Err(e),
            },
            None => action,
        };
        out.push(Recovered { action, note });
    }
    Ok(out)
}

/// What the evidence says about an `applying` action (see [`recover`]):
/// the outcome to record (`None`: leave it `applying`) and one line for the
/// person. `read` is the object now; `others` are the store's other actions
/// on the same object.
pub fn judge(
    action: &Action,
    read: Result<Value, BrokerError>,
    others: &[&Action],
    now: DateTime<Utc>,
) -> (Option<ApplyOutcome>, String) {
    let applied = |detail: String, note: String| {
        (
            Some(ApplyOutcome::Applied {
                health: Health::Unchecked,
                detail,
            }),
            note,
        )
    };
    let claimed_at = action.claimed_at();
    let young = claimed_at.is_some_and(|at| now - at < RECOVER_GRACE);
    let wait = || {
        (
            None,
            format!(
                "not settled yet: claimed less than {}s ago (another process may still be applying it); left applying",
                RECOVER_GRACE.num_seconds()
            ),
        )
    };
    let unknown = |detail: String| {
        (
            Some(ApplyOutcome::Unknown {
                detail: detail.clone(),
            }),
            format!(
                "cannot tell whether it landed ({detail}): recorded as unknown — check the object"
            ),
        )
    };
    let object = match read {
        Ok(o) => Some(o),
        Err(BrokerError::NotFound(_)) => None,
        Err(e) => {
            if let Some(rv) = &action.written_resource_version {
                return applied(
                    format!(
                        "the apply was interrupted after its write returned (resourceVersion {rv}); health not checked"
                    ),
                    format!(
                        "landed (its write returned resourceVersion {rv}): recorded as applied"
                    ),
                );
            }
            return (
                None,
                format!(
                    "cannot read {} to check ({e}); left applying",
                    action.target.label()
                ),
            );
        }
    };
    // 1. The annotation.
    if let Some(o) = &object
        && action.landed_on(o)
    {
        return applied(
            format!(
                "the apply was interrupted after it reached the cluster (the object carries {ACTION_ANNOTATION}={}); health not checked",
                action.id
            ),
            "landed (found the annotation): recorded as applied".to_owned(),
        );
    }
    // 2. The resourceVersion the write returned, recorded before the kill.
    if let Some(rv) = &action.written_resource_version {
        return applied(
            format!(
                "the apply was interrupted after its write returned (resourceVersion {rv}); the {ACTION_ANNOTATION} annotation was changed since; health not checked"
            ),
            format!("landed (its write returned resourceVersion {rv}): recorded as applied"),
        );
    }
    let Some(object) = object else {
        if young {
            return wait();
        }
        return unknown(format!(
            "{} no longer exists, so nothing on it tells whether the write landed before it was deleted",
            action.target.label()
        ));
    };
    // 3. Untouched since the proposal: the write never happened.
    let rv = object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if rv == action.resource_version {
        if young {
            return wait();
        }
        return (
            Some(ApplyOutcome::Failed {
                error: INTERRUPTED.into(),
            }),
            format!(
                "never reached the cluster (the object is still at the proposal's resourceVersion {rv}): recorded as failed"
            ),
        );
    }
    // 4. Guardian's managedFields entry, dated at or after the claim.
    if let Some(claimed) = claimed_at {
        let since = claimed.trunc_subsecs(0);
        if let Some(written) = guardian_write_time(&object).filter(|t| *t >= since) {
            let explained_by: Vec<&str> = others
                .iter()
                .filter(|o| {
                    o.claimed_at()
                        .is_some_and(|c| c.trunc_subsecs(0) <= written)
                        && o.finished_at().is_none_or(|f| f >= since)
                })
                .map(|o| o.id.as_str())
                .collect();
            let when = written.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            if explained_by.is_empty() {
                return applied(
                    format!(
                        "the apply was interrupted after it reached the cluster (from managedFields: {FIELD_MANAGER} wrote the object at {when}, after the claim); the {ACTION_ANNOTATION} annotation was changed since; health not checked"
                    ),
                    format!(
                        "landed (from managedFields: {FIELD_MANAGER} wrote the object at {when}, after the claim): recorded as applied"
                    ),
                );
            }
            if young {
                return wait();
            }
            return unknown(format!(
                "{FIELD_MANAGER} wrote {} at {when}, but {} of this store could have made that write too",
                action.target.label(),
                explained_by.join(", ")
            ));
        }
    }
    // 5. Changed since the proposal, by something that left no trace of us.
    if young {
        return wait();
    }
    unknown(format!(
        "{} changed since the proposal (resourceVersion {} then, {rv} now) and carries neither the {ACTION_ANNOTATION} annotation nor a write by {FIELD_MANAGER} after the claim",
        action.target.label(),
        action.resource_version
    ))
}

/// When Guardian's field manager last updated `object` (its
/// `managedFields` entry of operation `Update`, main resource).
fn guardian_write_time(object: &Value) -> Option<DateTime<Utc>> {
    object
        .pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .filter(|e| {
            e["manager"] == FIELD_MANAGER
                && e["operation"] == "Update"
                && e.get("subresource")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
        })
        .filter_map(|e| e["time"].as_str().and_then(crate::clock::parse))
        .max()
}

/// The operations the apply sends for `action` to `current` (the broker
/// puts a `test` of the resourceVersion in front of them): the stored patch,
/// checked against its sha256, then the one operation that sets
/// [`ACTION_ANNOTATION`] to the action id.
pub fn write_operations(action: &Action, current: &Value) -> Result<Vec<Value>, ActionError> {
    let patch = action.verified_patch()?;
    let Value::Array(mut ops) = patch else {
        return Err(ActionError::InvalidProposal(format!(
            "action {}: the stored patch is not a JSON Patch array",
            action.id
        )));
    };
    ops.push(annotation_op(current, &action.id));
    Ok(ops)
}

/// What a person approving an action is shown, computed now from the
/// bytes the apply will send ([`preview_write`]).
#[derive(Clone, Debug)]
pub struct Preview {
    /// The object's resourceVersion now (the proposal's: else the preview
    /// is refused as stale).
    pub resource_version: String,
    /// The exact operations the apply will send, after a `test` of the
    /// resourceVersion.
    pub operations: Vec<Value>,
    /// The YAML diff of the object now and after a server-side dry run of
    /// those operations.
    pub diff: String,
    /// One line about the dry run.
    pub dry_run: String,
}

/// Why a preview could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The object changed since the proposal, or is gone: the apply can
    /// never succeed.
    #[error("{STALE} ({0})")]
    Stale(String),
    /// The action cannot be approved (not verified, or its stored patch is
    /// not a patch).
    #[error(transparent)]
    Action(#[from] ActionError),
    /// The cluster could not be read, or refused the dry run.
    #[error("{what}: {error}")]
    Cluster { what: String, error: BrokerError },
}

/// The change `action` would make, computed now: the object is read, its
/// resourceVersion compared with the proposal's, and the exact operations
/// the apply will send ([`write_operations`], behind a `test` of the
/// resourceVersion) dry-run server-side through the broker, as `who`. The
/// action must be [`crate::Integrity::Verified`]. Nothing is written.
pub async fn preview_write(
    broker: &Broker,
    action: &Action,
    who: &str,
) -> Result<Preview, PreviewError> {
    if let Some(e) = action.integrity_error() {
        return Err(e.into());
    }
    let target = &action.target;
    let label = target.label();
    let mut cx = context(who, &target.resource);
    cx.tool = "actions.review".into();
    let namespace = target.namespace.as_deref();
    let kind = broker
        .resolve(&target.resource)
        .await
        .map_err(|error| PreviewError::Cluster {
            what: format!("cannot resolve {}", target.resource),
            error,
        })?;
    let current = match broker.get(&cx, &kind, namespace, &target.name).await {
        Ok(o) => o,
        Err(BrokerError::NotFound(_)) => {
            return Err(PreviewError::Stale(format!("{label} no longer exists")));
        }
        Err(error) => {
            return Err(PreviewError::Cluster {
                what: format!("cannot read {label}"),
                error,
            });
        }
    };
    let rv = current
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if rv != action.resource_version {
        return Err(PreviewError::Stale(format!(
            "{label} was at resourceVersion {} when proposed and is at {rv} now",
            action.resource_version
        )));
    }
    let operations = write_operations(action, &current)?;
    let mut guarded = vec![json!({
        "op": "test", "path": "/metadata/resourceVersion", "value": action.resource_version,
    })];
    guarded.extend(operations.iter().cloned());
    let after = broker
        .dry_run_patch(&cx, &kind, namespace, &target.name, &Value::Array(guarded))
        .await
        .map_err(|e| match e {
            BrokerError::Conflict(m) => PreviewError::Stale(m),
            error => PreviewError::Cluster {
                what: format!("the dry run of the patch on {label} failed"),
                error,
            },
        })?;
    Ok(Preview {
        diff: crate::yaml_diff(&label, &current, &after),
        dry_run: format!(
            "dry run accepted by {} now (object at resourceVersion {rv})",
            broker.describe()
        ),
        resource_version: rv,
        operations,
    })
}

/// Records the end; if another process (a concurrent [`recover`]) already
/// did, returns the action as it recorded it.
fn finish(store: &ActionStore, id: &str, outcome: ApplyOutcome) -> Result<Action, ActionError> {
    match store.finish_apply(id, outcome) {
        Ok(a) => Ok(a),
        Err(ActionError::InvalidTransition { .. }) => {
            let a = store.get(id)?;
            if a.state == State::Applying {
                Err(ActionError::InvalidTransition {
                    id: id.to_owned(),
                    state: a.state,
                    rule: "the apply's end could not be recorded",
                })
            } else {
                Ok(a)
            }
        }
        Err(e) => Err(e),
    }
}

/// Who the broker sees for the apply: `who`, reading anything and allowed
/// to write (with an approved action, which policy still checks) exactly
/// the target's resource.
fn context(who: &str, resource: &str) -> CallContext {
    CallContext {
        caller: who.to_owned(),
        skill: "guardian".into(),
        tool: "actions.apply".into(),
        grants: GrantSets {
            read: vec!["*".into()],
            propose: vec![resource.to_owned()],
        },
        scope: Default::default(),
    }
}

/// The operation that records the action id on the object: adds the
/// annotation, creating `/metadata/annotations` if the object has none.
fn annotation_op(object: &Value, id: &str) -> Value {
    if object
        .pointer("/metadata/annotations")
        .is_some_and(Value::is_object)
    {
        let key = ACTION_ANNOTATION.replace('~', "~0").replace('/', "~1");
        json!({"op": "add", "path": format!("/metadata/annotations/{key}"), "value": id})
    } else {
        json!({"op": "add", "path": "/metadata/annotations", "value": {ACTION_ANNOTATION: id}})
    }
}

fn is_rollout(kind: &ResourceKind) -> bool {
    kind.group == "apps"
        && matches!(
            kind.kind.as_str(),
            "Deployment" | "StatefulSet" | "DaemonSet"
        )
}

/// Polls the object until its rollout is complete or the timeout passes.
async fn wait_for_rollout(
    broker: &Broker,
    cx: &CallContext,
    kind: &ResourceKind,
    namespace: Option<&str>,
    name: &str,
    mut object: Value,
    options: &ApplyOptions,
) -> (Health, String) {
    if options.rollout_timeout.is_zero() {
        return (Health::Unchecked, "did not wait for the rollout".into());
    }
    let started = std::time::Instant::now();
    let deadline = started + options.rollout_timeout;
    let mut last_error = None;
    loop {
        let (done, status) = rollout_status(&kind.kind, &object);
        if done {
            return (
                Health::Healthy,
                format!(
                    "rollout complete after {}s: {status}",
                    started.elapsed().as_secs()
                ),
            );
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            let mut detail = format!(
                "rollout not complete after {}s: {status}",
                options.rollout_timeout.as_secs()
            );
            if let Some(e) = last_error {
                detail.push_str(&format!(" (last read failed: {e})"));
            }
            return (Health::Degraded, detail);
        }
        tokio::time::sleep(options.poll_interval.min(deadline - now)).await;
        match broker.get(cx, kind, namespace, name).await {
            Ok(o) => {
                object = o;
                last_error = None;
            }
            Err(e) => last_error = Some(e),
        }
    }
}

/// Whether a workload finished rolling out, and its status in one line.
pub fn rollout_status(kind: &str, object: &Value) -> (bool, String) {
    let int = |path: &str| object.pointer(path).and_then(Value::as_i64);
    let generation = int("/metadata/generation").unwrap_or(0);
    let observed = int("/status/observedGeneration").unwrap_or(0);
    let (desired, updated, available) = match kind {
        "DaemonSet" => (
            int("/status/desiredNumberScheduled").unwrap_or(0),
            int("/status/updatedNumberScheduled").unwrap_or(0),
            int("/status/numberAvailable").unwrap_or(0),
        ),
        _ => (
            int("/spec/replicas").unwrap_or(1),
            int("/status/updatedReplicas").unwrap_or(0),
            int("/status/availableReplicas").unwrap_or(0),
        ),
    };
    let done = observed >= generation && updated == desired && available == desired;
    let status = format!(
        "observedGeneration {observed}/generation {generation}, {updated} updated and {available} available of {desired} desired"
    );
    (done, status)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use guardian_broker::{Audit, Policy};

    use super::*;
    use crate::{Approver, Channel, ManualClock, Proposal, Proposer, StoreOptions, Target};

    fn staging() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/staging")
    }

    fn snapshot_broker(audit: Arc<Audit>) -> Broker {
        Broker::snapshot(&staging(), Arc::new(Policy::defaults().unwrap()), audit)
            .unwrap()
            .0
    }

    fn proposal() -> Proposal {
        Proposal {
            target: Target {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                namespace: Some("staging".into()),
                name: "search".into(),
                resource: "deployments.apps".into(),
            },
            patch: br#"[{"op":"replace","path":"/spec/template/spec/containers/0/resources/limits/memory","value":"512Mi"}]"#.to_vec(),
            resource_version: "6123071".into(),
            rationale: "search is OOMKilled".into(),
            proposer: Proposer {
                caller: "agent".into(),
                skill: "diagnostics".into(),
                tool: "analyze".into(),
            },
            ..Proposal::default()
        }
    }

    fn alice() -> Approver {
        Approver::checked(Channel::Cli, "alice").unwrap()
    }

    #[tokio::test]
    async fn a_snapshot_cannot_be_changed_and_the_action_fails() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Arc::new(Audit::memory());
        let store = ActionStore::open(&dir.path().join("actions.db"), audit.clone()).unwrap();
        let broker = snapshot_broker(audit.clone());
        let id = store.propose(proposal()).unwrap().id;
        // Not approved: not applied, not even claimed.
        let err = apply(&store, &broker, &id, "human:alice")
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("a person must approve it first"),
            "{err}"
        );
        store.approve(&id, &alice(), "").unwrap();
        let report = apply(&store, &broker, &id, "human:alice").await.unwrap();
        assert!(!report.wrote);
        assert_eq!(report.action.state, State::Failed);
        let ApplyOutcome::Failed { error } = &report.outcome else {
            panic!("{:?}", report.outcome)
        };
        assert!(
            error.contains("read-only: a snapshot cannot be changed"),
            "{error}"
        );
        // Policy allowed the write (approved by a person); the backend refused.
        let lines = audit.lines();
        let write = lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|l| l["verb"] == "patch" && l["dry_run"] == false)
            .expect("the apply decision is audited");
        assert_eq!(write["rule"], "approved-action");
        assert_eq!(write["error"], "invalid");
    }

    #[tokio::test]
    async fn recover_fails_an_old_unlanded_claim_and_leaves_a_young_one() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Arc::new(Audit::memory());
        let path = dir.path().join("actions.db");
        let broker = snapshot_broker(audit.clone());
        // Claimed ten minutes ago, by a process that then died.
        let clock = Arc::new(ManualClock::new(
            Utc::now() - chrono::TimeDelta::minutes(10),
        ));
        let old = ActionStore::open_with(
            &path,
            audit.clone(),
            StoreOptions {
                clock,
                ..StoreOptions::default()
            },
        )
        .unwrap();
        let stale_id = old.propose(proposal()).unwrap().id;
        old.approve(&stale_id, &alice(), "").unwrap();
        old.claim_for_apply(&stale_id, "human:alice").unwrap();
        // Claimed just now (maybe still being applied elsewhere).
        let store = ActionStore::open(&path, audit.clone()).unwrap();
        let young_id = store.propose(proposal()).unwrap().id;
        store.approve(&young_id, &alice(), "").unwrap();
        store.claim_for_apply(&young_id, "human:alice").unwrap();

        let recovered = recover(&store, &broker).await.unwrap();
        assert_eq!(recovered.len(), 2);
        let stale = store.get(&stale_id).unwrap();
        assert_eq!(stale.state, State::Failed);
        assert!(stale.outcome.unwrap().contains(INTERRUPTED));
        assert_eq!(store.get(&young_id).unwrap().state, State::Applying);
        // Never re-applied: no write was even asked for.
        assert!(
            !audit
                .lines()
                .iter()
                .any(|l| l.contains(r#""verb":"patch""#)),
            "recover must not write"
        );
    }

    /// An action claimed at `at`, in a fresh store.
    fn claimed(at: chrono::DateTime<Utc>) -> (tempfile::TempDir, ActionStore, Action) {
        let dir = tempfile::tempdir().unwrap();
        let store = ActionStore::open_with(
            &dir.path().join("actions.db"),
            Arc::new(Audit::Off),
            StoreOptions {
                clock: Arc::new(ManualClock::new(at)),
                ..StoreOptions::default()
            },
        )
        .unwrap();
        let id = store.propose(proposal()).unwrap().id;
        store.approve(&id, &alice(), "").unwrap();
        let action = store.claim_for_apply(&id, "human:alice").unwrap();
        (dir, store, action)
    }

    fn now() -> chrono::DateTime<Utc> {
        "2030-01-02T03:20:00Z".parse().unwrap()
    }

    fn claim_time() -> chrono::DateTime<Utc> {
        "2030-01-02T03:10:00.700Z".parse().unwrap()
    }

    /// The object after someone else changed it: resourceVersion 999, the
    /// annotation someone else's, and `managed` as managedFields.
    fn changed(managed: Value) -> Value {
        json!({"metadata": {
            "resourceVersion": "999",
            "annotations": {ACTION_ANNOTATION: "someone-else"},
            "managedFields": managed,
        }})
    }

    fn guardian_entry(time: &str) -> Value {
        json!({"manager": "guardian", "operation": "Update", "apiVersion": "apps/v1", "time": time})
    }

    #[test]
    fn recovery_weighs_the_evidence_in_order() {
        let (_d, store, action) = claimed(claim_time());
        let verdict = |a: &Action, read: Result<Value, BrokerError>, at| {
            let (outcome, note) = judge(a, read, &[], at);
            (outcome.map(|o| o.summary()), note)
        };
        // 1. The annotation.
        let landed = json!({"metadata": {"resourceVersion": "999",
            "annotations": {ACTION_ANNOTATION: action.id.clone()}}});
        let (o, note) = verdict(&action, Ok(landed), now());
        assert!(o.unwrap().starts_with("applied:"), "{note}");
        // 3. Untouched since the proposal: failed, unless the claim is young.
        let untouched = json!({"metadata": {"resourceVersion": "6123071"}});
        let (o, _) = verdict(&action, Ok(untouched.clone()), now());
        assert!(o.unwrap().contains(INTERRUPTED));
        let (o, note) = verdict(
            &action,
            Ok(untouched),
            claim_time() + chrono::TimeDelta::seconds(5),
        );
        assert_eq!(o, None, "{note}");
        // 4. Guardian's managedFields entry at or after the claim (same
        //    second: the entry has no fractions).
        let (o, note) = verdict(
            &action,
            Ok(changed(json!([guardian_entry("2030-01-02T03:10:00Z")]))),
            now(),
        );
        let o = o.unwrap();
        assert!(
            o.starts_with("applied:") && o.contains("from managedFields"),
            "{o}"
        );
        assert!(note.contains("from managedFields"), "{note}");
        // …but not one from before the claim, nor another manager's, nor
        // a subresource's: unknown, never failed.
        for managed in [
            json!([guardian_entry("2030-01-02T03:09:59Z")]),
            json!([{"manager": "kubectl-annotate", "operation": "Update", "time": "2030-01-02T03:15:00Z"}]),
            json!([{"manager": "guardian", "operation": "Update", "subresource": "status", "time": "2030-01-02T03:15:00Z"}]),
            json!([]),
        ] {
            let (o, note) = verdict(&action, Ok(changed(managed.clone())), now());
            let o = o.unwrap();
            assert!(
                o.starts_with("unknown — check the object:"),
                "{managed}: {o}"
            );
            assert!(note.contains("recorded as unknown"), "{note}");
        }
        // Gone: unknown. Unreadable: left applying.
        let (o, _) = verdict(&action, Err(BrokerError::NotFound("gone".into())), now());
        assert!(o.unwrap().contains("no longer exists"));
        let (o, note) = verdict(&action, Err(BrokerError::Unavailable("down".into())), now());
        assert_eq!(o, None, "{note}");
        // 2. The resourceVersion the write returned settles it, even with
        //    the annotation changed and no managedFields.
        store.record_written(&action.id, "998").unwrap();
        let written = store.get(&action.id).unwrap();
        assert_eq!(written.written_resource_version.as_deref(), Some("998"));
        let (o, note) = verdict(&written, Ok(changed(json!([]))), now());
        assert!(o.unwrap().contains("resourceVersion 998"), "{note}");
    }

    #[test]
    fn a_guardian_write_another_action_explains_is_unknown() {
        let (_d, store, action) = claimed(claim_time());
        // Another action on the same object, claimed too and still
        // applying: its write could be the one managedFields shows.
        let other_id = store.propose(proposal()).unwrap().id;
        store.approve(&other_id, &alice(), "").unwrap();
        let other = store.claim_for_apply(&other_id, "human:bob").unwrap();
        let object = changed(json!([guardian_entry("2030-01-02T03:10:30Z")]));
        let (o, _) = judge(&action, Ok(object.clone()), &[&other], now());
        let o = o.unwrap().summary();
        assert!(o.starts_with("unknown") && o.contains(&other_id), "{o}");
        // Without it, the same object says applied.
        let (o, _) = judge(&action, Ok(object), &[], now());
        assert!(o.unwrap().summary().starts_with("applied"));
    }

    #[test]
    fn rollout_is_complete_only_when_observed_updated_and_available() {
        let deployment = |observed: i64, updated: i64, available: i64| {
            json!({
                "metadata": {"generation": 3},
                "spec": {"replicas": 2},
                "status": {"observedGeneration": observed, "updatedReplicas": updated,
                           "availableReplicas": available}
            })
        };
        assert!(rollout_status("Deployment", &deployment(3, 2, 2)).0);
        assert!(!rollout_status("Deployment", &deployment(2, 2, 2)).0);
        assert!(!rollout_status("Deployment", &deployment(3, 1, 2)).0);
        assert!(!rollout_status("Deployment", &deployment(3, 2, 1)).0);
        let ds = json!({
            "metadata": {"generation": 1},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": 3,
                       "updatedNumberScheduled": 3, "numberAvailable": 3}
        });
        assert!(rollout_status("DaemonSet", &ds).0);
    }

    #[test]
    fn annotation_is_added_or_created() {
        let with = json!({"metadata": {"annotations": {"a": "b"}}});
        assert_eq!(
            annotation_op(&with, "act-x"),
            json!({"op": "add", "path": "/metadata/annotations/guardian.dev~1action-id", "value": "act-x"})
        );
        let without = json!({"metadata": {"name": "x"}});
        assert_eq!(
            annotation_op(&without, "act-x"),
            json!({"op": "add", "path": "/metadata/annotations", "value": {"guardian.dev/action-id": "act-x"}})
        );
    }
}
