//! The stand-in for Argo CD's application controller
//! (`guardian_tests::argocd::FakeArgo`) on the real API server: each outcome
//! of a sync, as Argo CD writes it, seen through a watch (every version of
//! the Application, however loaded the machine); and the Applications the
//! builders make, as the CRD's schema stores them.
//!
//! "Stays" is shown without a clock: a second Application, asked to sync
//! after the first reached its state, goes through all of its own steps on
//! the same controller, so any step still due on the first was due too.

use guardian_tests::argocd::{
    self, AppState, DEFAULT_HEAD, FakeArgo, MESSAGE, OUTCOME, Outcome, PREVIOUS_REVISION,
};
use guardian_tests::kube::{ControlPlane, control_plane};
use serde_json::{Value, json};

const RELEASE: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
const HOTFIX: &str = "feedf00dfeedf00dfeedf00dfeedf00dfeedf00d";

fn phase(app: &Value) -> &str {
    app["status"]["operationState"]["phase"]
        .as_str()
        .unwrap_or("-")
}

fn health(app: &Value) -> &str {
    app["status"]["health"]["status"].as_str().unwrap_or("-")
}

fn requested(app: &Value) -> bool {
    app.get("operation").is_some_and(|o| !o.is_null())
}

/// `f` of each version, consecutive repeats dropped.
fn sequence(seen: &[Value], f: impl Fn(&Value) -> &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for app in seen {
        let v = f(app);
        if out.last().map(String::as_str) != Some(v) {
            out.push(v.to_owned());
        }
    }
    out
}

/// Requests a sync of `ns/name` and watches it until, after `Running`, it
/// is in phase `end` and `done` holds; asserts it did not end in another
/// phase first.
fn sync_until(
    k: &ControlPlane,
    ns: &str,
    name: &str,
    operation: &Value,
    end: &str,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let since = argocd::request_operation(k, ns, name, operation);
    let mut ran = false;
    let seen = argocd::watch_application(k, ns, name, &since, |app| {
        ran |= phase(app) == "Running";
        let ended = matches!(phase(app), "Succeeded" | "Failed" | "Error");
        ran && ((phase(app) == end && done(app)) || (ended && phase(app) != end))
    });
    assert_eq!(
        phase(seen.last().unwrap()),
        end,
        "{ns}/{name}: phases {:?}",
        sequence(&seen, phase)
    );
    seen
}

/// The resource `kind/name` of `status.resources`.
fn resource<'a>(app: &'a Value, kind: &str, name: &str) -> &'a Value {
    app["status"]["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["kind"] == kind && r["name"] == name))
        .unwrap_or_else(|| panic!("no {kind}/{name} in {}", app["status"]["resources"]))
}

#[test]
fn a_sync_that_succeeds_runs_then_succeeds_synced_healthy_and_in_history() {
    let Some(k) = control_plane() else { return };
    let ns = k.namespace("argocd");
    let argo = FakeArgo::start(k, &ns);
    k.apply(&argocd::application(
        "shop",
        &ns,
        "shop",
        AppState::OutOfSyncSelfHeal,
    ));
    let before = argocd::get_application(k, &ns, "shop");
    assert_eq!(before["status"]["sync"]["status"], "OutOfSync");

    let operation = argocd::sync_operation(Some(RELEASE));
    let seen = sync_until(k, &ns, "shop", &operation, "Succeeded", |app| {
        health(app) == "Healthy"
    });
    assert_eq!(sequence(&seen, phase), ["Running", "Succeeded"]);
    // Synced, Progressing while the Deployment rolls out, then Healthy.
    assert_eq!(
        sequence(&seen, health),
        ["Healthy", "Progressing", "Healthy"]
    );

    let running = &seen[0];
    let state = &running["status"]["operationState"];
    assert!(requested(running), "operation stays set while Running");
    assert_eq!(state["operation"], operation, "a copy of the request");
    assert!(state["startedAt"].is_string(), "{state}");
    assert!(state["finishedAt"].is_null(), "{state}");
    assert!(state["message"].is_string(), "{state}");
    assert_eq!(
        running["status"]["sync"], before["status"]["sync"],
        "the sync status changes when the sync is done"
    );

    let done = seen.last().unwrap();
    let status = &done["status"];
    let state = &status["operationState"];
    assert!(!requested(done), "operation removed: {}", done["operation"]);
    assert_eq!(state["message"], "successfully synced (all tasks run)");
    assert_eq!(state["operation"], operation);
    assert_eq!(
        state["startedAt"],
        running["status"]["operationState"]["startedAt"]
    );
    assert!(state["finishedAt"].is_string(), "{state}");
    assert_eq!(state["syncResult"]["revision"], RELEASE);
    assert_eq!(state["syncResult"]["source"], done["spec"]["source"]);
    let results = state["syncResult"]["resources"].as_array().unwrap();
    let mut kinds: Vec<&str> = results
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["Deployment", "Service"]);
    assert!(
        results.iter().all(|r| r["status"] == "Synced"),
        "{results:?}"
    );

    assert_eq!(status["sync"]["status"], "Synced");
    assert_eq!(status["sync"]["revision"], RELEASE);
    assert_eq!(
        status["sync"]["comparedTo"]["source"],
        done["spec"]["source"]
    );
    assert_eq!(
        status["sync"]["comparedTo"]["destination"],
        done["spec"]["destination"]
    );
    for r in status["resources"].as_array().unwrap() {
        assert_eq!(r["status"], "Synced", "{r}");
        assert_eq!(r["health"]["status"], "Healthy", "{r}");
    }

    let history = status["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0], before["status"]["history"][0]);
    assert_eq!(history[0]["revision"], PREVIOUS_REVISION);
    assert_eq!(history[1]["id"], 1);
    assert_eq!(history[1]["revision"], RELEASE);
    assert_eq!(history[1]["deployStartedAt"], state["startedAt"]);
    assert_eq!(history[1]["deployedAt"], state["finishedAt"]);
    assert_eq!(history[1]["initiatedBy"], json!({"username": "guardian"}));
    assert_eq!(history[1]["source"], done["spec"]["source"]);

    // Again, without a revision: the branch's head, ids going on.
    argocd::annotate(k, &ns, "shop", argocd::HEAD, HOTFIX);
    let seen = sync_until(
        k,
        &ns,
        "shop",
        &argocd::sync_operation(None),
        "Succeeded",
        |app| health(app) == "Healthy",
    );
    assert_eq!(sequence(&seen, phase), ["Running", "Succeeded"]);
    let done = seen.last().unwrap();
    assert_eq!(done["status"]["sync"]["revision"], HOTFIX);
    let history = done["status"]["history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[2]["id"], 2);
    assert_eq!(history[2]["revision"], HOTFIX);
    assert_eq!(argo.errors(), Vec::<String>::new());
}

#[test]
fn a_sync_that_fails_names_the_resource_and_its_error_and_leaves_the_rest() {
    let Some(k) = control_plane() else { return };
    let ns = k.namespace("argocd");
    let argo = FakeArgo::start(k, &ns);
    k.apply(&argocd::application(
        "cart",
        &ns,
        "shop",
        AppState::OutOfSyncSelfHeal,
    ));
    argocd::annotate(k, &ns, "cart", OUTCOME, Outcome::Fail.as_str());
    let before = argocd::get_application(k, &ns, "cart");

    let seen = sync_until(
        k,
        &ns,
        "cart",
        &argocd::sync_operation(None),
        "Failed",
        |_| true,
    );
    assert_eq!(sequence(&seen, phase), ["Running", "Failed"]);
    let done = seen.last().unwrap();
    let state = &done["status"]["operationState"];
    assert!(!requested(done), "operation removed: {}", done["operation"]);
    let error = r#"Deployment.apps "cart" is invalid: spec.template.spec.containers[0].image: Required value"#;
    assert_eq!(
        state["message"],
        format!("one or more objects failed to apply, reason: {error}")
    );
    assert!(state["finishedAt"].is_string(), "{state}");
    assert_eq!(state["syncResult"]["revision"], DEFAULT_HEAD);
    let results = state["syncResult"]["resources"].as_array().unwrap();
    let failed: Vec<&Value> = results
        .iter()
        .filter(|r| r["status"] == "SyncFailed")
        .collect();
    assert_eq!(failed.len(), 1, "{results:?}");
    assert_eq!(failed[0]["kind"], "Deployment");
    assert_eq!(failed[0]["group"], "apps");
    assert_eq!(failed[0]["name"], "cart");
    assert_eq!(failed[0]["namespace"], "shop");
    assert_eq!(failed[0]["message"], error);
    // Nothing else changed: still OutOfSync, as healthy as before, no history.
    for field in ["sync", "health", "resources", "history"] {
        assert_eq!(done["status"][field], before["status"][field], "{field}");
    }

    // A new request after a failure starts again; the error can be chosen.
    let denied = "admission webhook \"images.example.com\" denied the request: image is not signed";
    argocd::annotate(k, &ns, "cart", MESSAGE, denied);
    let seen = sync_until(
        k,
        &ns,
        "cart",
        &argocd::sync_operation(None),
        "Failed",
        |_| true,
    );
    let state = &seen.last().unwrap()["status"]["operationState"];
    assert_eq!(
        state["message"],
        format!("one or more objects failed to apply, reason: {denied}")
    );
    assert_eq!(argo.errors(), Vec::<String>::new());
}

#[test]
fn a_sync_that_progresses_stays_progressing() {
    let Some(k) = control_plane() else { return };
    let ns = k.namespace("argocd");
    let argo = FakeArgo::start(k, &ns);
    k.apply(&argocd::application(
        "slow",
        &ns,
        "shop",
        AppState::OutOfSyncSelfHeal,
    ));
    k.apply(&argocd::application(
        "quick",
        &ns,
        "shop",
        AppState::OutOfSyncSelfHeal,
    ));
    argocd::annotate(k, &ns, "slow", OUTCOME, Outcome::Progress.as_str());

    let seen = sync_until(
        k,
        &ns,
        "slow",
        &argocd::sync_operation(None),
        "Succeeded",
        |_| true,
    );
    assert_eq!(sequence(&seen, phase), ["Running", "Succeeded"]);
    // Every step of another sync later, `slow` has not moved.
    sync_until(
        k,
        &ns,
        "quick",
        &argocd::sync_operation(None),
        "Succeeded",
        |app| health(app) == "Healthy",
    );
    let slow = argocd::get_application(k, &ns, "slow");
    assert_eq!(phase(&slow), "Succeeded");
    assert!(!requested(&slow));
    assert_eq!(slow["status"]["sync"]["status"], "Synced");
    assert_eq!(health(&slow), "Progressing");
    let deployment = resource(&slow, "Deployment", "slow");
    assert_eq!(deployment["health"]["status"], "Progressing");
    assert!(
        deployment["health"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Waiting for rollout to finish")),
        "{deployment}"
    );
    assert_eq!(slow["status"]["history"].as_array().unwrap().len(), 2);
    assert_eq!(argo.errors(), Vec::<String>::new());
}

#[test]
fn a_sync_that_degrades_names_the_deployment() {
    let Some(k) = control_plane() else { return };
    let ns = k.namespace("argocd");
    let argo = FakeArgo::start(k, &ns);
    k.apply(&argocd::application(
        "api",
        &ns,
        "shop",
        AppState::OutOfSyncSelfHeal,
    ));
    argocd::annotate(k, &ns, "api", OUTCOME, Outcome::Degrade.as_str());

    let seen = sync_until(
        k,
        &ns,
        "api",
        &argocd::sync_operation(Some(RELEASE)),
        "Succeeded",
        |app| health(app) == "Degraded",
    );
    assert_eq!(sequence(&seen, phase), ["Running", "Succeeded"]);
    assert_eq!(
        sequence(&seen, health),
        ["Healthy", "Progressing", "Degraded"]
    );
    let done = seen.last().unwrap();
    let message = r#"Deployment "api" exceeded its progress deadline"#;
    assert_eq!(
        done["status"]["health"]["message"], message,
        "{}",
        done["status"]["health"]
    );
    let deployment = resource(done, "Deployment", "api");
    assert_eq!(
        deployment["health"],
        json!({"status": "Degraded", "message": message})
    );
    assert_eq!(
        resource(done, "Service", "api")["health"]["status"],
        "Healthy"
    );
    assert_eq!(done["status"]["sync"]["status"], "Synced");
    assert_eq!(done["status"]["sync"]["revision"], RELEASE);
    assert_eq!(done["status"]["history"][1]["revision"], RELEASE);
    assert_eq!(argo.errors(), Vec::<String>::new());
}

#[test]
fn a_sync_that_hangs_stays_running_until_terminated() {
    let Some(k) = control_plane() else { return };
    let ns = k.namespace("argocd");
    let argo = FakeArgo::start(k, &ns);
    k.apply(&argocd::application(
        "stuck",
        &ns,
        "shop",
        AppState::SyncedHealthy,
    ));
    k.apply(&argocd::application(
        "quick",
        &ns,
        "shop",
        AppState::SyncedHealthy,
    ));
    argocd::annotate(k, &ns, "stuck", OUTCOME, Outcome::Hang.as_str());
    let before = argocd::get_application(k, &ns, "stuck");

    let operation = argocd::sync_operation(Some(RELEASE));
    let since = argocd::request_operation(k, &ns, "stuck", &operation);
    argocd::watch_application(k, &ns, "stuck", &since, |app| phase(app) == "Running");
    // Every step of another sync later, `stuck` is still running.
    sync_until(
        k,
        &ns,
        "quick",
        &argocd::sync_operation(None),
        "Succeeded",
        |app| health(app) == "Healthy",
    );
    let stuck = argocd::get_application(k, &ns, "stuck");
    assert_eq!(phase(&stuck), "Running");
    assert_eq!(stuck["operation"], operation, "operation left in place");
    assert!(stuck["status"]["operationState"]["finishedAt"].is_null());
    for field in ["sync", "health", "history"] {
        assert_eq!(stuck["status"][field], before["status"][field], "{field}");
    }

    // Terminated (as `argocd app terminate-op` does): Failed, and done.
    let out = k.run(&[
        "patch",
        "applications.argoproj.io",
        "stuck",
        "-n",
        &ns,
        "--type=merge",
        "-p",
        r#"{"status":{"operationState":{"phase":"Terminating"}}}"#,
        "-o",
        "json",
    ]);
    let since: Value = serde_json::from_str(&out).unwrap();
    let since = since["metadata"]["resourceVersion"].as_str().unwrap();
    let seen = argocd::watch_application(k, &ns, "stuck", since, |app| phase(app) == "Failed");
    let done = seen.last().unwrap();
    assert_eq!(
        done["status"]["operationState"]["message"],
        "Operation terminated"
    );
    assert!(!requested(done));
    assert_eq!(argo.errors(), Vec::<String>::new());
}

#[test]
fn an_unknown_outcome_ends_the_operation_in_error_saying_so() {
    let Some(k) = control_plane() else { return };
    let ns = k.namespace("argocd");
    let argo = FakeArgo::start(k, &ns);
    k.apply(&argocd::application(
        "odd",
        &ns,
        "shop",
        AppState::SyncedHealthy,
    ));
    argocd::annotate(k, &ns, "odd", OUTCOME, "explode");
    let seen = sync_until(
        k,
        &ns,
        "odd",
        &argocd::sync_operation(None),
        "Error",
        |_| true,
    );
    let done = seen.last().unwrap();
    let message = done["status"]["operationState"]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains(OUTCOME) && message.contains("\"explode\"") && message.contains("succeed"),
        "{message}"
    );
    assert!(!requested(done));
    assert_eq!(argo.errors(), Vec::<String>::new());
}

/// The states, and what a reader of each sees first.
fn states() -> Vec<(AppState, &'static str, &'static str, &'static str)> {
    vec![
        (AppState::SyncedHealthy, "Synced", "Healthy", "Succeeded"),
        (
            AppState::OutOfSyncSelfHeal,
            "OutOfSync",
            "Healthy",
            "Succeeded",
        ),
        (AppState::ComparisonError, "Unknown", "Healthy", "Succeeded"),
        (
            AppState::Degraded {
                resource: "api-worker".into(),
            },
            "Synced",
            "Degraded",
            "Succeeded",
        ),
        (AppState::Progressing, "Synced", "Progressing", "Succeeded"),
        (
            AppState::RunningOperation { minutes: 15 },
            "OutOfSync",
            "Progressing",
            "Running",
        ),
        (AppState::SyncFailed, "OutOfSync", "Healthy", "Failed"),
    ]
}

#[test]
fn built_applications_are_stored_as_built() {
    let Some(k) = control_plane() else { return };
    argocd::install_crds(k);
    let ns = k.namespace("argocd");
    for (i, (state, sync, health_status, op_phase)) in states().into_iter().enumerate() {
        let name = format!("app-{i}");
        let yaml = argocd::application(&name, &ns, "shop", state.clone());
        let built: Value = serde_yaml::from_str(&yaml).unwrap();
        let out = k.run_with_input(&["create", "-f", "-", "-o", "json"], &yaml);
        let stored: Value = serde_json::from_str(&out).unwrap();
        // The schema refuses a wrong type and drops an unknown field: what
        // is stored is what was built, field for field.
        for field in ["spec", "status", "operation"] {
            assert_eq!(stored[field], built[field], "{state:?}: {field}");
        }
        assert_eq!(
            stored["metadata"]["annotations"], built["metadata"]["annotations"],
            "{state:?}"
        );
        assert_eq!(stored["status"]["sync"]["status"], sync, "{state:?}");
        assert_eq!(health(&stored), health_status, "{state:?}");
        assert_eq!(phase(&stored), op_phase, "{state:?}");
        assert_eq!(stored["status"]["history"][0]["id"], 0, "{state:?}");
        match state {
            AppState::ComparisonError => {
                assert_eq!(stored["status"]["conditions"][0]["type"], "ComparisonError");
            }
            AppState::Degraded {
                resource: ref deployment,
            } => {
                let r = resource(&stored, "Deployment", deployment);
                assert_eq!(r["health"]["status"], "Degraded");
            }
            AppState::RunningOperation { .. } => {
                assert!(requested(&stored));
                assert_eq!(stored["metadata"]["annotations"][OUTCOME], "hang");
            }
            AppState::SyncFailed => {
                let results = &stored["status"]["operationState"]["syncResult"]["resources"];
                assert!(
                    results
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r["status"] == "SyncFailed"),
                    "{results}"
                );
            }
            AppState::OutOfSyncSelfHeal => {
                let automated = &stored["spec"]["syncPolicy"]["automated"];
                assert_eq!(*automated, json!({"prune": true, "selfHeal": true}));
            }
            _ => {}
        }
    }
}

#[test]
fn a_benchmarks_applications_spread_over_namespaces_in_every_state() {
    let Some(k) = control_plane() else { return };
    argocd::install_crds(k);
    let (a, b) = (k.namespace("argocd"), k.namespace("argocd"));
    let n = 40;
    k.run_with_input(&["create", "-f", "-"], &argocd::applications(n, &[&a, &b]));
    let mut stored: Vec<Value> = Vec::new();
    for ns in [&a, &b] {
        let list: Value = serde_json::from_str(&k.run(&[
            "get",
            "applications.argoproj.io",
            "-n",
            ns,
            "-o",
            "json",
        ]))
        .unwrap();
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), n / 2, "{ns}");
        stored.extend(items.iter().cloned());
    }
    let unhealthy = stored.iter().filter(|app| health(app) != "Healthy").count();
    let out_of_sync = stored
        .iter()
        .filter(|app| app["status"]["sync"]["status"] == "OutOfSync")
        .count();
    let expected_unhealthy = (0..n)
        .filter(|i| {
            matches!(
                argocd::benchmark_state(*i),
                AppState::Degraded { .. } | AppState::Progressing
            )
        })
        .count();
    assert_eq!(unhealthy, expected_unhealthy);
    assert_eq!(unhealthy, 4, "2 Degraded, 2 Progressing of 40");
    assert_eq!(
        out_of_sync, 4,
        "2 OutOfSync with selfHeal, 2 failed syncs of 40"
    );
    let first = stored
        .iter()
        .find(|app| app["metadata"]["name"] == argocd::benchmark_name(0))
        .unwrap();
    assert_eq!(first["metadata"]["namespace"], a.as_str());
    assert_eq!(health(first), "Degraded");
}
