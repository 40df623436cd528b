//! Kubernetes' WebSocket channel protocol for exec, as plain functions:
//! frames in, frames and the final Status out.
//!
//! ```text
//!   every binary message: [channel byte][data]
//!     0 stdin  ─► the command        1 stdout, 2 stderr ◄─ the command
//!     3 error  ◄─ one metav1.Status when the command has ended
//!     4 resize ─► {"Width":w,"Height":h} (tty)
//!     255 close (v5 only) ─► [255, channel]: the client is done with
//!         that stream (stdin's end of file)
//! ```
//!
//! kubectl 1.30+ asks for `v5.channel.k8s.io` only (then falls back to
//! SPDY, which keel does not serve); `v4.channel.k8s.io` is the same
//! without the close channel.

use serde::Deserialize;
use serde_json::{json, Value};

/// The subprotocols served, in order of preference.
pub const PROTOCOLS: [&str; 2] = [V5, V4];
/// `v5.channel.k8s.io`: v4 and the close channel.
pub const V5: &str = "v5.channel.k8s.io";
/// `v4.channel.k8s.io`: channels 0 to 4, the Status on channel 3.
pub const V4: &str = "v4.channel.k8s.io";

/// Channel 0: the command's standard input.
pub const STDIN: u8 = 0;
/// Channel 1: its standard output (and a terminal's output).
pub const STDOUT: u8 = 1;
/// Channel 2: its standard error.
pub const STDERR: u8 = 2;
/// Channel 3: the Status that ends the session.
pub const ERROR: u8 = 3;
/// Channel 4: the terminal's size.
pub const RESIZE: u8 = 4;
/// Channel 255 (v5): closes the stream the next byte names.
pub const CLOSE: u8 = 255;

/// What a message from the client asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// Bytes for the command's standard input.
    Stdin(&'a [u8]),
    /// The client will send no more on this stream (`STDIN`: end of file).
    Close(u8),
    /// The terminal's new size.
    Resize {
        /// Columns.
        width: u16,
        /// Rows.
        height: u16,
    },
    /// Nothing to do: an empty message, another channel, a bad size.
    Ignored,
}

#[derive(Deserialize)]
struct TerminalSize {
    #[serde(rename = "Width")]
    width: u16,
    #[serde(rename = "Height")]
    height: u16,
}

/// Reads a binary message from the client; `v5` whether the close
/// channel was negotiated.
pub fn inbound(message: &[u8], v5: bool) -> Inbound<'_> {
    match message {
        [STDIN, data @ ..] => Inbound::Stdin(data),
        [RESIZE, data @ ..] => {
            serde_json::from_slice::<TerminalSize>(data).map_or(Inbound::Ignored, |size| {
                Inbound::Resize {
                    width: size.width,
                    height: size.height,
                }
            })
        }
        [CLOSE, stream, ..] if v5 => Inbound::Close(*stream),
        _ => Inbound::Ignored,
    }
}

/// A message on `channel` carrying `data`.
pub fn frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(data.len() + 1);
    message.push(channel);
    message.extend_from_slice(data);
    message
}

/// The Status that ends a session whose command exited with `code`, as
/// the kubelet writes it: Success, or NonZeroExitCode with the code as
/// the `ExitCode` cause (what kubectl exits with).
pub fn exit_status(argv: &[String], code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            argv.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// The Status that ends a session whose command could not run.
pub fn failure_status(error: &str) -> Value {
    let message = format!("error executing command in container: {error}");
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("Internal error occurred: {message}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_messages() {
        assert_eq!(inbound(b"\x00ls\n", true), Inbound::Stdin(b"ls\n"));
        assert_eq!(inbound(b"\x00", true), Inbound::Stdin(b""));
        assert_eq!(
            inbound(b"\x04{\"Width\":120,\"Height\":40}", true),
            Inbound::Resize {
                width: 120,
                height: 40
            }
        );
        assert_eq!(inbound(b"\x04{\"Width\":-1}", true), Inbound::Ignored);
        assert_eq!(inbound(&[CLOSE, STDIN], true), Inbound::Close(STDIN));
        // v4 has no close channel.
        assert_eq!(inbound(&[CLOSE, STDIN], false), Inbound::Ignored);
        assert_eq!(inbound(b"", true), Inbound::Ignored);
        assert_eq!(inbound(b"\x01out", true), Inbound::Ignored);
    }

    #[test]
    fn frames_and_statuses() {
        assert_eq!(frame(STDOUT, b"hi\n"), b"\x01hi\n");
        let argv = ["sh".to_owned(), "-c".to_owned(), "exit 3".to_owned()];
        assert_eq!(
            exit_status(&argv, 0).to_string(),
            r#"{"metadata":{},"status":"Success"}"#
        );
        let failed = exit_status(&argv, 3);
        assert_eq!(failed["reason"], "NonZeroExitCode");
        assert_eq!(failed["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(failed["details"]["causes"][0]["message"], "3");
        assert_eq!(
            failed["message"],
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
        );
        assert_eq!(failure_status("no such file")["reason"], "InternalError");
    }
}
