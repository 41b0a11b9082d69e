//! The Cascade analyzer: runs after the others on a namespace and links
//! their findings. A workload that fails to reach a Service (connection
//! refused, a timeout, a name that does not resolve) whose backends are
//! themselves failing is a symptom: its finding names the upstream one in
//! `caused_by` and its root cause says so, and the upstream finding lists
//! it in `symptoms` and its evidence. A name that no Service of the
//! namespace answers to, while a Service with a similar name exists, is a
//! configuration error: the env var or ConfigMap key that holds the host
//! is named and a fix replaces it.
//!
//! It reads no pod log itself: the network errors are those the other
//! analyzers quoted in their findings' evidence.

use guardian_skill_sdk::kube;
use serde_json::Value;

use crate::ctx::{Scope, name_of};
use crate::finding::{Evidence, Finding, Fix, ObjRef, Source};
use crate::fix;
use crate::reasons as r;

use super::patterns::{self, Kind, Match};
use super::template::template_of;

/// Findings whose failure may be a downstream symptom.
const DOWNSTREAM: &[&str] = &[
    r::CRASH_LOOP_BACK_OFF,
    r::CONTAINER_FAILING,
    r::INIT_CONTAINER_FAILING,
    r::PROBE_FAILING,
    r::LOG_ERRORS,
];

/// One link to make: `down` is a symptom of `up`.
struct Link {
    down: usize,
    up: usize,
    service: String,
    m: Match,
}

// The signature every namespaced analyzer has (`Run::Namespaced`).
#[allow(clippy::ptr_arg)]
pub fn analyze(scope: &Scope, out: &mut Vec<Finding>) {
    let ns = scope.namespace.as_str();
    let here: Vec<usize> = (0..out.len())
        .filter(|&i| out[i].object.namespace.as_deref() == Some(ns))
        .collect();
    let mut links: Vec<Link> = Vec::new();
    let mut hosts: Vec<(usize, Match, String)> = Vec::new();
    for &i in &here {
        if !DOWNSTREAM.contains(&out[i].reason.as_str()) || !out[i].caused_by.is_empty() {
            continue;
        }
        for m in network_errors(&out[i]) {
            let Some(host) = m.host.as_deref() else {
                continue;
            };
            match service_for(scope, host) {
                Some(svc) => {
                    if let Some(up) = upstream(scope, out, &here, svc, i) {
                        links.push(Link {
                            down: i,
                            up,
                            service: svc.to_string(),
                            m: m.clone(),
                        });
                        break;
                    }
                }
                None if m.kind == Kind::DnsFailure && out[i].fixes.is_empty() => {
                    if let Some(svc) = similar_service(scope, host) {
                        hosts.push((i, m.clone(), svc.to_string()));
                        break;
                    }
                }
                None => {}
            }
        }
    }
    for link in links {
        apply_link(ns, out, link);
    }
    for (i, m, svc) in hosts {
        wrong_host(scope, &mut out[i], &m, &svc);
    }
}

/// The network errors a finding's log evidence quotes, with their host.
fn network_errors(f: &Finding) -> Vec<Match> {
    f.evidence
        .iter()
        .filter(|e| e.source == Source::Log)
        .filter_map(|e| {
            let mut m = patterns::scan_line(&e.text, 0)?;
            if m.host.is_none()
                && let Some((host, port)) = refused_endpoint(&e.text)
            {
                // `PSQLException: Connection to pg:5432 refused.`
                m.kind = Kind::ConnectionRefused;
                m.host = Some(host);
                m.port = port;
            }
            Some(m)
        })
        .filter(|m| {
            matches!(
                m.kind,
                Kind::ConnectionRefused | Kind::Timeout | Kind::DnsFailure
            ) && m.host.is_some()
        })
        .collect()
}

/// The endpoint of a refused connection the pattern library did not place:
/// `Connection to HOST:PORT refused` (JDBC), `HTTPConnectionPool(host='H',
/// port=P) … Connection refused` (Python's urllib3).
fn refused_endpoint(text: &str) -> Option<(String, Option<u16>)> {
    if let Some(at) = text.find("host='")
        && text.to_ascii_lowercase().contains("connection refused")
    {
        let host: String = text[at + 6..].chars().take_while(|c| *c != '\'').collect();
        let port = text[at..].find("port=").and_then(|p| {
            let digits: String = text[at + p + 5..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        });
        return (!host.is_empty()).then_some((host, port));
    }
    let at = text.find("Connection to ")? + "Connection to ".len();
    let rest = &text[at..];
    let word = rest.split_whitespace().next()?;
    if !rest[word.len()..].trim_start().starts_with("refused") {
        return None;
    }
    let (host, port) = match word.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()),
        None => (word, None),
    };
    (!host.is_empty()).then(|| (host.to_string(), port))
}

/// The Service of this namespace a host names: its ClusterIP, `svc`,
/// `svc.ns`, `svc.ns.svc…`.
fn service_for<'s>(scope: &'s Scope, host: &str) -> Option<&'s str> {
    let ns = scope.namespace.as_str();
    scope.objects("services").iter().find_map(|s| {
        let name = name_of(s);
        let ip = s["spec"]["clusterIP"].as_str().unwrap_or("");
        let by_ip = !ip.is_empty() && ip != "None" && ip == host;
        let by_name = host == name
            || host == format!("{name}.{ns}")
            || host.starts_with(&format!("{name}.{ns}.svc"));
        (by_ip || by_name).then_some(name)
    })
}

/// The failing finding of this namespace about the backends of Service
/// `svc` (a workload whose pods the Service selects), else the Service's
/// own finding when it has no endpoints.
fn upstream(
    scope: &Scope,
    out: &[Finding],
    here: &[usize],
    svc: &str,
    down: usize,
) -> Option<usize> {
    let service = scope.find("services", svc)?;
    let selector = service["spec"]["selector"].as_object();
    let backends: Vec<&str> = match selector {
        Some(sel) if !sel.is_empty() => scope
            .pods
            .iter()
            .filter(|p| {
                sel.iter()
                    .all(|(k, v)| p.metadata.labels.get(k).map(String::as_str) == v.as_str())
            })
            .map(|p| p.metadata.name.as_str())
            .collect(),
        _ => Vec::new(),
    };
    let not_this = |j: &usize| *j != down && !out[*j].caused_by.contains(&out[down].id);
    here.iter()
        .copied()
        .filter(not_this)
        .find(|&j| {
            out[j].reason != r::LOG_ERRORS
                && out[j].severity >= crate::finding::Severity::Error
                && out[j].pods.iter().any(|p| backends.contains(&p.as_str()))
        })
        .or_else(|| {
            here.iter().copied().filter(not_this).find(|&j| {
                out[j].object.kind == "Service"
                    && out[j].object.name == svc
                    && out[j].reason == r::SERVICE_NO_ENDPOINTS
            })
        })
}

fn endpoint_text(m: &Match) -> String {
    let host = m.host.as_deref().unwrap_or("");
    match m.port {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

fn apply_link(ns: &str, out: &mut [Finding], link: Link) {
    let Link {
        down,
        up,
        service,
        m,
    } = link;
    let (up_id, up_obj, up_reason, up_why) = {
        let u = &out[up];
        (
            u.id.clone(),
            u.object.display(),
            u.reason.clone(),
            u.root_cause.clone().unwrap_or_else(|| u.cause.clone()),
        )
    };
    let endpoint = endpoint_text(&m);
    let label = m.kind.label();
    let d = &mut out[down];
    let down_obj = d.object.display();
    let down_id = d.id.clone();
    d.caused_by.push(up_id);
    d.evidence.push(Evidence::new(
        Source::Status,
        format!("Service {ns}/{service}"),
        format!(
            "{endpoint} is Service {ns}/{service}, whose backends fail: {up_obj} ({up_reason})"
        ),
    ));
    d.root_cause = Some(format!(
        "{down_obj} cannot reach Service {ns}/{service} ({endpoint}: {label}) because its backends fail: {up_obj} is in {up_reason}: {up_why}"
    ));
    let u = &mut out[up];
    u.symptoms.push(down_id);
    u.evidence.push(Evidence::new(
        Source::Status,
        format!("symptom {down_obj}"),
        format!(
            "{down_obj} fails because it cannot reach Service {ns}/{service} ({endpoint}: {label}): `{}`",
            patterns::quote(&m, 160)
        ),
    ));
}

/// The one Service whose name is close to the host's first label (`rabbit-mq`
/// → `rabbitmq`, `memcached-0` → `memcached`), when the host names this
/// namespace or none.
fn similar_service<'s>(scope: &'s Scope, host: &str) -> Option<&'s str> {
    let mut labels = host.split('.');
    let first = labels.next()?;
    if let Some(second) = labels.next()
        && second != scope.namespace
    {
        return None;
    }
    let mut found = scope
        .objects("services")
        .iter()
        .map(name_of)
        .filter(|name| similar(first, name));
    let one = found.next()?;
    found.next().is_none().then_some(one)
}

fn similar(a: &str, b: &str) -> bool {
    if a == b || a.is_empty() || b.is_empty() {
        return false;
    }
    let squash = |s: &str| -> String { s.chars().filter(|c| c.is_ascii_alphanumeric()).collect() };
    squash(a) == squash(b)
        || a.strip_prefix(b).is_some_and(|rest| rest.starts_with('-'))
        || b.strip_prefix(a).is_some_and(|rest| rest.starts_with('-'))
        || (a.len().min(b.len()) >= 5 && distance(a, b) <= 2)
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(prev + usize::from(ca != *cb));
            prev = cur;
        }
    }
    row[b.len()]
}

/// `text` with every occurrence of host label `bad` (not part of a longer
/// name) replaced by `good`; `None` when there is none.
fn replace_label(text: &str, bad: &str, good: &str) -> Option<String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = String::new();
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find(bad) {
        let before = rest[..at].chars().last();
        let after = rest[at + bad.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_none_or(|c| !is_name(c)) && after.is_none_or(|c| !is_name(c)) {
            out.push_str(good);
            changed = true;
        } else {
            out.push_str(bad);
        }
        rest = &rest[at + bad.len()..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// The host the workload resolves is not served here, a Service with a
/// similar name is: find where the configuration holds it and fix it there.
fn wrong_host(scope: &Scope, f: &mut Finding, m: &Match, svc: &str) {
    let ns = scope.namespace.as_str();
    let host = m.host.as_deref().unwrap_or("");
    let bad = host.split('.').next().unwrap_or(host);
    let Some(template) = template_of(scope, &f.object) else {
        return;
    };
    let wl = f.object.display();
    let mut place: Option<String> = None;
    let mut fixes: Vec<Fix> = Vec::new();
    let containers = template.spec()["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for c in &containers {
        let cname = c["name"].as_str().unwrap_or("");
        let Some((cpath, _)) = template.container(cname) else {
            continue;
        };
        for (k, e) in c["env"].as_array().into_iter().flatten().enumerate() {
            let var = e["name"].as_str().unwrap_or("");
            if let Some(value) = e["value"].as_str()
                && let Some(new) = replace_label(value, bad, svc)
            {
                place.get_or_insert_with(|| {
                    format!("env var {var} of container `{cname}` (`{value}`)")
                });
                let ops = vec![
                    fix::test(&format!("{cpath}/name"), cname),
                    fix::test(&format!("{cpath}/env/{k}/value"), value),
                    fix::replace(&format!("{cpath}/env/{k}/value"), new.as_str()),
                ];
                let mut fx = fix::patch(
                    template.target.clone(),
                    template.object,
                    ops,
                    format!(
                        "set {var} of container `{cname}` to `{new}`: Service {ns}/{svc} is the host it means"
                    ),
                );
                if let Some(why) = template.immutable {
                    super::refs::skip_dry_run(&mut fx, why);
                }
                fixes.push(fx);
            }
            let cm_ref = &e["valueFrom"]["configMapKeyRef"];
            if let (Some(cm), Some(key)) = (cm_ref["name"].as_str(), cm_ref["key"].as_str())
                && let Some(object) = config_map(scope, cm)
                && let Some(value) = object["data"][key].as_str()
                && let Some(new) = replace_label(value, bad, svc)
            {
                place.get_or_insert_with(|| {
                    format!("ConfigMap `{cm}` key `{key}` (env var {var} of container `{cname}`: `{value}`)")
                });
                let target = ObjRef::new("v1", "ConfigMap", Some(ns), cm);
                let path = format!("/data/{}", fix::escape(key));
                let ops = vec![fix::test(&path, value), fix::replace(&path, new.as_str())];
                fixes.push(fix::patch(
                    target,
                    &object,
                    ops,
                    format!("set key `{key}` of ConfigMap `{cm}` to `{new}` (then restart {wl}): Service {ns}/{svc} is the host it means"),
                ));
            }
        }
    }
    let Some(place) = place else {
        return;
    };
    f.evidence.push(Evidence::new(
        Source::Config,
        format!("Service {ns}/{svc}"),
        format!("no Service `{bad}` in namespace {ns}; Service `{svc}` is the similar name"),
    ));
    f.root_cause = Some(format!(
        "{wl} resolves `{host}`, a name namespace {ns} does not serve: {place} names `{bad}`, while the namespace serves Service {ns}/{svc} — a configuration error, not a DNS outage"
    ));
    f.fixes = fixes;
}

/// ConfigMap `name` with its values (lists carry only keys and sizes).
fn config_map(scope: &Scope, name: &str) -> Option<Value> {
    scope.find("configmaps", name)?;
    kube::get::<Value>("configmaps", Some(&scope.namespace), name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_names() {
        assert!(similar("rabbit-mq", "rabbitmq"));
        assert!(similar("memcached-0", "memcached"));
        assert!(similar("postgress", "postgres"));
        assert!(!similar("redis", "redis"));
        assert!(!similar("api", "web"));
        assert!(!similar("cart", "card"));
    }

    #[test]
    fn jdbc_refusals_name_their_endpoint() {
        assert_eq!(
            refused_endpoint(
                "exception: org.postgresql.util.PSQLException: Connection to pg:5432 refused. Check that the hostname and port are correct"
            ),
            Some(("pg".to_string(), Some(5432)))
        );
        assert_eq!(refused_endpoint("Connection to pg:5432 established"), None);
        assert_eq!(
            refused_endpoint(
                "HTTPConnectionPool(host='inventory.shop.svc.cluster.local', port=80): Max retries exceeded with url: /v1/stock (Caused by NewConnectionError('<x>: Failed to establish a new connection: [Errno 111] Connection refused'))"
            ),
            Some(("inventory.shop.svc.cluster.local".to_string(), Some(80)))
        );
    }

    #[test]
    fn labels_are_replaced_whole() {
        assert_eq!(
            replace_label(
                "amqp://pick@rabbit-mq.fulfilment.svc:5672/x",
                "rabbit-mq",
                "rabbitmq"
            )
            .as_deref(),
            Some("amqp://pick@rabbitmq.fulfilment.svc:5672/x")
        );
        assert_eq!(
            replace_label("memcached-0", "memcached-0", "memcached").as_deref(),
            Some("memcached")
        );
        assert_eq!(
            replace_label("my-memcached-0x", "memcached-0", "memcached"),
            None
        );
    }
}
