//! Names the key at a byte offset of a TOML document.
//!
//! toml's deserializer errors carry a span but not the key path; this re-reads the document
//! keeping only the spans of its keys and values, and walks down to the offset.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// A TOML value reduced to the spans of its parts.
enum Node {
    Table(Vec<(Spanned<String>, Spanned<Node>)>),
    Array(Vec<Spanned<Node>>),
    Scalar,
}

/// The key path ("slave[1].mtu") of the innermost key or value containing byte `offset`;
/// None when the text is not valid TOML or nothing is there.
pub(crate) fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let root: Node = toml::from_str(text).ok()?;
    let mut path = String::new();
    append_path(&root, offset, &mut path);
    (!path.is_empty()).then_some(path)
}

fn append_path(node: &Node, offset: usize, path: &mut String) {
    match node {
        Node::Table(entries) => {
            let found = entries
                .iter()
                .find(|(key, value)| key.span().contains(&offset) || value.span().contains(&offset));
            if let Some((key, value)) = found {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key.get_ref());
                append_path(value.get_ref(), offset, path);
            }
        }
        Node::Array(items) => {
            let found = items
                .iter()
                .enumerate()
                .find(|(_, item)| item.span().contains(&offset));
            if let Some((index, item)) = found {
                path.push_str(&format!("[{index}]"));
                append_path(item.get_ref(), offset, path);
            }
        }
        Node::Scalar => {}
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_str<E>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Table(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::key_path_at;

    const TEXT: &str =
        "lcores = [1, 2]\n[phy]\nring = \"p\"\n[[slave]]\nname = \"a\"\n[[slave]]\nname = \"b\"\nmtu = 9\n";

    fn path_at(needle: &str) -> Option<String> {
        key_path_at(TEXT, TEXT.find(needle).unwrap())
    }

    #[test]
    fn names_keys_values_and_array_items() {
        assert_eq!(path_at("lcores").as_deref(), Some("lcores"));
        assert_eq!(path_at("2]").as_deref(), Some("lcores[1]"));
        assert_eq!(path_at("ring").as_deref(), Some("phy.ring"));
        assert_eq!(path_at("\"p\"").as_deref(), Some("phy.ring"));
        assert_eq!(path_at("9").as_deref(), Some("slave[1].mtu"));
    }

    #[test]
    fn invalid_toml_has_no_path() {
        assert_eq!(key_path_at("a = [", 0), None);
    }
}
