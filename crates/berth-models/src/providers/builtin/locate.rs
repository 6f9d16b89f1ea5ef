//! Finding a model directory: a path, or a model id in the Hugging Face cache.

use crate::EmbedError;
use std::path::{Path, PathBuf};

/// The directory of a model: `spec` itself when it is a directory (a model directory, or
/// a cache entry `models--org--name` whose snapshot is then chosen), else the snapshot of
/// the model id `spec` (`org/name`; a bare name also tries `sentence-transformers/name`)
/// in the Hugging Face cache (`$HF_HUB_CACHE`, `$HF_HOME/hub`,
/// `$XDG_CACHE_HOME/huggingface/hub`, `~/.cache/huggingface/hub`). Nothing is downloaded.
pub fn locate_model(spec: &str) -> Result<PathBuf, EmbedError> {
    let path = Path::new(spec);
    let mut searched = Vec::new();
    if path.is_dir() {
        if path.join("snapshots").is_dir() {
            if let Some(snapshot) = snapshot(path) {
                return Ok(snapshot);
            }
            searched.push(path.join("snapshots"));
        } else {
            return Ok(path.to_path_buf());
        }
    } else {
        searched.push(path.to_path_buf());
    }
    let looks_like_id = !spec.is_empty()
        && !spec.starts_with(['.', '/', '~'])
        && spec.matches('/').count() <= 1
        && !spec.contains('\\');
    if looks_like_id {
        let mut ids = vec![spec.to_string()];
        if !spec.contains('/') {
            ids.push(format!("sentence-transformers/{spec}"));
        }
        for cache in cache_dirs() {
            for id in &ids {
                let entry = cache.join(format!("models--{}", id.replace('/', "--")));
                if let Some(snapshot) = snapshot(&entry) {
                    return Ok(snapshot);
                }
                searched.push(entry);
            }
        }
    }
    Err(EmbedError::NotFound {
        spec: spec.to_string(),
        searched,
    })
}

/// The Hugging Face hub caches to look in, most specific first.
fn cache_dirs() -> Vec<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut dirs = Vec::new();
    if let Some(d) = var("HF_HUB_CACHE") {
        dirs.push(d);
    }
    if let Some(d) = var("HF_HOME") {
        dirs.push(d.join("hub"));
    }
    if let Some(d) = var("XDG_CACHE_HOME") {
        dirs.push(d.join("huggingface/hub"));
    }
    if let Some(d) = var("HOME") {
        dirs.push(d.join(".cache/huggingface/hub"));
    }
    dirs.dedup();
    dirs
}

/// The snapshot a cache entry's `refs/main` names, else its only snapshot.
fn snapshot(entry: &Path) -> Option<PathBuf> {
    let snapshots = entry.join("snapshots");
    if let Ok(rev) = std::fs::read_to_string(entry.join("refs/main")) {
        let dir = snapshots.join(rev.trim());
        if dir.is_dir() {
            return Some(dir);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(&snapshots)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    (found.len() == 1).then(|| found.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_directory_is_taken_as_is() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            locate_model(dir.path().to_str().unwrap()).unwrap(),
            dir.path()
        );
    }

    #[test]
    fn a_cache_entry_resolves_to_the_snapshot_refs_main_names() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("models--org--m");
        std::fs::create_dir_all(entry.join("snapshots/aaa")).unwrap();
        std::fs::create_dir_all(entry.join("snapshots/bbb")).unwrap();
        std::fs::create_dir_all(entry.join("refs")).unwrap();
        std::fs::write(entry.join("refs/main"), "bbb\n").unwrap();
        assert_eq!(
            locate_model(entry.to_str().unwrap()).unwrap(),
            entry.join("snapshots/bbb")
        );
    }

    #[test]
    fn a_missing_model_names_every_place_searched() {
        let err = locate_model("./no/such/model").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("./no/such/model"), "{text}");
        assert!(text.contains("never downloads"), "{text}");
    }
}
