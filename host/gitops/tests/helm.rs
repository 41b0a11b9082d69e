//! Helm charts: values files only.

mod common;

use common::*;
use guardian_gitops::{AppSource, GitopsError, Render, SourceKind, edit, locate, render};
use serde_json::json;

const CHART: &str = "apiVersion: v2\nname: web\nversion: 0.3.0\nappVersion: \"1.4.0\"\n";

const VALUES: &str = "# Default values for web.
replicaCount: 2

image:
  repository: registry.example/shop/web
  # Overrides the image tag whose default is the chart appVersion.
  tag: \"1.4.0\"
  pullPolicy: IfNotPresent

service:
  type: ClusterIP
  port: 80

resources:
  limits:
    memory: 128Mi   # raise with care
  requests:
    cpu: 100m
    memory: 64Mi

nodeSelector: {}
";

fn chart(values: &str) -> tempfile::TempDir {
    tree(&[
        ("charts/web/Chart.yaml", CHART),
        ("charts/web/values.yaml", values),
        (
            "charts/web/templates/deployment.yaml",
            "{{/* not read */}}\n",
        ),
    ])
}

#[test]
fn the_image_tag_is_changed_in_values_yaml() {
    let r = chart(VALUES);
    let s = src("charts/web");
    let obj = deployment(Some("shop"), "web");
    let l = locate(r.path(), &s, &obj).unwrap();
    assert_eq!(
        (l.kind, l.file.as_str()),
        (SourceKind::Helm, "charts/web/values.yaml")
    );
    let e = edit(
        r.path(),
        &s,
        &obj,
        &image_change(
            "registry.example/shop/web:1.4.0",
            "registry.example/shop/web:1.4.1",
        ),
    )
    .unwrap();
    assert_eq!(e.kind, SourceKind::Helm);
    assert_only_lines(
        file(&e, "charts/web/values.yaml"),
        &["  tag: \"1.4.0\""],
        &["  tag: \"1.4.1\""],
    );
    assert!(
        e.explanation.contains("image.repository/image.tag"),
        "{}",
        e.explanation
    );
    assert!(
        matches!(&e.render, Render::NotChecked { why } if why.contains("helm is not installed")),
        "{:?}",
        e.render
    );
    assert!(
        render(r.path(), &s).is_err(),
        "a chart is not rendered here"
    );
}

/// Diagnostics pins the container's name beside its image (the fix names
/// the container): the values find the container by its image, so that
/// pin is the live object's, not the chart's; a pin of anything else still
/// cannot be checked without rendering.
#[test]
fn a_pin_of_the_containers_name_beside_its_image_is_the_live_objects() {
    let r = chart(VALUES);
    let s = src("charts/web");
    let obj = deployment(Some("shop"), "web");
    let pinned = change(json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "web"},
        {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "registry.example/shop/web:1.4.0"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "registry.example/shop/web:1.4.1"},
    ]));
    let e = edit(r.path(), &s, &obj, &pinned).unwrap();
    assert_only_lines(
        file(&e, "charts/web/values.yaml"),
        &["  tag: \"1.4.0\""],
        &["  tag: \"1.4.1\""],
    );
    let other = change(json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "IfNotPresent"},
        {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "registry.example/shop/web:1.4.0"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "registry.example/shop/web:1.4.1"},
    ]));
    let err = edit(r.path(), &s, &obj, &other).unwrap_err().to_string();
    assert!(err.contains("imagePullPolicy cannot be checked"), "{err}");
}

#[test]
fn resources_are_changed_where_the_values_match_the_live_container() {
    let r = chart(VALUES);
    let c = change(json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/resources", "value": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}}},
        {"op": "replace", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": "256Mi"},
    ]));
    let e = edit(
        r.path(),
        &src("charts/web"),
        &deployment(Some("shop"), "web"),
        &c,
    )
    .unwrap();
    assert_only_lines(
        file(&e, "charts/web/values.yaml"),
        &["    memory: 128Mi   # raise with care"],
        &["    memory: 256Mi   # raise with care"],
    );
    assert!(
        e.explanation.contains("resources.limits.memory"),
        "{}",
        e.explanation
    );

    // Values that do not match the live container: Git differs, nothing is edited.
    let c = change(json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": "192Mi"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": "256Mi"},
    ]));
    let err = edit(
        r.path(),
        &src("charts/web"),
        &deployment(Some("shop"), "web"),
        &c,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, GitopsError::SourceDiffers { .. }), "{msg}");
    assert!(
        msg.contains("charts/web/values.yaml")
            && msg.contains("resources.limits.memory")
            && msg.contains("128Mi")
            && msg.contains("192Mi"),
        "{msg}"
    );
}

#[test]
fn a_tag_in_values_that_differs_from_the_live_one_is_refused() {
    let r = chart(VALUES);
    let err = edit(
        r.path(),
        &src("charts/web"),
        &deployment(Some("shop"), "web"),
        &image_change(
            "registry.example/shop/web:1.3.9",
            "registry.example/shop/web:1.4.1",
        ),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, GitopsError::SourceDiffers { .. }), "{msg}");
    assert!(
        msg.contains("image.tag") && msg.contains("1.4.0") && msg.contains("1.3.9"),
        "{msg}"
    );
}

#[test]
fn an_image_the_values_do_not_hold_means_the_chart_must_change() {
    // The template writes the image from the chart's appVersion; values have no image keys.
    let values = VALUES.replace(
        "image:\n  repository: registry.example/shop/web\n  # Overrides the image tag whose default is the chart appVersion.\n  tag: \"1.4.0\"\n  pullPolicy: IfNotPresent\n",
        "pullPolicy: IfNotPresent\n",
    );
    let r = chart(&values);
    let err = edit(
        r.path(),
        &src("charts/web"),
        &deployment(Some("shop"), "web"),
        &image_change(
            "registry.example/shop/web:1.4.0",
            "registry.example/shop/web:1.4.1",
        ),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, GitopsError::ChartMustChange { .. }), "{msg}");
    assert!(
        msg.contains("chart must change") && msg.contains("registry.example/shop/web:1.4.0"),
        "{msg}"
    );

    // A field values cannot reach (a probe) is the chart's too.
    let r = chart(VALUES);
    let c = change(json!([
        {"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe/periodSeconds", "value": 20},
    ]));
    let err = edit(
        r.path(),
        &src("charts/web"),
        &deployment(Some("shop"), "web"),
        &c,
    )
    .unwrap_err();
    assert!(matches!(err, GitopsError::ChartMustChange { .. }), "{err}");
}

#[test]
fn a_later_values_file_wins() {
    let r = chart(VALUES);
    std::fs::write(
        r.path().join("charts/web/values-prod.yaml"),
        "image:\n  tag: 1.4.0-prod # prod build\n  repository: registry.example/shop/web\n",
    )
    .unwrap();
    let s = AppSource {
        helm_value_files: vec!["values.yaml".into(), "values-prod.yaml".into()],
        ..src("charts/web")
    };
    let e = edit(
        r.path(),
        &s,
        &deployment(Some("shop"), "web"),
        &image_change(
            "registry.example/shop/web:1.4.0-prod",
            "registry.example/shop/web:1.4.1-prod",
        ),
    )
    .unwrap();
    assert_eq!(e.files.len(), 1);
    assert_only_lines(
        file(&e, "charts/web/values-prod.yaml"),
        &["  tag: 1.4.0-prod # prod build"],
        &["  tag: 1.4.1-prod # prod build"],
    );
}

#[test]
fn a_whole_image_string_in_values_is_replaced() {
    let r =
        chart("replicaCount: 1\nweb:\n  image: 'registry.example/shop/web:2.0' # full reference\n");
    let e = edit(
        r.path(),
        &src("charts/web"),
        &deployment(Some("shop"), "web"),
        &image_change(
            "registry.example/shop/web:2.0",
            "registry.example/shop/web:2.1",
        ),
    )
    .unwrap();
    assert_only_lines(
        file(&e, "charts/web/values.yaml"),
        &["  image: 'registry.example/shop/web:2.0' # full reference"],
        &["  image: 'registry.example/shop/web:2.1' # full reference"],
    );
    // Without the pinned old image nothing can be matched in a chart that is not rendered.
    let c = change(
        json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "registry.example/shop/web:2.1"}]),
    );
    let err = edit(
        r.path(),
        &src("charts/web"),
        &deployment(Some("shop"), "web"),
        &c,
    )
    .unwrap_err();
    assert!(
        matches!(err, GitopsError::BadChange(_)) && err.to_string().contains("`test` operation"),
        "{err}"
    );
}
