//! Markdown (CommonMark with tables, task lists and strikethrough, via `pulldown-cmark`).
//!
//! - YAML front matter (`---` … `---` or `...` at the very start, whose first line looks
//!   like `key:`) is removed from the text. Its `title:` sets the title and its
//!   `acl: {users, groups}` the document's principals; other keys are ignored. Front
//!   matter that is not valid YAML, or whose `acl` has the wrong shape, is a `Corrupt`
//!   error naming the problem: silently dropping a document's ACL would be a surprise.
//! - ATX and setext headings become `Heading(level)` blocks; fenced and indented code
//!   blocks stay whole as `Code`; list items become `ListItem` (an item's paragraphs stay
//!   together, a nested list starts new items); tables become one `Table` block (one row a
//!   line, cells joined by ` | `); everything else is `Paragraph`.
//! - Raw HTML is dropped; links and images keep their text.
//! - Without a front-matter title, the first level-1 heading is the title.

use super::{ParseError, ParseErrorKind};
use crate::document::{BlockKind, DocumentBuilder, ParsedDocument};
use berth_stack::stack::Acl;
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// Parses a Markdown document.
pub(super) fn parse(bytes: &[u8]) -> Result<ParsedDocument, ParseError> {
    let text = super::text::decode(bytes, None)?;
    let (front, body) = split_front_matter(&text);
    let mut b = DocumentBuilder::new();
    let mut titled = false;
    if let Some(yaml) = front {
        let fm = front_matter(yaml)?;
        if let Some(title) = fm.title {
            titled = !title.trim().is_empty();
            b.title(title);
        }
        if let Some(acl) = fm.acl {
            b.acl(acl);
        }
    }
    let first_h1 = Walker::new(&mut b).run(body);
    if !titled && let Some(h1) = first_h1 {
        b.title(h1);
    }
    Ok(b.finish())
}

/// The parts of the front matter berth uses.
#[derive(Debug, Default, PartialEq)]
struct FrontMatter {
    title: Option<String>,
    acl: Option<Acl>,
}

#[derive(serde::Deserialize)]
struct RawFrontMatter {
    #[serde(default)]
    title: Option<serde_json::Value>,
    #[serde(default)]
    acl: Option<Acl>,
}

/// Splits `---\n<yaml>\n---\n<body>` into the YAML and the body. Text that does not
/// start with a front-matter block (or whose block does not look like YAML keys) is all
/// body: a leading `---` is also a Markdown thematic break.
fn split_front_matter(text: &str) -> (Option<&str>, &str) {
    let Some(rest) = text.strip_prefix("---") else {
        return (None, text);
    };
    let Some(nl) = rest.find('\n') else {
        return (None, text);
    };
    if !rest[..nl].trim().is_empty() {
        return (None, text);
    }
    let yaml_start = 3 + nl + 1;
    let mut pos = yaml_start;
    while pos < text.len() {
        let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
        let line = text[pos..end].trim_end();
        if line == "---" || line == "..." {
            let yaml = &text[yaml_start..pos];
            let body = &text[(end + 1).min(text.len())..];
            return if looks_like_yaml_keys(yaml) {
                (Some(yaml), body)
            } else {
                (None, text)
            };
        }
        pos = end + 1;
    }
    (None, text)
}

/// The first meaningful line is `key:` something (or the block is empty).
fn looks_like_yaml_keys(yaml: &str) -> bool {
    let Some(first) = yaml
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
    else {
        return true;
    };
    let Some((key, _)) = first.split_once(':') else {
        return false;
    };
    let key = key.trim_matches(['"', '\'']);
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '))
}

fn front_matter(yaml: &str) -> Result<FrontMatter, ParseError> {
    if yaml.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#')
    }) {
        return Ok(FrontMatter::default());
    }
    let raw: RawFrontMatter = serde_saphyr::from_str(yaml).map_err(|e| front_matter_error(&e))?;
    let title = match raw.title {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    };
    Ok(FrontMatter {
        title,
        acl: raw.acl,
    })
}

/// A one-line message, with the position counted in the file (the front matter starts on
/// its second line).
fn front_matter_error(e: &serde_saphyr::Error) -> ParseError {
    let rendered = e.without_snippet().to_string();
    let first = rendered.lines().next().unwrap_or("invalid YAML").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // Drop the parser's own "line L column C: " prefix; ours counts from the file's start.
    let mut what = match first.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("line ") => rest,
        _ => first,
    };
    if let Some(i) = what.rfind(" at line ")
        && what[i + 9..].contains(", column ")
    {
        what = &what[..i];
    }
    let message = match e.location() {
        Some(l) if l.line() > 0 => format!(
            "the front matter is not valid (line {}, column {}): {what}",
            l.line() + 1,
            l.column()
        ),
        _ => format!("the front matter is not valid: {what}"),
    };
    ParseError::new(ParseErrorKind::Corrupt, message)
}

/// Turns pulldown-cmark events into blocks.
struct Walker<'b> {
    b: &'b mut DocumentBuilder,
    /// Text of the block being read.
    buf: String,
    /// Open list items (their text goes to `buf` as `ListItem`).
    items: usize,
    heading: Option<u8>,
    code: bool,
    /// Rows of the table being read, and the cells of its current row.
    table: Option<(Vec<String>, Vec<String>)>,
    cell: Option<String>,
    first_h1: Option<String>,
}

impl<'b> Walker<'b> {
    fn new(b: &'b mut DocumentBuilder) -> Self {
        Walker {
            b,
            buf: String::new(),
            items: 0,
            heading: None,
            code: false,
            table: None,
            cell: None,
            first_h1: None,
        }
    }

    /// Reads the body; returns the first level-1 heading.
    fn run(mut self, body: &str) -> Option<String> {
        let options = Options::ENABLE_TABLES
            | Options::ENABLE_STRIKETHROUGH
            | Options::ENABLE_TASKLISTS
            | Options::ENABLE_FOOTNOTES;
        for event in Parser::new_ext(body, options) {
            self.event(event);
        }
        self.flush();
        self.first_h1
    }

    /// The kind of what is in `buf`.
    fn kind(&self) -> BlockKind {
        if let Some(level) = self.heading {
            BlockKind::Heading(level)
        } else if self.code {
            BlockKind::Code
        } else if self.items > 0 {
            BlockKind::ListItem
        } else {
            BlockKind::Paragraph
        }
    }

    fn flush(&mut self) {
        if self.buf.trim().is_empty() {
            self.buf.clear();
            return;
        }
        let kind = self.kind();
        if kind == BlockKind::Heading(1) && self.first_h1.is_none() {
            self.first_h1 = Some(self.buf.trim().to_string());
        }
        self.b.push(kind, &self.buf);
        self.buf.clear();
    }

    fn text(&mut self, s: &str) {
        match &mut self.cell {
            Some(cell) => cell.push_str(s),
            None => self.buf.push_str(s),
        }
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(s) | Event::Code(s) | Event::InlineMath(s) | Event::DisplayMath(s) => {
                self.text(&s)
            }
            Event::SoftBreak => self.text(if self.cell.is_some() { " " } else { "\n" }),
            Event::HardBreak => self.text(if self.cell.is_some() { " " } else { "\n" }),
            Event::Rule => self.flush(),
            Event::TaskListMarker(done) => self.text(if done { "[x] " } else { "[ ] " }),
            Event::FootnoteReference(name) => {
                let r = format!("[^{name}]");
                self.text(&r)
            }
            Event::Html(_) | Event::InlineHtml(_) => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Heading { level, .. } => {
                self.flush();
                self.heading = Some(heading_level(level));
            }
            Tag::CodeBlock(_) => {
                self.flush();
                self.code = true;
            }
            Tag::List(_) => self.flush(),
            Tag::Item => {
                self.flush();
                self.items += 1;
            }
            Tag::BlockQuote(_) | Tag::FootnoteDefinition(_) | Tag::HtmlBlock => self.flush(),
            Tag::Paragraph if self.items == 0 => self.flush(),
            Tag::Table(_) => {
                self.flush();
                self.table = Some((Vec::new(), Vec::new()));
            }
            Tag::TableCell => self.cell = Some(String::new()),
            Tag::DefinitionListTitle | Tag::DefinitionListDefinition => self.flush(),
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(_) => {
                self.flush();
                self.heading = None;
            }
            TagEnd::CodeBlock => {
                self.flush();
                self.code = false;
            }
            TagEnd::Item => {
                self.flush();
                self.items = self.items.saturating_sub(1);
            }
            // Paragraphs of one list item stay in one block.
            TagEnd::Paragraph if self.items > 0 => self.buf.push('\n'),
            TagEnd::Paragraph
            | TagEnd::BlockQuote(_)
            | TagEnd::FootnoteDefinition
            | TagEnd::HtmlBlock
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition => self.flush(),
            TagEnd::TableCell => {
                if let (Some(cell), Some((_, row))) = (self.cell.take(), &mut self.table) {
                    row.push(cell.split_whitespace().collect::<Vec<_>>().join(" "));
                }
            }
            TagEnd::TableHead | TagEnd::TableRow => {
                if let Some((rows, row)) = &mut self.table {
                    let cells = std::mem::take(row);
                    if cells.iter().any(|c| !c.is_empty()) {
                        rows.push(cells.join(" | "));
                    }
                }
            }
            TagEnd::Table => {
                if let Some((rows, _)) = self.table.take() {
                    self.b.push(BlockKind::Table, &rows.join("\n"));
                }
            }
            _ => {}
        }
    }
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(s: &str) -> ParsedDocument {
        parse(s.as_bytes()).unwrap()
    }

    fn kinds(d: &ParsedDocument) -> Vec<(BlockKind, &str)> {
        d.blocks.iter().map(|b| (b.kind, d.block_text(b))).collect()
    }

    #[test]
    fn headings_keep_their_path() {
        let d = md("# Guide\n\nIntro text.\n\nInstall\n-------\n\nRun `make`.\n\n### Deep\n\nx\n");
        assert_eq!(
            kinds(&d),
            [
                (BlockKind::Heading(1), "Guide"),
                (BlockKind::Paragraph, "Intro text."),
                (BlockKind::Heading(2), "Install"),
                (BlockKind::Paragraph, "Run make."),
                (BlockKind::Heading(3), "Deep"),
                (BlockKind::Paragraph, "x"),
            ]
        );
        assert_eq!(d.blocks[5].heading_path, ["Guide", "Install", "Deep"]);
        assert_eq!(d.title.as_deref(), Some("Guide"));
    }

    #[test]
    fn front_matter_sets_title_and_acl_and_is_removed() {
        let d = md(
            "---\ntitle: Handbook\nacl:\n  users: [ann]\n  groups: [staff, hr]\ntags: [a]\n---\n# Heading\n\nBody.\n",
        );
        assert_eq!(d.title.as_deref(), Some("Handbook"));
        let acl = d.acl.unwrap();
        assert_eq!(acl.users, ["ann"]);
        assert_eq!(acl.groups, ["staff", "hr"]);
        assert_eq!(d.text, "Heading\n\nBody.");
    }

    #[test]
    fn malformed_front_matter_is_corrupt() {
        let err = parse(b"---\ntitle: [unclosed\n---\nbody\n").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Corrupt);
        assert!(
            err.message.starts_with("the front matter is not valid"),
            "{}",
            err.message
        );
        let err = parse(b"---\ntitle: x\nacl:\n  user: [ann]\n---\nbody\n").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Corrupt);
        assert_eq!(
            err.message,
            "the front matter is not valid (line 4, column 3): unknown field `user`, expected one of users, groups"
        );
    }

    #[test]
    fn a_leading_rule_is_not_front_matter() {
        let d = md("---\nJust a setext heading\n---\n\ntext\n");
        assert_eq!(d.acl, None);
        assert!(d.text.contains("Just a setext heading"));
        // No closing line: all body.
        let d = md("---\ntitle: x\n\nno close\n");
        assert!(d.text.contains("no close"));
    }

    #[test]
    fn code_lists_and_tables() {
        let d = md(concat!(
            "Intro\n\n",
            "```rust\nfn main() {\n\n    println!(\"hi\");\n}\n```\n\n",
            "- one\n- two\n  - nested\n- [x] done\n\n",
            "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n"
        ));
        assert_eq!(
            kinds(&d),
            [
                (BlockKind::Paragraph, "Intro"),
                (BlockKind::Code, "fn main() {\n\n    println!(\"hi\");\n}"),
                (BlockKind::ListItem, "one"),
                (BlockKind::ListItem, "two"),
                (BlockKind::ListItem, "nested"),
                (BlockKind::ListItem, "[x] done"),
                (BlockKind::Table, "a | b\n1 | 2\n3 | 4"),
            ]
        );
    }

    #[test]
    fn loose_list_items_keep_their_paragraphs_together() {
        let d = md("1. first para\n\n   second para\n\n2. next\n");
        assert_eq!(
            kinds(&d),
            [
                (BlockKind::ListItem, "first para\nsecond para"),
                (BlockKind::ListItem, "next"),
            ]
        );
    }

    #[test]
    fn html_is_dropped_and_links_keep_text() {
        let d =
            md("<div class=\"x\">\n\n[the docs](http://x) and ![a chart](c.png)<br>\n\n</div>\n");
        assert_eq!(d.text, "the docs and a chart");
    }

    #[test]
    fn binary_named_md_is_corrupt() {
        let err = parse(b"\x7fELF\x02\x01\x01\0\0\0\0\0").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Corrupt);
    }
}
