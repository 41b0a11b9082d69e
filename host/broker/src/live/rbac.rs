//! RBAC in the terms an operator writes it: the permission a call needs, the
//! Role rule that grants it, the minimal Role/ClusterRole for a set of them.
//!
//! Used twice: an HTTP 403 from the API server names the rule that would
//! have allowed the call, and `guardian doctor` prints the Role that grants
//! what the skills' grants need.

use std::collections::{BTreeMap, BTreeSet};

/// One permission as SelfSubjectAccessReview's `resourceAttributes` and a
/// Role rule see it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    /// API group; `""` for the core group, `"*"` for every group.
    pub group: String,
    /// Plural resource name (`pods`), or `"*"`.
    pub resource: String,
    /// `log` for `pods/log`.
    pub subresource: Option<String>,
    pub verb: String,
}

impl Permission {
    /// `pods/log`, `deployments` — the string a Role rule's `resources` holds.
    pub fn rule_resource(&self) -> String {
        match &self.subresource {
            Some(sub) => format!("{}/{sub}", self.resource),
            None => self.resource.clone(),
        }
    }

    /// The kubectl grant spelling: `pods/log`, `deployments.apps`,
    /// `deployments.apps/scale`, `*`.
    pub fn grant_name(&self) -> String {
        let base = if self.group.is_empty() || self.group == "*" {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        };
        match &self.subresource {
            Some(sub) => format!("{base}/{sub}"),
            None => base,
        }
    }

    /// The rule that grants exactly this permission.
    pub fn rule(&self) -> Rule {
        Rule {
            api_groups: vec![self.group.clone()],
            resources: vec![self.rule_resource()],
            verbs: vec![self.verb.clone()],
        }
    }
}

/// Split a grant name (`pods`, `pods/log`, `deployments.apps`,
/// `events.events.k8s.io`, `deployments.apps/scale`, `*`) into
/// (group, resource, subresource).
pub fn parse_grant(grant: &str) -> (String, String, Option<String>) {
    let grant = grant.trim();
    if grant == "*" {
        return ("*".to_string(), "*".to_string(), None);
    }
    let (base, sub) = match grant.split_once('/') {
        Some((base, sub)) => (base, Some(sub)),
        None => (grant, None),
    };
    // `deployments/scale.apps` is not a spelling anyone uses, but tolerate a
    // group written after the subresource.
    let (base, sub, sub_group) = match sub.and_then(|s| s.split_once('.')) {
        Some((s, g)) if !base.contains('.') => (base, Some(s), Some(g)),
        _ => (base, sub, None),
    };
    let (resource, group) = match base.split_once('.') {
        Some((resource, group)) => (resource, group),
        None => (base, sub_group.unwrap_or("")),
    };
    (
        group.to_string(),
        resource.to_string(),
        sub.map(str::to_string),
    )
}

/// The permissions a skill's grants need from the API server: `read` →
/// get and list (get only for subresources such as `pods/log`); `propose` →
/// patch (server-side dry-run needs the same verb as the write).
pub fn required_for_grants<'a>(
    read: impl IntoIterator<Item = &'a String>,
    propose: impl IntoIterator<Item = &'a String>,
) -> Vec<Permission> {
    let mut out: Vec<Permission> = Vec::new();
    let mut push = |grant: &str, verb: &str| {
        let (group, resource, subresource) = parse_grant(grant);
        let p = Permission {
            group,
            resource,
            subresource,
            verb: verb.to_string(),
        };
        if !out.contains(&p) {
            out.push(p);
        }
    };
    for grant in read {
        if grant.contains('/') {
            push(grant, "get");
        } else {
            push(grant, "get");
            push(grant, "list");
        }
    }
    for grant in propose {
        push(grant, "patch");
    }
    out
}

/// One `rules:` entry of a Role or ClusterRole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
}

fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Rule {
    /// Flow style, one line: `{apiGroups: [""], resources: ["pods/log"], verbs: ["get"]}`.
    pub fn inline(&self) -> String {
        format!(
            "{{apiGroups: [{}], resources: [{}], verbs: [{}]}}",
            quoted(&self.api_groups),
            quoted(&self.resources),
            quoted(&self.verbs)
        )
    }
}

/// The fewest rules that grant every permission: one rule per API group and
/// verb set, resources sorted.
pub fn minimal_rules(permissions: &[Permission]) -> Vec<Rule> {
    // group → resource → verbs
    let mut by_group: BTreeMap<&str, BTreeMap<String, BTreeSet<&str>>> = BTreeMap::new();
    for p in permissions {
        by_group
            .entry(p.group.as_str())
            .or_default()
            .entry(p.rule_resource())
            .or_default()
            .insert(p.verb.as_str());
    }
    let mut rules = Vec::new();
    for (group, resources) in by_group {
        // verbs → resources, so resources needing the same verbs share a rule.
        let mut by_verbs: BTreeMap<Vec<&str>, Vec<String>> = BTreeMap::new();
        for (resource, verbs) in resources {
            by_verbs
                .entry(verbs.into_iter().collect())
                .or_default()
                .push(resource);
        }
        for (verbs, resources) in by_verbs {
            rules.push(Rule {
                api_groups: vec![group.to_string()],
                resources,
                verbs: verbs.into_iter().map(str::to_string).collect(),
            });
        }
    }
    rules
}

/// A Role (with a namespace) or ClusterRole (without) holding `rules`, as
/// YAML ready for `kubectl apply -f -`.
pub fn role_yaml(name: &str, namespace: Option<&str>, rules: &[Rule]) -> String {
    let mut out = String::from("apiVersion: rbac.authorization.k8s.io/v1\n");
    match namespace {
        Some(ns) => {
            out.push_str("kind: Role\nmetadata:\n");
            out.push_str(&format!("  name: {name}\n  namespace: {ns}\n"));
        }
        None => {
            out.push_str("kind: ClusterRole\nmetadata:\n");
            out.push_str(&format!("  name: {name}\n"));
        }
    }
    out.push_str("rules:\n");
    for rule in rules {
        out.push_str(&format!("- apiGroups: [{}]\n", quoted(&rule.api_groups)));
        out.push_str(&format!("  resources: [{}]\n", quoted(&rule.resources)));
        out.push_str(&format!("  verbs: [{}]\n", quoted(&rule.verbs)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_parse_in_kubectl_form() {
        let cases = [
            ("pods", ("", "pods", None)),
            ("pods/log", ("", "pods", Some("log"))),
            ("deployments.apps", ("apps", "deployments", None)),
            ("events.events.k8s.io", ("events.k8s.io", "events", None)),
            (
                "deployments.apps/scale",
                ("apps", "deployments", Some("scale")),
            ),
            (
                "deployments/scale.apps",
                ("apps", "deployments", Some("scale")),
            ),
            ("*", ("*", "*", None)),
        ];
        for (grant, (group, resource, sub)) in cases {
            let parsed = parse_grant(grant);
            assert_eq!(
                parsed,
                (
                    group.to_string(),
                    resource.to_string(),
                    sub.map(str::to_string)
                ),
                "{grant}"
            );
        }
    }

    #[test]
    fn read_needs_get_list_and_log_needs_get() {
        let read: Vec<String> = vec!["pods".into(), "pods/log".into()];
        let propose: Vec<String> = vec!["deployments.apps".into()];
        let perms = required_for_grants(&read, &propose);
        let shown: Vec<String> = perms
            .iter()
            .map(|p| format!("{} {}", p.verb, p.grant_name()))
            .collect();
        assert_eq!(
            shown,
            [
                "get pods",
                "list pods",
                "get pods/log",
                "patch deployments.apps"
            ]
        );
    }

    #[test]
    fn minimal_role_groups_rules() {
        let read: Vec<String> = vec![
            "pods".into(),
            "pods/log".into(),
            "services".into(),
            "deployments.apps".into(),
        ];
        let rules = minimal_rules(&required_for_grants(&read, &[]));
        let yaml = role_yaml("guardian-read", Some("staging"), &rules);
        assert_eq!(
            yaml,
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: \
             guardian-read\n  namespace: staging\nrules:\n\
             - apiGroups: [\"\"]\n  resources: [\"pods/log\"]\n  verbs: [\"get\"]\n\
             - apiGroups: [\"\"]\n  resources: [\"pods\", \"services\"]\n  verbs: [\"get\", \"list\"]\n\
             - apiGroups: [\"apps\"]\n  resources: [\"deployments\"]\n  verbs: [\"get\", \"list\"]\n"
        );
        // It is valid YAML with the shape of a Role.
        let parsed: serde_json::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(parsed["rules"][1]["resources"][1], "services");
        assert_eq!(
            Permission {
                group: String::new(),
                resource: "pods".into(),
                subresource: Some("log".into()),
                verb: "get".into()
            }
            .rule()
            .inline(),
            "{apiGroups: [\"\"], resources: [\"pods/log\"], verbs: [\"get\"]}"
        );
    }
}
