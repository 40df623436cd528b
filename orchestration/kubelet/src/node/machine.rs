//! What the machine is and has, read from /proc, /etc and the file
//! system. The one place the node's facts touch the system.

#![allow(
    clippy::disallowed_methods,
    reason = "reading the machine's facts from /proc is what this module is for"
)]

use std::path::Path;

use nix::sys::statvfs::statvfs;

/// What the machine offers, read once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// CPUs online.
    pub cpus: usize,
    /// Memory (`MemTotal`), in bytes.
    pub memory_bytes: u64,
    /// The size of the file system holding the kubelet's directory.
    pub disk_bytes: u64,
    /// Go's name for the architecture (`amd64`, `arm64`).
    pub architecture: String,
    /// `uname -r`.
    pub kernel_version: String,
    /// `PRETTY_NAME` of /etc/os-release.
    pub os_image: String,
    /// /etc/machine-id.
    pub machine_id: String,
    /// This boot's id.
    pub boot_id: String,
}

/// How tight the machine is now, read every heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pressure {
    /// `MemAvailable`, in bytes.
    pub memory_available_bytes: u64,
    /// The kubelet directory's file system: its size and its free space.
    pub disk_bytes: u64,
    /// Free space, in bytes.
    pub disk_free_bytes: u64,
    /// Processes running.
    pub pids: u64,
    /// `kernel/pid_max`.
    pub pids_max: u64,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// A `/proc/meminfo` field, in bytes.
fn meminfo(field: &str) -> u64 {
    read("/proc/meminfo")
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.trim()
                .trim_end_matches(" kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0)
        * 1024
}

impl Machine {
    /// Reads the machine's facts; `dir` is where the kubelet keeps its
    /// data (its file system's size is the node's ephemeral storage).
    pub fn read(dir: &Path) -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        let os_image = read("/etc/os-release")
            .lines()
            .find_map(|line| line.strip_prefix("PRETTY_NAME="))
            .map_or_else(|| "Linux".to_owned(), |v| v.trim_matches('"').to_owned());
        Self {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            memory_bytes: meminfo("MemTotal"),
            disk_bytes: statvfs(dir).map_or(0, |s| s.blocks() * s.fragment_size()),
            architecture: architecture.to_owned(),
            kernel_version: nix::sys::utsname::uname()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
            os_image,
            machine_id: read("/etc/machine-id"),
            boot_id: read("/proc/sys/kernel/random/boot_id"),
        }
    }
}

impl Pressure {
    /// Reads how tight the machine is now.
    pub fn read(dir: &Path) -> Self {
        let (disk_bytes, disk_free_bytes) = statvfs(dir).map_or((0, 0), |s| {
            (
                s.blocks() * s.fragment_size(),
                s.blocks_available() * s.fragment_size(),
            )
        });
        let pids = std::fs::read_dir("/proc").map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                })
                .count() as u64
        });
        Self {
            memory_available_bytes: meminfo("MemAvailable"),
            disk_bytes,
            disk_free_bytes,
            pids,
            pids_max: read("/proc/sys/kernel/pid_max").parse().unwrap_or(32_768),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_reads_as_a_machine() {
        let machine = Machine::read(Path::new("/"));
        assert!(machine.cpus >= 1);
        assert!(machine.memory_bytes > 64 << 20, "{machine:?}");
        assert!(machine.disk_bytes > 0);
        assert!(!machine.kernel_version.is_empty());
        let pressure = Pressure::read(Path::new("/"));
        assert!(pressure.memory_available_bytes > 0);
        assert!(pressure.memory_available_bytes <= machine.memory_bytes);
        assert!(pressure.pids > 1 && pressure.pids < pressure.pids_max);
    }
}
