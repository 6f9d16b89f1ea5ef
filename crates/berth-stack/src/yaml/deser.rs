//! A serde `Deserializer` over [`Node`], whose errors carry the span of the node they are
//! about.

use super::{Node, NodeKind, SPANNED_MARKER, Span, Spanned};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use std::fmt;

/// Reads a typed value from a node.
pub fn from_node<T: DeserializeOwned>(node: &Node) -> Result<T, DeError> {
    T::deserialize(NodeDeserializer(node)).map_err(|e| e.at(node.span))
}

/// Why a node could not be read as the type wanted, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    /// What went wrong.
    pub kind: DeErrorKind,
    /// The node (or key) it went wrong at.
    pub span: Span,
}

/// The kinds of [`DeError`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DeErrorKind {
    /// A key the type does not have.
    UnknownField {
        /// The key as written.
        field: String,
        /// The keys the type accepts.
        expected: Vec<String>,
    },
    /// A required key is absent.
    MissingField(String),
    /// An enum value that is not one of the variants.
    UnknownVariant {
        /// The value as written.
        variant: String,
        /// The accepted values.
        expected: Vec<String>,
    },
    /// The node is of the wrong YAML type.
    InvalidType {
        /// What was found.
        found: String,
        /// What was expected.
        expected: String,
    },
    /// Anything else, already phrased for the user.
    Message(String),
}

impl DeError {
    fn new(kind: DeErrorKind) -> Self {
        DeError {
            kind,
            span: Span::NONE,
        }
    }

    /// Attaches a span unless a more precise one is already known.
    pub(crate) fn at(mut self, span: Span) -> Self {
        if !self.span.is_known() {
            self.span = span;
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DeErrorKind::UnknownField { field, .. } => write!(f, "unknown key `{field}`"),
            DeErrorKind::MissingField(field) => write!(f, "missing required key `{field}`"),
            DeErrorKind::UnknownVariant { variant, expected } => write!(
                f,
                "unknown value `{variant}`, expected {}",
                one_of(expected)
            ),
            DeErrorKind::InvalidType { found, expected } => {
                write!(f, "expected {expected}, found {found}")
            }
            DeErrorKind::Message(m) => f.write_str(m),
        }
    }
}

/// Serde's names for types, in the words of a stack file.
fn humanize(expected: &str) -> String {
    match expected {
        "u16" => "a port number from 1 to 65535".to_string(),
        "u8" | "u32" | "u64" | "usize" => "a whole number".to_string(),
        "i8" | "i16" | "i32" | "i64" => "an integer".to_string(),
        "f32" | "f64" => "a number".to_string(),
        "a sequence" => "a list".to_string(),
        "a map" => "a mapping".to_string(),
        "a boolean" => "`true` or `false`".to_string(),
        other if other.starts_with("struct ") => "a mapping".to_string(),
        other if other.starts_with("a sequence") => other.replacen("a sequence", "a list", 1),
        other => other.to_string(),
    }
}

/// Renders `a`, `b` or `c` for messages.
pub(crate) fn one_of(items: &[String]) -> String {
    match items.len() {
        0 => "nothing".to_string(),
        1 => format!("`{}`", items[0]),
        _ => {
            let quoted: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
            let (last, rest) = quoted.split_last().expect("len >= 2");
            format!("{} or {last}", rest.join(", "))
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(DeErrorKind::Message(msg.to_string()))
    }
    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let found = match unexp {
            de::Unexpected::Unit => "nothing (null)".to_string(),
            de::Unexpected::Map => "a mapping".to_string(),
            de::Unexpected::Seq => "a list".to_string(),
            other => other.to_string(),
        };
        DeError::new(DeErrorKind::InvalidType {
            found,
            expected: humanize(&exp.to_string()),
        })
    }
    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(DeErrorKind::Message(format!(
            "invalid value: {unexp}, expected {}",
            humanize(&exp.to_string())
        )))
    }
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError::new(DeErrorKind::UnknownField {
            field: field.to_string(),
            expected: expected.iter().map(|s| s.to_string()).collect(),
        })
    }
    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DeError::new(DeErrorKind::UnknownVariant {
            variant: variant.to_string(),
            expected: expected.iter().map(|s| s.to_string()).collect(),
        })
    }
    fn missing_field(field: &'static str) -> Self {
        DeError::new(DeErrorKind::MissingField(field.to_string()))
    }
}

struct NodeDeserializer<'a>(&'a Node);

/// A deserializer over one node, for the `$berth::Node` protocol.
pub(crate) fn node_deserializer<'de>(
    node: &Node,
) -> impl de::Deserializer<'de, Error = DeError> + '_ {
    NodeDeserializer(node)
}

impl<'a> NodeDeserializer<'a> {
    fn scalar_text(&self) -> Option<String> {
        match &self.0.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Int(_, raw) | NodeKind::Float(_, raw) => Some(raw.clone()),
            NodeKind::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    fn visit_any<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Bool(b) => visitor.visit_bool(*b),
            NodeKind::Int(i, _) => {
                if let Ok(u) = u64::try_from(*i) {
                    visitor.visit_u64(u)
                } else if let Ok(s) = i64::try_from(*i) {
                    visitor.visit_i64(s)
                } else {
                    visitor.visit_i128(*i)
                }
            }
            NodeKind::Float(f, _) => visitor.visit_f64(*f),
            NodeKind::Str(s) => visitor.visit_str(s),
            NodeKind::Seq(items) => visitor.visit_seq(SeqDe {
                items: items.iter(),
            }),
            NodeKind::Map(entries) => visitor.visit_map(MapDe {
                entries: entries.iter(),
                value: None,
            }),
        }
    }
}

impl<'de, 'a> de::Deserializer<'de> for NodeDeserializer<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.0.span;
        self.visit_any(visitor).map_err(|e| e.at(span))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.0.span;
        match self.0.kind {
            NodeKind::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
        .map_err(|e| e.at(span))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.0.span;
        match self.scalar_text() {
            Some(text) => visitor.visit_string(text),
            None => self.visit_any(visitor),
        }
        .map_err(|e| e.at(span))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let span = self.0.span;
        visitor.visit_newtype_struct(self).map_err(|e| e.at(span))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let span = self.0.span;
        if name == SPANNED_MARKER {
            return visitor.visit_map(SpannedDe::new(span, ValueSource::Node(self.0)));
        }
        if name == super::value::VALUE_MARKER {
            return visitor
                .visit_map(super::value::ValueAccess::new(self.0))
                .map_err(|e| e.at(span));
        }
        let _ = fields;
        match &self.0.kind {
            NodeKind::Map(_) => self.visit_any(visitor),
            // `key:` with nothing after it reads as an empty mapping, so optional sections
            // may be left empty.
            NodeKind::Null => visitor.visit_map(MapDe {
                entries: [].iter(),
                value: None,
            }),
            _ => self.visit_any(visitor),
        }
        .map_err(|e| e.at(span))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.0.span;
        match &self.0.kind {
            NodeKind::Null => visitor.visit_map(MapDe {
                entries: [].iter(),
                value: None,
            }),
            _ => self.visit_any(visitor),
        }
        .map_err(|e| e.at(span))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.0.span;
        match &self.0.kind {
            NodeKind::Null => visitor.visit_seq(SeqDe { items: [].iter() }),
            _ => self.visit_any(visitor),
        }
        .map_err(|e| e.at(span))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let span = self.0.span;
        match &self.0.kind {
            NodeKind::Str(s) => visitor.visit_enum(EnumDe {
                tag: Spanned::new(s.clone(), span),
                value: None,
            }),
            NodeKind::Map(entries) if entries.len() == 1 => {
                let (k, v) = &entries[0];
                visitor.visit_enum(EnumDe {
                    tag: k.clone(),
                    value: Some(v),
                })
            }
            other => Err(DeError::new(DeErrorKind::InvalidType {
                found: other.type_name().to_string(),
                expected: "a name or a mapping with one key".to_string(),
            })),
        }
        .map_err(|e| e.at(span))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct tuple tuple_struct
    }
}

struct SeqDe<'a> {
    items: std::slice::Iter<'a, Node>,
}

impl<'de, 'a> SeqAccess<'de> for SeqDe<'a> {
    type Error = DeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(node) => seed
                .deserialize(NodeDeserializer(node))
                .map(Some)
                .map_err(|e| e.at(node.span)),
            None => Ok(None),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a> {
    entries: std::slice::Iter<'a, (Spanned<String>, Node)>,
    value: Option<&'a Node>,
}

impl<'de, 'a> MapAccess<'de> for MapDe<'a> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(KeyDeserializer(key))
                    .map(Some)
                    .map_err(|e| e.at(key.span))
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let node = self
            .value
            .take()
            .ok_or_else(|| <DeError as de::Error>::custom("value requested before key"))?;
        seed.deserialize(NodeDeserializer(node))
            .map_err(|e| e.at(node.span))
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct KeyDeserializer<'a>(&'a Spanned<String>);

impl<'de, 'a> de::Deserializer<'de> for KeyDeserializer<'a> {
    type Error = DeError;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_str(&self.0.value)
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if name == SPANNED_MARKER {
            visitor.visit_map(SpannedDe::new(self.0.span, ValueSource::Key(&self.0.value)))
        } else {
            self.deserialize_any(visitor)
        }
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_enum(EnumDe {
            tag: self.0.clone(),
            value: None,
        })
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

enum ValueSource<'a> {
    Node(&'a Node),
    Key(&'a str),
}

/// Feeds the `$berth::Spanned` protocol: the span's numbers, then the value.
struct SpannedDe<'a> {
    span: Span,
    source: ValueSource<'a>,
    step: usize,
}

impl<'a> SpannedDe<'a> {
    fn new(span: Span, source: ValueSource<'a>) -> Self {
        SpannedDe {
            span,
            source,
            step: 0,
        }
    }
}

impl<'de, 'a> MapAccess<'de> for SpannedDe<'a> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let key = match self.step {
            0 => "$line",
            1 => "$column",
            2 => "$offset",
            3 => "$len",
            4 => "$value",
            _ => return Ok(None),
        };
        seed.deserialize(key.into_deserializer()).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let step = self.step;
        self.step += 1;
        match step {
            0 => seed.deserialize(u64::from(self.span.line).into_deserializer()),
            1 => seed.deserialize(u64::from(self.span.column).into_deserializer()),
            2 => seed.deserialize((self.span.offset as u64).into_deserializer()),
            3 => seed.deserialize((self.span.len as u64).into_deserializer()),
            _ => match self.source {
                ValueSource::Node(node) => seed.deserialize(NodeDeserializer(node)),
                ValueSource::Key(key) => {
                    seed.deserialize(KeyDeserializer(&Spanned::new(key.to_string(), self.span)))
                }
            },
        }
    }
}

struct EnumDe<'a> {
    tag: Spanned<String>,
    value: Option<&'a Node>,
}

impl<'de, 'a> EnumAccess<'de> for EnumDe<'a> {
    type Error = DeError;
    type Variant = VariantDe<'a>;
    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), DeError> {
        let span = self.tag.span;
        let tag = seed
            .deserialize(KeyDeserializer(&self.tag))
            .map_err(|e| e.at(span))?;
        Ok((
            tag,
            VariantDe {
                value: self.value,
                span,
            },
        ))
    }
}

struct VariantDe<'a> {
    value: Option<&'a Node>,
    span: Span,
}

impl<'de, 'a> VariantAccess<'de> for VariantDe<'a> {
    type Error = DeError;
    fn unit_variant(self) -> Result<(), DeError> {
        match self.value {
            None
            | Some(Node {
                kind: NodeKind::Null,
                ..
            }) => Ok(()),
            Some(node) => Err(DeError::new(DeErrorKind::Message(
                "this value takes no settings".to_string(),
            ))
            .at(node.span)),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        match self.value {
            Some(node) => seed.deserialize(NodeDeserializer(node)),
            None => Err(DeError::new(DeErrorKind::Message(
                "this value needs settings".to_string(),
            ))
            .at(self.span)),
        }
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Some(node) => de::Deserializer::deserialize_seq(NodeDeserializer(node), visitor),
            None => Err(<DeError as de::Error>::custom("expected a list").at(self.span)),
        }
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.value {
            Some(node) => {
                de::Deserializer::deserialize_struct(NodeDeserializer(node), "", fields, visitor)
            }
            None => Err(<DeError as de::Error>::custom("expected a mapping").at(self.span)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        name: Spanned<String>,
        port: Option<u16>,
        tag: Option<String>,
    }

    #[test]
    fn errors_point_at_the_offending_node() {
        let node = parse("name: x\nport: nope\n").unwrap();
        let err = from_node::<Inner>(&node).unwrap_err();
        assert_eq!((err.span.line, err.span.column), (2, 7));
        assert!(matches!(err.kind, DeErrorKind::InvalidType { .. }));

        let node = parse("name: x\nprot: 1\n").unwrap();
        let err = from_node::<Inner>(&node).unwrap_err();
        assert_eq!((err.span.line, err.span.column), (2, 1));
        assert_eq!(err.to_string(), "unknown key `prot`");
    }

    #[test]
    fn spanned_values_and_raw_number_text() {
        let node = parse("name: x\ntag: 12.10\n").unwrap();
        let inner: Inner = from_node(&node).unwrap();
        assert_eq!(inner.name.value, "x");
        assert_eq!((inner.name.span.line, inner.name.span.column), (1, 7));
        assert_eq!(inner.tag.as_deref(), Some("12.10"));
    }

    #[test]
    fn missing_fields_point_at_the_mapping() {
        let node = parse("outer:\n  port: 3\n").unwrap();
        let (_, inner) = node.get("outer").unwrap();
        let err = from_node::<Inner>(inner).unwrap_err();
        assert_eq!(err.to_string(), "missing required key `name`");
        assert_eq!(err.span.line, 2);
    }
}
