//! Every flag, defined once. `--help` is generated from these doc comments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Guardian: a Kubernetes operations agent. It observes a cluster (live or a
/// snapshot), finds what is broken and why, and proposes the exact fix — which
/// is applied only after a human approves it.
#[derive(Debug, Parser)]
#[command(
    name = "guardian",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Debug, Args)]
pub struct Global {
    /// Load third-party skills from this directory (one subdirectory per skill,
    /// holding skill.toml and skill.wasm).
    #[arg(long, global = true, env = "GUARDIAN_SKILLS_DIR", value_name = "DIR")]
    pub skills_dir: Option<PathBuf>,

    /// Where compiled skills are cached [default: ~/.cache/guardian/compiled].
    #[arg(long, global = true, env = "GUARDIAN_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Compile every skill from scratch; read and write no compile cache.
    #[arg(long, global = true)]
    pub no_cache: bool,

    /// Operator config (skills, grants, limits, llm, agent) [default:
    /// ~/.config/guardian/config.yaml if it exists; see docs/agent.md].
    #[arg(long, global = true, env = "GUARDIAN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Extra or overriding Rego policies (every *.rego file in DIR is loaded
    /// after the built-in defaults; see policies/README.md).
    #[arg(long, global = true, env = "GUARDIAN_POLICIES", value_name = "DIR")]
    pub policies: Option<PathBuf>,

    /// Write one JSON line per broker decision to PATH (`-` for stdout).
    #[arg(long, global = true, env = "GUARDIAN_AUDIT", value_name = "PATH")]
    pub audit: Option<PathBuf>,

    /// Where proposed actions are stored [default: ~/.local/share/guardian].
    #[arg(long, global = true, env = "GUARDIAN_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// The secret key that authenticates stored actions [default:
    /// action.key in the state directory, created with it]. In a cluster,
    /// mount it from a Secret.
    #[arg(
        long,
        global = true,
        env = "GUARDIAN_ACTION_KEY_FILE",
        value_name = "FILE"
    )]
    pub action_key_file: Option<PathBuf>,

    #[command(flatten)]
    pub cluster: ClusterFlags,

    #[command(flatten)]
    pub prometheus: PrometheusFlags,

    #[command(flatten)]
    pub node: NodeFlags,

    /// More log output on stderr (-v info, -vv debug). GUARDIAN_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl Global {
    /// The session options these flags name.
    pub fn options(&self) -> guardian_core::Options {
        guardian_core::Options {
            skills_dir: self.skills_dir.clone(),
            cache_dir: self.cache_dir.clone(),
            no_cache: self.no_cache,
            config: self.config.clone(),
            policies: self.policies.clone(),
            audit: self.audit.clone(),
            state_dir: self.state_dir.clone(),
            action_key_file: self.action_key_file.clone(),
            cluster: self.cluster.options(),
            prometheus: self.prometheus.options(),
            node: self.node.options(),
        }
    }
}

/// The node mode: read one node only (`guardian serve --node NAME` in a
/// DaemonSet, with the name from the downward API; any command for trying
/// it).
#[derive(Clone, Debug, Default, Args)]
pub struct NodeFlags {
    /// Read this node only: its pods (lists carry the field selector
    /// spec.nodeName=NODE; a pod on another node is refused by name), the
    /// node itself, and pod usage from its kubelet's /stats/summary.
    #[arg(long, global = true, value_name = "NODE")]
    pub node: Option<String>,
    /// How --node reaches its kubelet: `proxy` (the API server's node
    /// proxy; RBAC get nodes/proxy) or `direct` (the kubelet at the node's
    /// InternalIP and kubelet port, with the session's bearer token; the
    /// kubelet checks get nodes/stats).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = KubeletRoute::Proxy,
        requires = "node"
    )]
    pub kubelet: KubeletRoute,
    /// --kubelet direct: PEM CA certificate(s) that verify the kubelets'
    /// serving certificates.
    #[arg(long, global = true, value_name = "FILE", requires = "node")]
    pub kubelet_ca_file: Option<PathBuf>,
    /// --kubelet direct: do not verify the kubelet's certificate (as
    /// metrics-server's flag); only where its serving certificate is
    /// self-signed and the network is trusted.
    #[arg(
        long,
        global = true,
        requires = "node",
        conflicts_with = "kubelet_ca_file"
    )]
    pub kubelet_insecure_tls: bool,
}

/// `--kubelet`: the route to a node's kubelet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum KubeletRoute {
    #[default]
    Proxy,
    Direct,
}

impl NodeFlags {
    /// The node options of the session, when --node is given.
    pub fn options(&self) -> Option<guardian_broker::NodeOptions> {
        let name = self.node.clone()?;
        Some(guardian_broker::NodeOptions {
            name,
            kubelet: match self.kubelet {
                KubeletRoute::Proxy => guardian_broker::KubeletRoute::Proxy,
                KubeletRoute::Direct => guardian_broker::KubeletRoute::Direct,
            },
            kubelet_ca_file: self.kubelet_ca_file.clone(),
            kubelet_insecure_tls: self.kubelet_insecure_tls,
        })
    }
}

/// Where Prometheus is (usage history for right-sizing). The config file's
/// `prometheus:` section sets these and the bounds; flags win.
#[derive(Clone, Debug, Default, Args)]
pub struct PrometheusFlags {
    /// Prometheus' base URL, e.g. http://prometheus.monitoring.svc:9090
    /// [default: prometheus.url in the config; else, on a live cluster, a
    /// prometheus-operated / prometheus-server Service found in it].
    #[arg(
        long = "prometheus",
        global = true,
        env = "GUARDIAN_PROMETHEUS",
        value_name = "URL"
    )]
    pub url: Option<String>,
    /// A file holding the bearer token Prometheus expects.
    #[arg(long = "prometheus-token-file", global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// PEM CA certificate(s) that verify Prometheus' TLS certificate.
    #[arg(long = "prometheus-ca-file", global = true, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

impl PrometheusFlags {
    /// The flags as the broker takes them (the rest comes from the config).
    pub fn options(&self) -> guardian_broker::PrometheusOptions {
        guardian_broker::PrometheusOptions {
            url: self.url.clone(),
            token_file: self.token_file.clone(),
            ca_file: self.ca_file.clone(),
            ..Default::default()
        }
    }
}

/// How to reach a live cluster, as kubectl takes it.
#[derive(Clone, Debug, Default, Args)]
pub struct ClusterFlags {
    /// Path to the kubeconfig file [default: $KUBECONFIG, then ~/.kube/config;
    /// in a pod, the service account].
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use [default: its current-context].
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Impersonate this user (like kubectl --as).
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Impersonate this group; repeat for several (like kubectl --as-group).
    #[arg(long = "as-group", global = true, value_name = "GROUP")]
    pub as_groups: Vec<String>,
}

impl ClusterFlags {
    /// The kubectl-style cluster flags as the broker takes them.
    pub fn options(&self) -> guardian_broker::live::ClusterOptions {
        guardian_broker::live::ClusterOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            impersonate_user: self.as_user.clone(),
            impersonate_groups: self.as_groups.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List, inspect and call skills (the WebAssembly components that do the work).
    #[command(subcommand)]
    Skills(SkillsCommand),
    /// Work with offline cluster snapshots: serve one as a Kubernetes API,
    /// or capture one from a live cluster.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Find what is broken, prove why from the cluster's own evidence, and
    /// propose the exact fix (checked by server-side dry-run, never applied).
    ///
    /// Reads a live cluster (--kubeconfig, --context, --as) or, with
    /// --snapshot, an offline snapshot. Exit status: 0, or 3 when a finding is
    /// at or above --fail-on; 1 on errors.
    ///
    /// Examples:
    ///   guardian diagnose --snapshot examples/staging
    ///   guardian diagnose -n shop --filter Pod,Service -o markdown
    ///   guardian diagnose -A --fail-on critical -o json
    #[command(verbatim_doc_comment)]
    Diagnose(DiagnoseArgs),
    /// Recommend CPU and memory requests and limits (and HPA changes) from
    /// real usage in Prometheus, as patches a person approves.
    ///
    /// Per container of every Deployment, StatefulSet, DaemonSet, CronJob
    /// and Job: CPU request = a percentile of per-pod usage over the window
    /// (no CPU limit by default), memory request = limit = peak working set
    /// plus a buffer; never below the limit of a container that was
    /// OOMKilled; "not enough data" rather than a guess. Usage comes from
    /// Prometheus (--prometheus, or the config's prometheus: url); the
    /// workloads from the cluster (--kubeconfig, --context) or a snapshot.
    ///
    /// Examples:
    ///   guardian rightsize -n shop --prometheus http://127.0.0.1:9090
    ///   guardian rightsize -n shop checkout --window 7d --cpu-percentile 99
    ///   guardian rightsize -A -o csv > rightsizing.csv
    ///   guardian rightsize -n shop --propose     # then: guardian actions list
    #[command(verbatim_doc_comment)]
    Rightsize(RightsizeArgs),
    /// The current CPU and memory of each container (as `kubectl top pods
    /// --containers`): from metrics.k8s.io, or — with --node — from that
    /// node's kubelet (/stats/summary), for that node's pods.
    ///
    /// Examples:
    ///   guardian usage -n shop
    ///   guardian usage -A --node worker-1 --kubelet direct --kubelet-ca-file ca.crt -o json
    #[command(verbatim_doc_comment)]
    Usage(UsageArgs),
    /// Argo CD Applications, through the Kubernetes API (as `argocd --core`):
    /// their sync and health, why one fails, what drifted, a sync proposed
    /// for a person to approve, and its verification until Synced and
    /// Healthy.
    ///
    /// Applications are looked for in the config's argocd.namespaces
    /// [default: argocd]; -n names another. A sync is only proposed here:
    /// it is applied by `guardian actions approve`.
    ///
    /// Examples:
    ///   guardian argocd apps --unhealthy
    ///   guardian argocd status checkout
    ///   guardian argocd sync checkout --revision 3f2a9c1   # then: guardian actions approve ID
    ///   guardian argocd verify checkout --revision 3f2a9c1 --timeout 600
    #[command(verbatim_doc_comment)]
    Argocd(ArgocdArgs),
    /// Check the connection to the cluster (--kubeconfig, --context, --as) and,
    /// with SelfSubjectAccessReview, every permission the enabled skills'
    /// grants need; prints the minimal Role/ClusterRole for what is missing
    /// and exits 1 if anything is.
    Doctor {
        /// Check namespaced permissions in this namespace (a Role would grant
        /// them) instead of cluster-wide (a ClusterRole).
        #[arg(short, long, value_name = "NS")]
        namespace: Option<String>,
    },
    /// Review proposed actions and approve (which applies) or reject them.
    ///
    /// A fix is applied only here, by a person: `approve` shows the diff,
    /// asks, records who approved, and applies it to the live cluster
    /// (--kubeconfig, --context, --as) guarded by the object's
    /// resourceVersion.
    ///
    /// Examples:
    ///   guardian actions list
    ///   guardian actions show act-k3q7x2m9b4ta
    ///   guardian actions approve act-k3q7x2m9b4ta
    ///   guardian actions reject act-k3q7x2m9b4ta --reason "fix the leak instead"
    #[command(subcommand, verbatim_doc_comment)]
    Actions(ActionsCommand),
    /// Ask a question about the cluster; get the root cause, the evidence
    /// and the fix.
    ///
    /// Answered by a model behind any OpenAI-compatible endpoint (--model,
    /// --base-url, or llm: in the config) calling the skills' tools, or,
    /// when no model is configured, by the built-in reasoner. Either way
    /// nothing is applied: a fix can only be proposed, for a person to
    /// approve with `guardian actions approve`.
    ///
    /// Examples:
    ///   guardian ask "why is checkout failing?" --snapshot examples/staging
    ///   guardian ask "what is wrong in shop?" --context prod --stats
    ///   guardian ask "why is payments down?" --model llama3.1 --base-url http://localhost:11434/v1
    #[command(verbatim_doc_comment)]
    Ask(AskArgs),
    /// Run the agent on every scenario of a corpus and score it: correctness
    /// (root cause), fix accuracy (patch operations), safety (no denied or
    /// mutating call), efficiency (tool calls, tokens, wall time).
    ///
    /// Example: guardian eval tests/scenarios --mode reasoner
    #[command(verbatim_doc_comment)]
    Eval(EvalArgs),
    /// Serve the gRPC API and MCP (streamable HTTP), with health and metrics.
    ///
    /// gRPC, MCP at /mcp, and /healthz /readyz /metrics, all on loopback by
    /// default. Every call needs a bearer token from --tokens-file (see
    /// docs/serve.md). SIGTERM drains the calls in flight.
    ///
    /// Example: guardian serve --snapshot examples/staging --tokens-file tokens.yaml
    #[command(verbatim_doc_comment)]
    Serve(ServeArgs),
    /// Serve MCP over stdio, for Claude Desktop, VS Code, Cursor.
    ///
    /// Every skill tool, prompts and resources; no approve tool. Takes the
    /// cluster flags of diagnose (--snapshot, --kubeconfig, --context).
    ///
    /// Example: guardian mcp --snapshot examples/staging
    #[command(verbatim_doc_comment)]
    Mcp(McpArgs),
    /// List and show investigations: what Guardian found about each alert
    /// Alertmanager sent to `guardian serve` (POST /alertmanager).
    ///
    /// Examples:
    ///   guardian investigations list --state open
    ///   guardian investigations show inv-k3q7x2m9b4ta
    #[command(subcommand, verbatim_doc_comment)]
    Investigations(InvestigationsCommand),
    /// Print the version.
    Version,
}

#[derive(Debug, Subcommand)]
pub enum ActionsCommand {
    /// List proposed actions, newest first.
    List {
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        output: ListFormat,
        /// Only actions in this state.
        #[arg(long, value_enum, value_name = "STATE")]
        state: Option<StateFilter>,
    },
    /// Show one action: target, rationale, diff, history, and the kubectl
    /// command equivalent to its apply.
    Show {
        /// The action id (`guardian actions list` shows them).
        id: String,
        #[arg(short, long, value_enum, default_value_t = ShowFormat::Text)]
        output: ShowFormat,
    },
    /// Approve a pending action and apply it to the cluster (--kubeconfig,
    /// --context, --as). Prints the diff and asks for confirmation at a
    /// terminal; without one, --yes is required. An action left half-applied
    /// by a crash is settled first (never applied twice).
    Approve {
        /// The action id (`guardian actions list` shows them).
        id: String,
        /// Do not ask for confirmation (required when stdin is not a terminal).
        #[arg(short, long)]
        yes: bool,
        /// Who is approving [default: $USER].
        #[arg(long = "as-user", value_name = "NAME")]
        approver: Option<String>,
        /// How long to wait for a Deployment, StatefulSet or DaemonSet to
        /// finish rolling out after the change (0: do not wait).
        #[arg(long, default_value_t = 60, value_name = "SECONDS")]
        rollout_timeout: u64,
        /// Refused: a snapshot cannot be changed; apply against a cluster.
        #[arg(long, value_name = "PATH", hide = true)]
        snapshot: Option<PathBuf>,
    },
    /// Follow a submitted Git change: read its pull request; once merged,
    /// propose the Argo CD sync when the Application does not sync by
    /// itself, then verify the Application reaches the merge commit, Synced
    /// and Healthy, and record the outcome. Exit 0 when applied, 3 while it
    /// still waits (open pull request, sync to approve, not yet healthy), 1
    /// when it failed.
    Follow {
        /// The action id (`guardian actions list --state submitted`).
        id: String,
        /// How long to wait for the Application to verify [config
        /// argocd.verify_timeout_seconds].
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
        #[arg(short, long, value_enum, default_value_t = ShowFormat::Text)]
        output: ShowFormat,
    },
    /// Reject a pending action; it can then never be applied.
    Reject {
        /// The action id (`guardian actions list` shows them).
        id: String,
        /// Why (recorded in its history and the audit log).
        #[arg(long, value_name = "TEXT", default_value = "")]
        reason: String,
        /// Who is rejecting [default: $USER].
        #[arg(long = "as-user", value_name = "NAME")]
        approver: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ShowFormat {
    /// For a person: summary, diff, kubectl command, history.
    Text,
    Json,
    Yaml,
}

/// The states of an action, for `--state`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StateFilter {
    Pending,
    Approved,
    Rejected,
    Expired,
    Applying,
    Submitted,
    Applied,
    Failed,
    Unknown,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Serve a snapshot as a Kubernetes API endpoint (discovery, get/list with
    /// selectors, pods/log, events, dry-run PATCH), for kubectl --server and
    /// for testing Guardian's live path. Secret values are redacted.
    Serve {
        /// The snapshot folder.
        path: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8001", value_name = "ADDR")]
        listen: String,
        /// Apply non-dry-run writes in memory (bumping resourceVersion)
        /// instead of refusing them with 405.
        #[arg(long)]
        writable: bool,
    },
    /// Capture a complete snapshot of a live cluster into DIR (every kind the
    /// skills read, pod logs with previous containers, events); Secret values
    /// are redacted at capture.
    Capture {
        /// Namespace to capture.
        #[arg(short, long, conflicts_with = "all_namespaces")]
        namespace: Option<String>,
        /// Capture every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Output folder (created; must be empty if it exists).
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum SkillsCommand {
    /// List the loaded skills and their tools.
    List {
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        output: ListFormat,
    },
    /// Show one skill: manifest, requested and effective grants, tools and
    /// their input schemas.
    Inspect {
        /// Skill name, as `skills list` shows it.
        name: String,
        #[arg(short, long, value_enum, default_value_t = DataFormat::Yaml)]
        output: DataFormat,
    },
    /// Call one tool of a skill.
    ///
    /// Example: guardian skills call cluster.summary --input '{"namespace":"staging"}' --snapshot examples/staging
    Call {
        /// SKILL.TOOL, e.g. cluster.summary.
        tool: String,
        /// Tool input as JSON; `@FILE` reads a file, `-` reads stdin.
        #[arg(short, long, default_value = "{}", value_name = "JSON")]
        input: String,
        /// Answer Kubernetes reads from a snapshot folder (kubectl cluster-info
        /// dump output and/or `kubectl get -o yaml` files). Without it,
        /// --kubeconfig or --context name a live cluster.
        #[arg(long, value_name = "PATH")]
        snapshot: Option<PathBuf>,
        #[arg(short, long, value_enum, default_value_t = DataFormat::Json)]
        output: DataFormat,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
    Yaml,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DataFormat {
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// Read this snapshot folder instead of a live cluster (kubectl
    /// cluster-info dump output and/or `kubectl get -o yaml` files).
    #[arg(long, value_name = "PATH")]
    pub snapshot: Option<PathBuf>,
    /// Only this namespace [default: the context's namespace; a snapshot is
    /// read whole].
    #[arg(short, long, value_name = "NS", conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,
    /// Every namespace, and the cluster-scoped objects (nodes, storage,
    /// webhooks, gateway classes).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Only these analyzers, comma-separated: Pod, Deployment, ReplicaSet,
    /// StatefulSet, DaemonSet, Job, CronJob, Service, Ingress,
    /// PersistentVolumeClaim, Storage, Node, ValidatingWebhookConfiguration,
    /// MutatingWebhookConfiguration, ConfigMap, HorizontalPodAutoscaler,
    /// PodDisruptionBudget, NetworkPolicy, Log, Security, GatewayClass,
    /// Gateway, HTTPRoute, Cascade (kubectl short names work: pvc, hpa, svc…).
    #[arg(long, value_delimiter = ',', value_name = "KIND,…")]
    pub filter: Vec<String>,
    #[arg(short, long, value_enum, default_value_t = ReportFormat::Table)]
    pub output: ReportFormat,
    /// Exit with status 3 when a finding is at least this severe, or when a
    /// scope (a namespace, the cluster-scoped objects) could not be read.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<FailOn>,
    /// Do not check the proposed fixes by server-side dry-run.
    #[arg(long)]
    pub no_dry_run: bool,
    /// Store every fix whose dry-run passed and that needs no input as a
    /// pending action (in --state-dir), for `guardian actions approve`.
    /// Nothing is applied.
    #[arg(long, conflicts_with = "no_dry_run")]
    pub propose: bool,
    /// Ask the node daemons (`serve --node`, deploy/daemonset) instead of
    /// reading the cluster here: the ready endpoints (port `grpc`) of this
    /// headless Service, NAMESPACE/SERVICE (guardian/guardian-node), each
    /// asked for its node's diagnosis, the answers merged; a daemon that
    /// does not answer is reported as not read.
    #[arg(
        long,
        value_name = "NS/SERVICE",
        requires = "fan_out_token_file",
        conflicts_with_all = ["snapshot", "propose"]
    )]
    pub fan_out: Option<String>,
    /// The token the node daemons admit (a viewer), for --fan-out.
    #[arg(long, value_name = "FILE", requires = "fan_out")]
    pub fan_out_token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Only this namespace [default: the context's namespace].
    #[arg(short, long, value_name = "NS", conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Only the pods matching this label selector (app=web,tier!=cache).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    #[arg(short, long, value_enum, default_value_t = UsageFormat::Table)]
    pub output: UsageFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum UsageFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct RightsizeArgs {
    /// One workload of the namespace: NAME or KIND/NAME
    /// (deployment/checkout).
    #[arg(value_name = "WORKLOAD")]
    pub workload: Option<String>,
    /// Read the workloads from this snapshot folder instead of a live
    /// cluster (usage still comes from Prometheus).
    #[arg(long, value_name = "PATH")]
    pub snapshot: Option<PathBuf>,
    /// Only this namespace [default: the context's namespace].
    #[arg(short, long, value_name = "NS", conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// How far back to read usage (a Prometheus duration) [default: 14d].
    #[arg(long, value_name = "DURATION")]
    pub window: Option<String>,
    /// The resolution of the usage history [default: 5m].
    #[arg(long, value_name = "DURATION")]
    pub step: Option<String>,
    /// The percentile of per-pod CPU usage the CPU request covers
    /// [default: 95].
    #[arg(long, value_name = "P")]
    pub cpu_percentile: Option<f64>,
    /// Memory headroom over the peak working set, in percent [default: 15].
    #[arg(long, value_name = "PERCENT")]
    pub memory_buffer: Option<f64>,
    /// Recommend a CPU limit too (none by default: a CPU limit throttles).
    #[arg(long)]
    pub cpu_limit: bool,
    /// Fewer usage samples than this is "not enough data" [default: 100].
    #[arg(long, value_name = "N")]
    pub min_points: Option<u64>,
    /// Price of a CPU core per hour, for the monthly cost figure (with
    /// --price-gib-hour).
    #[arg(long, value_name = "PRICE", requires = "price_gib_hour")]
    pub price_core_hour: Option<f64>,
    /// Price of a GiB of memory per hour.
    #[arg(long, value_name = "PRICE", requires = "price_core_hour")]
    pub price_gib_hour: Option<f64>,
    #[arg(short, long, value_enum, default_value_t = RightsizeFormat::Table)]
    pub output: RightsizeFormat,
    /// Do not check the patches by server-side dry-run.
    #[arg(long)]
    pub no_dry_run: bool,
    /// Store every patch whose dry-run passed as a pending action (in
    /// --state-dir), for `guardian actions approve`. Nothing is applied.
    #[arg(long, conflicts_with = "no_dry_run")]
    pub propose: bool,
    /// Read the window ending at this time (RFC 3339 or Unix seconds), for
    /// a report that can be made again [default: now].
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

#[derive(Debug, Args)]
pub struct ArgocdArgs {
    #[command(subcommand)]
    pub command: ArgocdCommand,
    /// The namespace the Applications live in [default: the config's
    /// argocd.namespaces].
    #[arg(short, long, value_name = "NS", global = true)]
    pub namespace: Option<String>,
    /// Read Applications from this snapshot folder instead of a live
    /// cluster (apps, status and drift only).
    #[arg(long, value_name = "PATH", global = true)]
    pub snapshot: Option<PathBuf>,
    #[arg(short, long, value_enum, default_value_t = ArgocdFormat::Table, global = true)]
    pub output: ArgocdFormat,
}

#[derive(Debug, Subcommand)]
pub enum ArgocdCommand {
    /// List Applications with their sync status, health, revision, sync
    /// policy and current operation.
    Apps {
        /// Every namespace the caller may list Applications in.
        #[arg(short = 'A', long, conflicts_with = "namespace")]
        all_namespaces: bool,
        /// Only the Applications of this AppProject.
        #[arg(long, value_name = "NAME")]
        project: Option<String>,
        /// Only Applications that are not Healthy.
        #[arg(long)]
        unhealthy: bool,
        /// Only Applications that are not Synced.
        #[arg(long)]
        out_of_sync: bool,
    },
    /// One Application: conditions, resources out of sync or unhealthy, the
    /// last operation per resource, the sync history, and its findings.
    Status {
        /// The Application's name.
        #[arg(value_name = "APP")]
        app: String,
    },
    /// What differs from Git, per resource, as Argo CD compared it.
    Drift {
        /// The Application's name.
        #[arg(value_name = "APP")]
        app: String,
    },
    /// Propose a sync of the Application (stored as a pending action with
    /// its exact patch, checked by server-side dry-run). Nothing is synced
    /// until a person approves it with `guardian actions approve`.
    Sync {
        /// The Application's name.
        #[arg(value_name = "APP")]
        app: String,
        /// The revision to sync to [default: the Application's target].
        #[arg(long, value_name = "REV")]
        revision: Option<String>,
        /// Sync only this resource: GROUP:KIND:NAME or
        /// GROUP:KIND:NAMESPACE/NAME (as `argocd app sync --resource`; the
        /// core group is empty: `:Service:web`). Repeatable.
        #[arg(long = "resource", value_name = "GROUP:KIND:NAME")]
        resources: Vec<String>,
        /// Delete resources that are no longer in Git (off unless asked).
        #[arg(long)]
        prune: bool,
        /// A sync option (`ServerSideApply=true`, …). Repeatable.
        #[arg(long = "sync-option", value_name = "OPTION")]
        sync_options: Vec<String>,
        /// Why, recorded on the operation and the action.
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Wait until the Application reports the revision, Synced and
    /// Healthy; print each change as it is seen. When the sync fails or the
    /// Application is Degraded (or the deadline passes), diagnose the
    /// resources that are not healthy. Exit status: 0 verified, 3 not.
    Verify {
        /// The Application's name.
        #[arg(value_name = "APP")]
        app: String,
        /// The revision it must report (a prefix of the sha is enough).
        #[arg(long, value_name = "REV")]
        revision: Option<String>,
        /// Give up after this many seconds [default: the config's
        /// argocd.verify_timeout_seconds, 300].
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
        /// Read the Application every this many seconds [default: 2].
        #[arg(long, value_name = "SECONDS")]
        interval: Option<f64>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ArgocdFormat {
    Table,
    Json,
    Yaml,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RightsizeFormat {
    /// One line per container, then the findings with their patches.
    Table,
    Json,
    Yaml,
    /// A report for a ticket or a pull request.
    Markdown,
    /// One line per container, for a spreadsheet.
    Csv,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ReportFormat {
    /// A summary table, then each finding with evidence and fixes.
    Table,
    Json,
    Yaml,
    /// A report for a ticket or a pull request.
    Markdown,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FailOn {
    Warning,
    Error,
    Critical,
}

impl FailOn {
    /// As on the command line.
    pub fn name(self) -> &'static str {
        match self {
            FailOn::Warning => "warning",
            FailOn::Error => "error",
            FailOn::Critical => "critical",
        }
    }

    pub fn level(self) -> u8 {
        match self {
            FailOn::Warning => 1,
            FailOn::Error => 2,
            FailOn::Critical => 3,
        }
    }

    /// The rank of a finding's severity (`info` is 0).
    pub fn rank(severity: &str) -> Option<u8> {
        guardian_core::severity_rank(severity)
    }
}

/// The model flags `ask` and `eval` share.
#[derive(Clone, Debug, Args)]
pub struct ModelFlags {
    /// The model to ask (any OpenAI-compatible endpoint) [default: the
    /// config's llm.model; none: the built-in reasoner].
    #[arg(long, env = "GUARDIAN_MODEL", value_name = "NAME")]
    pub model: Option<String>,
    /// The endpoint's base URL, e.g. http://localhost:11434/v1 for Ollama,
    /// http://localhost:8000/v1 for vLLM [default: the config's
    /// llm.base_url, else https://api.openai.com/v1].
    #[arg(long, env = "GUARDIAN_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// The environment variable holding the API key [default: the config's
    /// llm.api_key_env, else OPENAI_API_KEY]. Local servers need none.
    #[arg(long, value_name = "NAME")]
    pub api_key_env: Option<String>,
    /// Ask for whole completions instead of streamed ones.
    #[arg(long)]
    pub no_stream: bool,
    /// At most this many tool calls per run [default: 15].
    #[arg(long, value_name = "N")]
    pub max_tool_calls: Option<u32>,
    /// At most this many prompt + completion tokens per run [default: 200000].
    #[arg(long, value_name = "N")]
    pub token_budget: Option<u64>,
    /// Stop a run after this many seconds [default: 300].
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Guardian's help, in model mode: before the model's first turn,
    /// Guardian scans the cluster and gives the model the scope and the
    /// error and critical findings (evidence, dry-run fixes) as the first
    /// tool result, so that it starts from evidence.
    #[arg(long)]
    pub assist: bool,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question, e.g. "why is checkout failing in staging?".
    pub question: String,
    /// Read this snapshot folder instead of a live cluster.
    #[arg(long, value_name = "PATH")]
    pub snapshot: Option<PathBuf>,
    /// The namespace a question that names no namespace or object is about
    /// [default: every namespace the caller may read; names in the question
    /// are found in whichever namespace holds them].
    #[arg(short, long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Use the built-in reasoner even when a model is configured.
    #[arg(long, conflicts_with = "model")]
    pub reasoner: bool,
    #[command(flatten)]
    pub model: ModelFlags,
    /// Let the built-in reasoner store its fix as a pending action (a model
    /// decides for itself through patch.propose). Nothing is applied.
    #[arg(long)]
    pub propose: bool,
    /// Print LLM calls, tokens, tool calls with latency and wall time.
    #[arg(long)]
    pub stats: bool,
    /// Write the whole run (messages, tool calls and results, events,
    /// report) as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub transcript: Option<PathBuf>,
    #[arg(short, long, value_enum, default_value_t = AskFormat::Text)]
    pub output: AskFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AskFormat {
    /// The answer, for a person.
    Text,
    /// The report: answer, mode, findings, fix, proposals, stats.
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The corpus: scenarios (folders NN-name/ with snapshot/ and
    /// expected.yaml, as tests/scenarios), or questions (folders with
    /// snapshot/ and questions.yaml, as tests/questions).
    #[arg(default_value = "tests/scenarios", value_name = "DIR")]
    pub corpus: PathBuf,
    #[arg(long, value_enum, default_value_t = EvalMode::Reasoner)]
    pub mode: EvalMode,
    #[command(flatten)]
    pub model: ModelFlags,
    /// Only scenarios whose folder name contains this (in a question corpus:
    /// questions or clusters whose text contains it).
    #[arg(long, value_name = "TEXT")]
    pub only: Option<String>,
    /// A question corpus: at most this many questions.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    #[arg(short, long, value_enum, default_value_t = EvalFormat::Table)]
    pub output: EvalFormat,
    /// Exit with status 3 when fewer than this percentage of scenarios are
    /// correct, fix-accurate and safe.
    #[arg(long, value_name = "PERCENT")]
    pub fail_under: Option<f64>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EvalMode {
    /// The built-in reasoner (no model).
    Reasoner,
    /// The model named by --model / the config.
    Llm,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EvalFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Read this snapshot folder instead of a live cluster (--kubeconfig,
    /// --context, --as).
    #[arg(long, value_name = "PATH")]
    pub snapshot: Option<PathBuf>,
    /// The gRPC API (`none` to turn it off).
    #[arg(long, default_value = "127.0.0.1:50051", value_name = "ADDR")]
    pub grpc_listen: String,
    /// MCP over streamable HTTP, at path /mcp (`none` to turn it off).
    #[arg(long, default_value = "127.0.0.1:8765", value_name = "ADDR")]
    pub mcp_listen: String,
    /// /healthz, /readyz, Prometheus /metrics, Alertmanager's webhook
    /// (/alertmanager), the web console (/console/) and Slack's
    /// interactions (/slack/interactions) (`none` to turn it off).
    #[arg(long, default_value = "127.0.0.1:9464", value_name = "ADDR")]
    pub http_listen: String,
    /// Bearer tokens: a YAML file mapping each token (or its sha256) to an
    /// identity and a role (viewer, operator, approver); see docs/serve.md.
    /// Calls without a known token are refused.
    #[arg(long, env = "GUARDIAN_TOKENS_FILE", value_name = "FILE")]
    pub tokens_file: PathBuf,
    /// Also admit Kubernetes tokens (service accounts, OIDC users) the
    /// tokens file does not list, checked by TokenReview against the
    /// cluster (--kubeconfig, --context; in a pod, its service account); the
    /// tokens file's `kubernetes.roles` give them a role.
    #[arg(long)]
    pub token_review: bool,
    /// After SIGTERM, how long calls in flight may take to finish.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub drain_timeout: f64,
    /// How often the skills directory is checked for changes (0: never).
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    pub reload_interval: f64,
    /// TLS for the gRPC port: the server certificate (PEM).
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS for the gRPC port: the server key (PEM).
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: gRPC clients must present a certificate signed by this CA.
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
    /// A browser origin MCP over HTTP admits (repeatable):
    /// `https://app.example.com`, `http://host:*` (any port), or `null`. A
    /// request with any other `Origin` is refused (403, audited); requests
    /// without one (non-browser clients) are not affected. On a loopback
    /// listener, loopback origins (`http://localhost:PORT`) are admitted too.
    #[arg(long = "mcp-allowed-origin", value_name = "ORIGIN")]
    pub mcp_allowed_origins: Vec<String>,
    /// A `Host` name MCP over HTTP answers to (repeatable; `NAME` or
    /// `NAME:PORT`). Loopback names are always admitted; on a loopback
    /// listener no other name is unless given here, and on any other
    /// listener, once one is given, only those are.
    #[arg(long = "mcp-allowed-host", value_name = "HOST")]
    pub mcp_allowed_hosts: Vec<String>,
    /// The Deployment of the node mode: Diagnose (gRPC) asks the node
    /// daemons behind this headless Service, NAMESPACE/SERVICE
    /// (guardian/guardian-node), and merges their answers; a daemon that
    /// does not answer is reported as not read. A Diagnose that proposes
    /// is still answered here.
    #[arg(long, value_name = "NS/SERVICE", requires = "fan_out_token_file")]
    pub fan_out: Option<String>,
    /// The token the node daemons admit (a viewer), for --fan-out.
    #[arg(long, value_name = "FILE", requires = "fan_out")]
    pub fan_out_token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Read this snapshot folder instead of a live cluster (--kubeconfig,
    /// --context, --as).
    #[arg(long, value_name = "PATH")]
    pub snapshot: Option<PathBuf>,
    /// Who is using this session, for policy and the audit log (the caller
    /// is mcp:NAME) [default: $USER].
    #[arg(long, value_name = "NAME")]
    pub identity: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum InvestigationsCommand {
    /// List investigations, newest first.
    List {
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        output: ListFormat,
        /// Only investigations in this state: open, resolved, failed.
        #[arg(long, value_name = "STATE")]
        state: Option<String>,
    },
    /// Show one investigation: the alert, the target, what was read, the
    /// findings and the actions proposed.
    Show {
        /// The investigation id (`guardian investigations list` shows them).
        id: String,
        #[arg(short, long, value_enum, default_value_t = ShowFormat::Text)]
        output: ShowFormat,
    },
}
