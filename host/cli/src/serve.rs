//! `guardian serve` and `guardian mcp`: wiring only — the gRPC service, the
//! MCP server, authentication and the serve loop are `guardian_api`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use guardian_api::Api;
use guardian_api::auth::{Gate, Identity, Reviewer, Role, Tokens};
use guardian_api::serve::{ServeOptions, TlsFiles};
use guardian_core::{Session, Source};

use crate::args::{Global, McpArgs, ServeArgs};

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
    let rules = if args.token_review {
        Some(tokens.kubernetes.clone().with_context(|| {
            format!(
                "--token-review: the tokens file {} has no `kubernetes:` section saying which users get which role",
                args.tokens_file.display()
            )
        })?)
    } else {
        None
    };
    let session = Session::open(&options, &source(&args.snapshot), None).await?;
    let reviewer = match rules {
        Some(rules) => {
            let broker = session
                .live_broker()
                .await
                .context("--token-review needs the cluster")?;
            Some(Arc::new(Reviewer::new(broker, rules)))
        }
        None => None,
    };
    let skills_dir = guardian_core::session::skills_dir(&options, session.config());
    // Access refusals go to the session's one audit sink.
    let gate = Gate {
        tokens: Arc::new(tokens),
        audit: session.audit().clone(),
        reviewer,
    };
    let mut api = Api::new(session, Some(gate));
    if let (Some(target), Some(token_file)) = (&args.fan_out, &args.fan_out_token_file) {
        let token = std::fs::read_to_string(token_file)
            .with_context(|| format!("reading the fan-out token file {}", token_file.display()))?;
        api = api.with_fan_out(guardian_api::fanout::FanOut::parse(target, token)?);
    }
    let api = Arc::new(api);
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
        api.runtime().skills().len(),
        api.session.source()
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
    let api = Arc::new(Api::new(session, None));
    guardian_api::mcp::serve_stdio(api, identity).await?;
    Ok(ExitCode::SUCCESS)
}
