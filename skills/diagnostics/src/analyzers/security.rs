//! Security posture, one finding per workload (not per pod): privileged
//! containers and host namespaces (warnings), containers that run or may run
//! as root and pods on the `default` ServiceAccount with its token mounted
//! (info). Nothing here is an error: a healthy cluster stays free of them.

use std::collections::BTreeMap;

use serde_json::Value;

use super::selectors::{is_live, list_names};
use crate::ctx::Scope;
use crate::finding::{Finding, ObjRef, Severity, Source};
use crate::fix;
use crate::model::{Container, Pod};
use crate::reasons;

/// What the pods of one workload do.
#[derive(Default)]
struct Posture {
    privileged: Vec<String>,
    host: Vec<&'static str>,
    root: Vec<String>,
    maybe_root: Vec<String>,
    default_sa: bool,
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

fn posture(pod: &Pod, sa_automount_off: bool, p: &mut Posture) {
    let pod_sc = pod.spec.security_context.as_ref().unwrap_or(&Value::Null);
    let containers = pod
        .spec
        .init_containers
        .iter()
        .chain(&pod.spec.containers)
        .collect::<Vec<&Container>>();
    for c in containers {
        let sc = c.security_context.as_ref().unwrap_or(&Value::Null);
        if sc["privileged"].as_bool() == Some(true) {
            push_unique(&mut p.privileged, c.name.clone());
        }
        let user = sc["runAsUser"].as_i64().or(pod_sc["runAsUser"].as_i64());
        let non_root = sc["runAsNonRoot"]
            .as_bool()
            .or(pod_sc["runAsNonRoot"].as_bool());
        if user == Some(0) {
            push_unique(&mut p.root, c.name.clone());
        } else if user.is_none() && non_root != Some(true) {
            push_unique(&mut p.maybe_root, c.name.clone());
        }
    }
    if pod.spec.host_network {
        push_unique(&mut p.host, "hostNetwork");
    }
    if pod.spec.host_pid {
        push_unique(&mut p.host, "hostPID");
    }
    if pod.spec.host_ipc {
        push_unique(&mut p.host, "hostIPC");
    }
    let sa = pod
        .spec
        .service_account_name
        .as_deref()
        .unwrap_or("default");
    if sa == "default"
        && pod.spec.automount_service_account_token != Some(false)
        && !sa_automount_off
    {
        p.default_sa = true;
    }
}

pub fn analyze(scope: &Scope, out: &mut Vec<Finding>) {
    let ns = scope.namespace.as_str();
    if scope.pods.is_empty() {
        return;
    }
    let sa_automount_off = scope
        .find("serviceaccounts", "default")
        .is_some_and(|sa| sa["automountServiceAccountToken"].as_bool() == Some(false));
    // Pods by controller first (cheap), then one workload lookup per
    // controller.
    let mut by_owner: BTreeMap<(String, String), Vec<&Pod>> = BTreeMap::new();
    // Pods being deleted go with their (often already deleted) ReplicaSet.
    for pod in scope.pods.iter().filter(|p| is_live(p)) {
        let key = match pod.metadata.controller() {
            Some(o) => (o.kind.clone(), o.name.clone()),
            None => ("Pod".to_string(), pod.metadata.name.clone()),
        };
        by_owner.entry(key).or_default().push(pod);
    }
    let mut by_workload: BTreeMap<ObjRef, Vec<&Pod>> = BTreeMap::new();
    for pods in by_owner.into_values() {
        let workload = scope.workload_of(pods[0]);
        by_workload.entry(workload).or_default().extend(pods);
    }
    // Posture that concerns most workloads of a namespace is one finding per
    // namespace, not one per workload: a cluster of a thousand Deployments
    // must not drown its real problems in a thousand info lines.
    let (mut root, mut maybe_root, mut default_sa) = (Vec::new(), Vec::new(), Vec::new());
    for (workload, pods) in by_workload {
        let mut p = Posture::default();
        for pod in &pods {
            posture(pod, sa_automount_off, &mut p);
        }
        let names: Vec<String> = pods.iter().map(|p| p.metadata.name.clone()).collect();
        let w = workload.display();
        let sample = &pods[0].metadata.name;
        let mut push = |f: Finding| {
            let mut f = f;
            f.pods = names.clone();
            out.push(f);
        };

        if !p.privileged.is_empty() {
            push(
                Finding::new(
                    workload.clone(),
                    Severity::Warning,
                    reasons::PRIVILEGED_CONTAINER,
                    format!("{w} runs privileged container(s): {}", p.privileged.join(", ")),
                )
                .root_cause(format!(
                    "Container(s) {} of {w} set securityContext.privileged: true, which gives them every capability and \
                     the host's devices: a compromise of the container is a compromise of the node. Only node agents \
                     (CNI, CSI, monitoring) should need it.",
                    p.privileged.join(", ")
                ))
                .evidence(
                    Source::Spec,
                    format!("Pod {ns}/{sample} containers securityContext"),
                    format!("privileged: true in {}", p.privileged.join(", ")),
                ),
            );
        }
        if !p.host.is_empty() {
            let hosts = p.host.join(", ");
            push(
                Finding::new(
                    workload.clone(),
                    Severity::Warning,
                    reasons::HOST_NAMESPACE,
                    format!("{w} shares the node's namespaces: {hosts}"),
                )
                .root_cause(format!(
                    "The pods of {w} set {hosts}: they see the node's {} and bypass NetworkPolicies on the pod network; \
                     expected for node agents (exporters, CNI), a risk for anything else.",
                    p.host
                        .iter()
                        .map(|h| match *h {
                            "hostNetwork" => "network interfaces and ports",
                            "hostPID" => "processes",
                            _ => "IPC",
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .evidence(Source::Spec, format!("Pod {ns}/{sample} spec"), format!("{hosts}: true")),
            );
        }
        if !p.root.is_empty() {
            root.push(format!("{w} ({})", p.root.join(", ")));
        } else if !p.maybe_root.is_empty() {
            maybe_root.push(format!("{w} ({})", p.maybe_root.join(", ")));
        }
        if p.default_sa {
            default_sa.push(w.clone());
        }
    }
    namespace_posture(
        scope,
        sa_automount_off,
        &root,
        &maybe_root,
        &default_sa,
        out,
    );
}

/// The namespace-wide posture findings: root users and the `default`
/// ServiceAccount's token.
fn namespace_posture(
    scope: &Scope,
    sa_automount_off: bool,
    root: &[String],
    maybe_root: &[String],
    default_sa: &[String],
    out: &mut Vec<Finding>,
) {
    let ns = scope.namespace.as_str();
    let namespace = ObjRef::new("v1", "Namespace", None, ns);
    if !root.is_empty() || !maybe_root.is_empty() {
        let mut f = Finding::new(
            namespace.clone(),
            Severity::Info,
            reasons::RUNS_AS_ROOT,
            format!(
                "{} workload(s) in namespace {ns} run as root or may: {}",
                root.len() + maybe_root.len(),
                list_names(&[root, maybe_root].concat(), 5)
            ),
        )
        .root_cause(format!(
            "{}{}a process escaping such a container is root on the node.",
            if root.is_empty() {
                String::new()
            } else {
                format!("securityContext.runAsUser is 0 in {}; ", list_names(root, 5))
            },
            if maybe_root.is_empty() {
                String::new()
            } else {
                format!(
                    "neither runAsUser nor runAsNonRoot: true is set in {}, so they run as the image's user, root \
                     by default; ",
                    list_names(maybe_root, 5)
                )
            }
        ));
        for w in root.iter().chain(maybe_root).take(10) {
            f = f.evidence(Source::Spec, w.clone(), "securityContext: no non-root user");
        }
        f = f.fix(fix::needs_input(
            namespace.clone(),
            "Run each as a non-root user: set runAsNonRoot and runAsUser in the pod template (the UID the image is \
             built for; a container that needs root then fails to start, which says so).",
            format!(
                "kubectl patch deployment <name> -n {ns} --type=json -p '[{{\"op\":\"add\",\"path\":\"/spec/template/spec/securityContext/runAsNonRoot\",\"value\":true}},{{\"op\":\"add\",\"path\":\"/spec/template/spec/securityContext/runAsUser\",\"value\":<uid>}}]'"
            ),
        ));
        out.push(f);
    }
    if !default_sa.is_empty() && !sa_automount_off {
        let account = ObjRef::new("v1", "ServiceAccount", Some(ns), "default");
        let mut f = Finding::new(
            namespace,
            Severity::Info,
            reasons::DEFAULT_SERVICE_ACCOUNT,
            format!(
                "{} workload(s) in namespace {ns} run as ServiceAccount `default` with its API token mounted: {}",
                default_sa.len(),
                list_names(default_sa, 5)
            ),
        )
        .root_cause(format!(
            "The pods of {} use the namespace's `default` ServiceAccount and automount its token: every RoleBinding \
             granted to `default` is granted to them, and a compromised pod holds a live API token.",
            list_names(default_sa, 5)
        ))
        .evidence(
            Source::Spec,
            format!("ServiceAccount {ns}/default"),
            "automountServiceAccountToken: not false",
        );
        let description = "Stop mounting the `default` ServiceAccount's token (pods pick it up when they restart); \
                           give workloads that call the Kubernetes API their own ServiceAccount.";
        f = match scope.find("serviceaccounts", "default") {
            Some(object) => {
                let key = "/automountServiceAccountToken";
                let ops = match object.pointer(key) {
                    Some(old) => vec![fix::test(key, old.clone()), fix::replace(key, false)],
                    // Pinned to the object, so a proposal of it says what it changes.
                    None => vec![fix::test("/metadata/name", "default"), fix::add(key, false)],
                };
                f.fix(fix::patch(account, object, ops, description))
            }
            None => f.fix(fix::needs_input(
                account,
                description,
                format!(
                    "kubectl patch serviceaccount default -n {ns} -p '{{\"automountServiceAccountToken\":false}}'"
                ),
            )),
        };
        out.push(f);
    }
}
