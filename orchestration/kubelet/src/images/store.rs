//! The image store on disk (layout in FORMAT.md): imports unpack into a
//! private temp directory without the lock, then take the lock to rename
//! it into place and rewrite the index; removals take the lock too.
//! Readers read the index without the lock: it is only ever replaced
//! whole, by rename.

#![allow(
    clippy::disallowed_methods,
    reason = "the image store is the kubelet's disk adapter: its files are the seam"
)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::fcntl::{Flock, FlockArg};

use super::archive::{check_digest, read_plans, Members, Plan};
use super::index::{parse_config, ImageRecord, Index, INDEX_VERSION};
use super::unpack::{remove_existing, tree_size_bytes, unpack_layer};
use super::{Image, ImageError, ImageSummary};

const INDEX_FILE: &str = "index.json";
const LOCK_FILE: &str = "lock";
const IMAGES_DIR: &str = "sha256";
const TEMP_DIR: &str = "tmp";
const ROOTFS_DIR: &str = "rootfs";
const CONFIG_FILE: &str = "config.json";

/// Temp directories of this process are `<pid>-<n>`, `n` from here.
static TEMP_SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> ImageError {
    let context = context.into();
    move |source| ImageError::Io { context, source }
}

/// The node's images under one directory.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
}

/// A temp directory, removed on drop unless kept.
struct TempDir(Option<PathBuf>);

impl TempDir {
    fn path(&self) -> &Path {
        self.0
            .as_deref()
            .expect("a TempDir is kept only once, by value")
    }

    /// Moves it to `destination`; it is no longer removed.
    fn rename_to(mut self, destination: &Path) -> Result<(), ImageError> {
        let path = self
            .0
            .take()
            .expect("a TempDir is kept only once, by value");
        fs::rename(&path, destination).map_err(io_error(format!(
            "moving {} to {}",
            path.display(),
            destination.display()
        )))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            // Best effort: what is left is removed by the next import.
            let _ = remove_existing(&path);
        }
    }
}

impl ImageStore {
    /// The store at `root`, its directories created if missing.
    pub fn open(root: &Path) -> Result<ImageStore, ImageError> {
        for dir in [root.to_owned(), root.join(IMAGES_DIR), root.join(TEMP_DIR)] {
            fs::create_dir_all(&dir).map_err(io_error(format!("creating {}", dir.display())))?;
        }
        Ok(Self {
            root: root.to_owned(),
        })
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Imports every image of the docker-archive or OCI-layout tar at
    /// `archive`: unpacked once (an image already here is not unpacked
    /// again), tagged as the archive says (a tag another image had moves
    /// to this one). On error, the store is as it was.
    pub fn import(&self, archive: &Path) -> Result<Vec<ImageSummary>, ImageError> {
        let members = Members::index(archive)?;
        let plans = read_plans(&members)?;
        let before = self.read_index()?;
        let mut staged = Vec::with_capacity(plans.len());
        for plan in plans {
            let unpacked = if self.is_present(&before, &plan.id) {
                None
            } else {
                Some(self.unpack(&members, &plan)?)
            };
            staged.push((plan, unpacked));
        }
        let _lock = self.lock()?;
        self.remove_stale_temp_dirs();
        let mut index = self.read_index()?;
        let mut ids = Vec::with_capacity(staged.len());
        for (plan, unpacked) in staged {
            if !self.is_present(&index, &plan.id) {
                // Removed since we looked: unpack it now, under the lock.
                let (temp, record) = match unpacked {
                    Some(unpacked) => unpacked,
                    None => self.unpack(&members, &plan)?,
                };
                let destination = self.image_dir(&plan.id);
                remove_existing(&destination)?;
                temp.rename_to(&destination)?;
                index.images.insert(plan.id.clone(), record);
            }
            let record = index
                .images
                .get_mut(&plan.id)
                .expect("the image was just found or inserted");
            if let Some(digest) = &plan.manifest_digest {
                if !record.manifest_digests.contains(digest) {
                    record.manifest_digests.push(digest.clone());
                }
            }
            for reference in &plan.references {
                if let Some(tag) = reference.tagged() {
                    index.tags.insert(tag, plan.id.clone());
                }
            }
            ids.push(plan.id);
        }
        self.write_index(&index)?;
        Ok(ids
            .iter()
            .map(|id| index.summary(id, &index.images[id]))
            .collect())
    }

    /// Every image in the store, by id.
    pub fn list(&self) -> Result<Vec<ImageSummary>, ImageError> {
        Ok(self.read_index()?.summaries())
    }

    /// Drops the tag `reference` names; the image's files go once no tag
    /// is left. By id or digest, the image goes with all its tags.
    pub fn remove(&self, reference: &str) -> Result<(), ImageError> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let found = index.find(reference)?;
        let gone = index.remove(&found);
        self.write_index(&index)?;
        if let Some(id) = gone {
            // Out of sight first, so that no half-removed image is ever
            // at its path.
            let doomed = self.temp_dir()?;
            let image = self.image_dir(&id);
            if image.exists() {
                fs::rename(&image, doomed.path())
                    .map_err(io_error(format!("moving {} away", image.display())))?;
            }
            drop(doomed);
        }
        Ok(())
    }

    /// The image `reference` names, in any spelling (see
    /// [`ImageError::NotFound`] for the answer when there is none).
    pub fn resolve(&self, reference: &str) -> Result<Image, ImageError> {
        let index = self.read_index()?;
        let found = index.find(reference)?;
        let record = &index.images[&found.id];
        Ok(Image {
            references: index.references_of(&found.id),
            rootfs: self.image_dir(&found.id).join(ROOTFS_DIR),
            config: record.config.clone(),
            id: found.id,
        })
    }

    fn image_dir(&self, id: &str) -> PathBuf {
        let hex = id
            .strip_prefix("sha256:")
            .expect("image ids are sha256 digests");
        self.root.join(IMAGES_DIR).join(hex)
    }

    fn is_present(&self, index: &Index, id: &str) -> bool {
        index.images.contains_key(id) && self.image_dir(id).join(ROOTFS_DIR).is_dir()
    }

    /// Unpacks `plan` into a fresh temp directory, checking each layer's
    /// digests, and its index record.
    fn unpack(&self, members: &Members, plan: &Plan) -> Result<(TempDir, ImageRecord), ImageError> {
        let temp = self.temp_dir()?;
        let rootfs = temp.path().join(ROOTFS_DIR);
        fs::create_dir(&rootfs).map_err(io_error(format!("creating {}", rootfs.display())))?;
        for (number, layer) in plan.layers.iter().enumerate() {
            let digests = unpack_layer(members.open(&layer.member)?, &rootfs)?;
            let what = format!("layer {} ({})", number + 1, layer.member);
            if let Some(expected) = &layer.blob_digest {
                check_digest(expected, &digests.blob, &what)?;
            }
            if let Some(expected) = &layer.diff_id {
                check_digest(expected, &digests.diff, &format!("the uncompressed {what}"))?;
            }
        }
        let config_path = temp.path().join(CONFIG_FILE);
        write_synced(&config_path, &plan.config)?;
        let (config, created) = parse_config(&plan.config)?;
        let record = ImageRecord {
            manifest_digests: plan.manifest_digest.iter().cloned().collect(),
            size_bytes: tree_size_bytes(&rootfs)?,
            created,
            config,
        };
        Ok((temp, record))
    }

    /// A fresh, empty directory under `<root>/tmp`, removed on drop.
    fn temp_dir(&self) -> Result<TempDir, ImageError> {
        let sequence = TEMP_SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let path = self
            .root
            .join(TEMP_DIR)
            .join(format!("{}-{sequence}", std::process::id()));
        // A leftover of a dead process that had our pid.
        remove_existing(&path)?;
        fs::create_dir(&path).map_err(io_error(format!("creating {}", path.display())))?;
        Ok(TempDir(Some(path)))
    }

    /// Removes the temp directories of processes that are gone (killed
    /// in the middle of an import). Under the lock; best effort.
    fn remove_stale_temp_dirs(&self) {
        let Ok(entries) = fs::read_dir(self.root.join(TEMP_DIR)) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let pid = name
                .to_str()
                .and_then(|name| name.split_once('-'))
                .map(|(pid, _)| pid);
            let alive = pid.is_some_and(|pid| Path::new("/proc").join(pid).exists());
            if !alive {
                let _ = remove_existing(&entry.path());
            }
        }
    }

    /// The store's lock, held until dropped.
    fn lock(&self) -> Result<Flock<File>, ImageError> {
        let path = self.root.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error(format!("opening {}", path.display())))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| io_error(format!("locking {}", path.display()))(errno.into()))
    }

    fn read_index(&self) -> Result<Index, ImageError> {
        let path = self.root.join(INDEX_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Index::default()),
            Err(error) => return Err(io_error(format!("reading {}", path.display()))(error)),
        };
        let index: Index = serde_json::from_slice(&bytes).map_err(|error| ImageError::Index {
            path: path.clone(),
            reason: error.to_string(),
        })?;
        if index.version != INDEX_VERSION {
            return Err(ImageError::Index {
                path,
                reason: format!(
                    "version {} (this keel reads version {INDEX_VERSION})",
                    index.version
                ),
            });
        }
        Ok(index)
    }

    /// Replaces the index whole: a temp file, synced, renamed over it.
    fn write_index(&self, index: &Index) -> Result<(), ImageError> {
        let path = self.root.join(INDEX_FILE);
        let temp = self.root.join(format!("{INDEX_FILE}.tmp"));
        let bytes = serde_json::to_vec_pretty(index).expect("the index serializes");
        write_synced(&temp, &bytes)?;
        fs::rename(&temp, &path).map_err(io_error(format!("replacing {}", path.display())))?;
        File::open(&self.root)
            .and_then(|dir| dir.sync_all())
            .map_err(io_error(format!("syncing {}", self.root.display())))
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    let mut file = File::create(path).map_err(io_error(format!("creating {}", path.display())))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_error(format!("writing {}", path.display())))
}
