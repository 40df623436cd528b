//! The member and endpoint commands. The endpoint commands ask each
//! endpoint on its own (or, with `--cluster`, each client URL the member
//! list names), print what those that answered said, and fail if any did
//! not, as etcdctl does.

use std::fmt::Write as _;
use std::time::Instant;

use keel_client::proto::etcdserverpb::{HashKvResponse, Member, ResponseHeader, StatusResponse};
use keel_client::{AlarmAction, AlarmType, Client, Error};

use crate::output::{array, go_duration, header_json, human_bytes, quoted, Fields, Object, Table};
use crate::{Context, Failure, Format, Outcome, EXIT_ERROR};

#[derive(clap::Subcommand)]
pub enum MemberCommand {
    /// Lists the cluster's members.
    List,
    /// Adds a member (start it with --initial-cluster-state existing and
    /// the ETCD_* values printed).
    Add {
        /// The new member's name.
        name: String,
        /// Its peer URLs, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        peer_urls: Vec<String>,
        /// Adds it as a learner (promote it once it has caught up).
        #[arg(long)]
        learner: bool,
    },
    /// Removes a member (hex ID).
    Remove {
        /// The member's hex ID.
        id: String,
    },
    /// Changes a member's peer URLs.
    Update {
        /// The member's hex ID.
        id: String,
        /// Its new peer URLs, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        peer_urls: Vec<String>,
    },
    /// Makes a learner that has caught up a voting member.
    Promote {
        /// The learner's hex ID.
        id: String,
    },
}

/// A member ID as etcdctl takes it: hex.
fn member_id(text: &str) -> Result<u64, Failure> {
    u64::from_str_radix(text, 16)
        .map_err(|_| Failure::invalid(format!("bad member ID arg ({text}), expecting ID in Hex")))
}

/// A member as the cluster API's JSON has it.
fn member_json(member: &Member) -> String {
    let mut fields = Object::default();
    fields.number("ID", member.id);
    fields.string("name", &member.name);
    fields.strings("peerURLs", &member.peer_ur_ls);
    fields.strings("clientURLs", &member.client_ur_ls);
    fields.flag("isLearner", member.is_learner);
    fields.render()
}

/// `{"header":...,"members":[...]}`, the JSON of every membership answer.
fn members_json(header: Option<&ResponseHeader>, members: &[Member]) -> Object {
    let mut object = Object::default();
    object.raw("header", header_json(header));
    if !members.is_empty() {
        object.raw("members", array(members.iter().map(member_json)));
    }
    object
}

/// Whether a member has published its name (etcd's "started").
fn status(member: &Member) -> &'static str {
    if member.name.is_empty() {
        "unstarted"
    } else {
        "started"
    }
}

/// Runs a member command.
pub async fn member(context: &Context, command: MemberCommand) -> Outcome {
    let client = context.client().await?;
    let format = context.format;
    if !matches!(command, MemberCommand::List) && !matches!(format, Format::Simple | Format::Json) {
        return Err(format.unsupported());
    }
    let change = |verb: &str, id: u64, header: Option<&ResponseHeader>| {
        let cluster_id = header.map_or(0, |header| header.cluster_id);
        format!("Member {id:16x} {verb} cluster {cluster_id:16x}\n")
    };
    Ok(match command {
        MemberCommand::List => {
            let answer = client.member_list().await?;
            match format {
                Format::Simple => answer
                    .members
                    .iter()
                    .fold(String::new(), |mut text, member| {
                        let _ = writeln!(
                            text,
                            "{:x}, {}, {}, {}, {}, {}",
                            member.id,
                            status(member),
                            member.name,
                            member.peer_ur_ls.join(","),
                            member.client_ur_ls.join(","),
                            member.is_learner
                        );
                        text
                    }),
                Format::Json => members_json(answer.header.as_ref(), &answer.members).line(),
                Format::Fields => {
                    let mut fields = Fields::default();
                    fields.header(answer.header.as_ref());
                    for member in &answer.members {
                        fields
                            .field("ID", member.id)
                            .quoted("Name", member.name.as_bytes());
                        for url in &member.peer_ur_ls {
                            fields.quoted("PeerURL", url.as_bytes());
                        }
                        for url in &member.client_ur_ls {
                            fields.quoted("ClientURL", url.as_bytes());
                        }
                        fields.field("IsLearner", member.is_learner).blank();
                    }
                    fields.done()
                }
                Format::Table => {
                    let mut table = Table::new(&[
                        "ID",
                        "Status",
                        "Name",
                        "Peer Addrs",
                        "Client Addrs",
                        "Is Learner",
                    ]);
                    for member in &answer.members {
                        table.row(vec![
                            format!("{:x}", member.id),
                            status(member).into(),
                            member.name.clone(),
                            member.peer_ur_ls.join(","),
                            member.client_ur_ls.join(","),
                            member.is_learner.to_string(),
                        ]);
                    }
                    table.render()
                }
            }
        }
        MemberCommand::Add {
            name,
            peer_urls,
            learner,
        } => {
            let answer = client.member_add(peer_urls.clone(), learner).await?;
            let added = answer.member.clone().unwrap_or_default();
            if format == Format::Json {
                let mut object = Object::default();
                object.raw("header", header_json(answer.header.as_ref()));
                object.raw("member", member_json(&added));
                if !answer.members.is_empty() {
                    object.raw("members", array(answer.members.iter().map(member_json)));
                }
                return Ok(object.line());
            }
            // etcdctl 3.4 says "added to" for a learner too.
            let mut text = change("added to", added.id, answer.header.as_ref());
            let initial_cluster: Vec<String> = answer
                .members
                .iter()
                .flat_map(|member| {
                    let name = if member.id == added.id {
                        name.clone()
                    } else {
                        member.name.clone()
                    };
                    member
                        .peer_ur_ls
                        .iter()
                        .map(move |url| format!("{name}={url}"))
                })
                .collect();
            let _ = write!(
                text,
                "\nETCD_NAME={}\nETCD_INITIAL_CLUSTER={}\n\
                 ETCD_INITIAL_ADVERTISE_PEER_URLS={}\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n",
                quoted(&name),
                quoted(&initial_cluster.join(",")),
                quoted(&peer_urls.join(","))
            );
            text
        }
        MemberCommand::Remove { id } => {
            let id = member_id(&id)?;
            let answer = client.member_remove(id).await?;
            match format {
                Format::Json => members_json(answer.header.as_ref(), &answer.members).line(),
                _ => change("removed from", id, answer.header.as_ref()),
            }
        }
        MemberCommand::Update { id, peer_urls } => {
            let id = member_id(&id)?;
            let answer = client.member_update(id, peer_urls).await?;
            match format {
                Format::Json => members_json(answer.header.as_ref(), &answer.members).line(),
                _ => change("updated in", id, answer.header.as_ref()),
            }
        }
        MemberCommand::Promote { id } => {
            let id = member_id(&id)?;
            let answer = client.member_promote(id).await?;
            match format {
                Format::Json => members_json(answer.header.as_ref(), &answer.members).line(),
                _ => change("promoted in", id, answer.header.as_ref()),
            }
        }
    })
}

/// Which endpoints an endpoint command asks.
#[derive(clap::Args)]
pub struct Which {
    /// Every member's client URLs (from the member list) instead of
    /// --endpoints.
    #[arg(long)]
    cluster: bool,
}

#[derive(clap::Subcommand)]
pub enum EndpointCommand {
    /// Each endpoint's status: version, DB size, leader, raft indexes.
    Status(Which),
    /// Whether each endpoint commits a read (and has no alarm).
    Health(Which),
    /// Each endpoint's hash of its keys, to compare members.
    Hashkv {
        #[command(flatten)]
        which: Which,
        /// The hash up to this revision (0: all).
        #[arg(long, default_value_t = 0)]
        rev: i64,
    },
}

/// The endpoints to ask.
pub async fn endpoints(context: &Context, which: &Which) -> Result<Vec<String>, Failure> {
    if !which.cluster {
        return Ok(context.endpoints.clone());
    }
    let answer = context.client().await?.member_list().await?;
    Ok(answer
        .members
        .into_iter()
        .flat_map(|member| member.client_ur_ls)
        .collect())
}

/// Asks every endpoint with `ask`, warning on standard error of each that
/// fails (`what`: "status", "hash"); the answers of those that answered,
/// and whether any failed.
pub async fn ask_each<T, F>(
    context: &Context,
    endpoints: &[String],
    what: &str,
    ask: impl Fn(Client) -> F,
) -> (Vec<(String, T)>, bool)
where
    F: std::future::Future<Output = Result<T, Error>>,
{
    let mut answers = Vec::new();
    let mut failed = false;
    for endpoint in endpoints {
        let answer = match context.client_of(endpoint).await {
            Ok(client) => ask(client).await,
            Err(error) => Err(error),
        };
        match answer {
            Ok(answer) => answers.push((endpoint.clone(), answer)),
            Err(error) => {
                failed = true;
                eprintln!("Failed to get the {what} of endpoint {endpoint} ({error})");
            }
        }
    }
    (answers, failed)
}

/// Runs an endpoint command.
pub async fn endpoint(context: &Context, command: EndpointCommand) -> Outcome {
    let (text, failed) = match command {
        EndpointCommand::Status(which) => {
            let endpoints = endpoints(context, &which).await?;
            let (answers, failed) = ask_each(context, &endpoints, "status", |client| async move {
                client.status().await
            })
            .await;
            (print_status(context.format, &answers), failed)
        }
        EndpointCommand::Hashkv { which, rev } => {
            let endpoints = endpoints(context, &which).await?;
            let (answers, failed) = ask_each(context, &endpoints, "hash", |client| async move {
                client.hash_kv(rev).await
            })
            .await;
            (print_hashkv(context.format, &answers), failed)
        }
        EndpointCommand::Health(which) => {
            let endpoints = endpoints(context, &which).await?;
            return health(context, &endpoints).await;
        }
    };
    if failed {
        // The lines of those that answered are printed all the same.
        print!("{text}");
        return Err(Failure::new(EXIT_ERROR, "some endpoints did not answer"));
    }
    Ok(text)
}

fn status_row(endpoint: &str, status: &StatusResponse) -> Vec<String> {
    let member_id = status.header.map_or(0, |header| header.member_id);
    vec![
        endpoint.to_owned(),
        format!("{member_id:x}"),
        status.version.clone(),
        human_bytes(status.db_size.max(0) as u64),
        (status.leader == member_id).to_string(),
        status.is_learner.to_string(),
        status.raft_term.to_string(),
        status.raft_index.to_string(),
        status.raft_applied_index.to_string(),
        status.errors.join(", "),
    ]
}

fn print_status(format: Format, answers: &[(String, StatusResponse)]) -> String {
    match format {
        Format::Simple => answers
            .iter()
            .fold(String::new(), |mut text, (endpoint, status)| {
                let _ = writeln!(text, "{}", status_row(endpoint, status).join(", "));
                text
            }),
        Format::Json => {
            let items = answers.iter().map(|(endpoint, status)| {
                let mut inner = Object::default();
                inner.raw("header", header_json(status.header.as_ref()));
                inner.string("version", &status.version);
                inner.number("dbSize", status.db_size);
                inner.number("leader", status.leader);
                inner.number("raftIndex", status.raft_index);
                inner.number("raftTerm", status.raft_term);
                inner.number("raftAppliedIndex", status.raft_applied_index);
                inner.strings("errors", &status.errors);
                inner.number("dbSizeInUse", status.db_size_in_use);
                inner.flag("isLearner", status.is_learner);
                let mut object = Object::default();
                object.raw("Endpoint", quoted(endpoint));
                object.raw("Status", inner.render());
                object.render()
            });
            format!("{}\n", array(items))
        }
        Format::Fields => {
            let mut fields = Fields::default();
            for (endpoint, status) in answers {
                fields
                    .header(status.header.as_ref())
                    .quoted("Version", status.version.as_bytes())
                    .field("DBSize", status.db_size)
                    .field("Leader", status.leader)
                    .field("IsLearner", status.is_learner)
                    .field("RaftIndex", status.raft_index)
                    .field("RaftTerm", status.raft_term)
                    .field("RaftAppliedIndex", status.raft_applied_index)
                    .field("Errors", format!("[{}]", status.errors.join(" ")))
                    .quoted("Endpoint", endpoint.as_bytes())
                    .blank();
            }
            fields.done()
        }
        Format::Table => {
            let mut table = Table::new(&[
                "endpoint",
                "ID",
                "version",
                "db size",
                "is leader",
                "is learner",
                "raft term",
                "raft index",
                "raft applied index",
                "errors",
            ]);
            for (endpoint, status) in answers {
                table.row(status_row(endpoint, status));
            }
            table.render()
        }
    }
}

fn print_hashkv(format: Format, answers: &[(String, HashKvResponse)]) -> String {
    match format {
        Format::Simple => answers
            .iter()
            .fold(String::new(), |mut text, (endpoint, hash)| {
                let _ = writeln!(text, "{endpoint}, {}", hash.hash);
                text
            }),
        Format::Json => {
            let items = answers.iter().map(|(endpoint, hash)| {
                let mut inner = Object::default();
                inner.raw("header", header_json(hash.header.as_ref()));
                inner.number("hash", hash.hash);
                inner.number("compact_revision", hash.compact_revision);
                let mut object = Object::default();
                object.raw("Endpoint", quoted(endpoint));
                object.raw("HashKV", inner.render());
                object.render()
            });
            format!("{}\n", array(items))
        }
        Format::Fields => {
            let mut fields = Fields::default();
            for (endpoint, hash) in answers {
                fields
                    .header(hash.header.as_ref())
                    .quoted("Endpoint", endpoint.as_bytes())
                    .field("Hash", hash.hash)
                    .blank();
            }
            fields.done()
        }
        Format::Table => {
            let mut table = Table::new(&["endpoint", "hash"]);
            for (endpoint, hash) in answers {
                table.row(vec![endpoint.clone(), hash.hash.to_string()]);
            }
            table.render()
        }
    }
}

/// One endpoint's health, as etcdctl judges it.
struct Health {
    endpoint: String,
    took: String,
    /// Empty when healthy.
    error: String,
}

/// Whether `client`'s endpoint commits a linearizable read and has no
/// alarm raised.
async fn check_health(client: &Client) -> Result<(), String> {
    client
        .get("health", None)
        .await
        .map_err(|error| error.to_string())?;
    let alarms = client
        .alarm(AlarmAction::Get, 0, AlarmType::None)
        .await
        .map_err(|_| "Unable to fetch the alarm list".to_string())?;
    if alarms.alarms.is_empty() {
        Ok(())
    } else {
        let names: Vec<&str> = alarms
            .alarms
            .iter()
            .map(|alarm| alarm.alarm().as_str_name())
            .collect();
        Err(format!("Active Alarm(s): {}", names.join(" ")))
    }
}

/// `endpoint health`: etcdctl prints the simple lines on standard error.
#[allow(
    clippy::disallowed_methods,
    reason = "a CLI's wall-clock measure of a round trip, as etcdctl reports it"
)]
async fn health(context: &Context, endpoints: &[String]) -> Outcome {
    let mut checks = Vec::new();
    for endpoint in endpoints {
        let started = Instant::now();
        let checked = match context.client_of(endpoint).await {
            Ok(client) => check_health(&client).await,
            Err(error) => Err(error.to_string()),
        };
        checks.push(Health {
            endpoint: endpoint.clone(),
            took: go_duration(started.elapsed()),
            error: checked.err().unwrap_or_default(),
        });
    }
    let text = match context.format {
        Format::Simple => {
            for check in &checks {
                if check.error.is_empty() {
                    eprintln!(
                        "{} is healthy: successfully committed proposal: took = {}",
                        check.endpoint, check.took
                    );
                } else {
                    eprintln!(
                        "{} is unhealthy: failed to commit proposal: {}",
                        check.endpoint, check.error
                    );
                }
            }
            String::new()
        }
        Format::Json => {
            let items = checks.iter().map(|check| {
                let mut object = Object::default();
                object.raw("endpoint", quoted(&check.endpoint));
                object.raw("health", check.error.is_empty().to_string());
                object.raw("took", quoted(&check.took));
                object.string("error", &check.error);
                object.render()
            });
            format!("{}\n", array(items))
        }
        Format::Fields => {
            let mut fields = Fields::default();
            for check in &checks {
                fields
                    .quoted("Endpoint", check.endpoint.as_bytes())
                    .field("Health", check.error.is_empty())
                    .field("Took", &check.took)
                    .field("Error", &check.error)
                    .blank();
            }
            fields.done()
        }
        Format::Table => {
            let mut table = Table::new(&["endpoint", "health", "took", "error"]);
            for check in &checks {
                table.row(vec![
                    check.endpoint.clone(),
                    check.error.is_empty().to_string(),
                    check.took.clone(),
                    check.error.clone(),
                ]);
            }
            table.render()
        }
    };
    if checks.iter().any(|check| !check.error.is_empty()) {
        print!("{text}");
        return Err(Failure::new(EXIT_ERROR, "unhealthy cluster"));
    }
    Ok(text)
}
