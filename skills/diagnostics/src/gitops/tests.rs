use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::finding::Severity;

/// Objects and Applications in memory; counts the Application reads.
#[derive(Default)]
struct Fake {
    objects: BTreeMap<ObjRef, Value>,
    apps: BTreeMap<String, Result<Vec<Value>, AppsError>>,
    app_reads: Vec<String>,
    /// Flux objects by (resource, namespace, name); a missing one is
    /// not found, unless `flux_unserved`.
    flux: BTreeMap<(String, String, String), Result<Value, AppsError>>,
    flux_unserved: bool,
    flux_reads: Vec<String>,
}

impl Source for Fake {
    fn object(&mut self, r: &ObjRef) -> Option<Value> {
        self.objects.get(r).cloned()
    }

    fn applications(&mut self, namespace: &str) -> Result<Vec<Value>, AppsError> {
        self.app_reads.push(namespace.to_owned());
        self.apps.get(namespace).cloned().unwrap_or(Ok(Vec::new()))
    }

    fn flux(&mut self, resource: &str, namespace: &str, name: &str) -> Result<Value, AppsError> {
        self.flux_reads
            .push(format!("{resource} {namespace}/{name}"));
        if self.flux_unserved {
            return Err(AppsError {
                message: format!("not-found: the API server does not serve {resource}"),
                not_served: true,
            });
        }
        self.flux
            .get(&(resource.to_owned(), namespace.to_owned(), name.to_owned()))
            .cloned()
            .unwrap_or_else(|| {
                Err(AppsError {
                    message: format!("not-found: {resource} \"{name}\" not found"),
                    not_served: false,
                })
            })
    }
}

impl Fake {
    fn with(mut self, object: Value) -> Self {
        let m = &object["metadata"];
        let r = ObjRef::new(
            object["apiVersion"].as_str().unwrap(),
            object["kind"].as_str().unwrap(),
            m["namespace"].as_str(),
            m["name"].as_str().unwrap(),
        );
        self.objects.insert(r, object);
        self
    }

    fn app(mut self, namespace: &str, app: Value) -> Self {
        self.apps
            .entry(namespace.to_owned())
            .or_insert(Ok(Vec::new()))
            .as_mut()
            .unwrap()
            .push(app);
        self
    }
}

fn deployment(name: &str, annotations: Value, labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "annotations": annotations, "labels": labels},
    })
}

fn application(name: &str, destination: &str, automated: Value) -> Value {
    let mut sync = json!({});
    if !automated.is_null() {
        sync["automated"] = automated;
    }
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example.com/shop.git", "path": format!("apps/{name}"), "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": destination},
            "syncPolicy": sync,
        },
    })
}

fn obj(kind: &str, name: &str) -> ObjRef {
    let api = crate::kinds::api_version_of(kind);
    ObjRef::new(api, kind, Some("shop"), name)
}

/// A finding on `object` with one fix on `target`.
fn finding(object: ObjRef, target: ObjRef) -> Finding {
    let fix = crate::fix::needs_input(target, "do it", "kubectl do-it");
    Finding::new(object, Severity::Critical, "CrashLoopBackOff", "crashes").fix(fix)
}

fn mark(namespaces: &[&str], src: &mut Fake, findings: &mut [Finding]) {
    let mut m = Marker::new(namespaces.iter().map(|s| s.to_string()).collect());
    m.mark(findings, src);
}

const SELF_HEAL_TEXT: &str = "Argo CD Application argocd/web syncs automatically with selfHeal: a direct patch is reverted; change the manifest in Git (https://git.example.com/shop.git, path apps/web) instead";

#[test]
fn the_tracking_annotation_names_the_application_in_the_argocd_namespace() {
    let mut src = Fake::default()
        .with(deployment(
            "web",
            json!({TRACKING_ANNOTATION: "web:apps/Deployment:shop/web"}),
            json!({}),
        ))
        .app(
            "argocd",
            application("web", "shop", json!({"prune": true, "selfHeal": true})),
        );
    let mut f = [finding(obj("Deployment", "web"), obj("Deployment", "web"))];
    mark(&["argocd"], &mut src, &mut f);
    let owner = f[0].managed_by.as_ref().expect("managed");
    assert_eq!(
        owner,
        &GitOpsOwner {
            tool: "argocd".into(),
            kind: "Application".into(),
            application: "web".into(),
            application_namespace: "argocd".into(),
            tracking: "annotation".into(),
            automated: true,
            self_heal: true,
            reverts_direct_patch: true,
            note: "Argo CD Application argocd/web syncs automatically with selfHeal: a change made directly in the cluster is reverted; the change belongs in Git (https://git.example.com/shop.git, path apps/web)".into(),
        }
    );
    assert_eq!(f[0].fixes[0].gitops.as_deref(), Some(SELF_HEAL_TEXT));
    // Serialized as the output documents it.
    let out = serde_json::to_value(&f[0]).unwrap();
    assert_eq!(out["managed_by"]["application"], "web");
    assert_eq!(out["fixes"][0]["gitops"], SELF_HEAL_TEXT);
}

#[test]
fn the_namespace_prefixed_form_names_an_application_outside_argocds_namespace() {
    let mut app = application("web", "shop", json!({"prune": false}));
    app["metadata"]["namespace"] = json!("team-a");
    let mut src = Fake::default()
        .with(deployment(
            "web",
            json!({TRACKING_ANNOTATION: "team-a_web:apps/Deployment:shop/web"}),
            json!({}),
        ))
        // Same name in Argo CD's own namespace: not the one the id names.
        .app(
            "argocd",
            application("web", "shop", json!({"selfHeal": true})),
        )
        .app("team-a", app);
    let mut f = [finding(obj("Deployment", "web"), obj("Deployment", "web"))];
    mark(&["argocd", "team-a"], &mut src, &mut f);
    let owner = f[0].managed_by.as_ref().expect("managed");
    assert_eq!(owner.application_namespace, "team-a");
    assert_eq!(owner.application, "web");
    assert!(owner.automated && !owner.self_heal && !owner.reverts_direct_patch);
    assert_eq!(
        f[0].fixes[0].gitops.as_deref(),
        Some(
            "Argo CD Application team-a/web syncs automatically without selfHeal: the next change in Git overwrites a direct patch; change the manifest in Git (https://git.example.com/shop.git, path apps/web) as well"
        )
    );
    assert_eq!(src.app_reads, ["team-a"], "only the namespace the id names");

    // The same id when team-a is not an Argo CD namespace read: named,
    // unknown, not read.
    let mut f = [finding(obj("Deployment", "web"), obj("Deployment", "web"))];
    src.app_reads.clear();
    mark(&["argocd"], &mut src, &mut f);
    let owner = f[0].managed_by.as_ref().expect("still named");
    assert_eq!(
        (owner.application_namespace.as_str(), owner.automated),
        ("team-a", false)
    );
    assert!(
        owner
            .note
            .contains("team-a is not among the Argo CD namespaces read (argocd)"),
        "{}",
        owner.note
    );
    assert!(src.app_reads.is_empty());
}

#[test]
fn the_instance_label_counts_only_for_an_application_deploying_to_the_namespace() {
    let labelled =
        || Fake::default().with(deployment("web", json!({}), json!({INSTANCE_LABEL: "web"})));
    // An Application of that name deploying to shop: managed, by label.
    let mut src = labelled().app("argocd", application("web", "shop", Value::Null));
    let mut f = [finding(obj("Deployment", "web"), obj("Deployment", "web"))];
    mark(&["argocd"], &mut src, &mut f);
    let owner = f[0].managed_by.as_ref().expect("managed");
    assert_eq!(owner.tracking, "label");
    assert!(!owner.automated && !owner.reverts_direct_patch);
    assert_eq!(
        f[0].fixes[0].gitops.as_deref(),
        Some(
            "Argo CD Application argocd/web syncs manually: a direct patch leaves it OutOfSync and its next sync overwrites the patch; change the manifest in Git (https://git.example.com/shop.git, path apps/web) as well"
        )
    );

    // Deploying elsewhere: Helm's label, not Argo CD's.
    let mut src = labelled().app(
        "argocd",
        application("web", "billing", json!({"selfHeal": true})),
    );
    let mut f = [finding(obj("Deployment", "web"), obj("Deployment", "web"))];
    mark(&["argocd"], &mut src, &mut f);
    assert_eq!(f[0].managed_by, None);
    assert_eq!(f[0].fixes[0].gitops, None);

    // No Application of that name, or none readable: not managed.
    for apps in [
        Ok(vec![application("shop", "shop", Value::Null)]),
        Err(AppsError {
            message: "denied".into(),
            not_served: false,
        }),
    ] {
        let mut src = labelled();
        src.apps.insert("argocd".into(), apps);
        let mut f = [finding(obj("Deployment", "web"), obj("Deployment", "web"))];
        mark(&["argocd"], &mut src, &mut f);
        assert_eq!(f[0].managed_by, None);
    }
}

#[test]
fn a_pods_owner_chain_is_followed_to_the_tracked_deployment() {
    let owner_ref = |kind: &str, name: &str| json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "controller": true}]);
    let mut src = Fake::default()
        .with(deployment(
            "web",
            json!({TRACKING_ANNOTATION: "web:apps/Deployment:shop/web"}),
            json!({}),
        ))
        // The ReplicaSet keeps its Deployment's annotations: a copy that
        // names the Deployment, not the ReplicaSet.
        .with(json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-5d8f", "namespace": "shop",
                "annotations": {TRACKING_ANNOTATION: "other:apps/Deployment:shop/web"},
                "ownerReferences": owner_ref("Deployment", "web")},
        }))
        .with(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-5d8f-x", "namespace": "shop",
                "ownerReferences": owner_ref("ReplicaSet", "web-5d8f")},
        }))
        .app(
            "argocd",
            application("web", "shop", json!({"selfHeal": true})),
        )
        .app(
            "argocd",
            application("other", "shop", json!({"selfHeal": true})),
        );
    let mut f = [finding(obj("Pod", "web-5d8f-x"), obj("Deployment", "web"))];
    mark(&["argocd"], &mut src, &mut f);
    let owner = f[0]
        .managed_by
        .as_ref()
        .expect("managed through its owners");
    assert_eq!(owner.application, "web", "the Deployment's own tracking");
    assert!(owner.reverts_direct_patch);
    assert_eq!(f[0].fixes[0].gitops.as_deref(), Some(SELF_HEAL_TEXT));

    // A ReplicaSet alone with a copied annotation is not tracked.
    let mut f = [finding(
        obj("ReplicaSet", "web-5d8f"),
        obj("ReplicaSet", "web-5d8f"),
    )];
    let mut alone = Fake::default().with(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-5d8f", "namespace": "shop",
            "annotations": {TRACKING_ANNOTATION: "web:apps/Deployment:shop/web"}},
    }));
    alone = alone.app(
        "argocd",
        application("web", "shop", json!({"selfHeal": true})),
    );
    mark(&["argocd"], &mut alone, &mut f);
    assert_eq!(f[0].managed_by, None);
    assert!(alone.app_reads.is_empty(), "nothing tracked, nothing read");
}

#[test]
fn an_application_that_cannot_be_read_leaves_the_owner_named_and_its_policy_unknown() {
    for (error, not_served) in [
        (
            "denied: RBAC forbids list on applications.argoproj.io",
            false,
        ),
        (
            "the API server does not serve applications.argoproj.io",
            true,
        ),
    ] {
        let mut src = Fake::default().with(deployment(
            "web",
            json!({TRACKING_ANNOTATION: "web:apps/Deployment:shop/web"}),
            json!({}),
        ));
        src.apps.insert(
            "argocd".into(),
            Err(AppsError {
                message: error.into(),
                not_served,
            }),
        );
        let mut m = Marker::new(vec!["argocd".into()]);
        let mut f = [
            finding(obj("Deployment", "web"), obj("Deployment", "web")),
            finding(obj("Deployment", "web"), obj("Deployment", "web")),
        ];
        m.mark(&mut f, &mut src);
        let owner = f[0].managed_by.as_ref().expect("named from the annotation");
        assert_eq!(
            (
                owner.application.as_str(),
                owner.application_namespace.as_str()
            ),
            ("web", "argocd")
        );
        assert!(!owner.automated && !owner.self_heal && !owner.reverts_direct_patch);
        assert!(
            owner.note.contains("could not be read") && owner.note.contains(error),
            "{}",
            owner.note
        );
        assert_eq!(
            f[0].fixes[0].gitops.as_deref(),
            Some(
                "Argo CD Application argocd/web manages the target, and its sync policy could not be read: a direct patch may be reverted; change the manifest in Git instead"
            )
        );
        assert_eq!(src.app_reads, ["argocd"], "read once per scan");
        let unreadable = m.unreadable();
        if not_served {
            assert!(unreadable.is_empty(), "{unreadable:?}");
        } else {
            assert_eq!(
                unreadable,
                [(
                    "applications.argoproj.io".to_owned(),
                    "argocd".to_owned(),
                    format!(
                        "{error}: the Argo CD Applications there could not be read, so which findings GitOps manages is unknown"
                    )
                )]
            );
        }
    }

    // Read, but no such Application: named, unknown.
    let mut src = Fake::default()
        .with(deployment(
            "web",
            json!({TRACKING_ANNOTATION: "web:apps/Deployment:shop/web"}),
            json!({}),
        ))
        .app(
            "argocd",
            application("api", "shop", json!({"selfHeal": true})),
        );
    let mut f = [finding(obj("Deployment", "web"), obj("Deployment", "web"))];
    mark(&["argocd"], &mut src, &mut f);
    let owner = f[0].managed_by.as_ref().expect("named");
    assert!(!owner.reverts_direct_patch);
    assert!(
        owner.note.contains("not found in namespace argocd"),
        "{}",
        owner.note
    );
}

#[test]
fn each_fix_is_marked_by_its_own_target() {
    let mut src = Fake::default()
        .with(deployment(
            "web",
            json!({TRACKING_ANNOTATION: "web:apps/Deployment:shop/web"}),
            json!({}),
        ))
        .with(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "web-config", "namespace": "shop"}}))
        .app(
            "argocd",
            application("web", "shop", json!({"selfHeal": true})),
        );
    let mut f =
        [
            finding(obj("Deployment", "web"), obj("Deployment", "web")).fix(
                crate::fix::needs_input(obj("ConfigMap", "web-config"), "add the key", "kubectl …"),
            ),
        ];
    mark(&["argocd"], &mut src, &mut f);
    assert!(f[0].managed_by.is_some());
    assert_eq!(f[0].fixes[0].gitops.as_deref(), Some(SELF_HEAL_TEXT));
    assert_eq!(f[0].fixes[1].gitops, None, "the ConfigMap is not tracked");
}

#[test]
fn automated_sync_turned_off_is_not_automated() {
    let mut src = Fake::default()
        .with(deployment(
            "web",
            json!({TRACKING_ANNOTATION: "web:apps/Deployment:shop/web"}),
            json!({}),
        ))
        .app(
            "argocd",
            application("web", "shop", json!({"enabled": false, "selfHeal": true})),
        );
    let mut f = [finding(obj("Deployment", "web"), obj("Deployment", "web"))];
    mark(&["argocd"], &mut src, &mut f);
    let owner = f[0].managed_by.as_ref().unwrap();
    assert!(!owner.automated && !owner.self_heal && !owner.reverts_direct_patch);
}

#[test]
fn untracked_objects_are_not_marked_and_nothing_is_read() {
    let mut src = Fake::default().with(deployment("web", json!({}), json!({"app": "web"})));
    let mut f = [finding(obj("Deployment", "web"), obj("Deployment", "web"))];
    mark(&["argocd"], &mut src, &mut f);
    assert_eq!(f[0].managed_by, None);
    assert_eq!(f[0].fixes[0].gitops, None);
    assert!(src.app_reads.is_empty());
    assert!(!serde_json::to_string(&f[0]).unwrap().contains("managed_by"));
}

#[test]
fn tracking_ids_parse_as_argo_cd_writes_them() {
    assert_eq!(
        parse_tracking_id("web:apps/Deployment:shop/web"),
        Some((None, "web".into(), ("apps", "Deployment", "shop", "web")))
    );
    assert_eq!(
        parse_tracking_id("team-a_web:/ConfigMap:shop/cfg"),
        Some((
            Some("team-a".into()),
            "web".into(),
            ("", "ConfigMap", "shop", "cfg")
        ))
    );
    assert_eq!(
        parse_tracking_id("infra:rbac.authorization.k8s.io/ClusterRole:/reader"),
        Some((
            None,
            "infra".into(),
            ("rbac.authorization.k8s.io", "ClusterRole", "", "reader")
        ))
    );
    for bad in [
        "web",
        "web:apps/Deployment",
        ":apps/Deployment:shop/web",
        "web:Deployment:shop/web",
        "_web:apps/Deployment:shop/web",
    ] {
        assert_eq!(parse_tracking_id(bad), None, "{bad}");
    }
}

#[test]
fn a_bare_pods_tracking_survives_the_typed_model() {
    let pod: crate::model::Pod = serde_json::from_value(json!({
        "metadata": {"name": "debug", "namespace": "shop",
            "labels": {"run": "debug"},
            "annotations": {TRACKING_ANNOTATION: "tools:/Pod:shop/debug", "big": "x"}},
    }))
    .unwrap();
    let object = pod_meta(&pod);
    assert_eq!(
        annotation_tracking(&object),
        Some(Tracked {
            app_namespace: None,
            app: "tools".into(),
            tracking: "annotation",
        })
    );
    assert_eq!(
        object["metadata"]["annotations"].as_object().unwrap().len(),
        1
    );
}

// ----- Flux -----

impl Fake {
    fn flux_object(mut self, resource: &str, object: Value) -> Self {
        let m = &object["metadata"];
        self.flux.insert(
            (
                resource.to_owned(),
                m["namespace"].as_str().unwrap().to_owned(),
                m["name"].as_str().unwrap().to_owned(),
            ),
            Ok(object),
        );
        self
    }
}

fn flux_labels(applier: &str, name: &str, namespace: &str) -> Value {
    json!({
        format!("{applier}.toolkit.fluxcd.io/name"): name,
        format!("{applier}.toolkit.fluxcd.io/namespace"): namespace,
    })
}

fn kustomization(name: &str, suspend: bool) -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": {"interval": "10m", "path": "./apps/shop", "prune": true, "suspend": suspend,
                 "sourceRef": {"kind": "GitRepository", "name": "shop"}},
    })
}

fn git_repository() -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "shop", "namespace": "flux-system"},
        "spec": {"url": "https://git.example.com/shop.git", "ref": {"branch": "main"}, "interval": "1m"},
    })
}

#[test]
fn flux_kustomization_labels_name_the_kustomization_and_its_git_repository() {
    // The pod's ReplicaSet's Deployment carries the labels.
    let mut src = Fake::default()
        .with(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "shop",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d", "controller": true}]},
        }))
        .with(json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-5d", "namespace": "shop",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "controller": true}]},
        }))
        .with(deployment("web", json!({}), flux_labels("kustomize", "shop", "flux-system")))
        .flux_object(flux::KUSTOMIZATIONS, kustomization("shop", false))
        .flux_object(flux::GIT_REPOSITORIES, git_repository());
    let mut f = [finding(obj("Pod", "web-1"), obj("Deployment", "web"))];
    mark(&["argocd"], &mut src, &mut f);
    let owner = f[0].managed_by.as_ref().expect("managed by Flux");
    assert_eq!(owner.tool, "flux");
    assert_eq!(owner.kind, "Kustomization");
    assert_eq!(
        (
            owner.application.as_str(),
            owner.application_namespace.as_str()
        ),
        ("shop", "flux-system")
    );
    assert_eq!(owner.tracking, "label");
    assert!(owner.automated && owner.self_heal && owner.reverts_direct_patch);
    assert_eq!(
        owner.note,
        "Flux Kustomization flux-system/shop reconciles every 10m and corrects drift: a change made directly in the cluster is reverted at its next reconciliation; the change belongs in Git (https://git.example.com/shop.git (branch main), path ./apps/shop)"
    );
    assert_eq!(
        f[0].fixes[0].gitops.as_deref(),
        Some(
            "Flux Kustomization flux-system/shop corrects drift: a direct patch is reverted at its next reconciliation; change the manifest in Git (https://git.example.com/shop.git (branch main), path ./apps/shop) instead"
        )
    );
    // No Argo CD Application was read for it; each Flux object once.
    assert!(src.app_reads.is_empty(), "{:?}", src.app_reads);
    assert_eq!(
        src.flux_reads,
        [
            "kustomizations.kustomize.toolkit.fluxcd.io flux-system/shop",
            "gitrepositories.source.toolkit.fluxcd.io flux-system/shop"
        ]
    );
}

#[test]
fn a_suspended_kustomization_does_not_revert_a_direct_patch_until_resumed() {
    let mut src = Fake::default()
        .with(deployment(
            "web",
            json!({}),
            flux_labels("kustomize", "shop", "flux-system"),
        ))
        .flux_object(flux::KUSTOMIZATIONS, kustomization("shop", true))
        .flux_object(flux::GIT_REPOSITORIES, git_repository());
    let mut f = [finding(obj("Deployment", "web"), obj("Deployment", "web"))];
    mark(&[], &mut src, &mut f);
    let owner = f[0].managed_by.as_ref().unwrap();
    assert!(!owner.automated && !owner.reverts_direct_patch, "{owner:?}");
    assert!(owner.note.contains("is suspended"), "{}", owner.note);
    assert!(
        f[0].fixes[0]
            .gitops
            .as_deref()
            .unwrap()
            .starts_with("Flux Kustomization flux-system/shop is suspended: a direct patch stays until it is resumed, which reverts it"),
        "{:?}",
        f[0].fixes[0].gitops
    );
}

#[test]
fn a_helm_release_corrects_drift_only_with_drift_detection_enabled() {
    let release = |mode: &str| {
        json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"interval": "5m", "driftDetection": {"mode": mode},
                     "chart": {"spec": {"chart": "./charts/web",
                         "sourceRef": {"kind": "GitRepository", "name": "shop", "namespace": "flux-system"}}}},
        })
    };
    for (mode, reverts) in [("enabled", true), ("warn", false)] {
        // The release's objects carry helm-controller's labels (and the
        // HelmRelease itself a Kustomization's): the HelmRelease is the owner.
        let mut labels = flux_labels("helm", "web", "shop");
        labels["kustomize.toolkit.fluxcd.io/name"] = json!("apps");
        labels["kustomize.toolkit.fluxcd.io/namespace"] = json!("flux-system");
        let mut src = Fake::default()
            .with(deployment("web", json!({}), labels))
            .flux_object(flux::HELM_RELEASES, release(mode))
            .flux_object(flux::GIT_REPOSITORIES, git_repository());
        let mut f = [finding(obj("Deployment", "web"), obj("Deployment", "web"))];
        mark(&[], &mut src, &mut f);
        let owner = f[0].managed_by.as_ref().unwrap();
        assert_eq!(owner.kind, "HelmRelease");
        assert_eq!(owner.application, "web");
        assert_eq!(owner.reverts_direct_patch, reverts, "{mode}: {owner:?}");
        assert!(owner.automated);
        assert!(
            owner
                .note
                .ends_with("the change belongs in Git (https://git.example.com/shop.git (branch main), chart path ./charts/web)"),
            "{}",
            owner.note
        );
        let text = f[0].fixes[0].gitops.clone().unwrap();
        assert!(
            text.contains("change the release's values in Git"),
            "{text}"
        );
    }
}

#[test]
fn an_unreadable_kustomization_is_said_and_not_taken_for_unmanaged() {
    let mut src = Fake::default().with(deployment(
        "web",
        json!({}),
        flux_labels("kustomize", "gone", "flux-system"),
    ));
    let mut m = Marker::new(vec![]);
    let mut f = [finding(obj("Deployment", "web"), obj("Deployment", "web"))];
    m.mark(&mut f, &mut src);
    let owner = f[0].managed_by.as_ref().expect("still marked");
    assert!(!owner.automated);
    assert!(
        owner.note.contains("could not be read") && owner.note.contains("may be reverted"),
        "{}",
        owner.note
    );
    let unreadable = m.unreadable();
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    assert_eq!(unreadable[0].0, flux::KUSTOMIZATIONS);
    assert_eq!(unreadable[0].1, "flux-system");

    // Where Flux is not installed at all, nothing is unreadable, and the
    // note says Flux's resources are not served.
    let mut src = Fake {
        flux_unserved: true,
        ..Fake::default()
    }
    .with(deployment(
        "web",
        json!({}),
        flux_labels("kustomize", "shop", "flux-system"),
    ));
    let mut m = Marker::new(vec![]);
    let mut f = [finding(obj("Deployment", "web"), obj("Deployment", "web"))];
    m.mark(&mut f, &mut src);
    assert!(m.unreadable().is_empty());
    let note = &f[0].managed_by.as_ref().unwrap().note;
    assert!(note.contains("does not serve"), "{note}");
}

#[test]
fn objects_without_flux_labels_read_no_flux_object() {
    let mut src = Fake::default().with(deployment("web", json!({}), json!({"app": "web"})));
    let mut f = [finding(obj("Deployment", "web"), obj("Deployment", "web"))];
    mark(&["argocd"], &mut src, &mut f);
    assert!(f[0].managed_by.is_none());
    assert!(src.flux_reads.is_empty());
}
