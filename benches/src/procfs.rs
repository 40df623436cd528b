//! What Linux says about a process: its resident memory (`VmRSS` in
//! `/proc/<pid>/status`) and the CPU time it has used (`utime` + `stime` in
//! `/proc/<pid>/stat`). The watch benchmarks read a server's figures
//! before and after each phase; the parsing is plain functions over the
//! files' text.

use std::time::Duration;

/// Clock ticks per second of `/proc/<pid>/stat`'s CPU fields: Linux's
/// `USER_HZ`, which is 100 on every architecture it exposes to user space
/// (the kernel converts from its internal `HZ`).
const USER_HZ: u64 = 100;

/// One process's figures at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// User plus system CPU time used so far.
    pub cpu: Duration,
}

/// Reads process `pid`'s figures (`"self"` is not accepted: pass
/// [`std::process::id`] for this process).
pub fn sample(pid: u32) -> Result<Sample, String> {
    let read = |file: &str| {
        let path = format!("/proc/{pid}/{file}");
        std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))
    };
    let status = read("status")?;
    let stat = read("stat")?;
    Ok(Sample {
        rss_bytes: vm_rss_bytes(&status)
            .ok_or_else(|| format!("/proc/{pid}/status has no VmRSS line"))?,
        cpu: cpu_time(&stat).ok_or_else(|| format!("/proc/{pid}/stat is not as expected"))?,
    })
}

/// The `VmRSS:   1234 kB` line of a `/proc/<pid>/status`, in bytes.
pub fn vm_rss_bytes(status: &str) -> Option<u64> {
    kib_line(status, "VmRSS:")
}

/// Process `pid`'s proportional set size (`Pss:` of
/// `/proc/<pid>/smaps_rollup`), bytes: its resident pages, each shared page
/// divided among its sharers, so that a sum over processes is their real
/// use.
pub fn pss_bytes(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/smaps_rollup");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    kib_line(&text, "Pss:").ok_or_else(|| format!("{path} has no Pss line"))
}

/// The `<name>   1234 kB` line of a /proc file, in bytes.
fn kib_line(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with(name))?;
    let mut words = line[name.len()..].split_whitespace();
    let kib: u64 = words.next()?.parse().ok()?;
    (words.next()? == "kB").then_some(kib * 1024)
}

/// `utime + stime` of a `/proc/<pid>/stat` line. The command name (field 2)
/// is in parentheses and may hold spaces, so fields are counted from the
/// last `)`: `utime` and `stime` are fields 14 and 15 of the line, the 12th
/// and 13th after the name.
pub fn cpu_time(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_read_from_the_status_line_in_bytes() {
        let status = "Name:\tetcd\nVmPeak:\t  999 kB\nVmRSS:\t   41236 kB\nRssAnon:\t 1 kB\n";
        assert_eq!(vm_rss_bytes(status), Some(41_236 * 1024));
        assert_eq!(vm_rss_bytes("Name:\tkeeld\n"), None);
        assert_eq!(vm_rss_bytes("VmRSS:\t12 MB\n"), None, "only kB is known");
    }

    #[test]
    fn cpu_time_counts_fields_after_the_command_name() {
        // Fields 14 and 15 are 250 and 50 ticks; the name has a space and a
        // parenthesis in it.
        let stat = "4242 (kee) ld) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0";
        assert_eq!(cpu_time(stat), Some(Duration::from_secs(3)));
        assert_eq!(cpu_time("4242 (keeld) S 1"), None);
    }

    #[test]
    fn pss_is_read_from_smaps_rollup() {
        let rollup = "5599-7ffd0 ---p 00000000 00:00 0   [rollup]\nRss:  2048 kB\nPss:   1500 kB\nPss_Anon: 900 kB\n";
        assert_eq!(kib_line(rollup, "Pss:"), Some(1500 * 1024));
        assert!(pss_bytes(std::process::id()).expect("our own smaps_rollup") > 0);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let sample = sample(std::process::id()).expect("our own /proc entry");
        assert!(sample.rss_bytes > 0);
    }
}
