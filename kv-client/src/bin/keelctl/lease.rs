//! The lease commands. etcdctl prints lease IDs as `%016x` in the simple
//! format and as decimal numbers in the others; its JSON is clientv3's
//! structs, whose response header is embedded (its fields in place).

use std::fmt::Write as _;
use std::io::Write as _;

use keel_client::proto::etcdserverpb::LeaseKeepAliveResponse;
use keel_client::Error;

use crate::output::{array, base64_json, header_json, Fields, Object};
use crate::{Context, Failure, Format, Outcome};

#[derive(clap::Subcommand)]
pub enum LeaseCommand {
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
pub fn parse_id(text: &str) -> Result<i64, Failure> {
    u64::from_str_radix(text, 16)
        .map(|id| id as i64)
        .map_err(|_| Failure::invalid(format!("bad lease ID ({text}), expecting ID in Hex")))
}

/// Runs a lease command.
pub async fn run(context: &Context, command: LeaseCommand) -> Outcome {
    let client = context.client().await?;
    let format = context.format;
    if format == Format::Table {
        return Err(format.unsupported());
    }
    Ok(match command {
        LeaseCommand::Grant { ttl } => {
            let granted = client.lease_grant(ttl, 0).await?;
            match format {
                Format::Json => {
                    let mut object = Object::default();
                    object.flat_header(granted.header.as_ref());
                    object.raw("ID", granted.id.to_string());
                    object.raw("TTL", granted.ttl.to_string());
                    object.raw("Error", "\"\"".into());
                    object.line()
                }
                Format::Fields => Fields::default()
                    .header(granted.header.as_ref())
                    .field("ID", granted.id)
                    .field("TTL", granted.ttl)
                    .done(),
                _ => format!(
                    "lease {:016x} granted with TTL({}s)\n",
                    granted.id, granted.ttl
                ),
            }
        }
        LeaseCommand::Revoke { id } => {
            let id = parse_id(&id)?;
            let answer = client.lease_revoke(id).await?;
            match format {
                Format::Json => {
                    let mut object = Object::default();
                    object.raw("header", header_json(answer.header.as_ref()));
                    object.line()
                }
                Format::Fields => Fields::default().header(answer.header.as_ref()).done(),
                _ => format!("lease {id:016x} revoked\n"),
            }
        }
        LeaseCommand::Timetolive { id, keys } => {
            let id = parse_id(&id)?;
            let answer = client.lease_time_to_live(id, keys).await?;
            match format {
                Format::Json => {
                    let mut object = Object::default();
                    object.flat_header(answer.header.as_ref());
                    object.raw("id", answer.id.to_string());
                    object.raw("ttl", answer.ttl.to_string());
                    object.raw("granted-ttl", answer.granted_ttl.to_string());
                    object.raw(
                        "keys",
                        if answer.keys.is_empty() {
                            "null".into()
                        } else {
                            array(answer.keys.iter().map(|key| base64_json(key)))
                        },
                    );
                    object.line()
                }
                Format::Fields => {
                    let mut fields = Fields::default();
                    fields
                        .header(answer.header.as_ref())
                        .field("ID", answer.id)
                        .field("TTL", answer.ttl)
                        .field("GrantedTTL", answer.granted_ttl);
                    for key in &answer.keys {
                        fields.quoted("Key", key);
                    }
                    fields.done()
                }
                _ if answer.granted_ttl == 0 && answer.ttl == -1 => {
                    format!("lease {id:016x} already expired\n")
                }
                _ => {
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
        }
        LeaseCommand::List => {
            let answer = client.lease_leases().await?;
            match format {
                Format::Json => {
                    let mut object = Object::default();
                    object.flat_header(answer.header.as_ref());
                    let leases = answer
                        .leases
                        .iter()
                        .map(|lease| format!("{{\"id\":{}}}", lease.id));
                    object.raw("leases", array(leases));
                    object.line()
                }
                Format::Fields => {
                    let mut fields = Fields::default();
                    fields.header(answer.header.as_ref());
                    for lease in &answer.leases {
                        fields.field("ID", lease.id);
                    }
                    fields.done()
                }
                _ => {
                    let mut text = format!("found {} leases\n", answer.leases.len());
                    for lease in &answer.leases {
                        let _ = writeln!(text, "{:016x}", lease.id);
                    }
                    text
                }
            }
        }
        LeaseCommand::KeepAlive { id, once } => {
            let id = parse_id(&id)?;
            if once {
                print_keep_alive(format, &client.lease_keep_alive_once(id).await?)
            } else {
                keep_alive_forever(context, id).await?
            }
        }
    })
}

fn print_keep_alive(format: Format, answer: &LeaseKeepAliveResponse) -> String {
    match format {
        Format::Json => {
            let mut object = Object::default();
            object.flat_header(answer.header.as_ref());
            object.raw("ID", answer.id.to_string());
            object.raw("TTL", answer.ttl.to_string());
            object.line()
        }
        Format::Fields => Fields::default()
            .header(answer.header.as_ref())
            .field("ID", answer.id)
            .field("TTL", answer.ttl)
            .done(),
        _ => format!(
            "lease {:016x} keepalived with TTL({})\n",
            answer.id, answer.ttl
        ),
    }
}

/// Renews `id` every third of its TTL until the lease is lost, printing
/// each renewal as it comes; then etcdctl's last line.
async fn keep_alive_forever(context: &Context, id: i64) -> Result<String, Failure> {
    let mut stdout = std::io::stdout();
    loop {
        let answer = match context.client().await?.lease_keep_alive_once(id).await {
            Ok(answer) => answer,
            Err(Error::LeaseLost { .. }) => {
                return Ok(format!("lease {id:016x} expired or revoked.\n"));
            }
            Err(error) => return Err(error.into()),
        };
        let _ = stdout.write_all(print_keep_alive(context.format, &answer).as_bytes());
        let _ = stdout.flush();
        tokio::time::sleep(std::time::Duration::from_secs(
            (answer.ttl as u64 / 3).max(1),
        ))
        .await;
    }
}
