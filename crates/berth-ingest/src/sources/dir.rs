//! A directory (or a single file) on the local file system.

use super::{Entry, Fetched, Source, SourceError, parse_acl};
use crate::parsers::{Format, human_bytes};
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// The suffix of sidecar ACL files; they are read with their document, never indexed.
pub const ACL_SIDECAR_SUFFIX: &str = ".acl.yaml";

/// Files under a directory, chosen by include/exclude globs, or one file.
///
/// Symbolic links are followed only while they stay inside the root: a link that leads
/// out of it is skipped, so a source never reads what it was not pointed at.
#[derive(Debug)]
pub struct DirSource {
    root: PathBuf,
    canonical_root: PathBuf,
    single_file: bool,
    include: Option<GlobSet>,
    exclude: GlobSet,
}

fn globs(patterns: &[String]) -> Result<GlobSet, SourceError> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let g = Glob::new(p).map_err(|e| SourceError::permanent(format!("bad glob `{p}`: {e}")))?;
        b.add(g);
    }
    b.build()
        .map_err(|e| SourceError::permanent(format!("bad globs: {e}")))
}

impl DirSource {
    /// A source over `root` (a directory or a file).
    pub fn new(
        root: &Path,
        include: &[String],
        exclude: &[String],
    ) -> Result<DirSource, SourceError> {
        let canonical_root = root.canonicalize().map_err(|e| {
            SourceError::permanent(format!("cannot open source path {}: {e}", root.display()))
        })?;
        let single_file = canonical_root.is_file();
        Ok(DirSource {
            root: root.to_path_buf(),
            canonical_root,
            single_file,
            include: if include.is_empty() {
                None
            } else {
                Some(globs(include)?)
            },
            exclude: globs(exclude)?,
        })
    }

    fn full_path(&self, rel: &str) -> PathBuf {
        if self.single_file {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    fn wanted(&self, rel: &str) -> bool {
        if rel.ends_with(ACL_SIDECAR_SUFFIX) {
            return false;
        }
        if self.exclude.is_match(rel) {
            return false;
        }
        match &self.include {
            Some(inc) => inc.is_match(rel),
            None => Format::detect(rel, None).is_some(),
        }
    }
}

fn revision(meta: &std::fs::Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}:{mtime}", meta.len())
}

impl Source for DirSource {
    fn list(&self) -> Result<Vec<Entry>, SourceError> {
        if self.single_file {
            let meta = std::fs::metadata(&self.root).map_err(|e| {
                SourceError::permanent(format!("cannot read {}: {e}", self.root.display()))
            })?;
            let name = self
                .root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Ok(vec![Entry {
                path: name,
                revision: revision(&meta),
            }]);
        }
        let mut out = Vec::new();
        // Sorted once at the end, not directory by directory.
        let walker = walkdir::WalkDir::new(&self.root).follow_links(true);
        let mut walker = walker.into_iter();
        while let Some(item) = walker.next() {
            let item = match item {
                Ok(i) => i,
                Err(e) => {
                    // A loop of links is skipped; anything else makes the listing
                    // incomplete, and an incomplete listing must not delete anything.
                    if e.loop_ancestor().is_some() {
                        continue;
                    }
                    return Err(SourceError::permanent(format!(
                        "cannot list {}: {e}",
                        self.root.display()
                    )));
                }
            };
            // A link (to a file or a directory) is followed only while it stays inside the
            // root; everything below a directory reached that way is inside too, except
            // further links, which are checked when met.
            if item.path_is_symlink() {
                match item.path().canonicalize() {
                    Ok(real) if real.starts_with(&self.canonical_root) => {}
                    _ => {
                        if item.file_type().is_dir() {
                            walker.skip_current_dir();
                        }
                        continue;
                    }
                }
            }
            if !item.file_type().is_file() {
                continue;
            }
            let Ok(rel) = item.path().strip_prefix(&self.root) else {
                continue;
            };
            let rel = if std::path::MAIN_SEPARATOR == '/' {
                rel.to_string_lossy().into_owned()
            } else {
                rel.to_string_lossy()
                    .replace(std::path::MAIN_SEPARATOR, "/")
            };
            if !self.wanted(&rel) {
                continue;
            }
            let meta = item.metadata().map_err(|e| {
                SourceError::permanent(format!("cannot read {}: {e}", item.path().display()))
            })?;
            out.push(Entry {
                path: rel,
                revision: revision(&meta),
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn read(&self, entry: &Entry, max_bytes: usize) -> Result<Fetched, SourceError> {
        let path = self.full_path(&entry.path);
        let file = std::fs::File::open(&path)
            .map_err(|e| SourceError::permanent(format!("cannot open {}: {e}", path.display())))?;
        let meta = file
            .metadata()
            .map_err(|e| SourceError::permanent(format!("cannot read {}: {e}", path.display())))?;
        if meta.len() > max_bytes as u64 {
            return Err(SourceError {
                message: format!(
                    "document is {}, over the {} limit",
                    human_bytes(meta.len() as usize),
                    human_bytes(max_bytes)
                ),
                transient: false,
                too_large: true,
            });
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(max_bytes as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| SourceError::permanent(format!("cannot read {}: {e}", path.display())))?;
        let sidecar = PathBuf::from(format!("{}{ACL_SIDECAR_SUFFIX}", path.display()));
        let acl = match std::fs::read_to_string(&sidecar) {
            Ok(text) => Some(parse_acl(&text).map_err(|e| {
                SourceError::permanent(format!("bad ACL sidecar {}: {e}", sidecar.display()))
            })?),
            Err(_) => None,
        };
        Ok(Fetched {
            bytes,
            content_type: None,
            revision: revision(&meta),
            acl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_by_globs_and_stays_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("docs");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.md"), "# A").unwrap();
        std::fs::write(root.join("sub/b.txt"), "b").unwrap();
        std::fs::write(root.join("sub/c.png"), [0u8, 1]).unwrap();
        std::fs::write(root.join("a.md.acl.yaml"), "groups: [staff]\n").unwrap();
        let outside = dir.path().join("secret.md");
        std::fs::write(&outside, "secret").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&outside, root.join("link.md")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("a.md"), root.join("inside.md")).unwrap();
        let outside_dir = dir.path().join("elsewhere");
        std::fs::create_dir_all(&outside_dir).unwrap();
        std::fs::write(outside_dir.join("private.md"), "private").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&outside_dir, root.join("linked-dir")).unwrap();

        let all = DirSource::new(&root, &[], &[]).unwrap();
        let paths: Vec<String> = all.list().unwrap().into_iter().map(|e| e.path).collect();
        #[cfg(unix)]
        assert_eq!(paths, ["a.md", "inside.md", "sub/b.txt"]);
        let md = DirSource::new(&root, &["**/*.md".into()], &["inside.md".into()]).unwrap();
        let entries = md.list().unwrap();
        assert_eq!(entries.len(), 1);
        let fetched = md.read(&entries[0], 1024).unwrap();
        assert_eq!(fetched.bytes, b"# A");
        assert_eq!(fetched.acl.unwrap().groups, ["staff"]);
        let err = md.read(&entries[0], 2).unwrap_err();
        assert!(err.too_large);
    }

    #[test]
    fn a_single_file_is_a_source() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("one.txt");
        std::fs::write(&f, "hello").unwrap();
        let s = DirSource::new(&f, &[], &[]).unwrap();
        let entries = s.list().unwrap();
        assert_eq!(entries[0].path, "one.txt");
        assert_eq!(s.read(&entries[0], 100).unwrap().bytes, b"hello");
    }

    #[test]
    fn a_missing_root_is_an_error() {
        let err = DirSource::new(Path::new("/nonexistent/berth/docs"), &[], &[]).unwrap_err();
        assert!(err.message.starts_with("cannot open source path"));
    }
}
