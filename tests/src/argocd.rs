//! Argo CD on the real API server ([`crate::kube`]), for the tests of
//! Guardian's GitOps support:
//! - [`install_crds`]: Argo CD's CRDs (v3.5.1, from
//!   `../shared/fixtures/argocd-crds`), installed once per process;
//! - [`FakeArgo`]: a stand-in for Argo CD's application controller on one
//!   Argo CD namespace. It carries out the sync operations requested on the
//!   Applications there and writes their status as Argo CD v3 does, with the
//!   outcome each Application's annotation [`OUTCOME`] asks for;
//! - [`application`] / [`applications`]: Applications in given states, their
//!   status as Argo CD v3 writes it, one at a time or a benchmark's worth;
//! - [`request_operation`], [`get_application`], [`watch_application`]: what
//!   a test does to and sees of an Application.
//!
//! ```no_run
//! use guardian_tests::argocd::{self, FakeArgo, Outcome, AppState};
//! let Some(k) = guardian_tests::kube::control_plane() else { return };
//! let ns = k.namespace("argocd");
//! let argo = FakeArgo::start(k, &ns);                  // stopped when dropped
//! k.apply(&argocd::application("shop", &ns, "shop", AppState::OutOfSyncSelfHeal));
//! argocd::annotate(k, &ns, "shop", argocd::OUTCOME, Outcome::Fail.as_str());
//! let since = argocd::request_operation(k, &ns, "shop", &argocd::sync_operation(None));
//! let seen = argocd::watch_application(k, &ns, "shop", &since, |app| {
//!     app["status"]["operationState"]["phase"] == "Failed"
//! });
//! ```
//!
//! Nothing here runs a workload: the Deployments and Services an
//! Application's status names need not exist, and no Git repository is
//! read. The Application CRD has no status subresource: its `status` is
//! written with the object itself, so an Application created with a status
//! keeps it.
//!
//! The controller reads and writes through one `kubectl proxy` per process
//! (on a unix socket in the server's folder): a poll costs a request, not a
//! `kubectl` process. It polls (no watch to lose), and every write it makes
//! is a `PUT` of the object it read, refused by the server (409) when the
//! object changed in between; it then reads again on its next poll.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::kube::ControlPlane;

/// The annotation on an Application saying how [`FakeArgo`] ends the sync
/// operations requested on it: one of [`Outcome`]'s names (`succeed` when
/// absent). Another value ends the operation in phase `Error`, saying so.
pub const OUTCOME: &str = "test.guardian.dev/outcome";

/// The annotation on an Application giving the commit its source's branch
/// points to: the revision a sync without `sync.revision` deploys
/// ([`DEFAULT_HEAD`] when absent).
pub const HEAD: &str = "test.guardian.dev/head";

/// The annotation naming the Deployment the `degrade` outcome degrades (by
/// default the first Deployment the sync touched).
pub const DEGRADED: &str = "test.guardian.dev/degraded";

/// The annotation giving the apply error of the `fail` outcome (by default
/// a Deployment's invalid image).
pub const MESSAGE: &str = "test.guardian.dev/message";

/// The revision a sync deploys when neither the operation nor [`HEAD`]
/// names one; the revision the built Applications are synced (or compared)
/// to.
pub const DEFAULT_HEAD: &str = "8d2f6a9c4b1e7f3a5c0d9e8b7a6f5e4d3c2b1a09";

/// The revision deployed before [`DEFAULT_HEAD`] in the built
/// Applications' history (what an OutOfSync one still runs).
pub const PREVIOUS_REVISION: &str = "3e5a7c9b1d2f4a6c8e0b2d4f6a8c0e2b4d6f8a1c";

/// `spec.destination.server` of the built Applications: the cluster Argo CD
/// runs in.
pub const IN_CLUSTER: &str = "https://kubernetes.default.svc";

/// The Git repository of the built Applications (each in `apps/<name>`).
pub const REPO_URL: &str = "https://git.example.com/platform/gitops.git";

/// How long [`watch_application`] waits at most.
pub const WATCH_LIMIT: Duration = Duration::from_secs(120);

const API: &str = "/apis/argoproj.io/v1alpha1";
const MANAGER: &str = "argocd-application-controller";

// ------------------------------------------------------------------ CRDs

/// Argo CD's CRDs (Application, AppProject, ApplicationSet), applied
/// server-side once per process, then waited for until `Established` and
/// served (a list of each answers). The
/// server is shared by every test of the process: applying the same CRDs
/// again (here or from another test) changes nothing; a concurrent apply
/// that conflicts is retried.
pub fn install_crds(k: &ControlPlane) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let dir = crds_dir();
        let files = [
            "application-crd.yaml",
            "appproject-crd.yaml",
            "applicationset-crd.yaml",
        ]
        .map(|f| dir.join(f));
        if let Some(missing) = files.iter().find(|f| !f.is_file()) {
            panic!(
                "Argo CD's CRDs are missing: {} (the shared fixtures are expected beside the \
                 repository, in ../shared/fixtures/argocd-crds)",
                missing.display()
            );
        }
        k.apply_server_side(&files);
        for plural in ["applications", "appprojects", "applicationsets"] {
            wait_served(k, plural);
        }
    });
}

/// Waits until CRD `<plural>.argoproj.io` is `Established` and a list of
/// its objects is answered (a new resource's storage answers 429 for a
/// moment after that).
fn wait_served(k: &ControlPlane, plural: &str) {
    let api = proxy(k);
    let crd =
        format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{plural}.argoproj.io");
    let list = format!("{API}/{plural}?limit=1");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let established = match api.call("GET", &crd, None) {
            Ok((200, crd)) => crd["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Established" && c["status"] == "True"),
            _ => false,
        };
        let last = match api.call("GET", &list, None) {
            Ok((200, _)) if established => return,
            Ok((status, answer)) => format!("{status} {}", message_of(&answer)),
            Err(e) => e.to_string(),
        };
        assert!(
            Instant::now() < deadline,
            "{plural}.argoproj.io not served after 120 s (established: {established}; a list: {last})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `../shared/fixtures/argocd-crds`, beside the repository.
pub fn crds_dir() -> PathBuf {
    Path::new(crate::REPO_ROOT).join("../shared/fixtures/argocd-crds")
}

// --------------------------------------------------------------- outcomes

/// How [`FakeArgo`] ends a sync operation (the annotation [`OUTCOME`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `succeed`: phase `Succeeded`, every synced resource `Synced`, sync
    /// `Synced` at the revision, a history entry; health `Progressing`, then
    /// (one step later) `Healthy`.
    Succeed,
    /// `fail`: phase `Failed`; one resource `SyncFailed` with the apply
    /// error ([`MESSAGE`]); sync, health and history as they were.
    Fail,
    /// `progress`: as `succeed`, but health stays `Progressing`.
    Progress,
    /// `degrade`: as `succeed`, but one step later a Deployment ([`DEGRADED`])
    /// is `Degraded` ("exceeded its progress deadline") and so is the app.
    Degrade,
    /// `hang`: the operation stays `Running` (and `operation` stays set).
    Hang,
}

impl Outcome {
    /// The annotation's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeed => "succeed",
            Outcome::Fail => "fail",
            Outcome::Progress => "progress",
            Outcome::Degrade => "degrade",
            Outcome::Hang => "hang",
        }
    }

    fn parse(value: &str) -> Option<Outcome> {
        [
            Outcome::Succeed,
            Outcome::Fail,
            Outcome::Progress,
            Outcome::Degrade,
            Outcome::Hang,
        ]
        .into_iter()
        .find(|o| o.as_str() == value)
    }
}

// ------------------------------------------------------------- controller

/// How fast [`FakeArgo`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FakeArgoConfig {
    /// Between two writes to one Application (Running → Succeeded →
    /// Healthy): long enough for a watcher to see each. Default 300 ms.
    pub step: Duration,
    /// Between two reads of the namespace's Applications (each a list of
    /// all of them: lengthen it for a namespace of thousands). Default
    /// 100 ms.
    pub poll: Duration,
}

impl Default for FakeArgoConfig {
    fn default() -> Self {
        FakeArgoConfig {
            step: Duration::from_millis(300),
            poll: Duration::from_millis(100),
        }
    }
}

/// Argo CD's application controller for the Applications of one namespace,
/// on a thread of this process until dropped.
///
/// When an Application has `operation` set and no operation is running
/// (`status.operationState` absent or `Succeeded`/`Failed`/`Error`), it
/// writes `status.operationState {operation (a copy of the request), phase:
/// Running, message, startedAt}` (an operation already `Running` is taken
/// up as it is). One step later it ends it as [`OUTCOME`] says:
/// - `succeed`: `operationState {phase: Succeeded, message: "successfully
///   synced (all tasks run)", finishedAt, syncResult {revision, source,
///   resources[] (each Synced)}}`; each synced resource of
///   `status.resources` `Synced` (a Deployment `Progressing`), `status.sync
///   {status, revision, comparedTo {source, destination}}` (`Synced` when
///   every resource is), `status.health` the worst resource health; an entry
///   appended to `status.history` (id = last + 1, from 0; `revision`,
///   `deployStartedAt` = startedAt, `deployedAt` = finishedAt, `source`,
///   `initiatedBy`; at most `spec.revisionHistoryLimit`, default 10) unless
///   the sync named `resources` or was a dry run (Argo CD records neither);
///   the `ComparisonError` and `SyncError` conditions dropped; `operation`
///   removed. One step later the `Progressing` resources and the app are
///   `Healthy`;
/// - `progress`: the same, staying `Progressing`;
/// - `degrade`: the same, then the Deployment [`DEGRADED`] (by default the
///   first synced) `Degraded` with `Deployment "X" exceeded its progress
///   deadline`, and the app's health `Degraded` with that message;
/// - `fail`: `operationState {phase: Failed, message: "one or more objects
///   failed to apply, reason: M", finishedAt, syncResult}` with the first
///   synced Deployment (or resource) `SyncFailed` with message M
///   ([`MESSAGE`]), the others `Synced`; sync, health and history
///   unchanged; `operation` removed;
/// - `hang`: nothing more: `Running`, with `operation` in place.
///
/// The revision is the operation's `sync.revision` when given, else the
/// annotation [`HEAD`], else [`DEFAULT_HEAD`]. The resources are those of
/// `status.resources` (a Service and a Deployment named after the app in
/// its destination namespace when there are none) that the operation's
/// `sync.resources` names (all when it names none). An operation set to
/// `Terminating` ends `Failed` with "Operation terminated" (a `hang` too).
/// It does not sync by itself (no automated sync, no self-heal) and does
/// not refresh: an Application nobody asks to sync keeps its status.
///
/// A write the server refuses other than for a conflict is a bug here:
/// [`FakeArgo::errors`] lists them.
#[derive(Debug)]
pub struct FakeArgo {
    namespace: String,
    stop: Arc<AtomicBool>,
    errors: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeArgo {
    /// Starts it on `argocd_ns` with [`FakeArgoConfig::default`] (installs
    /// the CRDs first when needed).
    pub fn start(k: &ControlPlane, argocd_ns: &str) -> FakeArgo {
        FakeArgo::start_with(k, argocd_ns, FakeArgoConfig::default())
    }

    /// Starts it on `argocd_ns` going as fast as `config` says.
    pub fn start_with(k: &ControlPlane, argocd_ns: &str, config: FakeArgoConfig) -> FakeArgo {
        install_crds(k);
        let api = proxy(k);
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let mut controller = Controller {
            api,
            namespace: argocd_ns.to_owned(),
            config,
            running: HashMap::new(),
            settling: HashMap::new(),
            refused: HashSet::new(),
            errors: errors.clone(),
        };
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fake-argo-{argocd_ns}"))
            .spawn(move || {
                while !stopped.load(Ordering::SeqCst) {
                    controller.pass();
                    std::thread::sleep(controller.config.poll);
                }
            })
            .expect("a thread for the fake Argo CD controller");
        FakeArgo {
            namespace: argocd_ns.to_owned(),
            stop,
            errors,
            thread: Some(thread),
        }
    }

    /// The Argo CD namespace it serves.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The writes the server refused (not counting conflicts and objects
    /// deleted meanwhile, which it retries or forgets): each names the
    /// Application and the server's answer. Empty when all went well.
    pub fn errors(&self) -> Vec<String> {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for FakeArgo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What is left to do on an Application after a successful sync.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Settle {
    Healthy,
    Degraded { deployment: String },
}

struct Controller {
    api: &'static Api,
    namespace: String,
    config: FakeArgoConfig,
    /// uid → when its operation was seen Running first.
    running: HashMap<String, Instant>,
    /// uid → when it synced, and what its health becomes.
    settling: HashMap<String, (Instant, Settle)>,
    /// (uid, resourceVersion) of the versions a write was refused for: not
    /// tried again until the Application changes.
    refused: HashSet<(String, String)>,
    errors: Arc<Mutex<Vec<String>>>,
}

enum Written {
    Yes,
    /// Changed or deleted meanwhile: read again next time.
    Stale,
    No,
}

impl Controller {
    fn pass(&mut self) {
        let path = format!("{API}/namespaces/{}/applications", self.namespace);
        let apps = match self.api.call("GET", &path, None) {
            Ok((200, list)) => list["items"].as_array().cloned().unwrap_or_default(),
            Ok((status, answer)) => {
                eprintln!(
                    "fake Argo CD: listing Applications in {}: {status} {}",
                    self.namespace,
                    message_of(&answer)
                );
                return;
            }
            Err(e) => {
                eprintln!(
                    "fake Argo CD: listing Applications in {}: {e}",
                    self.namespace
                );
                return;
            }
        };
        let uids: HashSet<String> = apps.iter().map(uid_of).collect();
        self.running.retain(|uid, _| uids.contains(uid));
        self.settling.retain(|uid, _| uids.contains(uid));
        self.refused.retain(|(uid, _)| uids.contains(uid));
        for app in apps {
            self.reconcile(app);
        }
    }

    fn reconcile(&mut self, app: Value) {
        let uid = uid_of(&app);
        let version = app["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if self.refused.contains(&(uid.clone(), version)) {
            return;
        }
        let requested = app.get("operation").is_some_and(|o| !o.is_null());
        let phase = app["status"]["operationState"]["phase"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let now = Instant::now();
        match phase.as_str() {
            "Terminating" => {
                let mut next = app.clone();
                terminate(&mut next, &now_rfc3339());
                if let Written::Yes = self.write(&next) {
                    self.running.remove(&uid);
                }
            }
            "Running" if requested => {
                let since = *self.running.entry(uid.clone()).or_insert(now);
                if now.duration_since(since) < self.config.step {
                    return;
                }
                let outcome = app["metadata"]["annotations"][OUTCOME]
                    .as_str()
                    .unwrap_or("succeed");
                let outcome = Outcome::parse(outcome).ok_or_else(|| outcome.to_owned());
                if outcome == Ok(Outcome::Hang) {
                    return;
                }
                let mut next = app.clone();
                let settle = finish(&mut next, outcome, &now_rfc3339());
                if let Written::Yes = self.write(&next) {
                    self.running.remove(&uid);
                    if let Some(settle) = settle {
                        self.settling.insert(uid, (now, settle));
                    }
                }
            }
            "Running" => {}
            _ if requested => {
                let mut next = app.clone();
                begin(&mut next, &now_rfc3339());
                if let Written::Yes = self.write(&next) {
                    self.running.insert(uid.clone(), now);
                    self.settling.remove(&uid);
                }
            }
            "Succeeded" => {
                let Some((since, settle)) = self.settling.get(&uid).cloned() else {
                    return;
                };
                if now.duration_since(since) < self.config.step {
                    return;
                }
                let mut next = app.clone();
                settle_health(&mut next, &settle, &now_rfc3339());
                match self.write(&next) {
                    Written::Stale => {}
                    Written::Yes | Written::No => {
                        self.settling.remove(&uid);
                    }
                }
            }
            _ => {}
        }
    }

    /// `PUT`s `app` as read and changed: refused with 409 when it changed
    /// meanwhile, and with 400 for a field the CRD does not know (a bug
    /// here, not silently dropped).
    fn write(&mut self, app: &Value) -> Written {
        let mut body = app.clone();
        body["apiVersion"] = json!("argoproj.io/v1alpha1");
        body["kind"] = json!("Application");
        if let Some(meta) = body["metadata"].as_object_mut() {
            meta.remove("managedFields");
        }
        let name = app["metadata"]["name"].as_str().unwrap_or_default();
        let path = format!(
            "{API}/namespaces/{}/applications/{name}?fieldManager={MANAGER}&fieldValidation=Strict",
            self.namespace
        );
        match self.api.call("PUT", &path, Some(&body)) {
            Ok((200, _)) => Written::Yes,
            Ok((404 | 409, _)) => Written::Stale,
            Ok((status, answer)) => {
                let error = format!(
                    "writing Application {}/{name}: {status} {}",
                    self.namespace,
                    message_of(&answer)
                );
                eprintln!("fake Argo CD: {error}");
                let version = app["metadata"]["resourceVersion"].as_str().unwrap_or("");
                self.refused.insert((uid_of(app), version.to_owned()));
                self.errors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(error);
                Written::No
            }
            Err(e) => {
                eprintln!(
                    "fake Argo CD: writing Application {}/{name}: {e}",
                    self.namespace
                );
                Written::Stale
            }
        }
    }
}

fn uid_of(app: &Value) -> String {
    app["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn message_of(answer: &Value) -> String {
    answer["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| answer.to_string())
}

/// A new operation starts: `Running`, with a copy of the request.
fn begin(app: &mut Value, now: &str) {
    let operation = app["operation"].clone();
    app["status"]["operationState"] = json!({
        "operation": operation,
        "phase": "Running",
        "message": "one or more tasks are running",
        "startedAt": now,
    });
    app["status"]["reconciledAt"] = json!(now);
}

/// A `Terminating` operation ends `Failed`, as Argo CD ends one it was told
/// to terminate.
fn terminate(app: &mut Value, now: &str) {
    let state = &mut app["status"]["operationState"];
    state["phase"] = json!("Failed");
    state["message"] = json!("Operation terminated");
    state["finishedAt"] = json!(now);
    remove(app, "operation");
}

fn remove(object: &mut Value, key: &str) {
    if let Some(o) = object.as_object_mut() {
        o.remove(key);
    }
}

/// A resource of `status.resources` or of a sync result is the one a
/// `sync.resources` entry names (`namespace` defaulting to the destination).
fn selects(selector: &Value, resource: &Value, dest_ns: &str) -> bool {
    let field = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_owned();
    field(selector, "group") == field(resource, "group")
        && field(selector, "kind") == field(resource, "kind")
        && field(selector, "name") == field(resource, "name")
        && selector["namespace"]
            .as_str()
            .is_none_or(|ns| resource["namespace"].as_str().unwrap_or(dest_ns) == ns)
}

/// `deployment.apps/web`, `service/web`: how kubectl names what it applied.
fn applied_name(resource: &Value) -> String {
    let kind = resource["kind"].as_str().unwrap_or("").to_lowercase();
    let name = resource["name"].as_str().unwrap_or("");
    match resource["group"].as_str().unwrap_or("") {
        "" => format!("{kind}/{name}"),
        group => format!("{kind}.{group}/{name}"),
    }
}

/// A sync result's entry for `resource`.
fn result_of(resource: &Value, dest_ns: &str, status: &str, message: &str) -> Value {
    json!({
        "group": resource["group"].as_str().unwrap_or(""),
        "version": resource["version"].as_str().unwrap_or("v1"),
        "kind": resource["kind"],
        "namespace": resource["namespace"].as_str().unwrap_or(dest_ns),
        "name": resource["name"],
        "status": status,
        "message": message,
        "hookPhase": if status == "SyncFailed" { "Failed" } else { "Running" },
        "syncPhase": "Sync",
    })
}

/// Argo CD's order of health, best first.
const HEALTH_ORDER: [&str; 6] = [
    "Healthy",
    "Suspended",
    "Progressing",
    "Missing",
    "Degraded",
    "Unknown",
];

fn health_rank(status: &str) -> usize {
    HEALTH_ORDER
        .iter()
        .position(|h| *h == status)
        .unwrap_or(HEALTH_ORDER.len() - 1)
}

/// The app's health from its resources' (the worst; `Healthy` without
/// resources), keeping `message` and the transition time when unchanged.
fn set_app_health(app: &mut Value, message: Option<&str>, now: &str) {
    let worst = app["status"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["health"]["status"].as_str())
        .max_by_key(|h| health_rank(h))
        .unwrap_or("Healthy")
        .to_owned();
    let before = app["status"]["health"].clone();
    let since = if before["status"].as_str() == Some(worst.as_str()) {
        before["lastTransitionTime"].clone()
    } else {
        json!(now)
    };
    let mut health = json!({"status": worst});
    if let Some(message) = message {
        health["message"] = json!(message);
    }
    if !since.is_null() {
        health["lastTransitionTime"] = since;
    }
    app["status"]["health"] = health;
}

/// The resources of the app: `status.resources`, or a Service and a
/// Deployment named after it when there are none.
fn resources_of(app: &Value, dest_ns: &str) -> Vec<Value> {
    match app["status"]["resources"].as_array() {
        Some(resources) if !resources.is_empty() => resources.clone(),
        _ => {
            let name = app["metadata"]["name"].as_str().unwrap_or("app");
            vec![
                resource("Service", name, dest_ns, Some("OutOfSync"), "Missing", None),
                resource(
                    "Deployment",
                    name,
                    dest_ns,
                    Some("OutOfSync"),
                    "Missing",
                    None,
                ),
            ]
        }
    }
}

/// Ends the `Running` operation of `app` as `outcome` says (`Err(value)`: an
/// unknown annotation value). Returns what its health becomes one step
/// later, if anything.
fn finish(app: &mut Value, outcome: Result<Outcome, String>, now: &str) -> Option<Settle> {
    let operation = match &app["status"]["operationState"]["operation"] {
        Value::Null => app["operation"].clone(),
        op => op.clone(),
    };
    let sync = operation["sync"].clone();
    let end = |app: &mut Value, phase: &str, message: String, sync_result: Option<Value>| {
        let state = &mut app["status"]["operationState"];
        state["phase"] = json!(phase);
        state["message"] = json!(message);
        state["finishedAt"] = json!(now);
        if let Some(result) = sync_result {
            state["syncResult"] = result;
        }
        app["status"]["reconciledAt"] = json!(now);
        remove(app, "operation");
    };
    if sync.is_null() {
        end(
            app,
            "Failed",
            "Invalid operation request: no operation specified".into(),
            None,
        );
        return None;
    }
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(value) => {
            end(
                app,
                "Error",
                format!(
                    "unknown {OUTCOME} {value:?}: use succeed, fail, progress, degrade or hang"
                ),
                None,
            );
            return None;
        }
    };
    let name = app["metadata"]["name"].as_str().unwrap_or("app").to_owned();
    let annotation = |key: &str| {
        app["metadata"]["annotations"][key]
            .as_str()
            .map(str::to_owned)
    };
    let revision = sync["revision"]
        .as_str()
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .or_else(|| annotation(HEAD))
        .unwrap_or_else(|| DEFAULT_HEAD.to_owned());
    let dest_ns = app["spec"]["destination"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let selected: Option<Vec<Value>> = sync["resources"]
        .as_array()
        .filter(|s| !s.is_empty())
        .cloned();
    let in_scope = |r: &Value| {
        selected
            .as_ref()
            .is_none_or(|sel| sel.iter().any(|s| selects(s, r, &dest_ns)))
    };
    let dry_run = sync["dryRun"].as_bool() == Some(true);
    let sources = app["spec"]["sources"]
        .as_array()
        .filter(|s| !s.is_empty())
        .cloned();
    let source = app["spec"]["source"].clone();
    let mut sync_result = json!({"revision": revision, "resources": []});
    match &sources {
        Some(sources) => {
            sync_result["sources"] = json!(sources);
            sync_result["revisions"] = json!(vec![revision.clone(); sources.len()]);
        }
        None if !source.is_null() => sync_result["source"] = source.clone(),
        None => {}
    }
    let mut resources = resources_of(app, &dest_ns);

    if outcome == Outcome::Fail {
        let failing = resources
            .iter()
            .position(|r| in_scope(r) && r["kind"] == "Deployment")
            .or_else(|| resources.iter().position(&in_scope));
        let failed_resource = match failing {
            Some(i) => resources[i].clone(),
            None => resource("Deployment", &name, &dest_ns, None, "Missing", None),
        };
        let error = annotation(MESSAGE).unwrap_or_else(|| {
            let kind = failed_resource["kind"].as_str().unwrap_or("");
            let kind = match failed_resource["group"].as_str().unwrap_or("") {
                "" => kind.to_owned(),
                group => format!("{kind}.{group}"),
            };
            format!(
                "{kind} {:?} is invalid: spec.template.spec.containers[0].image: Required value",
                failed_resource["name"].as_str().unwrap_or("")
            )
        });
        let mut results: Vec<Value> = Vec::new();
        if failing.is_none() {
            results.push(result_of(&failed_resource, &dest_ns, "SyncFailed", &error));
        }
        for (i, r) in resources.iter().enumerate() {
            if Some(i) == failing {
                results.push(result_of(r, &dest_ns, "SyncFailed", &error));
            } else if in_scope(r) {
                let message = format!("{} configured", applied_name(r));
                results.push(result_of(r, &dest_ns, "Synced", &message));
            }
        }
        sync_result["resources"] = json!(results);
        end(
            app,
            "Failed",
            format!("one or more objects failed to apply, reason: {error}"),
            Some(sync_result),
        );
        return None;
    }

    if dry_run {
        let results: Vec<Value> = resources
            .iter()
            .filter(|r| in_scope(r))
            .map(|r| {
                let message = format!("{} configured (dry run)", applied_name(r));
                result_of(r, &dest_ns, "Synced", &message)
            })
            .collect();
        sync_result["resources"] = json!(results);
        end(
            app,
            "Succeeded",
            "successfully synced (dry run)".into(),
            Some(sync_result),
        );
        return None;
    }

    let settle = match outcome {
        Outcome::Succeed => Some(Settle::Healthy),
        Outcome::Degrade => {
            let deployment = annotation(DEGRADED)
                .or_else(|| {
                    resources
                        .iter()
                        .find(|r| in_scope(r) && r["kind"] == "Deployment")
                        .and_then(|r| r["name"].as_str().map(str::to_owned))
                })
                .unwrap_or_else(|| name.clone());
            let known = resources
                .iter()
                .any(|r| r["kind"] == "Deployment" && r["name"] == deployment.as_str());
            if !known {
                resources.push(resource(
                    "Deployment",
                    &deployment,
                    &dest_ns,
                    Some("OutOfSync"),
                    "Missing",
                    None,
                ));
            }
            Some(Settle::Degraded { deployment })
        }
        _ => None,
    };
    let mut results = Vec::new();
    for r in resources.iter_mut() {
        let named = matches!(&settle, Some(Settle::Degraded { deployment })
            if r["kind"] == "Deployment" && r["name"] == deployment.as_str());
        if !in_scope(r) && !named {
            continue;
        }
        let message = format!("{} configured", applied_name(r));
        results.push(result_of(r, &dest_ns, "Synced", &message));
        r["status"] = json!("Synced");
        r["health"] = if r["kind"] == "Deployment" {
            json!({
                "status": "Progressing",
                "message": "Waiting for rollout to finish: 0 of 1 updated replicas are available...",
            })
        } else {
            json!({"status": "Healthy"})
        };
    }
    sync_result["resources"] = json!(results);
    let all_synced = resources.iter().all(|r| r["status"] == "Synced");
    app["status"]["resources"] = json!(resources);

    let mut compared_to = json!({"destination": app["spec"]["destination"]});
    let mut sync_status = json!({"status": if all_synced { "Synced" } else { "OutOfSync" }});
    match &sources {
        Some(sources) => {
            compared_to["sources"] = json!(sources);
            sync_status["revisions"] = json!(vec![revision.clone(); sources.len()]);
        }
        None => {
            compared_to["source"] = source.clone();
            sync_status["revision"] = json!(revision);
        }
    }
    sync_status["comparedTo"] = compared_to;
    app["status"]["sync"] = sync_status;
    set_app_health(app, None, now);

    if selected.is_none() {
        let mut history = app["status"]["history"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let id = history
            .last()
            .and_then(|h| h["id"].as_i64())
            .map_or(0, |id| id + 1);
        let mut entry = json!({
            "id": id,
            "deployedAt": now,
            "deployStartedAt": app["status"]["operationState"]["startedAt"],
            "initiatedBy": operation["initiatedBy"],
        });
        match &sources {
            Some(sources) => {
                entry["sources"] = json!(sources);
                entry["revisions"] = json!(vec![revision.clone(); sources.len()]);
            }
            None => {
                entry["revision"] = json!(revision);
                entry["source"] = source;
            }
        }
        if entry["initiatedBy"].is_null() {
            remove(&mut entry, "initiatedBy");
        }
        history.push(entry);
        let limit = app["spec"]["revisionHistoryLimit"].as_u64().unwrap_or(10) as usize;
        let excess = history.len().saturating_sub(limit.max(1));
        history.drain(..excess);
        app["status"]["history"] = json!(history);
    }
    if let Some(conditions) = app["status"]["conditions"].as_array_mut() {
        conditions.retain(|c| !matches!(c["type"].as_str(), Some("ComparisonError" | "SyncError")));
    }
    end(
        app,
        "Succeeded",
        "successfully synced (all tasks run)".into(),
        Some(sync_result),
    );
    settle
}

/// One step after a successful sync: the `Progressing` resources become
/// `Healthy`, or the named Deployment `Degraded`.
fn settle_health(app: &mut Value, settle: &Settle, now: &str) {
    let mut message = None;
    if let Some(resources) = app["status"]["resources"].as_array_mut() {
        for r in resources {
            match settle {
                Settle::Degraded { deployment }
                    if r["kind"] == "Deployment" && r["name"] == deployment.as_str() =>
                {
                    let text = format!("Deployment {deployment:?} exceeded its progress deadline");
                    r["health"] = json!({"status": "Degraded", "message": text});
                    message = Some(text);
                }
                _ if r["health"]["status"] == "Progressing" => {
                    r["health"] = json!({"status": "Healthy"});
                }
                _ => {}
            }
        }
    }
    set_app_health(app, message.as_deref(), now);
    app["status"]["reconciledAt"] = json!(now);
}

// ------------------------------------------------------ a test's handles

/// The operation Guardian's `argocd.sync` requests: by `guardian`, with a
/// reason, `sync.revision` when given, no prune.
pub fn sync_operation(revision: Option<&str>) -> Value {
    let mut sync = json!({"prune": false});
    if let Some(revision) = revision {
        sync["revision"] = json!(revision);
    }
    json!({
        "initiatedBy": {"username": "guardian"},
        "info": [{"name": "reason", "value": "requested by a test"}],
        "sync": sync,
    })
}

/// Sets `operation` on Application `ns/name` (a merge patch, as the admin),
/// as `argocd app sync` does; returns the Application's new
/// `resourceVersion` (what to watch from).
pub fn request_operation(k: &ControlPlane, ns: &str, name: &str, operation: &Value) -> String {
    let patch = json!({ "operation": operation }).to_string();
    let out = k.run(&[
        "patch",
        "applications.argoproj.io",
        name,
        "-n",
        ns,
        "--type=merge",
        "-p",
        &patch,
        "-o",
        "json",
    ]);
    let app: Value = serde_json::from_str(&out).expect("kubectl patch -o json");
    app["metadata"]["resourceVersion"]
        .as_str()
        .expect("a resourceVersion")
        .to_owned()
}

/// Sets annotation `key` of Application `ns/name` to `value` (e.g.
/// [`OUTCOME`], [`HEAD`]).
pub fn annotate(k: &ControlPlane, ns: &str, name: &str, key: &str, value: &str) {
    k.run(&[
        "annotate",
        "--overwrite",
        "applications.argoproj.io",
        name,
        "-n",
        ns,
        &format!("{key}={value}"),
    ]);
}

/// Application `ns/name` as the server has it now.
pub fn get_application(k: &ControlPlane, ns: &str, name: &str) -> Value {
    let path = format!("{API}/namespaces/{ns}/applications/{name}");
    match proxy(k).call("GET", &path, None) {
        Ok((200, app)) => app,
        Ok((status, answer)) => panic!(
            "getting Application {ns}/{name}: {status} {}",
            message_of(&answer)
        ),
        Err(e) => panic!("getting Application {ns}/{name}: {e}"),
    }
}

/// Every version of Application `ns/name` written after `resource_version`,
/// in order, up to the first one `until` accepts (a watch: no version is
/// missed however slowly this runs). Panics, listing what it saw, when no
/// version is accepted within [`WATCH_LIMIT`] or the Application is deleted.
pub fn watch_application(
    k: &ControlPlane,
    ns: &str,
    name: &str,
    resource_version: &str,
    mut until: impl FnMut(&Value) -> bool,
) -> Vec<Value> {
    let api = proxy(k);
    let deadline = Instant::now() + WATCH_LIMIT;
    let mut seen: Vec<Value> = Vec::new();
    let mut from = resource_version.to_owned();
    let report = |seen: &[Value]| seen.iter().map(describe).collect::<Vec<_>>().join("\n  ");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "Application {ns}/{name}: not there after {WATCH_LIMIT:?}; seen:\n  {}",
            report(&seen)
        );
        let path = format!(
            "{API}/namespaces/{ns}/applications?watch=true&fieldSelector=metadata.name%3D{name}\
             &resourceVersion={from}&timeoutSeconds={}",
            left.as_secs().max(1)
        );
        let (status, mut reader) = api
            .open("GET", &path, None, left + Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("watching Application {ns}/{name}: {e}"));
        assert_eq!(status, 200, "watching Application {ns}/{name}");
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                Err(e) => panic!("watching Application {ns}/{name}: {e}"),
            }
            if line.trim().is_empty() {
                continue;
            }
            let event: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("watching Application {ns}/{name}: {e}: {line}"));
            match event["type"].as_str() {
                Some("ADDED" | "MODIFIED") => {
                    let object = event["object"].clone();
                    if let Some(rv) = object["metadata"]["resourceVersion"].as_str() {
                        from = rv.to_owned();
                    }
                    let done = until(&object);
                    seen.push(object);
                    if done {
                        return seen;
                    }
                }
                Some("DELETED") => panic!(
                    "Application {ns}/{name} was deleted while watched; seen:\n  {}",
                    report(&seen)
                ),
                Some("ERROR") => panic!(
                    "watching Application {ns}/{name}: {}",
                    message_of(&event["object"])
                ),
                _ => {}
            }
        }
    }
}

/// One line about a version of an Application: what a failed watch lists.
fn describe(app: &Value) -> String {
    let status = &app["status"];
    format!(
        "rv {} operation {} phase {} sync {} health {} history {}",
        app["metadata"]["resourceVersion"].as_str().unwrap_or("?"),
        if app.get("operation").is_some_and(|o| !o.is_null()) {
            "set"
        } else {
            "unset"
        },
        status["operationState"]["phase"].as_str().unwrap_or("-"),
        status["sync"]["status"].as_str().unwrap_or("-"),
        status["health"]["status"].as_str().unwrap_or("-"),
        status["history"].as_array().map_or(0, Vec::len),
    )
}

// --------------------------------------------------------------- builders

/// The state a built Application is in (its status as Argo CD v3 writes
/// it). Each has a Service and a Deployment named after the app in its
/// destination namespace (for `Degraded`, the Deployment is `resource`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppState {
    /// Synced to [`DEFAULT_HEAD`] and Healthy; manual sync; its last sync
    /// (by `admin`) succeeded ten minutes ago; one history entry.
    SyncedHealthy,
    /// Automated sync with prune and selfHeal; OutOfSync with
    /// [`DEFAULT_HEAD`] (the Deployment differs), Healthy; still at
    /// [`PREVIOUS_REVISION`], its last automated sync.
    OutOfSyncSelfHeal,
    /// Its source cannot be rendered: condition `ComparisonError` (the
    /// path does not exist in the repository), sync `Unknown`, Healthy.
    ComparisonError,
    /// Synced to [`DEFAULT_HEAD`]; Deployment `resource` Degraded ("exceeded
    /// its progress deadline"), and so the app.
    Degraded { resource: String },
    /// Synced to [`DEFAULT_HEAD`] a minute ago; its Deployment still rolling
    /// out: Progressing.
    Progressing,
    /// A sync to [`DEFAULT_HEAD`] by `admin` Running for `minutes` (`operation`
    /// still set), OutOfSync, Progressing; annotated `hang` so that
    /// [`FakeArgo`] leaves it running.
    RunningOperation { minutes: u32 },
    /// Its last sync (to [`DEFAULT_HEAD`], by `admin`) Failed: the Deployment
    /// `SyncFailed` (invalid image); OutOfSync, Healthy, still at
    /// [`PREVIOUS_REVISION`].
    SyncFailed,
}

/// Application `name` in Argo CD namespace `ns`, deploying to `dest_ns`, in
/// `state`, as YAML for `kubectl apply` / `kubectl create`: the server keeps
/// the status it is created with.
pub fn application(name: &str, ns: &str, dest_ns: &str, state: AppState) -> String {
    serde_yaml::to_string(&application_object(name, ns, dest_ns, state))
        .expect("an Application as YAML")
}

/// [`application`] as JSON (to change before creating it).
pub fn application_object(name: &str, ns: &str, dest_ns: &str, state: AppState) -> Value {
    let now = unix_now();
    let at = |ago: i64| rfc3339(now - ago);
    let source = json!({
        "repoURL": REPO_URL,
        "path": format!("apps/{name}"),
        "targetRevision": "main",
    });
    let destination = json!({"server": IN_CLUSTER, "namespace": dest_ns});
    let compared_to = json!({"source": source, "destination": destination});
    let deployment = match &state {
        AppState::Degraded { resource } => resource.clone(),
        _ => name.to_owned(),
    };
    let admin = json!({"username": "admin"});
    let automated = json!({"automated": true});
    let healthy = |kind: &str, n: &str, status: &str| {
        resource(kind, n, dest_ns, Some(status), "Healthy", None)
    };
    let service = |status: &str| healthy("Service", name, status);
    let configured = |kind: &str, n: &str| {
        let r = resource(kind, n, dest_ns, None, "Healthy", None);
        let message = format!("{} configured", applied_name(&r));
        result_of(&r, dest_ns, "Synced", &message)
    };
    let succeeded = |revision: &str, started: i64, by: &Value| {
        json!({
            "operation": {"initiatedBy": by, "sync": {"revision": revision}},
            "phase": "Succeeded",
            "message": "successfully synced (all tasks run)",
            "startedAt": at(started),
            "finishedAt": at(started - 5),
            "syncResult": {
                "revision": revision,
                "source": source,
                "resources": [configured("Service", name), configured("Deployment", &deployment)],
            },
        })
    };
    let history_of = |revision: &str, started: i64, by: &Value| {
        json!([{
            "id": 0,
            "revision": revision,
            "deployStartedAt": at(started),
            "deployedAt": at(started - 5),
            "source": source,
            "initiatedBy": by,
        }])
    };
    let invalid = format!(
        "Deployment.apps {deployment:?} is invalid: spec.template.spec.containers[0].image: Required value"
    );

    let mut annotations = Map::new();
    let mut sync_policy = Value::Null;
    let mut operation = Value::Null;
    let mut conditions = Value::Null;
    let (sync, health, resources, operation_state, history) = match &state {
        AppState::SyncedHealthy => (
            json!({"status": "Synced", "revision": DEFAULT_HEAD, "comparedTo": compared_to}),
            json!({"status": "Healthy", "lastTransitionTime": at(590)}),
            json!([
                service("Synced"),
                healthy("Deployment", &deployment, "Synced")
            ]),
            succeeded(DEFAULT_HEAD, 600, &admin),
            history_of(DEFAULT_HEAD, 600, &admin),
        ),
        AppState::OutOfSyncSelfHeal => {
            sync_policy = json!({"automated": {"prune": true, "selfHeal": true}});
            (
                json!({"status": "OutOfSync", "revision": DEFAULT_HEAD, "comparedTo": compared_to}),
                json!({"status": "Healthy", "lastTransitionTime": at(3590)}),
                json!([
                    service("Synced"),
                    healthy("Deployment", &deployment, "OutOfSync")
                ]),
                succeeded(PREVIOUS_REVISION, 3600, &automated),
                history_of(PREVIOUS_REVISION, 3600, &automated),
            )
        }
        AppState::ComparisonError => {
            conditions = json!([{
                "type": "ComparisonError",
                "message": format!(
                    "Failed to load target state: failed to generate manifest for source 1 of 1: \
                     rpc error: code = Unknown desc = apps/{name}: app path does not exist"
                ),
                "lastTransitionTime": at(300),
            }]);
            (
                json!({"status": "Unknown", "comparedTo": compared_to}),
                json!({"status": "Healthy", "lastTransitionTime": at(3590)}),
                json!([
                    resource("Service", name, dest_ns, None, "Healthy", None),
                    resource("Deployment", &deployment, dest_ns, None, "Healthy", None),
                ]),
                succeeded(PREVIOUS_REVISION, 3600, &admin),
                history_of(PREVIOUS_REVISION, 3600, &admin),
            )
        }
        AppState::Degraded { .. } => {
            let message = format!("Deployment {deployment:?} exceeded its progress deadline");
            (
                json!({"status": "Synced", "revision": DEFAULT_HEAD, "comparedTo": compared_to}),
                json!({"status": "Degraded", "message": message, "lastTransitionTime": at(300)}),
                json!([
                    service("Synced"),
                    resource(
                        "Deployment",
                        &deployment,
                        dest_ns,
                        Some("Synced"),
                        "Degraded",
                        Some(&message)
                    ),
                ]),
                succeeded(DEFAULT_HEAD, 1200, &admin),
                history_of(DEFAULT_HEAD, 1200, &admin),
            )
        }
        AppState::Progressing => (
            json!({"status": "Synced", "revision": DEFAULT_HEAD, "comparedTo": compared_to}),
            json!({"status": "Progressing", "lastTransitionTime": at(55)}),
            json!([
                service("Synced"),
                resource(
                    "Deployment",
                    &deployment,
                    dest_ns,
                    Some("Synced"),
                    "Progressing",
                    Some(
                        "Waiting for rollout to finish: 1 old replicas are pending termination..."
                    ),
                ),
            ]),
            succeeded(DEFAULT_HEAD, 60, &admin),
            history_of(DEFAULT_HEAD, 60, &admin),
        ),
        AppState::RunningOperation { minutes } => {
            annotations.insert(OUTCOME.into(), json!(Outcome::Hang.as_str()));
            let started = i64::from(*minutes) * 60;
            operation = json!({
                "initiatedBy": admin,
                "info": [{"name": "reason", "value": "deploy the new release"}],
                "sync": {"revision": DEFAULT_HEAD, "prune": false},
            });
            (
                json!({"status": "OutOfSync", "revision": DEFAULT_HEAD, "comparedTo": compared_to}),
                json!({"status": "Progressing", "lastTransitionTime": at(started)}),
                json!([
                    service("Synced"),
                    resource(
                        "Deployment",
                        &deployment,
                        dest_ns,
                        Some("OutOfSync"),
                        "Progressing",
                        Some(
                            "Waiting for rollout to finish: 0 of 1 updated replicas are available..."
                        ),
                    ),
                ]),
                json!({
                    "operation": operation.clone(),
                    "phase": "Running",
                    "message": format!("waiting for healthy state of apps/Deployment/{deployment}"),
                    "startedAt": at(started),
                    "syncResult": {
                        "revision": DEFAULT_HEAD,
                        "source": source,
                        "resources": [configured("Service", name), configured("Deployment", &deployment)],
                    },
                }),
                history_of(PREVIOUS_REVISION, started + 3600, &admin),
            )
        }
        AppState::SyncFailed => {
            let svc = resource("Service", name, dest_ns, None, "Healthy", None);
            let dep = resource("Deployment", &deployment, dest_ns, None, "Healthy", None);
            (
                json!({"status": "OutOfSync", "revision": DEFAULT_HEAD, "comparedTo": compared_to}),
                json!({"status": "Healthy", "lastTransitionTime": at(3590)}),
                json!([
                    service("Synced"),
                    healthy("Deployment", &deployment, "OutOfSync")
                ]),
                json!({
                    "operation": {
                        "initiatedBy": admin,
                        "sync": {"revision": DEFAULT_HEAD, "prune": false},
                    },
                    "phase": "Failed",
                    "message": format!("one or more objects failed to apply, reason: {invalid}"),
                    "startedAt": at(180),
                    "finishedAt": at(178),
                    "syncResult": {
                        "revision": DEFAULT_HEAD,
                        "source": source,
                        "resources": [
                            result_of(&svc, dest_ns, "Synced", &format!("{} unchanged", applied_name(&svc))),
                            result_of(&dep, dest_ns, "SyncFailed", &invalid),
                        ],
                    },
                }),
                history_of(PREVIOUS_REVISION, 3600, &admin),
            )
        }
    };
    let images = json!([format!("registry.example.com/{deployment}:1.4.2")]);
    let mut status = json!({
        "sync": sync,
        "health": health,
        "resources": resources,
        "operationState": operation_state,
        "history": history,
        "reconciledAt": at(20),
        "sourceType": "Directory",
        "summary": {"images": images},
    });
    if !conditions.is_null() {
        status["conditions"] = conditions;
    }
    let mut spec = json!({
        "project": "default",
        "source": source,
        "destination": destination,
    });
    if !sync_policy.is_null() {
        spec["syncPolicy"] = sync_policy;
    }
    let mut metadata = json!({"name": name, "namespace": ns});
    if !annotations.is_empty() {
        metadata["annotations"] = Value::Object(annotations);
    }
    let mut app = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": metadata,
        "spec": spec,
    });
    if !operation.is_null() {
        app["operation"] = operation;
    }
    app["status"] = status;
    app
}

/// The state of the `i`th Application of [`applications`]: of every 20,
/// one each Degraded (its Deployment), OutOfSync with selfHeal,
/// ComparisonError, Progressing, SyncFailed; the others (75%) Synced and
/// Healthy.
pub fn benchmark_state(i: usize) -> AppState {
    match i % 20 {
        0 => AppState::Degraded {
            resource: benchmark_name(i),
        },
        1 => AppState::OutOfSyncSelfHeal,
        2 => AppState::ComparisonError,
        3 => AppState::Progressing,
        4 => AppState::SyncFailed,
        _ => AppState::SyncedHealthy,
    }
}

/// The name of the `i`th Application of [`applications`]: `app-00042`.
pub fn benchmark_name(i: usize) -> String {
    format!("app-{i:05}")
}

/// `n` Applications for a benchmark, as one YAML stream: the `i`th is
/// [`benchmark_name`]`(i)` in `namespaces[i % len]`, deploying to
/// `team-<i % 50>`, in [`benchmark_state`]`(i)`. Create them with `kubectl
/// create -f -` (an apply would store each a second time, in its
/// last-applied annotation).
pub fn applications(n: usize, namespaces: &[&str]) -> String {
    assert!(
        !namespaces.is_empty(),
        "applications: give at least one namespace"
    );
    let mut yaml = String::new();
    for i in 0..n {
        let ns = namespaces[i % namespaces.len()];
        let dest = format!("team-{}", i % 50);
        yaml.push_str("---\n");
        yaml.push_str(&application(
            &benchmark_name(i),
            ns,
            &dest,
            benchmark_state(i),
        ));
    }
    yaml
}

/// An entry of `status.resources` (the core group is left out, as Argo CD
/// writes it).
fn resource(
    kind: &str,
    name: &str,
    ns: &str,
    status: Option<&str>,
    health: &str,
    message: Option<&str>,
) -> Value {
    let (group, version) = match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => ("apps", "v1"),
        _ => ("", "v1"),
    };
    let mut r = json!({"version": version, "kind": kind, "namespace": ns, "name": name});
    if !group.is_empty() {
        r["group"] = json!(group);
    }
    if let Some(status) = status {
        r["status"] = json!(status);
    }
    r["health"] = json!({"status": health});
    if let Some(message) = message {
        r["health"]["message"] = json!(message);
    }
    r
}

// ------------------------------------------------------------------- time

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn now_rfc3339() -> String {
    rfc3339(unix_now())
}

/// `2026-11-20T09:00:00Z` for seconds since the epoch (UTC; Howard
/// Hinnant's civil-from-days).
fn rfc3339(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

// ---------------------------------------------- the API server, by proxy

/// `kubectl proxy` on a unix socket: plain HTTP/1.0 to the API server as
/// the admin, one connection per request.
#[derive(Debug)]
struct Api {
    socket: PathBuf,
}

/// The process's proxy, started on first use; it ends with the process.
fn proxy(k: &ControlPlane) -> &'static Api {
    static PROXY: OnceLock<Result<Api, String>> = OnceLock::new();
    PROXY
        .get_or_init(|| start_proxy(k))
        .as_ref()
        .unwrap_or_else(|e| panic!("kubectl proxy to the API server: {e}"))
}

fn start_proxy(k: &ControlPlane) -> Result<Api, String> {
    let mut socket = k.dir.join("api.sock");
    // A unix socket's path is at most 107 bytes.
    if socket.as_os_str().len() > 100 {
        socket = PathBuf::from(format!("/tmp/guardian-api-{}.sock", std::process::id()));
    }
    let _ = std::fs::remove_file(&socket);
    let err_path = k.dir.join("proxy.err");
    let err =
        std::fs::File::create(&err_path).map_err(|e| format!("{}: {e}", err_path.display()))?;
    let mut child = k
        .kubectl()
        .arg("proxy")
        .arg(format!("--unix-socket={}", socket.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start kubectl proxy: {e}"))?;
    // The watchdog: when this process is gone, so is the proxy.
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill {proxy} 2>/dev/null; rm -f '{socket}'",
        me = std::process::id(),
        proxy = child.id(),
        socket = socket.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the proxy's watchdog: {e}"))?;
    let api = Api { socket };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok((200, _)) = api.call("GET", "/version", None) {
            // Dropping a `Child` neither kills nor waits: the watchdog ends it.
            drop(child);
            return Ok(api);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "it exited ({status}): {}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "not serving after 60 s: {}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Api {
    /// Sends a request; returns the answer's status and a reader at its
    /// body (which ends when the connection does: HTTP/1.0).
    fn open(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> io::Result<(u16, BufReader<UnixStream>)> {
        let mut stream = UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(Duration::from_secs(60)))?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut request =
            format!("{method} {path} HTTP/1.0\r\nHost: localhost\r\nAccept: application/json\r\n");
        if !body.is_empty() {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        stream.write_all(request.as_bytes())?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not an HTTP answer: {line:?}"),
                )
            })?;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                break;
            }
            let header = line.to_ascii_lowercase();
            if header.starts_with("transfer-encoding:") && header.contains("chunked") {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a chunked answer to an HTTP/1.0 request",
                ));
            }
        }
        Ok((status, reader))
    }

    /// A request and its whole answer: status and JSON body (a string when
    /// the body is not JSON).
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> io::Result<(u16, Value)> {
        let (status, mut reader) = self.open(method, path, body, Duration::from_secs(60))?;
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes)?;
        let answer = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok((status, answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_165_200), "2026-11-20T09:00:00Z");
        assert_eq!(rfc3339(951_782_400 + 86_399), "2000-02-29T23:59:59Z");
    }

    #[test]
    fn outcomes_are_their_annotation_values() {
        for outcome in [
            Outcome::Succeed,
            Outcome::Fail,
            Outcome::Progress,
            Outcome::Degrade,
            Outcome::Hang,
        ] {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(Outcome::parse("explode"), None);
    }

    #[test]
    fn the_worst_health_is_the_apps() {
        let mut app = json!({"status": {"resources": [
            {"health": {"status": "Healthy"}},
            {"health": {"status": "Degraded"}},
            {"health": {"status": "Progressing"}},
        ]}});
        set_app_health(&mut app, None, "2026-01-01T00:00:00Z");
        assert_eq!(app["status"]["health"]["status"], "Degraded");
        let mut app = json!({"status": {}});
        set_app_health(&mut app, None, "2026-01-01T00:00:00Z");
        assert_eq!(app["status"]["health"]["status"], "Healthy");
    }

    #[test]
    fn a_selective_sync_touches_only_what_it_names_and_records_no_history() {
        let mut app = application_object("web", "argocd", "shop", AppState::OutOfSyncSelfHeal);
        let mut op = sync_operation(Some("abc"));
        op["sync"]["resources"] = json!([{"group": "", "kind": "Service", "name": "web"}]);
        app["operation"] = op.clone();
        begin(&mut app, "2026-01-01T00:00:00Z");
        let settle = finish(&mut app, Ok(Outcome::Succeed), "2026-01-01T00:00:01Z");
        assert_eq!(settle, Some(Settle::Healthy));
        let status = &app["status"];
        assert_eq!(status["operationState"]["phase"], "Succeeded");
        let results = status["operationState"]["syncResult"]["resources"]
            .as_array()
            .unwrap();
        assert_eq!(results.len(), 1, "{results:?}");
        assert_eq!(results[0]["kind"], "Service");
        // The Deployment was not synced: the app stays OutOfSync.
        assert_eq!(status["sync"]["status"], "OutOfSync");
        assert_eq!(status["history"].as_array().unwrap().len(), 1);
        assert!(app.get("operation").is_none());
    }
}
