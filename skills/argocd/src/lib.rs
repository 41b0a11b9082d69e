//! The built-in `argocd` skill: Argo CD Applications read through the
//! Kubernetes API, as `argocd --core` reads them (no Argo CD API server, no
//! Argo CD credentials), and syncs proposed as pending actions.
//!
//! Tools: `apps` (the Applications of a namespace or of every namespace,
//! filtered), `status` (one Application: its resources, operation, history
//! and failures as findings), `drift` (what Argo CD finds different from
//! Git) and `sync` (proposes the `operation` that makes Argo CD sync; a
//! person approves it). The output is documented in `docs/argocd.md`.

// `app::tracking_app` serves diagnostics, which compiles this file too.
#[allow(dead_code)]
mod app;
mod sync;
mod view;

// Findings are diagnostics' own format, compiled here too, so the two
// skills' findings are one format (diagnostics compiles `app.rs` in turn).
#[allow(dead_code)]
#[path = "../../diagnostics/src/finding.rs"]
mod finding;
#[allow(dead_code)]
#[path = "../../diagnostics/src/kinds.rs"]
mod kinds;

use guardian_skill_sdk::{
    Effect, ErrorKind, HostError, ListOptions, ObjectRef, Proposal, Tool, ToolError, actions, kube,
    log, skill,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use app::AppSummary;
use sync::SyncInput;

skill!(Apps, Status, Drift, Sync);

/// The Application resource, as kubectl names it.
const APPLICATIONS: &str = "applications.argoproj.io";
const API_VERSION: &str = "argoproj.io/v1alpha1";

/// Input of `apps`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppsInput {
    /// The namespace whose Applications to list (Argo CD's namespace,
    /// usually `argocd`). Absent: every namespace the caller may read.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Only the Applications of this Argo CD project (`spec.project`).
    #[serde(default)]
    pub project: Option<String>,
    /// Only the Applications whose health is not `Healthy`.
    #[serde(default)]
    pub unhealthy: bool,
    /// Only the Applications not `Synced` (`OutOfSync`, or `Unknown` when
    /// Argo CD cannot compare them).
    #[serde(default)]
    pub out_of_sync: bool,
    /// Show at most this many (default: as many as fit in the output).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Input of `status`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    /// The Application's name.
    pub name: String,
    /// The namespace the Application lives in (Argo CD's namespace,
    /// usually `argocd`).
    pub namespace: String,
    /// The time the findings are judged at (how long a sync has been
    /// running), RFC 3339. Default: now.
    #[serde(default)]
    pub now: Option<String>,
}

/// Input of `drift`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftInput {
    /// The Application's name.
    pub name: String,
    /// The namespace the Application lives in (Argo CD's namespace,
    /// usually `argocd`).
    pub namespace: String,
}

/// Output of `sync`.
#[derive(Serialize)]
pub struct SyncOutput {
    /// The pending action's id (`act-…`): only a person can approve it.
    action_id: String,
    /// The Application as it was read.
    app: AppSummary,
    /// The JSON Patch proposed on the Application.
    patch: Value,
    /// What the sync does, and what to do next.
    summary: String,
}

/// Lists Applications.
pub struct Apps;
/// One Application in detail.
pub struct Status;
/// What Argo CD finds different from Git.
pub struct Drift;
/// Proposes a sync.
pub struct Sync;

impl Tool for Apps {
    const NAME: &'static str = "apps";
    const DESCRIPTION: &'static str = "List Argo CD Applications (of one namespace, or of every namespace the caller may read) with their sync and health status, revision, source, destination and automated-sync policy; filter by project, unhealthy or out of sync.";
    const EFFECT: Effect = Effect::Read;
    type Input = AppsInput;
    type Output = view::Apps;

    fn run(input: AppsInput) -> Result<view::Apps, ToolError> {
        if let Some(ns) = &input.namespace {
            check_name("namespace", ns)?;
        }
        if let Some(p) = &input.project
            && p.is_empty()
        {
            return Err(ToolError::invalid_input(
                "project: must not be empty when given",
            ));
        }
        if input.limit == Some(0) {
            return Err(ToolError::invalid_input("limit: must be at least 1"));
        }
        let options = ListOptions {
            namespace: input.namespace.clone(),
            ..Default::default()
        };
        let list = kube::list::<view::Lite>(APPLICATIONS, &options)
            .map_err(|e| list_error(e, input.namespace.as_deref()))?;
        let summaries = list
            .items
            .iter()
            .map(|l| app::summary(&l.to_value()))
            .collect();
        let filter = view::Filter {
            project: input.project,
            unhealthy: input.unhealthy,
            out_of_sync: input.out_of_sync,
            limit: input.limit.map(|l| l as usize),
        };
        Ok(view::apps(summaries, input.namespace.as_deref(), &filter))
    }
}

impl Tool for Status {
    const NAME: &'static str = "status";
    const DESCRIPTION: &'static str = "One Argo CD Application in detail: its sync and health status, conditions, the resources out of sync or unhealthy, the current or last sync operation with each resource's result, the deployment history, and its failures as findings (comparison errors, failed or stuck syncs, degraded health, drift).";
    const EFFECT: Effect = Effect::Read;
    type Input = StatusInput;
    type Output = view::Status;

    fn run(input: StatusInput) -> Result<view::Status, ToolError> {
        check_name("name", &input.name)?;
        check_name("namespace", &input.namespace)?;
        let now = match input.now {
            Some(t) if is_rfc3339(&t) => t,
            Some(t) => {
                return Err(ToolError::invalid_input(format!(
                    "now: `{t}` is not an RFC 3339 time (2026-03-02T10:00:00Z)"
                )));
            }
            None => wall_clock(),
        };
        let app = read_app(&input.name, &input.namespace)?;
        Ok(view::status(&app, &now))
    }
}

impl Tool for Drift {
    const NAME: &'static str = "drift";
    const DESCRIPTION: &'static str = "What Argo CD finds different between an Application's resources and Git: Argo CD's own verdict per resource, with the live object to read and the source it compares with.";
    const EFFECT: Effect = Effect::Read;
    type Input = DriftInput;
    type Output = view::Drift;

    fn run(input: DriftInput) -> Result<view::Drift, ToolError> {
        check_name("name", &input.name)?;
        check_name("namespace", &input.namespace)?;
        let app = read_app(&input.name, &input.namespace)?;
        Ok(view::drift(&app))
    }
}

impl Tool for Sync {
    const NAME: &'static str = "sync";
    const DESCRIPTION: &'static str = "Propose syncing an Argo CD Application (to a revision, optionally only some resources; prune only if asked): a pending action that sets the Application's operation once a person approves it. Refused while an operation is requested or running.";
    const EFFECT: Effect = Effect::Propose;
    type Input = SyncInput;
    type Output = SyncOutput;

    fn run(input: SyncInput) -> Result<SyncOutput, ToolError> {
        check_name("name", &input.name)?;
        check_name("namespace", &input.namespace)?;
        let app = read_app(&input.name, &input.namespace)?;
        let plan = sync::plan(&app, &input)?;
        let target = ObjectRef::new(
            API_VERSION,
            "Application",
            Some(&input.namespace),
            &input.name,
        );
        log::info(format!(
            "proposing a sync of Application {}/{}",
            input.namespace, input.name
        ));
        let id = actions::propose(&Proposal::new(target, &plan.patch, plan.rationale))?;
        Ok(SyncOutput {
            summary: format!(
                "{}. Pending action {id}: a person approves it (guardian actions approve {id}); \
                 Argo CD then runs the sync (argocd.status shows its progress)",
                plan.what
            ),
            action_id: id,
            app: app::summary(&app),
            patch: plan.patch,
        })
    }
}

/// An Application or namespace name: a Kubernetes name.
fn check_name(field: &str, value: &str) -> Result<(), ToolError> {
    if value.is_empty() {
        return Err(ToolError::invalid_input(format!(
            "{field}: must not be empty"
        )));
    }
    let ok = value.len() <= 253
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !ok {
        return Err(ToolError::invalid_input(format!(
            "{field}: `{value}` is not a Kubernetes name (lowercase letters, digits, '-' and '.')"
        )));
    }
    Ok(())
}

/// The resource type is not served: Argo CD's CRDs are not installed.
fn not_served(e: &HostError) -> bool {
    matches!(e.kind, ErrorKind::NotFound | ErrorKind::Invalid)
        && (e.message.contains("does not serve") || e.message.contains("unknown resource type"))
}

fn crds_missing(e: &HostError) -> ToolError {
    ToolError::failed(format!(
        "Argo CD's CRDs are not installed on this cluster: {}. Install Argo CD, or point \
         Guardian at the cluster that runs it",
        e.message.trim_end_matches('.')
    ))
}

/// A list that failed, said in Argo CD's terms.
fn list_error(e: HostError, namespace: Option<&str>) -> ToolError {
    if not_served(&e) {
        return crds_missing(&e);
    }
    if e.kind == ErrorKind::Denied && namespace.is_none() {
        return ToolError::Host(HostError::new(
            ErrorKind::Denied,
            format!(
                "{}; give `namespace` (Argo CD's namespace, usually argocd) to list the \
                 Applications of one namespace",
                e.message
            ),
        ));
    }
    ToolError::Host(e)
}

/// The Application `name` in `namespace`, as the API server returns it.
fn read_app(name: &str, namespace: &str) -> Result<Value, ToolError> {
    match kube::get::<Value>(APPLICATIONS, Some(namespace), name) {
        Ok(app) => Ok(app),
        Err(e) if not_served(&e) => Err(crds_missing(&e)),
        Err(e) if e.kind == ErrorKind::NotFound => {
            // Name what is there, when it can be read.
            let options = ListOptions {
                namespace: Some(namespace.to_string()),
                ..Default::default()
            };
            let there = match kube::list::<view::Lite>(APPLICATIONS, &options) {
                Err(e) if not_served(&e) => return Err(crds_missing(&e)),
                Err(_) => String::new(),
                Ok(list) => {
                    let mut names: Vec<&str> =
                        list.items.iter().filter_map(view::Lite::name).collect();
                    names.sort();
                    match names.len() {
                        0 => format!(" (there is no Application in namespace {namespace})"),
                        n if n > 20 => format!(
                            " (Applications there: {}, and {} more)",
                            names[..20].join(", "),
                            n - 20
                        ),
                        _ => format!(" (Applications there: {})", names.join(", ")),
                    }
                }
            };
            Err(ToolError::Host(HostError::new(
                ErrorKind::NotFound,
                format!(
                    "Application {name} not found in namespace {namespace}{there}; `argocd.apps` \
                     lists the Applications of every namespace"
                ),
            )))
        }
        Err(e) => Err(ToolError::Host(e)),
    }
}

/// Now, RFC 3339 (`2026-03-02T10:00:00Z`), from the wall clock.
fn wall_clock() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    rfc3339(secs)
}

/// Seconds since the epoch as RFC 3339 UTC.
fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    )
}

/// `2026-03-02T10:00:00Z`, with a fraction or an offset.
fn is_rfc3339(text: &str) -> bool {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    if !(b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19))
    {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(f) = rest.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &f[n..];
    }
    let r = rest.as_bytes();
    matches!(rest, "Z" | "z")
        || (r.len() == 6
            && matches!(r[0], b'+' | b'-')
            && r[1..3].iter().all(u8::is_ascii_digit)
            && r[3] == b':'
            && r[4..6].iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use guardian_skill_sdk::__private;

    #[test]
    fn wall_clock_times_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_772_445_600), "2026-03-02T10:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert!(is_rfc3339(&wall_clock()));
        for ok in [
            "2026-03-02T10:00:00Z",
            "2026-03-02T10:00:00.25Z",
            "2026-03-02T11:00:00+01:00",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "2026-03-02",
            "2026-03-02T10:00:00",
            "1772445600",
            "2026-03-02T10:00:00+0100",
            "2026-03-02T10:00:00.Z",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("name", "guestbook-ui.v2").is_ok());
        for (bad, says) in [
            ("", "name: must not be empty"),
            ("Guestbook", "name: `Guestbook` is not a Kubernetes name"),
        ] {
            match check_name("name", bad) {
                Err(ToolError::InvalidInput(m)) => assert!(m.starts_with(says), "{m}"),
                other => panic!("{other:?}"),
            }
        }
    }

    /// The CRDs not served, as the live backend and the resource table say
    /// it, is told apart from an Application not found.
    #[test]
    fn crds_not_served_are_said() {
        let unserved = HostError::new(
            ErrorKind::NotFound,
            "the API server at https://127.0.0.1:6443 does not serve applications.argoproj.io (argoproj.io/v1alpha1): the resource type does not exist on this cluster (its CRD or API service is not installed); `api-resources` lists what it serves",
        );
        assert!(not_served(&unserved));
        match list_error(unserved, Some("argocd")) {
            ToolError::Failed(m) => assert!(m.starts_with("Argo CD's CRDs are not installed on this cluster: the API server at https://127.0.0.1:6443 does not serve applications.argoproj.io (argoproj.io/v1alpha1)"), "{m}"),
            other => panic!("{other:?}"),
        }
        let missing = HostError::new(
            ErrorKind::NotFound,
            "applications.argoproj.io \"x\" not found in namespace \"argocd\"",
        );
        assert!(!not_served(&missing));
        let denied = HostError::new(
            ErrorKind::Denied,
            "policy denied list applications.argoproj.io in all namespaces",
        );
        match list_error(denied, None) {
            ToolError::Host(e) => assert!(
                e.message
                    .ends_with("to list the Applications of one namespace"),
                "{}",
                e.message
            ),
            other => panic!("{other:?}"),
        }
    }

    /// The inputs refuse unknown fields, and their schemas say what each
    /// field is.
    #[test]
    fn inputs_refuse_unknown_fields_and_have_schemas() {
        match __private::call::<Apps>(r#"{"namespace":"argocd","healthy":true}"#) {
            Err(ToolError::InvalidInput(m)) => {
                assert!(m.contains("unknown field `healthy`"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        match __private::call::<Status>(r#"{"name":"guestbook"}"#) {
            Err(ToolError::InvalidInput(m)) => {
                assert!(m.contains("missing field `namespace`"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        match __private::call::<Sync>(r#"{"name":"guestbook","namespace":"argocd","prune":"yes"}"#)
        {
            Err(ToolError::InvalidInput(m)) => assert!(m.starts_with("field `prune`"), "{m}"),
            other => panic!("{other:?}"),
        }
        for (spec, required) in [
            (__private::spec::<Apps>(), serde_json::json!(null)),
            (
                __private::spec::<Status>(),
                serde_json::json!(["name", "namespace"]),
            ),
            (
                __private::spec::<Drift>(),
                serde_json::json!(["name", "namespace"]),
            ),
            (
                __private::spec::<Sync>(),
                serde_json::json!(["name", "namespace"]),
            ),
        ] {
            let schema: Value = serde_json::from_str(&spec.input_schema).unwrap();
            assert_eq!(schema["additionalProperties"], false, "{}", spec.name);
            assert_eq!(schema["required"], required, "{}", spec.name);
        }
        let sync: Value = serde_json::from_str(&__private::spec::<Sync>().input_schema).unwrap();
        assert!(
            sync["properties"]["prune"]["description"]
                .as_str()
                .unwrap()
                .contains("Default false")
        );
        assert_eq!(__private::spec::<Sync>().effect, Effect::Propose);
        assert_eq!(__private::spec::<Apps>().effect, Effect::Read);
    }

    /// The grants are what the contract gives the skill.
    #[test]
    fn the_manifest_grants_reads_and_proposes_applications() {
        let manifest: toml::Value = toml::from_str(include_str!("../skill.toml")).unwrap();
        assert_eq!(manifest["name"].as_str(), Some("argocd"));
        let grants = &manifest["grants"];
        let list = |k: &str| -> Vec<&str> {
            grants[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect()
        };
        assert_eq!(list("read"), [APPLICATIONS, "appprojects.argoproj.io"]);
        assert_eq!(list("propose"), [APPLICATIONS]);
        assert_eq!(grants["metrics"].as_bool(), Some(false));
    }
}
