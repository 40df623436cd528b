//! Reading an image archive: a docker-archive (what `docker save`
//! writes) or an OCI image layout, both as a plain tar. The outer tar is
//! indexed once (name → offset and size) and its members read in place,
//! so that a large archive is never copied.
//!
//! ```text
//!   archive.tar ─► Members (index of the outer tar)
//!      manifest.json?  ─► docker-archive: [{Config, RepoTags, Layers}]
//!      oci-layout?     ─► index.json ─► manifest (or index ─► linux/amd64)
//!                     ─► Vec<Plan>: config bytes, layers in order, tags
//! ```

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::reference::{is_digest, Reference};
use super::ImageError;

/// Metadata files (manifests, configs, indexes) are read whole; none is
/// larger than this in practice (a config is a few KiB).
const METADATA_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// How many symlinks the outer tar may chain (docker-archive links
/// duplicate layers to their first copy).
const ARCHIVE_SYMLINK_HOPS_MAX: usize = 16;

const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// One image to import, read from the archive.
#[derive(Debug)]
pub(super) struct Plan {
    /// The config JSON, as the archive holds it.
    pub config: Vec<u8>,
    /// `sha256:` of the config: the image id.
    pub id: String,
    /// The manifest's digest (OCI layouts only).
    pub manifest_digest: Option<String>,
    /// The layers, lowest first.
    pub layers: Vec<Layer>,
    /// The references the archive names it by.
    pub references: Vec<Reference>,
}

/// One layer blob of a [`Plan`].
#[derive(Debug)]
pub(super) struct Layer {
    /// Its member name in the archive.
    pub member: String,
    /// The digest of the blob as stored (compressed or not), when the
    /// format names it.
    pub blob_digest: Option<String>,
    /// The digest of the uncompressed tar (the config's `diff_ids`).
    pub diff_id: Option<String>,
}

/// The outer tar's regular files, by normalised name.
pub(super) struct Members {
    path: PathBuf,
    files: HashMap<String, (u64, u64)>,
    symlinks: HashMap<String, String>,
}

impl Members {
    /// Indexes the tar at `path`.
    #[allow(
        clippy::disallowed_methods,
        reason = "the archive is the user's file, read once"
    )]
    pub fn index(path: &Path) -> Result<Self, ImageError> {
        let io = |source| ImageError::Io {
            context: format!("reading {}", path.display()),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let mut magic = [0_u8; 2];
        (&file).read_exact(&mut magic).map_err(io)?;
        if magic == [0x1f, 0x8b] {
            return Err(ImageError::Format(format!(
                "{} is gzip-compressed: give the plain tar (gunzip it first)",
                path.display()
            )));
        }
        (&file).seek(SeekFrom::Start(0)).map_err(io)?;
        let mut archive = tar::Archive::new(file);
        let mut files = HashMap::new();
        let mut symlinks = HashMap::new();
        for entry in archive.entries().map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = normalise_member(&entry.path_bytes());
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    files.insert(name, (entry.raw_file_position(), entry.size()));
                }
                kind @ (tar::EntryType::Symlink | tar::EntryType::Link) => {
                    if let Some(target) = entry.link_name_bytes() {
                        let mut target = String::from_utf8_lossy(&target).into_owned();
                        // A hard link names its target from the archive's
                        // top, a symlink from its own directory.
                        if kind == tar::EntryType::Link {
                            target.insert(0, '/');
                        }
                        symlinks.insert(name, target);
                    }
                }
                _ => {}
            }
        }
        Ok(Self {
            path: path.to_owned(),
            files,
            symlinks,
        })
    }

    fn contains(&self, name: &str) -> bool {
        self.locate(name).is_some()
    }

    /// Where the member `name` lives, following the archive's links
    /// (within the archive only).
    fn locate(&self, name: &str) -> Option<(u64, u64)> {
        let mut name = normalise_member(name.as_bytes());
        for _ in 0..ARCHIVE_SYMLINK_HOPS_MAX {
            if let Some(found) = self.files.get(&name) {
                return Some(*found);
            }
            let target = self.symlinks.get(&name)?;
            name = if target.starts_with('/') {
                normalise_member(target.as_bytes())
            } else {
                // A symlink's target is relative to its directory.
                let dir = name.rsplit_once('/').map_or("", |(dir, _)| dir);
                lexical_join(dir, target)?
            };
        }
        None
    }

    /// A reader of the member `name`.
    #[allow(
        clippy::disallowed_methods,
        reason = "the archive is the user's file, read once"
    )]
    pub fn open(&self, name: &str) -> Result<impl Read + use<>, ImageError> {
        let (offset, size) = self
            .locate(name)
            .ok_or_else(|| ImageError::Format(format!("the archive has no {name}")))?;
        let io = |source| ImageError::Io {
            context: format!("reading {name} in {}", self.path.display()),
            source,
        };
        let mut file = File::open(&self.path).map_err(io)?;
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        Ok(file.take(size))
    }

    /// The member `name` whole (a metadata file).
    fn read(&self, name: &str) -> Result<Vec<u8>, ImageError> {
        let mut bytes = Vec::new();
        self.open(name)?
            .take(METADATA_BYTES_MAX)
            .read_to_end(&mut bytes)
            .map_err(|source| ImageError::Io {
                context: format!("reading {name} in {}", self.path.display()),
                source,
            })?;
        Ok(bytes)
    }

    /// The blob `digest` of an OCI layout, checked against its digest.
    fn read_blob(&self, digest: &str) -> Result<Vec<u8>, ImageError> {
        let bytes = self.read(&blob_member(digest)?)?;
        check_digest(digest, &sha256_digest(&bytes), &format!("blob {digest}"))?;
        Ok(bytes)
    }
}

/// `./a//b/` → `a/b`.
fn normalise_member(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// `dir` joined with the relative `target`, `..` resolved; `None` if it
/// climbs out of the archive.
fn lexical_join(dir: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// `sha256:<hex>` of `bytes`.
pub(super) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// An error unless `actual` is `expected`.
pub(super) fn check_digest(expected: &str, actual: &str, what: &str) -> Result<(), ImageError> {
    if expected == actual {
        Ok(())
    } else {
        Err(ImageError::DigestMismatch {
            what: what.to_owned(),
            expected: expected.to_owned(),
            actual: actual.to_owned(),
        })
    }
}

fn blob_member(digest: &str) -> Result<String, ImageError> {
    if !is_digest(digest) {
        return Err(ImageError::Format(format!(
            "{digest:?} is not a sha256 digest (only sha256 blobs are supported)"
        )));
    }
    Ok(format!("blobs/sha256/{}", &digest["sha256:".len()..]))
}

/// The images in the archive at `path`.
pub(super) fn read_plans(members: &Members) -> Result<Vec<Plan>, ImageError> {
    if members.contains("manifest.json") {
        docker_archive(members)
    } else if members.contains("oci-layout") && members.contains("index.json") {
        oci_layout(members)
    } else {
        Err(ImageError::Format(
            "neither a docker-archive (no manifest.json) nor an OCI image layout \
             (no oci-layout and index.json)"
                .into(),
        ))
    }
}

fn parse_json<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, ImageError> {
    serde_json::from_slice(bytes)
        .map_err(|error| ImageError::Format(format!("{what} is not valid: {error}")))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Just the part of an image config that names the layers.
#[derive(Deserialize, Default)]
struct ConfigRootfs {
    #[serde(default)]
    rootfs: Option<RootfsDiffIds>,
}

#[derive(Deserialize, Default)]
struct RootfsDiffIds {
    #[serde(default)]
    diff_ids: Vec<String>,
}

fn diff_ids(config: &[u8], layers: usize) -> Result<Vec<Option<String>>, ImageError> {
    let parsed: ConfigRootfs = parse_json(config, "the image config")?;
    let ids = parsed.rootfs.unwrap_or_default().diff_ids;
    if ids.is_empty() {
        return Ok(vec![None; layers]);
    }
    if ids.len() != layers {
        return Err(ImageError::Format(format!(
            "the config names {} layers (rootfs.diff_ids) but the manifest {layers}",
            ids.len()
        )));
    }
    Ok(ids.into_iter().map(Some).collect())
}

fn parse_references(names: &[String]) -> Result<Vec<Reference>, ImageError> {
    names
        .iter()
        .map(|name| {
            Reference::parse(name).map_err(|error| {
                ImageError::Format(format!("the archive's tag {name:?} is not valid: {error}"))
            })
        })
        .collect()
}

fn docker_archive(members: &Members) -> Result<Vec<Plan>, ImageError> {
    let entries: Vec<DockerManifestEntry> =
        parse_json(&members.read("manifest.json")?, "manifest.json")?;
    entries
        .into_iter()
        .map(|entry| {
            let config = members.read(&entry.config)?;
            let id = sha256_digest(&config);
            // `<hex>.json` (docker < 25) or `blobs/sha256/<hex>` names the
            // config by its digest: check it.
            let stem = entry.config.rsplit('/').next().unwrap_or_default();
            let named = format!("sha256:{}", stem.trim_end_matches(".json"));
            if is_digest(&named) {
                check_digest(&named, &id, &format!("config {}", entry.config))?;
            }
            let diff_ids = diff_ids(&config, entry.layers.len())?;
            let layers = entry
                .layers
                .iter()
                .zip(diff_ids)
                .map(|(member, diff_id)| Layer {
                    member: member.clone(),
                    blob_digest: member
                        .strip_prefix("blobs/sha256/")
                        .map(|hex| format!("sha256:{hex}"))
                        .filter(|digest| is_digest(digest)),
                    diff_id,
                })
                .collect();
            Ok(Plan {
                config,
                id,
                manifest_digest: None,
                layers,
                references: parse_references(&entry.repo_tags.unwrap_or_default())?,
            })
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: HashMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// The platform this node runs.
const PLATFORM_OS: &str = "linux";
const PLATFORM_ARCHITECTURE: &str = "amd64";

fn oci_layout(members: &Members) -> Result<Vec<Plan>, ImageError> {
    let index: Index = parse_json(&members.read("index.json")?, "index.json")?;
    let mut plans = Vec::new();
    for descriptor in &index.manifests {
        let references = descriptor_references(descriptor)?;
        let manifest = pick_manifest(members, descriptor)?;
        let mut plan = oci_image(members, &manifest)?;
        plan.references = references;
        plans.push(plan);
    }
    Ok(plans)
}

/// The tags a descriptor's annotations give: containerd's full name
/// first, else the OCI ref name when it is a reference.
fn descriptor_references(descriptor: &Descriptor) -> Result<Vec<Reference>, ImageError> {
    let names: Vec<String> = descriptor
        .annotations
        .get(ANNOTATION_CONTAINERD_NAME)
        .or_else(|| descriptor.annotations.get(ANNOTATION_REF_NAME))
        .into_iter()
        .cloned()
        .collect();
    parse_references(&names)
}

/// The manifest a descriptor of `index.json` leads to: itself, or the
/// linux/amd64 one of the index it names.
fn pick_manifest(members: &Members, descriptor: &Descriptor) -> Result<Descriptor, ImageError> {
    if descriptor.media_type != MEDIA_OCI_INDEX && descriptor.media_type != MEDIA_DOCKER_LIST {
        return Ok(Descriptor {
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.clone(),
            annotations: HashMap::new(),
            platform: None,
        });
    }
    let index: Index = parse_json(&members.read_blob(&descriptor.digest)?, "an image index")?;
    index
        .manifests
        .into_iter()
        .find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| p.os == PLATFORM_OS && p.architecture == PLATFORM_ARCHITECTURE)
        })
        .ok_or_else(|| {
            ImageError::Format(format!(
                "the image index {} has no {PLATFORM_OS}/{PLATFORM_ARCHITECTURE} manifest",
                descriptor.digest
            ))
        })
}

fn oci_image(members: &Members, descriptor: &Descriptor) -> Result<Plan, ImageError> {
    if !descriptor.media_type.is_empty()
        && descriptor.media_type != MEDIA_OCI_MANIFEST
        && descriptor.media_type != MEDIA_DOCKER_MANIFEST
    {
        return Err(ImageError::Format(format!(
            "the manifest {} has the media type {:?}, not an image manifest",
            descriptor.digest, descriptor.media_type
        )));
    }
    let manifest: Manifest = parse_json(&members.read_blob(&descriptor.digest)?, "a manifest")?;
    let config = members.read_blob(&manifest.config.digest)?;
    let id = sha256_digest(&config);
    let diff_ids = diff_ids(&config, manifest.layers.len())?;
    let layers = manifest
        .layers
        .iter()
        .zip(diff_ids)
        .map(|(layer, diff_id)| {
            Ok(Layer {
                member: blob_member(&layer.digest)?,
                blob_digest: Some(layer.digest.clone()),
                diff_id,
            })
        })
        .collect::<Result<_, ImageError>>()?;
    Ok(Plan {
        config,
        id,
        manifest_digest: Some(descriptor.digest.clone()),
        layers,
        references: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_within_the_archive_only() {
        assert_eq!(
            lexical_join("a/b", "../c/layer.tar").as_deref(),
            Some("a/c/layer.tar")
        );
        assert_eq!(lexical_join("a", "../../x"), None);
        assert_eq!(normalise_member(b"./x//y/"), "x/y");
    }
}
