//! The key-value commands: put, get, del, txn, compaction and watch.

use std::fmt::Write as _;
use std::io::Write as _;

use clap::Parser;
use keel_client::proto::etcdserverpb::{
    response_op, DeleteRangeResponse, PutResponse, RangeResponse, TxnResponse,
};
use keel_client::proto::mvccpb::{event::EventType, Event, KeyValue};
use keel_client::{
    Compare, CompareOp, DeleteOptions, Error, GetOptions, PutOptions, SortOrder, SortTarget, Txn,
    TxnOp, WatchOptions, WatchUpdate,
};

use crate::output::{array, header_json, kv_json, simple_kv, Fields, Object};
use crate::{Context, Failure, Format, Outcome, EXIT_INTERRUPTED};

/// `put`'s arguments.
#[derive(clap::Args)]
pub struct PutArgs {
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
}

impl PutArgs {
    /// The key, the value and the options.
    fn request(self) -> Result<(String, String, PutOptions), Failure> {
        let lease = crate::lease::parse_id(&self.lease)?;
        let mut options = PutOptions::new().with_lease(lease);
        if self.prev_kv {
            options = options.with_prev_key();
        }
        if self.ignore_value {
            options = options.with_ignore_value();
        }
        if self.ignore_lease {
            options = options.with_ignore_lease();
        }
        Ok((self.key, self.value, options))
    }
}

/// The keys a `get`, `del` or `watch` covers, in etcdctl's arguments.
#[derive(clap::Args)]
pub struct KeyRange {
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

/// Applies a [`KeyRange`] to `GetOptions`, `DeleteOptions` or
/// `WatchOptions`, which share their range setters (not a trait), and
/// gives the key.
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

/// `get`'s arguments.
#[derive(clap::Args)]
pub struct GetArgs {
    #[command(flatten)]
    keys: KeyRange,
    /// At most this many keys.
    #[arg(long, default_value_t = 0)]
    limit: i64,
    /// At this revision.
    #[arg(long, default_value_t = 0)]
    rev: i64,
    /// `s`: serializable (local, possibly stale); `l`: linearizable.
    #[arg(long, default_value = "l")]
    consistency: String,
    /// The order: ASCEND or DESCEND.
    #[arg(long, default_value = "")]
    order: String,
    /// What to sort by: CREATE, KEY, MODIFY, VALUE or VERSION.
    #[arg(long, default_value = "")]
    sort_by: String,
    /// Only the keys.
    #[arg(long)]
    keys_only: bool,
    /// Only the count (with -w fields or json).
    #[arg(long)]
    count_only: bool,
    /// Only the values.
    #[arg(long)]
    print_value_only: bool,
}

impl GetArgs {
    /// The key, the options, and whether to print values only.
    fn request(self) -> Result<(String, GetOptions, bool), Failure> {
        let (key, mut options) = with_key_range!(
            GetOptions::new()
                .with_limit(self.limit)
                .with_revision(self.rev),
            self.keys
        );
        match self.consistency.as_str() {
            "l" => {}
            "s" => options = options.with_serializable(),
            other => {
                return Err(Failure::invalid(format!(
                    "unknown consistency flag {other:?} (use l or s)"
                )))
            }
        }
        let order = match self.order.as_str() {
            "" => None,
            "ASCEND" => Some(SortOrder::Ascend),
            "DESCEND" => Some(SortOrder::Descend),
            other => {
                return Err(Failure::invalid(format!(
                    "bad sort order {other:?} (use ASCEND or DESCEND)"
                )))
            }
        };
        let target = match self.sort_by.as_str() {
            "" => None,
            "CREATE" => Some(SortTarget::Create),
            "KEY" => Some(SortTarget::Key),
            "MODIFY" => Some(SortTarget::Mod),
            "VALUE" => Some(SortTarget::Value),
            "VERSION" => Some(SortTarget::Version),
            other => {
                return Err(Failure::invalid(format!(
                    "bad sort target {other:?} (use CREATE, KEY, MODIFY, VALUE or VERSION)"
                )))
            }
        };
        if order.is_some() || target.is_some() {
            options = options.with_sort(
                target.unwrap_or(SortTarget::Key),
                order.unwrap_or(SortOrder::Ascend),
            );
        }
        if self.keys_only {
            options = options.with_keys_only();
        }
        if self.count_only {
            options = options.with_count_only();
        }
        Ok((key, options, self.print_value_only))
    }
}

/// `del`'s arguments.
#[derive(clap::Args)]
pub struct DelArgs {
    #[command(flatten)]
    keys: KeyRange,
    /// Prints the deleted key-value pairs.
    #[arg(long)]
    prev_kv: bool,
}

impl DelArgs {
    fn request(self) -> (String, DeleteOptions) {
        let (key, mut options) = with_key_range!(DeleteOptions::new(), self.keys);
        if self.prev_kv {
            options = options.with_prev_key();
        }
        (key, options)
    }
}

/// `put`.
pub async fn put(context: &Context, args: PutArgs) -> Outcome {
    let (key, value, options) = args.request()?;
    let answer = context
        .client()
        .await?
        .put(key, value, Some(options))
        .await?;
    print_put(context.format, &answer)
}

fn print_put(format: Format, answer: &PutResponse) -> Outcome {
    Ok(match format {
        Format::Simple => {
            let mut text = "OK\n".to_string();
            if let Some(previous) = &answer.prev_kv {
                text.push_str(&simple_kv(previous, false));
            }
            text
        }
        Format::Json => format!("{}\n", put_json(answer)),
        Format::Fields => {
            let mut fields = Fields::default();
            fields.header(answer.header.as_ref());
            if let Some(previous) = &answer.prev_kv {
                fields.kv("Prev", previous);
            }
            fields.done()
        }
        Format::Table => return Err(format.unsupported()),
    })
}

fn put_json(answer: &PutResponse) -> String {
    let mut object = Object::default();
    object.raw("header", header_json(answer.header.as_ref()));
    if let Some(previous) = &answer.prev_kv {
        object.raw("prev_kv", kv_json(previous));
    }
    object.render()
}

/// `get`.
pub async fn get(context: &Context, args: GetArgs) -> Outcome {
    let (key, options, value_only) = args.request()?;
    let answer = context.client().await?.get(key, Some(options)).await?;
    print_get(context.format, &answer, value_only)
}

pub fn print_get(format: Format, answer: &RangeResponse, value_only: bool) -> Outcome {
    Ok(match format {
        Format::Simple => answer
            .kvs
            .iter()
            .map(|kv| simple_kv(kv, value_only))
            .collect(),
        Format::Json => format!("{}\n", get_json(answer)),
        Format::Fields => {
            let mut fields = Fields::default();
            fields.header(answer.header.as_ref());
            for kv in &answer.kvs {
                fields.kv("", kv);
            }
            fields
                .field("More", answer.more)
                .field("Count", answer.count)
                .done()
        }
        Format::Table => return Err(format.unsupported()),
    })
}

fn get_json(answer: &RangeResponse) -> String {
    let mut object = Object::default();
    object.raw("header", header_json(answer.header.as_ref()));
    if !answer.kvs.is_empty() {
        object.raw("kvs", array(answer.kvs.iter().map(kv_json)));
    }
    object.flag("more", answer.more);
    object.number("count", answer.count);
    object.render()
}

/// `del`.
pub async fn del(context: &Context, args: DelArgs) -> Outcome {
    let (key, options) = args.request();
    let answer = context.client().await?.delete(key, Some(options)).await?;
    print_del(context.format, &answer)
}

fn print_del(format: Format, answer: &DeleteRangeResponse) -> Outcome {
    Ok(match format {
        Format::Simple => {
            let mut text = format!("{}\n", answer.deleted);
            for kv in &answer.prev_kvs {
                text.push_str(&simple_kv(kv, false));
            }
            text
        }
        Format::Json => format!("{}\n", del_json(answer)),
        Format::Fields => {
            let mut fields = Fields::default();
            fields
                .header(answer.header.as_ref())
                .field("Deleted", answer.deleted);
            for kv in &answer.prev_kvs {
                fields.kv("Prev", kv);
            }
            fields.done()
        }
        Format::Table => return Err(format.unsupported()),
    })
}

fn del_json(answer: &DeleteRangeResponse) -> String {
    let mut object = Object::default();
    object.raw("header", header_json(answer.header.as_ref()));
    object.number("deleted", answer.deleted);
    if !answer.prev_kvs.is_empty() {
        object.raw("prev_kvs", array(answer.prev_kvs.iter().map(kv_json)));
    }
    object.render()
}

/// `txn`'s arguments.
#[derive(clap::Args)]
pub struct TxnArgs {
    /// Prompts for each part (compares, success requests, failure
    /// requests) on standard error.
    #[arg(short, long)]
    interactive: bool,
}

/// `txn`: reads compares, success requests and failure requests from
/// standard input, each part ended by a blank line, as etcdctl does.
pub async fn txn(context: &Context, args: TxnArgs) -> Outcome {
    let prompt = |text: &str| {
        if args.interactive {
            eprintln!("{text}");
        }
    };
    let txn = {
        let mut input = std::io::stdin().lock();
        prompt("compares:");
        let compares = read_txn_part(&mut input, parse_compare)?;
        prompt("success requests (get, put, del):");
        let success = read_txn_part(&mut input, parse_request)?;
        prompt("failure requests (get, put, del):");
        let failure = read_txn_part(&mut input, parse_request)?;
        Txn::new().when(compares).and_then(success).or_else(failure)
    };
    let answer = context.client().await?.txn(txn).await?;
    print_txn(context.format, &answer)
}

/// Reads one part of a txn up to its blank line, parsing each line as it
/// is read (so a malformed line fails before what follows is read, as in
/// etcdctl). Input that ends first, a last line without its newline
/// included, is etcdctl's `Error: EOF`.
fn read_txn_part<T>(
    input: &mut impl std::io::BufRead,
    parse: fn(&str) -> Result<T, Failure>,
) -> Result<Vec<T>, Failure> {
    let mut parsed = Vec::new();
    loop {
        let mut line = String::new();
        let read = input
            .read_line(&mut line)
            .map_err(|e| Failure::invalid(format!("reading the txn: {e}")))?;
        if read == 0 || !line.ends_with('\n') {
            return Err(Failure::invalid("EOF"));
        }
        let line = line.trim();
        if line.is_empty() {
            return Ok(parsed);
        }
        parsed.push(parse(line)?);
    }
}

fn print_txn(format: Format, answer: &TxnResponse) -> Outcome {
    let responses = answer
        .responses
        .iter()
        .filter_map(|response| response.response.as_ref());
    Ok(match format {
        Format::Simple => {
            let mut text = if answer.succeeded {
                "SUCCESS\n".to_string()
            } else {
                "FAILURE\n".to_string()
            };
            for response in responses {
                text.push('\n');
                text.push_str(&match response {
                    response_op::Response::ResponsePut(put) => print_put(format, put)?,
                    response_op::Response::ResponseRange(range) => print_get(format, range, false)?,
                    response_op::Response::ResponseDeleteRange(del) => print_del(format, del)?,
                    response_op::Response::ResponseTxn(_) => "unexpected nested txn\n".into(),
                });
            }
            text
        }
        Format::Json => {
            let mut object = Object::default();
            object.raw("header", header_json(answer.header.as_ref()));
            object.flag("succeeded", answer.succeeded);
            let responses: Vec<String> = responses
                .map(|response| {
                    let (name, json) = match response {
                        response_op::Response::ResponsePut(put) => ("ResponsePut", put_json(put)),
                        response_op::Response::ResponseRange(range) => {
                            ("ResponseRange", get_json(range))
                        }
                        response_op::Response::ResponseDeleteRange(del) => {
                            ("ResponseDeleteRange", del_json(del))
                        }
                        response_op::Response::ResponseTxn(_) => ("ResponseTxn", "{}".into()),
                    };
                    format!("{{\"Response\":{{\"{name}\":{json}}}}}")
                })
                .collect();
            if !responses.is_empty() {
                object.raw("responses", array(responses.into_iter()));
            }
            object.line()
        }
        Format::Fields => {
            let mut fields = Fields::default();
            fields
                .header(answer.header.as_ref())
                .field("Succeeded", answer.succeeded);
            let mut text = fields.done();
            for response in responses {
                text.push_str(&match response {
                    response_op::Response::ResponsePut(put) => print_put(format, put)?,
                    response_op::Response::ResponseRange(range) => print_get(format, range, false)?,
                    response_op::Response::ResponseDeleteRange(del) => print_del(format, del)?,
                    response_op::Response::ResponseTxn(_) => "\"Unknown\" : \"txn\"\n".into(),
                });
            }
            text
        }
        Format::Table => return Err(format.unsupported()),
    })
}

/// One compare line: `target("key") op "value"`, the target one of
/// `version` (`ver`), `create` (`c`), `mod` (`m`), `value` (`val`) or
/// `lease`, the operator `=`, `!=`, `<` or `>`.
fn parse_compare(line: &str) -> Result<Compare, Failure> {
    let malformed = |why: &str| Failure::invalid(format!("malformed comparison: {line}{why}"));
    let (target, rest) = line.split_once('(').ok_or_else(|| malformed(""))?;
    let (key, rest) = go_unquote_prefix(rest).ok_or_else(|| malformed(""))?;
    let rest = rest.strip_prefix(')').ok_or_else(|| malformed(""))?;
    let mut words = rest.trim_start().splitn(2, char::is_whitespace);
    let op = words.next().unwrap_or_default();
    let (value, _) = go_unquote_prefix(words.next().unwrap_or_default().trim_start())
        .ok_or_else(|| malformed(""))?;
    let op = match op {
        "=" => CompareOp::Equal,
        "!=" => CompareOp::NotEqual,
        "<" => CompareOp::Less,
        ">" => CompareOp::Greater,
        other => {
            return Err(malformed(&format!(
                " (unknown operator {other}; use =, !=, < or >)"
            )))
        }
    };
    let number = |radix: u32| {
        i64::from_str_radix(&value, radix)
            .map_err(|_| Failure::invalid(format!("invalid txn compare request: {line}")))
    };
    Ok(match target {
        "ver" | "version" => Compare::version(key, op, number(10)?),
        "c" | "create" => Compare::create_revision(key, op, number(10)?),
        "m" | "mod" => Compare::mod_revision(key, op, number(10)?),
        "val" | "value" => Compare::value(key, op, value),
        "lease" => Compare::lease(key, op, number(16)?),
        other => return Err(malformed(&format!(" (unknown target {other})"))),
    })
}

/// A Go-quoted string at the start of `text` (`"..."` with escapes, or a
/// backquoted raw string), and what follows it.
fn go_unquote_prefix(text: &str) -> Option<(String, &str)> {
    if let Some(raw) = text.strip_prefix('`') {
        let end = raw.find('`')?;
        return Some((raw[..end].to_owned(), &raw[end + 1..]));
    }
    let body = text.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[at + 1..])),
            '\\' => {
                let (_, escaped) = chars.next()?;
                out.push(match escaped {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    other => other,
                });
            }
            c => out.push(c),
        }
    }
    None
}

/// Splits a request line into words as etcdctl does: double-quoted words
/// (Go escapes), single-quoted words, or runs without spaces.
fn argify(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        if rest.starts_with('"') {
            let (word, after) = go_unquote_prefix(rest)?;
            words.push(word);
            rest = after;
        } else if let Some(quoted) = rest.strip_prefix('\'') {
            let end = quoted.find('\'')?;
            words.push(quoted[..end].to_owned());
            rest = &quoted[end + 1..];
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            words.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    Some(words)
}

/// A txn request line: `put`, `get` or `del` with their usual flags.
#[derive(Parser)]
#[command(no_binary_name = true)]
struct RequestLine {
    #[command(subcommand)]
    request: Request,
}

#[derive(clap::Subcommand)]
enum Request {
    Put(PutArgs),
    Get(GetArgs),
    Del(DelArgs),
}

fn parse_request(line: &str) -> Result<TxnOp, Failure> {
    let invalid = || Failure::invalid(format!("invalid txn request: {line}"));
    let words = argify(line).ok_or_else(invalid)?;
    let parsed = RequestLine::try_parse_from(words).map_err(|_| invalid())?;
    Ok(match parsed.request {
        Request::Put(args) => {
            let (key, value, options) = args.request()?;
            TxnOp::put(key, value, Some(options))
        }
        Request::Get(args) => {
            let (key, options, _) = args.request()?;
            TxnOp::get(key, Some(options))
        }
        Request::Del(args) => {
            let (key, options) = args.request();
            TxnOp::delete(key, Some(options))
        }
    })
}

/// `compaction`'s arguments.
#[derive(clap::Args)]
pub struct CompactionArgs {
    /// The revision to compact to.
    revision: i64,
    /// Waits until the compacted entries are removed from the backend.
    #[arg(long)]
    physical: bool,
}

/// `compaction`: etcdctl prints the same line in every format.
pub async fn compaction(context: &Context, args: CompactionArgs) -> Outcome {
    context
        .client()
        .await?
        .compact(args.revision, args.physical)
        .await?;
    Ok(format!("compacted revision {}\n", args.revision))
}

/// `watch`'s arguments.
#[derive(clap::Args)]
pub struct WatchArgs {
    #[command(flatten)]
    keys: KeyRange,
    /// From this revision (0: from now on).
    #[arg(long, default_value_t = 0)]
    rev: i64,
    /// Prints each event's previous key-value pair.
    #[arg(long)]
    prev_kv: bool,
    /// Asks for progress notifications.
    #[arg(long)]
    progress_notify: bool,
}

/// `watch`: prints each answer as it comes, until interrupted; a watch the
/// server ends (compaction) ends the command with etcdctl's message.
pub async fn watch(context: &Context, args: WatchArgs) -> Outcome {
    let (key, mut options) =
        with_key_range!(WatchOptions::new().with_start_revision(args.rev), args.keys);
    if args.prev_kv {
        options = options.with_prev_key();
    }
    if args.progress_notify {
        options = options.with_progress_notify();
    }
    let mut watcher = context.client().await?.watch(key, Some(options));
    let mut stdout = std::io::stdout();
    while let Some(update) = watcher.next().await {
        let text = match update {
            Ok(update) => print_watch(context.format, &update)?,
            Err(Error::Compacted { .. }) => {
                eprintln!(
                    "watch was canceled (etcdserver: mvcc: required revision has been compacted)"
                );
                break;
            }
            Err(error) => return Err(error.into()),
        };
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }
    Err(Failure::new(
        EXIT_INTERRUPTED,
        "watch is canceled by the server",
    ))
}

fn print_watch(format: Format, update: &WatchUpdate) -> Outcome {
    let kind = |event: &Event| {
        if event.r#type() == EventType::Delete {
            "DELETE"
        } else {
            "PUT"
        }
    };
    let no_kv = KeyValue::default();
    Ok(match format {
        Format::Simple => {
            let mut text = String::new();
            if update.is_progress() {
                let _ = writeln!(text, "progress notify: {}", update.revision);
            }
            for event in &update.events {
                text.push_str(kind(event));
                text.push('\n');
                if let Some(previous) = &event.prev_kv {
                    text.push_str(&simple_kv(previous, false));
                }
                text.push_str(&simple_kv(event.kv.as_ref().unwrap_or(&no_kv), false));
            }
            text
        }
        Format::Json => {
            let events = update.events.iter().map(|event| {
                let mut object = Object::default();
                object.number("type", event.r#type);
                if let Some(kv) = &event.kv {
                    object.raw("kv", kv_json(kv));
                }
                if let Some(previous) = &event.prev_kv {
                    object.raw("prev_kv", kv_json(previous));
                }
                object.render()
            });
            let mut object = Object::default();
            object.raw("Header", header_json(Some(&update.header)));
            object.raw("Events", array(events));
            object.raw("CompactRevision", "0".into());
            object.raw("Canceled", "false".into());
            object.raw("Created", "false".into());
            object.line()
        }
        Format::Fields => {
            let mut fields = Fields::default();
            fields.header(Some(&update.header));
            for event in &update.events {
                fields.field("Type", kind(event));
                if let Some(previous) = &event.prev_kv {
                    fields.kv("Prev", previous);
                }
                fields.kv("", event.kv.as_ref().unwrap_or(&no_kv));
            }
            fields.done()
        }
        Format::Table => return Err(format.unsupported()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_client::proto::etcdserverpb::ResponseHeader;

    #[test]
    fn request_lines_split_as_etcdctl_splits_them() {
        assert_eq!(
            argify(r#"put "a key" 'it''s' --prev-kv"#).unwrap(),
            ["put", "a key", "it", "s", "--prev-kv"]
        );
        assert!(argify("put \"open").is_none());
    }

    #[test]
    fn compares_parse_or_say_why_not() {
        assert!(parse_compare(r#"value("t") = "1""#).is_ok());
        assert!(parse_compare(r#"mod("t") > "0""#).is_ok());
        assert_eq!(
            parse_compare("bad").unwrap_err().message,
            "malformed comparison: bad"
        );
        assert_eq!(
            parse_compare(r#"version("t") = "x""#).unwrap_err().message,
            r#"invalid txn compare request: version("t") = "x""#
        );
        assert_eq!(
            parse_compare(r#"size("t") = "1""#).unwrap_err().message,
            r#"malformed comparison: size("t") = "1" (unknown target size)"#
        );
    }

    #[test]
    fn watch_events_print_as_etcdctl_prints_them() {
        let update = WatchUpdate {
            revision: 3,
            header: ResponseHeader {
                revision: 3,
                ..ResponseHeader::default()
            },
            events: vec![Event {
                r#type: EventType::Delete as i32,
                kv: Some(KeyValue {
                    key: b"k".to_vec(),
                    mod_revision: 3,
                    ..KeyValue::default()
                }),
                prev_kv: None,
            }],
        };
        assert_eq!(
            print_watch(Format::Simple, &update).unwrap(),
            "DELETE\nk\n\n"
        );
        assert_eq!(
            print_watch(Format::Json, &update).unwrap(),
            "{\"Header\":{\"revision\":3},\"Events\":[{\"type\":1,\"kv\":{\"key\":\"aw==\",\
             \"mod_revision\":3}}],\"CompactRevision\":0,\"Canceled\":false,\"Created\":false}\n"
        );
    }
}
