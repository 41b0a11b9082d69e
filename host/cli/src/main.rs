//! `guardian`: the command line. Parses arguments, wires the core crates
//! together, prints. No logic here that the core crates lack.

/// The host parses and copies JSON for every call a skill makes; mimalloc
/// serves those many short-lived allocations faster than the system's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod actions;
mod argocd;
mod args;
mod ask;
mod capture;
mod diagnose;
mod doctor;
mod investigations;
mod output;
mod rightsize;
mod serve;
mod skills;
mod snapshot;
mod usage;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: args::Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        args::Command::Skills(cmd) => skills::run(&cli.global, cmd).await,
        args::Command::Snapshot(cmd) => snapshot::run(&cli.global, cmd).await,
        args::Command::Diagnose(args) => diagnose::run(&cli.global, args).await,
        args::Command::Rightsize(args) => rightsize::run(&cli.global, args).await,
        args::Command::Usage(args) => usage::run(&cli.global, args).await,
        args::Command::Argocd(args) => argocd::run(&cli.global, args).await,
        args::Command::Doctor { namespace } => doctor::run(&cli.global, namespace).await,
        args::Command::Actions(cmd) => actions::run(&cli.global, cmd).await,
        args::Command::Ask(args) => ask::ask(&cli.global, args).await,
        args::Command::Eval(args) => ask::eval(&cli.global, args).await,
        args::Command::Serve(args) => serve::serve(&cli.global, args).await,
        args::Command::Mcp(args) => serve::mcp(&cli.global, args).await,
        args::Command::Investigations(cmd) => investigations::run(&cli.global, cmd).await,
        args::Command::Version => {
            println!("guardian {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    // kube's client logs every failed request at ERROR; Guardian reports
    // each failure itself (with what to do), so those lines only show with -v.
    let default = match verbose {
        0 => "warn,kube_client=off,guardian::notice=info",
        1 => "info,guardian=info",
        2 => "debug,wasmtime=info,cranelift=info",
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_env("GUARDIAN_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, never in files or pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    if verbose == 0 {
        // What the core says to the person (a warning, a note) reads as a
        // command's own line: `warning: …`.
        builder.event_format(Plain).init();
    } else {
        builder.init();
    }
}

/// `warning: message key=value`, without time or target.
struct Plain;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for Plain
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let prefix = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            tracing::Level::INFO => "note",
            _ => "debug",
        };
        write!(writer, "{prefix}: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
