//! `keel image import | ls | rm`: the node's image store, managed by hand
//! (a node without a registry runs only what was imported), as `crictl
//! images` and `ctr image import` do for containerd.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use keel_kubelet::images::{ImageStore, ImageSummary, IMAGES_DIR_DEFAULT};

/// `keel image`.
#[derive(Args)]
pub struct Image {
    /// The image store's directory (the kubelet's --images-dir).
    #[arg(long, env = "KEEL_IMAGES_DIR", default_value = IMAGES_DIR_DEFAULT, global = true)]
    images_dir: PathBuf,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Imports images from docker-archive (`docker save`) or OCI-layout
    /// tars. Importing the same image again only moves its tags.
    Import {
        /// The tar files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Lists the images: REPOSITORY TAG IMAGE ID SIZE, a row per tag.
    Ls,
    /// Removes tags (busybox, busybox:1.36, example.com/x/y:tag) or
    /// images (by id, or name@sha256:…); an image's files go with its
    /// last tag.
    Rm {
        /// The references.
        #[arg(required = true)]
        references: Vec<String>,
    },
}

/// Runs `keel image`; what it prints goes to stdout, the first error is
/// the answer (the files and references before it are done).
pub fn run(args: Image) -> Result<(), String> {
    let store = ImageStore::open(&args.images_dir).map_err(|error| error.to_string())?;
    match args.action {
        Action::Import { files } => {
            for file in files {
                let imported = store
                    .import(&file)
                    .map_err(|error| format!("cannot import {}: {error}", file.display()))?;
                for image in imported {
                    let names = if image.references.is_empty() {
                        "<none>".to_owned()
                    } else {
                        image.references.join(", ")
                    };
                    println!("imported {names} ({})", image.id);
                }
            }
        }
        Action::Ls => {
            let images = store.list().map_err(|error| error.to_string())?;
            print!("{}", table(&images));
        }
        Action::Rm { references } => {
            for reference in references {
                store
                    .remove(&reference)
                    .map_err(|error| error.to_string())?;
                println!("Deleted: {reference}");
            }
        }
    }
    Ok(())
}

/// How many hex digits of an id `ls` shows (as crictl does).
const ID_SHOWN_LENGTH: usize = 13;

/// The `ls` table: a row per tag, `<none>` for an untagged image.
fn table(images: &[ImageSummary]) -> String {
    let mut rows = vec![["REPOSITORY", "TAG", "IMAGE ID", "SIZE"].map(String::from)];
    for image in images {
        let id: String = image
            .id
            .trim_start_matches("sha256:")
            .chars()
            .take(ID_SHOWN_LENGTH)
            .collect();
        let size = human_size(image.size_bytes);
        if image.references.is_empty() {
            rows.push(["<none>".into(), "<none>".into(), id.clone(), size.clone()]);
        }
        for reference in &image.references {
            let (repository, tag) = split_tag(reference);
            rows.push([repository.into(), tag.into(), id.clone(), size.clone()]);
        }
    }
    let widths: Vec<usize> = (0..4)
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("   ");
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// `docker.io/library/busybox:1.36` → (`docker.io/library/busybox`, `1.36`).
fn split_tag(reference: &str) -> (&str, &str) {
    let after_slash = reference.rfind('/').map_or(0, |at| at + 1);
    match reference[after_slash..].rfind(':') {
        Some(at) => (
            &reference[..after_slash + at],
            &reference[after_slash + at + 1..],
        ),
        None => (reference, "<none>"),
    }
}

/// Bytes as docker and crictl show them: decimal units, 4 significant
/// digits (`2.13MB`, `512B`).
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    let decimals = match value {
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    let text = format!("{value:.decimals$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_docker_writes_them() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(2_129_920), "2.13MB");
        assert_eq!(human_size(1_000), "1kB");
        assert_eq!(human_size(123_456_789), "123.5MB");
    }

    #[test]
    fn a_row_per_tag() {
        let images = [
            ImageSummary {
                id: format!("sha256:{}", "ab".repeat(32)),
                references: vec!["localhost:5000/app:v1".into()],
                size_bytes: 1_500,
                created: None,
            },
            ImageSummary {
                id: format!("sha256:{}", "cd".repeat(32)),
                references: vec![],
                size_bytes: 10,
                created: None,
            },
        ];
        let table = table(&images);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "REPOSITORY           TAG      IMAGE ID        SIZE"
        );
        assert_eq!(
            lines[1],
            "localhost:5000/app   v1       ababababababa   1.5kB"
        );
        assert_eq!(
            lines[2],
            "<none>               <none>   cdcdcdcdcdcdc   10B"
        );
    }
}
