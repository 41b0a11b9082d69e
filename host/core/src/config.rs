//! The operator config file (`~/.config/guardian/config.yaml`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
pub use guardian_agent::config::{AgentConfig, LlmConfig};
use guardian_runtime::{Limits, OperatorGrants};
use serde::Deserialize;

/// ```yaml
/// skills:
///   dir: /var/lib/guardian/skills       # same as --skills-dir
///   grants:                             # what the operator allows; a skill
///     default:                          # gets requested ∩ allowed
///       read: ["pods", "pods/log", "events"]
///     skills:
///       cluster: { read: ["*"], propose: [], metrics: false }
/// limits:
///   cpu_seconds: 5
///   memory_mib: 64
///   output_kib: 1024
///   host_call_seconds: 30
/// llm:                                  # `guardian ask` with a model (else the built-in reasoner)
///   model: gpt-4o-mini                  # same as --model
///   base_url: https://api.openai.com/v1 # any OpenAI-compatible endpoint (--base-url)
///   api_key_env: OPENAI_API_KEY         # the environment variable holding the key
///   stream: true                        # stream completions (SSE)
///   temperature: 0
///   max_tokens: 1024                    # per completion [default: the server's]
/// agent:
///   max_tool_calls: 15                  # per run
///   token_budget: 200000                # prompt + completion tokens per run
///   tool_output_kib: 16                 # what one tool result may put in the context
///   tool_output_kib_per_tool:           # per tool, overriding tool_output_kib
///     diagnostics.analyze: 32
///   summarize_after_tokens: 24000       # older turns are summarised past this
///   timeout_seconds: 300                # wall time of one run
///   llm_timeout_seconds: 120            # one completion request
///   max_retries: 4                      # on 429 and 5xx, with backoff
/// rightsizing:                          # `guardian rightsize` defaults (flags win)
///   window: 14d                         # --window
///   cpu_percentile: 95                  # --cpu-percentile
///   memory_buffer_percent: 15           # --memory-buffer
///   prices: { core_hour: 0.031, gib_hour: 0.004 }   # monthly cost figures
/// argocd:                               # `guardian argocd` (docs/argocd.md)
///   namespaces: [argocd]                # where Applications live [argocd]
///   verify_timeout_seconds: 300         # `argocd verify`'s deadline
///   poll_interval_seconds: 2            # how often verify reads the Application
/// prometheus:                           # usage history (right-sizing); see docs/metrics.md
///   url: http://prometheus.monitoring.svc:9090   # same as --prometheus [default: found in the cluster]
///   token_file: /var/run/secrets/prom-token      # bearer token (--prometheus-token-file)
///   basic_auth_file: /etc/guardian/prom-basic    # `user:password` on one line
///   ca_file: /etc/guardian/prom-ca.pem           # CA of its certificate (--prometheus-ca-file)
///   timeout_seconds: 20                 # one query
///   max_series: 10000                   # a larger answer is refused, not loaded
///   max_points: 1000000                 # series × samples
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub skills: SkillsConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub llm: LlmConfig,
    #[serde(default)]
    pub agent: AgentConfig,
    #[serde(default)]
    pub rightsizing: crate::rightsize::RightsizingConfig,
    #[serde(default)]
    pub prometheus: PrometheusConfig,
    #[serde(default)]
    pub argocd: crate::argocd::ArgocdConfig,
    /// Registries Guardian may ask for an image's tags.
    #[serde(default)]
    pub registries: guardian_broker::RegistryOptions,
    /// Git repositories and forges for changes to GitOps-managed objects.
    #[serde(default)]
    pub gitops: guardian_broker::GitOptions,
    /// Alertmanager's webhook: rate limit, dedup window, proposals
    /// (`docs/investigations.md`).
    #[serde(default)]
    pub alertmanager: crate::investigations::AlertmanagerConfig,
    /// Slack (`guardian serve`): the section as written; `guardian-api`'s
    /// `slack::SlackConfig` is its type and checks it (docs/slack.md).
    #[serde(default)]
    pub slack: Option<serde_json::Value>,
}

/// The `prometheus:` section.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    pub url: Option<String>,
    pub token_file: Option<PathBuf>,
    pub basic_auth_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub timeout_seconds: Option<f64>,
    pub max_series: Option<u64>,
    pub max_points: Option<u64>,
}

impl PrometheusConfig {
    /// These settings with the command line's over them (`flags` wins
    /// where it says something).
    pub fn merged(
        &self,
        flags: &guardian_broker::PrometheusOptions,
    ) -> anyhow::Result<guardian_broker::PrometheusOptions> {
        let timeout = match self.timeout_seconds {
            None => None,
            Some(v) => Some(
                Duration::try_from_secs_f64(v)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .context("prometheus.timeout_seconds: expected a positive number of seconds")?,
            ),
        };
        for (value, key) in [
            (self.max_series, "max_series"),
            (self.max_points, "max_points"),
        ] {
            anyhow::ensure!(value != Some(0), "prometheus.{key}: expected at least 1");
        }
        Ok(guardian_broker::PrometheusOptions {
            url: flags.url.clone().or(self.url.clone()),
            token_file: flags.token_file.clone().or(self.token_file.clone()),
            basic_auth_file: flags
                .basic_auth_file
                .clone()
                .or(self.basic_auth_file.clone()),
            ca_file: flags.ca_file.clone().or(self.ca_file.clone()),
            timeout: flags.timeout.or(timeout),
            max_series: flags.max_series.or(self.max_series),
            max_points: flags.max_points.or(self.max_points),
        })
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillsConfig {
    pub dir: Option<PathBuf>,
    #[serde(default)]
    pub grants: OperatorGrants,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub cpu_seconds: Option<f64>,
    pub memory_mib: Option<usize>,
    pub output_kib: Option<usize>,
    pub host_call_seconds: Option<f64>,
}

impl LimitsConfig {
    pub fn apply(&self, mut limits: Limits) -> anyhow::Result<Limits> {
        let secs = |v: f64, what: &str| {
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .with_context(|| format!("limits.{what}: expected a positive number of seconds"))
        };
        if let Some(v) = self.cpu_seconds {
            limits.cpu_time = secs(v, "cpu_seconds")?;
        }
        if let Some(v) = self.host_call_seconds {
            limits.host_call_timeout = secs(v, "host_call_seconds")?;
        }
        if let Some(v) = self.memory_mib {
            anyhow::ensure!(
                (1..=4096).contains(&v),
                "limits.memory_mib: expected 1..=4096"
            );
            limits.memory_bytes = v << 20;
        }
        if let Some(v) = self.output_kib {
            anyhow::ensure!(v >= 1, "limits.output_kib: expected at least 1");
            limits.output_bytes = v << 10;
        }
        Ok(limits)
    }
}

/// Reads the config named on the command line, or the default one if present.
pub fn load(explicit: Option<&Path>) -> anyhow::Result<Config> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => match dirs::config_dir().map(|d| d.join("guardian").join("config.yaml")) {
            Some(p) if p.exists() => p,
            _ => return Ok(Config::default()),
        },
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    serde_yaml::from_str(&text).with_context(|| format!("config {}", path.display()))
}
