//! Word documents (.docx): `word/document.xml` inside a zip archive.
//!
//! - Paragraphs (`w:p`) become blocks: a paragraph style that is a heading (by its name
//!   in `word/styles.xml`, `heading 1`…`heading 6`, or its outline level, or failing
//!   those a style id `Heading1`…) is `Heading(level)`, the `Title` style is
//!   `Heading(1)`, a numbered or bulleted paragraph (`w:numPr`) is `ListItem`, the rest
//!   `Paragraph`. Tabs, line breaks and non-breaking hyphens are kept; deleted text,
//!   field codes and the fallback copies of drawings are not.
//! - Tables (`w:tbl`) are one `Table` block: one row a line, cells joined by ` | `, a
//!   cell's paragraphs joined by spaces, nested tables flattened into their cell.
//! - The title is `dc:title` from `docProps/core.xml`, else the first `Title`
//!   paragraph, else the first level-1 heading.
//!
//! Zip-bomb defence: at most [`MAX_ENTRIES`] entries, and the XML read (the declared
//! sizes first, then the bytes actually inflated) may not exceed 20 × `max_bytes` or
//! [`MAX_XML_BYTES`], whichever is lower; past that the document is `TooLarge`. A file
//! that is not a zip, or has no `word/document.xml`, is `Corrupt`; an OLE compound file
//! holding `EncryptionInfo` (how Word stores a password-protected .docx) is `Encrypted`.

use super::{ParseError, ParseErrorKind, ParseOptions, human_bytes};
use crate::document::{BlockKind, DocumentBuilder, ParsedDocument};
use quick_xml::events::{BytesStart, Event};
use std::collections::HashMap;
use std::io::{Cursor, Read};

/// Most entries a .docx may have.
pub(crate) const MAX_ENTRIES: usize = 10_000;
/// Most XML bytes read from one .docx, whatever `max_bytes` allows.
pub(crate) const MAX_XML_BYTES: usize = 100 * 1024 * 1024;

/// The magic number of OLE compound files (old .doc, encrypted .docx).
const OLE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Parses a .docx document.
pub(super) fn parse(bytes: &[u8], options: &ParseOptions) -> Result<ParsedDocument, ParseError> {
    if bytes.starts_with(&OLE_MAGIC) {
        return Err(ole_error(bytes));
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        ParseError::new(
            ParseErrorKind::Corrupt,
            format!("this is not a .docx file: it is not a readable zip archive ({e})"),
        )
    })?;
    if zip.len() > MAX_ENTRIES {
        return Err(ParseError::new(
            ParseErrorKind::TooLarge,
            format!(
                "this .docx has {} zip entries, over the limit of {MAX_ENTRIES}",
                zip.len()
            ),
        ));
    }
    let mut budget = Budget {
        left: options.max_bytes.saturating_mul(20).min(MAX_XML_BYTES),
        cap: options.max_bytes.saturating_mul(20).min(MAX_XML_BYTES),
    };
    let Some(document) = read_entry(&mut zip, "word/document.xml", &mut budget)? else {
        return Err(ParseError::new(
            ParseErrorKind::Corrupt,
            "this is not a Word document: the archive has no word/document.xml",
        ));
    };
    // Styles and properties only refine the result: a damaged one is ignored, but one
    // over the size budget is not.
    let styles = match read_entry(&mut zip, "word/styles.xml", &mut budget) {
        Ok(Some(xml)) => heading_styles(&xml),
        Err(e) if e.kind == ParseErrorKind::TooLarge => return Err(e),
        _ => HashMap::new(),
    };
    let core_title = match read_entry(&mut zip, "docProps/core.xml", &mut budget) {
        Ok(Some(xml)) => core_title(&xml),
        Err(e) if e.kind == ParseErrorKind::TooLarge => return Err(e),
        _ => None,
    };
    let mut b = DocumentBuilder::new();
    let title = Body::new(&mut b, &styles).read(&document)?;
    if let Some(t) = core_title.or(title) {
        b.title(t);
    }
    Ok(b.finish())
}

/// An OLE compound file instead of a zip.
fn ole_error(bytes: &[u8]) -> ParseError {
    let marker: Vec<u8> = "EncryptionInfo"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    if bytes.windows(marker.len()).any(|w| w == marker) {
        ParseError::new(
            ParseErrorKind::Encrypted,
            "this Word document is password-protected",
        )
    } else {
        ParseError::new(
            ParseErrorKind::Corrupt,
            "this is an old-style Word (.doc) file, not a .docx: save it as .docx",
        )
    }
}

/// Uncompressed bytes still allowed.
struct Budget {
    left: usize,
    cap: usize,
}

impl Budget {
    fn too_large(&self, name: &str) -> ParseError {
        ParseError::new(
            ParseErrorKind::TooLarge,
            format!(
                "this .docx expands beyond {} of XML (at {name}): refused as a possible zip bomb",
                human_bytes(self.cap)
            ),
        )
    }
}

/// Reads one entry within the budget. `None`: no such entry.
fn read_entry(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    budget: &mut Budget,
) -> Result<Option<Vec<u8>>, ParseError> {
    let damaged = |e: &dyn std::fmt::Display| {
        ParseError::new(
            ParseErrorKind::Corrupt,
            format!("{name} in this .docx cannot be read: {e}"),
        )
    };
    let file = match zip.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(zip::result::ZipError::UnsupportedArchive(msg))
            if msg == zip::result::ZipError::PASSWORD_REQUIRED =>
        {
            return Err(ParseError::new(
                ParseErrorKind::Encrypted,
                format!("{name} in this .docx is encrypted"),
            ));
        }
        Err(e) => return Err(damaged(&e)),
    };
    if file.size() > budget.left as u64 {
        return Err(budget.too_large(name));
    }
    let mut out = Vec::new();
    // The declared size may lie: read at most one byte past the budget.
    file.take(budget.left as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| damaged(&e))?;
    if out.len() > budget.left {
        return Err(budget.too_large(name));
    }
    budget.left -= out.len();
    Ok(Some(out))
}

/// The value of the `val` attribute (any prefix).
fn val(e: &BytesStart<'_>) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        (a.key.local_name().as_ref() == "val")
            .then(|| {
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .ok()
                    .map(|v| v.into_owned())
            })
            .flatten()
    })
}

/// How a paragraph style shows in the output.
#[derive(Debug, Clone, Copy, PartialEq)]
enum StyleKind {
    Title,
    Heading(u8),
}

/// Style id → heading level, from `word/styles.xml`: by name (`heading 2`, `Title`), by
/// outline level, or through `basedOn`.
fn heading_styles(xml: &[u8]) -> HashMap<String, StyleKind> {
    #[derive(Default)]
    struct Style {
        id: String,
        name: Option<String>,
        outline: Option<u8>,
        based_on: Option<String>,
    }
    let mut styles: Vec<Style> = Vec::new();
    let mut current: Option<Style> = None;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    loop {
        let event = match reader.read_event_into(&mut buf) {
            Ok(Event::Eof) | Err(_) => break,
            Ok(e) => e,
        };
        match event {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                "style" => {
                    let id = e.attributes().flatten().find_map(|a| {
                        (a.key.local_name().as_ref() == "styleId")
                            .then(|| {
                                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                    .ok()
                                    .map(|v| v.into_owned())
                            })
                            .flatten()
                    });
                    current = id.map(|id| Style {
                        id,
                        ..Style::default()
                    });
                }
                "name" => {
                    if let Some(s) = &mut current {
                        s.name = val(&e);
                    }
                }
                "basedOn" => {
                    if let Some(s) = &mut current {
                        s.based_on = val(&e);
                    }
                }
                "outlineLvl" => {
                    if let Some(s) = &mut current {
                        s.outline = val(&e).and_then(|v| v.parse().ok());
                    }
                }
                _ => {}
            },
            Event::End(e) if e.local_name().as_ref() == "style" => {
                styles.extend(current.take());
            }
            _ => {}
        }
        buf.clear();
    }
    let own: HashMap<&str, Option<StyleKind>> = styles
        .iter()
        .map(|s| {
            let by_name = s.name.as_deref().and_then(style_by_name);
            let by_outline = s
                .outline
                .filter(|l| *l < 9)
                .map(|l| StyleKind::Heading((l + 1).min(6)));
            (s.id.as_str(), by_name.or(by_outline))
        })
        .collect();
    let parents: HashMap<&str, &str> = styles
        .iter()
        .filter_map(|s| Some((s.id.as_str(), s.based_on.as_deref()?)))
        .collect();
    let mut map = HashMap::new();
    for s in &styles {
        // Follow basedOn a few steps (it can loop in a damaged file).
        let mut id = s.id.as_str();
        for _ in 0..10 {
            if let Some(Some(kind)) = own.get(id) {
                map.insert(s.id.clone(), *kind);
                break;
            }
            match parents.get(id) {
                Some(p) => id = p,
                None => break,
            }
        }
    }
    map
}

/// `heading 3` → level 3, `Title` → title; also style ids like `Heading3`.
fn style_by_name(name: &str) -> Option<StyleKind> {
    let lower = name.to_ascii_lowercase().replace(' ', "");
    if lower == "title" {
        return Some(StyleKind::Title);
    }
    let level: u8 = lower.strip_prefix("heading")?.parse().ok()?;
    (1..=9)
        .contains(&level)
        .then_some(StyleKind::Heading(level.min(6)))
}

/// `dc:title` from `docProps/core.xml`.
fn core_title(xml: &[u8]) -> Option<String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut in_title = false;
    let mut title = String::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Eof) | Err(_) => break,
            Ok(Event::Start(e)) if e.local_name().as_ref() == "title" => in_title = true,
            Ok(Event::End(e)) if e.local_name().as_ref() == "title" => break,
            Ok(Event::Text(t)) if in_title => title.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(r)) if in_title => push_ref(&mut title, &r),
            _ => {}
        }
        buf.clear();
    }
    let title = title.trim().to_string();
    (!title.is_empty()).then_some(title)
}

/// Appends the text of an entity or character reference.
fn push_ref(s: &mut String, r: &quick_xml::events::BytesRef<'_>) {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        s.push(c);
    } else if let Some(t) = quick_xml::escape::resolve_predefined_entity(r) {
        s.push_str(t);
    }
}

/// A paragraph being read.
#[derive(Default)]
struct Para {
    text: String,
    style: Option<String>,
    outline: Option<u8>,
    list: bool,
}

/// A table being read.
#[derive(Default)]
struct Table {
    rows: Vec<String>,
    row: Vec<String>,
    cell: String,
}

/// Reads `word/document.xml`.
struct Body<'a> {
    b: &'a mut DocumentBuilder,
    styles: &'a HashMap<String, StyleKind>,
    paras: Vec<Para>,
    table_depth: usize,
    table: Table,
    title: Option<String>,
    first_h1: Option<String>,
}

impl<'a> Body<'a> {
    fn new(b: &'a mut DocumentBuilder, styles: &'a HashMap<String, StyleKind>) -> Self {
        Body {
            b,
            styles,
            paras: Vec::new(),
            table_depth: 0,
            table: Table::default(),
            title: None,
            first_h1: None,
        }
    }

    /// Reads the body; returns the title it found (`Title` paragraph or first heading).
    fn read(mut self, xml: &[u8]) -> Result<Option<String>, ParseError> {
        let mut reader = quick_xml::Reader::from_reader(xml);
        let mut buf = Vec::new();
        // Inside `w:t` (text), `w:r` (a run), and a skipped subtree (its depth).
        let mut in_text = false;
        let mut in_run = 0usize;
        let mut skip = 0usize;
        loop {
            let event = reader.read_event_into(&mut buf).map_err(|e| {
                ParseError::new(
                    ParseErrorKind::Corrupt,
                    format!(
                        "word/document.xml in this .docx is not valid XML (at byte {}): {e}",
                        reader.error_position()
                    ),
                )
            })?;
            if skip > 0 {
                match event {
                    Event::Start(_) => skip += 1,
                    Event::End(_) => skip -= 1,
                    Event::Eof => break,
                    _ => {}
                }
                buf.clear();
                continue;
            }
            match event {
                Event::Eof => break,
                Event::Start(e) => match e.local_name().as_ref() {
                    // Word repeats drawings' text in a fallback for old readers.
                    "Fallback" | "delText" | "instrText" => skip = 1,
                    "t" => in_text = true,
                    "r" => in_run += 1,
                    name => self.element(name, &e, in_run > 0),
                },
                Event::Empty(e) => self.element(e.local_name().as_ref(), &e, in_run > 0),
                Event::End(e) => match e.local_name().as_ref() {
                    "t" => in_text = false,
                    "r" => in_run = in_run.saturating_sub(1),
                    "p" => self.end_paragraph(),
                    "tc" if self.table_depth == 1 => {
                        let cell = std::mem::take(&mut self.table.cell);
                        self.table.row.push(cell.trim().to_string());
                    }
                    "tr" if self.table_depth == 1 => {
                        let row = std::mem::take(&mut self.table.row);
                        if row.iter().any(|c| !c.is_empty()) {
                            self.table.rows.push(row.join(" | "));
                        }
                    }
                    "tbl" => {
                        self.table_depth = self.table_depth.saturating_sub(1);
                        if self.table_depth == 0 {
                            let t = std::mem::take(&mut self.table);
                            self.b.push(BlockKind::Table, &t.rows.join("\n"));
                        }
                    }
                    _ => {}
                },
                Event::Text(t) if in_text => self.text(&t.xml10_content()),
                Event::GeneralRef(r) if in_text => {
                    if let Some(p) = self.paras.last_mut() {
                        push_ref(&mut p.text, &r);
                    }
                }
                Event::CData(t) if in_text => self.text(&t),
                _ => {}
            }
            buf.clear();
        }
        Ok(self.title.or(self.first_h1))
    }

    fn text(&mut self, s: &str) {
        if let Some(p) = self.paras.last_mut() {
            p.text.push_str(s);
        }
    }

    /// A start or empty element other than text and runs.
    fn element(&mut self, name: &str, e: &BytesStart<'_>, in_run: bool) {
        match name {
            "p" => self.paras.push(Para::default()),
            "pStyle" => {
                if let Some(p) = self.paras.last_mut() {
                    p.style = val(e);
                }
            }
            "outlineLvl" => {
                if let Some(p) = self.paras.last_mut() {
                    p.outline = val(e).and_then(|v| v.parse().ok());
                }
            }
            "numPr" => {
                if let Some(p) = self.paras.last_mut() {
                    p.list = true;
                }
            }
            "tab" if in_run => self.text("\t"),
            "br" | "cr" if in_run => self.text("\n"),
            "noBreakHyphen" if in_run => self.text("-"),
            "tbl" => {
                self.table_depth += 1;
                if self.table_depth == 1 {
                    self.table = Table::default();
                }
            }
            _ => {}
        }
    }

    fn end_paragraph(&mut self) {
        let Some(p) = self.paras.pop() else {
            return;
        };
        if self.table_depth > 0 {
            let text = p.text.trim();
            if !text.is_empty() {
                if !self.table.cell.is_empty() {
                    self.table.cell.push(' ');
                }
                self.table.cell.push_str(text);
            }
            return;
        }
        let style = p
            .style
            .as_deref()
            .and_then(|id| self.styles.get(id).copied().or_else(|| style_by_name(id)))
            .or_else(|| {
                p.outline
                    .filter(|l| *l < 9)
                    .map(|l| StyleKind::Heading((l + 1).min(6)))
            });
        let kind = match style {
            Some(StyleKind::Title) => {
                if self.title.is_none() && !p.text.trim().is_empty() {
                    self.title = Some(p.text.trim().to_string());
                }
                BlockKind::Heading(1)
            }
            Some(StyleKind::Heading(level)) => BlockKind::Heading(level),
            None if p.list => BlockKind::ListItem,
            None => BlockKind::Paragraph,
        };
        if kind == BlockKind::Heading(1) && self.first_h1.is_none() && !p.text.trim().is_empty() {
            self.first_h1 = Some(p.text.trim().to_string());
        }
        self.b.push(kind, &p.text);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    /// A .docx with the given body XML (the inside of `w:body`) and extra entries.
    pub(crate) fn docx(body: &str, extra: &[(&str, &str)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default();
        w.start_file("[Content_Types].xml", opts).unwrap();
        w.write_all(b"<?xml version=\"1.0\"?><Types/>").unwrap();
        w.start_file("word/document.xml", opts).unwrap();
        write!(
            w,
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
             <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\" \
             xmlns:mc=\"http://schemas.openxmlformats.org/markup-compatibility/2006\">\
             <w:body>{body}</w:body></w:document>"
        )
        .unwrap();
        for (name, content) in extra {
            w.start_file(*name, opts).unwrap();
            w.write_all(content.as_bytes()).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn p(style: Option<&str>, text: &str) -> String {
        let ppr = style.map_or(String::new(), |s| {
            format!("<w:pPr><w:pStyle w:val=\"{s}\"/></w:pPr>")
        });
        format!("<w:p>{ppr}<w:r><w:t xml:space=\"preserve\">{text}</w:t></w:r></w:p>")
    }

    fn parse_default(bytes: &[u8]) -> Result<ParsedDocument, ParseError> {
        parse(bytes, &ParseOptions::default())
    }

    #[test]
    fn paragraphs_headings_lists_and_tables() {
        let body = [
            p(Some("Title"), "The Report"),
            p(Some("Heading1"), "Intro"),
            p(None, "Tom &amp; Jerry&#33;"),
            "<w:p><w:pPr><w:numPr><w:ilvl w:val=\"0\"/></w:numPr></w:pPr><w:r><w:t>item</w:t></w:r></w:p>"
                .into(),
            p(Some("Heading2"), "Data"),
            "<w:tbl><w:tr><w:tc>".into(),
            p(None, "a"),
            p(None, "a2"),
            "</w:tc><w:tc>".into(),
            p(None, "b"),
            "</w:tc></w:tr><w:tr><w:tc>".into(),
            p(None, "1"),
            "</w:tc><w:tc><w:tbl><w:tr><w:tc>".into(),
            p(None, "inner"),
            "</w:tc></w:tr></w:tbl></w:tc></w:tr></w:tbl>".into(),
            "<w:p><w:r><w:t>x</w:t><w:tab/><w:t>y</w:t><w:br/><w:t>z</w:t></w:r>\
             <w:r><w:delText>gone</w:delText></w:r></w:p>"
                .into(),
        ]
        .concat();
        let d = parse_default(&docx(&body, &[])).unwrap();
        let got: Vec<_> = d.blocks.iter().map(|b| (b.kind, d.block_text(b))).collect();
        assert_eq!(
            got,
            [
                (BlockKind::Heading(1), "The Report"),
                (BlockKind::Heading(1), "Intro"),
                (BlockKind::Paragraph, "Tom & Jerry!"),
                (BlockKind::ListItem, "item"),
                (BlockKind::Heading(2), "Data"),
                (BlockKind::Table, "a a2 | b\n1 | inner"),
                (BlockKind::Paragraph, "x\ty\nz"),
            ]
        );
        assert_eq!(d.title.as_deref(), Some("The Report"));
        assert_eq!(d.blocks[5].heading_path, ["Intro", "Data"]);
    }

    #[test]
    fn localized_heading_styles_come_from_styles_xml() {
        let styles = "<w:styles xmlns:w=\"w\"><w:style w:type=\"paragraph\" w:styleId=\"berschrift1\">\
             <w:name w:val=\"heading 1\"/></w:style><w:style w:styleId=\"Mine\"><w:name w:val=\"Mine\"/>\
             <w:basedOn w:val=\"berschrift1\"/></w:style><w:style w:styleId=\"Loop\">\
             <w:basedOn w:val=\"Loop\"/></w:style></w:styles>";
        let core = "<cp:coreProperties xmlns:cp=\"c\" xmlns:dc=\"d\"><dc:title>Core title</dc:title></cp:coreProperties>";
        let body = [
            p(Some("berschrift1"), "Einleitung"),
            p(Some("Mine"), "Also h1"),
            p(Some("Loop"), "plain"),
        ]
        .concat();
        let d = parse_default(&docx(
            &body,
            &[("word/styles.xml", styles), ("docProps/core.xml", core)],
        ))
        .unwrap();
        let kinds: Vec<_> = d.blocks.iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            [
                BlockKind::Heading(1),
                BlockKind::Heading(1),
                BlockKind::Paragraph
            ]
        );
        assert_eq!(d.title.as_deref(), Some("Core title"));
    }

    #[test]
    fn not_a_zip_or_not_word_is_corrupt() {
        let err = parse_default(b"just some text").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Corrupt);
        assert!(
            err.message.starts_with("this is not a .docx file"),
            "{}",
            err.message
        );

        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file("hello.txt", SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"hi").unwrap();
        let err = parse_default(&w.finish().unwrap().into_inner()).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Corrupt);
        assert!(
            err.message.contains("no word/document.xml"),
            "{}",
            err.message
        );
    }

    #[test]
    fn broken_xml_is_corrupt() {
        let err = parse_default(&docx("<w:p><w:r><w:t>x</w:r></w:p>", &[])).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Corrupt);
        assert!(err.message.contains("not valid XML"), "{}", err.message);
    }

    #[test]
    fn expansion_past_the_cap_is_too_large() {
        let big = p(None, &"a".repeat(400_000));
        let bytes = docx(&big, &[]);
        assert!(bytes.len() < 10_000, "compresses well: {}", bytes.len());
        let opts = ParseOptions {
            max_bytes: 10_000, // cap: 200,000 bytes of XML
            ..ParseOptions::default()
        };
        let err = parse(&bytes, &opts).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::TooLarge);
        assert!(err.message.contains("zip bomb"), "{}", err.message);
    }

    #[test]
    fn ole_files_are_old_doc_or_encrypted() {
        let mut ole = OLE_MAGIC.to_vec();
        ole.extend([0u8; 100]);
        assert_eq!(
            parse_default(&ole).unwrap_err().kind,
            ParseErrorKind::Corrupt
        );
        ole.extend("EncryptionInfo".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(
            parse_default(&ole).unwrap_err().kind,
            ParseErrorKind::Encrypted
        );
    }
}
