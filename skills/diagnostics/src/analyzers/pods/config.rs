//! What the pod spec references: ConfigMaps, Secrets and their keys linked
//! to the variable the log says is unset, a variable the previous revision
//! set and the current one does not, and a missing file the container
//! mounts from the node (hostPath).

use serde_json::Value;

use crate::analyzers::patterns::{self, Kind, Match};
use crate::analyzers::refs::{Issue, Problem as RefProblem};
use crate::ctx::name_of;
use crate::finding::{Evidence, Source};
use crate::fix;
use crate::reasons as r;

use super::diagnosis::Diagnosis;

impl<'a> Diagnosis<'a, '_> {
    /// The definition of `var` in container `container` of the previous
    /// revision (a Deployment's previous ReplicaSet), with the revision and
    /// the ReplicaSet's name.
    pub(super) fn previous_env(&self, container: &str, var: &str) -> Option<(Value, i64, String)> {
        let (_, previous) = self.revisions();
        let (rs, rev) = previous?;
        let spec = &rs["spec"]["template"]["spec"];
        let entry = ["containers", "initContainers"]
            .iter()
            .filter_map(|list| spec[*list].as_array())
            .flatten()
            .find(|c| c["name"].as_str() == Some(container))?["env"]
            .as_array()?
            .iter()
            .find(|e| e["name"].as_str() == Some(var))?;
        Some((entry.clone(), rev, name_of(rs).to_string()))
    }

    /// A missing path the log names that the container mounts from the
    /// node (a hostPath volume): evidence, and the root cause says so.
    pub(super) fn host_path_link(&mut self, m: &Match) {
        if m.kind != Kind::MissingFile {
            return;
        }
        let (Some(path), Some(c)) = (m.target.as_deref(), self.spec_container) else {
            return;
        };
        let Some((mount, host)) = c.volume_mounts.iter().find_map(|vm| {
            let inside = path == vm.mount_path
                || path
                    .strip_prefix(vm.mount_path.as_str())
                    .is_some_and(|rest| rest.starts_with('/'));
            if !inside {
                return None;
            }
            let v = self.rep.spec.volumes.iter().find(|v| v.name == vm.name)?;
            let host = v.host_path.as_ref()?["path"].as_str()?.to_string();
            Some((vm, host))
        }) else {
            return;
        };
        let node = self.rep.spec.node_name.as_deref().unwrap_or("its node");
        let text = format!(
            "container `{}` mounts volume `{}` (hostPath `{host}` of the node) at {}; the log says {path} cannot be opened, so `{host}` is likely missing (or unreadable) on node {node}",
            c.name, mount.name, mount.mount_path
        );
        self.spec(
            format!(
                "{} container {} volumeMounts",
                self.workload.display(),
                c.name
            ),
            text,
        );
        if let Some(root) = &mut self.root {
            root.push_str(&format!(
                "; {path} is the hostPath `{host}` of node {node} (volume `{}`), which is missing there",
                mount.name
            ));
        }
    }

    /// Root cause from the spec's references, linked to the log.
    pub(super) fn config_root(&mut self, issues: &[&Issue], log: &[Match], log_ref: &str) {
        let missing_vars: Vec<&Match> = log.iter().filter(|m| m.kind == Kind::MissingEnv).collect();
        if !self.reference_root(issues, &missing_vars, log_ref)
            && let Some(m) = missing_vars.first()
        {
            self.unset_var_root(m);
        }
    }

    /// A reference of the spec that does not resolve, as the root cause:
    /// the one that sets a variable the log says is unset, else one that
    /// blocks the container, else (for crashes) an optional one silently
    /// unset. Its fixes, and those of the other blocking references. Whether
    /// one was found.
    fn reference_root(
        &mut self,
        issues: &[&Issue],
        missing_vars: &[&Match],
        log_ref: &str,
    ) -> bool {
        let wl = self.workload.display();
        // 1. The log names a variable that comes from a broken reference.
        let linked = missing_vars.iter().find_map(|m| {
            let var = m.var.as_deref()?;
            issues
                .iter()
                .find(|i| i.env_var() == Some(var))
                .map(|i| (*i, *m))
        });
        let chosen: Option<(&Issue, Option<&Match>)> = linked
            .map(|(i, m)| (i, Some(m)))
            .or_else(|| {
                // 2. A reference that blocks the container, for config errors.
                issues
                    .iter()
                    .find(|i| {
                        i.blocking() && !matches!(i.problem, RefProblem::ClaimNotBound { .. })
                    })
                    .map(|i| (*i, None))
            })
            .or_else(|| {
                // 3. An optional reference silently unset, for crashes.
                matches!(
                    self.finding.reason.as_str(),
                    r::CRASH_LOOP_BACK_OFF | r::CONTAINER_FAILING | r::INIT_CONTAINER_FAILING
                )
                .then(|| {
                    issues
                        .iter()
                        .find(|i| i.optional && i.env_var().is_some())
                        .map(|i| (*i, None))
                })
                .flatten()
            });
        if let Some((issue, m)) = chosen {
            let mut root = format!(
                "{}, {}",
                in_workload(&issue.reference(), &wl),
                issue.problem_text()
            );
            if let Some(m) = m {
                let var = m.var.as_deref().unwrap_or("");
                root.push_str(&format!(
                    ", so {var} is unset and the app fails at startup (`{}`)",
                    patterns::quote(m, 160)
                ));
                self.finding.evidence.push(Evidence::new(
                    Source::Config,
                    format!("{log_ref} line {} ↔ {} {}", m.line_no, issue.kind, issue.name),
                    format!(
                        "the log says {var} is not set; {var} comes from {} `{}` key `{}`{}, which is missing",
                        issue.kind,
                        issue.name,
                        issue.key.as_deref().unwrap_or(""),
                        if issue.optional { " with optional: true (so the pod starts without it)" } else { "" }
                    ),
                ));
            } else if issue.optional && issue.env_var().is_some() {
                let var = issue.env_var().unwrap_or("");
                root.push_str(&format!(", so {var} is silently unset"));
            }
            self.root = Some(root);
            self.fixes.extend(issue.fixes(self.scope, self.template));
            // Other broken references get their fixes too.
            for other in issues
                .iter()
                .filter(|i| !std::ptr::eq(**i, issue) && i.blocking())
            {
                self.fixes.extend(other.fixes(self.scope, self.template));
            }
            return true;
        }
        false
    }

    /// The log names a variable `m` the container does not set at all: put
    /// back the definition the previous revision had, else ask for a value.
    fn unset_var_root(&mut self, m: &Match) {
        let wl = self.workload.display();
        if let (Some(var), Some(c)) = (m.var.as_deref(), self.spec_container) {
            let set = c.env.iter().any(|e| e.name == var);
            let from_env_from = !c.env_from.is_empty();
            if !set {
                let mut root = format!(
                    "the app in container `{}` of {wl} needs {var} (`{}`), which the container does not set",
                    c.name,
                    patterns::quote(m, 160)
                );
                if from_env_from {
                    root.push_str(" (nor do the ConfigMaps/Secrets of its envFrom)");
                }
                // The previous revision set it: put its definition back.
                let restored = self.previous_env(&c.name, var).and_then(|(entry, rev, rs)| {
                    let shown = env_source(&entry);
                    root.push_str(&format!(
                        "; the previous revision {rev} (ReplicaSet {rs}) set it ({shown})"
                    ));
                    self.spec(
                        format!("{wl} revisions"),
                        format!(
                            "ReplicaSet {rs} (revision {rev}) sets {var} in container `{}` ({shown}); the current template does not",
                            c.name
                        ),
                    );
                    let t = self.template?;
                    let (cpath, tc) = t.container(&c.name)?;
                    let mut ops = vec![fix::test(&format!("{cpath}/name"), c.name.as_str())];
                    if tc["env"].is_array() {
                        ops.push(fix::add(&format!("{cpath}/env/-"), entry));
                    } else {
                        ops.push(fix::add(&format!("{cpath}/env"), Value::Array(vec![entry])));
                    }
                    self.template_fix(
                        ops,
                        format!(
                            "Set {var} in container `{}` again as revision {rev} did ({shown})",
                            c.name
                        ),
                    )
                });
                self.root = Some(root);
                if let Some(f) = restored {
                    self.fixes.push(f);
                } else if let Some(t) = self.template {
                    self.fixes.push(fix::needs_input(
                        t.target.clone(),
                        format!("Set {var} in container `{}`", c.name),
                        format!(
                            "kubectl set env {}/{} -n {} -c {} {var}=<value>",
                            t.target.kind.to_ascii_lowercase(),
                            t.target.name,
                            self.scope.namespace,
                            c.name
                        ),
                    ));
                }
            }
        }
    }
}

/// How an env entry is set, for a sentence: `value `x``, `from Secret `s`
/// key `k``.
fn env_source(entry: &Value) -> String {
    if let Some(v) = entry["value"].as_str() {
        return format!("value `{}`", patterns::clip(v, 120));
    }
    let from = &entry["valueFrom"];
    for (field, kind) in [("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")] {
        if let Some(name) = from[field]["name"].as_str() {
            return format!(
                "from {kind} `{name}` key `{}`",
                from[field]["key"].as_str().unwrap_or("")
            );
        }
    }
    if let Some(path) = from["fieldRef"]["fieldPath"].as_str() {
        return format!("from field `{path}`");
    }
    "from a valueFrom source".into()
}

/// `container `x` reads …` → `container `x` of Deployment ns/d reads …`.
fn in_workload(reference: &str, wl: &str) -> String {
    for subject in ["container `", "volume `"] {
        if let Some(rest) = reference.strip_prefix(subject)
            && let Some(end) = rest.find('`')
        {
            let (name, tail) = rest.split_at(end + 1);
            return format!("{subject}{name} of {wl}{tail}");
        }
    }
    format!("{wl}: {reference}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject() {
        assert_eq!(
            in_workload(
                "container `payments` reads DB_PASSWORD from Secret `payments-db` key `password`",
                "Deployment staging/payments"
            ),
            "container `payments` of Deployment staging/payments reads DB_PASSWORD from Secret `payments-db` key `password`"
        );
    }
}
