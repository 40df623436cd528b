//! The HTTP answers of the OpenAPI paths, as kube-openapi's handlers give
//! them (pkg/handler/handler.go for v2, pkg/handler3/handler.go for v3):
//! the media type picked from `Accept`, a quoted ETag, 304 for a matching
//! `If-None-Match`, and for v3 a `hash` query that either matches the
//! document (cached for good: `Cache-Control: public, immutable`) or is
//! redirected (301) to the current one.

use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{documents, v3_url, Encoded};

/// v2's protobuf media type, as answered.
const PROTOBUF_V2: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
/// Its older spelling, which kubectl up to 1.2x asks for.
const PROTOBUF_V2_DEPRECATED: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
const JSON: &str = "application/json";

/// One clause of an `Accept` header.
#[derive(Debug, Clone, PartialEq)]
struct Clause<'a> {
    media_type: &'a str,
    subtype: &'a str,
    quality: f64,
}

/// The clauses of `accept`, most wanted first (higher `q`, then more
/// specific), as goautoneg orders them; an empty header accepts anything.
fn clauses(accept: &str) -> Vec<Clause<'_>> {
    let accept = if accept.trim().is_empty() {
        "*/*"
    } else {
        accept
    };
    let mut clauses: Vec<Clause<'_>> = accept
        .split(',')
        .filter_map(|clause| {
            let mut parts = clause.split(';');
            let (media_type, subtype) = parts.next()?.trim().split_once('/')?;
            let quality = parts
                .filter_map(|parameter| parameter.trim().strip_prefix("q="))
                .find_map(|q| q.parse::<f64>().ok())
                .unwrap_or(1.0);
            Some(Clause {
                media_type: media_type.trim(),
                subtype: subtype.trim(),
                quality,
            })
        })
        .filter(|clause| clause.quality > 0.0)
        .collect();
    let wildcards = |clause: &Clause<'_>| {
        usize::from(clause.media_type == "*") + usize::from(clause.subtype == "*")
    };
    clauses.sort_by(|a, b| {
        b.quality
            .total_cmp(&a.quality)
            .then_with(|| wildcards(a).cmp(&wildcards(b)))
    });
    clauses
}

/// The first of `offers` (full media types) the `accept` header takes, by
/// the header's preference, then the offers' order.
fn negotiate<'o>(accept: &str, offers: &[&'o str]) -> Option<&'o str> {
    clauses(accept).iter().find_map(|clause| {
        offers.iter().copied().find(|offer| {
            let (media_type, subtype) = offer.split_once('/').expect("a full media type");
            (clause.media_type == "*" || clause.media_type == media_type)
                && (clause.subtype == "*" || clause.subtype == subtype)
        })
    })
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

/// Whether `If-None-Match` names `etag` (quoted, possibly weak) or is `*`.
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    header_text(headers, header::IF_NONE_MATCH)
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == etag)
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).expect("media types and hex ETags are valid header values")
}

/// `document` as `content_type`, or 304 when the client has it.
fn answer(headers: &HeaderMap, document: &Encoded, content_type: &str) -> Response {
    let etag = format!("\"{}\"", document.etag);
    let mut response = if not_modified(headers, &document.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, document.body.clone()).into_response()
    };
    let answer_headers = response.headers_mut();
    answer_headers.insert(header::CONTENT_TYPE, header_value(content_type));
    answer_headers.insert(header::ETAG, header_value(&etag));
    answer_headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    response
}

/// `GET /openapi/v2`: JSON, or gnostic's protobuf when `Accept` asks for
/// it; 406 for anything else.
pub async fn v2(headers: HeaderMap) -> Response {
    let documents = documents();
    let offers = [JSON, PROTOBUF_V2_DEPRECATED, PROTOBUF_V2];
    match negotiate(header_text(&headers, header::ACCEPT), &offers) {
        Some(JSON) => answer(&headers, &documents.v2_json, JSON),
        Some(_) => answer(&headers, &documents.v2_protobuf, PROTOBUF_V2),
        None => StatusCode::NOT_ACCEPTABLE.into_response(),
    }
}

/// `GET /openapi/v3`: the group versions and where their documents are.
pub async fn v3_root(headers: HeaderMap) -> Response {
    answer(&headers, &documents().v3_root, JSON)
}

/// The query of a v3 document's URL.
#[derive(Debug, Deserialize)]
pub struct HashQuery {
    /// The document's ETag, as the root lists it.
    hash: Option<String>,
}

/// `GET /openapi/v3/<group version>`: its document, as JSON (keel does not
/// encode v3 as protobuf; kubectl asks for JSON). A stale `hash` is
/// redirected to the current one; a current one may be cached for good.
pub async fn v3_group_version(
    Path(key): Path<String>,
    Query(query): Query<HashQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(document) = documents().v3.get(&key) else {
        return crate::server::not_found();
    };
    if negotiate(header_text(&headers, header::ACCEPT), &[JSON]).is_none() {
        return StatusCode::NOT_ACCEPTABLE.into_response();
    }
    match query.hash.as_deref() {
        None | Some("") => answer(&headers, document, JSON),
        Some(hash) if hash == document.etag => {
            let mut response = answer(&headers, document, JSON);
            let response_headers = response.headers_mut();
            response_headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, immutable"),
            );
            response_headers.insert(header::EXPIRES, header_value(&a_year_from_now()));
            response
        }
        Some(_) => {
            let mut response = StatusCode::MOVED_PERMANENTLY.into_response();
            response.headers_mut().insert(
                header::LOCATION,
                header_value(&v3_url(&key, &document.etag)),
            );
            response
        }
    }
}

/// An HTTP date a year ahead, for `Expires` (kube-openapi's
/// `time.Now().AddDate(1, 0, 0)`).
fn a_year_from_now() -> String {
    const YEAR_HOURS: i64 = 365 * 24;
    let now = jiff::Timestamp::now();
    let later = now
        .checked_add(jiff::Span::new().hours(YEAR_HOURS))
        .unwrap_or(now);
    later.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_picks_the_media_type_kubectl_asks_for() {
        let offers = [JSON, PROTOBUF_V2_DEPRECATED, PROTOBUF_V2];
        // kubectl 1.20 (client-go's openAPIV2mimePb).
        assert_eq!(
            negotiate(PROTOBUF_V2_DEPRECATED, &offers),
            Some(PROTOBUF_V2_DEPRECATED)
        );
        // Newer client-go: protobuf first, JSON as a fallback.
        assert_eq!(
            negotiate(&format!("{PROTOBUF_V2}, application/json"), &offers),
            Some(PROTOBUF_V2)
        );
        assert_eq!(negotiate("", &offers), Some(JSON));
        assert_eq!(negotiate("*/*", &offers), Some(JSON));
        assert_eq!(
            negotiate("application/json;q=0.5, application/com.github.proto-openapi.spec.v2.v1.0+protobuf", &offers),
            Some(PROTOBUF_V2)
        );
        assert_eq!(negotiate("text/html", &offers), None);
    }

    #[test]
    fn if_none_match_compares_quoted_etags() {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"AB12\""));
        assert!(not_modified(&headers, "AB12"));
        assert!(!not_modified(&headers, "AB13"));
        assert!(!not_modified(&HeaderMap::new(), "AB12"));
    }
}
