//! `keeld`: keel's etcd-compatible server. See `keeld --help`.

use clap::Parser;
use keel_server::config::Config;

fn main() -> std::process::ExitCode {
    let config = Config::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEEL_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{},openraft=warn",
            config.log_level.directive()
        ))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("keeld: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(keel_server::server::run(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("keeld: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
