//! The GitOps act path: a fix on an object an Argo CD Application (or a
//! Flux Kustomization, `flux.rs`) manages lands in Git, as a change to the manifest the object comes from — a
//! branch and a pull request once a person approves — instead of a patch
//! the Application's self-heal would revert.
//!
//! [`propose_in_git`] reads the Application's source (repository, revision,
//! path, kustomize/helm settings), fetches the repository at that revision
//! through the broker, locates the object's source and edits it without
//! damage (`guardian-gitops`), checks that the edited tree still renders,
//! and stores a Git change action: the exact files, bound to the repository
//! and the base commit. When the source cannot be located the caller keeps
//! the cluster patch, with the warning that self-heal will revert it.
//!
//! [`complete_image_fixes`] answers the question an image that cannot be
//! pulled leaves open — which tag? — from the registry: the repository's
//! tags (every page, with the pod's pull secrets), the existing tag closest
//! to the broken one and the newest stable version, as a fix with evidence.

use guardian_actions::{ActionStore, GitChange, GitFile, GitOpsApp, Proposal, Proposer, Target};
use guardian_broker::{Broker, BrokerError, CallContext};
use serde_json::{Value, json};

/// Why a fix was not proposed as a Git change.
#[derive(Debug, thiserror::Error)]
pub enum GitProposeError {
    /// The object's source in Git cannot be located or edited (a chart
    /// from a chart repository, a field the Helm values do not map, an
    /// object no manifest defines): the cluster patch stays, with the
    /// warning that self-heal will revert it.
    #[error("{0}")]
    NotLocatable(String),
    /// Git, the Application or the store could not be reached or refused.
    #[error("{0}")]
    Failed(String),
}

/// What the Application says about where its manifests come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppSourceInfo {
    pub repo_url: String,
    pub target_revision: String,
    pub path: String,
    pub helm_value_files: Vec<String>,
    pub recurse: bool,
    pub destination_namespace: Option<String>,
    pub automated: bool,
}

/// Reads the Git source of an Application object (`spec.source`, or the
/// first of `spec.sources` that names a path).
pub fn app_source(app: &Value) -> Result<AppSourceInfo, GitProposeError> {
    let spec = &app["spec"];
    let name = app["metadata"]["name"].as_str().unwrap_or("?");
    let source = if spec["source"].is_object() {
        &spec["source"]
    } else {
        spec["sources"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["path"].is_string()))
            .ok_or_else(|| {
                GitProposeError::NotLocatable(format!(
                    "Application {name} has no source with a path in a Git repository"
                ))
            })?
    };
    if source["chart"].is_string() && !source["path"].is_string() {
        return Err(GitProposeError::NotLocatable(format!(
            "Application {name} deploys the Helm chart {} from the chart repository {}: the change belongs in that chart's release or in the Application's helm values, not in a Git path",
            source["chart"].as_str().unwrap_or("?"),
            source["repoURL"].as_str().unwrap_or("?")
        )));
    }
    let repo_url = source["repoURL"].as_str().unwrap_or("").to_owned();
    if repo_url.is_empty() {
        return Err(GitProposeError::NotLocatable(format!(
            "Application {name} names no repoURL"
        )));
    }
    let automated = spec["syncPolicy"]["automated"].is_object()
        && spec["syncPolicy"]["automated"]["enabled"].as_bool() != Some(false);
    Ok(AppSourceInfo {
        repo_url,
        target_revision: source["targetRevision"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("HEAD")
            .to_owned(),
        path: source["path"].as_str().unwrap_or(".").to_owned(),
        helm_value_files: source["helm"]["valueFiles"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        recurse: source["directory"]["recurse"].as_bool() == Some(true),
        destination_namespace: spec["destination"]["namespace"].as_str().map(str::to_owned),
        automated,
    })
}

/// What manages an object, read: an Argo CD Application, or a Flux
/// Kustomization or HelmRelease (with its GitRepository).
#[derive(Clone, Debug)]
pub struct Managed {
    /// `argocd` or `flux`.
    pub tool: String,
    /// `Application`, `Kustomization`, `HelmRelease`.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// The object itself.
    pub object: Value,
    /// A Flux Kustomization's GitRepository.
    pub repository: Option<Value>,
}

impl Managed {
    /// An Argo CD Application object.
    pub fn application(app: Value) -> Self {
        Managed {
            tool: "argocd".into(),
            kind: "Application".into(),
            namespace: app["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            name: app["metadata"]["name"].as_str().unwrap_or("").to_owned(),
            object: app,
            repository: None,
        }
    }

    /// `Application argocd/web`, `Flux Kustomization flux-system/shop`.
    pub fn display(&self) -> String {
        match self.tool.as_str() {
            "flux" => format!("Flux {} {}/{}", self.kind, self.namespace, self.name),
            _ => format!("Application {}/{}", self.namespace, self.name),
        }
    }

    /// Where its manifests are in Git.
    pub fn source_info(&self) -> Result<AppSourceInfo, GitProposeError> {
        match self.tool.as_str() {
            "flux" => crate::flux::source_info(&self.kind, &self.object, self.repository.as_ref()),
            _ => app_source(&self.object),
        }
    }
}

/// The commit message: what changes and why, with the evidence.
fn commit_message(finding: &Value, fix: &Value, target: &Target) -> String {
    let mut m = format!(
        "{}/{}: {}\n\n",
        target.kind.to_ascii_lowercase(),
        target.name,
        first_sentence(fix["description"].as_str().unwrap_or("fix"))
    );
    m.push_str(&format!(
        "Finding: {} ({})\n",
        finding["id"].as_str().unwrap_or("?"),
        finding["reason"].as_str().unwrap_or("?")
    ));
    if let Some(root) = finding["root_cause"].as_str().or(finding["cause"].as_str()) {
        m.push_str(&format!("Root cause: {root}\n"));
    }
    let evidence = evidence_lines(finding);
    if !evidence.is_empty() {
        m.push_str("\nEvidence:\n");
        for e in evidence.iter().take(8) {
            m.push_str(&format!("- {e}\n"));
        }
    }
    m.push_str("\nProposed by Guardian; applied after a person's approval.\n");
    m
}

fn first_sentence(s: &str) -> String {
    let line = s.lines().next().unwrap_or(s).trim();
    let cut: String = line.chars().take(72).collect();
    cut.trim_end_matches('.').to_owned()
}

fn evidence_lines(finding: &Value) -> Vec<String> {
    finding["evidence"]
        .as_array()
        .map(|ev| {
            ev.iter()
                .filter_map(|e| {
                    let text = e["text"].as_str().or(e["detail"].as_str())?;
                    let source = e["source"].as_str().or(e["kind"].as_str()).unwrap_or("");
                    Some(if source.is_empty() {
                        text.to_owned()
                    } else {
                        format!("{source}: {text}")
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The pull request's body: the root cause, the evidence, the YAML diff
/// and the checks.
fn pr_body(finding: &Value, diff: &str, checks: &str, explanation: &str) -> String {
    let mut b = String::from("## Root cause\n\n");
    b.push_str(
        finding["root_cause"]
            .as_str()
            .or(finding["cause"].as_str())
            .unwrap_or("(not determined)"),
    );
    b.push_str("\n\n## Evidence\n\n");
    for e in evidence_lines(finding).iter().take(12) {
        b.push_str(&format!("- {e}\n"));
    }
    b.push_str(&format!("\n## Where the change lands\n\n{explanation}\n"));
    b.push_str(&format!("\n## Change\n\n```diff\n{diff}```\n"));
    b.push_str(&format!("\n## Checks\n\n{checks}\n"));
    b.push_str(&format!(
        "\nFinding `{}`. Proposed by Guardian, approved by a person before this pull request was opened.\n",
        finding["id"].as_str().unwrap_or("?")
    ));
    b
}

/// Proposes `fix` (a cluster patch whose dry run passed, on an object an
/// Argo CD Application manages) as a Git change to the Application's
/// source. `app` is the Application object.
#[allow(clippy::too_many_arguments)]
pub async fn propose_in_git(
    store: &ActionStore,
    broker: &Broker,
    cx: &CallContext,
    proposer: Proposer,
    app: &Managed,
    finding: &Value,
    fix: &Value,
    target: Target,
) -> Result<guardian_actions::Action, GitProposeError> {
    let src = app.source_info()?;
    let checkout = broker
        .git_fetch(cx, &src.repo_url, &src.target_revision)
        .await
        .map_err(|e| GitProposeError::Failed(format!("cannot fetch {}: {e}", src.repo_url)))?;
    let source = guardian_gitops::AppSource {
        path: src.path.clone(),
        kind: None,
        recurse: src.recurse,
        helm_value_files: src.helm_value_files.clone(),
        destination_namespace: src.destination_namespace.clone(),
    };
    let object = guardian_gitops::ObjectId {
        api_version: target.api_version.clone(),
        kind: target.kind.clone(),
        namespace: target.namespace.clone(),
        name: target.name.clone(),
    };
    let change = guardian_gitops::Change {
        json_patch: fix["json_patch"].clone(),
        description: fix["description"].as_str().unwrap_or("").to_owned(),
    };
    // A pull request merges into a branch: an Application that tracks a
    // tag or a commit has none to propose into.
    let Some(base_branch) = checkout.branch.clone() else {
        return Err(GitProposeError::NotLocatable(format!(
            "{} tracks {} of {}, which is not a branch: a pull request needs a branch to merge into",
            app.display(),
            src.target_revision,
            src.repo_url
        )));
    };
    let edit =
        guardian_gitops::edit(checkout.dir.path(), &source, &object, &change).map_err(|e| {
            GitProposeError::NotLocatable(format!(
                "{e} ({}: {} at {}, path {}, destination namespace {})",
                app.display(),
                src.repo_url,
                short(&checkout.commit),
                if src.path.is_empty() { "." } else { &src.path },
                src.destination_namespace.as_deref().unwrap_or("(none)")
            ))
        })?;
    let render = match &edit.render {
        guardian_gitops::Render::Rendered { objects, .. } => format!(
            "the edited manifests render ({objects} objects from {}{})",
            if src.path.is_empty() { "." } else { &src.path },
            match edit.kind {
                guardian_gitops::SourceKind::Kustomize => ", built with kubectl kustomize",
                guardian_gitops::SourceKind::Helm => ", helm values",
                guardian_gitops::SourceKind::Directory => ", plain YAML",
            }
        ),
        guardian_gitops::Render::Failed { error } => {
            return Err(GitProposeError::NotLocatable(format!(
                "the edited manifests do not render: {error}"
            )));
        }
        guardian_gitops::Render::NotChecked { why } => {
            format!("the edited manifests were not rendered: {why}")
        }
    };
    let dry_run = match fix["dry_run"]["result"].as_str() {
        Some("passed") => format!(
            "server-side dry run of the same change on the live {} {}: passed",
            target.kind, target.name
        ),
        other => format!(
            "server-side dry run of the same change on the live object: {}",
            other.unwrap_or("not made")
        ),
    };
    let checks = format!("- {render}\n- {dry_run}");
    let git = GitChange {
        repo_url: src.repo_url.clone(),
        base_branch,
        base_commit: checkout.commit.clone(),
        files: edit
            .files
            .iter()
            .map(|f| GitFile {
                path: f.path.clone(),
                before: f.before.clone(),
                after: f.after.clone(),
            })
            .collect(),
        message: commit_message(finding, fix, &target),
        body: String::new(),
        app: Some(GitOpsApp {
            tool: app.tool.clone(),
            kind: (app.tool == "flux").then(|| app.kind.clone()),
            namespace: app.namespace.clone(),
            name: app.name.clone(),
            automated: src.automated,
        }),
    };
    let diff = git.diff();
    let git = GitChange {
        body: pr_body(finding, &diff, &checks, &edit.explanation),
        ..git
    };
    let rationale = match finding["root_cause"].as_str().or(finding["cause"].as_str()) {
        Some(why) => format!(
            "{why}. Fix in Git ({}): {}",
            edit.explanation,
            fix["description"].as_str().unwrap_or("")
        ),
        None => fix["description"].as_str().unwrap_or("").to_owned(),
    };
    let proposal = Proposal {
        target,
        patch: git.to_payload(),
        resource_version: checkout.commit.clone(),
        rationale,
        proposer,
        dry_run_result: checks,
        diff,
        policy_decision: "a branch and a pull request, pushed only as a human-approved action (policy: approved-action)".into(),
        ttl: None,
    };
    store
        .propose(proposal)
        .map_err(|e| GitProposeError::Failed(e.to_string()))
}

/// What a finding's `managed_by` names — the Argo CD Application, or the
/// Flux Kustomization or HelmRelease and its GitRepository — read through
/// the broker.
pub async fn managing_app(
    broker: &Broker,
    cx: &CallContext,
    finding: &Value,
) -> Option<Result<Managed, BrokerError>> {
    let owner = &finding["managed_by"];
    let name = owner["application"].as_str()?;
    let namespace = owner["application_namespace"].as_str()?;
    match owner["tool"].as_str()? {
        "argocd" => {
            let kind = match broker.resolve("applications.argoproj.io").await {
                Ok(k) => k,
                Err(e) => return Some(Err(e)),
            };
            Some(
                broker
                    .get(cx, &kind, Some(namespace), name)
                    .await
                    .map(Managed::application),
            )
        }
        "flux" => {
            let kind = owner["kind"].as_str().unwrap_or("Kustomization").to_owned();
            Some(flux_managed(broker, cx, &kind, namespace, name).await)
        }
        _ => None,
    }
}

/// The Flux applier `kind` `namespace/name`, read with its GitRepository.
pub async fn flux_managed(
    broker: &Broker,
    cx: &CallContext,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Managed, BrokerError> {
    let (object, repository) = crate::flux::read(broker, cx, kind, namespace, name).await?;
    Ok(Managed {
        tool: "flux".into(),
        kind: kind.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        object,
        repository,
    })
}

/// The container a needs-input image fix is about: the first `` `name` ``
/// of its description.
fn container_of(fix: &Value) -> Option<String> {
    let d = fix["description"].as_str()?;
    let start = d.find('`')? + 1;
    let len = d[start..].find('`')?;
    Some(d[start..start + len].to_owned())
}

/// Where a workload kind keeps its pod template.
fn template_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => Some("/spec/template"),
        "CronJob" => Some("/spec/jobTemplate/spec/template"),
        _ => None,
    }
}

/// `tag` of `image` (`repo:tag`, not a digest): `None` without one.
fn tag_of(image: &str) -> Option<&str> {
    if image.contains('@') {
        return None;
    }
    let last = image.rsplit('/').next()?;
    last.split_once(':').map(|(_, t)| t)
}

/// Fills in, from the registry, the tag a "tag that does not exist" image
/// fix needs: for each finding whose root cause says the tag does not exist
/// in the registry, the repository's tags are read through the broker (with
/// the pod template's pull secrets), and the needs-input fix becomes a
/// patch to the closest existing tag (dry-run now), with the evidence. A
/// registry that cannot be asked leaves the fix as it was, saying why in
/// `registry_error`. Returns how many fixes were completed.
/// `cx` asks the registry (and reads the workload); `dry_run` is who the
/// dry run of the completed fix is made as (the diagnostics skill, within
/// its propose grants).
pub async fn complete_image_fixes(
    broker: &Broker,
    cx: &CallContext,
    dry_run: &CallContext,
    report: &mut Value,
) -> usize {
    let mut done = 0;
    let Some(findings) = report["findings"].as_array_mut() else {
        return 0;
    };
    for finding in findings {
        let reason = finding["reason"].as_str().unwrap_or("");
        if !matches!(reason, "ImagePullBackOff" | "ErrImagePull") {
            continue;
        }
        let root = finding["root_cause"].as_str().unwrap_or("").to_owned();
        if !root.contains("does not exist in the registry") {
            continue;
        }
        let mut new_evidence = Vec::new();
        let Some(fixes) = finding["fixes"].as_array_mut() else {
            continue;
        };
        for fix in fixes.iter_mut() {
            if fix["requires_input"].as_bool() != Some(true) || fix["json_patch"].is_array() {
                continue;
            }
            if !fix["kubectl"].as_str().unwrap_or("").contains(":<tag>") {
                continue;
            }
            match complete_one(broker, cx, dry_run, fix).await {
                Ok(evidence) => {
                    done += 1;
                    new_evidence.extend(evidence);
                }
                Err(e) => fix["registry_error"] = json!(e),
            }
        }
        if let Some(ev) = finding["evidence"].as_array_mut() {
            for (reference, text) in new_evidence {
                ev.push(json!({"ref": reference, "source": "registry", "text": text}));
            }
        }
    }
    done
}

async fn complete_one(
    broker: &Broker,
    cx: &CallContext,
    dry_run_cx: &CallContext,
    fix: &mut Value,
) -> Result<Vec<(String, String)>, String> {
    let t = fix["target"].clone();
    let kind_name = t["kind"].as_str().unwrap_or("");
    let name = t["name"].as_str().unwrap_or("");
    let namespace = t["namespace"].as_str();
    let pointer = template_pointer(kind_name)
        .ok_or_else(|| format!("{kind_name} has no pod template to set an image in"))?;
    let container = container_of(fix).ok_or("the fix names no container")?;
    let kind = broker.resolve(kind_name).await.map_err(|e| e.to_string())?;
    let object = broker
        .get(cx, &kind, namespace, name)
        .await
        .map_err(|e| format!("cannot read {kind_name} {name}: {e}"))?;
    let template = object
        .pointer(pointer)
        .ok_or("the object has no pod template")?;
    let containers = template["spec"]["containers"]
        .as_array()
        .ok_or("the pod template has no containers")?;
    let (index, image) = containers
        .iter()
        .enumerate()
        .find(|(_, c)| c["name"].as_str() == Some(container.as_str()))
        .and_then(|(i, c)| Some((i, c["image"].as_str()?.to_owned())))
        .ok_or_else(|| format!("container {container} is not in the pod template"))?;
    let broken = tag_of(&image)
        .ok_or_else(|| format!("image {image} names no tag"))?
        .to_owned();
    let secrets: Vec<String> = template["spec"]["imagePullSecrets"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|s| s["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let tags = broker
        .registry_tags(cx, &image, namespace.unwrap_or("default"), &secrets)
        .await
        .map_err(|e| e.to_string())?;
    let suggestion = guardian_broker::suggest_tags(&broken, &tags.tags);
    let chosen = suggestion
        .closest
        .clone()
        .or(suggestion.newest_stable.clone())
        .ok_or_else(|| {
            format!(
                "the registry {} lists no tag for {} to choose instead of {broken}",
                tags.registry, tags.repository
            )
        })?;
    let repo = &image[..image.len() - broken.len() - 1];
    let new_image = format!("{repo}:{chosen}");
    let path = format!("{pointer}/spec/containers/{index}");
    let patch = json!([
        {"op": "test", "path": format!("{path}/name"), "value": container},
        {"op": "test", "path": format!("{path}/image"), "value": image},
        {"op": "replace", "path": format!("{path}/image"), "value": new_image},
    ]);
    let dry = broker
        .dry_run_patch(dry_run_cx, &kind, namespace, name, &patch)
        .await;
    let reference = format!("Registry {}/{}", tags.registry, tags.repository);
    let pages = if tags.pages > 1 {
        format!(" ({} pages)", tags.pages)
    } else {
        String::new()
    };
    let mut evidence = vec![if tags.truncated {
        format!(
            "registry {} lists at least {} tags for {}{pages}, cut at registries.max_pages: tag {broken} is not among those read, and later pages were not read",
            tags.registry,
            tags.tags.len(),
            tags.repository,
        )
    } else {
        format!(
            "registry {} lists {} tags for {}{pages}; tag {broken} is not among them",
            tags.registry,
            tags.tags.len(),
            tags.repository,
        )
    }];
    evidence.extend(suggestion.evidence.iter().cloned());
    let evidence = evidence
        .into_iter()
        .map(|text| (reference.clone(), text))
        .collect();
    let newest = match &suggestion.newest_stable {
        Some(n) if *n != chosen => format!("; the newest stable version is {n}"),
        _ => String::new(),
    };
    fix["description"] = json!(format!(
        "Set the image of container `{container}` to `{new_image}`: {chosen} is the existing tag closest to the missing {broken}{newest}"
    ));
    fix["json_patch"] = patch.clone();
    fix["requires_input"] = json!(false);
    fix["kubectl"] = json!(format!(
        "kubectl set image {}/{name}{} {container}={new_image}",
        kind_name.to_ascii_lowercase(),
        namespace.map(|n| format!(" -n {n}")).unwrap_or_default()
    ));
    fix["dry_run"] = match dry {
        Ok(_) => json!({"result": "passed"}),
        Err(e) => json!({"result": "failed", "error": e.to_string()}),
    };
    fix["registry"] = json!({
        "registry": tags.registry,
        "repository": tags.repository,
        "tags": tags.tags.len(),
        "closest": suggestion.closest,
        "newest_stable": suggestion.newest_stable,
    });
    Ok(evidence)
}

/// What following a submitted Git change found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FollowReport {
    /// The action as it now is.
    pub action: guardian_actions::Action,
    /// `open`, `merged`, `closed`.
    pub pull_request: String,
    /// The Argo CD sync proposed after the merge, when the Application does
    /// not sync by itself (a person approves it like any action).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_action: Option<String>,
    /// The verification after the merge (and the sync).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<crate::argocd::Verification>,
    /// One paragraph: where it stands and what comes next.
    pub summary: String,
}

impl crate::Session {
    /// Follows the submitted Git change `id`: reads its pull request; once
    /// merged, records the merge commit, proposes the Argo CD sync of that
    /// revision when the Application does not sync automatically (and waits
    /// for a person to approve it), then verifies the Application reaches
    /// the merge commit, Synced and Healthy, and settles the action:
    /// `applied` when verified, `failed` when the pull request was closed or
    /// the sync failed or degraded; still `submitted` while it waits.
    pub async fn follow_action(
        &self,
        caller: &str,
        id: &str,
        verify_timeout: Option<std::time::Duration>,
        on_transition: &(dyn Fn(&crate::argocd::Transition) + Send + Sync),
    ) -> Result<FollowReport, crate::ServiceError> {
        use crate::{ErrorClass, ServiceError};
        use guardian_actions::{ApplyOutcome, FollowError, Health, PullRequestCheck, State};
        let store = self.store()?;
        let broker = self.broker()?;
        let (action, check) = guardian_actions::check_pull_request(store, broker, id, caller)
            .await
            .map_err(|e| match e {
                FollowError::Store(e) => ServiceError::from(e),
                FollowError::Forge { .. } => {
                    ServiceError::new(ErrorClass::Unavailable, e.to_string())
                }
            })?;
        let url = action
            .git
            .as_ref()
            .and_then(|g| g.pull_request_url.clone())
            .unwrap_or_default();
        let merge_commit = match check {
            PullRequestCheck::Open { url } => {
                return Ok(FollowReport {
                    action,
                    pull_request: "open".into(),
                    sync_action: None,
                    verification: None,
                    summary: format!(
                        "the pull request {url} is open: it waits for review and merge; follow again after the merge"
                    ),
                });
            }
            PullRequestCheck::Closed => {
                return Ok(FollowReport {
                    summary: format!(
                        "the pull request {url} was closed without a merge: the action failed; nothing changed in the cluster"
                    ),
                    action,
                    pull_request: "closed".into(),
                    sync_action: None,
                    verification: None,
                });
            }
            PullRequestCheck::Merged { merge_commit } => merge_commit,
        };
        let change = action.verified_git_change()?.ok_or_else(|| {
            ServiceError::new(
                ErrorClass::InvalidArgument,
                format!("action {id} is not a Git change"),
            )
        })?;
        let Some(app) = change.app.clone() else {
            let action = store.settle_submitted(
                id,
                caller,
                ApplyOutcome::Applied {
                    health: Health::Unchecked,
                    detail: format!("merged as {merge_commit}; no GitOps application to verify"),
                },
            )?;
            return Ok(FollowReport {
                summary: format!("merged as {merge_commit}; no Application to sync or verify"),
                action,
                pull_request: "merged".into(),
                sync_action: None,
                verification: None,
            });
        };
        if app.tool == "flux" {
            return self
                .follow_flux(
                    caller,
                    id,
                    &app,
                    &merge_commit,
                    &url,
                    verify_timeout,
                    on_transition,
                )
                .await;
        }
        let mut sync_action = action.git.as_ref().and_then(|g| g.sync_action.clone());
        if !app.automated {
            match &sync_action {
                None => {
                    let proposed = self
                        .argocd_app(
                            caller,
                            crate::argocd::SYNC,
                            &app.name,
                            Some(&app.namespace),
                            json!({"revision": merge_commit, "reason": format!("Guardian action {id}: pull request merged")}),
                        )
                        .await?;
                    let sid = proposed["action_id"].as_str().unwrap_or("").to_owned();
                    let mut progress = action.git.clone().unwrap_or_default();
                    progress.sync_action = Some(sid.clone());
                    let action = store.record_git(id, &progress)?;
                    return Ok(FollowReport {
                        summary: format!(
                            "merged as {merge_commit}; Application {}/{} does not sync automatically, so its sync is proposed as {sid}: approve it (guardian actions approve {sid}), then follow again",
                            app.namespace, app.name
                        ),
                        action,
                        pull_request: "merged".into(),
                        sync_action: Some(sid),
                        verification: None,
                    });
                }
                Some(sid) => {
                    let sync = store.get(sid)?;
                    match sync.state {
                        State::Applied => {}
                        State::Pending | State::Approved | State::Applying => {
                            return Ok(FollowReport {
                                summary: format!(
                                    "merged as {merge_commit}; the sync {sid} is {}: approve it, then follow again",
                                    sync.state
                                ),
                                action,
                                pull_request: "merged".into(),
                                sync_action: sync_action.take(),
                                verification: None,
                            });
                        }
                        other => {
                            return Ok(FollowReport {
                                summary: format!(
                                    "merged as {merge_commit}; the sync {sid} is {other}: sync the Application another way (guardian argocd sync {}), then follow again",
                                    app.name
                                ),
                                action,
                                pull_request: "merged".into(),
                                sync_action: sync_action.take(),
                                verification: None,
                            });
                        }
                    }
                }
            }
        }
        let request = crate::argocd::VerifyRequest {
            name: app.name.clone(),
            namespace: Some(app.namespace.clone()),
            revision: Some(merge_commit.clone()),
            timeout: verify_timeout,
            interval: None,
        };
        let verification = self.argocd_verify(caller, &request, on_transition).await?;
        let healthy = format!(
            "merged as {merge_commit} ({url}); Application {}/{} Synced and Healthy at it",
            app.namespace, app.name
        );
        settle_merged(
            store,
            caller,
            id,
            &merge_commit,
            verification,
            (Health::Healthy, healthy),
            sync_action,
        )
    }
}

/// Settles a merged Git change on its verification: `applied` with
/// `health` when verified, still `submitted` when it timed out (follow
/// again), `failed` otherwise.
fn settle_merged(
    store: &ActionStore,
    caller: &str,
    id: &str,
    merge_commit: &str,
    verification: crate::argocd::Verification,
    (health, detail): (guardian_actions::Health, String),
    sync_action: Option<String>,
) -> Result<FollowReport, crate::ServiceError> {
    use crate::argocd::Outcome;
    use guardian_actions::ApplyOutcome;
    let (action, summary) = match verification.outcome {
        Outcome::Verified => (
            store.settle_submitted(id, caller, ApplyOutcome::Applied { health, detail })?,
            format!("merged as {merge_commit}; {}", verification.summary),
        ),
        Outcome::TimedOut => (
            store.get(id)?,
            format!(
                "merged as {merge_commit}; not verified yet: {}; follow again",
                verification.summary
            ),
        ),
        _ => (
            store.settle_submitted(
                id,
                caller,
                ApplyOutcome::Failed {
                    error: format!("merged as {merge_commit}, but {}", verification.summary),
                },
            )?,
            format!("merged as {merge_commit}, but {}", verification.summary),
        ),
    };
    Ok(FollowReport {
        action,
        pull_request: "merged".into(),
        sync_action,
        verification: Some(verification),
        summary,
    })
}

impl crate::Session {
    /// After the merge of a change to a Flux Kustomization's source: Flux
    /// reconciles by itself, so there is no sync to propose; verify that
    /// it applied the merge commit and is Ready, and settle the action.
    #[allow(clippy::too_many_arguments)]
    async fn follow_flux(
        &self,
        caller: &str,
        id: &str,
        app: &GitOpsApp,
        merge_commit: &str,
        url: &str,
        verify_timeout: Option<std::time::Duration>,
        on_transition: &(dyn Fn(&crate::argocd::Transition) + Send + Sync),
    ) -> Result<FollowReport, crate::ServiceError> {
        use guardian_actions::Health;
        let store = self.store()?;
        let checked = self
            .flux_verify(
                caller,
                app.kind.as_deref().unwrap_or("Kustomization"),
                &app.namespace,
                &app.name,
                merge_commit,
                verify_timeout,
                on_transition,
            )
            .await?;
        let health = if checked.health_checked {
            Health::Healthy
        } else {
            Health::Unchecked
        };
        let detail = format!(
            "merged as {merge_commit} ({url}); {}",
            checked.verification.summary
        );
        settle_merged(
            store,
            caller,
            id,
            merge_commit,
            checked.verification,
            (health, detail),
            None,
        )
    }
}

/// What the skill's `drift` says when it has no Git to compare with; the
/// host replaces it once it compared.
const NO_GIT_NOTE: &str = " The field-level difference with Git (git_diff) needs the GitOps source, which is not configured yet: read the live objects (cluster.get) to see their current state.";

impl crate::Session {
    /// Adds to `argocd.drift`'s output (`drift`) the field-level difference
    /// between each resource as Git renders it (the repository at the
    /// revision Argo CD compared, or the target revision) and the live
    /// object: only fields Git sets are compared, so what the server
    /// defaults and `status` never count. Needs the repository in the
    /// config's `gitops.repositories`; what could not be compared is said in
    /// `git_diff_error` or per resource, never left out silently.
    pub async fn add_git_diff(&self, caller: &str, drift: &mut Value) {
        if self.config().gitops.repositories.is_empty() {
            return;
        }
        let Ok(broker) = self.broker() else { return };
        let cx = CallContext::host_for(caller, "argocd.drift");
        match git_diff(broker, &cx, drift).await {
            Ok((diff, note)) => {
                drift["git_diff"] = diff;
                if let Some(n) = drift["note"].as_str() {
                    drift["note"] = json!(format!("{} {note}", n.replace(NO_GIT_NOTE, "")));
                }
            }
            Err(e) => {
                drift["git_diff_error"] = json!(e);
                if let Some(n) = drift["note"].as_str() {
                    drift["note"] = json!(format!(
                        "{} The field-level difference with Git could not be computed: {e}",
                        n.replace(NO_GIT_NOTE, "")
                    ));
                }
            }
        }
    }
}

async fn git_diff(
    broker: &Broker,
    cx: &CallContext,
    drift: &Value,
) -> Result<(Value, String), String> {
    let ns = drift["app"]["namespace"]
        .as_str()
        .ok_or("the drift names no Application namespace")?;
    let name = drift["app"]["name"]
        .as_str()
        .ok_or("the drift names no Application")?;
    let apps = broker
        .resolve("applications.argoproj.io")
        .await
        .map_err(|e| e.to_string())?;
    let app = broker
        .get(cx, &apps, Some(ns), name)
        .await
        .map_err(|e| format!("cannot read Application {ns}/{name}: {e}"))?;
    let src = app_source(&app).map_err(|e| e.to_string())?;
    // The revision Argo CD compared with, else the one it tracks.
    let revision = app["status"]["sync"]["revision"]
        .as_str()
        .filter(|r| !r.is_empty())
        .unwrap_or(&src.target_revision)
        .to_owned();
    let checkout = broker
        .git_fetch(cx, &src.repo_url, &revision)
        .await
        .map_err(|e| format!("cannot fetch {} at {revision}: {e}", src.repo_url))?;
    let source = guardian_gitops::AppSource {
        path: src.path.clone(),
        kind: None,
        recurse: src.recurse,
        helm_value_files: src.helm_value_files.clone(),
        destination_namespace: src.destination_namespace.clone(),
    };
    let rendered = guardian_gitops::render(checkout.dir.path(), &source)
        .map_err(|e| format!("cannot render {} at {revision}: {e}", src.path))?;
    let resources = app["status"]["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut differing = 0;
    for r in &resources {
        let kind = r["kind"].as_str().unwrap_or("");
        let rname = r["name"].as_str().unwrap_or("");
        let rns = r["namespace"].as_str().filter(|n| !n.is_empty());
        let label = match rns {
            Some(n) => format!("{kind} {n}/{rname}"),
            None => format!("{kind} {rname}"),
        };
        let in_git = rendered.iter().find(|o| {
            o["kind"].as_str() == Some(kind)
                && o["metadata"]["name"].as_str() == Some(rname)
                && match (o["metadata"]["namespace"].as_str(), rns) {
                    (Some(a), Some(b)) => a == b,
                    (None, Some(b)) => src.destination_namespace.as_deref() == Some(b),
                    (_, None) => true,
                }
        });
        let Some(in_git) = in_git else {
            out.push(json!({"resource": label, "error": format!("not in what {} renders at {}", if src.path.is_empty() { "." } else { &src.path }, short(&checkout.commit))}));
            continue;
        };
        let live = match broker.resolve(kind).await {
            Ok(k) => broker.get(cx, &k, rns, rname).await,
            Err(e) => Err(e),
        };
        match live {
            Ok(live) => {
                let fields: Vec<Value> = guardian_gitops::field_diff(in_git, &live)
                    .into_iter()
                    .map(|d| json!({"path": d.path, "git": d.git, "live": d.live}))
                    .collect();
                if !fields.is_empty() {
                    differing += 1;
                }
                out.push(json!({"resource": label, "fields": fields}));
            }
            Err(e) => out.push(
                json!({"resource": label, "error": format!("cannot read the live object: {e}")}),
            ),
        }
    }
    let unread = out.iter().filter(|o| o.get("error").is_some()).count();
    let note = format!(
        "Compared with Git ({} at {}, {}): {} of {} resources differ in the fields Git sets{}.",
        src.repo_url,
        short(&checkout.commit),
        if src.path.is_empty() { "." } else { &src.path },
        differing,
        resources.len() - unread,
        if unread > 0 {
            format!("; {unread} could not be compared (see git_diff)")
        } else {
            String::new()
        }
    );
    Ok((
        json!({"repository": src.repo_url, "revision": checkout.commit, "path": src.path, "resources": out}),
        note,
    ))
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_applications_source_is_read() {
        let app = json!({"metadata": {"name": "web", "namespace": "argocd"},
            "spec": {"source": {"repoURL": "http://127.0.0.1:1/deploy.git", "path": "apps/web",
                                "targetRevision": "main", "helm": {"valueFiles": ["values-prod.yaml"]}},
                     "destination": {"namespace": "shop"},
                     "syncPolicy": {"automated": {"selfHeal": true}}}});
        let s = app_source(&app).unwrap();
        assert_eq!(s.repo_url, "http://127.0.0.1:1/deploy.git");
        assert_eq!(s.path, "apps/web");
        assert_eq!(s.target_revision, "main");
        assert_eq!(s.helm_value_files, ["values-prod.yaml"]);
        assert_eq!(s.destination_namespace.as_deref(), Some("shop"));
        assert!(s.automated);
        let chart = json!({"metadata": {"name": "redis"}, "spec": {"source": {
            "repoURL": "https://charts.example.com", "chart": "redis", "targetRevision": "1.0.0"}}});
        let err = app_source(&chart).unwrap_err().to_string();
        assert!(
            err.contains("Helm chart redis from the chart repository"),
            "{err}"
        );
        let multi = json!({"metadata": {"name": "m"}, "spec": {"sources": [
            {"repoURL": "https://charts.example.com", "chart": "x"},
            {"repoURL": "http://git/x.git", "path": "k8s"}]}});
        let s = app_source(&multi).unwrap();
        assert_eq!(
            (
                s.repo_url.as_str(),
                s.path.as_str(),
                s.target_revision.as_str()
            ),
            ("http://git/x.git", "k8s", "HEAD")
        );
    }

    #[test]
    fn tags_and_containers_are_read_from_fixes() {
        assert_eq!(tag_of("127.0.0.1:5000/shop/web:1.2.0"), Some("1.2.0"));
        assert_eq!(tag_of("127.0.0.1:5000/shop/web"), None);
        assert_eq!(tag_of("web@sha256:abc"), None);
        let fix = json!({"description": "Set the image of container `web` to a tag that exists in the registry"});
        assert_eq!(container_of(&fix).as_deref(), Some("web"));
    }
}
