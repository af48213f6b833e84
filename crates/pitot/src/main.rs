//! The `pitot` binary: parses the command line and wires the library crates together.
//! It holds no engine logic of its own.

/// mimalloc instead of the system allocator: ingest allocates many small, short-lived
/// buffers (decoded labels), and glibc malloc spent about half of the ingest CPU on them
/// (perf profile of the shared remote-write workload).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin;
mod bootstrap;
mod check_cli;
mod cli;
mod config;
mod datasource_cli;
mod memory;
mod metadata_task;
mod ops_cli;
mod out;
mod remote;
mod rules_cli;
mod runtime_overrides;
mod serve;
mod usage_task;
mod wal_disk_metrics;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    memory::decline_transparent_huge_pages();
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PITOT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.downcast_ref::<out::StdoutClosed>().is_some() => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn ops_target(remote: cli::RemoteArgs) -> anyhow::Result<ops_cli::Target> {
    Ok(ops_cli::Target {
        address: remote.address,
        token: remote
            .token
            .ok_or_else(|| anyhow::anyhow!("give a token with --token or PITOT_TOKEN"))?,
    })
}

async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        cli::Command::Serve(args) => serve::serve(args.resolve()?).await,
        cli::Command::Promqltest {
            skip_native_histograms,
            paths,
        } => {
            let report = pitot_promql::promqltest::run_cli(
                &paths,
                skip_native_histograms,
                &mut std::io::stdout(),
            )?;
            anyhow::ensure!(
                report.failed() == 0,
                "{} PromQL test cases failed",
                report.failed()
            );
            Ok(())
        }
        cli::Command::Logqltest { paths } => {
            let args: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            let code = pitot_logql::logqltest::run_cli(&args);
            anyhow::ensure!(code == 0, "LogQL test cases failed");
            Ok(())
        }
        cli::Command::Rules {
            address,
            token,
            command,
        } => {
            let token = token.ok_or_else(|| {
                anyhow::anyhow!("give the tenant's token with --token or PITOT_TOKEN")
            })?;
            rules_cli::run(rules_cli::Target { address, token }, command).await
        }
        cli::Command::Limits { remote, command } => {
            ops_cli::limits(ops_target(remote)?, command).await
        }
        cli::Command::Datasource { remote, command } => {
            datasource_cli::run(ops_target(remote)?, command).await
        }
        cli::Command::Usage { remote, args } => ops_cli::usage(ops_target(remote)?, args).await,
        cli::Command::Cost { remote, args } => ops_cli::cost(ops_target(remote)?, args).await,
        cli::Command::Check {
            command: cli::CheckCommand::Config { file },
        } => check_cli::config(&file),
        cli::Command::Check {
            command: cli::CheckCommand::Rules { files },
        } => check_cli::rules(&files),
        cli::Command::Test {
            command: cli::TestCommand::Rules { run, files },
        } => {
            let passed = pitot_rules::run_cli(&files, &run, &mut std::io::stdout());
            anyhow::ensure!(passed, "rule unit tests failed");
            Ok(())
        }
        cli::Command::Tenant { data, command } => admin::tenant(&data.data_dir, command).await,
        cli::Command::Token { data, command } => admin::token(&data.data_dir, command).await,
    }
}
