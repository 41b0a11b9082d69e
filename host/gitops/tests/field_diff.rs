//! `field_diff` against a real API server's output (`/work/shared/fixtures`).

use guardian_gitops::{FieldDiff, field_diff};
use serde_json::{Value, json};

/// The `web` Deployment as the API server returned it (server defaults, uid,
/// resourceVersion, the revision annotation, status), from the shared real dump.
fn live_web() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/real-dumps/staging/snapshot/staging/deployments.json"
    );
    let list: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut web = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["metadata"]["name"] == "web")
        .unwrap()
        .clone();
    // A list from `kubectl cluster-info dump` leaves these to the list; an object has them.
    web["apiVersion"] = json!("apps/v1");
    web["kind"] = json!("Deployment");
    web
}

/// The manifest as written in Git for that Deployment.
fn git_web(image: &str) -> Value {
    let yaml = format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: staging
  labels:
    app: web
    component: frontend
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
      component: frontend
  template:
    metadata:
      labels:
        app: web
        component: frontend
    spec:
      containers:
      - name: web
        image: {image}
        ports:
        - name: http
          containerPort: 80
        resources:
          limits:
            memory: 256Mi
          requests:
            cpu: 100m
            memory: 128Mi
        readinessProbe:
          httpGet:
            path: /
            port: 80
          initialDelaySeconds: 5
"
    );
    serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(&yaml).unwrap()).unwrap()
}

#[test]
fn server_defaults_and_server_metadata_are_not_differences() {
    let mut live = live_web();
    // The fixture really carries what must be ignored.
    assert!(live["metadata"]["uid"].is_string() && live["metadata"]["resourceVersion"].is_string());
    assert_eq!(
        live["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    // The dump leaves out managedFields and kubectl's annotation; a live read has them.
    live["metadata"]["managedFields"] = json!([{"manager": "kubectl", "operation": "Update"}]);
    live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
        json!("{}");
    assert!(live["status"].is_object());
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    assert_eq!(
        field_diff(&git_web("nginx:1.27.0"), &live),
        Vec::<FieldDiff>::new()
    );
}

#[test]
fn one_changed_field_is_the_only_difference() {
    let d = field_diff(&git_web("nginx:1.27.1"), &live_web());
    assert_eq!(
        d,
        vec![FieldDiff {
            path: "/spec/template/spec/containers/0/image".into(),
            git: Some(json!("nginx:1.27.1")),
            live: Some(json!("nginx:1.27.0")),
        }]
    );
}

#[test]
fn fields_git_sets_that_live_lacks_and_list_lengths_are_reported() {
    let mut git = git_web("nginx:1.27.0");
    git["spec"]["template"]["spec"]["containers"][0]["env"] =
        json!([{"name": "MODE", "value": "prod"}]);
    git["metadata"]["annotations"] = json!({"team": "shop", "argocd.argoproj.io/tracking-id": "x"});
    let mut live = live_web();
    live["spec"]["template"]["spec"]["containers"][0]["ports"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "metrics", "containerPort": 9090, "protocol": "TCP"}));
    let paths: Vec<(String, bool, bool)> = field_diff(&git, &live)
        .into_iter()
        .map(|d| (d.path, d.git.is_some(), d.live.is_some()))
        .collect();
    assert_eq!(
        paths,
        vec![
            ("/metadata/annotations/team".to_string(), true, false),
            (
                "/spec/template/spec/containers/0/env".to_string(),
                true,
                false
            ),
            (
                "/spec/template/spec/containers/0/ports/1".to_string(),
                false,
                true
            ),
        ]
    );
}
