//! The second kind of action: a change to manifests in Git, for an object a
//! GitOps tool (Argo CD, Flux) manages, where a patch of the cluster would
//! be reverted or drift from Git.
//!
//! A Git change is stored like a cluster patch — one state machine, one
//! store, the same MACs — with its payload in the action's bound bytes:
//! `{"git": GitChange}`, the repository, the base branch and commit, and
//! each file's exact content before and after. Applying it (after a human
//! approval) pushes a new branch `guardian/<action-id>` whose parent is the
//! base commit and opens a pull request; the action is then `submitted`
//! until the pull request is merged (then synced and verified: `applied`)
//! or closed (`failed`). Nothing is ever pushed to the base branch.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an action does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// An RFC 6902 JSON Patch of one object, applied through the broker.
    ClusterPatch,
    /// A change to files in a Git repository, made as a branch and a pull
    /// request.
    GitChange,
}

impl ActionKind {
    /// `cluster-patch`, `git-change`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::ClusterPatch => "cluster-patch",
            ActionKind::GitChange => "git-change",
        }
    }

    /// The kind of an action whose bound payload is `payload`: a JSON array
    /// is a patch, an object with `git` a Git change.
    pub(crate) fn of(payload: &[u8]) -> ActionKind {
        match payload.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => ActionKind::GitChange,
            _ => ActionKind::ClusterPatch,
        }
    }
}

/// One file a Git change writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitFile {
    /// Repository-relative path (`apps/shop/deployment.yaml`).
    pub path: String,
    /// The file's content at the base commit (empty for a new file).
    pub before: String,
    /// The content the change writes.
    pub after: String,
}

/// Where the change goes after it lands in Git: the Argo CD Application
/// to sync (when it does not sync automatically) and verify, or the Flux
/// Kustomization or HelmRelease to verify.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitOpsApp {
    /// `argocd` or `flux`.
    pub tool: String,
    /// Flux's applier kind: `Kustomization` or `HelmRelease` (absent for
    /// Argo CD, and in actions stored before Flux: a Kustomization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub namespace: String,
    pub name: String,
    /// The Application syncs by itself once the change is merged.
    pub automated: bool,
}

/// A Git change, exactly as it will be committed (the action's bound
/// payload).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitChange {
    /// The repository, as the GitOps tool names it (no credentials).
    pub repo_url: String,
    /// The branch the pull request targets (the Application's
    /// `targetRevision`).
    pub base_branch: String,
    /// The commit the files were read at: the new branch's parent.
    pub base_commit: String,
    pub files: Vec<GitFile>,
    /// The commit message (and the pull request's title is its first line).
    pub message: String,
    /// The pull request's body: the root cause, the evidence, the diff,
    /// the dry-run result.
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<GitOpsApp>,
}

impl GitChange {
    /// The branch the change is pushed on: `guardian/<action-id>`.
    pub fn branch(action_id: &str) -> String {
        format!("guardian/{action_id}")
    }

    /// The payload bytes an action binds: `{"git": …}`.
    pub fn to_payload(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "git": self }))
            .expect("a GitChange always serializes")
    }

    /// The file diff, `git diff` style (a/ b/ paths, 3 lines of context),
    /// computed from the exact contents the commit will hold.
    pub fn diff(&self) -> String {
        let mut out = String::new();
        for f in &self.files {
            let (a, b) = if f.before.is_empty() {
                ("/dev/null".to_owned(), format!("b/{}", f.path))
            } else {
                (format!("a/{}", f.path), format!("b/{}", f.path))
            };
            out.push_str(&format!("diff --git a/{p} b/{p}\n", p = f.path));
            out.push_str(
                &similar::TextDiff::from_lines(&f.before, &f.after)
                    .unified_diff()
                    .context_radius(3)
                    .header(&a, &b)
                    .to_string(),
            );
        }
        out
    }

    /// The change in a payload, checked.
    pub(crate) fn from_payload(payload: &Value) -> Result<GitChange, String> {
        let git = payload
            .get("git")
            .ok_or("a Git change's payload has no `git` object")?;
        let change: GitChange = serde_json::from_value(git.clone())
            .map_err(|e| format!("the Git change is malformed: {e}"))?;
        change.check()?;
        Ok(change)
    }

    fn check(&self) -> Result<(), String> {
        if self.repo_url.trim().is_empty() {
            return Err("the Git change names no repository".into());
        }
        if self.repo_url.contains('@') && self.repo_url.contains("://") {
            let after_scheme = self.repo_url.split("://").nth(1).unwrap_or_default();
            let host_part = after_scheme.split('/').next().unwrap_or_default();
            if host_part.contains('@') {
                return Err(
                    "the repository URL carries credentials; name the repository without them (credentials come from the gitops configuration)"
                        .into(),
                );
            }
        }
        if self.base_branch.trim().is_empty() {
            return Err("the Git change names no base branch".into());
        }
        if self.base_commit.len() < 40 || !self.base_commit.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "the base commit {:?} is not a full commit id",
                self.base_commit
            ));
        }
        if self.files.is_empty() {
            return Err("the Git change changes no file".into());
        }
        for f in &self.files {
            let p = &f.path;
            if p.is_empty()
                || p.starts_with('/')
                || p.split('/').any(|c| c == ".." || c == "." || c.is_empty())
                || p.starts_with(".git/")
                || p.contains('\\')
            {
                return Err(format!(
                    "the file path {p:?} is not a plain repository-relative path"
                ));
            }
            if f.before == f.after {
                return Err(format!("the change leaves {p} as it is"));
            }
        }
        if self.message.trim().is_empty() {
            return Err("the Git change has no commit message".into());
        }
        Ok(())
    }
}

/// What applying a Git change did, recorded as it happens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitProgress {
    /// `guardian/<action-id>`, once pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The commit pushed on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request_url: Option<String>,
    /// The merge commit on the base branch, once merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_commit: Option<String>,
    /// The Argo CD sync action proposed after the merge (when the
    /// Application does not sync automatically).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_action: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change() -> GitChange {
        GitChange {
            repo_url: "https://git.example.com/shop/deploy.git".into(),
            base_branch: "main".into(),
            base_commit: "a".repeat(40),
            files: vec![GitFile {
                path: "apps/web/deployment.yaml".into(),
                before: "image: web:1.2.0\n".into(),
                after: "image: web:1.2.1\n".into(),
            }],
            message: "web: image tag 1.2.0 does not exist".into(),
            body: String::new(),
            app: None,
        }
    }

    #[test]
    fn a_payload_round_trips_and_is_told_from_a_patch() {
        let payload = change().to_payload();
        assert_eq!(ActionKind::of(&payload), ActionKind::GitChange);
        assert_eq!(
            ActionKind::of(b" [{\"op\":\"add\"}]"),
            ActionKind::ClusterPatch
        );
        let v: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(GitChange::from_payload(&v).unwrap(), change());
    }

    #[test]
    fn the_diff_shows_only_the_changed_lines() {
        let d = change().diff();
        assert!(d.starts_with("diff --git a/apps/web/deployment.yaml b/apps/web/deployment.yaml\n--- a/apps/web/deployment.yaml\n+++ b/apps/web/deployment.yaml\n"), "{d}");
        assert!(d.contains("-image: web:1.2.0\n+image: web:1.2.1\n"), "{d}");
    }

    #[test]
    fn unsafe_or_empty_changes_are_refused() {
        for (edit, needle) in [
            (
                Box::new(|c: &mut GitChange| c.files[0].path = "../etc/passwd".into())
                    as Box<dyn Fn(&mut GitChange)>,
                "not a plain repository-relative path",
            ),
            (
                Box::new(|c: &mut GitChange| c.files[0].path = ".git/hooks/pre-commit".into()),
                "not a plain",
            ),
            (
                Box::new(|c: &mut GitChange| c.files[0].path = "/abs.yaml".into()),
                "not a plain",
            ),
            (
                Box::new(|c: &mut GitChange| c.files[0].after = c.files[0].before.clone()),
                "leaves",
            ),
            (
                Box::new(|c: &mut GitChange| c.base_commit = "main".into()),
                "not a full commit id",
            ),
            (
                Box::new(|c: &mut GitChange| {
                    c.repo_url = "https://user:tok@git.example.com/x.git".into()
                }),
                "carries credentials",
            ),
            (Box::new(|c: &mut GitChange| c.files.clear()), "no file"),
        ] {
            let mut c = change();
            edit(&mut c);
            let v: Value = serde_json::from_slice(&c.to_payload()).unwrap();
            let err = GitChange::from_payload(&v).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
    }
}
