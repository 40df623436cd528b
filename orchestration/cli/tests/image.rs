//! `keel image import | ls | rm` as a user runs them, on an archive from
//! `scripts/busybox-image.sh` and a store in a temp directory.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests write files")]

use std::path::Path;
use std::process::{Command, Output};

/// `keel image ARGS` on the store `images_dir`; its output.
fn keel_image(images_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("image")
        .arg(format!("--images-dir={}", images_dir.display()))
        .args(args)
        .env_remove("KEEL_IMAGES_DIR")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "keel failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The rows of `keel image ls`, split on runs of spaces.
fn rows(listing: &str) -> Vec<Vec<String>> {
    listing
        .lines()
        .skip(1)
        .map(|line| {
            line.split("   ")
                .map(|cell| cell.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect()
}

#[test]
fn import_ls_rm() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("busybox.tar");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/busybox-image.sh");
    let built = Command::new("bash")
        .arg(&script)
        .arg(&archive)
        .args(["busybox:latest", "busybox:1.36"])
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let store = dir.path().join("images");
    let archive_text = archive.to_str().unwrap();

    let imported = stdout(&keel_image(&store, &["import", archive_text]));
    assert!(
        imported.starts_with(
            "imported docker.io/library/busybox:1.36, docker.io/library/busybox:latest (sha256:"
        ),
        "{imported}"
    );
    let id = imported
        .trim_end()
        .rsplit("(sha256:")
        .next()
        .unwrap()
        .trim_end_matches(')');
    let short_id = &id[..13];

    let listing = stdout(&keel_image(&store, &["ls"]));
    let header: Vec<&str> = listing.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["REPOSITORY", "TAG", "IMAGE", "ID", "SIZE"]);
    let rows_before = rows(&listing);
    assert_eq!(rows_before.len(), 2, "{listing}");
    assert_eq!(
        rows_before[0][..3],
        ["docker.io/library/busybox", "1.36", short_id]
    );
    assert_eq!(
        rows_before[1][..3],
        ["docker.io/library/busybox", "latest", short_id]
    );
    assert!(rows_before[0][3].ends_with("MB"), "{listing}");

    // Twice: the same answer, the same store.
    assert_eq!(
        stdout(&keel_image(&store, &["import", archive_text])),
        imported
    );
    assert_eq!(stdout(&keel_image(&store, &["ls"])), listing);

    // KEEL_IMAGES_DIR names the store when --images-dir is not given.
    let by_env = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["image", "ls"])
        .env("KEEL_IMAGES_DIR", &store)
        .output()
        .unwrap();
    assert_eq!(stdout(&by_env), listing);

    assert_eq!(
        stdout(&keel_image(&store, &["rm", "busybox"])),
        "Deleted: busybox\n"
    );
    let rows_after = rows(&stdout(&keel_image(&store, &["ls"])));
    assert_eq!(rows_after.len(), 1);
    assert_eq!(rows_after[0][1], "1.36");

    let missing = keel_image(&store, &["rm", "busybox"]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains(
            "image \"docker.io/library/busybox:latest\" is not in this node's image store"
        ),
        "{stderr}"
    );

    assert_eq!(
        stdout(&keel_image(&store, &["rm", "library/busybox:1.36"])),
        "Deleted: library/busybox:1.36\n"
    );
    assert_eq!(stdout(&keel_image(&store, &["ls"])).lines().count(), 1);
    assert!(std::fs::read_dir(store.join("sha256"))
        .unwrap()
        .next()
        .is_none());

    let not_an_archive = dir.path().join("not.tar");
    std::fs::write(&not_an_archive, b"hello").unwrap();
    let refused = keel_image(&store, &["import", not_an_archive.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cannot import"));
}
