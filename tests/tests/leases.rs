//! Leases against a real keeld process, beyond what etcdctl shows:
//!
//! - the service-registry example (`kv-client/examples/service_registry.rs`):
//!   a registration lives while its service keeps the lease alive and
//!   vanishes within the TTL once the service is killed, and a discovering
//!   client sees both through its prefix watch;
//! - the remaining TTL survives a restart: etcd gives every lease its whole
//!   TTL again when a leader starts (etcd issues 9395 and 9888); keeld
//!   checkpoints remaining TTLs and resumes from them.
#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests measure real time")]

use std::time::{Duration, Instant};

use keel_tests::{binaries, Background, Flavor, Server, Stream};

/// The registration's TTL in the example case.
const REGISTRY_TTL_SECS: u64 = 4;
/// Slack for a lease's expiry on top of its TTL: the lessor's tick (0.5 s),
/// the revoke's commit and the watch delivery, on a loaded 2-core machine.
const EXPIRY_SLACK: Duration = Duration::from_secs(3);

/// Waits for `line` on the program's stdout, skipping other lines; returns
/// when it came.
fn wait_for_line(program: &mut Background, line: &str, timeout: Duration) -> Instant {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match program.next_line(Stream::Stdout, left) {
            Some(got) if got.trim_end_matches('\n') == line => return Instant::now(),
            Some(_) => {}
            None => panic!("no {line:?} within {timeout:?}:\n{program}"),
        }
    }
}

#[test]
fn a_killed_service_vanishes_from_discovery_within_its_ttl() {
    let server = Server::start(Flavor::Keeld);
    let endpoint = format!("--endpoint={}", server.endpoint());
    let example = binaries::example("service_registry");
    let mut discover = Background::spawn_program(&example, &[&endpoint, "discover"]);
    let ttl = REGISTRY_TTL_SECS.to_string();
    let mut service = Background::spawn_program(
        &example,
        &[
            &endpoint,
            "register",
            "web-1",
            "10.0.0.7:8080",
            "--ttl",
            &ttl,
        ],
    );
    wait_for_line(
        &mut discover,
        "up web-1 10.0.0.7:8080",
        Duration::from_secs(30),
    );

    // Alive and keeping its lease alive: registered for well past its TTL.
    std::thread::sleep(Duration::from_secs(2 * REGISTRY_TTL_SECS));
    assert!(
        service.is_running(),
        "the service keeps running:\n{service}"
    );
    server
        .etcdctl()
        .run(&["get", "services/web-1", "--print-value-only"])
        .assert_stdout("10.0.0.7:8080\n");

    let killed = Instant::now();
    let _ = service.kill();
    let gone = wait_for_line(&mut discover, "down web-1", Duration::from_secs(60));
    let after = gone - killed;
    assert!(
        after <= Duration::from_secs(REGISTRY_TTL_SECS) + EXPIRY_SLACK,
        "the registration vanished {after:?} after the kill, TTL {REGISTRY_TTL_SECS} s"
    );
    server
        .etcdctl()
        .run(&["get", "services/", "--prefix"])
        .assert_stdout("");
}

/// `lease timetolive` of `id`: (remaining, granted) seconds.
fn time_to_live(server: &Server, id: &str) -> (i64, i64) {
    let out = server
        .etcdctl()
        .run(&["lease", "timetolive", id, "-w", "json"]);
    let json = out.json();
    (
        json["ttl"].as_i64().unwrap(),
        json["granted-ttl"].as_i64().unwrap(),
    )
}

#[test]
fn the_remaining_ttl_survives_a_restart() {
    const TTL_SECS: i64 = 60;
    const WAIT_SECS: u64 = 8;
    let mut server = Server::start_with_args(Flavor::Keeld, &["--lease-checkpoint-interval", "1s"]);
    let ctl = server.etcdctl();
    let granted = ctl.run(&["lease", "grant", &TTL_SECS.to_string(), "-w", "json"]);
    let id = format!("{:x}", granted.json()["ID"].as_i64().unwrap());
    ctl.run(&["put", "--lease", &id, "owned", "yes"])
        .assert_stdout("OK\n");
    std::thread::sleep(Duration::from_secs(WAIT_SECS));
    let (before, _) = time_to_live(&server, &id);
    assert!(
        before <= TTL_SECS - WAIT_SECS as i64 + 1,
        "{before} s left before the restart"
    );

    server.kill();
    server.restart();
    let (after, granted_ttl) = time_to_live(&server, &id);
    assert_eq!(granted_ttl, TTL_SECS);
    // The new leader starts the lease from its last checkpoint (at most a
    // second old), plus one election timeout of grace; etcd would answer
    // the whole TTL here.
    assert!(
        after <= before + 2,
        "{after} s left after the restart, {before} s before it: the TTL was reset"
    );
    assert!(after > 0, "the lease is still alive");
    ctl.run(&["get", "owned", "--print-value-only"])
        .assert_stdout("yes\n");
}
