//! Unpacking one layer (a tar, gzip-compressed or not) onto a rootfs, as
//! an overlay would show it: whiteouts delete what lower layers made,
//! modes, owners, symlinks and hard links are kept, and no entry may
//! reach outside the rootfs.
//!
//! ```text
//!   blob ─► sha256 (blob digest) ─► gzip? ─► sha256 (diff id) ─► tar entries
//!     a/b/.wh.c        removes a/b/c
//!     a/b/.wh..wh..opq removes what lower layers put in a/b
//!     ../x, a path through an absolute symlink, a symlink out: refused
//! ```

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{
    DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::archive::hex;
use super::ImageError;

/// How many symlinks a path may go through while it is resolved within
/// the rootfs (Linux's own limit, MAXSYMLINKS).
const SYMLINK_HOPS_MAX: usize = 40;
const WHITEOUT_PREFIX: &str = ".wh.";
const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The digests a layer was read with.
#[derive(Debug)]
pub(super) struct LayerDigests {
    /// Of the blob as stored.
    pub blob: String,
    /// Of the uncompressed tar.
    pub diff: String,
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Hashing<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// Reads to the end, and the `sha256:` digest of all that was read.
    fn finish(mut self) -> io::Result<String> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(format!("sha256:{}", hex(&self.hasher.finalize())))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        Ok(read)
    }
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> ImageError {
    let context = context.into();
    move |source| ImageError::Io { context, source }
}

/// Unpacks the layer `blob` onto `rootfs`; the compression is told by
/// the first bytes.
pub(super) fn unpack_layer(blob: impl Read, rootfs: &Path) -> Result<LayerDigests, ImageError> {
    let mut blob = Hashing::new(blob);
    let diff = {
        let mut buffered = BufReader::new(&mut blob);
        let magic = buffered.fill_buf().map_err(io_error("reading a layer"))?;
        let diff = if magic.starts_with(&GZIP_MAGIC) {
            let mut tar = Hashing::new(flate2::bufread::MultiGzDecoder::new(&mut buffered));
            apply_tar(&mut tar, rootfs)?;
            tar.finish()
        } else if magic.starts_with(&ZSTD_MAGIC) {
            return Err(ImageError::Format(
                "a layer is zstd-compressed, which this store does not read yet".into(),
            ));
        } else {
            let mut tar = Hashing::new(&mut buffered);
            apply_tar(&mut tar, rootfs)?;
            tar.finish()
        };
        let diff = diff.map_err(io_error("reading a layer"))?;
        io::copy(&mut buffered, &mut io::sink()).map_err(io_error("reading a layer"))?;
        diff
    };
    let blob = blob.finish().map_err(io_error("reading a layer"))?;
    Ok(LayerDigests { blob, diff })
}

fn unsafe_path(path: &[u8], reason: impl Into<String>) -> ImageError {
    ImageError::UnsafePath {
        path: String::from_utf8_lossy(path).into_owned(),
        reason: reason.into(),
    }
}

/// An entry's path as components, `.` and empty parts dropped, a
/// leading `/` taken as the rootfs; `..` is refused.
fn entry_components(raw: &[u8]) -> Result<Vec<OsString>, ImageError> {
    raw.split(|b| *b == b'/')
        .filter(|part| !part.is_empty() && *part != b".")
        .map(|part| {
            if part == b".." {
                Err(unsafe_path(raw, "climbs out of the rootfs with '..'"))
            } else {
                Ok(OsStr::from_bytes(part).to_owned())
            }
        })
        .collect()
}

/// Resolves the directory `components` within `rootfs` as the container
/// would see it, creating missing directories (mode 0755): a relative
/// symlink on the way is followed if it stays inside; an absolute one, or
/// one that climbs out, is refused. The answer is relative to `rootfs`
/// and has no symlink in it.
fn resolve_directory(
    rootfs: &Path,
    components: &[OsString],
    raw: &[u8],
) -> Result<PathBuf, ImageError> {
    let mut pending: Vec<OsString> = components.iter().rev().cloned().collect();
    let mut resolved = PathBuf::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            if !resolved.pop() {
                return Err(unsafe_path(
                    raw,
                    "goes through a symlink that leads out of the rootfs",
                ));
            }
            continue;
        }
        let next = resolved.join(&part);
        let host = rootfs.join(&next);
        match fs::symlink_metadata(&host) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > SYMLINK_HOPS_MAX {
                    return Err(unsafe_path(raw, "goes through too many symlinks"));
                }
                let target = fs::read_link(&host)
                    .map_err(io_error(format!("reading {}", host.display())))?;
                if target.is_absolute() {
                    return Err(unsafe_path(
                        raw,
                        format!(
                            "goes through the absolute symlink /{} -> {}",
                            next.display(),
                            target.display()
                        ),
                    ));
                }
                for component in target.components().rev() {
                    match component {
                        Component::Normal(name) => pending.push(name.to_owned()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            Ok(meta) if meta.is_dir() => resolved = next,
            Ok(_) => {
                return Err(unsafe_path(
                    raw,
                    format!(
                        "has /{} on its way, which is not a directory",
                        next.display()
                    ),
                ));
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                create_dir(&host)?;
                resolved = next;
            }
            Err(error) => return Err(io_error(format!("reading {}", host.display()))(error)),
        }
    }
    Ok(resolved)
}

#[allow(
    clippy::disallowed_methods,
    reason = "the image store is the kubelet's disk adapter"
)]
fn create_dir(path: &Path) -> Result<(), ImageError> {
    fs::DirBuilder::new()
        .mode(0o755)
        .create(path)
        .map_err(io_error(format!("creating {}", path.display())))
}

/// Removes whatever is at `path` (a directory with its contents), if
/// anything; never follows a symlink.
#[allow(
    clippy::disallowed_methods,
    reason = "the image store is the kubelet's disk adapter"
)]
pub(super) fn remove_existing(path: &Path) -> Result<(), ImageError> {
    let removed = match fs::symlink_metadata(path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => Err(error),
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    };
    removed.map_err(io_error(format!("removing {}", path.display())))
}

/// Applies the layer tar read from `reader` onto `rootfs`.
fn apply_tar(reader: impl Read, rootfs: &Path) -> Result<(), ImageError> {
    let mut archive = tar::Archive::new(reader);
    // What this layer put in place, so that an opaque directory keeps it.
    let mut added: HashSet<PathBuf> = HashSet::new();
    for entry in archive.entries().map_err(io_error("reading a layer"))? {
        let mut entry = entry.map_err(io_error("reading a layer"))?;
        let raw = entry.path_bytes().into_owned();
        let mut components = entry_components(&raw)?;
        let Some(name) = components.pop() else {
            continue; // the rootfs itself ("./")
        };
        let parent = resolve_directory(rootfs, &components, &raw)?;
        let name_bytes = name.as_bytes();
        if name_bytes == WHITEOUT_OPAQUE.as_bytes() {
            make_opaque(rootfs, &parent, &added)?;
            continue;
        }
        if let Some(hidden) = name_bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            // `.wh..wh.*` other than the opaque marker is aufs bookkeeping.
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(unsafe_path(
                    &raw,
                    "whites out the directory itself or its parent",
                ));
            }
            if !hidden.starts_with(WHITEOUT_PREFIX.as_bytes()) {
                remove_existing(&rootfs.join(&parent).join(OsStr::from_bytes(hidden)))?;
            }
            continue;
        }
        let relative = parent.join(&name);
        write_entry(&mut entry, rootfs, &relative, &raw)?;
        for ancestor in relative.ancestors() {
            if !added.insert(ancestor.to_owned()) {
                break;
            }
        }
    }
    Ok(())
}

/// Removes from `rootfs/directory` what this layer did not add.
#[allow(
    clippy::disallowed_methods,
    reason = "the image store is the kubelet's disk adapter"
)]
fn make_opaque(
    rootfs: &Path,
    directory: &Path,
    added: &HashSet<PathBuf>,
) -> Result<(), ImageError> {
    let host = rootfs.join(directory);
    let entries = fs::read_dir(&host).map_err(io_error(format!("reading {}", host.display())))?;
    for child in entries {
        let child = child.map_err(io_error(format!("reading {}", host.display())))?;
        if !added.contains(&directory.join(child.file_name())) {
            remove_existing(&child.path())?;
        }
    }
    Ok(())
}

/// Puts one entry at `rootfs/relative` (whose parent is resolved).
#[allow(
    clippy::disallowed_methods,
    reason = "the image store is the kubelet's disk adapter"
)]
fn write_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    rootfs: &Path,
    relative: &Path,
    raw: &[u8],
) -> Result<(), ImageError> {
    let dest = rootfs.join(relative);
    let header = entry.header();
    let mode = header
        .mode()
        .map_err(io_error("reading a layer entry's mode"))?
        & 0o7777;
    let uid = header
        .uid()
        .map_err(io_error("reading a layer entry's owner"))? as u32;
    let gid = header
        .gid()
        .map_err(io_error("reading a layer entry's group"))? as u32;
    let kind = header.entry_type();
    let at = |action: &str| io_error(format!("{action} {}", dest.display()));
    match kind {
        tar::EntryType::Directory => {
            let is_dir = fs::symlink_metadata(&dest).is_ok_and(|meta| meta.is_dir());
            if !is_dir {
                remove_existing(&dest)?;
                create_dir(&dest)?;
            }
        }
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            remove_existing(&dest)?;
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&dest)
                .map_err(at("creating"))?;
            io::copy(entry, &mut file).map_err(at("writing"))?;
        }
        tar::EntryType::Symlink => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| unsafe_path(raw, "is a symlink without a target"))?;
            remove_existing(&dest)?;
            std::os::unix::fs::symlink(OsStr::from_bytes(&target), &dest).map_err(at("linking"))?;
            std::os::unix::fs::lchown(&dest, Some(uid), Some(gid)).map_err(at("chowning"))?;
            return Ok(());
        }
        tar::EntryType::Link => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| unsafe_path(raw, "is a hard link without a target"))?;
            let mut components = entry_components(&target)?;
            let name = components
                .pop()
                .ok_or_else(|| unsafe_path(raw, "is a hard link to the rootfs itself"))?;
            let source = rootfs
                .join(resolve_directory(rootfs, &components, &target)?)
                .join(name);
            if source != dest {
                remove_existing(&dest)?;
                fs::hard_link(&source, &dest).map_err(at("hard-linking"))?;
            }
            return Ok(());
        }
        tar::EntryType::Fifo => {
            remove_existing(&dest)?;
            nix::unistd::mkfifo(&dest, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .map_err(|errno| at("making the fifo")(io::Error::from(errno)))?;
        }
        // Devices come from the runtime's /dev, not from images; pax and
        // GNU long-name headers are read by the tar crate itself.
        _ => return Ok(()),
    }
    std::os::unix::fs::lchown(&dest, Some(uid), Some(gid)).map_err(at("chowning"))?;
    // After the chown, which clears setuid bits.
    fs::set_permissions(&dest, fs::Permissions::from_mode(mode)).map_err(at("chmodding"))?;
    Ok(())
}

/// The bytes of the regular files under `rootfs`, each inode once.
#[allow(
    clippy::disallowed_methods,
    reason = "the image store is the kubelet's disk adapter"
)]
pub(super) fn tree_size_bytes(rootfs: &Path) -> Result<u64, ImageError> {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut pending = vec![rootfs.to_owned()];
    while let Some(directory) = pending.pop() {
        let entries = fs::read_dir(&directory)
            .map_err(io_error(format!("reading {}", directory.display())))?;
        for child in entries {
            let child = child.map_err(io_error(format!("reading {}", directory.display())))?;
            let meta = fs::symlink_metadata(child.path())
                .map_err(io_error(format!("reading {}", child.path().display())))?;
            if meta.is_dir() {
                pending.push(child.path());
            } else if meta.is_file() && seen.insert((meta.dev(), meta.ino())) {
                total += meta.len();
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_is_refused_and_dots_dropped() {
        assert!(matches!(
            entry_components(b"a/../../etc"),
            Err(ImageError::UnsafePath { .. })
        ));
        let parts = entry_components(b"./a//b/").unwrap();
        assert_eq!(parts, vec![OsString::from("a"), OsString::from("b")]);
        assert_eq!(entry_components(b"/etc/passwd").unwrap().len(), 2);
    }
}
