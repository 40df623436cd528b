//! Lists of many pods: fill a namespace with `pods` pods from many
//! clients ([`fill`]), then time full lists of it and paged ones
//! (`limit` per page, following `continue`) ([`measure_lists`]), each
//! checked to return every pod.
//!
//! ```text
//!   fill: K clients take the next number until N pods exist (a count, not a time)
//!   full: GET .../pods                    ─► time to the whole body ─► count items
//!   paged: GET .../pods?limit=L&continue= ─► time per page, summed  ─► count items
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock latency"
)]

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::Value;

use super::creates::{create_pod, pods_path};
use super::http::{Answer, Connection};
use crate::load::Percentiles;

/// What filling a namespace measured.
#[derive(Debug, Clone)]
pub struct FillReport {
    /// Pods created.
    pub pods: u64,
    /// Clients that created them.
    pub clients: usize,
    /// From the first create's send to the last one's answer.
    pub took: Duration,
    /// Latency of the creates.
    pub latency: Percentiles,
}

/// Creates pods `<prefix>-0` to `<prefix>-<pods - 1>` in `namespace`
/// from `clients` connections; any failed create fails the fill.
pub async fn fill(
    address: &str,
    namespace: &str,
    prefix: &str,
    pods: u64,
    clients: usize,
) -> Result<FillReport, String> {
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients.max(1) {
        connections.push(Connection::open(address).await?);
    }
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(connections.len());
    for mut connection in connections {
        let next = Arc::clone(&next);
        let (namespace, prefix) = (namespace.to_string(), prefix.to_string());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= pods {
                    return Ok::<_, String>(latencies);
                }
                let sent = Instant::now();
                create_pod(&mut connection, &namespace, &format!("{prefix}-{n}"))
                    .await?
                    .expect(StatusCode::CREATED)?;
                latencies.push(sent.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.map_err(|e| e.to_string())??);
    }
    Ok(FillReport {
        pods,
        clients,
        took: start.elapsed(),
        latency: Percentiles::of(&mut latencies),
    })
}

/// What the lists measured.
#[derive(Debug, Clone)]
pub struct ListReport {
    /// Pods each list returned.
    pub items: usize,
    /// Bytes of a full list's body.
    pub full_list_bytes: usize,
    /// Each full list's latency, to the last byte of its body.
    pub full: Vec<Duration>,
    /// Items per page of the paged lists.
    pub page_limit: u64,
    /// Pages per paged list.
    pub pages: usize,
    /// Each paged list's pages' latencies, summed (the client's decoding
    /// between pages left out).
    pub paged: Vec<Duration>,
    /// Latency of every page of every paged list.
    pub page_latency: Percentiles,
}

/// Lists `namespace`'s pods `repeats` times whole and `repeats` times in
/// pages of `page_limit`, checking that each returns `expected` pods.
pub async fn measure_lists(
    address: &str,
    namespace: &str,
    expected: usize,
    repeats: usize,
    page_limit: u64,
) -> Result<ListReport, String> {
    let mut connection = Connection::open(address).await?;
    let collection = pods_path(namespace);
    let (mut full, mut full_list_bytes) = (Vec::new(), 0);
    for _ in 0..repeats {
        let (took, answer) = timed_get(&mut connection, &collection).await?;
        full_list_bytes = answer.body.len();
        let (items, _) = decode_page(&answer)?;
        check_count(items, expected, "a full list")?;
        full.push(took);
    }
    let (mut paged, mut page_latencies, mut pages) = (Vec::new(), Vec::new(), 0);
    for _ in 0..repeats {
        let (mut items, mut total) = (0, Duration::ZERO);
        let mut continue_token: Option<String> = None;
        pages = 0;
        loop {
            let mut path = format!("{collection}?limit={page_limit}");
            if let Some(token) = &continue_token {
                path.push_str("&continue=");
                path.push_str(&query_escape(token));
            }
            let (took, answer) = timed_get(&mut connection, &path).await?;
            let (count, next) = decode_page(&answer)?;
            items += count;
            total += took;
            pages += 1;
            page_latencies.push(took);
            match next {
                Some(token) => continue_token = Some(token),
                None => break,
            }
        }
        check_count(items, expected, "a paged list")?;
        paged.push(total);
    }
    Ok(ListReport {
        items: expected,
        full_list_bytes,
        full,
        page_limit,
        pages,
        paged,
        page_latency: Percentiles::of(&mut page_latencies),
    })
}

/// A GET's latency to the last byte of a 200 answer, and the answer.
async fn timed_get(connection: &mut Connection, path: &str) -> Result<(Duration, Answer), String> {
    let sent = Instant::now();
    let answer = connection.call(Method::GET, path, Vec::new()).await?;
    let took = sent.elapsed();
    Ok((took, answer.expect(StatusCode::OK)?))
}

/// A list answer's item count and `metadata.continue` (absent or empty
/// on the last page).
fn decode_page(answer: &Answer) -> Result<(usize, Option<String>), String> {
    let list: Value =
        serde_json::from_slice(&answer.body).map_err(|e| format!("a list is not JSON: {e}"))?;
    let items = list["items"]
        .as_array()
        .ok_or("a list has no items array")?
        .len();
    let next = list["metadata"]["continue"]
        .as_str()
        .filter(|token| !token.is_empty())
        .map(str::to_string);
    Ok((items, next))
}

fn check_count(items: usize, expected: usize, what: &str) -> Result<(), String> {
    if items == expected {
        Ok(())
    } else {
        Err(format!("{what} returned {items} pods, not {expected}"))
    }
}

/// `value` percent-encoded for a URL's query: every byte but RFC 3986's
/// unreserved characters as `%XX`.
pub fn query_escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            escaped.push(char::from(byte));
        } else {
            let _ = write!(escaped, "%{byte:02X}");
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_are_escaped_for_the_query() {
        assert_eq!(query_escape("eyJ2Ijo+/x=="), "eyJ2Ijo%2B%2Fx%3D%3D");
        assert_eq!(query_escape("a-b.c_d~e"), "a-b.c_d~e");
        assert_eq!(query_escape("a b&c"), "a%20b%26c");
    }

    #[test]
    fn a_page_says_how_many_items_and_where_to_go_on() {
        let page = |body: &str| Answer {
            status: StatusCode::OK,
            body: body.to_string().into(),
        };
        let first = page(r#"{"metadata":{"continue":"abc"},"items":[{},{}]}"#);
        assert_eq!(decode_page(&first).unwrap(), (2, Some("abc".to_string())));
        let last = page(r#"{"metadata":{"continue":""},"items":[{}]}"#);
        assert_eq!(decode_page(&last).unwrap(), (1, None));
        let only = page(r#"{"metadata":{},"items":[]}"#);
        assert_eq!(decode_page(&only).unwrap(), (0, None));
        assert!(decode_page(&page("{}")).is_err());
    }
}
