//! The GitOps act path end to end, with real parts on loopback: the real
//! kube-apiserver with Argo CD's CRDs and the test controller playing Argo
//! CD's application controller, a real OCI registry (Debian's
//! `docker-registry`, token auth), a real Git server (`git http-backend`)
//! and a GitHub REST double.
//!
//! The design's case: a Deployment an Application manages cannot pull its
//! image (the tag does not exist) → `guardian diagnose --propose` finds it,
//! asks the registry which tags exist and proposes the closest one as a Git
//! change to the Application's source → a person approves → branch
//! `guardian/<id>` and a pull request → the test merges it and the
//! controller syncs → `guardian actions follow` verifies Synced and Healthy
//! at the merge commit → the action is `applied` with the pull request and
//! the merge commit recorded. And `guardian argocd drift` compares Git with
//! the live objects field by field.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use guardian_tests::argocd::{self, AppState, FakeArgo};
use guardian_tests::forge::ForgeDouble;
use guardian_tests::git::GitServer;
use guardian_tests::kube::{ControlPlane, control_plane, read_dump};
use guardian_tests::registry::Registry;
use serde_json::{Value, json};

use crate::cluster::{Env, of_app};
use crate::support::{McpStdio, example_snapshot};

const GIT_TOKEN: &str = "e2e-git-Tok3n-4a1f9c";
const FORGE_TOKEN: &str = "e2e-forge-Tok3n-8b2e7d";
const BROKEN: &str = "v2.4.1";

/// The tags the registry holds for `public/catalog`: the broken `v2.4.1`
/// is not among them; `v2.4.2` is the closest, `v3.1.0` the newest stable.
fn catalog_tags() -> Vec<String> {
    let mut tags = Vec::new();
    for minor in 0..4 {
        for patch in 0..8 {
            tags.push(format!("v1.{minor}.{patch}"));
        }
    }
    for t in [
        "v2.3.0",
        "v2.4.0",
        "v2.4.2",
        "v2.5.0-rc.1",
        "v3.0.0",
        "v3.1.0",
        "v3.2.0-beta.2",
        "latest",
    ] {
        tags.push(t.to_owned());
    }
    tags
}

struct Case {
    env: Env,
    ns: String,
    /// Argo CD's namespace, or the Flux objects'.
    argo_ns: String,
    config: PathBuf,
    git: GitServer,
    forge: ForgeDouble,
    repo_url: String,
    base: String,
    image: String,
    _registry: Registry,
    _controller: Option<FakeArgo>,
}

/// What manages the catalog Deployment in a [`Case`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Manager {
    /// An Argo CD Application (annotation tracking), syncing automatically
    /// or not.
    Argo { automated: bool },
    /// A Flux Kustomization of a GitRepository (its labels).
    Flux,
    /// A Flux HelmRelease of a chart in a GitRepository (its labels).
    FluxHelm,
}

impl Case {
    fn guardian(&self, args: &[&str]) -> Command {
        let mut cmd = self.env.guardian(&[]);
        cmd.arg("--config")
            .arg(&self.config)
            .arg("--audit")
            .arg(self.env.path().join("audit.jsonl"))
            .args(args)
            .env("USER", "alice");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.guardian(args).output().expect("guardian runs")
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(out.status.success(), "guardian {args:?}: {}", text(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("guardian {args:?}: not JSON ({e}): {}", text(&out)))
    }

    fn audit(&self) -> String {
        std::fs::read_to_string(self.env.path().join("audit.jsonl")).unwrap_or_default()
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The `+`/`-` lines of a unified diff, without its file headers.
fn changed_lines(diff: &str) -> Vec<&str> {
    diff.lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect()
}

/// The catalog's ImagePullBackOff finding in a `diagnose` report.
fn image_finding(report: &Value) -> &Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["reason"] == "ImagePullBackOff")
        .unwrap_or_else(|| panic!("no ImagePullBackOff finding: {report:#}"))
}

/// A finding's fix with the registry's tag.
fn registry_fix(finding: &Value) -> &Value {
    finding["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["registry"].is_object())
        .unwrap_or_else(|| panic!("no fix from the registry: {finding:#}"))
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// The manifest of the catalog Deployment as its repository holds it: the
/// fields of the live object a person writes, with comments.
fn manifest(live: &Value) -> String {
    let mut d = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": live["metadata"]["name"], "labels": live["metadata"]["labels"]},
        "spec": live["spec"].clone(),
    });
    if let Some(spec) = d["spec"].as_object_mut() {
        spec.remove("progressDeadlineSeconds");
        spec.remove("revisionHistoryLimit");
    }
    let yaml = serde_yaml::to_string(&d).unwrap();
    let image_line = yaml
        .lines()
        .find(|l| l.trim_start().starts_with("image:"))
        .expect("an image line")
        .to_owned();
    format!(
        "# The product catalog API.\n# Owned by the shop team; synced by GitOps.\n{}",
        yaml.replacen(&image_line, &format!("{image_line} # the release"), 1)
    )
}

const CHART_YAML: &str = "apiVersion: v2\nname: catalog\nversion: 0.1.0\n";

/// The catalog Deployment as a chart: its template, and the values file
/// holding its image (with comments) — what the live object was made from.
fn chart(live: &Value) -> (String, String) {
    let image = live["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    let (repository, tag) = image.rsplit_once(':').unwrap();
    let mut d = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": live["metadata"]["name"], "labels": live["metadata"]["labels"]},
        "spec": live["spec"].clone(),
    });
    d["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("{{ .Values.image.repository }}:{{ .Values.image.tag }}");
    let template = serde_yaml::to_string(&d).unwrap();
    let values = format!(
        "# The catalog API's values.\nreplicaCount: 1\nimage:\n  repository: {repository}\n  tag: {tag} # the release\n  pullPolicy: IfNotPresent\n"
    );
    (template, values)
}

/// Sets up the design's case, or `None` when a part cannot run here (the
/// test is then skipped, as the other real-part tests are).
fn case(k: &ControlPlane) -> Option<Case> {
    case_with(k, true)
}

/// [`case`], the Application syncing automatically or not.
fn case_with(k: &ControlPlane, automated: bool) -> Option<Case> {
    case_for(k, Manager::Argo { automated })
}

/// [`case`], the Deployment managed by `manager`.
fn case_for(k: &ControlPlane, manager: Manager) -> Option<Case> {
    let registry = match Registry::start() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("skipped: no registry ({e:#})");
            assert!(
                std::env::var(guardian_tests::registry::REQUIRE_ENV).is_err(),
                "the registry must run: {e:#}"
            );
            return None;
        }
    };
    registry
        .push_image("public/catalog", &catalog_tags())
        .expect("images pushed");
    let host = registry.host();
    let image = format!("{host}/public/catalog");

    // The catalog app of the example, its image in the loopback registry,
    // managed by an Application (annotation tracking).
    let ns = k.namespace("gitops");
    let argo_ns = match manager {
        Manager::Argo { .. } => k.namespace("argocd"),
        Manager::Flux | Manager::FluxHelm => k.namespace("flux"),
    };
    let controller = match manager {
        Manager::Argo { .. } => Some(FakeArgo::start(k, &argo_ns)),
        Manager::Flux | Manager::FluxHelm => {
            guardian_tests::flux::install_crds(k);
            None
        }
    };
    let dump = read_dump(&example_snapshot());
    let mut objects: Vec<Value> = dump
        .objects
        .into_iter()
        .filter(|o| o["metadata"]["namespace"] == "staging" && of_app(o, "catalog"))
        .map(|o| {
            let text = o
                .to_string()
                .replace("registry.example.com/shop/catalog", &image);
            serde_json::from_str(&text).unwrap()
        })
        .collect();
    let deployment = objects
        .iter_mut()
        .find(|o| o["kind"] == "Deployment")
        .expect("the catalog Deployment");
    // What Git holds: the Deployment without what the GitOps tool adds.
    let live = deployment.clone();
    match manager {
        Manager::Argo { .. } => {
            deployment["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] =
                json!(format!("catalog:apps/Deployment:{ns}/catalog"));
        }
        Manager::Flux | Manager::FluxHelm => {
            let labels = if manager == Manager::Flux {
                guardian_tests::flux::labels(&argo_ns, "catalog")
            } else {
                guardian_tests::flux::helm_labels(&argo_ns, "catalog")
            };
            for (key, value) in labels.as_object().unwrap() {
                deployment["metadata"]["labels"][key] = value.clone();
            }
        }
    }
    k.create_objects(&ns, "staging", &objects, false);

    // Its repository: the manifest at apps/catalog on main.
    let git = GitServer::start(Some(GIT_TOKEN));
    let plain = manifest(&live);
    let (chart, values) = chart(&live);
    let files: Vec<(&str, &str)> = if manager == Manager::FluxHelm {
        vec![
            ("charts/catalog/Chart.yaml", CHART_YAML),
            ("charts/catalog/values.yaml", &values),
            ("charts/catalog/templates/deployment.yaml", &chart),
            ("README.md", "The shop's charts.\n"),
        ]
    } else {
        vec![
            ("apps/catalog/deployment.yaml", &plain),
            ("README.md", "The shop's manifests.\n"),
        ]
    };
    let base = git.create_repo("shop/deploy", &files);
    let repo_url = git.repo_url("shop/deploy");
    let forge = ForgeDouble::github(FORGE_TOKEN);

    if manager == Manager::Flux {
        use guardian_tests::flux;
        k.apply(
            &serde_yaml::to_string(&flux::git_repository(&argo_ns, "shop", &repo_url, "main"))
                .unwrap(),
        );
        k.apply(
            &serde_yaml::to_string(&flux::kustomization(
                &argo_ns,
                "catalog",
                "shop",
                "./apps/catalog",
                &ns,
            ))
            .unwrap(),
        );
        flux::applied(k, &argo_ns, "catalog", "main", &base, Ok(()));
    }
    if manager == Manager::FluxHelm {
        use guardian_tests::flux;
        k.apply(
            &serde_yaml::to_string(&flux::git_repository(&argo_ns, "shop", &repo_url, "main"))
                .unwrap(),
        );
        k.apply(
            &serde_yaml::to_string(&flux::helm_release(
                &argo_ns,
                "catalog",
                "shop",
                "./charts/catalog",
                &ns,
            ))
            .unwrap(),
        );
        flux::released(k, &argo_ns, "catalog", "0.1.0", &base, Ok(()));
    }
    let mut app = argocd::application_object("catalog", &argo_ns, &ns, AppState::SyncedHealthy);
    app["spec"]["source"] =
        json!({"repoURL": repo_url, "path": "apps/catalog", "targetRevision": "main"});
    app["spec"]["syncPolicy"] = if manager == (Manager::Argo { automated: true }) {
        json!({"automated": {"prune": false, "selfHeal": true}})
    } else {
        json!({})
    };
    app["status"]["sync"]["revision"] = json!(base);
    app["status"]["sync"]["comparedTo"]["source"] = app["spec"]["source"].clone();
    app["status"]["resources"] = json!([{
        "group": "apps", "version": "v1", "kind": "Deployment", "namespace": ns,
        "name": "catalog", "status": "Synced",
        "health": {"status": "Degraded", "message": "Deployment \"catalog\" exceeded its progress deadline"}
    }]);
    if matches!(manager, Manager::Argo { .. }) {
        k.apply(&serde_yaml::to_string(&app).unwrap());
    }

    let env = Env::new(k);
    let config = write(
        env.path(),
        "config.yaml",
        &format!(
            "argocd:\n  namespaces: [{argo_ns}]\n  verify_timeout_seconds: 60\n  poll_interval_seconds: 0.5\n\
             registries:\n  allowed_hosts: ['{host}']\n  insecure_http_hosts: ['{host}']\n  page_size: 10\n\
             gitops:\n  repositories:\n    - url_prefix: '{git_url}'\n      credential:\n        token_file: '{git_token}'\n\
             \x20 forges:\n    - kind: github\n      api_url: '{api}'\n      repo_prefix: '{git_url}'\n      token_file: '{forge_token}'\n",
            git_url = git.url,
            git_token = write(env.path(), "git-token", GIT_TOKEN).display(),
            api = forge.api_url(),
            forge_token = write(env.path(), "forge-token", FORGE_TOKEN).display(),
        ),
    );
    Some(Case {
        env,
        ns,
        argo_ns,
        config,
        git,
        forge,
        repo_url,
        base,
        image,
        _registry: registry,
        _controller: controller,
    })
}

#[test]
fn a_bad_image_tag_on_an_argo_managed_deployment_becomes_a_pull_request_then_a_verified_sync() {
    let Some(k) = control_plane() else { return };
    let Some(c) = case(k) else { return };

    // 1. The finding, the tag from the registry, the Git change.
    let report = c.json(&["diagnose", "-n", &c.ns, "--propose", "-o", "json"]);
    let finding = image_finding(&report);
    assert_eq!(
        finding["managed_by"]["application"], "catalog",
        "{finding:#}"
    );
    let fix = registry_fix(finding);
    let wanted = format!("{}:v2.4.2", c.image);
    assert!(
        fix["description"].as_str().unwrap().contains(&wanted),
        "{fix:#}"
    );
    assert_eq!(fix["registry"]["closest"], "v2.4.2", "{fix:#}");
    assert_eq!(fix["registry"]["newest_stable"], "v3.1.0", "{fix:#}");
    assert_eq!(fix["registry"]["tags"], catalog_tags().len(), "{fix:#}");
    assert_eq!(fix["dry_run"]["result"], "passed", "{fix:#}");
    assert_eq!(fix["lands_in"], "git", "{fix:#}");
    let evidence = finding["evidence"].to_string();
    assert!(
        evidence.contains(&format!(
            "lists {} tags for public/catalog (4 pages); tag {BROKEN} is not among them",
            catalog_tags().len()
        )),
        "{evidence}"
    );
    let id = fix["proposed_action"].as_str().unwrap().to_owned();

    // 2. The action shows the file diff: only the image line changes, its
    // comment kept.
    let shown = c.json(&["actions", "show", &id, "-o", "json"]);
    assert_eq!(shown["kind"], "git-change", "{shown:#}");
    assert_eq!(shown["state"], "pending");
    let diff = shown["review"]["diff"].as_str().unwrap();
    let changed = changed_lines(diff);
    assert_eq!(changed.len(), 2, "{diff}");
    assert!(
        changed[0].starts_with('-')
            && changed[0].ends_with(&format!("{}:{BROKEN} # the release", c.image)),
        "{diff}"
    );
    assert!(
        changed[1].starts_with('+') && changed[1].ends_with(&format!("{wanted} # the release")),
        "{diff}"
    );
    let text_show = c.run(&["actions", "show", &id]);
    let text_show = String::from_utf8_lossy(&text_show.stdout).into_owned();
    assert!(text_show.contains("Lands in:        Git"), "{text_show}");
    assert!(
        text_show.contains("Files changed in Git (base commit"),
        "{text_show}"
    );
    // Nothing reached Git or the forge before the approval.
    assert_eq!(c.git.branches("shop/deploy").len(), 1);
    assert!(c.forge.requests().is_empty());

    // 3. Approved: branch and pull request, nothing on main.
    let approved = c.run(&["actions", "approve", &id, "--yes"]);
    assert!(approved.status.success(), "{}", text(&approved));
    let out = String::from_utf8_lossy(&approved.stdout);
    assert!(out.contains(&format!("action {id} submitted")), "{out}");
    let branch = format!("guardian/{id}");
    let files = c.git.files("shop/deploy", &branch);
    assert!(
        files["apps/catalog/deployment.yaml"].contains(&format!("{wanted} # the release")),
        "{files:?}"
    );
    assert_eq!(c.git.commit_of("shop/deploy", "main").unwrap(), c.base);
    let requests = c.forge.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].path, "/repos/shop/deploy/pulls");
    let body = &requests[0].body.as_ref().unwrap();
    assert_eq!(body["head"], branch.as_str());
    assert_eq!(body["base"], "main");
    let pr_body = body["body"].as_str().unwrap();
    for part in [
        "## Root cause",
        "does not exist in the registry",
        "## Change",
        "```diff",
        "server-side dry run",
        "passed",
    ] {
        assert!(
            pr_body.contains(part),
            "{part:?} not in the PR body:\n{pr_body}"
        );
    }
    let commit_message = c
        .git
        .git("shop/deploy", &["log", "-1", "--format=%B", &branch]);
    assert!(
        commit_message.starts_with("deployment/catalog: Set the image of container `catalog`"),
        "{commit_message}"
    );
    assert!(
        commit_message.contains("Finding: imagepullbackoff/deployment/"),
        "{commit_message}"
    );

    // Still open: follow says so and waits (exit 3); over MCP the same.
    let waiting = c.run(&["actions", "follow", &id]);
    assert_eq!(waiting.status.code(), Some(3), "{}", text(&waiting));
    let mut cmd = c.guardian(&["mcp", "--identity", "tester"]);
    cmd.env_remove("USER");
    let mut mcp = McpStdio::start(cmd);
    let listed = mcp.request("tools/list", json!({}));
    let follow_tool = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "guardian__follow_action")
        .cloned()
        .unwrap_or_else(|| panic!("guardian__follow_action is an MCP tool: {listed:#}"));
    assert_eq!(follow_tool["annotations"]["readOnlyHint"], false);
    assert_eq!(follow_tool["annotations"]["destructiveHint"], false);
    let followed = mcp.request(
        "tools/call",
        json!({"name": "guardian__follow_action", "arguments": {"id": id}}),
    );
    assert_eq!(
        followed["result"]["structuredContent"]["pull_request"], "open",
        "{followed:#}"
    );
    assert_eq!(
        followed["result"]["structuredContent"]["action"]["state"], "submitted",
        "{followed:#}"
    );
    let bad = mcp.request(
        "tools/call",
        json!({"name": "guardian__follow_action", "arguments": {"id": 7}}),
    );
    assert_eq!(bad["result"]["isError"], true, "{bad:#}");
    assert!(
        bad.to_string().contains("id: the action id is required"),
        "{bad:#}"
    );
    drop(mcp);

    // 4. Merged (fast-forward), and Argo CD's automated sync runs.
    let head = c.git.commit_of("shop/deploy", &branch).unwrap();
    c.git
        .git("shop/deploy", &["update-ref", "refs/heads/main", &head]);
    c.forge.merge(1, &head);
    argocd::request_operation(
        k,
        &c.argo_ns,
        "catalog",
        &argocd::sync_operation(Some(&head)),
    );
    let followed = c.run(&["actions", "follow", &id, "--timeout", "60"]);
    assert!(followed.status.success(), "{}", text(&followed));
    let done = c.json(&["actions", "show", &id, "-o", "json"]);
    assert_eq!(done["state"], "applied", "{done:#}");
    assert_eq!(done["git"]["merge_commit"], head.as_str());
    assert_eq!(
        done["git"]["pull_request_url"],
        format!("{}/shop/deploy/pull/1", c.forge.url)
    );
    assert!(
        done["outcome"]
            .as_str()
            .unwrap()
            .contains("Synced and Healthy"),
        "{done:#}"
    );
    // No credential anywhere Guardian wrote.
    let audit = c.audit();
    for secret in [
        GIT_TOKEN,
        FORGE_TOKEN,
        guardian_tests::registry::password("puller"),
    ] {
        assert!(!audit.contains(secret), "a credential in the audit log");
        assert!(!done.to_string().contains(secret));
        assert!(!report.to_string().contains(secret));
    }
    // Every Git and forge write was decided with the approved action.
    let lines: Vec<Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let pushes: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["resource"]
                .as_str()
                .is_some_and(|r| r.contains("branches.git"))
                || l["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with(&format!("#{branch}")))
        })
        .collect();
    assert!(!pushes.is_empty(), "no audited push: {audit}");
    let _ = &c.repo_url;
}

/// The design's case with Flux: the catalog Deployment carries
/// kustomize-controller's labels; its Kustomization takes `apps/catalog`
/// from a GitRepository. The finding says Flux manages it, the fix from
/// the registry becomes a Git change to the Kustomization's source, and
/// after the merge there is no sync to propose: `follow` waits until the
/// Kustomization reports the merge commit applied and Ready. A Flux
/// controller is played by the test: it applies what the merged branch
/// holds and writes the Kustomization's status.
#[test]
fn a_bad_image_tag_on_a_flux_managed_deployment_becomes_a_pull_request_then_flux_applies_it() {
    use guardian_tests::flux;
    let Some(k) = control_plane() else { return };
    let Some(c) = case_for(k, Manager::Flux) else {
        return;
    };
    let flux_ns = c.argo_ns.clone();

    // 1. Flux is named as the owner, with its source; the fix lands in Git.
    let report = c.json(&["diagnose", "-n", &c.ns, "--propose", "-o", "json"]);
    let finding = image_finding(&report);
    let owner = &finding["managed_by"];
    assert_eq!(owner["tool"], "flux", "{finding:#}");
    assert_eq!(owner["kind"], "Kustomization", "{finding:#}");
    assert_eq!(owner["application"], "catalog");
    assert_eq!(owner["application_namespace"], flux_ns.as_str());
    assert_eq!(owner["reverts_direct_patch"], true);
    let note = owner["note"].as_str().unwrap();
    assert!(
        note.contains(&format!(
            "Flux Kustomization {flux_ns}/catalog reconciles every 10m and corrects drift"
        )) && note.contains(&format!(
            "{} (branch main), path ./apps/catalog",
            c.repo_url
        )),
        "{note}"
    );
    let fix = registry_fix(finding);
    let wanted = format!("{}:v2.4.2", c.image);
    assert_eq!(fix["lands_in"], "git", "{fix:#}");
    assert!(
        fix["gitops"].as_str().unwrap().starts_with(&format!(
            "Flux Kustomization {flux_ns}/catalog corrects drift"
        )),
        "{fix:#}"
    );
    let id = fix["proposed_action"].as_str().unwrap().to_owned();
    let shown = c.json(&["actions", "show", &id, "-o", "json"]);
    assert_eq!(shown["kind"], "git-change", "{shown:#}");
    let diff = shown["review"]["diff"].as_str().unwrap();
    let changed = changed_lines(diff);
    assert_eq!(changed.len(), 2, "{diff}");
    assert!(
        changed[1].ends_with(&format!("{wanted} # the release")),
        "{diff}"
    );

    // 2. Approved: branch and pull request, nothing on main.
    let approved = c.run(&["actions", "approve", &id, "--yes"]);
    assert!(approved.status.success(), "{}", text(&approved));
    let branch = format!("guardian/{id}");
    assert!(
        c.git.files("shop/deploy", &branch)["apps/catalog/deployment.yaml"]
            .contains(&format!("{wanted} # the release"))
    );
    assert_eq!(c.git.commit_of("shop/deploy", "main").unwrap(), c.base);
    assert_eq!(c.forge.requests().len(), 1);

    // 3. Merged. Before Flux reconciles, `follow` says it waits for it —
    // no sync is proposed, the action stays submitted.
    let head = c.git.commit_of("shop/deploy", &branch).unwrap();
    c.git
        .git("shop/deploy", &["update-ref", "refs/heads/main", &head]);
    c.forge.merge(1, &head);
    let waiting = c.run(&["actions", "follow", &id, "--timeout", "2", "-o", "json"]);
    let waiting: Value = serde_json::from_slice(&waiting.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&waiting)));
    assert!(waiting["sync_action"].is_null(), "{waiting:#}");
    assert_eq!(waiting["action"]["state"], "submitted", "{waiting:#}");
    let summary = waiting["summary"].as_str().unwrap();
    assert!(
        summary.contains("not verified yet")
            && summary.contains(&format!(
                "Flux Kustomization {flux_ns}/catalog has not applied"
            )),
        "{summary}"
    );

    // 4. Flux reconciles: the merged manifest applied, the Kustomization
    // Ready at the merge commit. `follow` verifies and settles.
    let merged = c.git.files("shop/deploy", "main")["apps/catalog/deployment.yaml"].clone();
    let mut object: Value = serde_yaml::from_str(&merged).unwrap();
    for (key, value) in flux::labels(&flux_ns, "catalog").as_object().unwrap() {
        object["metadata"]["labels"][key] = value.clone();
    }
    object["metadata"]["namespace"] = json!(c.ns);
    k.apply(&serde_yaml::to_string(&object).unwrap());
    flux::applied(k, &flux_ns, "catalog", "main", &head, Ok(()));
    let followed = c.run(&["actions", "follow", &id, "--timeout", "30"]);
    assert!(followed.status.success(), "{}", text(&followed));
    let done = c.json(&["actions", "show", &id, "-o", "json"]);
    assert_eq!(done["state"], "applied", "{done:#}");
    assert_eq!(done["git"]["merge_commit"], head.as_str());
    let outcome = done["outcome"].as_str().unwrap();
    assert!(
        outcome.contains(&format!(
            "Flux Kustomization {flux_ns}/catalog applied {} and is Ready; its health checks passed",
            &head[..12]
        )),
        "{done:#}"
    );
    let live = k.run(&[
        "get",
        "deployment",
        "catalog",
        "-n",
        &c.ns,
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(live.trim(), wanted);
    // The reads of Flux's objects were decided and audited like any other.
    let audit = c.audit();
    assert!(
        audit.contains("\"kustomize.toolkit.fluxcd.io/v1/kustomizations\"")
            && audit.contains("\"source.toolkit.fluxcd.io/v1/gitrepositories\""),
        "no audited Flux read"
    );
    for secret in [GIT_TOKEN, FORGE_TOKEN] {
        assert!(!audit.contains(secret), "a credential in the audit log");
    }
}

/// Flux's HelmRelease: the catalog is released from a chart in the
/// GitRepository, rebuilt on every commit, with no values of its own. The
/// fix changes the chart's values file — only the tag's line, its comment
/// kept — and after the merge `follow` waits until helm-controller reports
/// the release of the chart built from the merge commit (`0.1.0+<sha12>`),
/// deployed and Ready. A HelmRelease with values of its own keeps the
/// cluster patch, saying why.
#[test]
fn a_flux_helm_releases_values_file_gets_the_tag_then_the_release_is_verified() {
    use guardian_tests::flux;
    let Some(k) = control_plane() else { return };
    let Some(c) = case_for(k, Manager::FluxHelm) else {
        return;
    };
    let flux_ns = c.argo_ns.clone();
    let report = c.json(&["diagnose", "-n", &c.ns, "--propose", "-o", "json"]);
    let finding = image_finding(&report);
    assert_eq!(finding["managed_by"]["tool"], "flux", "{finding:#}");
    assert_eq!(finding["managed_by"]["kind"], "HelmRelease", "{finding:#}");
    assert_eq!(
        finding["managed_by"]["application_namespace"],
        flux_ns.as_str()
    );
    let fix = registry_fix(finding);
    assert_eq!(fix["lands_in"], "git", "{fix:#}");
    let id = fix["proposed_action"].as_str().unwrap().to_owned();
    let shown = c.json(&["actions", "show", &id, "-o", "json"]);
    let diff = shown["review"]["diff"].as_str().unwrap();
    let changed = changed_lines(diff);
    assert_eq!(
        changed,
        [
            format!("-  tag: {BROKEN} # the release"),
            "+  tag: v2.4.2 # the release".to_owned()
        ],
        "{diff}"
    );
    assert!(diff.contains("charts/catalog/values.yaml"), "{diff}");

    // Approved, merged; helm-controller releases the chart of the merge.
    let approved = c.run(&["actions", "approve", &id, "--yes"]);
    assert!(approved.status.success(), "{}", text(&approved));
    let branch = format!("guardian/{id}");
    let head = c.git.commit_of("shop/deploy", &branch).unwrap();
    c.git
        .git("shop/deploy", &["update-ref", "refs/heads/main", &head]);
    c.forge.merge(1, &head);
    let waiting = c.run(&["actions", "follow", &id, "--timeout", "2"]);
    assert_eq!(waiting.status.code(), Some(3), "{}", text(&waiting));
    flux::released(k, &flux_ns, "catalog", "0.1.0", &head, Ok(()));
    let followed = c.run(&["actions", "follow", &id, "--timeout", "30"]);
    assert!(followed.status.success(), "{}", text(&followed));
    let done = c.json(&["actions", "show", &id, "-o", "json"]);
    assert_eq!(done["state"], "applied", "{done:#}");
    assert!(
        done["outcome"].as_str().unwrap().contains(&format!(
            "Flux HelmRelease {flux_ns}/catalog applied {} and is Ready; Helm waited until the release's resources were ready",
            &head[..12]
        )),
        "{done:#}"
    );

    // Values of its own: the files do not decide, the cluster patch stays.
    k.run(&[
        "patch",
        "helmreleases.helm.toolkit.fluxcd.io",
        "catalog",
        "-n",
        &flux_ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"values":{"image":{"tag":"v2.4.1"}}}}"#,
    ]);
    let again = c.json(&["diagnose", "-n", &c.ns, "--propose", "-o", "json"]);
    let fix = again["findings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["fixes"].as_array().unwrap())
        .find(|f| f["registry"].is_object())
        .unwrap_or_else(|| panic!("no fix from the registry: {again:#}"));
    assert!(fix["lands_in"].is_null(), "{fix:#}");
    let why = fix["git_error"].as_str().unwrap_or_default();
    assert!(
        why.contains("sets values of its own") && why.contains("cluster patch is proposed instead"),
        "{fix:#}"
    );
}

/// A Kustomization that cannot apply the merge (Ready=False at the merge
/// commit, as kustomize-controller reports a failed health check) leaves
/// the action `failed`, with Flux's reason.
#[test]
fn flux_failing_to_apply_the_merge_fails_the_action_with_its_reason() {
    use guardian_tests::flux;
    let Some(k) = control_plane() else { return };
    let Some(c) = case_for(k, Manager::Flux) else {
        return;
    };
    let flux_ns = c.argo_ns.clone();
    let report = c.json(&["diagnose", "-n", &c.ns, "--propose", "-o", "json"]);
    let id = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["fixes"].as_array().unwrap())
        .find(|f| f["lands_in"] == "git")
        .and_then(|f| f["proposed_action"].as_str())
        .unwrap_or_else(|| panic!("no Git action: {report:#}"))
        .to_owned();
    let approved = c.run(&["actions", "approve", &id, "--yes"]);
    assert!(approved.status.success(), "{}", text(&approved));
    let head = c
        .git
        .commit_of("shop/deploy", &format!("guardian/{id}"))
        .unwrap();
    c.git
        .git("shop/deploy", &["update-ref", "refs/heads/main", &head]);
    c.forge.merge(1, &head);
    flux::applied(
        k,
        &flux_ns,
        "catalog",
        "main",
        &head,
        Err((
            "HealthCheckFailed",
            "health check failed after 5m0s: timeout waiting for: [Deployment/catalog status: 'InProgress']",
        )),
    );
    let followed = c.run(&["actions", "follow", &id, "--timeout", "30"]);
    let done = c.json(&["actions", "show", &id, "-o", "json"]);
    assert_eq!(done["state"], "failed", "{}\n{done:#}", text(&followed));
    let outcome = done["outcome"].as_str().unwrap_or_default().to_owned()
        + done["error"].as_str().unwrap_or_default();
    assert!(
        outcome.contains("could not apply") && outcome.contains("HealthCheckFailed"),
        "{done:#}"
    );
}

/// `argocd drift` compares what Git renders with the live objects, field by
/// field: nothing when they agree (server defaults never count), the field
/// and both values when someone changed the cluster.
#[test]
fn argocd_drift_compares_git_with_the_live_objects_field_by_field() {
    let Some(k) = control_plane() else { return };
    let Some(c) = case(k) else { return };
    let drift = c.json(&["argocd", "drift", "catalog", "-n", &c.argo_ns, "-o", "json"]);
    let resources = drift["git_diff"]["resources"]
        .as_array()
        .unwrap_or_else(|| panic!("{drift:#}"));
    assert_eq!(resources.len(), 1, "{drift:#}");
    assert_eq!(resources[0]["fields"], json!([]), "{drift:#}");
    assert_eq!(drift["git_diff"]["revision"], c.base.as_str());
    assert!(
        drift["note"]
            .as_str()
            .unwrap()
            .contains("0 of 1 resources differ"),
        "{drift:#}"
    );
    // Someone scales the Deployment by hand.
    k.run(&[
        "scale",
        "deployment",
        "catalog",
        "-n",
        &c.ns,
        "--replicas",
        "5",
    ]);
    let drift = c.json(&["argocd", "drift", "catalog", "-n", &c.argo_ns, "-o", "json"]);
    let fields = &drift["git_diff"]["resources"][0]["fields"];
    let replicas = fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "/spec/replicas")
        .unwrap_or_else(|| panic!("{drift:#}"));
    assert_eq!(replicas["live"], 5);
    assert_ne!(replicas["git"], 5);
    let table = c.run(&["argocd", "drift", "catalog", "-n", &c.argo_ns]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("Field-level difference with Git"), "{table}");
    assert!(table.contains("/spec/replicas"), "{table}");

    // The tool called directly — `skills call`, MCP's `argocd__drift` —
    // carries the same comparison.
    let input = json!({"name": "catalog", "namespace": c.argo_ns}).to_string();
    let called = c.json(&[
        "skills",
        "call",
        "argocd.drift",
        "--input",
        &input,
        "-o",
        "json",
    ]);
    assert_eq!(called["git_diff"], drift["git_diff"], "{called:#}");
    let mut cmd = c.guardian(&["mcp", "--identity", "tester"]);
    cmd.env_remove("USER");
    let mut mcp = McpStdio::start(cmd);
    let answer = mcp.request(
        "tools/call",
        json!({"name": "argocd__drift", "arguments": {"name": "catalog", "namespace": c.argo_ns}}),
    );
    assert_eq!(
        answer["result"]["structuredContent"]["git_diff"], drift["git_diff"],
        "{answer:#}"
    );
}

/// `ask --propose` (the built-in reasoner): its proposal on the
/// Argo CD-managed Deployment goes to Git too, through the one proposal
/// path every skill's `actions.propose` takes.
#[test]
fn ask_propose_on_a_gitops_managed_deployment_proposes_a_git_change() {
    let Some(k) = control_plane() else { return };
    // Argo CD's tracking annotation, and Flux's labels.
    for manager in [Manager::Argo { automated: true }, Manager::Flux] {
        let Some(c) = case_for(k, manager) else {
            return;
        };
        let question = format!("why is catalog failing in {}?", c.ns);
        let out = c.run(&["ask", &question, "--propose", "-o", "json"]);
        assert!(out.status.success(), "{}", text(&out));
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
        let ids: Vec<String> = answer
            .to_string()
            .match_indices("act-")
            .map(|(i, _)| answer.to_string()[i..i + 16].to_owned())
            .collect();
        assert!(!ids.is_empty(), "no proposal: {answer:#}");
        let shown = c.json(&["actions", "show", &ids[0], "-o", "json"]);
        assert_eq!(
            shown["kind"],
            "git-change",
            "{}\nlog: {}",
            shown["rationale"],
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            shown["patch"]
                .as_str()
                .unwrap()
                .contains("apps/catalog/deployment.yaml"),
            "{shown:#}"
        );
        // The loop's diagnosis got the registry's tags, as `diagnose`
        // does: its answer carries the registry's evidence.
        assert!(
            answer.to_string().contains("tag v2.4.1 is not among them"),
            "{answer:#}"
        );
        let tool = if manager == Manager::Flux {
            "flux"
        } else {
            "argocd"
        };
        assert!(
            shown["patch"]
                .as_str()
                .unwrap()
                .contains(&format!("\"tool\":\"{tool}\"")),
            "{shown:#}"
        );
        // Nothing pushed before a person approves.
        assert_eq!(c.git.branches("shop/deploy").len(), 1);
    }
}

/// An Application that does not sync by itself: after the merge, `follow`
/// proposes its sync (pending, for a person), and verifies once it ran.
#[test]
fn after_the_merge_a_manual_application_gets_a_proposed_sync_then_verifies() {
    let Some(k) = control_plane() else { return };
    let Some(c) = case_with(k, false) else { return };
    let report = c.json(&["diagnose", "-n", &c.ns, "--propose", "-o", "json"]);
    let id = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["fixes"].as_array().unwrap().iter())
        .find(|f| f["registry"].is_object())
        .and_then(|f| f["proposed_action"].as_str())
        .unwrap_or_else(|| panic!("no Git change from the registry: {report:#}"))
        .to_owned();
    let approved = c.run(&["actions", "approve", &id, "--yes"]);
    assert!(approved.status.success(), "{}", text(&approved));
    let branch = format!("guardian/{id}");
    let head = c.git.commit_of("shop/deploy", &branch).unwrap();
    c.git
        .git("shop/deploy", &["update-ref", "refs/heads/main", &head]);
    c.forge.merge(1, &head);

    // Merged: the sync is proposed, nothing synced yet.
    let out = c.run(&["actions", "follow", &id, "-o", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let followed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sync = followed["sync_action"]
        .as_str()
        .unwrap_or_else(|| panic!("{followed:#}"))
        .to_owned();
    assert_ne!(sync, id);
    let proposed = c.json(&["actions", "show", &sync, "-o", "json"]);
    assert_eq!(proposed["state"], "pending");
    assert_eq!(proposed["target"]["kind"], "Application");
    assert!(
        proposed["patch"].as_str().unwrap().contains(&head),
        "{proposed:#}"
    );
    // Following again before the sync is approved changes nothing.
    let again = c.run(&["actions", "follow", &id]);
    assert_eq!(again.status.code(), Some(3), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(&format!("the sync {sync} is pending"))
    );

    // A person approves the sync; the controller runs it; follow verifies.
    let synced = c.run(&["actions", "approve", &sync, "--yes"]);
    assert!(synced.status.success(), "{}", text(&synced));
    let done = c.run(&["actions", "follow", &id, "--timeout", "60"]);
    assert!(done.status.success(), "{}", text(&done));
    let shown = c.json(&["actions", "show", &id, "-o", "json"]);
    assert_eq!(shown["state"], "applied", "{shown:#}");
    assert_eq!(shown["git"]["sync_action"], sync.as_str());
    assert_eq!(shown["git"]["merge_commit"], head.as_str());
}

/// When the object's source cannot be located in Git (here the Application
/// points at a path that does not define it), the finding's fix says so and
/// the cluster patch is proposed instead, with the warning that self-heal
/// will revert it.
#[test]
fn a_source_that_cannot_be_located_keeps_the_cluster_patch_with_the_warning() {
    let Some(k) = control_plane() else { return };
    let Some(c) = case(k) else { return };
    c.git.commit(
        "shop/deploy",
        "main",
        &[(
            "apps/other/service.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: other\n",
        )],
        "other: a Service",
    );
    let mut app = argocd::get_application(k, &c.argo_ns, "catalog");
    app["spec"]["source"]["path"] = json!("apps/other");
    if let Some(meta) = app["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
        meta.remove("managedFields");
    }
    k.apply(&serde_yaml::to_string(&app).unwrap());
    let report = c.json(&["diagnose", "-n", &c.ns, "--propose", "-o", "json"]);
    let fix = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["fixes"].as_array().unwrap().iter())
        .find(|f| f["registry"].is_object())
        .unwrap_or_else(|| panic!("{report:#}"))
        .clone();
    let why = fix["git_error"]
        .as_str()
        .unwrap_or_else(|| panic!("{fix:#}"));
    assert!(why.contains("self-heal will revert it"), "{why}");
    assert!(why.contains("apps/other"), "{why}");
    let id = fix["proposed_action"].as_str().unwrap();
    let shown = c.json(&["actions", "show", id, "-o", "json"]);
    assert_eq!(shown["kind"], "cluster-patch", "{shown:#}");
}

/// gRPC `FollowAction`: an operator's call (it may propose the sync); an
/// unknown or malformed action id is a clear error, not a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_follow_action_is_an_operators_call_with_clear_errors() {
    use crate::serve_api::{ApiServer, BOB, CAROL, authed};
    use guardian_api::proto;
    let snap = example_snapshot();
    let server = ApiServer::start(&["--snapshot", snap.to_str().unwrap()]);
    let mut client = server.client().await;
    let follow = |id: &str, token: &str| {
        authed(
            proto::FollowActionRequest {
                id: id.into(),
                timeout_seconds: 0.0,
            },
            token,
        )
    };
    let denied = client
        .follow_action(follow("act-aaaaaaaaaaaa", BOB))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
    let missing = client
        .follow_action(follow("act-aaaaaaaaaaaa", CAROL))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound, "{missing:?}");
    let bad = client
        .follow_action(follow("not-an-id", CAROL))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
    assert!(bad.message().contains("not-an-id"), "{bad:?}");
}
