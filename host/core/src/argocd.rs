//! Argo CD: the `argocd` skill's tools with the config's defaults (where
//! Applications live), and `verify` — the one operation that waits: it
//! reads an Application through the skill until it reports the expected
//! revision, Synced and Healthy, or fails, degrades or runs out of time; then
//! it runs diagnostics on what is unhealthy underneath.
//!
//! Argo CD is reached only through the Kubernetes API (the `argoproj.io`
//! Application resource), so every read and the approved sync pass the
//! broker's policy and audit like any other call.

use std::time::{Duration, Instant};

use guardian_agent::argocd::short;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::DiagnoseError;

pub const ARGOCD_SKILL: &str = "argocd";
pub const APPS: &str = "argocd.apps";
pub const STATUS: &str = "argocd.status";
pub const DRIFT: &str = "argocd.drift";
pub const SYNC: &str = "argocd.sync";

/// The `argocd:` section of the config.
///
/// ```yaml
/// argocd:
///   namespaces: [argocd]          # where Applications live [argocd]
///   verify_timeout_seconds: 300   # `verify`'s deadline [300]
///   poll_interval_seconds: 2      # how often `verify` reads the Application [2]
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgocdConfig {
    #[serde(default)]
    pub namespaces: Vec<String>,
    pub verify_timeout_seconds: Option<f64>,
    pub poll_interval_seconds: Option<f64>,
}

impl ArgocdConfig {
    /// The namespaces Applications are looked for in [argocd].
    pub fn namespaces(&self) -> Vec<String> {
        if self.namespaces.is_empty() {
            vec!["argocd".to_owned()]
        } else {
            self.namespaces.clone()
        }
    }

    /// `verify`'s deadline and polling interval, checked.
    pub fn verify_times(&self) -> Result<(Duration, Duration), DiagnoseError> {
        let secs = |v: Option<f64>, default: f64, key: &str| {
            Duration::try_from_secs_f64(v.unwrap_or(default))
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    DiagnoseError::Other(format!(
                        "argocd.{key}: expected a positive number of seconds"
                    ))
                })
        };
        Ok((
            secs(self.verify_timeout_seconds, 300.0, "verify_timeout_seconds")?,
            secs(self.poll_interval_seconds, 2.0, "poll_interval_seconds")?,
        ))
    }
}

/// Which Applications `apps` lists.
#[derive(Clone, Debug, Default)]
pub struct AppsRequest {
    /// One namespace; `None` with `all_namespaces` for a cluster-wide list,
    /// `None` without it for the configured Argo CD namespaces.
    pub namespace: Option<String>,
    pub all_namespaces: bool,
    pub project: Option<String>,
    pub unhealthy: bool,
    pub out_of_sync: bool,
}

/// What `verify` waits for.
#[derive(Clone, Debug)]
pub struct VerifyRequest {
    pub name: String,
    /// The Application's namespace [the first configured Argo CD namespace].
    pub namespace: Option<String>,
    /// The revision the Application must report (a prefix of the sha is
    /// enough); `None`: any, once no operation is running.
    pub revision: Option<String>,
    /// [config `argocd.verify_timeout_seconds`]
    pub timeout: Option<Duration>,
    /// [config `argocd.poll_interval_seconds`]
    pub interval: Option<Duration>,
}

/// One change of what the Application reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Transition {
    /// Since `verify` began.
    pub elapsed_ms: u64,
    pub sync: String,
    pub health: String,
    /// The current or last operation's phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// A sync was requested and the controller has not finished it.
    pub operation_pending: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How a verification ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The expected revision, Synced and Healthy, no operation running.
    Verified,
    /// The sync operation ended Failed or Error.
    SyncFailed,
    /// No operation running and the Application is Degraded (or Missing).
    Degraded,
    /// The deadline passed first.
    TimedOut,
}

impl Outcome {
    pub fn succeeded(self) -> bool {
        self == Outcome::Verified
    }
}

/// `verify`'s report.
#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    pub application: String,
    pub namespace: String,
    pub outcome: Outcome,
    /// One sentence: what was seen last and why it ended.
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_revision: Option<String>,
    pub transitions: Vec<Transition>,
    /// The last `argocd.status` read.
    pub status: Value,
    /// When it did not verify: the Application's own findings and
    /// diagnostics' findings on the resources that are not healthy.
    pub findings: Vec<Value>,
    /// What diagnostics read for them (`namespace: kinds`), and what could
    /// not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnosed: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    pub elapsed_ms: u64,
}

impl crate::Session {
    /// The Argo CD namespace a request naming none is about.
    pub fn argocd_namespace(&self, namespace: Option<&str>) -> String {
        namespace
            .map(str::to_owned)
            .unwrap_or_else(|| self.config().argocd.namespaces().remove(0))
    }

    /// `argocd.apps` over `request`'s scope: one namespace, every namespace
    /// (a cluster-wide list), or each configured Argo CD namespace, merged.
    pub async fn argocd_apps(
        &self,
        caller: &str,
        request: &AppsRequest,
    ) -> Result<Value, DiagnoseError> {
        let input = |ns: Option<&str>| {
            let mut i = json!({});
            if let Some(ns) = ns {
                i["namespace"] = json!(ns);
            }
            if let Some(p) = &request.project {
                i["project"] = json!(p);
            }
            if request.unhealthy {
                i["unhealthy"] = json!(true);
            }
            if request.out_of_sync {
                i["out_of_sync"] = json!(true);
            }
            i.to_string()
        };
        let namespaces: Vec<Option<String>> = match (&request.namespace, request.all_namespaces) {
            (Some(ns), _) => vec![Some(ns.clone())],
            (None, true) => vec![None],
            (None, false) => self
                .config()
                .argocd
                .namespaces()
                .into_iter()
                .map(Some)
                .collect(),
        };
        let mut apps = Vec::new();
        let mut scopes = Vec::new();
        let mut total = 0;
        for ns in &namespaces {
            let part = self
                .runtime()
                .call(caller, APPS, &input(ns.as_deref()))
                .await?;
            total += part["total"].as_u64().unwrap_or(0);
            apps.extend(part["apps"].as_array().cloned().unwrap_or_default());
            scopes.push(part["scope"].as_str().unwrap_or("?").to_owned());
        }
        Ok(json!({
            "apps": apps,
            "scope": scopes.join(", "),
            "total": total,
            "shown": apps.len(),
        }))
    }

    /// `argocd.status`, `argocd.drift` or `argocd.sync` (`tool`) for one
    /// Application, its namespace defaulted from the config. `extra` holds
    /// the tool's other input fields.
    pub async fn argocd_app(
        &self,
        caller: &str,
        tool: &str,
        name: &str,
        namespace: Option<&str>,
        extra: Value,
    ) -> Result<Value, DiagnoseError> {
        let mut input = match extra {
            Value::Object(m) => Value::Object(m),
            _ => json!({}),
        };
        input["name"] = json!(name);
        input["namespace"] = json!(self.argocd_namespace(namespace));
        let mut out = self
            .runtime()
            .call(caller, tool, &input.to_string())
            .await?;
        if tool == DRIFT {
            self.add_git_diff(caller, &mut out).await;
        }
        Ok(out)
    }

    /// Reads the Application until it verifies, fails, degrades or the
    /// deadline passes; `on_transition` hears each change as it is seen.
    /// A read that fails ends it with the error (nothing is guessed).
    pub async fn argocd_verify(
        &self,
        caller: &str,
        request: &VerifyRequest,
        on_transition: &(dyn Fn(&Transition) + Send + Sync),
    ) -> Result<Verification, DiagnoseError> {
        let (timeout, interval) = self.config().argocd.verify_times()?;
        let namespace = self.argocd_namespace(request.namespace.as_deref());
        let timeout = request.timeout.unwrap_or(timeout);
        let interval = request
            .interval
            .unwrap_or(interval)
            .max(Duration::from_millis(50));
        let started = Instant::now();
        let mut transitions: Vec<Transition> = Vec::new();
        let (outcome, status) = loop {
            let status = self
                .argocd_app(caller, STATUS, &request.name, Some(&namespace), json!({}))
                .await?;
            let seen = observe(&status, started.elapsed());
            if transitions
                .last()
                .is_none_or(|last| !last.same_state(&seen))
            {
                on_transition(&seen);
                transitions.push(seen.clone());
            }
            if let Some(outcome) = settle(&seen, request.revision.as_deref()) {
                break (outcome, status);
            }
            if started.elapsed() + interval > timeout {
                break (Outcome::TimedOut, status);
            }
            tokio::time::sleep(interval).await;
        };
        let last = transitions.last().cloned();
        let summary = summarize(outcome, last.as_ref(), request, timeout);
        let mut verification = Verification {
            application: request.name.clone(),
            namespace,
            outcome,
            summary,
            expected_revision: request.revision.clone(),
            transitions,
            findings: Vec::new(),
            diagnosed: Vec::new(),
            problems: Vec::new(),
            elapsed_ms: started.elapsed().as_millis() as u64,
            status,
        };
        if !outcome.succeeded() {
            self.diagnose_unhealthy(caller, &mut verification).await;
        }
        Ok(verification)
    }

    /// The Application's own findings, then diagnostics over each namespace
    /// holding resources that are not healthy or failed to sync, narrowed to
    /// their kinds, keeping the findings about those resources.
    async fn diagnose_unhealthy(&self, caller: &str, v: &mut Verification) {
        v.findings
            .extend(v.status["findings"].as_array().cloned().unwrap_or_default());
        let targets = unhealthy_resources(&v.status);
        if targets.is_empty() && v.status["resources"]["health_recorded"] == false {
            // Argo CD did not record each resource's health in the
            // Application (v3's default): diagnose where it deploys, and
            // keep what diagnostics says this Application manages.
            self.diagnose_destination(caller, v).await;
            return;
        }
        let mut by_namespace: std::collections::BTreeMap<String, Vec<(String, String)>> =
            Default::default();
        for (ns, kind, name) in targets {
            by_namespace.entry(ns).or_default().push((kind, name));
        }
        for (ns, resources) in by_namespace {
            let mut kinds: Vec<String> = resources.iter().map(|(k, _)| k.clone()).collect();
            kinds.sort();
            kinds.dedup();
            let input = json!({
                "namespace": ns,
                "kinds": kinds,
                "argocd_namespaces": self.config().argocd.namespaces(),
            });
            match self
                .runtime()
                .call(caller, crate::ANALYZE, &input.to_string())
                .await
            {
                Ok(report) => {
                    v.diagnosed.push(format!("{ns}: {}", kinds.join(", ")));
                    let about = |f: &Value| {
                        resources.iter().any(|(kind, name)| {
                            [&f["object"], &f["owner"]]
                                .iter()
                                .any(|o| o["kind"] == kind.as_str() && o["name"] == name.as_str())
                        })
                    };
                    let findings = report["findings"].as_array().cloned().unwrap_or_default();
                    let (mine, _): (Vec<Value>, Vec<Value>) =
                        findings.into_iter().partition(|f| about(f));
                    if mine.is_empty() {
                        v.problems.push(format!(
                            "diagnostics found nothing about {} in namespace {ns}",
                            resources
                                .iter()
                                .map(|(k, n)| format!("{k}/{n}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    v.findings.extend(mine);
                    for n in report["summary"]["not_read"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        v.problems.push(format!(
                            "not read: {} ({})",
                            n["scope"].as_str().unwrap_or("?"),
                            n["error"].as_str().unwrap_or("")
                        ));
                    }
                }
                Err(e) => v
                    .problems
                    .push(format!("namespace {ns} could not be diagnosed: {e}")),
            }
        }
    }
}

impl crate::Session {
    /// The whole destination namespace diagnosed, keeping the findings on
    /// objects the Application manages (diagnostics' `managed_by`).
    async fn diagnose_destination(&self, caller: &str, v: &mut Verification) {
        let Some(ns) = v.status["app"]["destination"]["namespace"]
            .as_str()
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
        else {
            v.problems.push(
                "Argo CD records no health per resource for this Application and it names no destination namespace: nothing was diagnosed".to_owned(),
            );
            return;
        };
        let input = json!({
            "namespace": ns,
            "argocd_namespaces": self.config().argocd.namespaces(),
        });
        match self
            .runtime()
            .call(caller, crate::ANALYZE, &input.to_string())
            .await
        {
            Ok(report) => {
                v.diagnosed.push(format!(
                    "{ns}: every analyzer (Argo CD records no health per resource for this Application)"
                ));
                let app = v.application.as_str();
                let mine: Vec<Value> = report["findings"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|f| f["managed_by"]["application"] == app)
                    .cloned()
                    .collect();
                if mine.is_empty() {
                    v.problems.push(format!(
                        "diagnostics found nothing in namespace {ns} on objects Application {app} manages"
                    ));
                }
                v.findings.extend(mine);
            }
            Err(e) => v
                .problems
                .push(format!("namespace {ns} could not be diagnosed: {e}")),
        }
    }
}

impl Transition {
    pub(crate) fn same_state(&self, other: &Transition) -> bool {
        (
            &self.sync,
            &self.health,
            &self.operation,
            self.operation_pending,
            &self.revision,
        ) == (
            &other.sync,
            &other.health,
            &other.operation,
            other.operation_pending,
            &other.revision,
        )
    }

    fn running(&self) -> bool {
        self.operation_pending
            || matches!(self.operation.as_deref(), Some("Running" | "Terminating"))
    }
}

/// What one `argocd.status` read says.
fn observe(status: &Value, elapsed: Duration) -> Transition {
    let app = &status["app"];
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let op = &app["operation"];
    let in_flight = op["running"].as_bool().unwrap_or(false)
        || matches!(op["phase"].as_str(), Some("Running" | "Terminating"));
    let requested = app["operation_requested"].as_bool().unwrap_or(false);
    Transition {
        elapsed_ms: elapsed.as_millis() as u64,
        sync: text(&app["sync_status"]).unwrap_or_else(|| "Unknown".into()),
        health: text(&app["health_status"]).unwrap_or_else(|| "Unknown".into()),
        operation: text(&op["phase"]),
        // Requested, and the controller has not picked it up yet (the
        // phase shown is the last operation's).
        operation_pending: requested && !in_flight,
        revision: text(&app["revision"]),
        message: text(&op["message"]).or_else(|| text(&app["health_message"])),
    }
}

/// Whether `seen` ends the verification, and how.
fn settle(seen: &Transition, revision: Option<&str>) -> Option<Outcome> {
    if seen.running() {
        return None;
    }
    if matches!(seen.operation.as_deref(), Some("Failed" | "Error")) {
        return Some(Outcome::SyncFailed);
    }
    if matches!(seen.health.as_str(), "Degraded" | "Missing") {
        return Some(Outcome::Degraded);
    }
    let at_revision = match revision {
        None => true,
        Some(want) => seen
            .revision
            .as_deref()
            .is_some_and(|have| !want.is_empty() && have.starts_with(want)),
    };
    (seen.sync == "Synced" && seen.health == "Healthy" && at_revision).then_some(Outcome::Verified)
}

fn summarize(
    outcome: Outcome,
    last: Option<&Transition>,
    request: &VerifyRequest,
    timeout: Duration,
) -> String {
    let state = last
        .map(|t| {
            format!(
                "{} and {}{}{}",
                t.sync,
                t.health,
                t.revision
                    .as_deref()
                    .map(|r| format!(" at {}", short(r)))
                    .unwrap_or_default(),
                t.message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let app = &request.name;
    match outcome {
        Outcome::Verified => format!("{app} is {state}"),
        Outcome::SyncFailed => format!("{app}: the sync operation failed; it is {state}"),
        Outcome::Degraded => format!("{app} is {state}: not healthy after the sync"),
        Outcome::TimedOut => {
            let waited = match &request.revision {
                Some(r) => format!("revision {}, Synced and Healthy", short(r)),
                None => "Synced and Healthy".to_owned(),
            };
            let running = if last.is_some_and(Transition::running) {
                "; an operation is still running"
            } else {
                ""
            };
            format!(
                "{app} did not reach {waited} within {}s: it is {state}{running}",
                timeout.as_secs()
            )
        }
    }
}

/// (namespace, kind, name) of each resource the status calls unhealthy or
/// whose sync failed, in order, without repeats.
fn unhealthy_resources(status: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    let unhealthy = status["resources"]["unhealthy"].as_array();
    let failed = status["operation"]["resources"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["status"] == "SyncFailed")
                .cloned()
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for r in unhealthy.into_iter().flatten().chain(failed.iter()) {
        let (Some(kind), Some(name)) = (r["kind"].as_str(), r["name"].as_str()) else {
            continue;
        };
        // Argo CD names the namespace of every namespaced resource; none
        // means cluster-scoped, which diagnostics does not read by namespace.
        let Some(ns) = r["namespace"].as_str().filter(|n| !n.is_empty()) else {
            continue;
        };
        let key = (ns.to_owned(), kind.to_owned(), name.to_owned());
        if !out.contains(&key) {
            out.push(key);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(sync: &str, health: &str, phase: Option<&str>, requested: bool, rev: &str) -> Value {
        json!({"app": {
            "sync_status": sync, "health_status": health, "revision": rev,
            "operation_requested": requested,
            "operation": phase.map(|p| json!({"phase": p, "running": p == "Running"})),
        }})
    }

    fn seen(s: Value) -> Transition {
        observe(&s, Duration::ZERO)
    }

    #[test]
    fn a_requested_sync_is_waited_for_even_when_the_last_state_looks_done() {
        // Approved a moment ago: the controller has not picked the
        // operation up, and the state is still the old, healthy one.
        let t = seen(status("Synced", "Healthy", Some("Succeeded"), true, "aaaa"));
        assert_eq!(settle(&t, None), None);
        let t = seen(status(
            "OutOfSync",
            "Healthy",
            Some("Running"),
            false,
            "aaaa",
        ));
        assert_eq!(settle(&t, None), None);
    }

    #[test]
    fn it_ends_on_the_expected_revision_synced_and_healthy_only() {
        let rev = "0123456789abcdef0123456789abcdef01234567";
        let t = seen(status("Synced", "Healthy", Some("Succeeded"), false, rev));
        assert_eq!(settle(&t, Some("0123456")), Some(Outcome::Verified));
        assert_eq!(settle(&t, Some("fffffff")), None);
        assert_eq!(settle(&t, Some("")), None);
        let t = seen(status(
            "Synced",
            "Progressing",
            Some("Succeeded"),
            false,
            rev,
        ));
        assert_eq!(settle(&t, None), None);
        let t = seen(status(
            "OutOfSync",
            "Healthy",
            Some("Succeeded"),
            false,
            rev,
        ));
        assert_eq!(settle(&t, None), None);
    }

    #[test]
    fn a_failed_operation_or_degraded_health_ends_it() {
        let t = seen(status("OutOfSync", "Healthy", Some("Failed"), false, "a"));
        assert_eq!(settle(&t, None), Some(Outcome::SyncFailed));
        let t = seen(status("Synced", "Degraded", Some("Succeeded"), false, "a"));
        assert_eq!(settle(&t, None), Some(Outcome::Degraded));
    }

    #[test]
    fn unhealthy_and_failed_resources_are_what_is_diagnosed() {
        let s = json!({
            "app": {"destination": {"namespace": "shop"}},
            "resources": {"unhealthy": [
                {"kind": "Deployment", "name": "checkout", "namespace": "shop"},
                {"kind": "Service", "name": "checkout", "namespace": "shop"},
                {"kind": "ClusterRole", "name": "x", "namespace": ""},
            ]},
            "operation": {"resources": [
                {"kind": "Deployment", "name": "checkout", "namespace": "shop", "status": "SyncFailed"},
                {"kind": "ConfigMap", "name": "cfg", "namespace": "shop", "status": "Synced"},
                {"kind": "Job", "name": "migrate", "namespace": "shop", "status": "SyncFailed"},
            ]},
        });
        let got = unhealthy_resources(&s);
        let want: Vec<(String, String, String)> = [
            ("shop", "Deployment", "checkout"),
            ("shop", "Service", "checkout"),
            ("shop", "Job", "migrate"),
        ]
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
        assert_eq!(got, want);
    }
}
