//! The session's propose-only sink for the runtime: a skill's
//! `actions.propose` lands here, and here only proposes.
//!
//! A proposal for an object a GitOps tool manages (Argo CD's tracking-id
//! annotation) becomes a Git change to the Application's source when the
//! source can be located and Git is configured (`gitops:`); otherwise it is
//! the cluster patch, and the reply says self-heal may revert it.

use std::sync::Arc;

use guardian_actions::{ActionStore, Proposer};
use guardian_broker::{Broker, CallContext, ObjectRef};
use guardian_runtime::{Proposals, ProposeRefusal};
use serde_json::{Value, json};

use crate::gitops::Managed;

/// Proposals into an action store: dry run, pending action, nothing more.
pub struct StoreProposals {
    store: Arc<ActionStore>,
    /// Where Argo CD Applications live (config `argocd.namespaces`).
    argocd_namespaces: Vec<String>,
    /// Git is configured: a GitOps-managed target is proposed in Git.
    git: bool,
}

impl StoreProposals {
    pub fn new(store: Arc<ActionStore>) -> Self {
        Self {
            store,
            argocd_namespaces: vec!["argocd".into()],
            git: false,
        }
    }

    /// Proposals on GitOps-managed objects go to Git (Applications read in
    /// `argocd_namespaces`).
    pub fn with_gitops(mut self, argocd_namespaces: Vec<String>, git: bool) -> Self {
        self.argocd_namespaces = argocd_namespaces;
        self.git = git;
        self
    }

    /// What manages `target`: the Argo CD Application its tracking-id
    /// annotation names, when one of the configured namespaces holds it,
    /// or the Flux applier its labels name.
    async fn managing_app(
        &self,
        broker: &Broker,
        cx: &CallContext,
        target: &ObjectRef,
    ) -> Option<Managed> {
        let kind = broker.resolve(&target.kind).await.ok()?;
        let object = broker
            .get(cx, &kind, target.namespace.as_deref(), &target.name)
            .await
            .ok()?;
        if let Some((kind, ns, name)) = crate::flux::applier_of(&object) {
            return crate::gitops::flux_managed(broker, cx, kind, &ns, &name)
                .await
                .ok();
        }
        let tracking = object
            .pointer("/metadata/annotations")?
            .get("argocd.argoproj.io/tracking-id")?
            .as_str()?;
        let app = tracking.split(':').next()?;
        let (app_ns, app_name) = match app.split_once('_') {
            Some((ns, name)) => (Some(ns.to_owned()), name.to_owned()),
            None => (None, app.to_owned()),
        };
        let apps = broker.resolve("applications.argoproj.io").await.ok()?;
        let namespaces: Vec<String> = match app_ns {
            Some(ns) if self.argocd_namespaces.contains(&ns) => vec![ns],
            Some(_) => return None,
            None => self.argocd_namespaces.clone(),
        };
        for ns in namespaces {
            if let Ok(app) = broker.get(cx, &apps, Some(&ns), &app_name).await {
                return Some(Managed::application(app));
            }
        }
        None
    }
}

#[async_trait::async_trait]
impl Proposals for StoreProposals {
    async fn propose(
        &self,
        broker: &Broker,
        cx: &CallContext,
        target: &ObjectRef,
        json_patch: &str,
        rationale: &str,
    ) -> Result<String, ProposeRefusal> {
        let proposer = Proposer {
            caller: cx.caller.clone(),
            skill: cx.skill.clone(),
            tool: cx.tool.clone(),
        };
        if self.git
            && let Ok(patch) = serde_json::from_str::<Value>(json_patch)
        {
            let host = CallContext::host_for(&cx.caller, "gitops.propose");
            if let Some(app) = self.managing_app(broker, &host, target).await
                && let Ok(kind) = broker.resolve(&target.kind).await
            {
                let dry = broker
                    .dry_run_patch(cx, &kind, target.namespace.as_deref(), &target.name, &patch)
                    .await;
                if let Err(e) = &dry {
                    return Err(ProposeRefusal {
                        kind: e.kind_str().to_owned(),
                        message: format!("the server-side dry run refused the change: {e}"),
                    });
                }
                let finding = json!({"id": format!("proposal/{}/{}", target.kind.to_ascii_lowercase(), target.name),
                                     "reason": "Proposed", "root_cause": rationale, "evidence": []});
                let fix = json!({"json_patch": patch, "description": rationale,
                                 "dry_run": {"result": "passed"}});
                let t = guardian_actions::Target {
                    api_version: target.api_version.clone(),
                    kind: kind.kind.clone(),
                    namespace: target.namespace.clone(),
                    name: target.name.clone(),
                    resource: kind.grant_name(),
                };
                match crate::gitops::propose_in_git(
                    &self.store,
                    broker,
                    &host,
                    proposer.clone(),
                    &app,
                    &finding,
                    &fix,
                    t,
                )
                .await
                {
                    Ok(action) => return Ok(action.id),
                    Err(e) => {
                        tracing::warn!(
                            "{} {} is managed by {} but the change cannot go to Git ({e}); proposing the cluster patch, which may be reverted",
                            target.kind,
                            target.name,
                            app.display()
                        );
                        // The person approving reads why on the action.
                        let rationale = format!(
                            "{rationale} (Not proposed in Git: {e}; {} manages {} {}, and may revert this patch.)",
                            app.display(),
                            target.kind,
                            target.name
                        );
                        return self
                            .propose_patch(broker, cx, target, json_patch, &rationale, proposer)
                            .await;
                    }
                }
            }
        }
        self.propose_patch(broker, cx, target, json_patch, rationale, proposer)
            .await
    }
}

impl StoreProposals {
    /// The cluster patch: dry run, pending action.
    async fn propose_patch(
        &self,
        broker: &Broker,
        cx: &CallContext,
        target: &ObjectRef,
        json_patch: &str,
        rationale: &str,
        proposer: Proposer,
    ) -> Result<String, ProposeRefusal> {
        guardian_actions::propose(
            &self.store,
            broker,
            cx,
            target,
            json_patch,
            rationale,
            proposer,
        )
        .await
        .map(|action| action.id)
        .map_err(|e| ProposeRefusal {
            kind: e.kind_str().to_owned(),
            message: e.to_string(),
        })
    }
}
