//! `guardian serve` and `guardian mcp`: wiring only — the gRPC service, the
//! MCP server, authentication and the serve loop are `guardian_api`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use guardian_api::Api;
use guardian_api::auth::{Gate, Identity, Reviewer, Role, Tokens};
use guardian_api::serve::{ServeOptions, TlsFiles};
use guardian_core::{Session, Source};

use crate::args::Global;

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
    /// /healthz, /readyz and Prometheus /metrics (`none` to turn it off).
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

fn listen(addr: &str) -> Option<String> {
    (!matches!(addr.trim(), "" | "none" | "off")).then(|| addr.trim().to_owned())
}

fn seconds(v: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v).with_context(|| format!("{flag}: expected a number of seconds"))
}

fn source(snapshot: &Option<PathBuf>) -> Source {
    match snapshot {
        Some(path) => Source::Snapshot(path.clone()),
        None => Source::Live,
    }
}

pub async fn serve(global: &Global, args: ServeArgs) -> anyhow::Result<ExitCode> {
    // A bad --mcp-allowed-origin or --mcp-allowed-host stops it before
    // anything is opened.
    guardian_api::mcp_http::OriginPolicy::new(
        false,
        &args.mcp_allowed_origins,
        &args.mcp_allowed_hosts,
    )?;
    let tokens = Tokens::load(&args.tokens_file)?;
    anyhow::ensure!(
        !tokens.is_empty() || args.token_review,
        "the tokens file {} lists no tokens; every call would be refused",
        args.tokens_file.display()
    );
    let options = global.options();
    let reviewer = if args.token_review {
        let rules = tokens.kubernetes.clone().with_context(|| {
            format!(
                "--token-review: the tokens file {} has no `kubernetes:` section saying which users get which role",
                args.tokens_file.display()
            )
        })?;
        let broker = guardian_core::session::connect(&options)
            .await
            .context("--token-review needs the cluster")?;
        Some(Arc::new(Reviewer::new(broker, rules)))
    } else {
        None
    };
    let session = Session::open(&options, &source(&args.snapshot), None).await?;
    let skills_dir = guardian_core::session::skills_dir(&options, &session.config);
    let gate = Gate {
        tokens: Arc::new(tokens),
        audit: Arc::new(guardian_core::session::audit(&options)?),
        reviewer,
    };
    let api = Arc::new(Api::new(session, args.snapshot.is_some(), Some(gate))?);
    let reload = seconds(args.reload_interval, "--reload-interval")?;
    let serve_options = ServeOptions {
        grpc_listen: listen(&args.grpc_listen),
        mcp_listen: listen(&args.mcp_listen),
        http_listen: listen(&args.http_listen),
        drain_timeout: seconds(args.drain_timeout, "--drain-timeout")?,
        tls: args.tls_cert.map(|cert| TlsFiles {
            cert,
            key: args.tls_key.unwrap_or_default(),
            client_ca: args.tls_client_ca,
        }),
        skills_dir: skills_dir.filter(|_| !reload.is_zero()),
        reload_interval: reload,
        mcp_allowed_origins: args.mcp_allowed_origins,
        mcp_allowed_hosts: args.mcp_allowed_hosts,
    };
    eprintln!(
        "guardian serve: {} skills, {}",
        api.runtime.skills().len(),
        api.source
    );
    guardian_api::serve::serve(
        api,
        serve_options,
        guardian_api::serve::termination(),
        |b| {
            // One line on stdout, for scripts and tests: the bound addresses.
            println!("{}", b.line());
            use std::io::Write;
            let _ = std::io::stdout().flush();
        },
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn mcp(global: &Global, args: McpArgs) -> anyhow::Result<ExitCode> {
    // stdout is the MCP stream: nothing else may be written to it.
    if global
        .audit
        .as_deref()
        .is_some_and(|p| p.as_os_str() == "-")
    {
        anyhow::bail!(
            "--audit - would write into the MCP stream on stdout; give the audit log a file"
        );
    }
    let name = match args.identity {
        Some(n) => n,
        None => std::env::var("USER")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "local".into()),
    };
    // The person who started the server. There is no approve tool: the
    // approver role only lets a proposal ask this person, through an MCP
    // elicitation the client shows them, whether to approve it.
    let identity = Identity {
        name: name.trim().replace([':', ' '], "-"),
        role: Role::Approver,
    };
    let session = Session::open(&global.options(), &source(&args.snapshot), None).await?;
    let api = Arc::new(Api::new(session, args.snapshot.is_some(), None)?);
    guardian_api::mcp::serve_stdio(api, identity).await?;
    Ok(ExitCode::SUCCESS)
}
