//! Plain directories of manifests.

mod common;

use common::*;
use guardian_gitops::{AppSource, GitopsError, Render, SourceKind, edit, locate, render, write};
use serde_json::json;

const ALL: &str = r#"# Shop: everything in one file.
# Managed by Argo CD; edit through pull requests.
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  greeting: 'hello, world'   # single-quoted on purpose
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: "frontend"}
spec:
  replicas: 2 # two is enough in staging
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
          # pinned by the release process
          image: "nginx:1.27.0"
          args: ["--port", "80"]
          resources:
            requests:
              cpu: 100m
              memory: 128Mi

        - name: sidecar
          image: busybox:1.36
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 80
"#;

fn shop() -> tempfile::TempDir {
    tree(&[
        ("apps/shop/all.yaml", ALL),
        (
            "apps/shop/extra/job.yml",
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\nspec:\n  template:\n    spec:\n      containers:\n      - name: m\n        image: migrate:1\n",
        ),
        ("apps/shop/README.md", "not a manifest\n"),
    ])
}

#[test]
fn multi_document_file_changes_only_the_changed_lines() {
    let repo = shop();
    let s = AppSource {
        destination_namespace: Some("staging".into()),
        ..src("apps/shop")
    };
    let obj = deployment(Some("staging"), "web");
    let c = change(json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.27.0"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.27.1"},
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/spec/template/spec/containers/0/resources/limits", "value": {"memory": "256Mi"}},
    ]));
    let e = edit(repo.path(), &s, &obj, &c).unwrap();
    assert_eq!(e.kind, SourceKind::Directory);
    assert_eq!(e.files.len(), 1);
    let f = file(&e, "apps/shop/all.yaml");
    assert_only_lines(
        f,
        &[
            "  replicas: 2 # two is enough in staging",
            "          image: \"nginx:1.27.0\"",
        ],
        &[
            "  replicas: 3 # two is enough in staging",
            "          image: \"nginx:1.27.1\"",
            "            limits:",
            "              memory: 256Mi",
        ],
    );
    // The limits block lands inside the first container's resources, before the blank line.
    assert!(f.after.contains("              memory: 128Mi\n            limits:\n              memory: 256Mi\n\n        - name: sidecar"), "{}", f.after);
    match &e.render {
        Render::Rendered { objects, object } => {
            assert_eq!(*objects, 3);
            assert_eq!(
                object["spec"]["template"]["spec"]["containers"][0]["image"],
                "nginx:1.27.1"
            );
            assert_eq!(object["spec"]["replicas"], 3);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        e.diff
            .contains("--- a/apps/shop/all.yaml\n+++ b/apps/shop/all.yaml\n"),
        "{}",
        e.diff
    );
    assert!(
        e.diff
            .contains("-          image: \"nginx:1.27.0\"\n+          image: \"nginx:1.27.1\"\n"),
        "{}",
        e.diff
    );
    // Nothing written yet.
    assert_eq!(read(repo.path(), "apps/shop/all.yaml"), ALL);
    write(repo.path(), &e).unwrap();
    assert_eq!(read(repo.path(), "apps/shop/all.yaml"), f.after);
    // A second write of the same edit is refused: the file is no longer `before`.
    let err = write(repo.path(), &e).unwrap_err();
    assert!(matches!(err, GitopsError::Stale { .. }), "{err}");
}

#[test]
fn recurse_finds_yml_and_json_files_and_locate_names_the_document() {
    let repo = shop();
    std::fs::write(
        repo.path().join("apps/shop/extra/cron.json"),
        "{\n  \"apiVersion\": \"batch/v1\",\n  \"kind\": \"CronJob\",\n  \"metadata\": {\"name\": \"report\"},\n  \"spec\": {\n    \"schedule\": \"0 * * * *\"\n  }\n}\n",
    )
    .unwrap();
    let flat = render(repo.path(), &src("apps/shop")).unwrap();
    assert_eq!(
        flat.len(),
        3,
        "without recurse only the top directory is read"
    );
    let s = AppSource {
        recurse: true,
        ..src("apps/shop")
    };
    assert_eq!(render(repo.path(), &s).unwrap().len(), 5);
    let l = locate(repo.path(), &s, &deployment(None, "web")).unwrap();
    assert_eq!((l.file.as_str(), l.document), ("apps/shop/all.yaml", 1));
    let job = guardian_gitops::ObjectId {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        namespace: None,
        name: "migrate".into(),
    };
    assert_eq!(
        locate(repo.path(), &s, &job).unwrap().file,
        "apps/shop/extra/job.yml"
    );
    // A scalar in a JSON file is changed where it is written.
    let cron = guardian_gitops::ObjectId {
        kind: "CronJob".into(),
        name: "report".into(),
        ..job
    };
    let e = edit(
        repo.path(),
        &s,
        &cron,
        &change(json!([{"op": "replace", "path": "/spec/schedule", "value": "30 * * * *"}])),
    )
    .unwrap();
    assert_only_lines(
        file(&e, "apps/shop/extra/cron.json"),
        &["    \"schedule\": \"0 * * * *\""],
        &["    \"schedule\": \"30 * * * *\""],
    );
}

#[test]
fn a_pinned_value_that_differs_in_git_is_refused_naming_both_values() {
    let repo = shop();
    let err = edit(
        repo.path(),
        &src("apps/shop"),
        &deployment(Some("staging"), "web"),
        &image_change("nginx:1.26.0", "nginx:1.27.1"),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, GitopsError::SourceDiffers { .. }), "{msg}");
    for part in [
        "apps/shop/all.yaml",
        "/spec/template/spec/containers/0/image",
        "\"nginx:1.27.0\"",
        "\"nginx:1.26.0\"",
        "differs from the live object",
    ] {
        assert!(msg.contains(part), "{part} missing from: {msg}");
    }
}

#[test]
fn not_found_ambiguous_unreadable_and_unparsable_sources_are_clear_errors() {
    let repo = shop();
    // Not found: names the files read and how many objects.
    let err = locate(
        repo.path(),
        &src("apps/shop"),
        &deployment(Some("staging"), "api"),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, GitopsError::NotFound { objects: 3, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("apps/shop/all.yaml") && msg.contains("read 3 object(s) from 1 file(s)"),
        "{msg}"
    );
    // Wrong namespace: the destination namespace decides for objects without one.
    let s = AppSource {
        destination_namespace: Some("prod".into()),
        ..src("apps/shop")
    };
    assert!(matches!(
        locate(repo.path(), &s, &deployment(Some("staging"), "web")),
        Err(GitopsError::NotFound { .. })
    ));

    // Ambiguous: two documents define it.
    std::fs::write(
        repo.path().join("apps/shop/dup.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n",
    )
    .unwrap();
    let err = locate(repo.path(), &src("apps/shop"), &deployment(None, "web")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, GitopsError::Ambiguous { .. }), "{msg}");
    assert!(
        msg.contains("apps/shop/all.yaml document 1")
            && msg.contains("apps/shop/dup.yaml document 0"),
        "{msg}"
    );
    std::fs::remove_file(repo.path().join("apps/shop/dup.yaml")).unwrap();

    // YAML that does not parse: file and line.
    std::fs::write(
        repo.path().join("apps/shop/bad.yaml"),
        "apiVersion: v1\nkind: ConfigMap\n---\nmetadata:\n  name: x\n  labels: [a,\ndata: {}\n",
    )
    .unwrap();
    let err = render(repo.path(), &src("apps/shop")).unwrap_err();
    let msg = err.to_string();
    match &err {
        GitopsError::Parse { path, line, .. } => {
            assert_eq!(path, "apps/shop/bad.yaml");
            assert!((6..=8).contains(line), "line {line}: {msg}");
        }
        other => panic!("{other}"),
    }
    std::fs::remove_file(repo.path().join("apps/shop/bad.yaml")).unwrap();

    // Unreadable: a manifest name that is not a readable file.
    std::fs::write(repo.path().join("apps/shop/bin.yaml"), [0xff, 0xfe, 0x00]).unwrap();
    let err = render(repo.path(), &src("apps/shop")).unwrap_err();
    assert!(
        matches!(&err, GitopsError::Unreadable { path, .. } if path == "apps/shop/bin.yaml"),
        "{err}"
    );
}

#[test]
fn write_refuses_a_file_changed_since_and_writes_nothing() {
    let repo = shop();
    let e = edit(
        repo.path(),
        &src("apps/shop"),
        &deployment(None, "web"),
        &image_change("nginx:1.27.0", "nginx:1.27.1"),
    )
    .unwrap();
    std::fs::write(
        repo.path().join("apps/shop/all.yaml"),
        format!("{ALL}# edited by someone\n"),
    )
    .unwrap();
    assert!(matches!(
        write(repo.path(), &e),
        Err(GitopsError::Stale { .. })
    ));
    assert!(read(repo.path(), "apps/shop/all.yaml").ends_with("# edited by someone\n"));
}
