//! `keel container-init`: the processes that set a container up.

use std::ffi::OsString;

/// Runs the helper with its arguments (without the program name);
/// answers the process's exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    eprintln!("keel container-init: not yet: {args:?}");
    2
}
