//! Reading a stack file and its catalogs from disk.

use crate::{Error, Result};
use berth_stack::catalog::{Catalog, Origin};
use berth_stack::diagnostic::{Diagnostic, Diagnostics};
use berth_stack::stack::StackFile;
use std::path::{Path, PathBuf};

/// The stack file a path names: the path itself, or `berth.yaml` inside a directory.
pub fn stack_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("berth.yaml")
    } else {
        path.to_path_buf()
    }
}

/// Reads a stack file. The file's label in diagnostics is the path as given.
pub fn stack_file(path: &Path) -> Result<(Option<StackFile>, Diagnostics, String)> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let (file, diags) = StackFile::parse(&path.display().to_string(), &text);
    Ok((file, diags, text))
}

/// Adds every `*.yaml` entry of a catalog directory, in name order.
pub fn add_catalog_dir(catalog: &mut Catalog, dir: &Path) -> Result<Diagnostics> {
    let read = std::fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut diags = Diagnostics::new();
    for path in files {
        let label = path.display().to_string();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match std::fs::read_to_string(&path) {
            Ok(text) => diags.extend(catalog.add(&label, &stem, &text, Origin::User)),
            Err(e) => diags.push(Diagnostic::error(
                &label,
                Default::default(),
                format!("cannot read catalog entry: {e}"),
            )),
        }
    }
    Ok(diags)
}
