//! The `o2image` format plugin: reads OCFS2 o2image files (packed and raw) and plain OCFS2
//! volume images, and hands out the file-system tree they hold: names, inodes, owners, modes,
//! sizes, link counts, times with nanoseconds, devices, symlinks, xattrs, and the data that
//! is in the image (inline-data files always; everything on a plain volume). Files whose
//! data the image does not hold are [`relic_model::DataState::Absent`] with their real size.
//! Read-only. Research note: `ocfs2.md`.
//!
//! Format id `o2image`, alias `ocfs2`. Inputs are detected by signature, never by name: the
//! packed image header (`0x72a3d45f` + `"OCFS2 IMAGE"`), or the superblock signature `OCFSV2`
//! at block 2 for block sizes 512..4096 ([`image::bid`]).
//!
//! Modules:
//! - [`layout`]: the on-disk structures with their offsets (superblock, inode, extent lists
//!   and blocks, directory entries and trailers, xattr headers/blocks/buckets);
//! - [`image`]: block access to packed images (header, stored blocks, bitmap with a
//!   streaming-built rank index), raw images and plain volumes;
//! - [`ecc`]: the metaecc CRC32 + Hamming check;
//! - [`tree`]: the opened volume with metaecc verification, and the extent-tree walker;
//! - [`read`]: [`read::O2Reader`], the tree walk and data.
//!
//! **Random access.** Every kind of image needs random access (a packed image's bitmap is at
//! its end). The engine hands a format a record medium; for a plain file that is the `file`
//! medium, which offers sequential records and rewind only. **Choice** (as the tape-image
//! plugin does for its containers): when the medium is the `file` medium and the location is
//! a regular file or a block device, the reader opens the location itself with `pread` and
//! does not read the medium. Anything else (a pipe, stdin, a remote tape, an image inside a
//! tape container) is refused with an error that says to copy the image to a file first.
//!
//! Reader options: `system` (also list the system directory, as `.ocfs2-system/`, like
//! `debugfs.ocfs2 -R 'ls -l //'`), `kind=raw|volume` (how to take a headerless image whose
//! length does not say: a raw o2image has no file data, a plain volume has it).

pub mod ecc;
pub mod image;
pub mod layout;
pub mod read;
pub mod tree;

use std::os::unix::fs::FileTypeExt;
use std::sync::Arc;

use relic_model::{Error, FormatReader, NullHost, Result};
use relic_plugin_sdk::{
    Descriptor, FormatInfo, HostHandle, InputKind, Options, Plugin, ProbeContext, Stream,
};

pub use image::Kind;
pub use read::{O2Reader, ReadOptions};

pub struct O2imagePlugin;

const OPTIONS: &[(&str, &str)] = &[
    (
        "system",
        "also list the OCFS2 system directory (debugfs' //) as .ocfs2-system/",
    ),
    (
        "kind=raw|volume",
        "take a headerless image as a raw o2image (no file data) or a plain volume (file data read); \
         default: by its length",
    ),
];

fn is_ours(id: &str) -> bool {
    id == "o2image" || id == "ocfs2"
}

/// Parse the reader options.
pub fn read_options(options: &Options) -> Result<ReadOptions> {
    options.check_known(&["system", "kind"], "the o2image reader")?;
    let kind = match options.get("kind") {
        None => None,
        Some("raw") => Some(Kind::Raw),
        Some("volume") => Some(Kind::Volume),
        Some(k) => {
            return Err(Error::config(format!(
                "o2image kind={k}: expected raw or volume"
            )))
        }
    };
    Ok(ReadOptions {
        system: options.flag("system"),
        kind,
    })
}

impl Plugin for O2imagePlugin {
    fn descriptor() -> Descriptor {
        let mut f = FormatInfo::new(
            "o2image",
            "OCFS2 o2image metadata images (packed and raw) and plain OCFS2 volume images; read-only",
        );
        f.aliases = vec!["ocfs2".into()];
        f.extensions = vec!["o2i".into()];
        f.write = false;
        f.input = InputKind::Medium;
        f.options = OPTIONS
            .iter()
            .map(|(n, h)| (n.to_string(), h.to_string()))
            .collect();
        Descriptor {
            name: "o2image".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            formats: vec![f],
            media: vec![],
        }
    }

    fn probe(id: &str, head: &[u8], _ctx: &ProbeContext) -> u32 {
        if is_ours(id) {
            image::bid(head)
        } else {
            0
        }
    }

    fn open_reader(
        id: &str,
        mut input: Stream,
        options: &Options,
        host: HostHandle,
    ) -> Result<Box<dyn FormatReader>> {
        if !is_ours(id) {
            return Err(Error::unsupported(format!(
                "the o2image plugin does not read {id}"
            )));
        }
        let opts = read_options(options)?;
        let location = input.location_str();
        let medium_kind = input.medium.as_ref().map(|m| m.info().kind);
        if let Some(k) = &medium_kind {
            if k != "file" {
                let hint = if std::fs::metadata(&location).is_ok_and(|m| m.is_file()) {
                    " (if it is an OCFS2 image and not a tape image, say --medium file)"
                } else {
                    "; copy it to a regular file first"
                };
                return Err(Error::unsupported(format!(
                    "an o2image needs random access and this input comes through the {k} medium{hint}"
                )));
            }
        }
        let meta = std::fs::metadata(&location)
            .map_err(|e| Error::io(format!("cannot open {location}"), &e))?;
        if !(meta.is_file() || meta.file_type().is_block_device()) {
            return Err(Error::unsupported(format!(
                "{location} is not a regular file or block device: an o2image needs random access; \
                 copy it to a regular file first"
            )));
        }
        // the medium is not read: the image is opened for random access (see the crate docs)
        drop(input.medium.take());
        let src = image::FileSource::open(&location)?;
        Ok(Box::new(O2Reader::open(Box::new(src), opts, host)?))
    }
}

/// Read a whole image from `data` (as packed/detected, as raw and as a plain volume),
/// ignoring the outcome: the entry point of the cargo-fuzz target (`fuzz/`) and of the
/// smoke-fuzz tests. Must never panic, hang or allocate without bound, whatever `data` holds.
pub fn fuzz_read(data: &[u8]) {
    let host: HostHandle = Arc::new(NullHost);
    let mut buf = vec![0u8; 64 * 1024];
    for kind in [None, Some(Kind::Raw), Some(Kind::Volume)] {
        let opts = ReadOptions { system: true, kind };
        let src = Box::new(image::MemSource(data.to_vec()));
        let Ok(mut r) = O2Reader::open(src, opts, host.clone()) else {
            continue;
        };
        let _ = r.volume();
        let mut entries = 0;
        while let Ok(Some(e)) = r.next_entry() {
            entries += 1;
            if entries > 100_000 {
                break;
            }
            if e.has_data() {
                // at most 1 MiB of data per entry: the bytes of a huge file are not the point
                let mut got = 0u64;
                loop {
                    match r.read_data(&mut buf) {
                        Ok(relic_model::Chunk::End) | Err(_) => break,
                        Ok(relic_model::Chunk::Data { len, .. }) => got += len,
                        Ok(_) => got += 1,
                    }
                    if got > 1 << 20 {
                        let _ = r.skip_data();
                        break;
                    }
                }
            }
        }
    }
}
