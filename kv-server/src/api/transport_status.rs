//! etcd's answers to requests that fail before any service sees them.
//!
//! When a request's gRPC framing or protobuf is bad, the gRPC library
//! answers, not etcd: grpc-go in etcd's case, tonic in keel's. The two pick
//! different codes for the same fault (tonic says OutOfRange where grpc-go
//! says ResourceExhausted for an oversized message, and Internal where
//! grpc-go says Unknown for a cut-off stream), and clients act on codes. So
//! keeld passes every response through [`rewrite`], which recognises
//! tonic's transport statuses and puts grpc-go's code and message in their
//! place:
//!
//! | fault                                | tonic                    | etcd (grpc-go)                                          |
//! |--------------------------------------|--------------------------|---------------------------------------------------------|
//! | message does not decode              | Internal, prost's text   | Internal, `grpc: error unmarshalling request: …`        |
//! | compressed flag, no `grpc-encoding`  | Internal                 | Internal, `grpc: compressed flag set with identity or empty encoding` |
//! | stream ends inside a message         | Internal                 | Unknown, `unexpected EOF`                               |
//! | message over the size limit          | OutOfRange               | ResourceExhausted, `grpc: received message larger than max (N vs. M)` |
//!
//! Only trailers-only responses are rewritten: that is how a unary call
//! that fails to decode its request is answered. A streaming call that
//! receives a bad message mid-stream keeps tonic's status.

use tonic::{Code, Status};

/// grpc-go's status for a tonic transport status, or `None` if `status`
/// is not one of those in the table above.
pub fn etcd_status(status: &Status) -> Option<Status> {
    let message = status.message();
    match status.code() {
        Code::Internal => {
            if let Some(reason) = message.strip_prefix("failed to decode Protobuf message: ") {
                Some(Status::internal(format!(
                    "grpc: error unmarshalling request: {reason}"
                )))
            } else if message
                == "protocol error: received message with compressed-flag but no grpc-encoding was specified"
            {
                Some(Status::internal(
                    "grpc: compressed flag set with identity or empty encoding",
                ))
            } else if message == "Unexpected EOF decoding stream." {
                Some(Status::unknown("unexpected EOF"))
            } else {
                None
            }
        }
        Code::OutOfRange => {
            let sizes = message
                .strip_prefix("Error, decoded message length too large: found ")?
                .strip_suffix(" bytes")?;
            let (found, limit) = sizes.split_once(" bytes, the limit is: ")?;
            Some(Status::resource_exhausted(format!(
                "grpc: received message larger than max ({found} vs. {limit})"
            )))
        }
        _ => None,
    }
}

/// Rewrites a trailers-only response that carries a tonic transport status
/// into grpc-go's; passes every other response through untouched.
pub fn rewrite<B>(mut response: http::Response<B>) -> http::Response<B> {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    if let Some(etcd) = etcd_status(&status) {
        let headers = response.headers_mut();
        headers.remove("grpc-message");
        headers.remove("grpc-status-details-bin");
        // Writing a code and an ASCII message cannot fail.
        let _ = etcd.add_header(headers);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(status: &Status) -> Option<(Code, String)> {
        etcd_status(status).map(|s| (s.code(), s.message().to_string()))
    }

    #[test]
    fn tonic_transport_statuses_become_grpc_go_ones() {
        assert_eq!(
            rewritten(&Status::internal(
                "failed to decode Protobuf message: invalid varint"
            )),
            Some((
                Code::Internal,
                "grpc: error unmarshalling request: invalid varint".into()
            ))
        );
        assert_eq!(
            rewritten(&Status::internal("Unexpected EOF decoding stream.")),
            Some((Code::Unknown, "unexpected EOF".into()))
        );
        assert_eq!(
            rewritten(&Status::out_of_range(
                "Error, decoded message length too large: found 4294967295 bytes, the limit is: 2097152 bytes"
            )),
            Some((
                Code::ResourceExhausted,
                "grpc: received message larger than max (4294967295 vs. 2097152)".into()
            ))
        );
    }

    #[test]
    fn other_statuses_pass_untouched() {
        for status in [
            Status::internal("etcdserver: something"),
            Status::out_of_range("etcdserver: mvcc: required revision is a future revision"),
            Status::invalid_argument("etcdserver: key is not provided"),
        ] {
            assert_eq!(rewritten(&status), None, "{status:?}");
        }
        let response = http::Response::new(());
        assert!(rewrite(response).headers().is_empty());
    }

    #[test]
    fn rewriting_replaces_the_headers() {
        let mut response = Status::out_of_range(
            "Error, decoded message length too large: found 9 bytes, the limit is: 4 bytes",
        )
        .into_http::<()>();
        response = rewrite(response);
        let status = Status::from_header_map(response.headers()).expect("a status");
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "grpc: received message larger than max (9 vs. 4)"
        );
    }
}
