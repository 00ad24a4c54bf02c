//! A small YAML tree that remembers where every node came from.
//!
//! drydock reads its config and check files into this tree and validates it by hand, so every
//! message can name the file, the line and the key. Scalars keep their source text: `mode: 0644`
//! means octal 0644, not the decimal 644 a YAML 1.2 resolver would make of it.

use saphyr_parser::{Event, Parser, ScalarStyle};

/// Where a node starts in its source (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

/// One node of a YAML document.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub pos: Pos,
    /// What the node holds.
    pub value: Value,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar with its source text; `plain` is false for quoted and block scalars.
    Scalar {
        /// The scalar's text.
        text: String,
        /// Whether the scalar was written without quotes.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping; keys are scalars, kept in source order.
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key's text.
    pub key: String,
    /// Where the key stands.
    pub key_pos: Pos,
    /// The value.
    pub value: Node,
}

/// Why a document could not be read as YAML.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// Where the problem was found.
    pub pos: Pos,
    /// What the problem is.
    pub message: String,
}

/// Larger inputs are refused: config and check files are small, and a bound keeps a
/// hostile file from costing memory.
const MAX_INPUT: usize = 4 * 1024 * 1024;
/// Deeper nesting is refused for the same reason.
const MAX_DEPTH: usize = 64;

impl Node {
    /// A short name for the node's type, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Scalar { text, plain } if *plain && is_null(text) => "nothing",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The scalar's text, if it is a scalar (null is not text).
    pub fn as_text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, plain } if !(*plain && is_null(text)) => Some(text),
            _ => None,
        }
    }

    /// The items, if it is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// Whether the node is YAML null (`~`, `null` or nothing).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if is_null(text))
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// Parses one YAML document. An empty document gives `None`.
pub fn parse(source: &str) -> Result<Option<Node>, SyntaxError> {
    if source.len() > MAX_INPUT {
        return Err(SyntaxError {
            pos: Pos { line: 1, col: 1 },
            message: format!("file is larger than {} MiB", MAX_INPUT / (1024 * 1024)),
        });
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    for item in Parser::new_from_str(source) {
        let (event, span) = item.map_err(|e| SyntaxError {
            pos: Pos {
                line: e.marker().line(),
                col: e.marker().col() + 1,
            },
            message: e.info().to_string(),
        })?;
        let pos = Pos {
            line: span.start.line(),
            col: span.start.col() + 1,
        };
        let node = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError {
                        pos,
                        message: "expected one YAML document, found several (`---`)".into(),
                    });
                }
                continue;
            }
            Event::Alias(_) => {
                return Err(SyntaxError {
                    pos,
                    message: "aliases (`*name`) are not supported here; write the value out".into(),
                })
            }
            Event::Scalar(text, style, _, _) => Node {
                pos,
                value: Value::Scalar {
                    text: text.into_owned(),
                    plain: style == ScalarStyle::Plain,
                },
            },
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(SyntaxError {
                        pos,
                        message: format!("nesting deeper than {MAX_DEPTH} levels"),
                    });
                }
                let is_seq = matches!(event, Event::SequenceStart(..));
                stack.push(Frame {
                    pos,
                    is_seq,
                    items: Vec::new(),
                    entries: Vec::new(),
                    pending_key: None,
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(frame) => frame.finish(),
                None => continue,
            },
            _ => continue,
        };
        match stack.last_mut() {
            Some(frame) => frame.push(node)?,
            None => root = Some(node),
        }
    }
    Ok(root)
}

struct Frame {
    pos: Pos,
    is_seq: bool,
    items: Vec<Node>,
    entries: Vec<Entry>,
    pending_key: Option<(String, Pos)>,
}

impl Frame {
    fn push(&mut self, node: Node) -> Result<(), SyntaxError> {
        if self.is_seq {
            self.items.push(node);
            return Ok(());
        }
        match self.pending_key.take() {
            Some((key, key_pos)) => {
                if self.entries.iter().any(|e| e.key == key) {
                    return Err(SyntaxError {
                        pos: key_pos,
                        message: format!("duplicate key `{key}`"),
                    });
                }
                self.entries.push(Entry {
                    key,
                    key_pos,
                    value: node,
                });
            }
            None => match node.value {
                Value::Scalar { text, .. } => self.pending_key = Some((text, node.pos)),
                _ => {
                    return Err(SyntaxError {
                        pos: node.pos,
                        message: "mapping keys must be plain text".into(),
                    })
                }
            },
        }
        Ok(())
    }

    fn finish(self) -> Node {
        let value = if self.is_seq {
            Value::Seq(self.items)
        } else {
            Value::Map(self.entries)
        };
        Node {
            pos: self.pos,
            value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_lines_of_keys_and_values() {
        let doc = parse("name: hello\nimages:\n  default:\n    dockerfile: x\n")
            .unwrap()
            .unwrap();
        let Value::Map(entries) = &doc.value else {
            panic!("not a map")
        };
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].key, "images");
        assert_eq!(entries[1].key_pos.line, 2);
        let Value::Map(inner) = &entries[1].value.value else {
            panic!("not a map")
        };
        let Value::Map(deepest) = &inner[0].value.value else {
            panic!("not a map")
        };
        assert_eq!(deepest[0].key_pos, Pos { line: 4, col: 5 });
        assert_eq!(deepest[0].value.as_text(), Some("x"));
    }

    #[test]
    fn keeps_octal_looking_scalars_as_written() {
        let doc = parse("mode: 0644\nq: \"0600\"\n").unwrap().unwrap();
        let Value::Map(entries) = &doc.value else {
            panic!("not a map")
        };
        assert_eq!(entries[0].value.as_text(), Some("0644"));
        assert_eq!(entries[1].value.as_text(), Some("0600"));
    }

    #[test]
    fn rejects_aliases_duplicates_and_several_documents() {
        let alias = parse("a: &x [1]\nb: *x\n").unwrap_err();
        assert_eq!(alias.pos.line, 2);
        assert!(alias.message.contains("aliases"));
        let dup = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(dup.pos.line, 2);
        assert_eq!(dup.message, "duplicate key `a`");
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn empty_document_is_none_and_syntax_errors_have_lines() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# just a comment\n").unwrap(), None);
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.line >= 1);
    }

    #[test]
    fn null_is_not_text() {
        let doc = parse("a:\nb: ~\nc: ''\n").unwrap().unwrap();
        let Value::Map(entries) = &doc.value else {
            panic!("not a map")
        };
        assert!(entries[0].value.is_null());
        assert!(entries[1].value.is_null());
        assert_eq!(entries[2].value.as_text(), Some(""));
    }
}
