//! The store's index (`<root>/index.json`, see FORMAT.md) and the
//! lookups in it. Pure: the store reads and writes it.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::reference::{is_digest, is_lower_hex, Reference};
use super::{ImageConfig, ImageError, ImageSummary};

/// The index format this code writes and reads.
pub(super) const INDEX_VERSION: u32 = 1;
/// An id prefix shorter than this is not taken for an id (it could be a
/// repository name); `keel image ls` shows 13 hex digits.
const ID_PREFIX_LENGTH_MIN: usize = 12;

/// The whole index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Index {
    /// [`INDEX_VERSION`].
    pub version: u32,
    /// A normalised `name:tag` → the image id it names.
    pub tags: BTreeMap<String, String>,
    /// Image id → what is known of it.
    pub images: BTreeMap<String, ImageRecord>,
}

impl Default for Index {
    fn default() -> Self {
        Self {
            version: INDEX_VERSION,
            tags: BTreeMap::new(),
            images: BTreeMap::new(),
        }
    }
}

/// One image of the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ImageRecord {
    /// The manifests it was imported through (OCI layouts name them).
    #[serde(default)]
    pub manifest_digests: Vec<String>,
    /// The bytes of its unpacked files.
    pub size_bytes: u64,
    /// When it was built, from its config.
    #[serde(default)]
    pub created: Option<Timestamp>,
    /// What it runs, from its config.
    pub config: ImageConfig,
}

/// What a reference found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    /// The image.
    pub id: String,
    /// The tag it was found by; `None` when found by id or digest.
    pub tag: Option<String>,
}

impl Index {
    /// The image `text` names: a tag in any spelling (`busybox`,
    /// `library/busybox:latest`, the full form), `name@sha256:…` (the
    /// image id or a manifest digest), `sha256:…`, or an id prefix of at
    /// least [`ID_PREFIX_LENGTH_MIN`] hex digits.
    pub fn find(&self, text: &str) -> Result<Found, ImageError> {
        if is_digest(text) {
            return self.find_digest(text, text);
        }
        let parsed = Reference::parse(text);
        if let Ok(reference) = &parsed {
            if let Some(digest) = &reference.digest {
                return self.find_digest(digest, &reference.to_string());
            }
            if let Some(tag) = reference.tagged() {
                if let Some(id) = self.tags.get(&tag) {
                    return Ok(Found {
                        id: id.clone(),
                        tag: Some(tag),
                    });
                }
            }
        }
        if text.len() >= ID_PREFIX_LENGTH_MIN && is_lower_hex(text) {
            let prefix = format!("sha256:{text}");
            let mut matching = self.images.keys().filter(|id| id.starts_with(&prefix));
            if let (Some(id), None) = (matching.next(), matching.next()) {
                return Ok(Found {
                    id: id.clone(),
                    tag: None,
                });
            }
        }
        match parsed {
            Ok(reference) => Err(ImageError::NotFound {
                reference: reference.to_string(),
            }),
            Err(reason) => Err(ImageError::InvalidReference {
                reference: text.to_owned(),
                reason,
            }),
        }
    }

    fn find_digest(&self, digest: &str, shown: &str) -> Result<Found, ImageError> {
        let by_id = self.images.contains_key(digest).then(|| digest.to_owned());
        let by_manifest = || {
            self.images
                .iter()
                .find(|(_, record)| record.manifest_digests.iter().any(|m| m == digest))
                .map(|(id, _)| id.clone())
        };
        by_id
            .or_else(by_manifest)
            .map(|id| Found { id, tag: None })
            .ok_or_else(|| ImageError::NotFound {
                reference: shown.to_owned(),
            })
    }

    /// The tags naming `id`, sorted.
    pub fn references_of(&self, id: &str) -> Vec<String> {
        self.tags
            .iter()
            .filter(|(_, tagged)| *tagged == id)
            .map(|(tag, _)| tag.clone())
            .collect()
    }

    /// Drops what `found` names: its tag, and the image if no tag is left
    /// (or all its tags and the image when found by id). The image id
    /// whose files are to go, if any.
    pub fn remove(&mut self, found: &Found) -> Option<String> {
        match &found.tag {
            Some(tag) => {
                self.tags.remove(tag);
            }
            None => self.tags.retain(|_, id| *id != found.id),
        }
        if self.references_of(&found.id).is_empty() {
            self.images.remove(&found.id);
            Some(found.id.clone())
        } else {
            None
        }
    }

    /// Every image, by id.
    pub fn summaries(&self) -> Vec<ImageSummary> {
        self.images
            .iter()
            .map(|(id, record)| self.summary(id, record))
            .collect()
    }

    /// One image's summary.
    pub fn summary(&self, id: &str, record: &ImageRecord) -> ImageSummary {
        ImageSummary {
            id: id.to_owned(),
            references: self.references_of(id),
            size_bytes: record.size_bytes,
            created: record.created,
        }
    }
}

/// The parts of an image config the store keeps.
#[derive(Deserialize, Default)]
struct RawConfig {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    config: Option<RawRunConfig>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawRunConfig {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

/// The run config and creation time of an image config JSON.
pub(super) fn parse_config(bytes: &[u8]) -> Result<(ImageConfig, Option<Timestamp>), ImageError> {
    let raw: RawConfig = serde_json::from_slice(bytes)
        .map_err(|error| ImageError::Format(format!("the image config is not valid: {error}")))?;
    let run = raw.config.unwrap_or_default();
    let config = ImageConfig {
        entrypoint: run.entrypoint.unwrap_or_default(),
        cmd: run.cmd.unwrap_or_default(),
        env: run.env.unwrap_or_default(),
        working_dir: run.working_dir.unwrap_or_default(),
        user: run.user.unwrap_or_default(),
    };
    // A created time that does not parse is left out, not an error: it
    // is only shown.
    let created = raw.created.and_then(|text| text.parse::<Timestamp>().ok());
    Ok((config, created))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: char) -> String {
        format!("sha256:{}", n.to_string().repeat(64))
    }

    fn record() -> ImageRecord {
        ImageRecord {
            manifest_digests: vec![id('f')],
            size_bytes: 1,
            created: None,
            config: ImageConfig::default(),
        }
    }

    fn index() -> Index {
        let mut index = Index::default();
        index.images.insert(id('a'), record());
        index.images.insert(
            id('b'),
            ImageRecord {
                manifest_digests: vec![],
                ..record()
            },
        );
        index
            .tags
            .insert("docker.io/library/busybox:latest".into(), id('a'));
        index
            .tags
            .insert("docker.io/library/busybox:1.36".into(), id('a'));
        index.tags.insert("example.com/x/y:tag".into(), id('b'));
        index
    }

    #[test]
    fn finds_any_spelling() {
        let index = index();
        for text in [
            "busybox",
            "busybox:latest",
            "library/busybox",
            "docker.io/library/busybox:latest",
            "busybox:1.36",
        ] {
            assert_eq!(index.find(text).unwrap().id, id('a'), "{text}");
        }
        assert_eq!(index.find("example.com/x/y:tag").unwrap().id, id('b'));
        assert_eq!(
            index.find(&id('b')).unwrap(),
            Found {
                id: id('b'),
                tag: None
            }
        );
        assert_eq!(
            index.find(&format!("busybox@{}", id('f'))).unwrap().id,
            id('a')
        );
        assert_eq!(index.find(&"b".repeat(13)).unwrap().id, id('b'));
        let missing = index.find("nginx").unwrap_err().to_string();
        assert_eq!(
            missing,
            "image \"docker.io/library/nginx:latest\" is not in this node's image store \
             (import it with: keel image import FILE)"
        );
        assert!(matches!(
            index.find("Nope"),
            Err(ImageError::InvalidReference { .. })
        ));
    }

    #[test]
    fn removing_the_last_tag_drops_the_image() {
        let mut index = index();
        let found = index.find("busybox").unwrap();
        assert_eq!(index.remove(&found), None);
        let found = index.find("busybox:1.36").unwrap();
        assert_eq!(index.remove(&found), Some(id('a')));
        assert!(!index.images.contains_key(&id('a')));
        let found = index.find(&id('b')).unwrap();
        assert_eq!(index.remove(&found), Some(id('b')));
        assert!(index.tags.is_empty());
    }

    #[test]
    fn config_fields_are_read() {
        let (config, created) = parse_config(
            br#"{"created":"2024-01-02T03:04:05Z","config":{"Cmd":["sh"],"Env":["PATH=/bin"],"WorkingDir":"/w","User":"65534","Entrypoint":null}}"#,
        )
        .unwrap();
        assert_eq!(config.cmd, vec!["sh"]);
        assert_eq!(config.env, vec!["PATH=/bin"]);
        assert_eq!(config.working_dir, "/w");
        assert_eq!(config.user, "65534");
        assert!(config.entrypoint.is_empty());
        assert_eq!(created.unwrap().to_string(), "2024-01-02T03:04:05Z");
    }
}
