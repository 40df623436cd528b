//! The Markdown `keel-bench kube` prints: creates, lists, watch delivery
//! and memory, one table each.

use std::fmt::Write as _;
use std::time::Duration;

use super::{KubeOptions, KubeReport};
use crate::load::Percentiles;
use crate::show::{mib, ms};

/// The open loop's p99 target at 100 creates/s.
pub const OPEN_LOOP_P99_TARGET: Duration = Duration::from_millis(20);

/// Kubernetes' API call latency SLO for single-object mutations: p99 at
/// most 1 s (kubernetes/community, `sig-scalability/slos/`, the API call
/// latency SLI).
pub const MUTATION_P99_SLO: Duration = Duration::from_secs(1);

/// The same SLO for non-streaming reads of a namespace (a LIST of one
/// namespace's pods): p99 at most 5 s.
pub const NAMESPACE_LIST_P99_SLO: Duration = Duration::from_secs(5);

/// Microseconds of `cpu` per create, or "–" for no creates.
fn cpu_per(cpu: Duration, creates: u64) -> String {
    if creates == 0 {
        "–".to_string()
    } else {
        format!("{:.0} µs", cpu.as_secs_f64() * 1e6 / creates as f64)
    }
}

/// The smallest, the median (the lower one of an even count) and the
/// largest of `samples`.
pub fn spread(samples: &[Duration]) -> (Duration, Duration, Duration) {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    match (sorted.first(), sorted.last()) {
        (Some(first), Some(last)) => (*first, sorted[(sorted.len() - 1) / 2], *last),
        _ => Default::default(),
    }
}

fn latency_cells(latency: &Percentiles) -> String {
    format!(
        "{} | {} | {}",
        ms(latency.p50),
        ms(latency.p99),
        ms(latency.max)
    )
}

fn verdict(value: Duration, target: Duration) -> &'static str {
    if value <= target {
        "met"
    } else {
        "MISSED"
    }
}

impl KubeReport {
    /// The tables of a run.
    pub fn summary(&self, options: &KubeOptions) -> String {
        let mut text = String::new();
        self.creates_table(options, &mut text);
        self.lists_table(&mut text);
        self.delivery_table(options, &mut text);
        self.memory_table(options, &mut text);
        text
    }

    fn creates_table(&self, options: &KubeOptions, text: &mut String) {
        let _ = writeln!(text, "| pod creates | creates/s | p50 | p99 | max | failed | front CPU / create | keeld CPU / create |");
        let _ = writeln!(text, "|---|---|---|---|---|---|---|---|");
        for closed in &self.closed {
            let r = &closed.report;
            let _ = writeln!(
                text,
                "| closed loop, {} client{}, {} s | {:.0} | {} | {} | {} | {} |",
                closed.clients,
                if closed.clients == 1 { "" } else { "s" },
                options.duration.as_secs(),
                r.per_second,
                latency_cells(&r.latency),
                r.errors,
                cpu_per(closed.front_cpu, closed.creates),
                cpu_per(closed.keeld_cpu, closed.creates),
            );
        }
        let fill = &self.fill;
        let (front_cpu, keeld_cpu) = self.after_fill.cpu_since(&self.idle);
        let _ = writeln!(
            text,
            "| {} pods to list, {} clients | {:.0} | {} | 0 | {} | {} |",
            fill.pods,
            fill.clients,
            fill.pods as f64 / fill.took.as_secs_f64(),
            latency_cells(&fill.latency),
            cpu_per(front_cpu, fill.pods),
            cpu_per(keeld_cpu, fill.pods),
        );
        let open = &self.open;
        let _ = writeln!(
            text,
            "| open loop, {:.0}/s offered for {} s | {:.0} | {} | {} | {} | {} |",
            open.rate_per_sec,
            options.rate_duration.as_secs(),
            open.created as f64 / options.rate_duration.as_secs_f64(),
            latency_cells(&open.latency),
            open.errors,
            cpu_per(self.open_cpu.0, open.created),
            cpu_per(self.open_cpu.1, open.created),
        );
        let _ = writeln!(text);
        let _ = writeln!(
            text,
            "Open loop: p99 {} from the scheduled time, target {} ({}); Kubernetes' SLO for mutations, p99 ≤ 1 s: {}. At most {} creates in flight on {} connections; the latest send was {} behind its schedule.",
            ms(open.latency.p99),
            ms(OPEN_LOOP_P99_TARGET),
            verdict(open.latency.p99, OPEN_LOOP_P99_TARGET),
            verdict(
                self.closed.iter().map(|c| c.report.latency.p99).chain([open.latency.p99, fill.latency.p99]).max().unwrap_or_default(),
                MUTATION_P99_SLO
            ),
            open.in_flight_max,
            open.connections,
            ms(open.send_delay_max),
        );
        for (what, error) in self
            .closed
            .iter()
            .map(|c| ("closed loop", &c.report.first_error))
            .chain([("open loop", &open.first_error)])
        {
            if let Some(error) = error {
                let _ = writeln!(text, "First failure of the {what}: {error}");
            }
        }
        let _ = writeln!(text);
    }

    fn lists_table(&self, text: &mut String) {
        let lists = &self.lists;
        let (full_min, full_median, full_max) = spread(&lists.full);
        let (paged_min, paged_median, paged_max) = spread(&lists.paged);
        let _ = writeln!(
            text,
            "| list of {} pods, {} times each | fastest | median | slowest |",
            lists.items,
            lists.full.len()
        );
        let _ = writeln!(text, "|---|---|---|---|");
        let _ = writeln!(
            text,
            "| whole ({}) | {} | {} | {} |",
            mib(lists.full_list_bytes as i64),
            ms(full_min),
            ms(full_median),
            ms(full_max)
        );
        let _ = writeln!(
            text,
            "| paged, limit={} ({} pages, summed) | {} | {} | {} |",
            lists.page_limit,
            lists.pages,
            ms(paged_min),
            ms(paged_median),
            ms(paged_max)
        );
        let _ = writeln!(
            text,
            "| one page of {} | p50 {} | p99 {} | max {} |",
            lists.page_limit,
            ms(lists.page_latency.p50),
            ms(lists.page_latency.p99),
            ms(lists.page_latency.max)
        );
        let (front_cpu, keeld_cpu) = self.after_lists.cpu_since(&self.after_fill);
        let _ = writeln!(
            text,
            "\nCPU over these {} lists: the front {}, keeld {}. Kubernetes' SLO for a namespace's LIST, p99 ≤ 5 s: {} by the slowest whole list.",
            lists.full.len() + lists.paged.len(),
            ms(front_cpu),
            ms(keeld_cpu),
            verdict(full_max, NAMESPACE_LIST_P99_SLO)
        );
        let _ = writeln!(text);
    }

    fn delivery_table(&self, options: &KubeOptions, text: &mut String) {
        let d = &self.delivery;
        let shape = &options.delivery;
        let _ = writeln!(text, "| watch delivery, create answered → ADDED received | watchers × creates | delivered | p50 | p99 | max | before the answer | duplicates | create p50 / p99 |");
        let _ = writeln!(text, "|---|---|---|---|---|---|---|---|---|");
        let _ = writeln!(
            text,
            "| {:.0} creates/s, one writer | {} × {} | {} / {} | {} | {} | {} | {} / {} |",
            shape.rate_per_sec,
            shape.watchers,
            shape.creates,
            d.delivered,
            d.expected,
            latency_cells(&d.latency),
            d.before_answer,
            d.duplicates,
            ms(d.create_latency.p50),
            ms(d.create_latency.p99),
        );
        let _ = writeln!(text);
    }

    fn memory_table(&self, options: &KubeOptions, text: &mut String) {
        let _ = writeln!(text, "| RSS | front (`keel apiserver`) | keeld |");
        let _ = writeln!(text, "|---|---|---|");
        let rows = [
            ("front started, no pods", &self.idle),
            ("bench-list filled", &self.after_fill),
            ("after the lists", &self.after_lists),
            ("at the end, watchers open", &self.with_watchers),
        ];
        for (name, samples) in rows {
            let _ = writeln!(
                text,
                "| {name} | {} | {} |",
                mib(samples.front.rss_bytes as i64),
                mib(samples.keeld.rss_bytes as i64)
            );
        }
        let _ = writeln!(
            text,
            "\n({} pods in bench-list; the end adds the creates of the loops and {} watchers.)",
            options.list_pods, options.delivery.watchers
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_min_median_max() {
        let ms = Duration::from_millis;
        assert_eq!(spread(&[ms(5), ms(1), ms(3)]), (ms(1), ms(3), ms(5)));
        assert_eq!(spread(&[ms(4), ms(2)]), (ms(2), ms(2), ms(4)));
        assert_eq!(
            spread(&[]),
            (Duration::ZERO, Duration::ZERO, Duration::ZERO)
        );
    }

    #[test]
    fn cpu_is_shown_per_create() {
        assert_eq!(cpu_per(Duration::from_millis(150), 1000), "150 µs");
        assert_eq!(cpu_per(Duration::from_secs(1), 0), "–");
    }
}
