//! The in-memory catalog of committed chunks: key → (id, document, interned access tokens,
//! source, metadata), and token → keys.
//!
//! The vector search cannot ask tantivy whether a key is visible for every graph node it
//! visits, so it asks this catalog instead. Strings are interned to `u32` once, when a chunk
//! is committed; a query interns nothing (unknown tokens simply match nothing) and allocates
//! only its own few token ids. The postings (token → keys) let a search that permits few
//! chunks enumerate exactly those chunks instead of walking the HNSW graph.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::principal::Principal;
use crate::stores::Filter;
use crate::stores::embedded::meta::{ChunkMeta, DocumentMeta};

/// The 64-bit key of a chunk: the first 8 bytes (little endian) of the BLAKE3 hash of its
/// id. `u64::MAX` is usearch's marker for a free slot, so that one value maps to
/// `u64::MAX - 1`.
pub(crate) fn chunk_key(chunk_id: &str) -> u64 {
    let hash = blake3::hash(chunk_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    match u64::from_le_bytes(first) {
        u64::MAX => u64::MAX - 1,
        key => key,
    }
}

/// The filter token of a source.
pub(crate) fn source_token(source: &str) -> String {
    format!("s:{source}")
}

/// The filter token of a metadata pair (NUL cannot be typed into a stack file).
pub(crate) fn metadata_token(key: &str, value: &str) -> String {
    format!("m:{key}\u{0}{value}")
}

/// Hashes a chunk key to itself: keys are already uniformly distributed hash bits, and the
/// vector search looks one up for every graph node it visits.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used for `u64` keys; fold anything else in, just in case.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

/// A map keyed by chunk key.
pub(crate) type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;
/// A set of chunk keys.
pub(crate) type KeySet = HashSet<u64, BuildHasherDefault<KeyHasher>>;

/// One committed chunk.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The chunk id.
    pub chunk_id: Box<str>,
    /// Its document.
    pub document_id: Box<str>,
    /// Interned access tokens, sorted.
    acl: Box<[u32]>,
    /// Interned source token.
    source: u32,
    /// Interned metadata tokens, sorted.
    metadata: Box<[u32]>,
}

/// The catalog. See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    ids: HashMap<String, u32>,
    entries: KeyMap<Entry>,
    postings: HashMap<u32, KeySet>,
    /// Committed documents, as written to `meta.json`.
    pub documents: BTreeMap<String, DocumentMeta>,
}

/// A query's access rules, interned against a catalog.
#[derive(Debug)]
pub(crate) struct Access {
    /// The principal's tokens that any chunk carries, sorted.
    principal: Vec<u32>,
    /// Allowed source tokens (`None`: any source).
    sources: Option<Vec<u32>>,
    /// Required metadata tokens, sorted.
    metadata: Vec<u32>,
    /// Some required metadata pair occurs in no chunk: nothing can match.
    impossible: bool,
}

/// Which chunks a query may see, as far as the catalog can tell cheaply.
#[derive(Debug)]
pub(crate) enum Permitted {
    /// Exactly these keys (sorted), found because the set is small.
    Few(Vec<u64>),
    /// At least one rule admits more than the threshold; no enumeration was done.
    Many,
}

impl Catalog {
    /// Number of chunks.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry of a key.
    pub(crate) fn get(&self, key: u64) -> Option<&Entry> {
        self.entries.get(&key)
    }

    /// Adds a committed chunk. The caller has checked that the key is free.
    pub(crate) fn insert(&mut self, key: u64, document_id: &str, chunk: &ChunkMeta) {
        let mut acl: Vec<u32> = chunk.acl.tokens().iter().map(|t| self.intern(t)).collect();
        acl.sort_unstable();
        acl.dedup();
        let source = self.intern(&source_token(&chunk.source));
        let mut metadata: Vec<u32> = chunk
            .metadata
            .iter()
            .map(|(k, v)| self.intern(&metadata_token(k, v)))
            .collect();
        metadata.sort_unstable();
        for token in acl.iter().chain(&metadata).chain([&source]) {
            self.postings.entry(*token).or_default().insert(key);
        }
        self.entries.insert(
            key,
            Entry {
                chunk_id: chunk.id.as_str().into(),
                document_id: document_id.into(),
                acl: acl.into(),
                source,
                metadata: metadata.into(),
            },
        );
    }

    /// Removes a chunk; returns whether it was there.
    pub(crate) fn remove(&mut self, key: u64) -> bool {
        let Some(entry) = self.entries.remove(&key) else {
            return false;
        };
        for token in entry
            .acl
            .iter()
            .chain(&entry.metadata)
            .chain([&entry.source])
        {
            if let Some(keys) = self.postings.get_mut(token) {
                keys.remove(&key);
                if keys.is_empty() {
                    self.postings.remove(token);
                }
            }
        }
        true
    }

    fn intern(&mut self, token: &str) -> u32 {
        if let Some(&id) = self.ids.get(token) {
            return id;
        }
        // More than four billion distinct tokens cannot fit in memory before this wraps.
        let id = self.ids.len() as u32;
        self.ids.insert(token.to_owned(), id);
        id
    }

    /// Interns a query's rules (without adding tokens).
    pub(crate) fn access(&self, principal: &Principal, filter: &Filter) -> Access {
        let mut principal_ids: Vec<u32> = principal
            .tokens()
            .iter()
            .filter_map(|t| self.ids.get(t).copied())
            .collect();
        principal_ids.sort_unstable();
        let sources = (!filter.sources.is_empty()).then(|| {
            let mut ids: Vec<u32> = filter
                .sources
                .iter()
                .filter_map(|s| self.ids.get(&source_token(s)).copied())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        });
        let mut impossible = false;
        let mut metadata: Vec<u32> = filter
            .metadata
            .iter()
            .filter_map(|(k, v)| {
                let id = self.ids.get(&metadata_token(k, v)).copied();
                impossible |= id.is_none();
                id
            })
            .collect();
        metadata.sort_unstable();
        metadata.dedup();
        Access {
            principal: principal_ids,
            sources,
            metadata,
            impossible,
        }
    }

    /// Whether the chunk with this key exists and passes the rules.
    pub(crate) fn permits(&self, access: &Access, key: u64) -> bool {
        match self.entries.get(&key) {
            Some(entry) => Self::entry_passes(access, entry),
            None => false,
        }
    }

    fn entry_passes(access: &Access, entry: &Entry) -> bool {
        !access.impossible
            && entry
                .acl
                .iter()
                .any(|t| access.principal.binary_search(t).is_ok())
            && access
                .sources
                .as_ref()
                .is_none_or(|s| s.binary_search(&entry.source).is_ok())
            && access
                .metadata
                .iter()
                .all(|t| entry.metadata.binary_search(t).is_ok())
    }

    /// The keys a query may see when one of its rules admits at most `threshold` chunks;
    /// otherwise [`Permitted::Many`]. With `threshold = usize::MAX` it always enumerates.
    pub(crate) fn permitted(&self, access: &Access, threshold: usize) -> Permitted {
        if access.impossible {
            return Permitted::Few(Vec::new());
        }
        // Each rule is a union of postings; the smallest bounds the answer.
        let mut rules: Vec<Vec<&KeySet>> = vec![self.postings_of(&access.principal)];
        if let Some(sources) = &access.sources {
            rules.push(self.postings_of(sources));
        }
        for token in &access.metadata {
            rules.push(self.postings_of(std::slice::from_ref(token)));
        }
        let bound = |rule: &Vec<&KeySet>| rule.iter().map(|p| p.len()).sum::<usize>();
        let Some(smallest) = rules.iter().min_by_key(|r| bound(r)) else {
            return Permitted::Many;
        };
        if bound(smallest) > threshold {
            return Permitted::Many;
        }
        let mut keys: Vec<u64> = smallest
            .iter()
            .flat_map(|p| p.iter().copied())
            .filter(|&key| self.permits(access, key))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        Permitted::Few(keys)
    }

    fn postings_of(&self, tokens: &[u32]) -> Vec<&KeySet> {
        tokens.iter().filter_map(|t| self.postings.get(t)).collect()
    }

    /// Adds a committed document and its chunks.
    pub(crate) fn insert_document(&mut self, document_id: &str, document: DocumentMeta) {
        for chunk in &document.chunks {
            self.insert(chunk_key(&chunk.id), document_id, chunk);
        }
        self.documents.insert(document_id.to_owned(), document);
    }

    /// Removes a committed document; returns the keys of its chunks.
    pub(crate) fn remove_document(&mut self, document_id: &str) -> Vec<u64> {
        let Some(document) = self.documents.remove(document_id) else {
            return Vec::new();
        };
        let keys: Vec<u64> = document.chunks.iter().map(|c| chunk_key(&c.id)).collect();
        for &key in &keys {
            self.remove(key);
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::Acl;

    fn chunk(id: &str, source: &str, groups: &[&str], meta: &[(&str, &str)]) -> ChunkMeta {
        ChunkMeta {
            id: id.to_owned(),
            source: source.to_owned(),
            acl: Acl {
                users: vec![],
                groups: groups.iter().map(|g| g.to_string()).collect(),
            },
            metadata: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn keys_are_stable_and_avoid_the_free_marker() {
        assert_eq!(chunk_key("abc"), chunk_key("abc"));
        assert_ne!(chunk_key("abc"), chunk_key("abd"));
        assert_ne!(chunk_key(""), u64::MAX);
    }

    #[test]
    fn permitted_enumerates_small_sets_and_applies_every_rule() {
        let mut catalog = Catalog::default();
        catalog.insert_document(
            "d",
            DocumentMeta {
                stamp: "1".into(),
                chunks: vec![
                    chunk("a", "wiki", &[], &[("lang", "en")]),
                    chunk("b", "wiki", &["eng"], &[("lang", "de")]),
                    chunk("c", "jira", &["eng"], &[("lang", "en")]),
                ],
            },
        );
        let eng = Principal {
            user: None,
            groups: vec!["eng".into()],
        };
        let keys = |p: &Principal, f: &Filter| match catalog.permitted(&catalog.access(p, f), 10) {
            Permitted::Few(mut keys) => {
                let mut ids: Vec<&str> = keys
                    .drain(..)
                    .map(|k| &*catalog.get(k).unwrap().chunk_id)
                    .collect();
                ids.sort();
                ids
            }
            Permitted::Many => panic!("expected few"),
        };
        assert_eq!(keys(&Principal::anonymous(), &Filter::default()), ["a"]);
        assert_eq!(keys(&eng, &Filter::default()), ["a", "b", "c"]);
        let wiki = Filter {
            sources: vec!["wiki".into()],
            metadata: vec![],
        };
        assert_eq!(keys(&eng, &wiki), ["a", "b"]);
        let en = Filter {
            sources: vec![],
            metadata: vec![("lang".into(), "en".into())],
        };
        assert_eq!(keys(&eng, &en), ["a", "c"]);
        let nowhere = Filter {
            sources: vec![],
            metadata: vec![("lang".into(), "fr".into())],
        };
        assert!(keys(&eng, &nowhere).is_empty());
        let access = catalog.access(&eng, &Filter::default());
        assert!(matches!(catalog.permitted(&access, 2), Permitted::Many));

        assert_eq!(catalog.remove_document("d").len(), 3);
        assert_eq!(catalog.len(), 0);
        assert!(catalog.postings.is_empty());
    }
}
