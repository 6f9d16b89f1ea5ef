//! `Node` as a serde type, so typed structs can keep free-form YAML (component settings)
//! with its spans and the text of its scalars.

use super::deser::DeError;
use super::{Node, NodeKind, Span, Spanned};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use std::fmt;

pub(crate) const VALUE_MARKER: &str = "$berth::Node";
const VALUE_FIELDS: &[&str] = &[
    "$line", "$column", "$offset", "$len", "$kind", "$text", "$items", "$entries",
];

/// Walks a node through the `$berth::Node` protocol: span, kind, then its content.
pub(crate) struct ValueAccess<'a> {
    node: &'a Node,
    step: usize,
}

impl<'a> ValueAccess<'a> {
    pub(crate) fn new(node: &'a Node) -> Self {
        ValueAccess { node, step: 0 }
    }

    fn kind_name(&self) -> &'static str {
        match self.node.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "bool",
            NodeKind::Int(..) => "int",
            NodeKind::Float(..) => "float",
            NodeKind::Str(_) => "str",
            NodeKind::Seq(_) => "seq",
            NodeKind::Map(_) => "map",
        }
    }

    fn content_key(&self) -> &'static str {
        match self.node.kind {
            NodeKind::Seq(_) => "$items",
            NodeKind::Map(_) => "$entries",
            _ => "$text",
        }
    }
}

impl<'de, 'a> MapAccess<'de> for ValueAccess<'a> {
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
            4 => "$kind",
            5 => self.content_key(),
            _ => return Ok(None),
        };
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let step = self.step;
        self.step += 1;
        let span = self.node.span;
        match step {
            0 => seed.deserialize(u64::from(span.line).into_deserializer()),
            1 => seed.deserialize(u64::from(span.column).into_deserializer()),
            2 => seed.deserialize((span.offset as u64).into_deserializer()),
            3 => seed.deserialize((span.len as u64).into_deserializer()),
            4 => seed.deserialize(self.kind_name().into_deserializer()),
            _ => match &self.node.kind {
                NodeKind::Null => seed.deserialize(String::new().into_deserializer()),
                NodeKind::Bool(b) => seed.deserialize(b.to_string().into_deserializer()),
                NodeKind::Int(_, raw) | NodeKind::Float(_, raw) => {
                    seed.deserialize(raw.clone().into_deserializer())
                }
                NodeKind::Str(s) => seed.deserialize(s.clone().into_deserializer()),
                NodeKind::Seq(_) | NodeKind::Map(_) => {
                    seed.deserialize(super::deser::node_deserializer(self.node))
                }
            },
        }
    }
}

struct Entries(Vec<(Spanned<String>, Node)>);

impl<'de> de::Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(EntriesVisitor)
    }
}

impl<'de> de::Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a YAML value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut span = Span::NONE;
                let mut kind_name = String::new();
                let mut kind = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "$line" => span.line = map.next_value()?,
                        "$column" => span.column = map.next_value()?,
                        "$offset" => span.offset = map.next_value()?,
                        "$len" => span.len = map.next_value()?,
                        "$kind" => kind_name = map.next_value()?,
                        "$text" => {
                            let text: String = map.next_value()?;
                            kind = Some(scalar(&kind_name, text).map_err(de::Error::custom)?);
                        }
                        "$items" => kind = Some(NodeKind::Seq(map.next_value()?)),
                        "$entries" => kind = Some(NodeKind::Map(map.next_value::<Entries>()?.0)),
                        other => return Err(de::Error::unknown_field(other, VALUE_FIELDS)),
                    }
                }
                let kind = kind.ok_or_else(|| de::Error::missing_field("$text"))?;
                Ok(Node { kind, span })
            }
        }
        d.deserialize_struct(VALUE_MARKER, VALUE_FIELDS, NodeVisitor)
    }
}

fn scalar(kind: &str, text: String) -> Result<NodeKind, String> {
    Ok(match kind {
        "null" => NodeKind::Null,
        "bool" => NodeKind::Bool(text == "true"),
        "int" => NodeKind::Int(text.parse().unwrap_or_default(), text),
        "float" => NodeKind::Float(text.parse().unwrap_or(f64::NAN), text),
        "str" => NodeKind::Str(text),
        other => return Err(format!("unexpected node kind `{other}`")),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{from_node, parse};
    use super::*;
    use indexmap::IndexMap;

    #[test]
    fn free_form_settings_keep_spans_and_text() {
        let node = parse("with:\n  model: m\n  tp: 2\n  v: 1.10\n  l: [a, {b: 1}]\n").unwrap();
        let (_, with) = node.get("with").unwrap();
        let map: IndexMap<Spanned<String>, Node> = from_node(with).unwrap();
        let v = &map["v"];
        assert!(matches!(&v.kind, NodeKind::Float(_, raw) if raw == "1.10"));
        assert_eq!((v.span.line, v.span.column), (4, 6));
        assert!(matches!(&map["tp"].kind, NodeKind::Int(2, _)));
        let l = &map["l"];
        match &l.kind {
            NodeKind::Seq(items) => {
                assert_eq!(items.len(), 2);
                assert!(items[1].get("b").is_some());
            }
            other => panic!("{other:?}"),
        }
    }
}
