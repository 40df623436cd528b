//! keelctl: etcdctl's commands, flags and output formats over keel-client.
//!
//! Every output is byte for byte what etcdctl 3.4 prints for the same
//! answer (`tests/tests/keelctl.rs` runs both against one server and
//! compares them), in each of the formats etcdctl offers for the command.
//! The commands live by group: `kv` (put, get, del, txn, compaction,
//! watch), `lease`, `cluster` (member, endpoint), `maintenance` (alarm,
//! defrag, move-leader, snapshot), `recipes` (lock, elect) and `check`
//! (perf); `output` has the formats' building blocks.

mod check;
mod cluster;
mod kv;
mod lease;
mod maintenance;
mod output;
mod recipes;
mod snapshot;

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use keel_client::{Client, ClientOptions, Error};

#[derive(Parser)]
#[command(
    name = "keelctl",
    version,
    about = "A command line client for keel (and etcd), after etcdctl"
)]
struct Cli {
    /// gRPC endpoints, comma-separated.
    #[arg(
        long,
        global = true,
        default_value = "127.0.0.1:2379",
        value_delimiter = ',',
        env = "KEELCTL_ENDPOINTS"
    )]
    endpoints: Vec<String>,
    /// Output format.
    #[arg(short = 'w', long = "write-out", global = true, value_enum,
          default_value_t = Format::Simple, env = "KEELCTL_WRITE_OUT")]
    write_out: Format,
    /// How long dialling an endpoint may take (a Go duration: 2s, 500ms).
    #[arg(long, global = true, default_value = "2s", value_parser = go_duration,
          env = "KEELCTL_DIAL_TIMEOUT")]
    dial_timeout: Duration,
    /// How long a command may take, retries included.
    #[arg(long, global = true, default_value = "5s", value_parser = go_duration,
          env = "KEELCTL_COMMAND_TIMEOUT")]
    command_timeout: Duration,
    #[command(subcommand)]
    command: Command,
}

/// etcdctl's `-w` formats.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// etcdctl's human-readable lines.
    Simple,
    /// The answer as JSON, keys and values in base64.
    Json,
    /// One `"Field" : value` line per field.
    Fields,
    /// A table (member list, endpoint commands).
    Table,
}

impl Format {
    /// etcdctl's refusal of a format a command does not print in.
    pub fn unsupported(self) -> Failure {
        let name = match self {
            Self::Simple => "simple",
            Self::Json => "json",
            Self::Fields => "fields",
            Self::Table => "table",
        };
        Failure::new(
            EXIT_BAD_FEATURE,
            format!("{name} not supported as output format (use -w simple, json or fields)"),
        )
    }
}

#[derive(Subcommand)]
enum Command {
    /// Puts the given key into the store.
    Put(kv::PutArgs),
    /// Gets the key or a range of keys.
    Get(kv::GetArgs),
    /// Removes the key or a range of keys.
    Del(kv::DelArgs),
    /// Runs a transaction read from standard input: compares, a blank line,
    /// the requests on success, a blank line, the requests on failure.
    Txn(kv::TxnArgs),
    /// Discards the history before the given revision.
    Compaction(kv::CompactionArgs),
    /// Prints the changes to a key or a range of keys until interrupted.
    Watch(kv::WatchArgs),
    /// Lease commands.
    #[command(subcommand)]
    Lease(lease::LeaseCommand),
    /// Membership commands.
    #[command(subcommand)]
    Member(cluster::MemberCommand),
    /// Status, health and hash of the endpoints (or of every member).
    #[command(subcommand)]
    Endpoint(cluster::EndpointCommand),
    /// Lists or disarms the cluster's alarms.
    #[command(subcommand)]
    Alarm(maintenance::AlarmCommand),
    /// Defragments the storage of the endpoints (or of every member).
    Defrag(maintenance::DefragArgs),
    /// Hands leadership to another member.
    MoveLeader(maintenance::MoveLeaderArgs),
    /// Snapshot commands.
    #[command(subcommand)]
    Snapshot(maintenance::SnapshotCommand),
    /// Takes a named lock, holding it until interrupted (or while running a
    /// command).
    Lock(recipes::LockArgs),
    /// Campaigns in a named election, leading until interrupted (or, with
    /// --listen, prints each leader).
    Elect(recipes::ElectArgs),
    /// Checks the cluster's performance.
    #[command(subcommand)]
    Check(check::CheckCommand),
}

/// etcdctl's exit status for a failed request.
pub const EXIT_ERROR: u8 = 1;
/// etcdctl's exit status for input it cannot use.
pub const EXIT_INVALID_INPUT: u8 = 3;
/// etcdctl's exit status for an output format a command lacks.
pub const EXIT_BAD_FEATURE: u8 = 4;
/// etcdctl's exit status when a watch or a lock ends without being asked.
pub const EXIT_INTERRUPTED: u8 = 5;

/// Why a command failed: what to print, and the exit status.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// A failure with `message` and exit status `code`.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Input keelctl cannot use.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(EXIT_INVALID_INPUT, message)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let code = match error {
            Error::InvalidArgument(_) | Error::InvalidEndpoint { .. } => EXIT_INVALID_INPUT,
            _ => EXIT_ERROR,
        };
        Self::new(code, describe(&error))
    }
}

/// What a command ends with.
pub type Outcome = Result<String, Failure>;

/// The error as etcdctl words it, with what to do next where that helps.
fn describe(error: &Error) -> String {
    match error {
        Error::Unavailable { endpoints, .. } => format!(
            "{error}\n(is keel or etcd running at {}? check --endpoints)",
            endpoints.join(",")
        ),
        Error::UnknownOutcome { .. } => format!(
            "{error}\n(the request may have been applied: read the key before trying again)"
        ),
        _ => error.to_string(),
    }
}

/// Parses a Go duration of one unit: `500ms`, `2s`, `1m`.
fn go_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| format!("missing unit in duration {text:?}"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in duration {text:?}")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

/// How keelctl reaches the cluster: the client over every endpoint, and
/// how to make one for a single endpoint (the endpoint commands ask each).
pub struct Context {
    /// The client over `--endpoints`, connected when first wanted (the
    /// endpoint commands ask each endpoint on its own, so a dead one must
    /// not stop them before they start).
    client: tokio::sync::OnceCell<Client>,
    /// The `--endpoints` given.
    pub endpoints: Vec<String>,
    /// The output format.
    pub format: Format,
    options: ClientOptions,
}

impl Context {
    /// The client over `--endpoints`.
    pub async fn client(&self) -> Result<&Client, Error> {
        self.client
            .get_or_try_init(|| Client::connect(self.endpoints.clone(), self.options.clone()))
            .await
    }

    /// A client of `endpoint` alone, with the same timeouts.
    pub async fn client_of(&self, endpoint: &str) -> Result<Client, Error> {
        Client::connect([endpoint.to_owned()], self.options.clone()).await
    }

    /// The command timeout.
    pub fn command_timeout(&self) -> Duration {
        self.options.request_timeout
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("Error: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(output) => {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(output.as_bytes());
            ExitCode::SUCCESS
        }
        Err(failure) => {
            let _ = std::io::stdout().flush();
            eprintln!("Error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

async fn run(cli: Cli) -> Outcome {
    let options = ClientOptions::new()
        .with_connect_timeout(cli.dial_timeout)
        .with_request_timeout(cli.command_timeout);
    let context = Context {
        client: tokio::sync::OnceCell::new(),
        endpoints: cli.endpoints,
        format: cli.write_out,
        options,
    };
    match cli.command {
        Command::Put(args) => kv::put(&context, args).await,
        Command::Get(args) => kv::get(&context, args).await,
        Command::Del(args) => kv::del(&context, args).await,
        Command::Txn(args) => kv::txn(&context, args).await,
        Command::Compaction(args) => kv::compaction(&context, args).await,
        Command::Watch(args) => kv::watch(&context, args).await,
        Command::Lease(command) => lease::run(&context, command).await,
        Command::Member(command) => cluster::member(&context, command).await,
        Command::Endpoint(command) => cluster::endpoint(&context, command).await,
        Command::Alarm(command) => maintenance::alarm(&context, command).await,
        Command::Defrag(args) => maintenance::defrag(&context, args).await,
        Command::MoveLeader(args) => maintenance::move_leader(&context, args).await,
        Command::Snapshot(command) => maintenance::snapshot(&context, command).await,
        Command::Lock(args) => recipes::lock(&context, args).await,
        Command::Elect(args) => recipes::elect(&context, args).await,
        Command::Check(command) => check::run(&context, command).await,
    }
}
