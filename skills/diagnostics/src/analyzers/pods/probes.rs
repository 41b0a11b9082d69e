//! Probes: a probe aimed at a port no container port declares, and an HTTP
//! probe whose path the app answers 404, with the fixes that point them at
//! what the app serves.

use serde_json::Value;

use crate::analyzers::patterns::{self, Kind, Match};
use crate::finding::Fix;
use crate::fix;
use crate::model::{Container, ContainerStatus, resolve_port};
use crate::reasons as r;

use super::diagnosis::Diagnosis;
use super::events::EventIndex;

impl<'a> Diagnosis<'a, '_> {
    /// Probe ports that match no container port. Returns a root cause and
    /// fixes when the mismatch explains the failure.
    pub(super) fn probe_check(&mut self, log: &[Match]) -> Option<(String, Vec<Fix>)> {
        let reason = self.finding.reason.clone();
        let wl = self.workload.display();
        let mut result = None;
        let containers: Vec<&Container> = match (reason.as_str(), self.spec_container) {
            (r::PROBE_FAILING, _) => self.rep.spec.containers.iter().collect(),
            (_, Some(c)) => vec![c],
            _ => return None,
        };
        for c in containers {
            for (field, probe) in [
                ("readinessProbe", &c.readiness_probe),
                ("livenessProbe", &c.liveness_probe),
                ("startupProbe", &c.startup_probe),
            ] {
                let Some(probe) = probe else { continue };
                let (kind, port_ref) = match (&probe.http_get, &probe.tcp_socket, &probe.grpc) {
                    (Some(p), _, _) => ("httpGet", p),
                    (_, Some(p), _) => ("tcpSocket", p),
                    (_, _, Some(p)) => ("grpc", p),
                    _ => continue,
                };
                if c.ports.is_empty() {
                    continue;
                }
                let resolved = resolve_port(&port_ref.port, &c.ports);
                let declared =
                    resolved.is_some_and(|p| c.ports.iter().any(|cp| cp.container_port == p));
                if declared {
                    continue;
                }
                let port_text = match &port_ref.port {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let ports: Vec<String> = c
                    .ports
                    .iter()
                    .map(|p| match &p.name {
                        Some(n) => format!("{n}={}", p.container_port),
                        None => p.container_port.to_string(),
                    })
                    .collect();
                let listening = log
                    .iter()
                    .find(|m| m.kind == Kind::Listening)
                    .and_then(|m| m.port.map(|p| (p, patterns::quote(m, 120))));
                let mut text = format!(
                    "{field} of container `{}` targets port {port_text}, which no container port declares (ports: {})",
                    c.name,
                    ports.join(", ")
                );
                if let Some((p, _)) = &listening {
                    text.push_str(&format!("; the app's log says it listens on {p}"));
                }
                self.spec(format!("{wl} container {} {field}", c.name), text.clone());
                if result.is_some() {
                    continue;
                }
                // The port to use: the one the log names, else the only (or `http`) port.
                let choice = listening
                    .as_ref()
                    .and_then(|(p, _)| c.ports.iter().find(|cp| cp.container_port == i64::from(*p)))
                    .or_else(|| {
                        if c.ports.len() == 1 {
                            c.ports.first()
                        } else {
                            None
                        }
                    })
                    .or_else(|| c.ports.iter().find(|cp| cp.name.as_deref() == Some("http")));
                let mut fixes = Vec::new();
                if let Some(choice) = choice
                    && let Some(t) = self.template
                    && let Some((cpath, tc)) = t.container(&c.name)
                    && let Some(old) = tc[field][kind].get("port")
                {
                    let new: Value = match &choice.name {
                        Some(n) => Value::String(n.clone()),
                        None => Value::from(choice.container_port),
                    };
                    let path = format!("{cpath}/{field}/{kind}/port");
                    let ops = vec![
                        fix::test(&format!("{cpath}/name"), c.name.as_str()),
                        fix::test(&path, old.clone()),
                        fix::replace(&path, new.clone()),
                    ];
                    let shown = match &new {
                        Value::String(s) => format!("`{s}` ({})", choice.container_port),
                        v => v.to_string(),
                    };
                    if let Some(f) = self.template_fix(
                        ops,
                        format!(
                            "Point the {field} of container `{}` at the container port {shown}",
                            c.name
                        ),
                    ) {
                        fixes.push(f);
                    }
                }
                let mut root = format!(
                    "the {field} of container `{}` of {wl} targets port {port_text}, which no container port declares (ports: {})",
                    c.name,
                    ports.join(", ")
                );
                if let Some((p, line)) = &listening {
                    root.push_str(&format!(", while the app listens on {p} (`{line}`)"));
                }
                let explains = reason == r::PROBE_FAILING
                    || (field == "livenessProbe" && reason == r::CRASH_LOOP_BACK_OFF);
                if explains {
                    result = Some((root, fixes));
                }
            }
        }
        result
    }

    /// An HTTP probe whose path the app answers 404: the root cause, and a
    /// fix pointing it at a path that answers (another probe of the same
    /// container on the same port that passes, or a health path the app's
    /// log shows served with a 2xx).
    pub(super) fn probe_path(
        &mut self,
        events: &EventIndex,
        cs: Option<&ContainerStatus>,
        log_text: &str,
    ) {
        let wl = self.workload.display();
        let pod_events = events.of("Pod", &self.rep.metadata.name);
        let Some((field, event, code)) = pod_events.iter().rev().find_map(|e| {
            if e.reason.as_deref() != Some("Unhealthy") {
                return None;
            }
            let msg = e.message.as_deref()?;
            let field = if msg.starts_with("Liveness probe failed") {
                "livenessProbe"
            } else if msg.starts_with("Readiness probe failed") {
                "readinessProbe"
            } else if msg.starts_with("Startup probe failed") {
                "startupProbe"
            } else {
                return None;
            };
            let code: u16 = msg
                .split_once("statuscode: ")?
                .1
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()?;
            matches!(code, 404 | 410).then_some((field, msg, code))
        }) else {
            return;
        };
        let probe_of = |c: &'a Container, f: &str| match f {
            "livenessProbe" => c.liveness_probe.as_ref(),
            "readinessProbe" => c.readiness_probe.as_ref(),
            _ => c.startup_probe.as_ref(),
        };
        let has_http = |c: &&'a Container| probe_of(c, field).is_some_and(|p| p.http_get.is_some());
        let Some(c) = self
            .spec_container
            .filter(has_http)
            .or_else(|| self.rep.spec.containers.iter().find(has_http))
        else {
            return;
        };
        let Some(http) = probe_of(c, field).and_then(|p| p.http_get.as_ref()) else {
            return;
        };
        let old = http.path.clone().unwrap_or_else(|| "/".into());
        let port = resolve_port(&http.port, &c.ports);
        let status = cs.filter(|s| s.name == c.name).or_else(|| {
            self.rep
                .status
                .container_statuses
                .iter()
                .find(|s| s.name == c.name)
        });
        let liveness_fails = pod_events.iter().any(|e| {
            e.reason.as_deref() == Some("Unhealthy")
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("Liveness probe failed"))
        });
        // Another probe of the container, on the same port, that passes.
        let sibling = ["readinessProbe", "livenessProbe", "startupProbe"]
            .into_iter()
            .filter(|f| *f != field)
            .find_map(|f| {
                let h = probe_of(c, f)?.http_get.as_ref()?;
                let path = h.path.clone().unwrap_or_else(|| "/".into());
                let passes = match f {
                    "readinessProbe" => status.is_some_and(|s| s.ready),
                    "startupProbe" => status.is_some_and(|s| s.started == Some(true)),
                    _ => !liveness_fails,
                };
                (passes && path != old && resolve_port(&h.port, &c.ports) == port)
                    .then_some((f, path))
            });
        let served = patterns::served_health_path(log_text, &old);
        let new = sibling
            .map(|(f, p)| (format!("the {f}'s path `{p}` on the same port succeeds"), p))
            .or_else(|| {
                served.map(|(p, st)| {
                    (
                        format!("the app's log shows it serves `{p}` with status {st}"),
                        p,
                    )
                })
            });
        let what = if field == "livenessProbe" {
            ", so the kubelet keeps restarting it"
        } else if field == "startupProbe" {
            ", so the container never finishes starting"
        } else {
            ", so the pod is never Ready"
        };
        let mut root = format!(
            "the {field} of container `{}` of {wl} requests path `{old}`, which the app answers with {code} (`{}`){what}",
            c.name,
            patterns::clip(event, 160)
        );
        if let Some((why, _)) = &new {
            root.push_str(&format!("; {why}"));
        }
        self.root = Some(root);
        let Some((why, new)) = new else { return };
        let Some(t) = self.template else { return };
        let Some((cpath, tc)) = t.container(&c.name) else {
            return;
        };
        let path = format!("{cpath}/{field}/httpGet/path");
        let mut ops = vec![fix::test(&format!("{cpath}/name"), c.name.as_str())];
        if tc[field]["httpGet"]["path"].is_string() {
            ops.push(fix::test(&path, old.as_str()));
            ops.push(fix::replace(&path, new.as_str()));
        } else {
            ops.push(fix::add(&path, new.as_str()));
        }
        if let Some(f) = self.template_fix(
            ops,
            format!(
                "Point the {field} of container `{}` at `{new}` instead of `{old}` ({why})",
                c.name
            ),
        ) {
            self.fixes.push(f);
        }
    }
}
