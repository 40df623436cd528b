//! Both disks pass the `Disk` conformance suite; the simulated disk loses
//! exactly what a power cut loses.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::Path;

use keel_raft_log::disk::read_all;
use keel_raft_log::{disk_conformance, Disk, RealDisk, SimDisk};

#[test]
fn real_disk_conforms() {
    let dir = tempfile::tempdir().unwrap();
    disk_conformance::run(&RealDisk, dir.path());
}

#[test]
fn simulated_disk_conforms() {
    disk_conformance::run(&SimDisk::new(), Path::new("/sim"));
}

#[test]
fn a_crash_keeps_synced_bytes_and_drops_the_rest() {
    let disk = SimDisk::new();
    let dir = Path::new("/d");
    let file = disk.open(&dir.join("f"), true).unwrap();
    file.write_all_at(0, b"durable").unwrap();
    file.sync_data().unwrap();
    disk.sync_dir(dir).unwrap();
    file.write_all_at(7, b"-buffered").unwrap();
    disk.crash(false);
    let file = disk.open(&dir.join("f"), false).unwrap();
    assert_eq!(read_all(file.as_ref()).unwrap(), b"durable");
}

#[test]
fn a_torn_crash_keeps_a_prefix_of_the_last_write() {
    let disk = SimDisk::new();
    let dir = Path::new("/d");
    let file = disk.open(&dir.join("f"), true).unwrap();
    disk.sync_dir(dir).unwrap();
    file.write_all_at(0, b"abcdefgh").unwrap();
    disk.crash(true);
    let file = disk.open(&dir.join("f"), false).unwrap();
    assert_eq!(read_all(file.as_ref()).unwrap(), b"abcd");
}

#[test]
fn directory_changes_need_a_directory_sync() {
    let disk = SimDisk::new();
    let dir = Path::new("/d");
    disk.open(&dir.join("kept"), true)
        .unwrap()
        .sync_data()
        .unwrap();
    disk.sync_dir(dir).unwrap();
    disk.open(&dir.join("lost"), true)
        .unwrap()
        .sync_data()
        .unwrap();
    disk.remove(&dir.join("kept")).unwrap();
    disk.crash(false);
    assert_eq!(
        disk.list(dir).unwrap(),
        ["kept"],
        "unsynced create and remove are undone"
    );
}

#[test]
fn a_stopped_disk_fails_every_write_from_that_point() {
    let disk = SimDisk::new();
    let file = disk.open(Path::new("/d/f"), true).unwrap();
    let point = disk.write_points();
    disk.stop_at_write_point(point + 1);
    file.write_all_at(0, b"first").unwrap();
    assert!(file.write_all_at(5, b"second").is_err());
    assert!(file.sync_data().is_err());
    disk.crash(false);
    // The file's directory entry was never synced, so the crash removed it.
    assert!(file.write_all_at(0, b"gone").is_err());
    let again = disk.open(Path::new("/d/g"), true).unwrap();
    again.write_all_at(0, b"ok").unwrap();
}
