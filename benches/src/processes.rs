//! The processes an orchestration benchmark (`schedule`, `rollout`) starts
//! and watches: a child process killed when dropped, the machine's load
//! average, and a sampler of several processes' RSS and CPU while a
//! measurement runs.
//!
//! ```text
//!   Process::start(keel, args, log) ── child, stdout+stderr to log; killed on drop
//!   Sampler::new([(name, pid)..]) ─► sample_while(sampler, work):
//!        every SAMPLE_INTERVAL: procfs::sample(pid) ─► peak RSS, CPU now
//!   sampler.mark() ─► CPU counted from here; sampler.usage() ─► per process
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark starts processes and writes their logs"
)]

use std::future::Future;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::procfs::{self, Sample};

/// How often the sampler reads the processes' RSS and CPU.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// A child process killed when dropped.
pub struct Process {
    child: Child,
    program: String,
}

impl Process {
    /// Starts `program` with `args`, its stdout and stderr written to `log`.
    pub fn start(program: &Path, args: &[String], log: &Path) -> Result<Self, String> {
        let file = std::fs::File::create(log)
            .map_err(|e| format!("creating the log {}: {e}", log.display()))?;
        let stderr = file
            .try_clone()
            .map_err(|e| format!("sharing the log {}: {e}", log.display()))?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", program.display()))?;
        let name = args
            .first()
            .map_or(String::new(), |command| format!(" {command}"));
        Ok(Self {
            child,
            program: format!("{}{name}", program.display()),
        })
    }

    /// Its process ID, to read its RSS and CPU time from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks it to stop (SIGTERM, through `kill`) and waits up to `wait`
    /// for it to; answers whether it did (when not, dropping it kills it).
    pub fn terminate(&mut self, wait: Duration) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + wait;
        while std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Why it stopped, if it has: "`keel scheduler` exited: exit status: 1".
    pub fn exited(&mut self) -> Option<String> {
        let status: ExitStatus = self.child.try_wait().ok()??;
        Some(format!("{} exited: {status}", self.program))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `error`, with the children that stopped ([`Process::exited`] of
/// each), whose logs say why.
pub fn with_exits(error: String, exited: &[String]) -> String {
    if exited.is_empty() {
        error
    } else {
        format!("{error} ({}; see their logs)", exited.join("; "))
    }
}

/// The 1-minute load average (0 when unknown).
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| one_minute_load(&text))
        .unwrap_or(0.0)
}

/// The first field of `/proc/loadavg`'s text.
pub fn one_minute_load(loadavg: &str) -> Option<f64> {
    loadavg.split_whitespace().next()?.parse().ok()
}

/// What one process used while it was sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// Its name in the report ("scheduler").
    pub name: &'static str,
    /// The largest RSS sampled.
    pub peak_rss_bytes: u64,
    /// CPU time used since the sampler's mark (since the first sample
    /// before a mark).
    pub cpu: Duration,
}

/// One sampled process.
#[derive(Debug, Clone)]
struct Watched {
    pid: u32,
    usage: Usage,
    /// CPU time at the mark; `None` until the first sample.
    cpu_from: Option<Duration>,
}

impl Watched {
    fn record(&mut self, sample: Sample) {
        self.usage.peak_rss_bytes = self.usage.peak_rss_bytes.max(sample.rss_bytes);
        let from = *self.cpu_from.get_or_insert(sample.cpu);
        self.usage.cpu = sample.cpu.saturating_sub(from);
    }
}

/// The peak RSS and CPU time of several processes, sampled from `/proc`.
#[derive(Debug, Clone, Default)]
pub struct Sampler {
    processes: Vec<Watched>,
}

impl Sampler {
    /// A sampler of `processes` (name, pid); nothing sampled yet.
    pub fn new(processes: impl IntoIterator<Item = (&'static str, u32)>) -> Self {
        let mut sampler = Self::default();
        for (name, pid) in processes {
            sampler.add(name, pid);
        }
        sampler
    }

    /// Samples `pid` as `name` from now on.
    pub fn add(&mut self, name: &'static str, pid: u32) {
        self.processes.push(Watched {
            pid,
            usage: Usage {
                name,
                peak_rss_bytes: 0,
                cpu: Duration::ZERO,
            },
            cpu_from: None,
        });
    }

    /// Samples every process once; one that cannot be read (it has
    /// exited) keeps its figures.
    pub fn sample(&mut self) {
        for process in &mut self.processes {
            if let Ok(sample) = procfs::sample(process.pid) {
                process.record(sample);
            }
        }
    }

    /// Samples, then counts CPU time from here on.
    pub fn mark(&mut self) {
        for process in &mut self.processes {
            process.cpu_from = None;
            process.usage.cpu = Duration::ZERO;
        }
        self.sample();
    }

    /// Every process's figures, in the order they were added.
    pub fn usage(&self) -> Vec<Usage> {
        self.processes.iter().map(|p| p.usage.clone()).collect()
    }

    /// The figures of the process named `name`.
    pub fn usage_of(&self, name: &str) -> Option<Usage> {
        self.processes
            .iter()
            .find(|p| p.usage.name == name)
            .map(|p| p.usage.clone())
    }
}

/// Runs `work` to its end while `sampler` samples every
/// [`SAMPLE_INTERVAL`] (and once more at the end); answers its output.
pub async fn sample_while<T>(sampler: &mut Sampler, work: impl Future<Output = T>) -> T {
    let mut work = std::pin::pin!(work);
    loop {
        sampler.sample();
        tokio::select! {
            done = &mut work => {
                sampler.sample();
                return done;
            }
            () = tokio::time::sleep(SAMPLE_INTERVAL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_average_is_the_first_field() {
        assert_eq!(one_minute_load("2.15 1.06 0.42 3/321 9999\n"), Some(2.15));
        assert_eq!(one_minute_load(""), None);
    }

    #[test]
    fn a_process_keeps_its_peak_rss_and_its_cpu_since_the_first_sample() {
        let mut sampler = Sampler::new([("keeld", 1)]);
        let sample = |mib: u64, cpu_ms: u64| Sample {
            rss_bytes: mib << 20,
            cpu: Duration::from_millis(cpu_ms),
        };
        let process = &mut sampler.processes[0];
        process.record(sample(10, 500));
        process.record(sample(30, 900));
        process.record(sample(20, 1_700));
        assert_eq!(
            sampler.usage_of("keeld"),
            Some(Usage {
                name: "keeld",
                peak_rss_bytes: 30 << 20,
                cpu: Duration::from_millis(1_200),
            })
        );
        assert_eq!(sampler.usage_of("etcd"), None);
    }

    #[tokio::test]
    async fn this_process_is_sampled_while_work_runs() {
        let mut sampler = Sampler::new([("bench", std::process::id())]);
        sampler.mark();
        let answer = sample_while(&mut sampler, async { 42 }).await;
        assert_eq!(answer, 42);
        assert!(sampler.usage()[0].peak_rss_bytes > 0);
    }
}
