//! `meta.json`: what the embedded index knows besides the two search structures.
//!
//! It records the format version, the embedding model and dimension the index was built
//! for, the commit generation (also stored in tantivy's commit payload and checked on open),
//! the size of the vector file, each document's stamp, and per chunk exactly what the
//! vector search needs to filter (id, source, ACL, metadata) — so that opening does not have
//! to read every stored document back out of tantivy. It is written last in a commit,
//! through a temporary file and a rename, so a crash leaves either the old or the new file.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::IndexError;
use crate::principal::Acl;

/// The version of the on-disk layout; bump it when the schema or this file changes.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// The file name inside the index directory.
pub(crate) const META_FILE: &str = "meta.json";

/// The contents of `meta.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetaFile {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Vector dimension, `None` for a keyword-only index.
    pub dimension: Option<usize>,
    /// Name of the embedding model.
    pub model: Option<String>,
    /// Number of the last commit; equals tantivy's commit payload.
    pub generation: u64,
    /// What `vectors.usearch` must look like (absent for a keyword-only index).
    pub vectors: Option<VectorsFile>,
    /// Document id → what was indexed for it.
    pub documents: BTreeMap<String, DocumentMeta>,
}

/// The expected shape of `vectors.usearch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VectorsFile {
    /// Number of vectors present.
    pub count: usize,
    /// File length in bytes.
    pub bytes: u64,
}

/// One document of `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DocumentMeta {
    /// The caller's stamp.
    pub stamp: String,
    /// Its chunks, in the order given.
    pub chunks: Vec<ChunkMeta>,
}

/// What filtering needs to know about one chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChunkMeta {
    /// The chunk id.
    pub id: String,
    /// Its source.
    pub source: String,
    /// Its ACL.
    #[serde(default, skip_serializing_if = "Acl::is_public")]
    pub acl: Acl,
    /// Its exact-match metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl MetaFile {
    /// Reads `dir/meta.json`; a missing or unparsable file is [`IndexError::Corrupt`].
    pub(crate) fn read(dir: &Path) -> Result<MetaFile, IndexError> {
        let path = dir.join(META_FILE);
        let bytes = fs::read(&path).map_err(|e| {
            let reason = if e.kind() == std::io::ErrorKind::NotFound {
                format!("{META_FILE} is missing (no index was committed here)")
            } else {
                format!("{META_FILE} cannot be read: {e}")
            };
            IndexError::Corrupt {
                dir: dir.to_owned(),
                reason,
            }
        })?;
        serde_json::from_slice(&bytes).map_err(|e| IndexError::Corrupt {
            dir: dir.to_owned(),
            reason: format!("{META_FILE} is not valid: {e}"),
        })
    }

    /// Writes `dir/meta.json` atomically.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), IndexError> {
        // Serializing these plain maps and strings cannot fail.
        let bytes = serde_json::to_vec(self).map_err(|e| IndexError::Io {
            path: dir.join(META_FILE),
            source: std::io::Error::other(e),
        })?;
        write_atomically(&dir.join(META_FILE), |file| file.write_all(&bytes))
    }
}

/// The temporary name a file is written under before it is renamed into place.
pub(crate) fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes `path` by filling a temporary file, syncing it, renaming it over `path` and
/// syncing the directory, so readers see the old or the new contents, never a mix.
pub(crate) fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), IndexError> {
    let tmp = temporary_path(path);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| IndexError::Io { path, source }
    };
    let mut file = File::create(&tmp).map_err(io(&tmp))?;
    fill(&mut file).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    rename_durably(&tmp, path)
}

/// Renames `from` to `to` and syncs the parent directory.
pub(crate) fn rename_durably(from: &Path, to: &Path) -> Result<(), IndexError> {
    fs::rename(from, to).map_err(|source| IndexError::Io {
        path: to.to_owned(),
        source,
    })?;
    if let Some(parent) = to.parent() {
        // Syncing a directory is how POSIX makes a rename durable; where the platform
        // cannot open directories this is a no-op.
        if let Ok(dir) = File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut documents = BTreeMap::new();
        documents.insert(
            "doc".to_owned(),
            DocumentMeta {
                stamp: "v1".to_owned(),
                chunks: vec![ChunkMeta {
                    id: "c1".to_owned(),
                    source: "wiki".to_owned(),
                    acl: Acl {
                        users: vec!["ann".to_owned()],
                        groups: vec![],
                    },
                    metadata: BTreeMap::from([("lang".to_owned(), "en".to_owned())]),
                }],
            },
        );
        let meta = MetaFile {
            format_version: FORMAT_VERSION,
            dimension: Some(3),
            model: Some("m".to_owned()),
            generation: 7,
            vectors: Some(VectorsFile {
                count: 1,
                bytes: 10,
            }),
            documents,
        };
        meta.write(dir.path()).unwrap();
        let back = MetaFile::read(dir.path()).unwrap();
        assert_eq!(back.documents, meta.documents);
        assert_eq!(back.generation, 7);
        assert!(!temporary_path(&dir.path().join(META_FILE)).exists());
    }

    #[test]
    fn missing_and_garbled_meta_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let err = MetaFile::read(dir.path()).unwrap_err();
        assert!(err.to_string().contains("meta.json is missing"), "{err}");
        fs::write(dir.path().join(META_FILE), b"{not json").unwrap();
        let err = MetaFile::read(dir.path()).unwrap_err();
        assert!(matches!(err, IndexError::Corrupt { .. }), "{err}");
    }
}
