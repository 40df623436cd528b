//! keelctl: etcdctl's commands, flags and output formats over keel-client.
//!
//! This first cut has `put`, `get`, `del` and `member list` with the
//! `simple` and `json` output formats, and the `lease` commands in the
//! `simple` format; the other commands follow (issue 6). Every output is
//! byte for byte what etcdctl 3.4 prints for the same answer
//! (`tests/tests/keelctl.rs` compares the two against one server).

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine as _;
use clap::{Parser, Subcommand, ValueEnum};
use keel_client::proto::etcdserverpb::ResponseHeader;
use keel_client::proto::mvccpb::KeyValue;
use keel_client::{Client, ClientOptions, DeleteOptions, Error, GetOptions, PutOptions};

#[derive(Parser)]
#[command(
    name = "keelctl",
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

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// etcdctl's human-readable lines.
    Simple,
    /// The answer as JSON, keys and values in base64.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Puts the given key into the store.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// Attaches the key to a lease (hex ID).
        #[arg(long, default_value = "0")]
        lease: String,
        /// Prints the previous key-value pair.
        #[arg(long)]
        prev_kv: bool,
        /// Keeps the current value.
        #[arg(long)]
        ignore_value: bool,
        /// Keeps the current lease.
        #[arg(long)]
        ignore_lease: bool,
    },
    /// Gets the key or a range of keys.
    Get {
        #[command(flatten)]
        keys: KeyRange,
        /// At most this many keys.
        #[arg(long, default_value_t = 0)]
        limit: i64,
        /// At this revision.
        #[arg(long, default_value_t = 0)]
        rev: i64,
        /// Serializable (local, possibly stale) instead of linearizable.
        #[arg(long, default_value = "l")]
        consistency: String,
        /// Only the keys.
        #[arg(long)]
        keys_only: bool,
        /// Only the values.
        #[arg(long)]
        print_value_only: bool,
    },
    /// Removes the key or a range of keys.
    Del {
        #[command(flatten)]
        keys: KeyRange,
        /// Prints the deleted key-value pairs.
        #[arg(long)]
        prev_kv: bool,
    },
    /// Lease commands.
    #[command(subcommand)]
    Lease(LeaseCommand),
    /// Membership commands.
    #[command(subcommand)]
    Member(MemberCommand),
}

#[derive(Subcommand)]
enum MemberCommand {
    /// Lists the cluster's members.
    List,
}

/// Runs a member command.
async fn member(client: &Client, format: Format, command: MemberCommand) -> Result<String, Error> {
    match command {
        MemberCommand::List => {
            let answer = client.member_list().await?;
            Ok(match format {
                Format::Simple => {
                    let mut text = String::new();
                    for member in &answer.members {
                        let status = if member.name.is_empty() {
                            "unstarted"
                        } else {
                            "started"
                        };
                        let _ = writeln!(
                            text,
                            "{:x}, {status}, {}, {}, {}, {}",
                            member.id,
                            member.name,
                            member.peer_ur_ls.join(","),
                            member.client_ur_ls.join(","),
                            member.is_learner
                        );
                    }
                    text
                }
                Format::Json => {
                    let mut object = Object::default();
                    object.raw("header", header_json(answer.header.as_ref()));
                    let members = answer.members.iter().map(|member| {
                        let mut fields = Object::default();
                        fields.number("ID", member.id);
                        fields.string("name", &member.name);
                        fields.strings("peerURLs", &member.peer_ur_ls);
                        fields.strings("clientURLs", &member.client_ur_ls);
                        if member.is_learner {
                            fields.raw("isLearner", "true".into());
                        }
                        fields.render()
                    });
                    object.raw("members", array(members));
                    object.line()
                }
            })
        }
    }
}

#[derive(Subcommand)]
enum LeaseCommand {
    /// Creates a lease of the given TTL in seconds.
    Grant {
        /// The TTL in seconds.
        ttl: i64,
    },
    /// Revokes a lease (hex ID), deleting its keys.
    Revoke {
        /// The lease's hex ID.
        id: String,
    },
    /// Shows a lease's granted and remaining TTL.
    Timetolive {
        /// The lease's hex ID.
        id: String,
        /// Also lists the keys attached to it.
        #[arg(long)]
        keys: bool,
    },
    /// Lists every lease.
    List,
    /// Renews a lease until interrupted (or once, with --once).
    KeepAlive {
        /// The lease's hex ID.
        id: String,
        /// Renews once and exits.
        #[arg(long)]
        once: bool,
    },
}

/// A lease ID as etcdctl takes it: hex.
fn lease_id(text: &str) -> Result<i64, Error> {
    u64::from_str_radix(text, 16)
        .map(|id| id as i64)
        .map_err(|_| Error::InvalidArgument(format!("bad lease ID ({text}), expecting ID in Hex")))
}

/// Runs a lease command, printing as etcdctl's simple format does.
async fn lease(client: &Client, format: Format, command: LeaseCommand) -> Result<String, Error> {
    if format != Format::Simple {
        return Err(Error::InvalidArgument(
            "keelctl prints lease commands in the simple format only so far (drop -w)".into(),
        ));
    }
    Ok(match command {
        LeaseCommand::Grant { ttl } => {
            let granted = client.lease_grant(ttl, 0).await?;
            format!(
                "lease {:016x} granted with TTL({}s)\n",
                granted.id, granted.ttl
            )
        }
        LeaseCommand::Revoke { id } => {
            let id = lease_id(&id)?;
            client.lease_revoke(id).await?;
            format!("lease {id:016x} revoked\n")
        }
        LeaseCommand::Timetolive { id, keys } => {
            let id = lease_id(&id)?;
            let answer = client.lease_time_to_live(id, keys).await?;
            if answer.granted_ttl == 0 && answer.ttl == -1 {
                format!("lease {id:016x} already expired\n")
            } else {
                let mut text = format!(
                    "lease {id:016x} granted with TTL({}s), remaining({}s)",
                    answer.granted_ttl, answer.ttl
                );
                if keys {
                    let names: Vec<String> = answer
                        .keys
                        .iter()
                        .map(|key| String::from_utf8_lossy(key).into_owned())
                        .collect();
                    let _ = write!(text, ", attached keys([{}])", names.join(" "));
                }
                text.push('\n');
                text
            }
        }
        LeaseCommand::List => {
            let answer = client.lease_leases().await?;
            let mut text = format!("found {} leases\n", answer.leases.len());
            for lease in &answer.leases {
                let _ = writeln!(text, "{:016x}", lease.id);
            }
            text
        }
        LeaseCommand::KeepAlive { id, once } => {
            let id = lease_id(&id)?;
            if once {
                let ttl = client.lease_keep_alive_once(id).await?;
                format!("lease {id:016x} keepalived with TTL({ttl})\n")
            } else {
                keep_alive_forever(client, id).await?
            }
        }
    })
}

/// Renews `id` until the lease is lost, printing each renewal as etcdctl
/// does.
async fn keep_alive_forever(client: &Client, id: i64) -> Result<String, Error> {
    loop {
        let ttl = client.lease_keep_alive_once(id).await?;
        println!("lease {id:016x} keepalived with TTL({ttl})");
        tokio::time::sleep(std::time::Duration::from_secs((ttl as u64 / 3).max(1))).await;
    }
}

/// The keys a `get` or `del` covers, in etcdctl's arguments.
#[derive(clap::Args)]
struct KeyRange {
    /// The key.
    key: String,
    /// The end of the range `[key, range_end)`.
    range_end: Option<String>,
    /// Every key with the prefix `key`.
    #[arg(long)]
    prefix: bool,
    /// Every key from `key` on.
    #[arg(long)]
    from_key: bool,
}

/// Applies a [`KeyRange`] to `GetOptions` or `DeleteOptions`, which share
/// their range setters (not a trait), and gives the key.
macro_rules! with_key_range {
    ($options:expr, $keys:expr) => {{
        let KeyRange {
            key,
            range_end,
            prefix,
            from_key,
        } = $keys;
        let options = match (range_end, prefix, from_key) {
            (Some(end), _, _) => $options.with_range(end),
            (None, true, _) => $options.with_prefix(),
            (None, false, true) => $options.with_from_key(),
            (None, false, false) => $options,
        };
        (key, options)
    }};
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
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

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

async fn run(cli: Cli) -> Result<(), Error> {
    let options = ClientOptions::new()
        .with_connect_timeout(cli.dial_timeout)
        .with_request_timeout(cli.command_timeout);
    let client = Client::connect(cli.endpoints.clone(), options).await?;
    let output = match cli.command {
        Command::Put {
            key,
            value,
            lease,
            prev_kv,
            ignore_value,
            ignore_lease,
        } => {
            put(
                &client,
                cli.write_out,
                key,
                value,
                &lease,
                [prev_kv, ignore_value, ignore_lease],
            )
            .await?
        }
        Command::Get {
            keys,
            limit,
            rev,
            consistency,
            keys_only,
            print_value_only,
        } => {
            let (key, mut options) =
                with_key_range!(GetOptions::new().with_limit(limit).with_revision(rev), keys);
            if consistency == "s" {
                options = options.with_serializable();
            } else if consistency != "l" {
                return Err(Error::InvalidArgument(format!(
                    "unknown consistency flag {consistency:?} (use l or s)"
                )));
            }
            if keys_only {
                options = options.with_keys_only();
            }
            let answer = client.get(key, Some(options)).await?;
            match cli.write_out {
                Format::Simple => answer
                    .kvs
                    .iter()
                    .map(|kv| simple_kv(kv, print_value_only))
                    .collect(),
                Format::Json => {
                    let mut object = Object::default();
                    object.raw("header", header_json(answer.header.as_ref()));
                    if !answer.kvs.is_empty() {
                        object.raw("kvs", array(answer.kvs.iter().map(kv_json)));
                    }
                    if answer.more {
                        object.raw("more", "true".into());
                    }
                    object.number("count", answer.count);
                    object.line()
                }
            }
        }
        Command::Del { keys, prev_kv } => {
            let (key, mut options) = with_key_range!(DeleteOptions::new(), keys);
            if prev_kv {
                options = options.with_prev_key();
            }
            let answer = client.delete(key, Some(options)).await?;
            match cli.write_out {
                Format::Simple => {
                    let mut text = format!("{}\n", answer.deleted);
                    for kv in &answer.prev_kvs {
                        text.push_str(&simple_kv(kv, false));
                    }
                    text
                }
                Format::Json => {
                    let mut object = Object::default();
                    object.raw("header", header_json(answer.header.as_ref()));
                    object.number("deleted", answer.deleted);
                    if !answer.prev_kvs.is_empty() {
                        object.raw("prev_kvs", array(answer.prev_kvs.iter().map(kv_json)));
                    }
                    object.line()
                }
            }
        }
        Command::Lease(command) => lease(&client, cli.write_out, command).await?,
        Command::Member(command) => member(&client, cli.write_out, command).await?,
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(output.as_bytes());
    Ok(())
}

async fn put(
    client: &Client,
    format: Format,
    key: String,
    value: String,
    lease: &str,
    [prev_kv, ignore_value, ignore_lease]: [bool; 3],
) -> Result<String, Error> {
    let lease = i64::from_str_radix(lease, 16).map_err(|_| {
        Error::InvalidArgument(format!("bad lease ID ({lease}), expecting ID in Hex"))
    })?;
    let mut options = PutOptions::new().with_lease(lease);
    if prev_kv {
        options = options.with_prev_key();
    }
    if ignore_value {
        options = options.with_ignore_value();
    }
    if ignore_lease {
        options = options.with_ignore_lease();
    }
    let answer = client.put(key, value, Some(options)).await?;
    Ok(match format {
        Format::Simple => {
            let mut text = "OK\n".to_string();
            if let Some(previous) = &answer.prev_kv {
                text.push_str(&simple_kv(previous, false));
            }
            text
        }
        Format::Json => {
            let mut object = Object::default();
            object.raw("header", header_json(answer.header.as_ref()));
            if let Some(previous) = &answer.prev_kv {
                object.raw("prev_kv", kv_json(previous));
            }
            object.line()
        }
    })
}

/// etcdctl's simple lines for one key: the key, then the value.
fn simple_kv(kv: &KeyValue, value_only: bool) -> String {
    let mut text = String::new();
    if !value_only {
        text.push_str(&String::from_utf8_lossy(&kv.key));
        text.push('\n');
    }
    text.push_str(&String::from_utf8_lossy(&kv.value));
    text.push('\n');
    text
}

/// A JSON object written field by field in the order given, as Go's
/// encoding/json writes a struct (etcdctl's `-w json`), zero numbers and
/// empty fields left out (`omitempty`).
#[derive(Default)]
struct Object(Vec<(&'static str, String)>);

impl Object {
    /// A field whose value is already JSON.
    fn raw(&mut self, name: &'static str, json: String) {
        self.0.push((name, json));
    }
    /// A number field, left out when zero.
    fn number<N: std::fmt::Display + Default + PartialEq + Copy>(
        &mut self,
        name: &'static str,
        number: N,
    ) {
        if number != N::default() {
            self.0.push((name, number.to_string()));
        }
    }
    /// A bytes field in base64, left out when empty.
    fn bytes(&mut self, name: &'static str, bytes: &[u8]) {
        if !bytes.is_empty() {
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
            self.0.push((name, format!("\"{encoded}\"")));
        }
    }
    /// A string field, left out when empty.
    fn string(&mut self, name: &'static str, text: &str) {
        if !text.is_empty() {
            self.0.push((name, quoted(text)));
        }
    }
    /// A list of strings, left out when empty.
    fn strings(&mut self, name: &'static str, texts: &[String]) {
        if !texts.is_empty() {
            self.0
                .push((name, array(texts.iter().map(|text| quoted(text)))));
        }
    }
    fn render(&self) -> String {
        let fields: Vec<String> = self
            .0
            .iter()
            .map(|(name, value)| format!("\"{name}\":{value}"))
            .collect();
        format!("{{{}}}", fields.join(","))
    }
    fn line(&self) -> String {
        format!("{}\n", self.render())
    }
}

/// A JSON string as Go's encoding/json writes it: quotes, backslashes and
/// control characters escaped, and `<`, `>`, `&` too (Go's HTML-safe
/// default).
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn array(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(","))
}

/// A response header as etcdctl's JSON prints it.
fn header_json(header: Option<&ResponseHeader>) -> String {
    let header = header.copied().unwrap_or_default();
    let mut object = Object::default();
    object.number("cluster_id", header.cluster_id);
    object.number("member_id", header.member_id);
    object.number("revision", header.revision);
    object.number("raft_term", header.raft_term);
    object.render()
}

/// A key-value pair as etcdctl's JSON prints it.
fn kv_json(kv: &KeyValue) -> String {
    let mut object = Object::default();
    object.bytes("key", &kv.key);
    object.number("create_revision", kv.create_revision);
    object.number("mod_revision", kv.mod_revision);
    object.number("version", kv.version);
    object.bytes("value", &kv.value);
    object.number("lease", kv.lease);
    object.render()
}
