//! The stack file (`berth.yaml`): reading it, with every problem reported at once.
//!
//! Reading is tolerant: an entry that cannot be read is reported and left out, and the
//! rest is still read, so that the resolver can report the other mistakes too. Names of
//! entries left out are remembered, so that references to them are not reported a second
//! time as dangling.

mod checks;
mod spec;

pub use spec::*;

use crate::diagnostic::{Diagnostic, Diagnostics, suggest};
use crate::units::Name;
use crate::yaml::{self, DeError, Node, NodeKind, Span, Spanned};
use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;

/// The top-level keys of a stack file.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "stack",
    "target",
    "namespace",
    "registry",
    "catalog",
    "inventory",
    "components",
    "models",
    "sources",
    "pipelines",
    "apps",
];

/// A stack file as written, with positions.
#[derive(Debug, Clone)]
pub struct StackFile {
    /// The file's label in diagnostics (its path as the user gave it).
    pub file: String,
    /// The file's text, for snippets.
    pub source: String,
    /// The stack's name.
    pub stack: Spanned<Name>,
    /// Where it runs (`local` when not given).
    pub target: Spanned<Target>,
    /// Kubernetes namespace (the stack name when not given).
    pub namespace: Option<Spanned<Name>>,
    /// Registry prefix replacing every image's registry (air-gapped sites).
    pub registry: Option<Spanned<String>>,
    /// A user catalog directory, relative to the stack file.
    pub catalog: Option<Spanned<String>>,
    /// Nodes and GPUs, for compatibility checks.
    pub inventory: Option<Spanned<Inventory>>,
    /// Components by name.
    pub components: IndexMap<Spanned<Name>, ComponentSpec>,
    /// Logical models by name: ordered routes, first healthy wins.
    pub models: IndexMap<Spanned<Name>, Spanned<Vec<RouteSpec>>>,
    /// Document sources by name.
    pub sources: IndexMap<Spanned<Name>, SourceSpec>,
    /// Ingestion pipelines by name.
    pub pipelines: IndexMap<Spanned<Name>, PipelineSpec>,
    /// Applications by name.
    pub apps: IndexMap<Spanned<Name>, AppSpec>,
    /// `section/name` of entries that could not be read (already reported); `section/*`
    /// for a section whose key was misspelt.
    pub unreadable: BTreeSet<String>,
}

impl std::borrow::Borrow<str> for Spanned<Name> {
    fn borrow(&self) -> &str {
        self.value.as_str()
    }
}

impl StackFile {
    /// Reads a stack file. Returns the file (possibly with entries left out) and every
    /// problem found; the file is `None` only when the text is not a YAML mapping at all.
    pub fn parse(file: &str, text: &str) -> (Option<StackFile>, Diagnostics) {
        let mut cx = Reader {
            file,
            diags: Diagnostics::new(),
            unreadable: BTreeSet::new(),
        };
        let root = match yaml::parse(text) {
            Ok(root) => root,
            Err(e) => {
                cx.diags.push(Diagnostic::from_syntax(file, &e));
                return (None, cx.diags);
            }
        };
        let Some(entries) = root.entries() else {
            cx.diags.push(
                Diagnostic::error(
                    file,
                    root.span,
                    format!(
                        "a stack file must be a mapping, found {}",
                        root.kind.type_name()
                    ),
                )
                .with_help("start with `stack: <name>`"),
            );
            return (None, cx.diags);
        };
        for (key, _) in entries {
            if !TOP_LEVEL_KEYS.contains(&key.value.as_str()) {
                // A misspelt section: references into it would only repeat this error.
                if let Some(section) = suggest(&key.value, TOP_LEVEL_KEYS)
                    && root.get(&section).is_none()
                {
                    cx.unreadable.insert(format!("{section}/*"));
                }
                cx.diags.push(
                    Diagnostic::error(file, key.span, format!("unknown key `{}`", key.value))
                        .with_help(match suggest(&key.value, TOP_LEVEL_KEYS) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!("top-level keys are: {}", TOP_LEVEL_KEYS.join(", ")),
                        }),
                );
            }
        }
        let stack = match root.get("stack") {
            Some((_, node)) => cx.value::<Spanned<Name>>(node, "`stack`"),
            None => {
                cx.diags.push(
                    Diagnostic::error(file, root.span, "missing required key `stack`")
                        .with_help("name the stack first: `stack: my-stack`"),
                );
                None
            }
        };
        let target = root
            .get("target")
            .and_then(|(_, n)| cx.value::<Spanned<Target>>(n, "`target`"))
            .unwrap_or_else(|| Spanned::new(Target::Local, Span::NONE));
        let namespace = root
            .get("namespace")
            .and_then(|(_, n)| cx.value::<Spanned<Name>>(n, "`namespace`"));
        let registry = root
            .get("registry")
            .and_then(|(_, n)| cx.value::<Spanned<String>>(n, "`registry`"));
        let catalog = root
            .get("catalog")
            .and_then(|(_, n)| cx.value::<Spanned<String>>(n, "`catalog`"));
        let inventory = root
            .get("inventory")
            .and_then(|(_, n)| cx.value::<Spanned<Inventory>>(n, "`inventory`"));
        let components = cx.section::<ComponentSpec>(&root, "components", "component");
        let models = cx.section::<Spanned<Vec<RouteSpec>>>(&root, "models", "model");
        let sources = cx.section::<SourceSpec>(&root, "sources", "source");
        let pipelines = cx.section::<PipelineSpec>(&root, "pipelines", "pipeline");
        let apps = cx.section::<AppSpec>(&root, "apps", "app");

        let stack_file = StackFile {
            file: file.to_string(),
            source: text.to_string(),
            stack: stack.unwrap_or_else(|| {
                Spanned::new(Name::new("unnamed").expect("valid name"), Span::NONE)
            }),
            target,
            namespace,
            registry,
            catalog,
            inventory,
            components,
            models,
            sources,
            pipelines,
            apps,
            unreadable: cx.unreadable,
        };
        let mut diags = cx.diags;
        checks::check(&stack_file, &mut diags);
        (Some(stack_file), diags.sorted())
    }

    /// Every environment variable named by an `${env:…}` reference, so the caller can
    /// gather their values into the [`Environment`](crate::Environment).
    pub fn env_references(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for text in checks::reference_strings(self) {
            if let Ok(t) = crate::text::Text::parse(&text.value) {
                names.extend(t.env_vars().map(str::to_string));
            }
        }
        names
    }

    /// Whether an entry of a section could not be read (and was reported).
    pub(crate) fn is_unreadable(&self, section: &str, name: &str) -> bool {
        self.unreadable.contains(&format!("{section}/{name}"))
            || self.unreadable.contains(&format!("{section}/*"))
    }
}

struct Reader<'a> {
    file: &'a str,
    diags: Diagnostics,
    unreadable: BTreeSet<String>,
}

impl Reader<'_> {
    fn report(&mut self, err: &DeError, context: &str) {
        self.diags
            .push(Diagnostic::from_de(self.file, err, context));
    }

    fn value<T: DeserializeOwned>(&mut self, node: &Node, context: &str) -> Option<T> {
        match yaml::from_node(node) {
            Ok(v) => Some(v),
            Err(e) => {
                self.report(&e, context);
                None
            }
        }
    }

    fn section<T: DeserializeOwned>(
        &mut self,
        root: &Node,
        section: &str,
        what: &str,
    ) -> IndexMap<Spanned<Name>, T> {
        let mut out = IndexMap::new();
        let Some((key, node)) = root.get(section) else {
            return out;
        };
        let entries = match &node.kind {
            NodeKind::Map(entries) => entries.as_slice(),
            NodeKind::Null => return out,
            other => {
                self.diags.push(
                    Diagnostic::error(
                        self.file,
                        node.span,
                        format!(
                            "`{}` must be a mapping of names to {what}s, found {}",
                            key.value,
                            other.type_name()
                        ),
                    )
                    .with_help(format!(
                        "write `{section}:` then one `name: {{ … }}` per {what}"
                    )),
                );
                return out;
            }
        };
        for (name, value) in entries {
            let parsed = match Name::new(name.value.clone()) {
                Ok(n) => Some(Spanned::new(n, name.span)),
                Err(msg) => {
                    self.diags.push(Diagnostic::error(
                        self.file,
                        name.span,
                        format!("{what} name: {msg}"),
                    ));
                    None
                }
            };
            let context = format!("{what} `{}`", name.value);
            let body = self.value::<T>(value, &context);
            match (parsed, body) {
                (Some(n), Some(b)) => {
                    out.insert(n, b);
                }
                _ => {
                    self.unreadable.insert(format!("{section}/{}", name.value));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Option<StackFile>, Diagnostics) {
        StackFile::parse("berth.yaml", text)
    }

    #[test]
    fn a_minimal_stack_reads() {
        let (file, diags) = parse("stack: demo\n");
        assert!(diags.is_empty(), "{diags}");
        let file = file.unwrap();
        assert_eq!(file.stack.value.as_str(), "demo");
        assert_eq!(file.target.value, Target::Local);
    }

    #[test]
    fn errors_in_several_entries_are_all_reported() {
        let (file, diags) = parse(
            "stack: demo\ncomponents:\n  a: { uses: qdrant, wiht: {} }\n  b: { uses: [x] }\n  \
             c: { uses: qdrant }\nsoruces: {}\n",
        );
        let file = file.unwrap();
        let msgs: Vec<_> = diags.iter().map(|d| (d.line, d.message.clone())).collect();
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert_eq!(
            msgs[0],
            (3, "component `a`: unknown key `wiht`".to_string())
        );
        assert_eq!(diags.0[0].help.as_deref(), Some("did you mean `with`?"));
        assert_eq!(msgs[1].0, 4);
        assert_eq!(msgs[2], (6, "unknown key `soruces`".to_string()));
        assert!(file.components.contains_key("c"));
        assert!(file.is_unreadable("components", "a"));
    }

    #[test]
    fn missing_stack_name_is_reported() {
        let (_, diags) = parse("components: {}\n");
        assert_eq!(diags.0[0].message, "missing required key `stack`");
    }

    #[test]
    fn a_non_mapping_is_reported() {
        let (file, diags) = parse("- a\n- b\n");
        assert!(file.is_none());
        assert!(
            diags.0[0]
                .message
                .starts_with("a stack file must be a mapping")
        );
    }
}
