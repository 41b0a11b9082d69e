//! Kustomize bases and overlays, rendered with the real `kubectl kustomize`.

mod common;

use common::*;
use guardian_gitops::{GitopsError, Render, SourceKind, edit, locate, render};
use serde_json::json;

const BASE_DEPLOY: &str = "# The web front end.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: registry.example/shop/web:1.0   # overridden per environment
        resources:
          requests:
            memory: 64Mi
          limits:
            memory: 128Mi
";

const BASE_KUST: &str = "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
  - service.yaml
";

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
    - port: 80
";

const PROD_WITH_IMAGES: &str = "# Production overlay.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: prod
namePrefix: prod-
resources:
  - ../../base

images:
  - name: registry.example/shop/web
    newTag: \"1.1\" # set by the release pipeline
  - name: busybox
    newTag: '1.36'
";

const PROD_WITHOUT_IMAGES: &str = "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: prod
resources:
- ../../base
commonLabels:
  env: prod # keep
";

const STAGING: &str = "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: staging
resources:
  - ../../base
";

fn repo(prod: &str) -> tempfile::TempDir {
    tree(&[
        ("base/deployment.yaml", BASE_DEPLOY),
        ("base/service.yaml", SERVICE),
        ("base/kustomization.yaml", BASE_KUST),
        ("overlays/prod/kustomization.yaml", prod),
        ("overlays/staging/kustomization.yaml", STAGING),
    ])
}

fn container(render: &Render) -> serde_json::Value {
    match render {
        Render::Rendered { object, .. } => {
            object["spec"]["template"]["spec"]["containers"][0].clone()
        }
        other => panic!("not rendered: {other:?}"),
    }
}

#[test]
fn locate_follows_the_overlay_to_the_base_with_its_name_prefix() {
    let r = repo(PROD_WITH_IMAGES);
    let s = src("overlays/prod");
    let l = locate(r.path(), &s, &deployment(Some("prod"), "prod-web")).unwrap();
    assert_eq!(l.kind, SourceKind::Kustomize);
    assert_eq!((l.file.as_str(), l.document), ("base/deployment.yaml", 0));
    assert!(
        l.explanation.contains("overlays/prod → base"),
        "{}",
        l.explanation
    );
    // Without the prefix it is not this application's object.
    let err = locate(r.path(), &s, &deployment(Some("prod"), "web")).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("read 2 object(s)") && msg.contains("base/deployment.yaml"),
        "{msg}"
    );
    let objs = render(r.path(), &s).unwrap();
    assert_eq!(objs.len(), 2);
}

#[test]
fn an_existing_images_entry_is_changed_in_place_keeping_its_style() {
    let r = repo(PROD_WITH_IMAGES);
    let e = edit(
        r.path(),
        &src("overlays/prod"),
        &deployment(Some("prod"), "prod-web"),
        &image_change(
            "registry.example/shop/web:1.1",
            "registry.example/shop/web:1.2",
        ),
    )
    .unwrap();
    assert_eq!(e.files.len(), 1, "only the overlay changes: {:?}", e.files);
    assert_only_lines(
        file(&e, "overlays/prod/kustomization.yaml"),
        &["    newTag: \"1.1\" # set by the release pipeline"],
        &["    newTag: \"1.2\" # set by the release pipeline"],
    );
    assert!(
        e.explanation
            .contains("sets images: for registry.example/shop/web"),
        "{}",
        e.explanation
    );
    // kubectl kustomize ran on the edited copy: the rendered object carries the new image.
    assert_eq!(
        container(&e.render)["image"],
        "registry.example/shop/web:1.2"
    );
    if let Render::Rendered { objects, object } = &e.render {
        assert_eq!(*objects, 2);
        assert_eq!(object["metadata"]["namespace"], "prod");
    }
    // The repository itself is untouched until `write`.
    assert_eq!(
        read(r.path(), "overlays/prod/kustomization.yaml"),
        PROD_WITH_IMAGES
    );
}

#[test]
fn a_missing_images_entry_is_added_to_the_overlay() {
    let r = repo(PROD_WITHOUT_IMAGES);
    let e = edit(
        r.path(),
        &src("overlays/prod"),
        &deployment(Some("prod"), "web"),
        &image_change(
            "registry.example/shop/web:1.0",
            "registry.example/shop/web:1.0.1",
        ),
    )
    .unwrap();
    assert_eq!(e.files.len(), 1);
    assert_only_lines(
        file(&e, "overlays/prod/kustomization.yaml"),
        &[],
        &[
            "images:",
            "- name: registry.example/shop/web",
            "  newTag: 1.0.1",
        ],
    );
    assert!(
        e.explanation.contains("no images: entry"),
        "{}",
        e.explanation
    );
    assert_eq!(
        container(&e.render)["image"],
        "registry.example/shop/web:1.0.1"
    );
}

#[test]
fn a_resources_change_on_a_shared_base_becomes_a_patch_in_the_overlay() {
    let r = repo(PROD_WITH_IMAGES);
    let c = change(json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": "128Mi"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": "256Mi"},
    ]));
    let e = edit(
        r.path(),
        &src("overlays/prod"),
        &deployment(Some("prod"), "prod-web"),
        &c,
    )
    .unwrap();
    assert_eq!(e.files.len(), 2, "{:?}", e.files);
    assert_only_lines(
        file(&e, "overlays/prod/kustomization.yaml"),
        &[],
        &["patches:", "  - path: web-resources-patch.yaml"],
    );
    let p = file(&e, "overlays/prod/web-resources-patch.yaml");
    assert!(p.before.is_empty());
    assert_eq!(
        p.after,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        resources:\n          limits:\n            memory: 256Mi\n"
    );
    assert!(
        e.explanation.contains("also used by overlays/staging")
            && e.explanation.contains("a patch is added"),
        "{}",
        e.explanation
    );
    let c0 = container(&e.render);
    assert_eq!(c0["resources"]["limits"]["memory"], "256Mi");
    assert_eq!(c0["resources"]["requests"]["memory"], "64Mi");
    assert!(
        e.diff
            .contains("--- /dev/null\n+++ b/overlays/prod/web-resources-patch.yaml"),
        "{}",
        e.diff
    );

    // An overlay patch that already sets the field is changed instead of adding another.
    let r2 = tempfile::tempdir().unwrap();
    for f in &e.files {
        let p = r2.path().join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    }
    let r2 = repo(PROD_WITH_IMAGES);
    guardian_gitops::write(r2.path(), &e).unwrap();
    let c2 = change(json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": "256Mi"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": "512Mi"},
    ]));
    let e2 = edit(
        r2.path(),
        &src("overlays/prod"),
        &deployment(Some("prod"), "prod-web"),
        &c2,
    )
    .unwrap();
    assert_eq!(e2.files.len(), 1, "{:?}", e2.files);
    assert_only_lines(
        file(&e2, "overlays/prod/web-resources-patch.yaml"),
        &["            memory: 256Mi"],
        &["            memory: 512Mi"],
    );
    assert!(
        e2.explanation.contains("already sets"),
        "{}",
        e2.explanation
    );
    assert_eq!(
        container(&e2.render)["resources"]["limits"]["memory"],
        "512Mi"
    );
}

#[test]
fn a_base_only_this_overlay_uses_is_changed_in_place() {
    let r = tree(&[
        ("base/deployment.yaml", BASE_DEPLOY),
        ("base/service.yaml", SERVICE),
        ("base/kustomization.yaml", BASE_KUST),
        ("overlays/prod/kustomization.yaml", PROD_WITH_IMAGES),
    ]);
    let c = change(json!([
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
    ]));
    let e = edit(
        r.path(),
        &src("overlays/prod"),
        &deployment(Some("prod"), "prod-web"),
        &c,
    )
    .unwrap();
    assert_eq!(e.files.len(), 1);
    assert_only_lines(
        file(&e, "base/deployment.yaml"),
        &["  replicas: 1"],
        &["  replicas: 3"],
    );
    assert!(
        e.explanation.contains("only this application uses base"),
        "{}",
        e.explanation
    );
    match &e.render {
        Render::Rendered { object, .. } => assert_eq!(object["spec"]["replicas"], 3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn git_differing_from_the_live_object_is_refused() {
    let r = repo(PROD_WITH_IMAGES);
    let err = edit(
        r.path(),
        &src("overlays/prod"),
        &deployment(Some("prod"), "prod-web"),
        &image_change(
            "registry.example/shop/web:1.0",
            "registry.example/shop/web:1.2",
        ),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, GitopsError::SourceDiffers { .. }), "{msg}");
    assert!(
        msg.contains("base/deployment.yaml as rendered from overlays/prod")
            && msg.contains("\"registry.example/shop/web:1.1\"")
            && msg.contains("\"registry.example/shop/web:1.0\""),
        "{msg}"
    );
}

#[test]
fn a_kustomization_that_does_not_build_is_render_failed_with_kubectls_message() {
    let broken = PROD_WITHOUT_IMAGES.replace("- ../../base\n", "- ../../base\n- hpa.yaml\n");
    let r = repo(&broken);
    let e = edit(
        r.path(),
        &src("overlays/prod"),
        &deployment(Some("prod"), "web"),
        &image_change(
            "registry.example/shop/web:1.0",
            "registry.example/shop/web:1.0.1",
        ),
    )
    .unwrap();
    match &e.render {
        Render::Failed { error } => {
            assert!(error.contains("overlays/prod/hpa.yaml"), "{error}");
            assert!(
                !error.contains("/tmp"),
                "the temporary copy's path leaks: {error}"
            );
        }
        other => panic!("expected a failed render, got {other:?}"),
    }
    assert!(
        e.explanation
            .contains("did not build before the change either"),
        "{}",
        e.explanation
    );
    // `render` reports the same failure as an error.
    let err = render(r.path(), &src("overlays/prod")).unwrap_err();
    assert!(err.to_string().contains("hpa.yaml"), "{err}");
}

#[test]
fn remote_resources_are_not_fetched_and_the_render_is_not_checked() {
    let prod = PROD_WITHOUT_IMAGES.replace(
        "- ../../base\n",
        "- ../../base\n- https://127.0.0.1:1/shop/extra?ref=v1\n",
    );
    let r = repo(&prod);
    let e = edit(
        r.path(),
        &src("overlays/prod"),
        &deployment(Some("prod"), "web"),
        &image_change(
            "registry.example/shop/web:1.0",
            "registry.example/shop/web:1.0.1",
        ),
    )
    .unwrap();
    match &e.render {
        Render::NotChecked { why } => assert!(
            why.contains("https://127.0.0.1:1/shop/extra?ref=v1") && why.contains("not fetched"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(e.files.len(), 1);
    let err = render(r.path(), &src("overlays/prod")).unwrap_err();
    assert!(err.to_string().contains("remote resources"), "{err}");
}

#[test]
fn a_symbolic_link_out_of_the_repository_is_refused() {
    let outside = tree(&[(
        "secret.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    )]);
    let r = repo(PROD_WITHOUT_IMAGES);
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        r.path().join("base/linked.yaml"),
    )
    .unwrap();
    std::fs::write(
        r.path().join("base/kustomization.yaml"),
        format!("{BASE_KUST}  - linked.yaml\n"),
    )
    .unwrap();
    let err = locate(
        r.path(),
        &src("overlays/prod"),
        &deployment(Some("prod"), "web"),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, GitopsError::Unreadable { path, .. } if path == "base/linked.yaml"),
        "{msg}"
    );
    assert!(msg.contains("outside the repository"), "{msg}");
}

#[test]
fn a_json6902_patch_that_sets_the_field_is_changed_in_its_operation() {
    let prod = format!(
        "{PROD_WITHOUT_IMAGES}patches:\n- path: replicas.yaml\n  target:\n    kind: Deployment\n    name: web\n"
    );
    let r = repo(&prod);
    std::fs::write(
        r.path().join("overlays/prod/replicas.yaml"),
        "# prod runs more\n- op: replace\n  path: /spec/replicas\n  value: 3 # peak\n",
    )
    .unwrap();
    let c = change(json!([
        {"op": "test", "path": "/spec/replicas", "value": 3},
        {"op": "replace", "path": "/spec/replicas", "value": 5},
    ]));
    let e = edit(
        r.path(),
        &src("overlays/prod"),
        &deployment(Some("prod"), "web"),
        &c,
    )
    .unwrap();
    assert_eq!(e.files.len(), 1, "{:?}", e.files);
    assert_only_lines(
        file(&e, "overlays/prod/replicas.yaml"),
        &["  value: 3 # peak"],
        &["  value: 5 # peak"],
    );
    match &e.render {
        Render::Rendered { object, .. } => assert_eq!(object["spec"]["replicas"], 5),
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_objects_an_images_entry_also_changes_are_named() {
    let r = repo(PROD_WITH_IMAGES);
    std::fs::write(
        r.path().join("base/job.yaml"),
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: migrate\n        image: registry.example/shop/web:1.0\n",
    )
    .unwrap();
    std::fs::write(
        r.path().join("base/kustomization.yaml"),
        format!("{BASE_KUST}  - job.yaml\n"),
    )
    .unwrap();
    let e = edit(
        r.path(),
        &src("overlays/prod"),
        &deployment(Some("prod"), "prod-web"),
        &image_change(
            "registry.example/shop/web:1.1",
            "registry.example/shop/web:1.2",
        ),
    )
    .unwrap();
    assert!(
        e.explanation.contains("also changes Job prod/prod-migrate"),
        "{}",
        e.explanation
    );
    assert!(!e.explanation.contains("Service"), "{}", e.explanation);
}

#[test]
fn without_an_overlay_an_image_is_changed_in_the_resource_file() {
    let r = tree(&[
        ("app/deployment.yaml", BASE_DEPLOY),
        ("app/service.yaml", SERVICE),
        ("app/kustomization.yaml", BASE_KUST),
    ]);
    let e = edit(
        r.path(),
        &src("app"),
        &deployment(Some("default"), "web"),
        &image_change(
            "registry.example/shop/web:1.0",
            "registry.example/shop/web:1.0.1",
        ),
    )
    .unwrap();
    assert_eq!(e.files.len(), 1);
    assert_only_lines(
        file(&e, "app/deployment.yaml"),
        &["        image: registry.example/shop/web:1.0   # overridden per environment"],
        &["        image: registry.example/shop/web:1.0.1   # overridden per environment"],
    );
    assert!(e.explanation.contains("no overlay"), "{}", e.explanation);
    assert_eq!(
        container(&e.render)["image"],
        "registry.example/shop/web:1.0.1"
    );
}

#[test]
fn a_base_shared_through_an_intermediate_kustomization_is_not_edited() {
    // prod → common → base, and staging → common: base is only included by common, but
    // common is shared, so editing base would change staging too.
    let r = tree(&[
        ("base/deployment.yaml", BASE_DEPLOY),
        ("base/service.yaml", SERVICE),
        ("base/kustomization.yaml", BASE_KUST),
        ("common/kustomization.yaml", "resources:\n- ../base\n"),
        (
            "overlays/prod/kustomization.yaml",
            "resources:\n- ../../common\n",
        ),
        (
            "overlays/staging/kustomization.yaml",
            "resources:\n- ../../common\n",
        ),
    ]);
    let c = change(json!([
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
    ]));
    let e = edit(
        r.path(),
        &src("overlays/prod"),
        &deployment(None, "web"),
        &c,
    )
    .unwrap();
    assert!(
        e.files.iter().all(|f| f.path.starts_with("overlays/prod/")),
        "{:?}",
        e.files
    );
    assert!(
        e.explanation.contains("also used by overlays/staging"),
        "{}",
        e.explanation
    );
    match &e.render {
        Render::Rendered { object, .. } => assert_eq!(object["spec"]["replicas"], 3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_list_append_on_a_shared_base_becomes_a_json6902_patch() {
    let r = repo(PROD_WITHOUT_IMAGES);
    let c = change(json!([
        {"op": "add", "path": "/spec/template/spec/containers/0/env", "value": [{"name": "MODE", "value": "safe"}]},
    ]));
    let e = edit(
        r.path(),
        &src("overlays/prod"),
        &deployment(Some("prod"), "web"),
        &c,
    )
    .unwrap();
    let k = file(&e, "overlays/prod/kustomization.yaml");
    assert!(
        k.after.contains("patches:\n- path: web-env-patch.yaml\n"),
        "{}",
        k.after
    );
    let c0 = container(&e.render);
    assert_eq!(c0["env"], json!([{"name": "MODE", "value": "safe"}]));

    let c = change(json!([
        {"op": "add", "path": "/spec/template/spec/containers/0/args", "value": ["--a"]},
    ]));
    let e = edit(
        r.path(),
        &src("overlays/prod"),
        &deployment(Some("prod"), "web"),
        &c,
    )
    .unwrap();
    guardian_gitops::write(r.path(), &e).unwrap();
    let c = change(json!([
        {"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": "--b"},
    ]));
    let e2 = edit(
        r.path(),
        &src("overlays/prod"),
        &deployment(Some("prod"), "web"),
        &c,
    )
    .unwrap();
    assert_eq!(container(&e2.render)["args"], json!(["--a", "--b"]));
}
