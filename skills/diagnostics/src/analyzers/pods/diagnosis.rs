//! The search for a failing group's root cause: what the analyzer knows of
//! the group while it looks ([`Diagnosis`]), the order in which the
//! explanations are tried (most specific first), and the finding it leaves.
//! Each family of explanations and fixes has its own file: `probes.rs`,
//! `image.rs`, `memory.rs`, `scheduling.rs`, `config.rs`.

use serde_json::Value;

use crate::analyzers::patterns::{self, Kind};
use crate::analyzers::refs::{self, Issue};
use crate::analyzers::template::{ReplicaSets, Revision, Template};
use crate::ctx::Scope;
use crate::finding::{Evidence, Finding, Fix, ObjRef, Source};
use crate::fix;
use crate::model::{Container, ContainerStatus, Pod};
use crate::reasons as r;

use super::cause::Counts;
use super::events::EventIndex;
use super::log::Log;

/// One failing group while its root cause is looked for: the worst pod and
/// its failing container, what was read about them, and the finding being
/// built, with the root cause and fixes found so far.
pub(super) struct Diagnosis<'a, 's> {
    pub(super) scope: &'a Scope<'s>,
    pub(super) events: &'a EventIndex<'a>,
    pub(super) replicasets: &'a ReplicaSets<'a>,
    pub(super) workload: &'a ObjRef,
    /// Where the workload keeps the pod template fixes patch.
    pub(super) template: Option<&'a Template<'a>>,
    /// The worst pod of the group.
    pub(super) rep: &'a Pod,
    /// Its failing container: name, spec and status.
    pub(super) container: Option<&'a str>,
    pub(super) spec_container: Option<&'a Container>,
    pub(super) status: Option<&'a ContainerStatus>,
    /// The failing container's log (empty when none was read).
    pub(super) log: &'a Log,
    pub(super) reason: &'static str,
    pub(super) counts: Counts,
    pub(super) finding: &'a mut Finding,
    pub(super) root: Option<String>,
    pub(super) fixes: Vec<Fix>,
}

impl<'a> Diagnosis<'a, '_> {
    /// Looks for the root cause, the most specific explanation first, and
    /// keeps the fixes of the one found. Spec evidence (revisions, probes,
    /// resources, nodes) is added on the way. `status` is what the worst
    /// pod's status shows; `issues` the references of its spec that do not
    /// resolve and matter for this reason.
    pub(super) fn find_root(&mut self, status: &str, issues: &[&Issue]) {
        let log = self.log;
        let events = self.events;
        if self.workload.kind == "Deployment" {
            self.revision_evidence();
        }
        let probe = self.probe_check(&log.matches);
        match self.reason {
            r::OOM_KILLED => self.oom(&log.text),
            r::IMAGE_PULL_BACK_OFF | r::INVALID_IMAGE_NAME => self.image(events),
            r::UNSCHEDULABLE => self.unschedulable(status, issues),
            _ => {}
        }
        // Config references, linked to the log when it names a variable.
        if self.root.is_none() {
            self.config_root(issues, &log.matches, &log.reference);
        }
        if self.root.is_none()
            && let Some((root, fixes)) = probe
        {
            self.root = Some(root);
            self.fixes.extend(fixes);
        }
        if self.root.is_none()
            && matches!(
                self.reason,
                r::PROBE_FAILING | r::CRASH_LOOP_BACK_OFF | r::CONTAINER_FAILING
            )
        {
            self.probe_path(events, self.status, &log.text);
        }
        // Common failures with a fix of their own.
        let specific: [fn(&mut Self); 4] = [
            Self::slow_start,
            Self::exec_format,
            Self::read_only_root,
            Self::bad_flag,
        ];
        for find in specific {
            if self.root.is_none() {
                find(self);
            }
        }
        let fallbacks: [fn(&mut Self); 5] = [
            Self::unhealthy_root,
            Self::liveness_root,
            Self::log_root,
            Self::kubelet_root,
            Self::eviction_root,
        ];
        for fallback in fallbacks {
            if self.root.is_none() {
                fallback(self);
            }
        }
    }

    /// Sets the finding's root cause and fixes. A bare Pod's spec is
    /// immutable: no patch is proposed for it, and the evidence says why.
    pub(super) fn finish(self) {
        let Diagnosis {
            scope,
            workload,
            rep,
            finding,
            root,
            mut fixes,
            ..
        } = self;
        if workload.kind == "Pod" {
            let note = "the Pod has no controller and a Pod's spec is immutable: no patch is proposed; fix the manifest it was created from and re-create it";
            fixes.retain(|f| f.target.kind != "Pod");
            finding.evidence.push(Evidence::new(
                Source::Spec,
                format!("Pod {}/{}", scope.namespace, rep.metadata.name),
                note,
            ));
        }
        if let Some(root) = root {
            finding.root_cause = Some(root);
        }
        finding.fixes = fixes;
    }

    /// The failing container's name (empty for a pod-level problem).
    fn cname(&self) -> &'a str {
        self.container.unwrap_or("")
    }

    /// A probe keeps failing: the kubelet's last `Unhealthy` event says how.
    fn unhealthy_root(&mut self) {
        if self.reason != r::PROBE_FAILING {
            return;
        }
        if let Some(e) = self
            .events
            .of("Pod", &self.rep.metadata.name)
            .iter()
            .rev()
            .find(|e| e.reason.as_deref() == Some("Unhealthy"))
        {
            self.root = Some(format!(
                "the probe of container `{}` of {} fails: {}",
                self.cname(),
                self.workload.display(),
                e.message.as_deref().unwrap_or("")
            ));
        }
    }

    /// The kubelet kills a container whose liveness probe fails.
    fn liveness_root(&mut self) {
        if !matches!(self.reason, r::CRASH_LOOP_BACK_OFF | r::CONTAINER_FAILING) {
            return;
        }
        if let Some(e) = self
            .events
            .of("Pod", &self.rep.metadata.name)
            .iter()
            .rev()
            .find(|e| {
                e.reason.as_deref() == Some("Unhealthy")
                    && e.message.as_deref().is_some_and(|m| {
                        m.starts_with("Liveness probe failed")
                            || m.starts_with("Startup probe failed")
                    })
            })
        {
            self.root = Some(format!(
                "the kubelet restarts container `{}` of {} because its probe fails: {}",
                self.cname(),
                self.workload.display(),
                e.message.as_deref().unwrap_or("")
            ));
        }
    }

    /// The most telling line of the log of a container that exits.
    fn log_root(&mut self) {
        let log = self.log;
        let telling = patterns::most_telling(&log.matches, 1);
        let Some(m) = telling.first() else {
            return;
        };
        if !matches!(
            self.reason,
            r::CRASH_LOOP_BACK_OFF
                | r::CONTAINER_FAILING
                | r::INIT_CONTAINER_FAILING
                | r::CREATE_CONTAINER_ERROR
        ) {
            return;
        }
        if m.kind == Kind::UsageError && self.usage_root(m) {
            return;
        }
        let (cname, wl) = (self.cname(), self.workload.display());
        self.root = Some(match (m.kind, m.target.as_deref()) {
            (Kind::MissingModule, Some(module)) => format!(
                "container `{cname}` of {wl} exits at startup because module `{module}` is not in its image{}: `{}`",
                self.spec_container
                    .and_then(|c| c.image.as_deref())
                    .map(|i| format!(" `{i}`"))
                    .unwrap_or_default(),
                patterns::quote(m, 200)
            ),
            _ => format!(
                "container `{cname}` of {wl} fails with {}: `{}`",
                m.kind.label(),
                patterns::quote(m, 200)
            ),
        });
        self.host_path_link(m);
    }

    /// What the kubelet says when it cannot create the container.
    fn kubelet_root(&mut self) {
        if !matches!(
            self.reason,
            r::CREATE_CONTAINER_CONFIG_ERROR | r::CREATE_CONTAINER_ERROR
        ) {
            return;
        }
        if let Some(msg) = self
            .status
            .and_then(|c| c.state.waiting.as_ref())
            .and_then(|w| w.message.clone())
        {
            self.root = Some(format!(
                "the kubelet cannot create container `{}` of {}: {msg}",
                self.cname(),
                self.workload.display()
            ));
        }
    }

    /// Pods evicted under node pressure, and whether replacements run.
    fn eviction_root(&mut self) {
        if self.reason != r::EVICTED {
            return;
        }
        let Counts { failing, ready, .. } = self.counts;
        let msg = self.rep.status.message.as_deref().unwrap_or("").trim();
        self.root = Some(format!(
            "the kubelet evicted {failing} {} of {} under node pressure: {msg}{}",
            self.counts.pods_word(),
            self.workload.display(),
            if ready > 0 {
                " (their replacements run; the Failed pods are left over until deleted)"
            } else {
                ""
            }
        ));
    }

    /// Current and previous ReplicaSet of the workload (a Deployment).
    pub(super) fn revisions(&self) -> (Option<Revision<'a>>, Option<Revision<'a>>) {
        match self.scope.find("deployments.apps", &self.workload.name) {
            Some(d) if self.workload.kind == "Deployment" => self.replicasets.revisions(d),
            _ => (None, None),
        }
    }

    /// Adds evidence from the spec.
    pub(super) fn spec(&mut self, reference: String, text: String) {
        self.finding
            .evidence
            .push(Evidence::new(Source::Spec, reference, text));
    }

    /// A fix that patches the workload's pod template (not dry-run when
    /// the template is immutable: a Job's).
    pub(super) fn template_fix(&self, ops: Vec<Value>, description: String) -> Option<Fix> {
        let t = self.template?;
        let mut desc = description;
        if let Some(why) = t.immutable {
            desc.push_str(&format!(" ({why})"));
        }
        let mut f = fix::patch(t.target.clone(), t.object, ops, desc);
        if let Some(why) = t.immutable {
            refs::skip_dry_run(&mut f, why);
        }
        Some(f)
    }
}
