//! The image store against real archives built here with the `tar`
//! crate (and one from `scripts/busybox-image.sh`), unpacked onto real
//! directories.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests read and write real files")]

use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use keel_kubelet::images::{ImageError, ImageStore};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap()
}

/// One entry of a layer built by [`layer`].
enum Entry<'a> {
    Dir(&'a str, u32),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    /// A regular file whose name is written raw, unchecked (the tar
    /// crate refuses to write `..` itself).
    RawName(&'a [u8], &'a [u8]),
}

fn layer(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        match entry {
            Entry::Dir(path, mode) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_size(0);
                builder.append_data(&mut header, path, &[][..]).unwrap();
            }
            Entry::File(path, data, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, path, *data).unwrap();
            }
            Entry::Symlink(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
            Entry::Hardlink(path, target) => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_mode(0o644);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
            Entry::RawName(name, data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(data.len() as u64);
                header.as_old_mut().name[..name.len()].copy_from_slice(name);
                header.set_cksum();
                builder.append(&header, *data).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A layer as stored: the blob, and its uncompressed tar.
struct Blob {
    stored: Vec<u8>,
    tar: Vec<u8>,
}

fn plain(tar: Vec<u8>) -> Blob {
    Blob {
        stored: tar.clone(),
        tar,
    }
}

fn gzipped(tar: Vec<u8>) -> Blob {
    Blob {
        stored: gzip(&tar),
        tar,
    }
}

/// An image config running `cmd`, with the diff ids of `layers`.
fn config(cmd: &[&str], layers: &[Blob]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256(&l.tar)).collect();
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-05-06T07:08:09Z",
        "config": {
            "Cmd": cmd,
            "Env": ["PATH=/bin", "GREETING=hi"],
            "WorkingDir": "/srv",
            "User": "65534",
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

/// A tar of `files` (name, bytes), in order.
fn outer_tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        builder.append_data(&mut header, name, &data[..]).unwrap();
    }
    builder.into_inner().unwrap()
}

/// A docker-archive (classic `docker save` names) of one image; its id.
fn docker_archive(path: &Path, cmd: &[&str], layers: &[Blob], tags: &[&str]) -> String {
    let config = config(cmd, layers);
    let id = sha256(&config);
    let mut files = vec![(format!("{}.json", hex(&id)), config)];
    let mut names = Vec::new();
    for (n, blob) in layers.iter().enumerate() {
        let name = format!("layer{n}/layer.tar");
        files.push((name.clone(), blob.stored.clone()));
        names.push(name);
    }
    let manifest =
        json!([{"Config": format!("{}.json", hex(&id)), "RepoTags": tags, "Layers": names}]);
    files.insert(
        0,
        (
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        ),
    );
    std::fs::write(path, outer_tar(&files)).unwrap();
    id
}

/// Adds `bytes` to the blobs of an OCI layout; its descriptor.
fn add_blob(blobs: &mut Vec<(String, Vec<u8>)>, media_type: &str, bytes: Vec<u8>) -> Value {
    let digest = sha256(&bytes);
    let descriptor = json!({"mediaType": media_type, "digest": digest, "size": bytes.len()});
    blobs.push((format!("blobs/sha256/{}", hex(&digest)), bytes));
    descriptor
}

/// An OCI image's manifest blob added to `blobs`: (its descriptor, the
/// image id).
fn oci_manifest(
    blobs: &mut Vec<(String, Vec<u8>)>,
    cmd: &[&str],
    layers: &[Blob],
) -> (Value, String) {
    let config = config(cmd, layers);
    let id = sha256(&config);
    let config = add_blob(blobs, "application/vnd.oci.image.config.v1+json", config);
    let layers: Vec<Value> = layers
        .iter()
        .map(|l| {
            add_blob(
                blobs,
                "application/vnd.oci.image.layer.v1.tar+gzip",
                l.stored.clone(),
            )
        })
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": layers,
    });
    let descriptor = add_blob(
        blobs,
        "application/vnd.oci.image.manifest.v1+json",
        serde_json::to_vec(&manifest).unwrap(),
    );
    (descriptor, id)
}

fn write_oci_layout(path: &Path, blobs: Vec<(String, Vec<u8>)>, index: &Value) {
    let mut files = vec![
        (
            "oci-layout".to_owned(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        ("index.json".to_owned(), serde_json::to_vec(index).unwrap()),
    ];
    files.extend(blobs);
    std::fs::write(path, outer_tar(&files)).unwrap();
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn docker_archive_layers_apply_whiteouts_opaque_dirs_modes_and_links() {
    let dir = tempfile::tempdir().unwrap();
    let lower = layer(&[
        Entry::Dir("etc", 0o755),
        Entry::File("etc/keep", b"kept", 0o640),
        Entry::File("etc/gone", b"deleted by whiteout", 0o644),
        Entry::Dir("opt", 0o755),
        Entry::File("opt/old", b"hidden by opaque", 0o644),
        Entry::Dir("opt/sub", 0o700),
        Entry::File("opt/sub/deep", b"hidden too", 0o644),
        Entry::Dir("bin", 0o755),
        Entry::File("bin/tool", b"#!/bin/sh\necho tool\n", 0o4755),
        Entry::Symlink("bin/link", "tool"),
        Entry::Hardlink("bin/hard", "bin/tool"),
        Entry::Dir("srv", 0o1777),
    ]);
    let upper = layer(&[
        Entry::File("etc/.wh.gone", b"", 0o644),
        Entry::File("etc/added", b"new", 0o600),
        // Added before the marker in the same layer: it stays.
        Entry::File("opt/new", b"upper", 0o644),
        Entry::File("opt/.wh..wh..opq", b"", 0o644),
    ]);
    let archive = dir.path().join("app.tar");
    let id = docker_archive(
        &archive,
        &["/bin/tool", "run"],
        &[plain(lower), gzipped(upper)],
        &["app:1.0"],
    );
    let store = ImageStore::open(&dir.path().join("store")).unwrap();

    let imported = store.import(&archive).unwrap();
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0].id, id);
    assert_eq!(imported[0].references, vec!["docker.io/library/app:1.0"]);

    let image = store.resolve("app:1.0").unwrap();
    let rootfs = &image.rootfs;
    assert_eq!(std::fs::read(rootfs.join("etc/keep")).unwrap(), b"kept");
    assert_eq!(mode(&rootfs.join("etc/keep")), 0o640);
    assert!(!rootfs.join("etc/gone").exists());
    assert!(!rootfs.join("etc/.wh.gone").exists());
    assert_eq!(std::fs::read(rootfs.join("etc/added")).unwrap(), b"new");
    assert_eq!(names_in(&rootfs.join("opt")), vec!["new"]);
    assert_eq!(mode(&rootfs.join("bin/tool")), 0o4755);
    assert_eq!(mode(&rootfs.join("srv")), 0o1777);
    assert_eq!(
        std::fs::read_link(rootfs.join("bin/link")).unwrap(),
        Path::new("tool")
    );
    let tool = std::fs::metadata(rootfs.join("bin/tool")).unwrap();
    let hard = std::fs::metadata(rootfs.join("bin/hard")).unwrap();
    assert_eq!((tool.dev(), tool.ino()), (hard.dev(), hard.ino()));
    assert_eq!(tool.nlink(), 2);

    assert_eq!(image.id, id);
    assert_eq!(image.config.cmd, vec!["/bin/tool", "run"]);
    assert_eq!(image.config.env, vec!["PATH=/bin", "GREETING=hi"]);
    assert_eq!(image.config.working_dir, "/srv");
    assert_eq!(image.config.user, "65534");
    assert!(image.config.entrypoint.is_empty());

    for spelling in [
        "app:1.0",
        "library/app:1.0",
        "docker.io/library/app:1.0",
        id.as_str(),
        &id[7..20],
    ] {
        assert_eq!(store.resolve(spelling).unwrap().id, id, "{spelling}");
    }
    let missing = store.resolve("app").unwrap_err();
    assert!(matches!(missing, ImageError::NotFound { .. }));
    assert_eq!(
        missing.to_string(),
        "image \"docker.io/library/app:latest\" is not in this node's image store \
         (import it with: keel image import FILE)"
    );

    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 1);
    // kept + new + tool (its hard link once) + new + upper.
    let expected_size =
        (b"kept".len() + b"new".len() + b"#!/bin/sh\necho tool\n".len() + b"upper".len()) as u64;
    assert_eq!(listed[0].size_bytes, expected_size);
    assert_eq!(
        listed[0].created.unwrap().to_string(),
        "2024-05-06T07:08:09Z"
    );
}

#[test]
fn oci_layout_with_an_index_picks_linux_amd64_and_checks_digests() {
    let dir = tempfile::tempdir().unwrap();
    let mut blobs = Vec::new();
    let amd64 = gzipped(layer(&[Entry::File("arch", b"amd64", 0o644)]));
    let arm64 = gzipped(layer(&[Entry::File("arch", b"arm64", 0o644)]));
    let (amd64_manifest, amd64_id) = oci_manifest(&mut blobs, &["amd64"], &[amd64]);
    let (arm64_manifest, _) = oci_manifest(&mut blobs, &["arm64"], &[arm64]);
    let with_platform = |mut descriptor: Value, architecture: &str| {
        descriptor["platform"] = json!({"os": "linux", "architecture": architecture});
        descriptor
    };
    let image_index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [with_platform(arm64_manifest, "arm64"), with_platform(amd64_manifest.clone(), "amd64")],
    });
    let mut index_descriptor = add_blob(
        &mut blobs,
        "application/vnd.oci.image.index.v1+json",
        serde_json::to_vec(&image_index).unwrap(),
    );
    index_descriptor["annotations"] = json!({
        "io.containerd.image.name": "example.com/team/app:v1",
        "org.opencontainers.image.ref.name": "v1",
    });
    // A second image, plain in index.json, tagged by the OCI ref name.
    let (plain_manifest, plain_id) = oci_manifest(
        &mut blobs,
        &["plain"],
        &[plain(layer(&[Entry::File("which", b"plain", 0o644)]))],
    );
    let mut plain_descriptor = plain_manifest;
    plain_descriptor["annotations"] =
        json!({"org.opencontainers.image.ref.name": "localhost:5000/plain:2"});
    let index = json!({"schemaVersion": 2, "manifests": [index_descriptor, plain_descriptor]});
    let archive = dir.path().join("oci.tar");
    write_oci_layout(&archive, blobs.clone(), &index);

    let store = ImageStore::open(&dir.path().join("store")).unwrap();
    let imported = store.import(&archive).unwrap();
    assert_eq!(imported.len(), 2);
    let image = store.resolve("example.com/team/app:v1").unwrap();
    assert_eq!(image.id, amd64_id);
    assert_eq!(std::fs::read(image.rootfs.join("arch")).unwrap(), b"amd64");
    assert_eq!(image.config.cmd, vec!["amd64"]);
    let by_manifest = format!(
        "example.com/team/app@{}",
        amd64_manifest["digest"].as_str().unwrap()
    );
    assert_eq!(store.resolve(&by_manifest).unwrap().id, amd64_id);
    assert_eq!(
        store.resolve(&format!("whatever@{amd64_id}")).unwrap().id,
        amd64_id
    );
    let plain = store.resolve("localhost:5000/plain:2").unwrap();
    assert_eq!(plain.id, plain_id);
    assert_eq!(std::fs::read(plain.rootfs.join("which")).unwrap(), b"plain");

    // The same layout with one layer blob's bytes changed: refused, and
    // nothing of it kept.
    let tampered_dir = dir.path().join("tampered-store");
    let mut tampered = blobs;
    let amd64_manifest_digest = image_index["manifests"][1]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let manifest_blob = tampered
        .iter()
        .find(|(name, _)| name.ends_with(hex(&amd64_manifest_digest)))
        .map(|(_, bytes)| serde_json::from_slice::<Value>(bytes).unwrap())
        .unwrap();
    let layer_digest = manifest_blob["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    for (name, bytes) in &mut tampered {
        if name.ends_with(hex(&layer_digest)) {
            *bytes = gzip(&layer(&[Entry::File("arch", b"evil!", 0o644)]));
        }
    }
    write_oci_layout(&archive, tampered, &index);
    let store = ImageStore::open(&tampered_dir).unwrap();
    let error = store.import(&archive).unwrap_err();
    assert!(
        matches!(error, ImageError::DigestMismatch { .. }),
        "{error}"
    );
    assert!(store.list().unwrap().is_empty());
    assert!(names_in(&tampered_dir.join("sha256")).is_empty());
    assert!(names_in(&tampered_dir.join("tmp")).is_empty());
}

/// Imports a one-layer docker-archive of `entries`; the error.
fn import_one_layer(dir: &Path, entries: &[Entry<'_>]) -> (ImageStore, ImageError) {
    let archive = dir.join("bad.tar");
    docker_archive(&archive, &["sh"], &[plain(layer(entries))], &["bad:1"]);
    let store = ImageStore::open(&dir.join("store")).unwrap();
    let error = store.import(&archive).unwrap_err();
    (store, error)
}

fn assert_nothing_left(store: &ImageStore) {
    assert!(store.list().unwrap().is_empty());
    assert!(names_in(&store.root().join("sha256")).is_empty());
    assert!(names_in(&store.root().join("tmp")).is_empty());
}

#[test]
fn entries_escaping_the_rootfs_are_refused_and_nothing_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let (store, error) = import_one_layer(
        dir.path(),
        &[
            Entry::File("ok", b"fine", 0o644),
            Entry::RawName(b"../escape", b"out"),
        ],
    );
    assert!(matches!(error, ImageError::UnsafePath { .. }), "{error}");
    assert!(error.to_string().contains("../escape"), "{error}");
    assert_nothing_left(&store);
    assert!(!store.root().join("tmp/escape").exists());

    // A whiteout of `..`: would remove what holds the rootfs.
    let dir = tempfile::tempdir().unwrap();
    let (store, error) = import_one_layer(dir.path(), &[Entry::File(".wh...", b"", 0o644)]);
    assert!(matches!(error, ImageError::UnsafePath { .. }), "{error}");
    assert_nothing_left(&store);

    // Through an absolute symlink: would write to the host's directory.
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let outside_text = outside.to_str().unwrap().to_owned();
    let (store, error) = import_one_layer(
        dir.path(),
        &[
            Entry::Symlink("evil", &outside_text),
            Entry::File("evil/pwned", b"x", 0o644),
        ],
    );
    assert!(matches!(error, ImageError::UnsafePath { .. }), "{error}");
    assert!(error.to_string().contains("absolute symlink"), "{error}");
    assert!(names_in(&outside).is_empty());
    assert_nothing_left(&store);

    // Through a relative symlink that climbs out.
    let dir = tempfile::tempdir().unwrap();
    let (store, error) = import_one_layer(
        dir.path(),
        &[
            Entry::Symlink("up", "../../../../.."),
            Entry::File("up/tmp/pwned", b"x", 0o644),
        ],
    );
    assert!(matches!(error, ImageError::UnsafePath { .. }), "{error}");
    assert_nothing_left(&store);

    // A relative symlink that stays inside is followed.
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("ok.tar");
    docker_archive(
        &archive,
        &["sh"],
        &[plain(layer(&[
            Entry::Dir("usr/lib", 0o755),
            Entry::Symlink("lib", "usr/lib"),
            Entry::File("lib/libc.so", b"libc", 0o644),
        ]))],
        &["merged-usr:1"],
    );
    let store = ImageStore::open(&dir.path().join("store")).unwrap();
    store.import(&archive).unwrap();
    let rootfs = store.resolve("merged-usr:1").unwrap().rootfs;
    assert_eq!(
        std::fs::read(rootfs.join("usr/lib/libc.so")).unwrap(),
        b"libc"
    );
}

#[test]
fn tags_move_reimport_is_idempotent_and_rm_drops_files_with_the_last_tag() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&dir.path().join("store")).unwrap();
    let first = dir.path().join("first.tar");
    let second = dir.path().join("second.tar");
    let first_id = docker_archive(
        &first,
        &["one"],
        &[plain(layer(&[Entry::File("v", b"1", 0o644)]))],
        &["app:1"],
    );
    let second_id = docker_archive(
        &second,
        &["two"],
        &[plain(layer(&[Entry::File("v", b"2", 0o644)]))],
        &["app:1", "app:2"],
    );
    store.import(&first).unwrap();
    store.import(&second).unwrap();
    assert_eq!(store.resolve("app:1").unwrap().id, second_id);
    let listed = store.list().unwrap();
    let refs_of = |id: &str| {
        listed
            .iter()
            .find(|s| s.id == id)
            .unwrap()
            .references
            .clone()
    };
    assert!(refs_of(&first_id).is_empty(), "the first image is dangling");
    assert_eq!(
        refs_of(&second_id),
        vec!["docker.io/library/app:1", "docker.io/library/app:2"]
    );

    // Again: not unpacked anew (a file dropped in its rootfs stays).
    let rootfs = store.resolve("app:2").unwrap().rootfs;
    std::fs::write(rootfs.join("marker"), b"m").unwrap();
    let again = store.import(&second).unwrap();
    assert_eq!(again[0].id, second_id);
    assert!(rootfs.join("marker").exists());
    assert_eq!(store.list().unwrap().len(), 2);

    store.remove("app:1").unwrap();
    assert!(rootfs.exists(), "app:2 still names it");
    store.remove("docker.io/library/app:2").unwrap();
    assert!(!rootfs.exists());
    assert!(matches!(
        store.resolve("app:2"),
        Err(ImageError::NotFound { .. })
    ));
    let first_rootfs = dir.path().join("store/sha256").join(hex(&first_id));
    assert!(first_rootfs.exists());
    store.remove(&first_id).unwrap();
    assert!(!first_rootfs.exists());
    assert!(store.list().unwrap().is_empty());
    assert!(matches!(
        store.remove("app:1"),
        Err(ImageError::NotFound { .. })
    ));
}

#[test]
fn concurrent_imports_keep_every_image() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let archives: Vec<(PathBuf, String)> = (0..4)
        .map(|n| {
            let path = dir.path().join(format!("{n}.tar"));
            let content = format!("image {n}");
            let tag = format!("concurrent:{n}");
            docker_archive(
                &path,
                &["sh"],
                &[plain(layer(&[Entry::File("n", content.as_bytes(), 0o644)]))],
                &[&tag],
            );
            (path, tag)
        })
        .collect();
    std::thread::scope(|scope| {
        for (path, _) in &archives {
            let root = &root;
            scope.spawn(move || ImageStore::open(root).unwrap().import(path).unwrap());
        }
    });
    let store = ImageStore::open(&root).unwrap();
    assert_eq!(store.list().unwrap().len(), archives.len());
    for (n, (_, tag)) in archives.iter().enumerate() {
        let rootfs = store.resolve(tag).unwrap().rootfs;
        assert_eq!(
            std::fs::read_to_string(rootfs.join("n")).unwrap(),
            format!("image {n}")
        );
    }
}

#[test]
fn the_busybox_script_builds_an_importable_image() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("busybox.tar");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/busybox-image.sh");
    let status = std::process::Command::new("bash")
        .arg(&script)
        .arg(&archive)
        .args(["busybox:latest", "busybox:1.36"])
        .status()
        .unwrap();
    assert!(status.success());
    let store = ImageStore::open(&dir.path().join("store")).unwrap();
    let imported = store.import(&archive).unwrap();
    assert_eq!(
        imported[0].references,
        vec![
            "docker.io/library/busybox:1.36",
            "docker.io/library/busybox:latest"
        ]
    );
    let image = store.resolve("busybox").unwrap();
    assert_eq!(store.resolve("busybox:1.36").unwrap().id, image.id);
    assert_eq!(
        std::fs::read_link(image.rootfs.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(mode(&image.rootfs.join("bin/busybox")), 0o755);
    assert_eq!(mode(&image.rootfs.join("tmp")), 0o1777);
    let passwd = std::fs::read_to_string(image.rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.contains("nobody:x:65534:65534"));
    assert!(image.rootfs.join("var/www/index.html").is_file());
    assert_eq!(image.config.cmd, vec!["sh"]);
    assert!(image.config.env.iter().any(|e| e.starts_with("PATH=")));
    // The busybox in the image runs (static: nothing else needed).
    let output = std::process::Command::new(image.rootfs.join("bin/busybox"))
        .args(["echo", "hello"])
        .output()
        .unwrap();
    assert_eq!(output.stdout, b"hello\n");

    // Built again, the same bytes: importing changes nothing.
    let again = dir.path().join("again.tar");
    let status = std::process::Command::new("bash")
        .arg(&script)
        .arg(&again)
        .args(["busybox:latest", "busybox:1.36"])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read(&archive).unwrap(),
        std::fs::read(&again).unwrap()
    );
    assert_eq!(store.import(&again).unwrap(), imported);
}

#[test]
fn docker_save_links_and_blob_names_are_followed() {
    // docker save (before 25) stores a layer twice as a symlink to its
    // first copy; docker 25 names members blobs/sha256/<hex>.
    let dir = tempfile::tempdir().unwrap();
    let same = layer(&[Entry::File("f", b"same", 0o644)]);
    let layers = [plain(same.clone()), plain(same)];
    let config = config(&["sh"], &layers);
    let id = sha256(&config);
    let layer_digest = sha256(&layers[0].stored);
    let manifest = json!([{
        "Config": format!("blobs/sha256/{}", hex(&id)),
        "RepoTags": ["twice:1"],
        "Layers": [format!("blobs/sha256/{}", hex(&layer_digest)), "again/layer.tar"],
    }]);
    let mut builder = tar::Builder::new(Vec::new());
    let mut append = |name: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        builder.append_data(&mut header, name, data).unwrap();
    };
    append("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    append(&format!("blobs/sha256/{}", hex(&id)), &config);
    append(
        &format!("blobs/sha256/{}", hex(&layer_digest)),
        &layers[0].stored,
    );
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    let target = format!("../blobs/sha256/{}", hex(&layer_digest));
    builder
        .append_link(&mut header, "again/layer.tar", &target)
        .unwrap();
    let archive = dir.path().join("twice.tar");
    std::fs::write(&archive, builder.into_inner().unwrap()).unwrap();

    let store = ImageStore::open(&dir.path().join("store")).unwrap();
    assert_eq!(store.import(&archive).unwrap()[0].id, id);
    let image = store.resolve("twice:1").unwrap();
    assert_eq!(std::fs::read(image.rootfs.join("f")).unwrap(), b"same");
}
