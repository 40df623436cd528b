//! The container monitors of a `pods` round's kubelet: the processes
//! whose memory the round measures. The node itself (names, pod network,
//! clean-up) is the tests' harness's: `keel_tests::node`.

#![allow(
    clippy::disallowed_methods,
    reason = "the monitors are found by reading /proc"
)]

use std::path::Path;

/// The container monitors (`keel container-init monitor <state dir>`)
/// whose state is under `runtime_dir`: one per running container.
pub fn under(runtime_dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let under = runtime_dir.to_string_lossy().into_owned();
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            is_monitor(&cmdline, &under)
        })
        .collect()
}

/// Whether a `/proc/<pid>/cmdline` is a monitor's of a container under
/// `runtime_dir`.
pub fn is_monitor(cmdline: &[u8], runtime_dir: &str) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.windows(3).any(|window| {
        window[0] == b"container-init"
            && window[1] == b"monitor"
            && window[2].starts_with(runtime_dir.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monitor_is_known_by_its_arguments_and_its_state_dir() {
        let monitor = b"/proc/self/exe\0container-init\0monitor\0/tmp/r/run/abc\0";
        assert!(is_monitor(monitor, "/tmp/r/run"));
        assert!(!is_monitor(monitor, "/tmp/other"));
        let start = b"keel\0container-init\0start\0/tmp/r/run/abc\0";
        assert!(!is_monitor(start, "/tmp/r/run"));
    }
}
