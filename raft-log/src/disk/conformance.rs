//! The conformance suite every [`Disk`] must pass: the behaviour raft-log
//! relies on, short of crashes (which only a simulated disk can show). Each
//! check panics with a message naming what broke.

use std::path::Path;

use super::{read_all, Disk};

/// Runs every check in `dir`, which must exist and be empty.
pub fn run(disk: &dyn Disk, dir: &Path) {
    files_read_what_was_written(disk, dir);
    set_len_cuts_and_extends(disk, dir);
    directory_operations(disk, dir);
}

fn files_read_what_was_written(disk: &dyn Disk, dir: &Path) {
    let path = dir.join("data");
    assert!(
        disk.open(&path, false).is_err(),
        "opening a missing file without create fails"
    );
    let file = disk.open(&path, true).expect("create");
    assert_eq!(file.byte_len().expect("len"), 0, "a new file is empty");
    file.write_all_at(0, b"hello").expect("write");
    file.write_all_at(5, b" world").expect("append");
    file.write_all_at(0, b"J").expect("overwrite");
    file.sync_data().expect("sync");
    assert_eq!(read_all(file.as_ref()).expect("read"), b"Jello world");
    let mut middle = [0; 3];
    file.read_exact_at(6, &mut middle).expect("read at");
    assert_eq!(&middle, b"wor");
    let mut past = [0; 4];
    assert!(
        file.read_exact_at(9, &mut past).is_err(),
        "reading past the end fails"
    );
    let again = disk.open(&path, false).expect("reopen");
    assert_eq!(
        read_all(again.as_ref()).expect("read"),
        b"Jello world",
        "a second handle sees the bytes"
    );
}

fn set_len_cuts_and_extends(disk: &dyn Disk, dir: &Path) {
    let file = disk.open(&dir.join("sized"), true).expect("create");
    file.write_all_at(0, b"0123456789").expect("write");
    file.set_len(4).expect("cut");
    assert_eq!(read_all(file.as_ref()).expect("read"), b"0123");
    file.set_len(6).expect("extend");
    assert_eq!(
        read_all(file.as_ref()).expect("read"),
        b"0123\0\0",
        "extension reads as zeros"
    );
}

fn directory_operations(disk: &dyn Disk, dir: &Path) {
    let sub = dir.join("sub");
    disk.create_dir_all(&sub).expect("mkdir");
    assert!(
        disk.list(&sub).expect("list").is_empty(),
        "a new directory is empty"
    );
    disk.open(&sub.join("a"), true)
        .expect("create a")
        .write_all_at(0, b"A")
        .expect("write");
    disk.open(&sub.join("b"), true).expect("create b");
    let mut names = disk.list(&sub).expect("list");
    names.sort();
    assert_eq!(names, ["a", "b"]);
    disk.rename(&sub.join("a"), &sub.join("b"))
        .expect("rename over");
    assert_eq!(
        disk.list(&sub).expect("list"),
        ["b"],
        "rename replaces the target"
    );
    let b = disk.open(&sub.join("b"), false).expect("open b");
    assert_eq!(
        read_all(b.as_ref()).expect("read"),
        b"A",
        "the renamed file keeps its bytes"
    );
    disk.remove(&sub.join("b")).expect("remove");
    assert!(disk.list(&sub).expect("list").is_empty(), "remove removes");
    assert!(
        disk.remove(&sub.join("b")).is_err(),
        "removing a missing file fails"
    );
    disk.sync_dir(&sub).expect("sync dir");
}
