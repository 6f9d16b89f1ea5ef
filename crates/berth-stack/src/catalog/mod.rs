//! The catalog: what each deployable component is and how it is wired.
//!
//! Built-in entries are the YAML files of the repository's `catalog/` directory, embedded
//! at build time. A user catalog directory uses the same schema; its entries are added
//! after the built-in ones and replace a built-in entry of the same name (to pin another
//! image, say).

mod entry;
pub(crate) mod template;

pub use entry::*;

use crate::diagnostic::{Diagnostic, Diagnostics, Severity};
use crate::yaml::{self, Spanned};
use std::collections::{BTreeMap, BTreeSet};

static BUILTIN: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../../catalog");

/// Where an entry came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Embedded in the binary.
    Builtin,
    /// A user catalog directory.
    User,
}

/// An entry with the file it was read from.
#[derive(Debug, Clone)]
pub struct LoadedEntry {
    /// The entry.
    pub entry: CatalogEntry,
    /// File label for diagnostics (`<builtin>/vllm.yaml` or the user's path).
    pub file: String,
    /// The file's text, for `berth catalog show` and snippets.
    pub source: String,
    /// Where it came from.
    pub origin: Origin,
}

/// A set of catalog entries by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: BTreeMap<String, LoadedEntry>,
}

impl Catalog {
    /// A catalog with no entries.
    pub fn empty() -> Self {
        Catalog::default()
    }

    /// The built-in catalog. Its entries are checked by the test suite, so a failure here
    /// is a build defect, reported like any other diagnostic.
    pub fn builtin() -> Result<Catalog, Diagnostics> {
        let mut catalog = Catalog::empty();
        let mut files: Vec<_> = BUILTIN
            .files()
            .filter(|f| f.path().extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort_by_key(|f| f.path().to_path_buf());
        let mut diags = Diagnostics::new();
        for file in files {
            let label = format!("<builtin>/{}", file.path().display());
            let text = file.contents_utf8().unwrap_or_default();
            let stem = file
                .path()
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            diags.extend(catalog.add(&label, &stem, text, Origin::Builtin));
        }
        if diags.has_errors() {
            Err(diags.sorted())
        } else {
            Ok(catalog)
        }
    }

    /// Reads one entry from the text of `file`, whose name without extension is `stem`.
    /// Returns the problems found; an entry with errors is not added.
    pub fn add(&mut self, file: &str, stem: &str, text: &str, origin: Origin) -> Diagnostics {
        let mut diags = Diagnostics::new();
        let node = match yaml::parse(text) {
            Ok(node) => node,
            Err(e) => {
                diags.push(Diagnostic::from_syntax(file, &e));
                return diags;
            }
        };
        let entry: CatalogEntry = match yaml::from_node(&node) {
            Ok(entry) => entry,
            Err(e) => {
                diags.push(Diagnostic::from_de(file, &e, ""));
                return diags;
            }
        };
        check_entry(file, stem, &entry, &mut diags);
        if !diags.has_errors() {
            self.entries.insert(
                entry.name.value.to_string(),
                LoadedEntry {
                    entry,
                    file: file.to_string(),
                    source: text.to_string(),
                    origin,
                },
            );
        }
        diags
    }

    /// Looks up an entry.
    pub fn get(&self, name: &str) -> Option<&LoadedEntry> {
        self.entries.get(name)
    }

    /// All entries, by name.
    pub fn iter(&self) -> impl Iterator<Item = &LoadedEntry> {
        self.entries.values()
    }

    /// All entry names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }

    /// The entry that runs one of berth's roles.
    pub fn role(&self, role: Role) -> Option<&LoadedEntry> {
        self.entries.values().find(|e| e.entry.role == Some(role))
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn check_entry(file: &str, stem: &str, entry: &CatalogEntry, diags: &mut Diagnostics) {
    let err = |span, msg: String| Diagnostic::error(file, span, msg);
    if entry.name.value.as_str() != stem {
        diags.push(
            err(
                entry.name.span,
                format!("entry `{}` is in a file named `{stem}`", entry.name.value),
            )
            .with_help(format!("rename the file to `{}.yaml`", entry.name.value)),
        );
    }
    let tag = entry.image.value.tag.trim();
    if tag.is_empty() || tag == "latest" {
        diags.push(
            err(
                entry.image.span,
                "image tag must be pinned, not `latest`".into(),
            )
            .with_help("name an exact version, e.g. `v0.8.5`"),
        );
    }
    let mut ports = BTreeSet::new();
    for port in &entry.ports {
        if !ports.insert(port.name.value.as_str()) {
            diags.push(err(
                port.name.span,
                format!("port `{}` is declared twice", port.name.value),
            ));
        }
        if port.port == 0 {
            diags.push(err(port.name.span, "port 0 is not a port".into()));
        }
    }
    let check_port = |name: &Spanned<crate::units::Name>, diags: &mut Diagnostics| {
        if !ports.contains(name.value.as_str()) {
            diags.push(
                err(name.span, format!("no port named `{}`", name.value)).with_help_opt(
                    crate::diagnostic::suggest(
                        name.value.as_str(),
                        &ports.iter().copied().collect::<Vec<_>>(),
                    )
                    .map(|s| format!("did you mean `{s}`?")),
                ),
            );
        }
    };
    if let Some(health) = &entry.health {
        let r = &health.readiness;
        let kinds = r.http.is_some() as u8 + r.tcp.is_some() as u8 + r.exec.is_some() as u8;
        if kinds != 1 {
            diags.push(err(
                entry.name.span,
                "readiness probe needs exactly one of `http`, `tcp` or `exec`".into(),
            ));
        }
        if let Some(http) = &r.http {
            check_port(&http.port, diags);
        }
        if let Some(tcp) = &r.tcp {
            check_port(tcp, diags);
        }
        if let Some(s) = &health.startup {
            if s.http.is_some() == s.tcp.is_some() {
                diags.push(err(
                    entry.name.span,
                    "startup probe needs exactly one of `http` or `tcp`".into(),
                ));
            }
            if let Some(http) = &s.http {
                check_port(&http.port, diags);
            }
            if let Some(tcp) = &s.tcp {
                check_port(tcp, diags);
            }
        }
    }
    for p in &entry.provides {
        check_port(&p.port, diags);
    }
    let mut provided = BTreeSet::new();
    for p in &entry.provides {
        if !provided.insert(p.contract.value.as_str()) {
            diags.push(err(
                p.contract.span,
                format!("contract `{}` is provided twice", p.contract.value),
            ));
        }
    }
    for (name, setting) in &entry.settings {
        if let Some(default) = &setting.default
            && let Err(msg) = template::check_setting_value(setting, default)
        {
            diags.push(err(
                default.span,
                format!("default of setting `{}`: {msg}", name.value),
            ));
        }
        if setting.required && setting.default.is_some() {
            diags.push(err(
                name.span,
                format!("setting `{}` is required and has a default", name.value),
            ));
        }
    }
    if let Some(rule) = &entry.gpu_memory {
        if !entry.settings.contains_key(rule.model_setting.as_str()) {
            diags.push(err(
                entry.name.span,
                format!(
                    "gpu_memory names setting `{}`, which is not declared",
                    rule.model_setting
                ),
            ));
        }
        if rule.bytes_per_param <= 0.0 {
            diags.push(err(
                entry.name.span,
                "gpu_memory.bytes_per_param must be positive".into(),
            ));
        }
    }
    if entry.resources.gpu > 0 && entry.accelerator.is_none() {
        diags.push(
            err(
                entry.name.span,
                "entry requests GPUs but declares no `accelerator`".into(),
            )
            .with_severity(Severity::Error),
        );
    }
    let templates = entry
        .command
        .iter()
        .chain(&entry.args)
        .chain(entry.env.values())
        .chain(entry.provides.iter().map(|p| &p.path))
        .chain(entry.provides.iter().filter_map(|p| p.model.as_ref()))
        .chain(entry.provides.iter().flat_map(|p| p.secrets.values()))
        .chain(entry.needs.iter().flat_map(|n| n.env.values()));
    for t in templates {
        if let Err(msg) = template::check_syntax(&t.value) {
            diags.push(err(t.span, format!("invalid template: {msg}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_loads_without_diagnostics() {
        let catalog = match Catalog::builtin() {
            Ok(c) => c,
            Err(d) => panic!("built-in catalog has problems:\n{d}"),
        };
        assert!(!catalog.is_empty());
        for role in [Role::Gateway, Role::Worker, Role::Embedder] {
            assert!(catalog.role(role).is_some(), "no entry runs {role:?}");
        }
    }

    #[test]
    fn an_unpinned_image_is_an_error() {
        let mut c = Catalog::empty();
        let d = c.add(
            "x.yaml",
            "x",
            "name: x\ndescription: d\ncategory: ui\nimage: { repository: r, tag: latest }\n",
            Origin::User,
        );
        assert!(d.has_errors());
        assert!(d.iter().any(|d| d.message.contains("pinned")));
        assert!(c.get("x").is_none());
    }

    #[test]
    fn registry_prefix_replaces_the_registry() {
        let img = Image {
            repository: "ghcr.io/open-webui/open-webui".into(),
            tag: "v0.6.5".into(),
        };
        assert_eq!(
            img.reference(Some("registry.local:5000/mirror")),
            "registry.local:5000/mirror/open-webui/open-webui:v0.6.5"
        );
        let img = Image {
            repository: "qdrant/qdrant".into(),
            tag: "v1.14.0".into(),
        };
        assert_eq!(img.reference(None), "qdrant/qdrant:v1.14.0");
        assert_eq!(img.reference(Some("reg")), "reg/qdrant/qdrant:v1.14.0");
    }
}
