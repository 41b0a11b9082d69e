//! Flux's ownership. Flux's controllers label every object they apply with
//! the applier's name and namespace — kustomize-controller
//! `kustomize.toolkit.fluxcd.io/name|namespace` (a Kustomization),
//! helm-controller `helm.toolkit.fluxcd.io/name|namespace` (a HelmRelease).
//! The applier is read where the labels point, and its source (a
//! GitRepository, read too) says where the change belongs.
//!
//! What a direct patch becomes: a Kustomization applies its manifests
//! again at every reconciliation (`spec.interval`), server-side and with
//! force, so a field it sets is put back — unless it is suspended. A
//! HelmRelease corrects drift only with `spec.driftDetection.mode:
//! enabled`; otherwise a patch stays until the next upgrade of the release.

use serde_json::Value;

use super::{AppsError, Owner};
use crate::finding::GitOpsOwner;

pub const KUSTOMIZE_NAME: &str = "kustomize.toolkit.fluxcd.io/name";
pub const KUSTOMIZE_NAMESPACE: &str = "kustomize.toolkit.fluxcd.io/namespace";
pub const HELM_NAME: &str = "helm.toolkit.fluxcd.io/name";
pub const HELM_NAMESPACE: &str = "helm.toolkit.fluxcd.io/namespace";

pub const KUSTOMIZATIONS: &str = "kustomizations.kustomize.toolkit.fluxcd.io";
pub const HELM_RELEASES: &str = "helmreleases.helm.toolkit.fluxcd.io";
pub const GIT_REPOSITORIES: &str = "gitrepositories.source.toolkit.fluxcd.io";

/// What the marking reads of Flux, object by object where the labels
/// point (in any namespace): part of the skill's own reads (its grant
/// holds them; a test checks it).
#[cfg(test)]
pub const READS: &[&str] = &[KUSTOMIZATIONS, HELM_RELEASES, GIT_REPOSITORIES];

/// The Flux object that applied another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Applier {
    Kustomization,
    HelmRelease,
}

impl Applier {
    pub fn kind(self) -> &'static str {
        match self {
            Applier::Kustomization => "Kustomization",
            Applier::HelmRelease => "HelmRelease",
        }
    }

    pub fn resource(self) -> &'static str {
        match self {
            Applier::Kustomization => KUSTOMIZATIONS,
            Applier::HelmRelease => HELM_RELEASES,
        }
    }
}

/// The applier an object's labels name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Labelled {
    pub applier: Applier,
    pub namespace: String,
    pub name: String,
}

/// The applier `object`'s Flux labels name. helm-controller's labels win:
/// a HelmRelease's objects were applied by it (the HelmRelease itself is
/// what a Kustomization applied).
pub fn labelled(object: &Value) -> Option<Labelled> {
    let labels = &object["metadata"]["labels"];
    for (applier, name, namespace) in [
        (Applier::HelmRelease, HELM_NAME, HELM_NAMESPACE),
        (Applier::Kustomization, KUSTOMIZE_NAME, KUSTOMIZE_NAMESPACE),
    ] {
        let (Some(name), Some(namespace)) = (labels[name].as_str(), labels[namespace].as_str())
        else {
            continue;
        };
        if !name.is_empty() && !namespace.is_empty() {
            return Some(Labelled {
                applier,
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            });
        }
    }
    None
}

/// The owner the labels name, read through `read` (the applier, then its
/// GitRepository).
pub(super) fn resolve(
    l: &Labelled,
    read: &mut dyn FnMut(&str, &str, &str) -> Result<Value, AppsError>,
) -> Owner {
    let display = format!("Flux {} {}/{}", l.applier.kind(), l.namespace, l.name);
    let unknown = |note: String| Owner {
        owner: GitOpsOwner {
            tool: "flux".into(),
            kind: l.applier.kind().into(),
            application: l.name.clone(),
            application_namespace: l.namespace.clone(),
            tracking: "label".into(),
            automated: false,
            self_heal: false,
            reverts_direct_patch: false,
            note,
        },
        source: None,
        known: false,
    };
    let object = match read(l.applier.resource(), &l.namespace, &l.name) {
        Ok(o) => o,
        Err(e) if e.not_served => {
            return unknown(format!(
                "the object's labels name {display}, but the cluster does not serve Flux's {} (Flux is not installed, or another version): whether it reconciles is unknown, and a direct patch may be reverted",
                l.applier.resource()
            ));
        }
        Err(e) => {
            return unknown(format!(
                "{display} manages this object (its labels), but it could not be read ({}): whether it reconciles is unknown, and a direct patch may be reverted",
                e.message
            ));
        }
    };
    let spec = &object["spec"];
    let suspended = spec["suspend"].as_bool() == Some(true);
    let source = match l.applier {
        Applier::Kustomization => kustomization_source(&object, &l.namespace, read),
        Applier::HelmRelease => helm_release_source(&object, &l.namespace, read),
    };
    let to_git = match &source {
        Some(s) => format!("the change belongs in Git ({s})"),
        None => "the change belongs in Git".to_owned(),
    };
    let (automated, reverts, note) = match l.applier {
        Applier::Kustomization if suspended => (
            false,
            false,
            format!(
                "{display} is suspended: a change made directly in the cluster stays until it is resumed, and its next reconciliation reverts it; {to_git}"
            ),
        ),
        Applier::Kustomization => (
            true,
            true,
            format!(
                "{display} reconciles {} and corrects drift: a change made directly in the cluster is reverted at its next reconciliation; {to_git}",
                every(spec)
            ),
        ),
        Applier::HelmRelease if suspended => (
            false,
            false,
            format!(
                "{display} is suspended: a change made directly in the cluster stays until it is resumed and the release is upgraded again; {to_git}"
            ),
        ),
        Applier::HelmRelease => {
            let corrects = spec["driftDetection"]["mode"].as_str() == Some("enabled");
            if corrects {
                (
                    true,
                    true,
                    format!(
                        "{display} reconciles {} with drift detection enabled: a change made directly in the cluster is reverted; {to_git}",
                        every(spec)
                    ),
                )
            } else {
                (
                    true,
                    false,
                    format!(
                        "{display} does not correct drift (spec.driftDetection is not enabled): a change made directly in the cluster stays until the next upgrade of the release overwrites it; {to_git}"
                    ),
                )
            }
        }
    };
    Owner {
        owner: GitOpsOwner {
            tool: "flux".into(),
            kind: l.applier.kind().into(),
            application: l.name.clone(),
            application_namespace: l.namespace.clone(),
            tracking: "label".into(),
            automated,
            self_heal: reverts,
            reverts_direct_patch: reverts,
            note,
        },
        source,
        known: true,
    }
}

/// What a fix of an object a Flux applier manages says.
pub(super) fn fix_text(owner: &Owner) -> String {
    let o = &owner.owner;
    let who = format!(
        "Flux {} {}/{}",
        o.kind, o.application_namespace, o.application
    );
    let git = match &owner.source {
        Some(s) => format!("change the manifest in Git ({s})"),
        None => "change the manifest in Git".to_owned(),
    };
    let git = if o.kind == "HelmRelease" {
        git.replace(
            "change the manifest in Git",
            "change the release's values in Git",
        )
    } else {
        git
    };
    if !owner.known {
        format!(
            "{who} manages the target, and it could not be read: a direct patch may be reverted; {git} instead"
        )
    } else if o.reverts_direct_patch {
        format!(
            "{who} corrects drift: a direct patch is reverted at its next reconciliation; {git} instead"
        )
    } else if o.automated {
        format!(
            "{who} does not correct drift: the next upgrade of the release overwrites a direct patch; {git} as well"
        )
    } else {
        format!(
            "{who} is suspended: a direct patch stays until it is resumed, which reverts it; {git} as well"
        )
    }
}

/// `every 10m`, or `on its interval` when none is set.
fn every(spec: &Value) -> String {
    match spec["interval"].as_str() {
        Some(i) if !i.is_empty() => format!("every {i}"),
        _ => "on its interval".to_owned(),
    }
}

/// `https://git.example.com/shop.git (branch main), path ./apps/shop`.
fn kustomization_source(
    ks: &Value,
    namespace: &str,
    read: &mut dyn FnMut(&str, &str, &str) -> Result<Value, AppsError>,
) -> Option<String> {
    let spec = &ks["spec"];
    let path = spec["path"].as_str().filter(|p| !p.is_empty());
    let origin = source_of(&spec["sourceRef"], namespace, read)?;
    Some(match path {
        Some(p) => format!("{origin}, path {p}"),
        None => origin,
    })
}

/// A HelmRelease's chart: `https://… (branch main), chart path charts/web`,
/// or `chart redis from HelmRepository flux-system/bitnami`.
fn helm_release_source(
    hr: &Value,
    namespace: &str,
    read: &mut dyn FnMut(&str, &str, &str) -> Result<Value, AppsError>,
) -> Option<String> {
    let spec = &hr["spec"];
    if spec["chartRef"].is_object() {
        let r = &spec["chartRef"];
        return Some(format!(
            "the chart of {} {}/{}",
            r["kind"].as_str().unwrap_or("?"),
            r["namespace"].as_str().unwrap_or(namespace),
            r["name"].as_str().unwrap_or("?")
        ));
    }
    let chart = &spec["chart"]["spec"];
    let name = chart["chart"].as_str()?;
    let source_ref = &chart["sourceRef"];
    if source_ref["kind"].as_str() == Some("GitRepository") {
        let origin = source_of(source_ref, namespace, read)?;
        return Some(format!("{origin}, chart path {name}"));
    }
    Some(format!(
        "chart {name} from {} {}/{}",
        source_ref["kind"].as_str().unwrap_or("?"),
        source_ref["namespace"].as_str().unwrap_or(namespace),
        source_ref["name"].as_str().unwrap_or("?")
    ))
}

/// A `sourceRef`: a GitRepository's URL and ref (read), or what it names.
fn source_of(
    source_ref: &Value,
    namespace: &str,
    read: &mut dyn FnMut(&str, &str, &str) -> Result<Value, AppsError>,
) -> Option<String> {
    let kind = source_ref["kind"].as_str()?;
    let name = source_ref["name"].as_str()?;
    let ns = source_ref["namespace"]
        .as_str()
        .filter(|n| !n.is_empty())
        .unwrap_or(namespace);
    if kind != "GitRepository" {
        return Some(format!("{kind} {ns}/{name}"));
    }
    let Ok(repo) = read(GIT_REPOSITORIES, ns, name) else {
        return Some(format!("GitRepository {ns}/{name}"));
    };
    let url = repo["spec"]["url"].as_str()?;
    Some(match git_ref(&repo["spec"]["ref"]) {
        Some(r) => format!("{url} ({r})"),
        None => url.to_owned(),
    })
}

/// `branch main`, `tag v1.2.0`, `semver >=1.0`, `commit 1a2b3c`.
pub fn git_ref(r: &Value) -> Option<String> {
    for key in ["commit", "name", "semver", "tag", "branch"] {
        if let Some(v) = r[key].as_str().filter(|v| !v.is_empty()) {
            return Some(format!("{key} {v}"));
        }
    }
    None
}
