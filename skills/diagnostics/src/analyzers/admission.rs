//! Pods refused at admission by a ResourceQuota or a LimitRange: the
//! controller's `FailedCreate` message quotes the numbers (`exceeded quota:
//! compute-quota, requested: requests.cpu=500m, used: requests.cpu=3800m,
//! limited: requests.cpu=4`; `maximum memory usage per Container is 1Gi,
//! but limit is 2Gi`). The root cause names the object and its numbers; the
//! fix brings the pod template's request or limit within what it allows.

use crate::analyzers::pods::quantity::parse_quantity;
use crate::analyzers::template::Template;
use crate::ctx::{Scope, name_of};
use crate::finding::{Evidence, Fix, Source};
use crate::fix;

/// Why the API server refused the pods, and how to make them fit.
pub struct Refusal {
    pub root: String,
    pub evidence: Vec<Evidence>,
    pub fixes: Vec<Fix>,
}

/// Explains a FailedCreate `message` for pods of `template`, when a
/// ResourceQuota or LimitRange refused them.
pub fn explain(scope: &Scope, template: Option<&Template>, message: &str) -> Option<Refusal> {
    if let Some(q) = parse_quota(message) {
        return Some(quota(scope, template, &q));
    }
    let limits = parse_limits(message);
    if !limits.is_empty() {
        return Some(limit_range(scope, template, &limits));
    }
    None
}

/// `exceeded quota: NAME, requested: a=1,b=2, used: …, limited: …`.
struct Quota {
    name: String,
    /// (resource, requested, used, limited), as written.
    items: Vec<(String, String, String, String)>,
}

fn parse_quota(message: &str) -> Option<Quota> {
    let rest = &message[message.find("exceeded quota: ")? + "exceeded quota: ".len()..];
    let (name, rest) = rest.split_once(", requested: ")?;
    let (requested, rest) = rest.split_once(", used: ")?;
    let (used, limited) = rest.split_once(", limited: ")?;
    let map = |list: &str| -> Vec<(String, String)> {
        list.trim()
            .split(',')
            .filter_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                Some((k.to_string(), v.trim_end_matches(['.', ']']).to_string()))
            })
            .collect()
    };
    let (used, limited) = (map(used), map(limited));
    let get = |m: &[(String, String)], k: &str| {
        m.iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let items = map(requested)
        .into_iter()
        .map(|(k, v)| {
            let (u, l) = (get(&used, &k), get(&limited, &k));
            (k, v, u, l)
        })
        .collect();
    Some(Quota {
        name: name.trim().to_string(),
        items,
    })
}

/// The pod template field a quota resource counts: `requests.cpu` and
/// `cpu` → (requests, cpu); `limits.memory` → (limits, memory).
fn field_of(resource: &str) -> Option<(&'static str, &str)> {
    if let Some(r) = resource.strip_prefix("requests.") {
        Some(("requests", r))
    } else if let Some(r) = resource.strip_prefix("limits.") {
        Some(("limits", r))
    } else if matches!(resource, "cpu" | "memory" | "ephemeral-storage") {
        Some(("requests", resource))
    } else {
        None
    }
}

fn quota(scope: &Scope, template: Option<&Template>, q: &Quota) -> Refusal {
    let ns = &scope.namespace;
    let mut parts = Vec::new();
    let mut fixes = Vec::new();
    let mut evidence = Vec::new();
    if let Some(obj) = scope.find("resourcequotas", &q.name) {
        let hard = &obj["status"]["hard"];
        let used = &obj["status"]["used"];
        let shown: Vec<String> = q
            .items
            .iter()
            .map(|(k, _, _, _)| {
                format!(
                    "{k}: hard {}, used {}",
                    hard[k].as_str().unwrap_or("?"),
                    used[k].as_str().unwrap_or("?")
                )
            })
            .collect();
        evidence.push(Evidence::new(
            Source::Status,
            format!("ResourceQuota {ns}/{}", q.name),
            shown.join("; "),
        ));
    }
    for (res, requested, used, limited) in &q.items {
        let (Some(req), Some(u), Some(l)) = (
            parse_quantity(requested),
            parse_quantity(used),
            parse_quantity(limited),
        ) else {
            continue;
        };
        let free = (l - u).max(0.0);
        parts.push(format!(
            "each new pod asks {res}={requested}, and of the {limited} it allows in namespace {ns} {used} is used, leaving {}",
            format_like(free, requested, res)
        ));
        if req <= free {
            continue;
        }
        let excess = req - free;
        let (Some(t), Some((kind, r))) = (template, field_of(res)) else {
            continue;
        };
        // Take the excess from the container asking the most.
        let Some(containers) = t.spec()["containers"].as_array() else {
            continue;
        };
        let Some((i, c, old)) = containers
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let v = c["resources"][kind][r]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| c["resources"][kind][r].as_f64().map(|n| n.to_string()))?;
                Some((i, c, v))
            })
            .max_by(|a, b| {
                let (x, y) = (parse_quantity(&a.2), parse_quantity(&b.2));
                x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)
            })
        else {
            continue;
        };
        let Some(old_n) = parse_quantity(&old) else {
            continue;
        };
        let new_n = old_n - excess;
        if new_n <= 0.0 {
            continue;
        }
        let new = format_like(new_n, &old, r);
        let cname = c["name"].as_str().unwrap_or("");
        let cpath = format!("{}/containers/{i}", t.prefix);
        let path = format!("{cpath}/resources/{kind}/{r}");
        let mut ops = vec![
            fix::test(&format!("{cpath}/name"), cname),
            fix::test(&path, c["resources"][kind][r].clone()),
            fix::replace(&path, new.as_str()),
        ];
        // A limit below the request is refused: lower the request with it.
        if kind == "limits"
            && let Some(req_v) = c["resources"]["requests"][r].as_str()
            && parse_quantity(req_v).is_some_and(|q| q > new_n)
        {
            let rp = format!("{cpath}/resources/requests/{r}");
            ops.push(fix::test(&rp, req_v));
            ops.push(fix::replace(&rp, new.as_str()));
        }
        let f = fix::patch(
            t.target.clone(),
            t.object,
            ops,
            format!(
                "Lower {kind}.{r} of container `{cname}` from {old} to {new}, so a pod fits the {} left by ResourceQuota {} ({res}: {used} of {limited} used); or raise the quota",
                format_like(free, requested, res),
                q.name
            ),
        );
        fixes.push(f);
    }
    Refusal {
        root: format!(
            "ResourceQuota {} refuses the new pods: {}",
            q.name,
            if parts.is_empty() {
                "its limits are reached".to_string()
            } else {
                parts.join("; ")
            }
        ),
        evidence,
        fixes,
    }
}

/// One LimitRange violation: `maximum memory usage per Container is 1Gi,
/// but limit is 2Gi`.
struct Violation {
    bound: &'static str,
    resource: String,
    per: String,
    allowed: String,
    field: String,
    actual: String,
}

fn parse_limits(message: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    for (word, bound) in [("maximum ", "max"), ("minimum ", "min")] {
        let mut rest = message;
        while let Some(at) = rest.find(word) {
            rest = &rest[at + word.len()..];
            let parse = || -> Option<Violation> {
                let (resource, r) = rest.split_once(" usage per ")?;
                let (per, r) = r.split_once(" is ")?;
                let (allowed, r) = r.split_once(", but ")?;
                let (field, r) = r.split_once(" is ")?;
                let actual: String = r
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
                    .collect();
                (!resource.contains(' ') && !per.contains(' ')).then(|| Violation {
                    bound,
                    resource: resource.to_string(),
                    per: per.to_string(),
                    allowed: allowed.to_string(),
                    field: field.to_string(),
                    actual,
                })
            };
            if let Some(v) = parse() {
                out.push(v);
            }
        }
    }
    out
}

fn limit_range(scope: &Scope, template: Option<&Template>, violations: &[Violation]) -> Refusal {
    let ns = &scope.namespace;
    let mut parts = Vec::new();
    let mut fixes = Vec::new();
    let mut evidence = Vec::new();
    for v in violations {
        // The LimitRange that sets this bound.
        let allowed_n = parse_quantity(&v.allowed);
        let owner = scope.objects("limitranges").iter().find(|lr| {
            lr["spec"]["limits"].as_array().is_some_and(|items| {
                items.iter().any(|it| {
                    it["type"].as_str() == Some(v.per.as_str())
                        && it[v.bound][&v.resource]
                            .as_str()
                            .and_then(parse_quantity)
                            .zip(allowed_n)
                            .is_some_and(|(a, b)| (a - b).abs() < 1e-9)
                })
            })
        });
        let who = owner
            .map(|lr| format!("LimitRange {}", name_of(lr)))
            .unwrap_or_else(|| format!("a LimitRange in namespace {ns}"));
        if let Some(lr) = owner {
            evidence.push(Evidence::new(
                Source::Spec,
                format!("LimitRange {ns}/{}", name_of(lr)),
                format!("type {}: {} {} {}", v.per, v.bound, v.resource, v.allowed),
            ));
        }
        let kind = if v.field == "request" {
            "requests"
        } else {
            "limits"
        };
        parts.push(format!(
            "{who} sets the {} {} per {} at {}, and the pod's {kind}.{} is {}",
            if v.bound == "max" {
                "maximum"
            } else {
                "minimum"
            },
            v.resource,
            v.per,
            v.allowed,
            v.resource,
            v.actual
        ));
        let Some(t) = template else { continue };
        if v.per != "Container" {
            continue;
        }
        let Some(containers) = t.spec()["containers"].as_array() else {
            continue;
        };
        let actual_n = parse_quantity(&v.actual);
        let Some((i, c)) = containers.iter().enumerate().find(|(_, c)| {
            c["resources"][kind][&v.resource]
                .as_str()
                .and_then(parse_quantity)
                .zip(actual_n)
                .is_some_and(|(a, b)| (a - b).abs() < 1e-9)
        }) else {
            continue;
        };
        let cname = c["name"].as_str().unwrap_or("");
        let cpath = format!("{}/containers/{i}", t.prefix);
        let path = format!("{cpath}/resources/{kind}/{}", v.resource);
        let mut ops = vec![
            fix::test(&format!("{cpath}/name"), cname),
            fix::test(&path, c["resources"][kind][&v.resource].clone()),
            fix::replace(&path, v.allowed.as_str()),
        ];
        // Keep request ≤ limit.
        let other = if kind == "limits" {
            "requests"
        } else {
            "limits"
        };
        if let Some(o) = c["resources"][other][&v.resource].as_str()
            && let (Some(on), Some(an)) = (parse_quantity(o), allowed_n)
            && ((kind == "limits" && on > an) || (kind == "requests" && on < an))
        {
            let op = format!("{cpath}/resources/{other}/{}", v.resource);
            ops.push(fix::test(&op, o));
            ops.push(fix::replace(&op, v.allowed.as_str()));
        }
        fixes.push(fix::patch(
            t.target.clone(),
            t.object,
            ops,
            format!(
                "Set {kind}.{} of container `{cname}` from {} to {}, the {} {who} allows per Container",
                v.resource,
                v.actual,
                v.allowed,
                if v.bound == "max" { "maximum" } else { "minimum" },
            ),
        ));
    }
    Refusal {
        root: format!("the pods are refused at admission: {}", parts.join("; ")),
        evidence,
        fixes,
    }
}

/// `value` (cores or bytes) written in the unit `like` uses: `200m`,
/// `768Mi`, `2Gi`.
fn format_like(value: f64, like: &str, resource: &str) -> String {
    let r = resource.rsplit('.').next().unwrap_or(resource);
    if r == "cpu" {
        let millis = (value * 1000.0).round() as i64;
        if millis % 1000 == 0 && !like.ends_with('m') {
            format!("{}", millis / 1000)
        } else {
            format!("{millis}m")
        }
    } else if matches!(r, "memory" | "ephemeral-storage" | "storage") {
        let (gi, mi) = (1024.0 * 1024.0 * 1024.0, 1024.0 * 1024.0);
        if like.ends_with('G') || like.ends_with('M') {
            format!("{}M", (value / 1e6).floor() as i64)
        } else if (value / gi).fract() == 0.0 && value >= gi {
            format!("{}Gi", (value / gi) as i64)
        } else {
            format!("{}Mi", (value / mi).floor() as i64)
        }
    } else {
        format!("{}", value.floor() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        let q = parse_quota(r#"Error creating: pods "a-x" is forbidden: exceeded quota: compute-quota, requested: limits.memory=2Gi,requests.cpu=500m, used: limits.memory=15Gi,requests.cpu=3800m, limited: limits.memory=16Gi,requests.cpu=4"#).unwrap();
        assert_eq!(q.name, "compute-quota");
        assert_eq!(
            q.items[1],
            (
                "requests.cpu".into(),
                "500m".into(),
                "3800m".into(),
                "4".into()
            )
        );
        let v = parse_limits(
            r#"pods "w-1" is forbidden: [maximum cpu usage per Container is 2, but limit is 4, maximum memory usage per Container is 1Gi, but limit is 2Gi]"#,
        );
        assert_eq!(v.len(), 2);
        assert_eq!(
            (
                v[1].resource.as_str(),
                v[1].allowed.as_str(),
                v[1].actual.as_str()
            ),
            ("memory", "1Gi", "2Gi")
        );
        let v = parse_limits("minimum memory usage per Container is 64Mi, but request is 32Mi");
        assert_eq!((v[0].bound, v[0].field.as_str()), ("min", "request"));
        assert_eq!(format_like(0.2, "500m", "requests.cpu"), "200m");
        assert_eq!(
            format_like(1024.0 * 1024.0 * 1024.0, "2Gi", "limits.memory"),
            "1Gi"
        );
    }
}
