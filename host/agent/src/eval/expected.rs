//! `expected.yaml`: what an expert says about a scenario (the format is
//! documented in `tests/scenarios/README.md`), and the matcher that scores
//! a `diagnostics.analyze` output against it.

use serde::Deserialize;
use serde_json::{Value, json};

/// One scenario's `expected.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub description: String,
    /// The question `guardian eval` asks [default: derived from the first
    /// expected finding's object, or "is anything wrong" when healthy].
    #[serde(default)]
    pub question: Option<String>,
    /// Scan only this namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// No finding of severity `error` or `critical` may appear.
    #[serde(default)]
    pub healthy: bool,
    #[serde(default)]
    pub findings: Vec<ExpectedFinding>,
    #[serde(default)]
    pub must_not: Vec<MustNot>,
}

/// Which object a finding is about; every field given must be equal.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectSel {
    #[serde(default, rename = "apiVersion")]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// A finding that must be in the output.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFinding {
    pub reason: String,
    #[serde(default)]
    pub object: ObjectSel,
    /// Exact severity.
    #[serde(default)]
    pub severity: Option<String>,
    /// Case-insensitive substrings of `cause`.
    #[serde(default)]
    pub cause: Vec<String>,
    /// Case-insensitive substrings of `root_cause`.
    #[serde(default)]
    pub root_cause: Vec<String>,
    /// Each a case-insensitive substring of some evidence `text`.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// The GitOps owner the finding must name (`managed_by`).
    #[serde(default)]
    pub managed_by: Option<ManagedBySel>,
    #[serde(default)]
    pub fix: Option<ExpectedFix>,
}

/// Which GitOps owner a finding names; every field given must be equal.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedBySel {
    #[serde(default)]
    pub tool: Option<String>,
    #[serde(default)]
    pub application: Option<String>,
    #[serde(default)]
    pub application_namespace: Option<String>,
    #[serde(default)]
    pub tracking: Option<String>,
    #[serde(default)]
    pub automated: Option<bool>,
    #[serde(default)]
    pub self_heal: Option<bool>,
    #[serde(default)]
    pub reverts_direct_patch: Option<bool>,
}

impl ManagedBySel {
    /// Why `owner` (a finding's `managed_by`) does not match, or `None`.
    fn mismatch(&self, owner: &Value) -> Option<String> {
        if owner.is_null() {
            return Some("the finding names no GitOps owner (no managed_by)".into());
        }
        for (key, want) in [
            ("tool", &self.tool),
            ("application", &self.application),
            ("application_namespace", &self.application_namespace),
            ("tracking", &self.tracking),
        ] {
            if let Some(w) = want
                && s(owner, key) != w
            {
                return Some(format!(
                    "managed_by.{key} is {:?}, want {w:?}",
                    s(owner, key)
                ));
            }
        }
        for (key, want) in [
            ("automated", self.automated),
            ("self_heal", self.self_heal),
            ("reverts_direct_patch", self.reverts_direct_patch),
        ] {
            if let Some(w) = want
                && owner[key].as_bool() != Some(w)
            {
                return Some(format!("managed_by.{key} is {}, want {w}", owner[key]));
            }
        }
        None
    }
}

/// A fix some fix of the finding must satisfy.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFix {
    /// The object the fix patches.
    #[serde(default)]
    pub target: Option<ObjectSel>,
    /// Operations the fix's `json_patch` must contain (op and path equal,
    /// value equal when given).
    #[serde(default)]
    pub patch: Vec<PatchOp>,
    /// Case-insensitive substrings of the fix's `kubectl` command.
    #[serde(default)]
    pub kubectl: Vec<String>,
    /// `passed`, `failed` or `skipped`.
    #[serde(default)]
    pub dry_run: Option<String>,
    #[serde(default)]
    pub requires_input: Option<bool>,
    /// Case-insensitive substrings of the fix's `gitops` note (what a
    /// direct patch of a GitOps-managed target comes to).
    #[serde(default)]
    pub gitops: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchOp {
    pub op: String,
    pub path: String,
    #[serde(default)]
    pub value: Option<Value>,
}

/// A finding that must not be in the output.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MustNot {
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub object: ObjectSel,
    #[serde(default)]
    pub severity: Option<String>,
}

// ---------------------------------------------------------------------------
// Matching

pub(crate) fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

pub(crate) fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

impl ObjectSel {
    pub fn matches(&self, obj: &Value) -> bool {
        let eq =
            |want: &Option<String>, key: &str| want.as_deref().is_none_or(|w| s(obj, key) == w);
        eq(&self.api_version, "apiVersion")
            && eq(&self.kind, "kind")
            && eq(&self.namespace, "namespace")
            && eq(&self.name, "name")
    }

    pub fn display(&self) -> String {
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
pub fn fix_mismatch(want: &ExpectedFix, fix: &Value) -> Option<String> {
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
    for g in &want.gitops {
        match fix["gitops"].as_str() {
            Some(text) if contains_ci(text, g) => {}
            Some(text) => return Some(format!("gitops {text:?} lacks {g:?}")),
            None => return Some(format!("no gitops note (want one containing {g:?})")),
        }
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
    if let Some(m) = &want.managed_by {
        let why = m.mismatch(&f["managed_by"]);
        out.push((why.is_none(), why.unwrap_or_default()));
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

pub fn must_not_hits<'a>(rule: &MustNot, findings: &'a [Value]) -> Vec<&'a Value> {
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
pub struct Score {
    pub expected: usize,
    pub found: usize,
    pub fixes_expected: usize,
    pub fixes_matched: usize,
    pub must_not_violations: usize,
    /// `None` when the scenario is not marked healthy.
    pub healthy_ok: Option<bool>,
    /// Every mismatch, explained; the first is the one reported.
    pub problems: Vec<String>,
}

impl Score {
    pub fn pass(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Scores a `diagnostics.analyze` output against the expectations.
pub fn score(exp: &Expected, output: &Value) -> Score {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_matcher_checks_the_gitops_owner_and_the_fix_marking() {
        let finding = |managed: Value, gitops: Value| {
            json!({"findings": [{
                "object": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"},
                "severity": "critical", "reason": "CrashLoopBackOff", "cause": "crashes",
                "managed_by": managed,
                "fixes": [{"target": {"kind": "Deployment", "name": "web"}, "gitops": gitops}]
            }]})
        };
        let want: Expected = serde_yaml::from_str(
            r#"
    description: x
    findings:
      - reason: CrashLoopBackOff
        object: {kind: Deployment, name: web}
        managed_by: {application: web, application_namespace: argocd, reverts_direct_patch: true}
        fix:
          gitops: [selfHeal, "apps/web"]
    "#,
        )
        .unwrap();
        let owner = json!({"tool": "argocd", "application": "web", "application_namespace": "argocd",
            "tracking": "annotation", "automated": true, "self_heal": true, "reverts_direct_patch": true,
            "note": "…"});
        let text = json!(
            "Argo CD Application argocd/web syncs automatically with selfHeal: a direct patch is reverted; change the manifest in Git (https://git.example.com/x.git, path apps/web) instead"
        );
        let sc = score(&want, &finding(owner.clone(), text.clone()));
        assert!(sc.pass(), "{:?}", sc.problems);

        // No owner, another Application, a policy that does not revert.
        for (managed, says) in [
            (Value::Null, "names no GitOps owner"),
            (
                json!({"application": "api", "application_namespace": "argocd"}),
                "managed_by.application is \"api\"",
            ),
            (
                json!({"application": "web", "application_namespace": "argocd", "reverts_direct_patch": false}),
                "managed_by.reverts_direct_patch is false",
            ),
        ] {
            let sc = score(&want, &finding(managed, text.clone()));
            assert_eq!(sc.found, 0);
            assert!(sc.problems[0].contains(says), "{:?}", sc.problems);
        }
        // The fix not marked: found, its fix not matched.
        let sc = score(&want, &finding(owner, Value::Null));
        assert_eq!((sc.found, sc.fixes_matched), (1, 0));
        assert!(
            sc.problems[0].contains("no gitops note"),
            "{:?}",
            sc.problems
        );
    }
}
