//! Failures as kube-apiserver answers them: a `metav1.Status` with its
//! reason, code, message and (for Invalid) details, from every layer's
//! errors (the store's, patches', selectors').

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keel_api::patch::PatchError;
use keel_runtime::StoreError;
use serde_json::{json, Value};

/// A failure with what `metav1.Status` carries.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The HTTP status.
    pub code: StatusCode,
    /// The Status reason ("NotFound"; "" for an internal error with none).
    pub reason: &'static str,
    /// The message.
    pub message: String,
    /// The Status details, when there are any (Invalid's causes).
    pub details: Option<Value>,
}

impl Failure {
    /// A failure of `code` and `reason`.
    pub(crate) fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// 400 BadRequest.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 405 MethodNotAllowed, as kube-apiserver words it.
    pub(crate) fn method_not_allowed(method: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
        )
    }

    /// The failure's `metav1.Status`.
    pub(crate) fn status(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details.clone().unwrap_or_else(|| json!({})),
            "code": self.code.as_u16(),
        })
    }

    /// The failure as an HTTP answer.
    pub(crate) fn into_response(self) -> Response {
        (self.code, Json(self.status())).into_response()
    }
}

/// The details kube-apiserver's `NewNotFound`, `NewAlreadyExists` and
/// `NewConflict` give: the name, the group (left out when empty) and the
/// resource as `kind`.
fn naming(qualified: &str, name: &str) -> Value {
    let (resource, group) = qualified.split_once('.').unwrap_or((qualified, ""));
    let mut details = json!({"name": name, "kind": resource});
    if !group.is_empty() {
        details["group"] = group.into();
    }
    details
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        let message = error.to_string();
        let details = match &error {
            StoreError::NotFound { resource, name }
            | StoreError::AlreadyExists { resource, name }
            | StoreError::Conflict { resource, name } => Some(naming(resource, name)),
            _ => None,
        };
        let (code, reason) = match error {
            StoreError::NotFound { .. } => (StatusCode::NOT_FOUND, "NotFound"),
            StoreError::AlreadyExists { .. } => (StatusCode::CONFLICT, "AlreadyExists"),
            StoreError::Conflict { .. } | StoreError::Precondition(_) | StoreError::Bind { .. } => {
                (StatusCode::CONFLICT, "Conflict")
            }
            StoreError::Gone { .. } => (StatusCode::GONE, "Expired"),
            StoreError::Invalid { details, .. } => {
                return Self {
                    code: StatusCode::UNPROCESSABLE_ENTITY,
                    reason: "Invalid",
                    message,
                    details: Some(details),
                }
            }
            StoreError::BadContinue(_) | StoreError::Object(_) => {
                (StatusCode::BAD_REQUEST, "BadRequest")
            }
            StoreError::Patch(patch) => return patch.into(),
            StoreError::Keel(ref keel)
                if keel.etcd() == Some(keel_client::EtcdError::RequestTooLarge) =>
            {
                (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge")
            }
            StoreError::Keel(_) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        };
        Self {
            details,
            ..Self::new(code, reason, message)
        }
    }
}

impl From<PatchError> for Failure {
    fn from(error: PatchError) -> Self {
        let code = StatusCode::from_u16(error.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::new(code, error.reason(), error.message())
    }
}
