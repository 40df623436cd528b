//! The OpenAPI documents kube-apiserver serves and kubectl reads: to learn
//! whether the server validates fields (`fieldValidation` on the write
//! operations), to validate manifests itself when it does not, for the
//! merge keys of `kubectl apply`'s strategic merge patches, and for
//! `kubectl explain`.
//!
//! ```text
//!   k8s-openapi types ─► definitions ──────────────┐ (schemas, GVKs, patch extensions)
//!   keel-api RESOURCES ─► operations ──────────────┤ (paths, operation IDs, query parameters)
//!                                                  ▼
//!                          v2::document ─► JSON ──┬─► /openapi/v2 (Accept: application/json)
//!                                                 └─► protobuf ─► /openapi/v2 (Accept: ...protobuf)
//!                          v3::document per group version ─► /openapi/v3/api/v1?hash=H, ...
//!                          the root listing them with their hashes ─► /openapi/v3
//!   all built once, on first use, and kept as bytes with their ETags (http)
//! ```
//!
//! kubectl 1.27 and later look at v3 first (`NewQueryParamVerifierV3`) and
//! fall back to v2; kubectl 1.20 reads only v2, as protobuf, and validates
//! client-side against its definitions (found by
//! `x-kubernetes-group-version-kind`).

pub mod definitions;
mod http;
pub mod operations;
pub mod protobuf;
pub mod v2;
pub mod v3;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha512};

pub use http::{
    v2 as serve_v2, v3_group_version as serve_v3_group_version, v3_root as serve_v3_root,
};

/// One encoded document and its ETag.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The bytes answered.
    pub body: Vec<u8>,
    /// The ETag, unquoted: the upper-case hex SHA-512 of the document's
    /// JSON, as kube-openapi's `computeETag`.
    pub etag: String,
}

/// Every OpenAPI answer, encoded.
#[derive(Debug, Clone)]
pub struct Documents {
    /// `/openapi/v2` as JSON.
    pub v2_json: Encoded,
    /// `/openapi/v2` as gnostic's protobuf; same ETag as the JSON (kube-openapi
    /// derives both from the JSON).
    pub v2_protobuf: Encoded,
    /// `/openapi/v3`: the group versions and their URLs.
    pub v3_root: Encoded,
    /// `/openapi/v3/<key>` by key (`api/v1`, `apis/apps/v1`).
    pub v3: BTreeMap<String, Encoded>,
}

/// The upper-case hex SHA-512 of `bytes`.
pub fn etag(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(128);
    for byte in Sha512::digest(bytes) {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02X}");
    }
    hex
}

fn encoded_json(document: &Value) -> Encoded {
    let body = document.to_string().into_bytes();
    Encoded {
        etag: etag(&body),
        body,
    }
}

/// Builds every document.
pub fn build() -> Documents {
    let definitions = definitions::build();
    let v2 = v2::document(&definitions);
    let v2_json = encoded_json(&v2);
    let v2_protobuf = Encoded {
        body: protobuf::encode(&v2),
        etag: v2_json.etag.clone(),
    };
    let mut v3 = BTreeMap::new();
    let mut paths = Map::new();
    for (group, version) in definitions::group_versions(&definitions.kinds) {
        let key = v3::group_version_key(group, version);
        let document = encoded_json(&v3::document(&definitions, group, version));
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": v3_url(&key, &document.etag)}),
        );
        v3.insert(key, document);
    }
    Documents {
        v2_json,
        v2_protobuf,
        v3_root: encoded_json(&json!({"paths": paths})),
        v3,
    }
}

/// The URL of v3 document `key` at hash `etag`, as the root lists it.
pub fn v3_url(key: &str, etag: &str) -> String {
    format!("/openapi/v3/{key}?hash={etag}")
}

/// The documents, built on first use.
pub fn documents() -> &'static Documents {
    static DOCUMENTS: LazyLock<Documents> = LazyLock::new(build);
    &DOCUMENTS
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn the_root_lists_each_group_version_at_its_hash() {
        let documents = build();
        let root: Value = serde_json::from_slice(&documents.v3_root.body).expect("JSON");
        let keys: Vec<&String> = root["paths"].as_object().expect("paths").keys().collect();
        assert_eq!(
            keys,
            [
                "api/v1",
                "apis/apps/v1",
                "apis/batch/v1",
                "apis/coordination.k8s.io/v1"
            ]
        );
        let apps = &documents.v3["apis/apps/v1"];
        assert_eq!(apps.etag, etag(&apps.body));
        assert_eq!(apps.etag.len(), 128);
        assert_eq!(
            root["paths"]["apis/apps/v1"]["serverRelativeURL"],
            format!("/openapi/v3/apis/apps/v1?hash={}", apps.etag)
        );
    }

    #[test]
    fn the_protobuf_decodes_to_the_json_documents_definitions() {
        let documents = build();
        let json: Value = serde_json::from_slice(&documents.v2_json.body).expect("JSON");
        let decoded =
            protobuf::pb::Document::decode(documents.v2_protobuf.body.as_slice()).expect("decodes");
        assert_eq!(decoded.swagger, "2.0");
        let names: Vec<&str> = decoded
            .definitions
            .as_ref()
            .expect("definitions")
            .additional_properties
            .iter()
            .map(|named| named.name.as_str())
            .collect();
        let json_names: Vec<&str> = json["definitions"]
            .as_object()
            .expect("definitions")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(names, json_names);
        assert!(names.contains(&"io.k8s.api.apps.v1.Deployment"));
    }

    #[test]
    fn etags_are_upper_case_sha512() {
        // SHA-512 of the empty string.
        assert!(etag(b"").starts_with("CF83E1357EEFB8BDF1542850D66D8007"));
    }
}
