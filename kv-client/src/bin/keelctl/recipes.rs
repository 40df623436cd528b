//! `lock` and `elect`, on keel-client's session recipes, which keep their
//! keys as etcd's clientv3 concurrency package does: keelctl and etcdctl
//! contend for the same locks and elections.

use std::io::Write as _;

use keel_client::proto::etcdserverpb::RangeResponse;
use keel_client::{Election, Error, GetOptions, Mutex, Session};

use crate::kv::print_get;
use crate::{Context, Failure, Format, Outcome, EXIT_ERROR};

/// `lock`'s arguments.
#[derive(clap::Args)]
pub struct LockArgs {
    /// The lock's name.
    name: String,
    /// A command to run while holding the lock (then release it); it gets
    /// the lock's key and revision in ETCD_LOCK_KEY and ETCD_LOCK_REV.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
    /// The session's lease TTL in seconds.
    #[arg(long, default_value_t = 10)]
    ttl: i64,
}

/// `elect`'s arguments.
#[derive(clap::Args)]
pub struct ElectArgs {
    /// The election's name.
    name: String,
    /// The value to lead with.
    proposal: Option<String>,
    /// Prints each leader's key and value instead of campaigning.
    #[arg(short, long)]
    listen: bool,
    /// The session's lease TTL in seconds.
    #[arg(long, default_value_t = 10)]
    ttl: i64,
}

/// Resolves on SIGINT or SIGTERM (SIGINT alone in the simulator, which
/// has no Unix signals).
async fn interrupted() {
    #[cfg(all(unix, not(madsim)))]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(any(not(unix), madsim))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Prints now (a lock or a leadership lasts until interrupted).
fn show(text: &str) {
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Reads `key` and fails with `lost` if it is gone.
async fn read_own_key(context: &Context, key: &str, lost: &str) -> Result<RangeResponse, Failure> {
    let answer = context.client().await?.get(key, None::<GetOptions>).await?;
    if answer.kvs.is_empty() {
        return Err(Failure::new(EXIT_ERROR, lost));
    }
    Ok(answer)
}

/// `lock`: waits for the lock, then holds it until interrupted (or runs
/// the command and releases it).
pub async fn lock(context: &Context, args: LockArgs) -> Outcome {
    // Refused before taking anything, as printing would refuse it after.
    if context.format == Format::Table {
        return Err(context.format.unsupported());
    }
    let mut session = Session::new(context.client().await?, args.ttl).await?;
    let mut mutex = Mutex::new(&session, &args.name);
    tokio::select! {
        locked = mutex.lock(&session) => { locked?; }
        () = interrupted() => {
            let _ = session.close().await;
            return Ok(String::new());
        }
    }
    if let Some((program, rest)) = args.command.split_first() {
        let status = tokio::process::Command::new(program)
            .args(rest)
            .env("ETCD_LOCK_KEY", mutex.key())
            .env("ETCD_LOCK_REV", mutex.revision().to_string())
            .status()
            .await;
        let released = mutex.unlock(&session).await;
        let _ = session.close().await;
        let status = status.map_err(|error| {
            Failure::new(EXIT_ERROR, format!("could not run {program}: {error}"))
        })?;
        released?;
        if !status.success() {
            return Err(Failure::new(EXIT_ERROR, format!("{program}: {status}")));
        }
        return Ok(String::new());
    }
    let held = read_own_key(context, mutex.key(), "lock lost on init").await?;
    show(&print_get(context.format, &held, false)?);
    tokio::select! {
        () = interrupted() => {
            mutex.unlock(&session).await?;
            let _ = session.close().await;
            Ok(String::new())
        }
        () = session.lost() => Err(Failure::new(EXIT_ERROR, "session expired")),
    }
}

/// `elect`: campaigns and leads until interrupted, or (`--listen`) prints
/// each leader as it comes.
pub async fn elect(context: &Context, args: ElectArgs) -> Outcome {
    // Refused before taking anything, as printing would refuse it after.
    if context.format == Format::Table {
        return Err(context.format.unsupported());
    }
    if args.listen {
        return listen(context, &args.name).await;
    }
    let Some(proposal) = args.proposal else {
        return Err(Failure::invalid(
            "elect takes an election name and a proposal (or --listen)",
        ));
    };
    let mut session = Session::new(context.client().await?, args.ttl).await?;
    let mut election = Election::new(&session, &args.name);
    tokio::select! {
        led = election.campaign(&session, &proposal) => { led?; }
        () = interrupted() => {
            let _ = session.close().await;
            return Ok(String::new());
        }
    }
    let leading = read_own_key(context, election.key(), "elect: session expired").await?;
    show(&print_get(context.format, &leading, false)?);
    tokio::select! {
        () = interrupted() => {
            election.resign(&session).await?;
            let _ = session.close().await;
            Ok(String::new())
        }
        () = session.lost() => Err(Failure::new(EXIT_ERROR, "elect: session expired")),
    }
}

/// Prints each leader of election `name` until interrupted.
async fn listen(context: &Context, name: &str) -> Outcome {
    let mut leaders = Election::observe(context.client().await?, name);
    loop {
        tokio::select! {
            leader = leaders.recv() => match leader {
                Some(Ok(kv)) => {
                    let answer = RangeResponse {
                        count: 1,
                        kvs: vec![kv],
                        ..RangeResponse::default()
                    };
                    show(&print_get(context.format, &answer, false)?);
                }
                Some(Err(error)) => return Err(error.into()),
                None => return Err(Error::InvalidArgument("the observing ended".into()).into()),
            },
            () = interrupted() => return Ok(String::new()),
        }
    }
}
