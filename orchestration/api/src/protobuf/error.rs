//! Why a protobuf body could not be read, in the words of kube-apiserver's
//! protobuf serializer (apimachinery/pkg/runtime/serializer/protobuf/
//! protobuf.go), and the 400 BadRequest message its handlers make of them
//! (apiserver/pkg/endpoints/handlers/rest.go `transformDecodeError`):
//!
//! ```text
//!   kind known:   ConfigMap in version "v1" cannot be handled as a ConfigMap: <reason>
//!   kind unknown: the object provided is unrecognized (must be of type ConfigMap): <reason> (<first bytes>)
//! ```

use std::fmt::Write as _;

use crate::validation::field::go_quote;

/// The name kube-apiserver's scheme gives itself in "not registered"
/// errors (the call site of `runtime.NewScheme` in pkg/api/legacyscheme).
const SCHEME_NAME: &str = "pkg/api/legacyscheme/scheme.go:30";

/// How many bytes of the body a "the object provided is unrecognized"
/// message shows (`summarizeData(body, 30)` in the handlers).
const SUMMARY_BYTES_MAX: usize = 30;

/// Why a protobuf body is not an object; `Display` is the serializer's
/// error, [`ProtobufError::bad_request_message`] the whole message
/// kube-apiserver answers with (status 400, reason BadRequest).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The body is empty.
    #[error("empty data")]
    EmptyData,
    /// The body does not start with the magic `k8s\0`.
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )]
    NotProtobuf {
        /// The start of the body, as the handlers summarize it.
        summary: String,
    },
    /// The body is the magic alone.
    #[error("empty body")]
    EmptyBody,
    /// The `runtime.Unknown` envelope after the magic is not valid protobuf.
    #[error("{reason}")]
    Envelope {
        /// What is wrong with it.
        reason: String,
        /// The start of the body, as the handlers summarize it.
        summary: String,
    },
    /// The envelope's typeMeta has no kind.
    #[error("Object 'Kind' is missing in '{}'", type_meta(.api_version, ""))]
    MissingKind {
        /// The typeMeta's apiVersion.
        api_version: String,
        /// The start of the body, as the handlers summarize it.
        summary: String,
    },
    /// The envelope's typeMeta has no apiVersion.
    #[error("Object 'apiVersion' is missing in '{}'", type_meta("", .kind))]
    MissingVersion {
        /// The typeMeta's kind.
        kind: String,
    },
    /// keel reads no protobuf message for this apiVersion and kind.
    #[error("no kind {} is registered for version {} in scheme {}", go_quote(.kind), go_quote(.api_version), go_quote(SCHEME_NAME))]
    NotRegistered {
        /// The typeMeta's apiVersion ("apps/v1").
        api_version: String,
        /// The typeMeta's kind.
        kind: String,
    },
    /// The object's message (the envelope's `raw`) is not valid protobuf
    /// for its kind, or holds a value its JSON form cannot take.
    #[error("{reason}")]
    Object {
        /// The typeMeta's apiVersion ("apps/v1").
        api_version: String,
        /// The typeMeta's kind.
        kind: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ProtobufError {
    /// The message of kube-apiserver's 400 BadRequest for this error, on
    /// an endpoint serving `expected_kind` (the kind of the URL's
    /// resource, "ConfigMap").
    pub fn bad_request_message(&self, expected_kind: &str) -> String {
        if let Some((kind, version)) = self.kind_and_version() {
            return format!(
                "{kind} in version {} cannot be handled as a {expected_kind}: {self}",
                go_quote(version)
            );
        }
        let summary = match self {
            Self::NotProtobuf { summary }
            | Self::Envelope { summary, .. }
            | Self::MissingKind { summary, .. } => summary.clone(),
            Self::EmptyBody => summarize(&super::MAGIC),
            _ => "<empty>".to_owned(),
        };
        format!(
            "the object provided is unrecognized (must be of type {expected_kind}): {self} ({summary})"
        )
    }

    /// The kind and version the serializer read before it failed, when it
    /// read a kind (the handlers then name them instead of the body).
    fn kind_and_version(&self) -> Option<(&str, &str)> {
        match self {
            Self::MissingVersion { kind } => Some((kind, "")),
            Self::NotRegistered { api_version, kind }
            | Self::Object {
                api_version, kind, ..
            } => Some((kind, version_of(api_version))),
            _ => None,
        }
    }
}

/// The version of an apiVersion: "v1" of "apps/v1" and of "v1".
fn version_of(api_version: &str) -> &str {
    api_version
        .rsplit_once('/')
        .map_or(api_version, |(_, version)| version)
}

/// Go's `%#v` of a `runtime.TypeMeta`.
fn type_meta(api_version: &str, kind: &str) -> String {
    format!(
        "runtime.TypeMeta{{APIVersion:{}, Kind:{}}}",
        go_quote(api_version),
        go_quote(kind)
    )
}

/// The start of a body as the handlers' `summarizeData` shows it: text if
/// it opens with `{`, hex otherwise, cut after 30 bytes with " ...".
pub(super) fn summarize(body: &[u8]) -> String {
    let shown = &body[..body.len().min(SUMMARY_BYTES_MAX)];
    let mut summary = if body.first() == Some(&b'{') {
        String::from_utf8_lossy(shown).into_owned()
    } else {
        shown.iter().fold(String::new(), |mut hex, byte| {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
            hex
        })
    };
    if body.len() > SUMMARY_BYTES_MAX {
        summary.push_str(" ...");
    }
    summary
}
