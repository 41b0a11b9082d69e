//! The scenario corpus: every folder `tests/scenarios/<NN-name>/` holds a
//! cluster snapshot and `expected.yaml` (what an expert says is broken, why,
//! and the fix). `corpus` runs each one through `diagnostics.analyze` (real
//! wasm, snapshot backend, fixes dry-run) and scores it against its
//! expectations. The format is documented in `tests/scenarios/README.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use guardian_broker::snapshot::SnapshotBackend;
use guardian_broker::{Audit, Broker, Policy};
use guardian_runtime::{Limits, Runtime, RuntimeConfig};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::support::repo_root;

// ---------------------------------------------------------------------------
// expected.yaml

/// One scenario's `expected.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    description: String,
    /// Scan only this namespace.
    #[serde(default)]
    namespace: Option<String>,
    /// No finding of severity `error` or `critical` may appear.
    #[serde(default)]
    healthy: bool,
    #[serde(default)]
    findings: Vec<ExpectedFinding>,
    #[serde(default)]
    must_not: Vec<MustNot>,
}

/// Which object a finding is about; every field given must be equal.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectSel {
    #[serde(default, rename = "apiVersion")]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// A finding that must be in the output.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFinding {
    reason: String,
    #[serde(default)]
    object: ObjectSel,
    /// Exact severity.
    #[serde(default)]
    severity: Option<String>,
    /// Case-insensitive substrings of `cause`.
    #[serde(default)]
    cause: Vec<String>,
    /// Case-insensitive substrings of `root_cause`.
    #[serde(default)]
    root_cause: Vec<String>,
    /// Each a case-insensitive substring of some evidence `text`.
    #[serde(default)]
    evidence: Vec<String>,
    #[serde(default)]
    fix: Option<ExpectedFix>,
}

/// A fix some fix of the finding must satisfy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFix {
    /// The object the fix patches.
    #[serde(default)]
    target: Option<ObjectSel>,
    /// Operations the fix's `json_patch` must contain (op and path equal,
    /// value equal when given).
    #[serde(default)]
    patch: Vec<PatchOp>,
    /// Case-insensitive substrings of the fix's `kubectl` command.
    #[serde(default)]
    kubectl: Vec<String>,
    /// `passed`, `failed` or `skipped`.
    #[serde(default)]
    dry_run: Option<String>,
    #[serde(default)]
    requires_input: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchOp {
    op: String,
    path: String,
    #[serde(default)]
    value: Option<Value>,
}

/// A finding that must not be in the output.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MustNot {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    object: ObjectSel,
    #[serde(default)]
    severity: Option<String>,
}

// ---------------------------------------------------------------------------
// Matching

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

impl ObjectSel {
    fn matches(&self, obj: &Value) -> bool {
        let eq =
            |want: &Option<String>, key: &str| want.as_deref().is_none_or(|w| s(obj, key) == w);
        eq(&self.api_version, "apiVersion")
            && eq(&self.kind, "kind")
            && eq(&self.namespace, "namespace")
            && eq(&self.name, "name")
    }

    fn display(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("apiVersion", &self.api_version),
            ("kind", &self.kind),
            ("namespace", &self.namespace),
            ("name", &self.name),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        }
        format!("{{{}}}", parts.join(" "))
    }
}

/// `Deployment shop/payments`.
fn show_obj(obj: &Value) -> String {
    match obj["namespace"].as_str() {
        Some(ns) => format!("{} {}/{}", s(obj, "kind"), ns, s(obj, "name")),
        None => format!("{} {}", s(obj, "kind"), s(obj, "name")),
    }
}

/// `CrashLoopBackOff on Deployment shop/payments (critical)`.
fn show_finding(f: &Value) -> String {
    format!(
        "{} on {} ({})",
        s(f, "reason"),
        show_obj(&f["object"]),
        s(f, "severity")
    )
}

/// Why `fix` does not satisfy `want`, or `None` when it does.
fn fix_mismatch(want: &ExpectedFix, fix: &Value) -> Option<String> {
    if let Some(t) = &want.target
        && !t.matches(&fix["target"])
    {
        return Some(format!(
            "target is {}, want {}",
            show_obj(&fix["target"]),
            t.display()
        ));
    }
    let ops = fix["json_patch"].as_array().cloned().unwrap_or_default();
    for op in &want.patch {
        let hit = ops.iter().any(|o| {
            s(o, "op") == op.op
                && s(o, "path") == op.path
                && op.value.as_ref().is_none_or(|v| &o["value"] == v)
        });
        if !hit {
            let want_op = match &op.value {
                Some(v) => json!({"op": op.op, "path": op.path, "value": v}),
                None => json!({"op": op.op, "path": op.path}),
            };
            return Some(format!(
                "no op {want_op} in json_patch {}",
                fix.get("json_patch").unwrap_or(&Value::Null)
            ));
        }
    }
    for k in &want.kubectl {
        if !contains_ci(s(fix, "kubectl"), k) {
            return Some(format!("kubectl {:?} lacks {k:?}", s(fix, "kubectl")));
        }
    }
    if let Some(d) = &want.dry_run {
        let got = fix["dry_run"]["result"].as_str().unwrap_or("absent");
        if got != d {
            let why = fix["dry_run"]["error"]
                .as_str()
                .or(fix["dry_run"]["why"].as_str())
                .unwrap_or("");
            return Some(format!("dry_run is {got} ({why}), want {d}"));
        }
    }
    if let Some(r) = want.requires_input
        && fix["requires_input"].as_bool().unwrap_or(false) != r
    {
        return Some(format!("requires_input is not {r}"));
    }
    None
}

/// Checks of an expectation against a finding: `(passed, explanation)`.
type Checks = Vec<(bool, String)>;

/// The checks of `want` against `f`, in order: `(passed, explanation)`.
/// The last check is the fix (absent when no fix is expected).
fn checks(want: &ExpectedFinding, f: &Value) -> Checks {
    let mut out = Vec::new();
    out.push((
        s(f, "reason") == want.reason,
        format!("reason is {}, want {}", s(f, "reason"), want.reason),
    ));
    out.push((
        want.object.matches(&f["object"]),
        format!(
            "object is {}, want {}",
            show_obj(&f["object"]),
            want.object.display()
        ),
    ));
    if let Some(sev) = &want.severity {
        out.push((
            s(f, "severity") == sev,
            format!("severity is {}, want {sev}", s(f, "severity")),
        ));
    }
    for c in &want.cause {
        out.push((
            contains_ci(s(f, "cause"), c),
            format!("cause {:?} lacks {c:?}", s(f, "cause")),
        ));
    }
    for c in &want.root_cause {
        let rc = f["root_cause"].as_str();
        out.push((
            rc.is_some_and(|rc| contains_ci(rc, c)),
            match rc {
                Some(rc) => format!("root_cause {rc:?} lacks {c:?}"),
                None => format!("no root_cause (want one containing {c:?})"),
            },
        ));
    }
    let evidence = f["evidence"].as_array().cloned().unwrap_or_default();
    for e in &want.evidence {
        out.push((
            evidence.iter().any(|ev| contains_ci(s(ev, "text"), e)),
            format!(
                "no evidence text contains {e:?} (evidence: {})",
                evidence
                    .iter()
                    .map(|ev| format!("{:?}", s(ev, "text")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if let Some(fx) = &want.fix {
        let fixes = f["fixes"].as_array().cloned().unwrap_or_default();
        let reasons: Vec<String> = fixes.iter().filter_map(|x| fix_mismatch(fx, x)).collect();
        let ok = reasons.len() < fixes.len();
        let why = if fixes.is_empty() {
            "the finding has no fix".to_string()
        } else {
            format!("no fix matches: {}", reasons.join("; "))
        };
        out.push((ok, why));
    }
    out
}

/// How one expected finding fared.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// A finding matches everything, the fix included.
    Matched,
    /// A finding matches everything but the fix.
    FixMissing(String),
    /// No finding matches; the explanation names the closest one.
    NotFound(String),
}

fn match_expected(want: &ExpectedFinding, findings: &[Value]) -> Outcome {
    let mut best: Option<(usize, &Value, Checks)> = None;
    for f in findings {
        let c = checks(want, f);
        let passed = c.iter().filter(|(ok, _)| *ok).count();
        // Reason and object weigh most when picking the closest finding.
        let score = passed + 10 * usize::from(c[0].0) + 10 * usize::from(c[1].0);
        if c.iter().all(|(ok, _)| *ok) {
            return Outcome::Matched;
        }
        if best.as_ref().is_none_or(|(b, _, _)| score > *b) {
            best = Some((score, f, c));
        }
    }
    let Some((_, f, c)) = best else {
        return Outcome::NotFound("the output has no finding at all".into());
    };
    let failed: Vec<&(bool, String)> = c.iter().filter(|(ok, _)| !*ok).collect();
    let fix_only = want.fix.is_some() && failed.len() == 1 && !c.last().unwrap().0;
    let first = &failed[0].1;
    if fix_only {
        // Another finding could match the rest and the fix: already ruled out above.
        Outcome::FixMissing(format!("closest {}: {first}", show_finding(f)))
    } else {
        Outcome::NotFound(format!("closest {}: {first}", show_finding(f)))
    }
}

fn must_not_hits<'a>(rule: &MustNot, findings: &'a [Value]) -> Vec<&'a Value> {
    findings
        .iter()
        .filter(|f| {
            rule.reason.as_deref().is_none_or(|r| s(f, "reason") == r)
                && rule.object.matches(&f["object"])
                && rule
                    .severity
                    .as_deref()
                    .is_none_or(|v| s(f, "severity") == v)
        })
        .collect()
}

/// A scenario's score.
#[derive(Debug, Default)]
struct Score {
    expected: usize,
    found: usize,
    fixes_expected: usize,
    fixes_matched: usize,
    must_not_violations: usize,
    /// `None` when the scenario is not marked healthy.
    healthy_ok: Option<bool>,
    /// Every mismatch, explained; the first is the one reported.
    problems: Vec<String>,
}

impl Score {
    fn pass(&self) -> bool {
        self.problems.is_empty()
    }
}

fn score(exp: &Expected, output: &Value) -> Score {
    let findings = output["findings"].as_array().cloned().unwrap_or_default();
    let mut sc = Score {
        expected: exp.findings.len(),
        fixes_expected: exp.findings.iter().filter(|f| f.fix.is_some()).count(),
        ..Score::default()
    };
    for (i, want) in exp.findings.iter().enumerate() {
        let label = format!("findings[{i}] {} on {}", want.reason, want.object.display());
        match match_expected(want, &findings) {
            Outcome::Matched => {
                sc.found += 1;
                if want.fix.is_some() {
                    sc.fixes_matched += 1;
                }
            }
            Outcome::FixMissing(why) => {
                sc.found += 1;
                sc.problems
                    .push(format!("{label}: found, but its fix: {why}"));
            }
            Outcome::NotFound(why) => sc.problems.push(format!("{label}: not found; {why}")),
        }
    }
    for (i, rule) in exp.must_not.iter().enumerate() {
        for f in must_not_hits(rule, &findings) {
            sc.must_not_violations += 1;
            sc.problems.push(format!(
                "must_not[{i}] violated by {}: {}",
                show_finding(f),
                s(f, "cause")
            ));
        }
    }
    if exp.healthy {
        let bad: Vec<&Value> = findings
            .iter()
            .filter(|f| matches!(s(f, "severity"), "error" | "critical"))
            .collect();
        sc.healthy_ok = Some(bad.is_empty());
        for f in bad {
            sc.problems.push(format!(
                "healthy cluster, but {}: {}",
                show_finding(f),
                s(f, "cause")
            ));
        }
    }
    sc
}

// ---------------------------------------------------------------------------
// Running

fn scenario_dirs() -> Vec<PathBuf> {
    let root = repo_root().join("tests/scenarios");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    dirs.sort();
    dirs
}

/// Runs `diagnostics.analyze` on the scenario's snapshot.
async fn analyze(dir: &Path, exp: &Expected, cache: &Path) -> Result<Value, String> {
    let (backend, problems) =
        SnapshotBackend::load(&dir.join("snapshot")).map_err(|e| format!("snapshot: {e}"))?;
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(format!("snapshot problems: {}", list.join("; ")));
    }
    let broker = Broker::new(
        Arc::new(backend),
        Arc::new(Policy::defaults().expect("default policy")),
        Arc::new(Audit::Off),
    );
    let rt = Runtime::new(
        RuntimeConfig {
            limits: Limits::default(),
            cache_dir: Some(cache.to_path_buf()),
            operator_grants: Default::default(),
        },
        Some(broker),
    )
    .expect("runtime");
    let skill = guardian_builtin_skills::get("diagnostics").expect("built-in diagnostics skill");
    rt.load_builtin(skill.manifest, skill.wasm)
        .await
        .map_err(|e| format!("loading diagnostics: {e}"))?;
    let mut input = json!({"dry_run": true});
    if let Some(ns) = &exp.namespace {
        input["namespace"] = json!(ns);
    }
    rt.call("test", "diagnostics.analyze", &input.to_string())
        .await
        .map_err(|e| format!("diagnostics.analyze: {e}"))
}

#[tokio::test]
async fn corpus() {
    let cache = tempfile::tempdir().unwrap();
    let dirs = scenario_dirs();
    assert!(dirs.len() >= 30, "only {} scenarios", dirs.len());
    let only = std::env::var("SCENARIO").ok();

    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let text = std::fs::read_to_string(dir.join("expected.yaml"))
            .unwrap_or_else(|e| panic!("{name}/expected.yaml: {e}"));
        let exp: Expected =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}/expected.yaml: {e}"));
        assert!(!exp.description.trim().is_empty(), "{name}: no description");
        assert!(
            exp.healthy || !exp.findings.is_empty(),
            "{name}: a broken scenario must expect at least one finding"
        );
        let sc = match analyze(dir, &exp, cache.path()).await {
            Ok(output) => {
                if std::env::var("SCENARIO_DUMP").is_ok() {
                    println!("{name}:\n{}", serde_yaml::to_string(&output).unwrap());
                }
                score(&exp, &output)
            }
            Err(e) => Score {
                expected: exp.findings.len(),
                fixes_expected: exp.findings.iter().filter(|f| f.fix.is_some()).count(),
                healthy_ok: exp.healthy.then_some(false),
                problems: vec![e],
                ..Score::default()
            },
        };
        if !sc.pass() {
            let more = match sc.problems.len() - 1 {
                0 => String::new(),
                n => format!(" (and {n} more)"),
            };
            failures.push(format!("{name}: {}{more}", sc.problems[0]));
        }
        rows.push((name, sc));
    }

    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(8).max(8);
    let mut table = format!(
        "{:<width$}  {:>8}  {:>8}  {:>8}  {:>7}  result\n",
        "scenario", "found", "fixes", "must_not", "healthy"
    );
    for (name, sc) in &rows {
        let healthy = match sc.healthy_ok {
            None => "-",
            Some(true) => "ok",
            Some(false) => "FAIL",
        };
        writeln!(
            table,
            "{name:<width$}  {:>8}  {:>8}  {:>8}  {healthy:>7}  {}",
            format!("{}/{}", sc.found, sc.expected),
            format!("{}/{}", sc.fixes_matched, sc.fixes_expected),
            sc.must_not_violations,
            if sc.pass() { "PASS" } else { "FAIL" }
        )
        .unwrap();
    }
    let passed = rows.iter().filter(|(_, sc)| sc.pass()).count();
    writeln!(table, "{passed}/{} scenarios pass", rows.len()).unwrap();
    println!("{table}");
    assert!(
        failures.is_empty(),
        "{} scenario(s) fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// The matcher itself

#[test]
fn the_matcher_matches_misses_and_flags_must_not() {
    let output = json!({"findings": [{
        "id": "createcontainerconfigerror/deployment/shop/payments",
        "object": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "payments"},
        "severity": "critical",
        "reason": "CreateContainerConfigError",
        "cause": "2 pods cannot start: couldn't find key password in Secret shop/payments-db",
        "root_cause": "Secret payments-db has no key password; it has pass",
        "evidence": [{"source": "event", "ref": "Event Failed", "text": "Error: couldn't find key password in Secret shop/payments-db"}],
        "fixes": [{
            "target": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "payments"},
            "description": "use key pass",
            "json_patch": [
                {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "payments"},
                {"op": "test", "path": "/spec/template/spec/containers/0/env/0/valueFrom/secretKeyRef/key", "value": "password"},
                {"op": "replace", "path": "/spec/template/spec/containers/0/env/0/valueFrom/secretKeyRef/key", "value": "pass"}
            ],
            "dry_run": {"result": "passed"},
            "requires_input": false
        }]
    }]});
    let good: Expected = serde_yaml::from_str(
        r#"
description: payments reads a Secret key that does not exist
findings:
  - reason: CreateContainerConfigError
    object: {kind: Deployment, name: payments}
    severity: critical
    cause: [PASSWORD]
    root_cause: [payments-db, pass]
    evidence: ["couldn't find key"]
    fix:
      patch:
        - {op: test, path: /spec/template/spec/containers/0/name, value: payments}
        - {op: replace, path: /spec/template/spec/containers/0/env/0/valueFrom/secretKeyRef/key, value: pass}
      dry_run: passed
      requires_input: false
must_not:
  - reason: ServiceSelectorMismatch
"#,
    )
    .unwrap();
    let sc = score(&good, &output);
    assert!(sc.pass(), "{:?}", sc.problems);
    assert_eq!(
        (sc.found, sc.fixes_matched, sc.must_not_violations),
        (1, 1, 0)
    );

    // A wrong value in the fix: found, fix not matched.
    let wrong_fix: Expected = serde_yaml::from_str(
        r#"
description: x
findings:
  - reason: CreateContainerConfigError
    object: {kind: Deployment, name: payments}
    fix:
      patch: [{op: replace, path: /spec/template/spec/containers/0/env/0/valueFrom/secretKeyRef/key, value: passwd}]
"#,
    )
    .unwrap();
    let sc = score(&wrong_fix, &output);
    assert!(!sc.pass());
    assert_eq!((sc.found, sc.fixes_matched), (1, 0));
    assert!(sc.problems[0].contains("passwd"), "{:?}", sc.problems);

    // A different object: not found, the closest finding named.
    let other: Expected = serde_yaml::from_str(
        r#"
description: x
findings:
  - reason: CreateContainerConfigError
    object: {kind: Deployment, name: checkout}
    root_cause: [checkout-config]
"#,
    )
    .unwrap();
    let sc = score(&other, &output);
    assert_eq!(sc.found, 0);
    assert!(
        sc.problems[0].contains("not found")
            && sc.problems[0]
                .contains("closest CreateContainerConfigError on Deployment shop/payments")
            && sc.problems[0].contains("object is Deployment shop/payments"),
        "{:?}",
        sc.problems
    );

    // must_not and healthy both flag the finding.
    let forbidden: Expected = serde_yaml::from_str(
        r#"
description: x
healthy: true
must_not:
  - object: {name: payments}
"#,
    )
    .unwrap();
    let sc = score(&forbidden, &output);
    assert_eq!(sc.must_not_violations, 1);
    assert_eq!(sc.healthy_ok, Some(false));
    assert_eq!(sc.problems.len(), 2, "{:?}", sc.problems);

    // Unknown fields in expected.yaml are refused (typos do not pass silently).
    assert!(serde_yaml::from_str::<Expected>("description: x\nfinding: []\n").is_err());
}
