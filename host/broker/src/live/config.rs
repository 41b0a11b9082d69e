//! Finding and building the client configuration, the way kubectl does.
//!
//! Precedence (client-go's loading rules):
//! 1. `--kubeconfig FILE` — that file only; it must exist.
//! 2. `KUBECONFIG` — a list of files (`:`-separated), merged; missing ones
//!    are ignored. When none of them exists, the in-cluster config is tried.
//! 3. `~/.kube/config`.
//! 4. In a pod: the service account (`KUBERNETES_SERVICE_HOST` and the token
//!    under `/var/run/secrets/kubernetes.io/serviceaccount/`).
//!
//! Then `--context` picks the context (default: `current-context`) and
//! `--as` / `--as-group` set the impersonation headers.
//!
//! Locating the files is a pure function of its inputs ([`locate`]) so that
//! the rules are unit-tested without touching the process environment.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::BrokerError;

/// Where the service account's token lives in a pod.
pub const IN_CLUSTER_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// How to reach a live cluster, in kubectl's terms (`--kubeconfig`,
/// `--context`, `--as`, `--as-group`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterOptions {
    /// `--kubeconfig`; `None` follows `KUBECONFIG`, then `~/.kube/config`,
    /// then the in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`; `None` uses the kubeconfig's `current-context`.
    pub context: Option<String>,
    /// `--as`: the user to impersonate.
    pub impersonate_user: Option<String>,
    /// `--as-group`: the groups to impersonate (needs a user).
    pub impersonate_groups: Vec<String>,
}

/// What the environment looks like, as far as finding a config goes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Environment {
    /// The value of `KUBECONFIG`, if set.
    pub kubeconfig_var: Option<OsString>,
    pub home: Option<PathBuf>,
    /// `KUBERNETES_SERVICE_HOST` is set and the service account token exists.
    pub in_cluster: bool,
}

impl Environment {
    pub(crate) fn current() -> Self {
        let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some_and(|h| !h.is_empty())
            && Path::new(IN_CLUSTER_TOKEN).exists();
        Self {
            kubeconfig_var: std::env::var_os("KUBECONFIG"),
            home: home_dir(),
            in_cluster,
        }
    }
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Where the configuration comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// Kubeconfig files to merge, in order, and how they were found.
    Files {
        paths: Vec<PathBuf>,
        origin: Origin,
    },
    InCluster,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    Flag,
    EnvVar,
    Home,
}

/// Apply the loading rules. `exists` says whether a file exists (injected
/// for tests).
pub(crate) fn locate(
    flag: Option<&Path>,
    env: &Environment,
    exists: impl Fn(&Path) -> bool,
) -> Result<Source, BrokerError> {
    if let Some(path) = flag {
        if !exists(path) {
            return Err(BrokerError::NotFound(format!(
                "kubeconfig {} (from --kubeconfig) does not exist; check the path, or drop \
                 --kubeconfig to use $KUBECONFIG or ~/.kube/config",
                path.display()
            )));
        }
        return Ok(Source::Files {
            paths: vec![path.to_path_buf()],
            origin: Origin::Flag,
        });
    }
    let mut looked: Vec<String> = vec!["--kubeconfig (not given)".to_string()];
    let listed: Vec<PathBuf> = env
        .kubeconfig_var
        .as_ref()
        .map(|v| {
            std::env::split_paths(v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if !listed.is_empty() {
        // client-go: with KUBECONFIG set, ~/.kube/config is not consulted.
        let present: Vec<PathBuf> = listed.iter().filter(|p| exists(p)).cloned().collect();
        if !present.is_empty() {
            return Ok(Source::Files {
                paths: present,
                origin: Origin::EnvVar,
            });
        }
        let shown: Vec<String> = listed.iter().map(|p| p.display().to_string()).collect();
        looked.push(format!(
            "$KUBECONFIG={} (no such file{})",
            shown.join(":"),
            if shown.len() > 1 { "s" } else { "" }
        ));
    } else {
        looked.push("$KUBECONFIG (unset)".to_string());
        match &env.home {
            Some(home) => {
                let default = home.join(".kube").join("config");
                if exists(&default) {
                    return Ok(Source::Files {
                        paths: vec![default],
                        origin: Origin::Home,
                    });
                }
                looked.push(format!("{} (no such file)", default.display()));
            }
            None => looked.push("~/.kube/config ($HOME is unset)".to_string()),
        }
    }
    if env.in_cluster {
        return Ok(Source::InCluster);
    }
    looked.push(format!(
        "the in-cluster service account (KUBERNETES_SERVICE_HOST unset or {IN_CLUSTER_TOKEN} \
         missing: not running in a pod)"
    ));
    Err(BrokerError::NotFound(format!(
        "no Kubernetes configuration found; looked at {}. Point Guardian at a cluster with \
         --kubeconfig FILE (and --context NAME), or set KUBECONFIG, as for kubectl",
        looked.join(", ")
    )))
}

/// A ready-to-use configuration and what to call it in messages.
pub(crate) struct Resolved {
    pub config: kube::Config,
    /// `context kind-dev` / `in-cluster service account`.
    pub label: String,
    pub context: Option<String>,
}

/// Build the client configuration for `opts` in `env`.
pub(crate) async fn resolve(
    opts: &ClusterOptions,
    env: &Environment,
) -> Result<Resolved, BrokerError> {
    if opts.impersonate_user.is_none() && !opts.impersonate_groups.is_empty() {
        // kubectl refuses the same: groups alone do not name an identity.
        return Err(BrokerError::Invalid(format!(
            "--as-group {} needs --as USER: impersonating groups requires impersonating a user \
             too (as with kubectl)",
            opts.impersonate_groups.join(",")
        )));
    }
    let source = locate(opts.kubeconfig.as_deref(), env, Path::exists)?;
    let (mut config, label, context) = match source {
        Source::InCluster => {
            if let Some(context) = &opts.context {
                return Err(BrokerError::NotFound(format!(
                    "context \"{context}\" not found: no kubeconfig was found, only the \
                     in-cluster service account, which has no contexts; drop --context or pass \
                     --kubeconfig"
                )));
            }
            let config = kube::Config::incluster().map_err(|e| {
                BrokerError::Unavailable(format!(
                    "cannot use the in-cluster service account: {e}; check that the pod mounts \
                     its service account token (automountServiceAccountToken)"
                ))
            })?;
            (config, "in-cluster service account".to_string(), None)
        }
        Source::Files { paths, origin } => {
            let kubeconfig = read_merged(&paths, origin)?;
            let context = choose_context(&kubeconfig, opts.context.as_deref(), &paths)?;
            let options = KubeConfigOptions {
                context: Some(context.clone()),
                ..Default::default()
            };
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| {
                    BrokerError::Invalid(format!(
                        "context \"{context}\" in {} cannot be used: {e}; fix the kubeconfig \
                         (check its cluster's server URL and certificates) or pick another \
                         context with --context",
                        show_paths(&paths)
                    ))
                })?;
            (config, format!("context {context}"), Some(context))
        }
    };
    if let Some(user) = &opts.impersonate_user {
        config.auth_info.impersonate = Some(user.clone());
        config.auth_info.impersonate_groups =
            (!opts.impersonate_groups.is_empty()).then(|| opts.impersonate_groups.clone());
    }
    // Fail fast on a dead server; reads of big lists and logs get a minute.
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(60));
    config.reset_reader_on_write = true;
    // No hidden retries: a 503 (a kubelet that cannot be reached for logs,
    // an overloaded server) comes back at once as `unavailable`, which says
    // it is retryable; the caller, who knows its deadline, decides.
    config.default_retry = false;
    Ok(Resolved {
        config,
        label,
        context,
    })
}

fn show_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

fn read_merged(paths: &[PathBuf], origin: Origin) -> Result<Kubeconfig, BrokerError> {
    let from = match origin {
        Origin::Flag => " (from --kubeconfig)",
        Origin::EnvVar => " (from $KUBECONFIG)",
        Origin::Home => "",
    };
    let mut merged: Option<Kubeconfig> = None;
    for path in paths {
        let one = Kubeconfig::read_from(path).map_err(|e| {
            BrokerError::Invalid(format!(
                "cannot read kubeconfig {}{from}: {e}; it must be a kubeconfig YAML file as \
                 `kubectl config view --raw` prints",
                path.display()
            ))
        })?;
        merged = Some(match merged {
            None => one,
            Some(m) => m.merge(one).map_err(|e| {
                BrokerError::Invalid(format!(
                    "cannot merge kubeconfig {} into the ones before it in $KUBECONFIG: {e}",
                    path.display()
                ))
            })?,
        });
    }
    merged.ok_or_else(|| BrokerError::Internal("no kubeconfig paths to read".to_string()))
}

/// The context to use: `--context`, else `current-context`; either must
/// exist. Errors list the contexts there are.
pub(crate) fn choose_context(
    kubeconfig: &Kubeconfig,
    wanted: Option<&str>,
    paths: &[PathBuf],
) -> Result<String, BrokerError> {
    let names: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let available = if names.is_empty() {
        "it defines no contexts".to_string()
    } else {
        format!("its contexts: {}", names.join(", "))
    };
    let (name, how) = match (wanted, kubeconfig.current_context.as_deref()) {
        (Some(name), _) => (name, "--context"),
        (None, Some(name)) if !name.is_empty() => (name, "current-context"),
        (None, _) => {
            return Err(BrokerError::Invalid(format!(
                "kubeconfig {} sets no current-context ({available}); pick one with --context \
                 NAME or `kubectl config use-context NAME`",
                show_paths(paths)
            )));
        }
    };
    if names.contains(&name) {
        Ok(name.to_string())
    } else {
        Err(BrokerError::NotFound(format!(
            "context \"{name}\" (from {how}) not found in kubeconfig {} ({available}); pass one \
             of them with --context",
            show_paths(paths)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: Option<&str>, home: Option<&str>, in_cluster: bool) -> Environment {
        Environment {
            kubeconfig_var: var.map(OsString::from),
            home: home.map(PathBuf::from),
            in_cluster,
        }
    }

    fn files(paths: &[&str], origin: Origin) -> Source {
        Source::Files {
            paths: paths.iter().map(PathBuf::from).collect(),
            origin,
        }
    }

    #[test]
    fn loading_rules_follow_kubectl() {
        let all = |_: &Path| true;
        let none = |_: &Path| false;
        // The flag wins over everything.
        assert_eq!(
            locate(
                Some(Path::new("/k")),
                &env(Some("/e"), Some("/h"), true),
                all
            )
            .unwrap(),
            files(&["/k"], Origin::Flag)
        );
        // KUBECONFIG: a list, missing entries dropped, ~/.kube/config not used.
        let some = |p: &Path| p != Path::new("/missing");
        assert_eq!(
            locate(None, &env(Some("/a:/missing:/b"), Some("/h"), false), some).unwrap(),
            files(&["/a", "/b"], Origin::EnvVar)
        );
        // Then ~/.kube/config.
        assert_eq!(
            locate(None, &env(None, Some("/h"), false), all).unwrap(),
            files(&["/h/.kube/config"], Origin::Home)
        );
        // An empty KUBECONFIG counts as unset.
        assert_eq!(
            locate(None, &env(Some(""), Some("/h"), false), all).unwrap(),
            files(&["/h/.kube/config"], Origin::Home)
        );
        // Nothing on disk: the service account, in a pod.
        assert_eq!(
            locate(None, &env(Some("/gone"), Some("/h"), true), none).unwrap(),
            Source::InCluster
        );
        assert_eq!(
            locate(None, &env(None, Some("/h"), true), none).unwrap(),
            Source::InCluster
        );
    }

    #[test]
    fn nothing_found_says_where_it_looked() {
        let err = locate(None, &env(None, Some("/home/sre"), false), |_| false).unwrap_err();
        assert_eq!(err.kind_str(), "not-found");
        let m = err.message();
        assert!(m.contains("/home/sre/.kube/config (no such file)"), "{m}");
        assert!(m.contains("$KUBECONFIG (unset)"), "{m}");
        assert!(m.contains("in-cluster service account"), "{m}");
        assert!(m.contains("--kubeconfig FILE"), "{m}");

        let err = locate(None, &env(Some("/x:/y"), None, false), |_| false).unwrap_err();
        assert!(
            err.message().contains("$KUBECONFIG=/x:/y (no such files)"),
            "{err}"
        );

        let err = locate(Some(Path::new("/nope")), &env(None, None, true), |_| false).unwrap_err();
        assert!(
            err.message()
                .contains("kubeconfig /nope (from --kubeconfig) does not exist"),
            "{err}"
        );
    }

    fn kubeconfig(current: Option<&str>, contexts: &[&str]) -> Kubeconfig {
        let mut text = String::from("apiVersion: v1\nkind: Config\n");
        if let Some(c) = current {
            text.push_str(&format!("current-context: {c}\n"));
        }
        text.push_str("clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\n");
        text.push_str("users:\n- name: u\n  user: {}\n");
        text.push_str("contexts:\n");
        for name in contexts {
            text.push_str(&format!(
                "- name: {name}\n  context:\n    cluster: c\n    user: u\n"
            ));
        }
        Kubeconfig::from_yaml(&text).unwrap()
    }

    #[test]
    fn contexts_are_checked_and_listed() {
        let paths = [PathBuf::from("/k")];
        let k = kubeconfig(Some("dev"), &["dev", "prod"]);
        assert_eq!(choose_context(&k, None, &paths).unwrap(), "dev");
        assert_eq!(choose_context(&k, Some("prod"), &paths).unwrap(), "prod");
        let err = choose_context(&k, Some("stage"), &paths).unwrap_err();
        assert_eq!(err.kind_str(), "not-found");
        assert!(
            err.message().contains("context \"stage\" (from --context)"),
            "{err}"
        );
        assert!(err.message().contains("its contexts: dev, prod"), "{err}");

        let err = choose_context(&kubeconfig(None, &["a"]), None, &paths).unwrap_err();
        assert!(err.message().contains("sets no current-context"), "{err}");
        assert!(err.message().contains("its contexts: a"), "{err}");
    }

    #[tokio::test]
    async fn impersonation_and_context_reach_the_client_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\ncurrent-context: a\nclusters:\n\
             - name: one\n  cluster:\n    server: http://127.0.0.1:1111\n\
             - name: two\n  cluster:\n    server: http://127.0.0.1:2222\n\
             users:\n- name: u\n  user:\n    token: t0k\n\
             contexts:\n- name: a\n  context:\n    cluster: one\n    user: u\n    namespace: ns-a\n\
             - name: b\n  context:\n    cluster: two\n    user: u\n",
        )
        .unwrap();
        let opts = ClusterOptions {
            kubeconfig: Some(path.clone()),
            context: Some("b".into()),
            impersonate_user: Some("system:serviceaccount:guardian:guardian".into()),
            impersonate_groups: vec!["system:authenticated".into(), "sre".into()],
        };
        let resolved = resolve(&opts, &Environment::default()).await.unwrap();
        assert_eq!(resolved.label, "context b");
        assert_eq!(
            resolved.config.cluster_url.to_string(),
            "http://127.0.0.1:2222/"
        );
        assert_eq!(
            resolved.config.auth_info.impersonate.as_deref(),
            Some("system:serviceaccount:guardian:guardian")
        );
        assert_eq!(
            resolved.config.auth_info.impersonate_groups,
            Some(vec!["system:authenticated".to_string(), "sre".to_string()])
        );

        let plain = ClusterOptions {
            kubeconfig: Some(path),
            ..Default::default()
        };
        let resolved = resolve(&plain, &Environment::default()).await.unwrap();
        assert_eq!(resolved.context.as_deref(), Some("a"));
        assert_eq!(resolved.config.default_namespace, "ns-a");
        assert!(resolved.config.auth_info.impersonate.is_none());

        let groups_only = ClusterOptions {
            impersonate_groups: vec!["sre".into()],
            ..plain
        };
        let err = resolve(&groups_only, &Environment::default())
            .await
            .err()
            .unwrap();
        assert!(err.message().contains("needs --as USER"), "{err}");
    }
}
