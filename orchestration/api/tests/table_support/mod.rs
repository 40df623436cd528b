//! What the table tests share: a fixed "now", timestamps some seconds
//! before it, and the cells of one object's row.

#![allow(dead_code, reason = "each test file uses part of the support")]

use jiff::{SignedDuration, Timestamp};
use keel_api::resources::{by_plural, ResourceInfo};
use keel_api::table::{table, IncludeObject};
use serde_json::Value;

/// The instant every test prints at.
pub fn now() -> Timestamp {
    "2025-03-01T12:00:00Z".parse().expect("a valid timestamp")
}

/// The RFC 3339 time `seconds` before [`now`], as objects carry it.
pub fn ago(seconds: i64) -> String {
    (now() - SignedDuration::from_secs(seconds))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A served resource by group and plural.
pub fn resource(group: &str, plural: &str) -> &'static ResourceInfo {
    by_plural(group, plural).expect("keel serves it")
}

/// The whole Table for `objects`, rows carrying metadata.
pub fn table_of(resource: &ResourceInfo, objects: &[Value]) -> Value {
    table(resource, objects, now(), IncludeObject::Metadata).expect("printable objects")
}

/// The cells of `object`'s row.
pub fn cells(resource: &ResourceInfo, object: Value) -> Vec<Value> {
    let table = table_of(resource, &[object]);
    table["rows"][0]["cells"]
        .as_array()
        .expect("cells are an array")
        .clone()
}

/// The column names of `resource`'s Table, with their priorities.
pub fn headers(resource: &ResourceInfo) -> Vec<(String, u64)> {
    table_of(resource, &[])["columnDefinitions"]
        .as_array()
        .expect("columns are an array")
        .iter()
        .map(|column| {
            (
                column["name"].as_str().expect("a name").to_owned(),
                column["priority"].as_u64().expect("a priority"),
            )
        })
        .collect()
}
