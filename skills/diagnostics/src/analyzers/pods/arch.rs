//! `exec format error`: the container's binary is built for another CPU
//! architecture than the node's (`kubernetes.io/arch` of the Node). The
//! image's architecture is told by its tag (`-amd64`, `-arm64`) or by the
//! nodes where the same workload's pods run; the fix pins the pods to
//! nodes of that architecture with a nodeSelector, or asks for a
//! multi-arch tag.

use std::collections::BTreeSet;

use serde_json::json;

use crate::analyzers::template::split_image;
use crate::finding::{Evidence, Source};
use crate::fix;
use crate::model::Pod;
use crate::reasons as r;

use super::classify::is_ready;
use super::diagnosis::Diagnosis;

const ARCH: &str = "kubernetes.io/arch";

impl<'a> Diagnosis<'a, '_> {
    /// The binary cannot run on the node's architecture.
    pub(super) fn exec_format(&mut self) {
        if !matches!(
            self.reason,
            r::CRASH_LOOP_BACK_OFF
                | r::CONTAINER_FAILING
                | r::INIT_CONTAINER_FAILING
                | r::CREATE_CONTAINER_ERROR
        ) {
            return;
        }
        let Some(c) = self.spec_container else { return };
        let status_msg = self.status.and_then(|s| {
            s.last_state
                .terminated
                .as_ref()
                .or(s.state.terminated.as_ref())
                .or(s.state.waiting.as_ref())
                .and_then(|t| t.message.clone())
        });
        let Some(line) = self
            .log
            .text
            .lines()
            .find(|l| l.contains("exec format error"))
            .map(str::to_string)
            .or(status_msg.filter(|m| m.contains("exec format error")))
        else {
            return;
        };
        let nodes = self.scope.cluster.objects("nodes");
        let arch_of = |node: &str| -> Option<String> {
            nodes
                .iter()
                .find(|n| crate::ctx::name_of(n) == node)
                .and_then(|n| n["metadata"]["labels"][ARCH].as_str())
                .map(str::to_string)
        };
        let node = self.rep.spec.node_name.clone().unwrap_or_default();
        let Some(node_arch) = arch_of(&node) else {
            self.root = Some(format!(
                "container `{}` of {} cannot start its binary (`{}`): the image is built for another CPU architecture than node {node}'s",
                c.name,
                self.workload.display(),
                line.trim()
            ));
            return;
        };
        let image = c.image.clone().unwrap_or_default();
        // The image's architecture: its tag, else where this workload runs.
        let from_tag = arch_in_tag(&image).filter(|a| *a != node_arch);
        let running: BTreeSet<String> = self
            .scope
            .pods
            .iter()
            .filter(|p| is_ready(p) && self.scope.workload_of(p) == *self.workload)
            .filter(|p| runs_image(p, &c.name, &image))
            .filter_map(|p| arch_of(p.spec.node_name.as_deref()?))
            .filter(|a| *a != node_arch)
            .collect();
        let cluster_archs: BTreeSet<String> = nodes
            .iter()
            .filter_map(|n| n["metadata"]["labels"][ARCH].as_str())
            .map(str::to_string)
            .collect();
        let (image_arch, how) = match (&from_tag, running.iter().next()) {
            (Some(a), _) => (Some(a.clone()), format!("its tag says {a}")),
            (None, Some(a)) if running.len() == 1 => (
                Some(a.clone()),
                format!("the workload's pods with the same image run on its {a} nodes"),
            ),
            _ => (None, String::new()),
        };
        let wl = self.workload.display();
        let mut root = format!(
            "the binary of image `{image}` (container `{}` of {wl}) is not built for node {node}'s architecture {node_arch} (label {ARCH}={node_arch}): `{}`",
            c.name,
            line.trim()
        );
        match &image_arch {
            Some(a) => root.push_str(&format!("; the image is {a} ({how})")),
            None => root.push_str("; the image has no variant for it"),
        }
        self.finding.evidence.push(Evidence::new(
            Source::Status,
            format!("Node {node} label {ARCH}"),
            format!(
                "{node_arch}; the cluster's nodes are {}",
                cluster_archs.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
        self.root = Some(root);
        let Some(t) = self.template else { return };
        if let Some(a) = image_arch.filter(|a| cluster_archs.contains(a)) {
            let spec = t.spec();
            let prefix = t.prefix;
            let mut ops = Vec::new();
            if let Some((cpath, _)) = t.container(&c.name) {
                ops.push(fix::test(&format!("{cpath}/name"), c.name.as_str()));
                ops.push(fix::test(&format!("{cpath}/image"), image.as_str()));
            }
            match spec["nodeSelector"][ARCH].as_str() {
                Some(old) => {
                    let path = format!("{prefix}/nodeSelector/{}", fix::escape(ARCH));
                    ops.push(fix::test(&path, old));
                    ops.push(fix::replace(&path, a.as_str()));
                }
                None if spec["nodeSelector"].is_object() => ops.push(fix::add(
                    &format!("{prefix}/nodeSelector/{}", fix::escape(ARCH)),
                    a.as_str(),
                )),
                None => ops.push(fix::add(
                    &format!("{prefix}/nodeSelector"),
                    json!({ARCH: a}),
                )),
            }
            if let Some(f) = self.template_fix(
                ops,
                format!(
                    "Schedule the pods of {wl} only on {a} nodes (nodeSelector {ARCH}={a}), the architecture image `{image}` is built for"
                ),
            ) {
                self.fixes.push(f);
            }
        }
        let (repo, _) = split_image(&image);
        self.fixes.push(fix::needs_input(
            t.target.clone(),
            format!(
                "Or use a multi-arch tag of `{repo}` (a manifest list with linux/{node_arch}), so the pods run on every node"
            ),
            format!(
                "kubectl set image {}/{} -n {} {}={repo}:<multi-arch tag>",
                t.target.kind.to_ascii_lowercase(),
                t.target.name,
                self.scope.namespace,
                c.name
            ),
        ));
    }
}

/// Whether pod `p` runs `image` in container `name`.
fn runs_image(p: &Pod, name: &str, image: &str) -> bool {
    p.spec
        .containers
        .iter()
        .any(|c| c.name == name && c.image.as_deref() == Some(image))
}

/// `amd64` for `app:1.2-amd64`, `arm64` for `app:1.2-aarch64`.
fn arch_in_tag(image: &str) -> Option<String> {
    let (_, tag) = split_image(image);
    let tag = tag?.to_ascii_lowercase();
    let words: Vec<&str> = tag.split(['-', '_', '.']).collect();
    let table: [(&[&str], &str); 4] = [
        (&["amd64", "x86", "x64"], "amd64"),
        (&["arm64", "aarch64", "arm64v8"], "arm64"),
        (&["s390x"], "s390x"),
        (&["ppc64le"], "ppc64le"),
    ];
    for (names, arch) in table {
        if words.iter().any(|w| names.contains(w)) || tag.contains("x86_64") && arch == "amd64" {
            return Some(arch.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_from_tags() {
        assert_eq!(arch_in_tag("x/agent:2.1.0-amd64").as_deref(), Some("amd64"));
        assert_eq!(
            arch_in_tag("x/agent:2.1.0-aarch64").as_deref(),
            Some("arm64")
        );
        assert_eq!(arch_in_tag("x/agent:2.1.0"), None);
    }
}
