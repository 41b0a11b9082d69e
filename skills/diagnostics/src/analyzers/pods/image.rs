//! Images: the image the current revision runs against the previous one
//! (evidence), and why an image cannot be pulled or is not a valid
//! reference, with fixes (a valid spelling, the previous revision's image).

use crate::analyzers::patterns;
use crate::analyzers::refs::key_list;
use crate::analyzers::template::{self, split_image};
use crate::ctx::name_of;
use crate::finding::Fix;
use crate::fix;
use crate::model::Container;
use crate::reasons as r;

use super::diagnosis::Diagnosis;
use super::events::EventIndex;

impl<'a> Diagnosis<'a, '_> {
    /// The image the current revision runs vs the previous one.
    pub(super) fn revision_evidence(&mut self) {
        let (current, previous) = self.revisions();
        let (Some((cur, cur_rev)), Some(c)) = (current, self.container) else {
            return;
        };
        let cur_image = template::template_image(cur, c).unwrap_or("?");
        let text = match previous
            .and_then(|(p, rev)| Some((p, rev, template::template_image(p, c)?)))
        {
            Some((p, rev, img)) if img != cur_image => format!(
                "ReplicaSet {} (revision {cur_rev}) runs image {cur_image}; the previous revision {rev} (ReplicaSet {}) ran {img}",
                name_of(cur),
                name_of(p)
            ),
            Some((p, rev, _)) => format!(
                "ReplicaSet {} (revision {cur_rev}) runs the same image as revision {rev} (ReplicaSet {}): {cur_image}",
                name_of(cur),
                name_of(p)
            ),
            None => format!(
                "ReplicaSet {} (revision {cur_rev}) runs image {cur_image}; no earlier revision is kept",
                name_of(cur)
            ),
        };
        self.spec(format!("{} revisions", self.workload.display()), text);
    }

    /// Why the image of the failing container cannot be pulled (or is not
    /// a valid reference), and the fixes: its valid spelling, the image the
    /// previous revision ran, or a tag to choose.
    pub(super) fn image(&mut self, events: &EventIndex) {
        let Some(c) = self.spec_container else { return };
        let Some(image) = c.image.clone() else { return };
        let (repo, _) = split_image(&image);
        let invalid = self.finding.reason == r::INVALID_IMAGE_NAME;
        // The valid form of an invalid reference, when it is clear (an
        // upper-case repository, a URL scheme, stray spaces).
        let valid = if invalid {
            template::normalize_image(&image)
        } else {
            None
        };
        let mut root = if invalid {
            self.invalid_image(events, c, &image, valid.as_deref())
        } else {
            self.pull_failure(events, c, &image)
        };
        if !invalid && let Some(why) = self.pull_secret(events, c, &image) {
            root.push_str(&format!("; {why}"));
        }
        if let Some(v) = &valid
            && let Some(f) = self.set_image(
                c,
                &image,
                v,
                format!(
                    "Set the image of container `{}` to the valid reference `{v}` (a repository name must be lower-case, without a scheme or spaces)",
                    c.name
                ),
            )
        {
            self.fixes.push(f);
        }
        if let Some((img, rev, rs)) = self.previous_image(c, &image) {
            root.push_str(&format!(
                "; the previous revision {rev} (ReplicaSet {rs}) ran `{img}`"
            ));
            let description = if invalid {
                format!(
                    "Set the image of container `{}` back to `{img}`, which revision {rev} ran",
                    c.name
                )
            } else {
                format!(
                    "Set the image of container `{}` back to `{img}`, which revision {rev} ran, until `{image}` can be pulled",
                    c.name
                )
            };
            if let Some(f) = self.set_image(c, &image, &img, description) {
                self.fixes.push(f);
            }
        }
        if let Some(t) = self.template
            && !(invalid && valid.is_some())
        {
            let (what, value) = if invalid {
                ("a valid image reference", "<image>".to_string())
            } else {
                ("a tag that exists in the registry", format!("{repo}:<tag>"))
            };
            self.fixes.push(fix::needs_input(
                t.target.clone(),
                format!("Set the image of container `{}` to {what}", c.name),
                format!(
                    "kubectl set image {}/{} -n {} {}={value}",
                    t.target.kind.to_ascii_lowercase(),
                    t.target.name,
                    self.scope.namespace,
                    c.name
                ),
            ));
        }
        self.root = Some(root);
    }

    /// `image reference `…` of container `c` of … is not a valid image
    /// name (invalid reference format: …); its valid form is `…``.
    fn invalid_image(
        &self,
        events: &EventIndex,
        c: &Container,
        image: &str,
        valid: Option<&str>,
    ) -> String {
        // `… couldn't parse image name "…": invalid reference format: repository name (finance/Billing) must be lowercase`.
        let kubelet = events
            .of("Pod", &self.rep.metadata.name)
            .iter()
            .rev()
            .filter_map(|e| e.message.as_deref())
            .find_map(|m| m.find("invalid reference format").map(|i| &m[i..]));
        let mut why = format!(
            "image reference `{image}` of container `{}` of {} is not a valid image name",
            c.name,
            self.workload.display()
        );
        if let Some(k) = kubelet {
            why.push_str(&format!(" ({})", patterns::clip(k, 200)));
        }
        if let Some(v) = valid {
            why.push_str(&format!("; its valid form is `{v}`"));
        }
        why
    }

    /// Why the pull fails, from the kubelet's last `Failed` pull event: the
    /// tag does not exist, the registry refuses the credentials, or cannot
    /// be reached.
    fn pull_failure(&self, events: &EventIndex, c: &Container, image: &str) -> String {
        let wl = self.workload.display();
        let (repo, tag) = split_image(image);
        let failed = events
            .of("Pod", &self.rep.metadata.name)
            .iter()
            .rev()
            .find(|e| {
                e.reason.as_deref() == Some("Failed")
                    && e.message.as_deref().is_some_and(|m| m.contains("pull"))
            })
            .and_then(|e| e.message.clone())
            .unwrap_or_default();
        let lower = failed.to_ascii_lowercase();
        if lower.contains("not found")
            || lower.contains("manifest unknown")
            || lower.contains("notfound")
        {
            match tag {
                Some(t) => format!(
                    "tag `{t}` of image `{repo}` (container `{}` of {wl}) does not exist in the registry",
                    c.name
                ),
                None => format!(
                    "image `{image}` (container `{}` of {wl}) does not exist in the registry",
                    c.name
                ),
            }
        } else if lower.contains("unauthorized")
            || lower.contains("authentication required")
            || lower.contains("denied")
            || lower.contains("403")
        {
            let secrets: Vec<String> = self
                .rep
                .spec
                .image_pull_secrets
                .iter()
                .map(|s| s.name.clone())
                .collect();
            format!(
                "the registry refuses to serve image `{image}` (container `{}` of {wl}) with the pull credentials given (imagePullSecrets: {})",
                c.name,
                key_list(&secrets)
            )
        } else if lower.contains("no such host")
            || lower.contains("i/o timeout")
            || lower.contains("connection refused")
        {
            format!(
                "the registry of image `{image}` (container `{}` of {wl}) is unreachable from the node",
                c.name
            )
        } else {
            format!(
                "image `{image}` of container `{}` of {wl} cannot be pulled",
                c.name
            )
        }
    }

    /// The image container `c` ran in the previous revision of a
    /// Deployment, when it differs from `image`: (image, revision,
    /// ReplicaSet).
    fn previous_image(&self, c: &Container, image: &str) -> Option<(String, i64, String)> {
        if self.workload.kind != "Deployment" {
            return None;
        }
        let (_, previous) = self.revisions();
        let (p, rev) = previous?;
        let img = template::template_image(p, &c.name)?;
        (img != image).then(|| (img.to_string(), rev, name_of(p).to_string()))
    }

    /// A fix that sets the image of container `c` from `from` to `to`.
    fn set_image(&self, c: &Container, from: &str, to: &str, description: String) -> Option<Fix> {
        let (cpath, _) = self.template?.container(&c.name)?;
        let ops = vec![
            fix::test(&format!("{cpath}/name"), c.name.as_str()),
            fix::test(&format!("{cpath}/image"), from),
            fix::replace(&format!("{cpath}/image"), to),
        ];
        self.template_fix(ops, description)
    }
}
