//! YAML with positions, and a serde bridge that reports every error where it happened.
//!
//! serde-saphyr parses the text into a [`Node`] tree in which every node and key keeps its
//! line, column and byte range. Typed values are then read from that tree by [`from_node`],
//! one entry at a time, so that a mistake in one component does not hide a mistake in the
//! next: callers collect the [`DeError`]s of every entry and report them together.

mod deser;
mod value;

pub(crate) use deser::one_of;
pub use deser::{DeError, DeErrorKind, from_node};

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};

/// A position in a source file: 1-based line and column (in characters), plus the byte
/// range the node covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
    /// Byte offset of the node's first character.
    pub offset: usize,
    /// Length of the node in bytes (0 when unknown).
    pub len: usize,
}

impl Span {
    /// The span of something that has no place in a file (a default, a built-in value).
    pub const NONE: Span = Span {
        line: 0,
        column: 0,
        offset: 0,
        len: 0,
    };

    /// Whether the span points into a file.
    pub fn is_known(&self) -> bool {
        self.line > 0
    }

    fn from_location(loc: &serde_saphyr::Location) -> Span {
        let span = loc.span();
        Span {
            line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
            column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
            offset: span.byte_offset().unwrap_or(0) as usize,
            len: span.byte_len().unwrap_or(0) as usize,
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A value together with the place in the file it was read from.
///
/// Equality, ordering and hashing look at the value only, so `Spanned<String>` can key a
/// map and be looked up by `&str`.
#[derive(Debug, Clone)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Pairs a value with a span.
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }

    /// Returns a reference to the value.
    pub fn get(&self) -> &T {
        &self.value
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl<T: Eq> Eq for Spanned<T> {}
impl<T: Hash> Hash for Spanned<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.value.hash(state)
    }
}
impl<T: PartialOrd> PartialOrd for Spanned<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.value.partial_cmp(&other.value)
    }
}
impl<T: Ord> Ord for Spanned<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}
impl Borrow<str> for Spanned<String> {
    fn borrow(&self) -> &str {
        &self.value
    }
}
impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}
impl<T: fmt::Display> fmt::Display for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: Default> Default for Spanned<T> {
    fn default() -> Self {
        Spanned::new(T::default(), Span::NONE)
    }
}

/// Marker struct name through which [`from_node`] hands a node's span to [`Spanned`].
pub(crate) const SPANNED_MARKER: &str = "$berth::Spanned";
pub(crate) const SPANNED_FIELDS: &[&str] = &["$line", "$column", "$offset", "$len", "$value"];

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpannedVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for SpannedVisitor<T> {
            type Value = Spanned<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut span = Span::NONE;
                let mut value = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "$line" => span.line = map.next_value()?,
                        "$column" => span.column = map.next_value()?,
                        "$offset" => span.offset = map.next_value()?,
                        "$len" => span.len = map.next_value()?,
                        "$value" => value = Some(map.next_value()?),
                        other => return Err(de::Error::unknown_field(other, SPANNED_FIELDS)),
                    }
                }
                let value = value.ok_or_else(|| de::Error::missing_field("$value"))?;
                Ok(Spanned { value, span })
            }
        }
        deserializer.deserialize_struct(
            SPANNED_MARKER,
            SPANNED_FIELDS,
            SpannedVisitor(std::marker::PhantomData),
        )
    }
}

impl<T: serde::Serialize> serde::Serialize for Spanned<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

/// One node of a parsed YAML document.
#[derive(Debug, Clone)]
pub struct Node {
    /// What the node holds.
    pub kind: NodeKind,
    /// Where it was written.
    pub span: Span,
}

/// The content of a [`Node`].
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// `null`, `~` or an empty value.
    Null,
    /// A boolean scalar.
    Bool(bool),
    /// An integer scalar, with the text as written.
    Int(i128, String),
    /// A floating-point scalar, with the text as written (so `12.10` stays `12.10` when a
    /// string is wanted).
    Float(f64, String),
    /// A string scalar.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order. Keys are strings (other scalars are read as text).
    Map(Vec<(Spanned<String>, Node)>),
}

impl NodeKind {
    /// The YAML type name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(..) => "an integer",
            NodeKind::Float(..) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// Looks up a key in a mapping node.
    pub fn get(&self, key: &str) -> Option<(&Spanned<String>, &Node)> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.value == key)
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// The entries of a mapping node, or `None` for any other node.
    pub fn entries(&self) -> Option<&[(Spanned<String>, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }
}

/// A YAML syntax error: the text is not a YAML document berth can read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    /// What is wrong, in the parser's words.
    pub message: String,
    /// Where the parser stopped.
    pub span: Span,
}

/// Parses YAML text into a [`Node`] tree. An empty document is an empty mapping.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let parsed: Option<RawNode> =
        serde_saphyr::from_str(text).map_err(|err| syntax_error(&err, text))?;
    Ok(match parsed {
        Some(raw) => raw.into_node(text),
        None => Node {
            kind: NodeKind::Map(Vec::new()),
            span: Span {
                line: 1,
                column: 1,
                offset: 0,
                len: 0,
            },
        },
    })
}

fn syntax_error(err: &serde_saphyr::Error, text: &str) -> SyntaxError {
    let mut span = err
        .location()
        .map(|l| Span::from_location(&l))
        .unwrap_or(Span::NONE);
    // The rendered message carries a snippet; keep the first line, without the position
    // prefix that we print ourselves.
    let rendered = err.without_snippet().to_string();
    let first = rendered.lines().next().unwrap_or("invalid YAML").trim();
    let mut message = match first.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("line ") => rest.to_string(),
        _ => first.to_string(),
    };
    // The position is printed by the caller; drop the parser's own copy of it.
    if let Some(i) = message.rfind(" at line ")
        && message[i + 9..].contains(", column ")
    {
        message.truncate(i);
    }
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or(rest);
        message = format!("duplicate key `{key}`");
    }
    // Point at the offending tab itself, not the character after it.
    if message.contains("tab")
        && span.line > 0
        && let Some(line) = text.lines().nth(span.line as usize - 1)
        && let Some(col) = line.chars().position(|c| c == '\t')
    {
        span.column = col as u32 + 1;
    }
    SyntaxError { message, span }
}

/// What serde-saphyr hands us: the node plus serde-saphyr's own span wrapper.
struct RawNode(serde_saphyr::Spanned<RawKind>);

enum RawKind {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<RawNode>),
    Map(Vec<(serde_saphyr::Spanned<String>, RawNode)>),
}

impl RawNode {
    fn into_node(self, text: &str) -> Node {
        let span = Span::from_location(&self.0.referenced);
        let raw_text = || {
            text.get(span.offset..span.offset + span.len)
                .unwrap_or_default()
                .to_string()
        };
        let kind = match self.0.value {
            RawKind::Null => NodeKind::Null,
            RawKind::Bool(b) => NodeKind::Bool(b),
            RawKind::Int(i) => NodeKind::Int(i, raw_text()),
            RawKind::Float(f) => NodeKind::Float(f, raw_text()),
            RawKind::Str(s) => NodeKind::Str(s),
            RawKind::Seq(items) => {
                NodeKind::Seq(items.into_iter().map(|n| n.into_node(text)).collect())
            }
            RawKind::Map(entries) => NodeKind::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            Spanned::new(k.value, Span::from_location(&k.referenced)),
                            v.into_node(text),
                        )
                    })
                    .collect(),
            ),
        };
        Node { kind, span }
    }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_saphyr::Spanned::<RawKind>::deserialize(d).map(RawNode)
    }
}

impl<'de> Deserialize<'de> for RawKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RawVisitor;
        impl<'de> Visitor<'de> for RawVisitor {
            type Value = RawKind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<RawKind, E> {
                Ok(RawKind::Null)
            }
            fn visit_none<E>(self) -> Result<RawKind, E> {
                Ok(RawKind::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawKind, D::Error> {
                RawKind::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<RawKind, E> {
                Ok(RawKind::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawKind, E> {
                Ok(RawKind::Int(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawKind, E> {
                Ok(RawKind::Int(v.into()))
            }
            fn visit_u128<E>(self, v: u128) -> Result<RawKind, E> {
                Ok(RawKind::Int(i128::try_from(v).unwrap_or(i128::MAX)))
            }
            fn visit_i128<E>(self, v: i128) -> Result<RawKind, E> {
                Ok(RawKind::Int(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawKind, E> {
                Ok(RawKind::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawKind, E> {
                Ok(RawKind::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<RawKind, E> {
                Ok(RawKind::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawKind, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(RawKind::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawKind, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(RawKind::Map(entries))
            }
        }
        d.deserialize_any(RawVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_keep_their_text_and_position() {
        let node = parse("a: 12\nb: \"12\"\nc: 12.10\nd:\n").unwrap();
        let (_, c) = node.get("c").unwrap();
        match &c.kind {
            NodeKind::Float(_, raw) => assert_eq!(raw, "12.10"),
            other => panic!("expected float, got {other:?}"),
        }
        assert_eq!((c.span.line, c.span.column), (3, 4));
        assert!(matches!(node.get("b").unwrap().1.kind, NodeKind::Str(_)));
        assert!(matches!(node.get("d").unwrap().1.kind, NodeKind::Null));
    }

    #[test]
    fn syntax_errors_point_at_the_problem() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(err.span.line, 2);
        assert!(!err.message.is_empty());
        assert!(!err.message.starts_with("line "), "{}", err.message);
    }

    #[test]
    fn empty_document_is_an_empty_map() {
        assert_eq!(parse("").unwrap().entries().unwrap().len(), 0);
        assert_eq!(
            parse("# only a comment\n")
                .unwrap()
                .entries()
                .unwrap()
                .len(),
            0
        );
    }

    #[test]
    fn duplicate_keys_are_syntax_errors() {
        let err = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.span.line, 2, "{err:?}");
    }
}
