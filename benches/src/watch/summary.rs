//! The text `keel-bench watch-latency` prints for one run.

use std::fmt::Write as _;

use super::{LatencyReport, SlowReport, WatchOptions};
use crate::procfs::Sample;
use crate::show::mib;

impl LatencyReport {
    /// A few lines: latency percentiles, the accounting of events, the
    /// writer's figures and, if known, the server's.
    pub fn summary(&self, options: &WatchOptions) -> String {
        let l = &self.latency;
        let mut text = format!(
            "watch delivery, {} watchers × {} puts: latency p50 {:?} p90 {:?} p99 {:?} p99.9 {:?} max {:?}\n",
            options.watchers, options.puts, l.p50, l.p90, l.p99, l.p999, l.max
        );
        let _ = writeln!(
            text,
            "  events: {} delivered of {} expected, {} missing, {} duplicates, {} unexpected; first put → last event {:?}",
            self.delivered, self.expected, self.missing, self.duplicates, self.unexpected, self.delivery
        );
        let _ = writeln!(
            text,
            "  puts: {:.0}/s, p50 {:?} p99 {:?}, {} failed, {} outside the expected revisions; keel-bench CPU {:?}",
            self.puts_per_second,
            self.put_latency.p50,
            self.put_latency.p99,
            self.put_errors,
            self.misplaced_puts,
            self.client_cpu
        );
        if let Some(error) = &self.first_put_error {
            let _ = writeln!(text, "  first put error: {error}");
        }
        if let Some(server) = &self.server {
            let _ = writeln!(
                text,
                "  server RSS: {} before the watchers, {} with them, {} after the puts ({:.0} B per watcher); server CPU {:?} from the first put to the last event",
                mib(server.before_watchers.rss_bytes as i64),
                mib(server.after_watchers.rss_bytes as i64),
                mib(server.after_puts.rss_bytes as i64),
                server.bytes_per_watcher(options.watchers),
                server.delivery_cpu()
            );
        }
        text
    }
}

impl SlowReport {
    /// Two lines: the server's RSS at each sample, and the writer's
    /// figures.
    pub fn summary(&self, options: &WatchOptions) -> String {
        let rss = |sample: Option<Sample>| {
            sample.map_or_else(
                || "? (no --server-pid)".to_string(),
                |s| mib(s.rss_bytes as i64),
            )
        };
        let mut text = format!(
            "slow watchers, {} watchers never read: server RSS {} before them, {} at 0 puts, {} at {} puts, {} at {} puts\n",
            options.watchers,
            rss(self.before_watchers),
            rss(self.at_start),
            rss(self.at_half),
            options.puts / 2,
            rss(self.at_end),
            options.puts,
        );
        let _ = writeln!(
            text,
            "  puts: {:.0}/s, p50 {:?} p99 {:?} max {:?}, {} failed",
            self.puts_per_second,
            self.put_latency.p50,
            self.put_latency.p99,
            self.put_latency.max,
            self.put_errors
        );
        if let Some(error) = &self.first_put_error {
            let _ = writeln!(text, "  first put error: {error}");
        }
        text
    }
}
