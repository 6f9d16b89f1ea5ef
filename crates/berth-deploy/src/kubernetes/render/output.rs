//! Manifests as YAML: one multi-document stream, or one file per object in a directory.

use super::RenderError;
use crate::kubernetes::Manifest;
use std::path::{Path, PathBuf};

/// The first line of every file [`write_dir`] writes. Files that start with it are
/// berth's, and are removed when a later render no longer produces them; other files in
/// the directory are left alone.
pub const FILE_MARKER: &str = "# Rendered by berth from a stack file; edits are overwritten.";

/// The manifests as one multi-document YAML stream (`---` between objects), in order.
pub fn to_yaml(manifests: &[Manifest]) -> Result<String, RenderError> {
    let objects: Vec<&serde_json::Value> = manifests.iter().map(|m| &m.object).collect();
    serde_saphyr::to_string_multiple(&objects).map_err(RenderError::Yaml)
}

/// The file name of the `index`-th of `count` manifests: `NN-<kind>-<name>.yaml`, the
/// number zero-padded so that names sort in apply order.
pub fn file_name(index: usize, count: usize, manifest: &Manifest) -> String {
    let width = count.saturating_sub(1).to_string().len().max(2);
    format!(
        "{index:0width$}-{}-{}.yaml",
        manifest.kind().to_ascii_lowercase(),
        manifest.name()
    )
}

/// Writes one file per object into `dir` (created if missing), named by [`file_name`],
/// each starting with [`FILE_MARKER`], and removes the `*.yaml` files berth wrote there
/// before that this render does not produce. Returns the paths written, in order.
pub fn write_dir(manifests: &[Manifest], dir: &Path) -> Result<Vec<PathBuf>, RenderError> {
    std::fs::create_dir_all(dir).map_err(|source| RenderError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::with_capacity(manifests.len());
    for (index, manifest) in manifests.iter().enumerate() {
        let path = dir.join(file_name(index, manifests.len(), manifest));
        let yaml = to_yaml(std::slice::from_ref(manifest))?;
        std::fs::write(&path, format!("{FILE_MARKER}\n{yaml}")).map_err(|source| {
            RenderError::Write {
                path: path.clone(),
                source,
            }
        })?;
        written.push(path);
    }
    let entries = std::fs::read_dir(dir).map_err(|source| RenderError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut stale = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| RenderError::Read {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        if path.extension().is_none_or(|e| e != "yaml") || written.contains(&path) {
            continue;
        }
        if is_berths(&path) {
            stale.push(path);
        }
    }
    stale.sort();
    for path in stale {
        std::fs::remove_file(&path).map_err(|source| RenderError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(written)
}

/// Whether a file starts with berth's marker line (unreadable files are not berth's).
fn is_berths(path: &Path) -> bool {
    use std::io::Read;
    let mut head = vec![0u8; FILE_MARKER.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == FILE_MARKER.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(kind: &str, name: &str) -> Manifest {
        Manifest::new(json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}))
    }

    #[test]
    fn files_sort_in_order_and_stale_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let keep = dir.path().join("notes.yaml");
        std::fs::write(&keep, "mine: true\n").unwrap();
        let first: Vec<Manifest> = (0..12)
            .map(|i| manifest("ConfigMap", &format!("c{i}")))
            .collect();
        let paths = write_dir(&first, dir.path()).unwrap();
        assert!(paths[0].ends_with("00-configmap-c0.yaml"));
        assert!(paths[11].ends_with("11-configmap-c11.yaml"));
        let second = vec![manifest("Service", "s")];
        let paths = write_dir(&second, dir.path()).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["00-service-s.yaml", "notes.yaml"]);
        let text = std::fs::read_to_string(&paths[0]).unwrap();
        assert!(text.starts_with(FILE_MARKER), "{text}");
        assert!(text.contains("kind: Service"), "{text}");
    }
}
