//! The maintenance commands: alarm, defrag, move-leader and snapshot.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressStyle};
use keel_client::proto::etcdserverpb::AlarmResponse;
use keel_client::{AlarmAction, AlarmType};
use tokio::io::AsyncBufReadExt as _;

use crate::cluster::{ask_each, endpoints, Which};
use crate::output::{array, header_json, Fields, Object};
use crate::{Context, Failure, Format, Outcome, EXIT_ERROR};

/// etcdctl's exit status for arguments it cannot use (move-leader's).
const EXIT_BAD_ARGS: u8 = 128;

#[derive(clap::Subcommand)]
pub enum AlarmCommand {
    /// Lists the raised alarms.
    List,
    /// Clears every alarm.
    Disarm,
}

/// Runs an alarm command.
pub async fn alarm(context: &Context, command: AlarmCommand) -> Outcome {
    let action = match command {
        AlarmCommand::List => AlarmAction::Get,
        AlarmCommand::Disarm => AlarmAction::Deactivate,
    };
    let answer = context
        .client()
        .await?
        .alarm(action, 0, AlarmType::None)
        .await?;
    print_alarms(context.format, &answer)
}

fn print_alarms(format: Format, answer: &AlarmResponse) -> Outcome {
    Ok(match format {
        // Go's `%+v` of the protobuf message.
        Format::Simple => answer.alarms.iter().fold(String::new(), |mut text, alarm| {
            let _ = writeln!(
                text,
                "memberID:{} alarm:{} ",
                alarm.member_id,
                alarm.alarm().as_str_name()
            );
            text
        }),
        Format::Json => {
            let mut object = Object::default();
            if answer.header.is_some() {
                object.raw("header", header_json(answer.header.as_ref()));
            }
            if !answer.alarms.is_empty() {
                let alarms = answer.alarms.iter().map(|alarm| {
                    let mut item = Object::default();
                    item.number("memberID", alarm.member_id);
                    item.number("alarm", alarm.alarm);
                    item.render()
                });
                object.raw("alarms", array(alarms));
            }
            object.line()
        }
        Format::Fields => {
            let mut fields = Fields::default();
            fields.header(answer.header.as_ref());
            for alarm in &answer.alarms {
                fields
                    .field("MemberID", alarm.member_id)
                    .field("AlarmType", alarm.alarm().as_str_name())
                    .blank();
            }
            fields.done()
        }
        Format::Table => return Err(format.unsupported()),
    })
}

/// `defrag`'s arguments.
#[derive(clap::Args)]
pub struct DefragArgs {
    #[command(flatten)]
    which: Which,
}

/// `defrag`: one line per endpoint, in every format.
pub async fn defrag(context: &Context, args: DefragArgs) -> Outcome {
    let endpoints = endpoints(context, &args.which).await?;
    let mut text = String::new();
    let mut failed = false;
    for endpoint in &endpoints {
        let done = match context.client_of(endpoint).await {
            Ok(client) => client.defragment().await.map(drop),
            Err(error) => Err(error),
        };
        match done {
            Ok(()) => {
                let _ = writeln!(text, "Finished defragmenting etcd member[{endpoint}]");
            }
            Err(error) => {
                failed = true;
                eprintln!("Failed to defragment etcd member[{endpoint}] ({error})");
            }
        }
    }
    if failed {
        print!("{text}");
        return Err(Failure::new(
            EXIT_ERROR,
            "some members were not defragmented",
        ));
    }
    Ok(text)
}

/// `move-leader`'s arguments.
#[derive(clap::Args)]
pub struct MoveLeaderArgs {
    /// The hex ID of the member to lead.
    target: String,
}

/// `move-leader`: finds the leader among the endpoints and asks it to hand
/// leadership to the target.
pub async fn move_leader(context: &Context, args: MoveLeaderArgs) -> Outcome {
    let target = u64::from_str_radix(&args.target, 16).map_err(|_| {
        Failure::new(
            EXIT_BAD_ARGS,
            format!(
                "bad member ID ({}), expecting ID in Hex (see member list)",
                args.target
            ),
        )
    })?;
    let (answers, _) = ask_each(context, &context.endpoints, "status", |client| async move {
        let status = client.status().await?;
        Ok((client, status))
    })
    .await;
    let leader = answers.into_iter().find(|(_, (_, status))| {
        status
            .header
            .is_some_and(|header| header.member_id == status.leader)
    });
    let Some((_, (client, status))) = leader else {
        return Err(Failure::new(
            EXIT_BAD_ARGS,
            format!(
                "no leader endpoint given at [{}] (give the leader's endpoint too; \
                 endpoint status --cluster shows which it is)",
                context.endpoints.join(" ")
            ),
        ));
    };
    client.move_leader(target).await?;
    Ok(format!(
        "Leadership transferred from {:x} to {target:x}\n",
        status.leader
    ))
}

#[derive(clap::Subcommand)]
pub enum SnapshotCommand {
    /// Saves a snapshot of the endpoint's store to a file (one endpoint
    /// only), with a progress bar on a terminal.
    Save {
        /// The file to write.
        path: PathBuf,
    },
    /// Checks a saved keel snapshot file and prints its hash (the file's
    /// crc32), revision, entry count and size.
    Status {
        /// The snapshot file.
        path: PathBuf,
    },
    /// Creates a new member's data directory from a keel snapshot file,
    /// offline: runs `keeld --restore-snapshot --restore-only` (keeld next
    /// to keelctl, or on the PATH) with these flags; then start keeld on
    /// the directory with the same flags. The member starts a new
    /// one-member cluster with the snapshot's keys and revisions.
    Restore(RestoreArgs),
}

/// `snapshot restore`'s arguments: keeld's flags of the same names, with
/// keeld's defaults when left out.
#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The snapshot file.
    path: PathBuf,
    /// The data directory to create (default: `<name>.keel`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The member's name.
    #[arg(long)]
    name: Option<String>,
    /// The new cluster: this one member, `name=peer-url`.
    #[arg(long)]
    initial_cluster: Option<String>,
    /// The new cluster's token.
    #[arg(long)]
    initial_cluster_token: Option<String>,
    /// The member's peer URLs.
    #[arg(long)]
    initial_advertise_peer_urls: Option<String>,
}

/// Runs a snapshot command.
pub async fn snapshot(context: &Context, command: SnapshotCommand) -> Outcome {
    match command {
        SnapshotCommand::Save { path } => save(context, path).await,
        SnapshotCommand::Restore(args) => restore(args).await,
        SnapshotCommand::Status { path } => {
            let bytes = read_file(&path)?;
            let status = crate::snapshot::status(&bytes)
                .map_err(|why| Failure::new(EXIT_ERROR, format!("{}: {why}", path.display())))?;
            Ok(print_snapshot_status(context.format, &status))
        }
    }
}

/// Streams the snapshot into `<path>.part`, syncs it and renames it to
/// `path`, so a file at `path` is always whole.
#[allow(
    clippy::disallowed_methods,
    reason = "a CLI writing the file its user named, not the server's storage"
)]
async fn save(context: &Context, path: PathBuf) -> Outcome {
    if context.endpoints.len() != 1 {
        return Err(Failure::invalid(format!(
            "snapshot must be requested to one selected node, not multiple [{}] \
             (pass one --endpoints)",
            context.endpoints.join(" ")
        )));
    }
    let mut partial = path.clone().into_os_string();
    partial.push(".part");
    let partial = PathBuf::from(partial);
    let io_error = |what: &str, error: std::io::Error| {
        Failure::new(
            EXIT_ERROR,
            format!("could not {what} {}: {error}", partial.display()),
        )
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    // The snapshot holds every key: readable by its owner only, as
    // etcdctl writes it.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&partial).map_err(|e| io_error("create", e))?;
    let mut chunks = Box::pin(context.client().await?.snapshot().await?);
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{bytes}/{total_bytes} [{bar:40}] {bytes_per_sec}, {eta} left",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let mut received = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                bar.abandon();
                let _ = std::fs::remove_file(&partial);
                return Err(error.into());
            }
        };
        file.write_all(&chunk.blob)
            .map_err(|e| io_error("write", e))?;
        received += chunk.blob.len() as u64;
        bar.set_length(received + chunk.remaining_bytes);
        bar.set_position(received);
    }
    bar.finish_and_clear();
    file.sync_all().map_err(|e| io_error("sync", e))?;
    drop(file);
    std::fs::rename(&partial, &path).map_err(|e| io_error("rename", e))?;
    Ok(format!("Snapshot saved at {}\n", path.display()))
}

#[allow(
    clippy::disallowed_methods,
    reason = "a CLI reading the file its user named, not the server's storage"
)]
fn read_file(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|error| {
        Failure::new(
            EXIT_ERROR,
            format!("could not read {}: {error}", path.display()),
        )
    })
}

fn print_snapshot_status(format: Format, status: &crate::snapshot::Status) -> String {
    let row = || {
        vec![
            format!("{:x}", status.hash),
            status.revision.to_string(),
            status.total_keys.to_string(),
            crate::output::human_bytes(status.total_size),
        ]
    };
    match format {
        Format::Simple => format!("{}\n", row().join(", ")),
        Format::Json => format!(
            "{{\"hash\":{},\"revision\":{},\"totalKey\":{},\"totalSize\":{}}}\n",
            status.hash, status.revision, status.total_keys, status.total_size
        ),
        Format::Fields => Fields::default()
            .field("Hash", status.hash)
            .field("Revision", status.revision)
            .field("Keys", status.total_keys)
            .field("Size", status.total_size)
            .done(),
        Format::Table => {
            let mut table =
                crate::output::Table::new(&["hash", "revision", "total keys", "total size"]);
            table.row(row());
            table.render()
        }
    }
}

/// keeld: beside keelctl when they were installed together, else on the
/// PATH.
fn keeld() -> PathBuf {
    std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name("keeld"))
        .filter(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("keeld"))
}

/// `snapshot restore`: keeld does it (the store is RocksDB, which keelctl
/// does not link) and reports its progress, drawn as a bar on a terminal.
async fn restore(args: RestoreArgs) -> Outcome {
    if args
        .initial_cluster
        .as_deref()
        .is_some_and(|cluster| cluster.contains(','))
    {
        return Err(Failure::invalid(
            "keel restores one member: give --initial-cluster just this member, start it, \
             then add the others with member add",
        ));
    }
    let mut command = tokio::process::Command::new(keeld());
    command
        .arg(format!("--restore-snapshot={}", args.path.display()))
        .arg("--restore-only")
        .arg("--log-level=warn");
    let flags = [
        (
            "--data-dir",
            args.data_dir.map(|dir| dir.display().to_string()),
        ),
        ("--name", args.name),
        ("--initial-cluster", args.initial_cluster),
        ("--initial-cluster-token", args.initial_cluster_token),
        (
            "--initial-advertise-peer-urls",
            args.initial_advertise_peer_urls,
        ),
    ];
    for (flag, value) in flags {
        if let Some(value) = value {
            command.arg(format!("{flag}={value}"));
        }
    }
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let not_run = |error: std::io::Error| {
        Failure::new(
            EXIT_ERROR,
            format!("could not run keeld ({error}): install it beside keelctl or on the PATH"),
        )
    };
    let mut child = command.spawn().map_err(not_run)?;
    // keeld prints `restored <done> of <total> bytes` as it imports.
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bytes}/{total_bytes} [{bar:40}] {percent}% restored")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    if let Some(stdout) = child.stdout.take() {
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let counts = line
                .strip_prefix("restored ")
                .and_then(|rest| rest.strip_suffix(" bytes"))
                .and_then(|rest| rest.split_once(" of "))
                .and_then(|(done, total)| Some((done.parse().ok()?, total.parse().ok()?)));
            if let Some((done, total)) = counts {
                bar.set_length(total);
                bar.set_position(done);
            }
        }
    }
    let ran = child.wait_with_output().await;
    bar.finish_and_clear();
    let ran = ran.map_err(not_run)?;
    if !ran.status.success() {
        let said = String::from_utf8_lossy(&ran.stderr);
        return Err(Failure::new(
            EXIT_ERROR,
            format!("the restore failed: {}", said.trim()),
        ));
    }
    Ok(String::new())
}
