//! HTML: the main content of a page, with its headings, lists, code and tables.
//!
//! - The content root is the first `<main>` (or `role="main"`) element; without one, every
//!   outermost `<article>`; without those, `<body>`.
//! - Dropped wherever they are: `script`, `style`, `noscript`, `template`, `nav`, `aside`,
//!   `head`, `svg`, `math`, `iframe`, `object`, `canvas`, `form` controls, elements with
//!   the `hidden` attribute. `header` and `footer` are dropped too, except a `header`
//!   inside the chosen `<main>`/`<article>`, which usually holds the article's title.
//! - `h1`–`h6` become `Heading` blocks, `li` `ListItem`, `pre` `Code` (whitespace kept);
//!   `p`, `blockquote`, `div` and the other block elements split `Paragraph`s; a table is
//!   one `Table` block, one row a line, cells joined by ` | ` (a table inside a cell is
//!   flattened into that cell).
//! - `<title>` is the title; without one, the first `h1`.
//!
//! Deep nesting is bounded twice. Before parsing, tags nested more than [`MAX_DEPTH`]
//! levels deep are removed (their text is kept), as browsers flatten such trees: the
//! HTML tree builder does work proportional to the depth for every tag, so 100,000
//! nested `<div>`s would otherwise take minutes. The tree is then walked iteratively,
//! so nothing recurses on the document's depth.

use super::ParseError;
use crate::document::{BlockKind, DocumentBuilder, ParsedDocument};
use ego_tree::NodeRef;
use ego_tree::iter::Edge;
use scraper::{Html, Node};

/// Nesting depth past which tags are dropped (their text is kept).
const MAX_DEPTH: usize = 512;

/// Parses an HTML document.
pub(super) fn parse(bytes: &[u8]) -> Result<ParsedDocument, ParseError> {
    let text = super::text::decode(bytes, declared_charset(bytes))?;
    let text = match flatten_deep_nesting(&text, MAX_DEPTH) {
        Some(flat) => flat,
        None => text,
    };
    let html = Html::parse_document(&text);
    let found = survey(html.tree.root());
    let mut b = DocumentBuilder::new();
    let mut walker = Walker::new(&mut b, found.in_main);
    for root in &found.roots {
        walker.walk(*root);
    }
    let first_h1 = walker.first_h1.take();
    match found.title.or(first_h1) {
        Some(t) => b.title(t),
        None => &mut b,
    };
    Ok(b.finish())
}

/// A `charset` named in the first 1,024 bytes (`<meta charset=…>` or the
/// `http-equiv` form).
fn declared_charset(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let head = &bytes[..bytes.len().min(1024)];
    let lower: Vec<u8> = head.to_ascii_lowercase();
    let at = lower.windows(8).position(|w| w == b"charset=")? + 8;
    let label: Vec<u8> = lower[at..]
        .iter()
        .copied()
        .skip_while(|c| matches!(c, b'"' | b'\'' | b' '))
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b':' | b'.'))
        .collect();
    let enc = encoding_rs::Encoding::for_label(&label)?;
    // A page that says UTF-16 but reached us without a BOM is read as UTF-8 (HTML spec).
    if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
        Some(encoding_rs::UTF_8)
    } else {
        Some(enc)
    }
}

/// Elements that never stay open around their successors (void elements) or that the
/// HTML parser closes by itself (`p`, `li`, table parts…): they do not count as depth.
fn never_nests(name: &[u8]) -> bool {
    matches!(
        name,
        b"area"
            | b"base"
            | b"br"
            | b"col"
            | b"embed"
            | b"hr"
            | b"img"
            | b"input"
            | b"link"
            | b"meta"
            | b"param"
            | b"source"
            | b"track"
            | b"wbr"
            | b"p"
            | b"li"
            | b"dt"
            | b"dd"
            | b"tr"
            | b"td"
            | b"th"
            | b"thead"
            | b"tbody"
            | b"tfoot"
            | b"caption"
            | b"colgroup"
            | b"option"
            | b"optgroup"
            | b"rb"
            | b"rt"
            | b"rp"
            | b"rtc"
            | b"html"
            | b"head"
            | b"body"
    )
}

/// Elements whose content is raw text up to their end tag.
fn raw_text(name: &[u8]) -> bool {
    matches!(
        name,
        b"script"
            | b"style"
            | b"textarea"
            | b"title"
            | b"xmp"
            | b"iframe"
            | b"noembed"
            | b"noframes"
    )
}

/// Removes the tags nested deeper than `limit` (each becomes a space), by a linear scan
/// of the markup. `None`: nothing is that deep, use the text as it is.
fn flatten_deep_nesting(html: &str, limit: usize) -> Option<String> {
    let bytes = html.as_bytes();
    let find = |from: usize, pat: &[u8]| -> usize {
        bytes[from.min(bytes.len())..]
            .windows(pat.len())
            .position(|w| w.eq_ignore_ascii_case(pat))
            .map_or(bytes.len(), |p| from + p + pat.len())
    };
    let mut removed: Vec<std::ops::Range<usize>> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|&c| c == b'<') {
        let start = i + off;
        let rest = &bytes[start..];
        if rest.starts_with(b"<!--") {
            i = find(start + 4, b"-->");
            continue;
        }
        if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
            i = find(start + 2, b">");
            continue;
        }
        let closing = rest.starts_with(b"</");
        let name_start = start + if closing { 2 } else { 1 };
        let name_len = bytes[name_start..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b':' | b'_'))
            .count();
        if name_len == 0 || !bytes[name_start].is_ascii_alphabetic() {
            i = start + 1;
            continue;
        }
        let name = bytes[name_start..name_start + name_len].to_ascii_lowercase();
        // The end of the tag, skipping quoted attribute values.
        let mut j = name_start + name_len;
        let mut quote = None;
        while j < bytes.len() {
            match (quote, bytes[j]) {
                (None, b'>') => break,
                (None, q @ (b'"' | b'\'')) => quote = Some(q),
                (Some(q), c) if c == q => quote = None,
                _ => {}
            }
            j += 1;
        }
        let end = (j + 1).min(bytes.len());
        let self_closing = end >= 2 && bytes[end - 2] == b'/';
        i = end;
        if never_nests(&name) {
            continue;
        }
        if closing {
            if depth > limit {
                removed.push(start..end);
            }
            depth = depth.saturating_sub(1);
        } else if raw_text(&name) {
            let mut close = b"</".to_vec();
            close.extend_from_slice(&name);
            i = find(end, &close);
        } else if !self_closing {
            depth += 1;
            if depth > limit {
                removed.push(start..end);
            }
        }
    }
    if removed.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(html.len());
    let mut at = 0;
    for r in removed {
        out.push_str(&html[at..r.start]);
        out.push(' ');
        at = r.end;
    }
    out.push_str(&html[at..]);
    Some(out)
}

/// What one pass over the tree finds: the content roots and the title.
struct Survey<'a> {
    roots: Vec<NodeRef<'a, Node>>,
    /// Whether the roots are `main`/`article` (then their `header` is content).
    in_main: bool,
    title: Option<String>,
}

fn survey(doc: NodeRef<'_, Node>) -> Survey<'_> {
    let mut main = None;
    let mut articles = Vec::new();
    let mut body = None;
    let mut title = None;
    let mut article_depth = 0usize;
    let mut svg_depth = 0usize;
    for edge in doc.traverse() {
        match edge {
            Edge::Open(node) => {
                let Node::Element(e) = node.value() else {
                    continue;
                };
                match e.name() {
                    "main" if main.is_none() => main = Some(node),
                    _ if main.is_none() && e.attr("role") == Some("main") => main = Some(node),
                    "article" => {
                        if article_depth == 0 {
                            articles.push(node);
                        }
                        article_depth += 1;
                    }
                    "body" if body.is_none() => body = Some(node),
                    "svg" | "math" => svg_depth += 1,
                    "title" if title.is_none() && svg_depth == 0 => {
                        let t = collapse(&inline_text(node));
                        if !t.is_empty() {
                            title = Some(t);
                        }
                    }
                    _ => {}
                }
            }
            Edge::Close(node) => {
                if let Node::Element(e) = node.value() {
                    match e.name() {
                        "article" => article_depth = article_depth.saturating_sub(1),
                        "svg" | "math" => svg_depth = svg_depth.saturating_sub(1),
                        _ => {}
                    }
                }
            }
        }
    }
    let (roots, in_main) = if let Some(m) = main {
        (vec![m], true)
    } else if !articles.is_empty() {
        (articles, true)
    } else if let Some(b) = body {
        (vec![b], false)
    } else {
        (vec![doc], false)
    };
    Survey {
        roots,
        in_main,
        title,
    }
}

/// All text under a node, iteratively.
fn inline_text(node: NodeRef<'_, Node>) -> String {
    let mut s = String::new();
    for n in node.descendants() {
        if let Node::Text(t) = n.value() {
            s.push_str(t);
        }
    }
    s
}

/// Whitespace runs become one space; the ends are trimmed.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Elements whose whole subtree is not content.
fn dropped(name: &str) -> bool {
    matches!(
        name,
        "script"
            | "style"
            | "noscript"
            | "template"
            | "nav"
            | "aside"
            | "head"
            | "svg"
            | "math"
            | "iframe"
            | "object"
            | "embed"
            | "canvas"
            | "select"
            | "button"
            | "input"
            | "textarea"
            | "dialog"
    )
}

/// Elements that end the block before them and start a new one.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "section"
            | "article"
            | "main"
            | "header"
            | "footer"
            | "address"
            | "blockquote"
            | "pre"
            | "ul"
            | "ol"
            | "li"
            | "dl"
            | "dt"
            | "dd"
            | "figure"
            | "figcaption"
            | "details"
            | "summary"
            | "form"
            | "fieldset"
            | "legend"
            | "center"
            | "body"
            | "html"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "hr"
    )
}

/// A table being read.
#[derive(Default)]
struct Table {
    rows: Vec<String>,
    row: Vec<String>,
    cell: Option<String>,
}

struct Walker<'b> {
    b: &'b mut DocumentBuilder,
    /// `header` is content inside `main`/`article` roots.
    keep_header: bool,
    buf: String,
    /// The kind each open block element gives its text, innermost last.
    kinds: Vec<(ego_tree::NodeId, BlockKind)>,
    /// Open `pre` elements.
    pre: usize,
    /// Open `table` elements, and the outermost one's content.
    table_depth: usize,
    table: Table,
    first_h1: Option<String>,
}

impl<'b> Walker<'b> {
    fn new(b: &'b mut DocumentBuilder, keep_header: bool) -> Self {
        Walker {
            b,
            keep_header,
            buf: String::new(),
            kinds: Vec::new(),
            pre: 0,
            table_depth: 0,
            table: Table::default(),
            first_h1: None,
        }
    }

    fn kind(&self) -> BlockKind {
        self.kinds.last().map_or(BlockKind::Paragraph, |(_, k)| *k)
    }

    fn flush(&mut self) {
        if self.buf.trim().is_empty() {
            self.buf.clear();
            return;
        }
        let kind = self.kind();
        if kind == BlockKind::Heading(1) && self.first_h1.is_none() {
            self.first_h1 = Some(collapse(&self.buf));
        }
        self.b.push(kind, &self.buf);
        self.buf.clear();
    }

    /// Appends text, collapsing whitespace outside `pre`.
    fn text(&mut self, s: &str) {
        let target = match &mut self.table.cell {
            Some(cell) if self.table_depth > 0 => cell,
            _ if self.table_depth > 0 => return, // whitespace between rows and cells
            _ => &mut self.buf,
        };
        if self.pre > 0 && self.table_depth == 0 {
            target.push_str(s);
            return;
        }
        for c in s.chars() {
            if c.is_whitespace() {
                if !target.is_empty() && !target.ends_with([' ', '\n']) {
                    target.push(' ');
                }
            } else {
                target.push(c);
            }
        }
    }

    fn walk(&mut self, root: NodeRef<'_, Node>) {
        let mut depth = 0usize;
        // The element whose subtree is being skipped.
        let mut skipping: Option<ego_tree::NodeId> = None;
        for edge in root.traverse() {
            match edge {
                Edge::Open(node) => {
                    if skipping.is_some() {
                        continue;
                    }
                    match node.value() {
                        Node::Text(t) => self.text(t),
                        Node::Element(e) => {
                            depth += 1;
                            let name = e.name();
                            let skip = dropped(name)
                                || e.attr("hidden").is_some()
                                || (name == "header" && !self.keep_header)
                                || name == "footer";
                            if skip && node.id() != root.id() {
                                skipping = Some(node.id());
                                depth -= 1;
                                continue;
                            }
                            if depth <= MAX_DEPTH {
                                self.open(node.id(), name);
                            }
                        }
                        _ => {}
                    }
                }
                Edge::Close(node) => {
                    if let Some(id) = skipping {
                        if id == node.id() {
                            skipping = None;
                        }
                        continue;
                    }
                    if let Node::Element(e) = node.value() {
                        if depth <= MAX_DEPTH {
                            self.close(node.id(), e.name());
                        }
                        depth -= 1;
                    }
                }
            }
        }
        self.flush();
    }

    fn open(&mut self, id: ego_tree::NodeId, name: &str) {
        if self.table_depth > 0 {
            match name {
                "table" => self.table_depth += 1,
                "tr" if self.table_depth == 1 => self.table.row.clear(),
                "td" | "th" | "caption" if self.table_depth == 1 => {
                    self.table.cell = Some(String::new())
                }
                "br" | "p" | "div" | "li" | "td" | "th" | "tr" => self.text(" "),
                _ => {}
            }
            return;
        }
        match name {
            "br" => self.buf.push('\n'),
            "table" => {
                self.flush();
                self.table_depth = 1;
                self.table = Table::default();
            }
            "pre" => {
                self.flush();
                self.pre += 1;
                self.kinds.push((id, BlockKind::Code));
            }
            _ if is_block(name) => {
                self.flush();
                let kind = match name {
                    "h1" => BlockKind::Heading(1),
                    "h2" => BlockKind::Heading(2),
                    "h3" => BlockKind::Heading(3),
                    "h4" => BlockKind::Heading(4),
                    "h5" => BlockKind::Heading(5),
                    "h6" => BlockKind::Heading(6),
                    "li" => BlockKind::ListItem,
                    _ => match self.kind() {
                        // A block inside code stays code; anything else starts afresh
                        // unless it sits in a list item.
                        BlockKind::Code => BlockKind::Code,
                        BlockKind::ListItem => BlockKind::ListItem,
                        _ => BlockKind::Paragraph,
                    },
                };
                self.kinds.push((id, kind));
            }
            _ => {}
        }
    }

    fn close(&mut self, id: ego_tree::NodeId, name: &str) {
        if self.table_depth > 0 {
            match name {
                "table" => {
                    self.table_depth -= 1;
                    if self.table_depth == 0 {
                        self.end_table();
                    }
                }
                "td" | "th" | "caption" if self.table_depth == 1 => {
                    if let Some(cell) = self.table.cell.take() {
                        let cell = collapse(&cell);
                        if name == "caption" {
                            self.table.rows.push(cell);
                        } else {
                            self.table.row.push(cell);
                        }
                    }
                }
                "tr" if self.table_depth == 1 => self.end_row(),
                _ => {}
            }
            return;
        }
        if name == "pre" {
            self.pre = self.pre.saturating_sub(1);
        }
        if self.kinds.last().is_some_and(|(open, _)| *open == id) {
            self.flush();
            self.kinds.pop();
        }
    }

    fn end_row(&mut self) {
        if let Some(cell) = self.table.cell.take() {
            self.table.row.push(collapse(&cell));
        }
        let row = std::mem::take(&mut self.table.row);
        if row.iter().any(|c| !c.is_empty()) {
            self.table.rows.push(row.join(" | "));
        }
    }

    fn end_table(&mut self) {
        self.end_row();
        let table = std::mem::take(&mut self.table);
        self.b.push(BlockKind::Table, &table.rows.join("\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(s: &str) -> ParsedDocument {
        parse(s.as_bytes()).unwrap()
    }

    fn kinds(d: &ParsedDocument) -> Vec<(BlockKind, &str)> {
        d.blocks.iter().map(|b| (b.kind, d.block_text(b))).collect()
    }

    #[test]
    fn main_content_headings_and_lists() {
        let d = html(concat!(
            "<!doctype html><html><head><title> The  Page </title>",
            "<style>p{color:red}</style><script>var x = 1;</script></head>",
            "<body><header>Site banner</header><nav><a>Home</a></nav>",
            "<main><h1>Guide</h1><p>Intro &amp; <b>bold</b>\n  text.</p>",
            "<h2>Steps</h2><ul><li>one</li><li>two <i>more</i></li></ul>",
            "<pre>  fn main() {\n      x();\n  }</pre><blockquote>quoted</blockquote></main>",
            "<aside>related</aside><footer>(c) 2025</footer></body></html>"
        ));
        assert_eq!(d.title.as_deref(), Some("The Page"));
        assert_eq!(
            kinds(&d),
            [
                (BlockKind::Heading(1), "Guide"),
                (BlockKind::Paragraph, "Intro & bold text."),
                (BlockKind::Heading(2), "Steps"),
                (BlockKind::ListItem, "one"),
                (BlockKind::ListItem, "two more"),
                (BlockKind::Code, "fn main() {\n      x();\n  }"),
                (BlockKind::Paragraph, "quoted"),
            ]
        );
        assert_eq!(d.blocks[4].heading_path, ["Guide", "Steps"]);
    }

    #[test]
    fn without_main_the_body_minus_chrome_is_read() {
        let d = html(
            "<body><header><h1>Banner</h1></header><div>Plain <span>div</span> text<br>line two</div>\
             <noscript>enable js</noscript><template><p>t</p></template><p hidden>secret</p></body>",
        );
        assert_eq!(d.text, "Plain div text\nline two");
        assert_eq!(d.title, None);
    }

    #[test]
    fn articles_keep_their_header() {
        let d = html(
            "<body><nav>menu</nav><article><header><h1>Post title</h1></header><p>Body.</p>\
             <footer>tags</footer></article><article><p>Second.</p></article></body>",
        );
        assert_eq!(d.text, "Post title\n\nBody.\n\nSecond.");
        assert_eq!(d.title.as_deref(), Some("Post title"));
    }

    #[test]
    fn tables_become_rows_of_cells() {
        let d = html(
            "<p>before</p><table><caption>Prices</caption><thead><tr><th>Item</th><th>Cost</th></tr></thead>\
             <tbody><tr><td>Tea</td><td>1 <b>EUR</b></td></tr><tr><td><p>Nested</p>\
             <table><tr><td>a</td><td>b</td></tr></table></td><td></td></tr></tbody></table><p>after</p>",
        );
        assert_eq!(
            kinds(&d),
            [
                (BlockKind::Paragraph, "before"),
                (
                    BlockKind::Table,
                    "Prices\nItem | Cost\nTea | 1 EUR\nNested a b |"
                ),
                (BlockKind::Paragraph, "after"),
            ]
        );
    }

    #[test]
    fn meta_charset_is_honoured() {
        let bytes =
            b"<html><head><meta charset=\"windows-1252\"></head><body><p>caf\xe9</p></body></html>";
        assert_eq!(parse(bytes).unwrap().text, "café");
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let n = 100_000;
        let s = format!("{}deep text{}", "<div>".repeat(n), "</div>".repeat(n));
        let d = html(&s);
        assert_eq!(d.text, "deep text");
        let s = format!(
            "<p>top</p>{}<h2>deep</h2>{}",
            "<span>".repeat(n),
            "</span>".repeat(n)
        );
        assert_eq!(html(&s).text, "top\n\ndeep");
    }

    #[test]
    fn only_tags_past_the_limit_are_removed() {
        let s = "<div><div><b>x</b></div></div><!-- <div> --><script>'<div>'</script><br/>";
        assert_eq!(flatten_deep_nesting(s, 3), None);
        assert_eq!(
            flatten_deep_nesting("<div><div a='>'><i>t</i></div></div>", 1).as_deref(),
            Some("<div>  t  </div>")
        );
    }

    #[test]
    fn binary_named_html_is_corrupt() {
        let err = parse(b"\x1f\x8b\x08\0\0\0\0\0\0\x03").unwrap_err();
        assert_eq!(err.kind, super::super::ParseErrorKind::Corrupt);
    }
}
