//! `etcdctl check perf --load=s`: 60 s of rate-limited puts (150/s from a
//! few clients), then etcdctl's own judgement.

use std::time::Duration;

use keel_tests::{Flavor, Server};

/// Runs `check perf --load=s` on a server of its own and checks the report.
///
/// The judgement (throughput ≥ 90 % of 150 writes/s, slowest request
/// ≤ 0.5 s, stddev ≤ 0.1 s) depends on the machine and on whatever else
/// runs on it: etcd 3.4 passes on our 2-core machines when alone (151
/// writes/s, slowest 0.03 s), but the suite's other tests run in parallel.
/// So this asserts the report's shape and that the exit code matches the
/// verdict; the verdict itself is printed for the reader. Benchmarks, not
/// this test, compare keeld's numbers with etcd's.
pub fn check_perf(flavor: Flavor) {
    let server = Server::start(flavor);
    let ctl = server.etcdctl().with_timeout(Duration::from_secs(240));
    let out = ctl.run(&["check", "perf", "--load=s"]);
    // The progress bar redraws with '\r' and ends at 60 / 60.
    assert!(out.stdout.contains("60 / 60"), "{out}");
    let lines: Vec<&str> = out
        .stdout
        .rsplit_once('\n')
        .map_or("", |(report, _)| report)
        .lines()
        .rev()
        .take(4)
        .collect();
    assert_eq!(lines.len(), 4, "{out}");
    let (verdict, stddev, slowest, throughput) = (lines[0], lines[1], lines[2], lines[3]);
    eprintln!("[{flavor}] check perf: {throughput} / {slowest} / {stddev} / {verdict}");
    let throughput_ok = throughput.starts_with("PASS: Throughput is ");
    assert!(
        throughput_ok || throughput.starts_with("FAIL: Throughput too low: "),
        "{out}"
    );
    assert!(throughput.ends_with(" writes/s"), "{out}");
    let slowest_ok = slowest.starts_with("PASS: Slowest request took ");
    assert!(
        slowest_ok || slowest.starts_with("Slowest request took too long: "),
        "{out}"
    );
    let stddev_ok = stddev.starts_with("PASS: Stddev is ");
    assert!(
        stddev_ok || stddev.starts_with("Stddev too high: "),
        "{out}"
    );
    let passed = throughput_ok && slowest_ok && stddev_ok;
    assert_eq!(verdict, if passed { "PASS" } else { "FAIL" }, "{out}");
    assert_eq!(
        out.success(),
        passed,
        "exit code follows the verdict\n{out}"
    );
    // check perf deletes its keys when done.
    let probe = server.etcdctl();
    probe
        .run(&["get", "/etcdctl-check-perf/", "--prefix", "--keys-only"])
        .assert_stdout("");
}
