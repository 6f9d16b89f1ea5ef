//! PDF, page by page, with `pdf-extract` on a `lopdf` document.
//!
//! Each page's text becomes `Paragraph` blocks (paragraphs are split where the text
//! jumps down by more than a line; lines within a paragraph are joined by spaces) that
//! carry their page number; the document records its page count. Ligatures (ﬁ ﬂ ﬀ ﬃ ﬄ
//! ﬅ ﬆ) are folded and words hyphenated at line ends are joined again. The title is the
//! document information's `/Title`.
//!
//! Failures:
//! - not a PDF, or damaged so that `lopdf` cannot load it: `Corrupt`;
//! - encrypted with a user password: `Encrypted` (one with an empty user password, which
//!   every viewer opens without asking, is read);
//! - `pdf-extract` stops at the first page it cannot read (an error or a panic inside
//!   it): the document is `Corrupt`, naming how many of its pages were read, rather than
//!   silently indexed in part.
//!
//! `pdf-extract` trusts its input: it recurses on a page's `/Parent` chain and into form
//! XObjects, and panics on missing keys. A crafted loop there would overflow the stack,
//! which no `catch_unwind` can contain, so before extraction the document is checked and
//! repaired: `/Parent` loops are cut, pages without a usable `/MediaBox` get a default
//! one, XObjects that invoke themselves (directly or not), nest more than
//! [`MAX_FORM_DEPTH`] deep or multiply into more than [`MAX_FORM_CALLS`] invocations on a
//! page are `Corrupt`. Panics that remain (pdf-extract has many `unwrap`s on document
//! data) are caught here and reported as `Corrupt`, as above, so even a direct call of
//! [`super::parse`] survives them. Decompression bombs are refused as `TooLarge`: zlib
//! streams (and chains of them) are measured, bounded, before `lopdf` loads the file and
//! inflates its object streams; after loading, every filtered stream the extractor may
//! decode (Flate, LZW, ASCII85 chains) is measured the way `lopdf` will decode it, and
//! PNG-predictor rows are bounded; image streams, which hold no text, are emptied instead
//! of decoded. Known gap: an LZW-compressed *object stream* (inflated by `lopdf` while
//! loading) is not measured before loading.

use super::{ParseError, ParseErrorKind, human_bytes};
use crate::document::{BlockKind, DocumentBuilder, ParsedDocument};
use lopdf::content::Content;
use lopdf::{Dictionary, Document, Object, ObjectId, Stream};
use pdf_extract::{MediaBox, OutputDev, OutputError, Transform};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Most bytes one stream may decode to.
const MAX_STREAM_BYTES: u64 = 256 << 20;
/// Most bytes all the zlib streams of a file may inflate to.
const MAX_TOTAL_BYTES: u64 = 2 << 30;
/// Most bytes in one row of a PNG-predicted stream (`/Columns` × `/Colors` × bits).
const MAX_ROW_BYTES: u64 = 1 << 24;
/// Deepest nesting of XObjects invoked with `Do`.
pub(crate) const MAX_FORM_DEPTH: usize = 32;
/// Most XObject invocations one page may make, counting nested ones.
pub(crate) const MAX_FORM_CALLS: u64 = 100_000;
/// Longest `/Parent` chain followed from a page.
const MAX_PARENT_CHAIN: usize = 10_000;

fn corrupt(message: impl Into<String>) -> ParseError {
    ParseError::new(ParseErrorKind::Corrupt, message)
}

fn bomb(what: &str, limit: u64) -> ParseError {
    ParseError::new(
        ParseErrorKind::TooLarge,
        format!(
            "{what} in this PDF expands to more than {}: refused as a possible decompression bomb",
            human_bytes(usize::try_from(limit).unwrap_or(usize::MAX))
        ),
    )
}

/// Parses a PDF document.
pub(super) fn parse(bytes: &[u8]) -> Result<ParsedDocument, ParseError> {
    // lopdf and pdf-extract may panic on damaged input; report that as damage here, so
    // that even a direct (uncontained) call survives it.
    catch_unwind(|| parse_pdf(bytes)).unwrap_or_else(|panic| {
        Err(corrupt(format!(
            "this PDF is damaged: the PDF reader failed on it ({})",
            panic_message(&*panic)
        )))
    })
}

fn parse_pdf(bytes: &[u8]) -> Result<ParsedDocument, ParseError> {
    if !bytes[..bytes.len().min(1024)]
        .windows(5)
        .any(|w| w == b"%PDF-")
    {
        return Err(corrupt("this is not a PDF file: it has no %PDF header"));
    }
    prescan(bytes)?;
    let mut doc = load(bytes)?;
    if doc.is_encrypted() {
        return Err(ParseError::new(
            ParseErrorKind::Encrypted,
            "this PDF is encrypted: it cannot be read without its password",
        ));
    }
    let pages: Vec<ObjectId> = doc.page_iter().collect();
    let count = pages.len();
    if count == 0 {
        return Err(corrupt(
            "this PDF has no pages that can be found: its page tree is missing or damaged",
        ));
    }
    if let Some(declared) = declared_page_count(&doc)
        && declared > count
    {
        return Err(corrupt(format!(
            "this PDF is damaged: its page tree lists {declared} pages but only {count} can be found"
        )));
    }
    sanitize_streams(&mut doc)?;
    repair_pages(&mut doc, &pages);
    check_xobjects(&doc, &pages)?;

    let (texts, failure) = extract(&doc);
    let read = texts.len().min(count);
    if let Some(why) = failure {
        return Err(corrupt(format!(
            "only {read} of the {count} pages of this PDF could be read; page {} failed: {why}",
            read + 1
        )));
    }
    if read < count {
        return Err(corrupt(format!(
            "only {read} of the {count} pages of this PDF could be read"
        )));
    }
    let mut b = DocumentBuilder::new();
    b.pages(u32::try_from(count).unwrap_or(u32::MAX));
    if let Some(title) = info_title(&doc) {
        b.title(title);
    }
    let texts: Vec<String> = texts.iter().map(|t| fold(t)).collect();
    let hyphenated = hyphenated_words(texts.iter().map(String::as_str));
    for (i, text) in texts.iter().enumerate() {
        b.page(u32::try_from(i + 1).unwrap_or(u32::MAX));
        for para in page_paragraphs(&dehyphenate(text, &hyphenated)) {
            b.push(BlockKind::Paragraph, &para);
        }
    }
    Ok(b.finish())
}

/// The message of a caught panic.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

/// Loads the document with `lopdf` (which decrypts it when the user password is empty).
fn load(bytes: &[u8]) -> Result<Document, ParseError> {
    match catch_unwind(|| Document::load_mem(bytes)) {
        Ok(Ok(doc)) => Ok(doc),
        Ok(Err(e)) => Err(match e {
            lopdf::Error::Decryption(_) | lopdf::Error::InvalidPassword => ParseError::new(
                ParseErrorKind::Encrypted,
                format!("this PDF is encrypted and cannot be decrypted: {e}"),
            ),
            lopdf::Error::UnsupportedSecurityHandler(_) => ParseError::new(
                ParseErrorKind::Encrypted,
                "this PDF is encrypted with a security handler berth cannot open (a certificate?)",
            ),
            lopdf::Error::Unimplemented(what) => corrupt(format!(
                "this PDF uses something the PDF reader does not support: {what}"
            )),
            e => corrupt(format!(
                "this PDF is damaged or truncated and cannot be read: {e}"
            )),
        }),
        Err(panic) => Err(corrupt(format!(
            "this PDF is damaged: the PDF reader failed on it ({})",
            panic_message(&*panic)
        ))),
    }
}

/// The `/Count` of the root of the page tree.
fn declared_page_count(doc: &Document) -> Option<usize> {
    let pages = doc.catalog().ok()?.get(b"Pages").ok()?;
    let pages = deref(doc, pages)?.as_dict().ok()?;
    let n = deref(doc, pages.get(b"Count").ok()?)?.as_i64().ok()?;
    usize::try_from(n).ok()
}

/// The document information's `/Title`.
fn info_title(doc: &Document) -> Option<String> {
    let info = deref(doc, doc.trailer.get(b"Info").ok()?)?.as_dict().ok()?;
    let title = deref(doc, info.get(b"Title").ok()?)?;
    let title = lopdf::decode_text_string(title).ok()?;
    let title = title.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!title.is_empty()).then(|| title.to_string())
}

/// One level of indirection, as `pdf-extract` follows it; `None` for a dangling reference.
fn deref<'a>(doc: &'a Document, obj: &'a Object) -> Option<&'a Object> {
    match obj {
        Object::Reference(id) => doc.get_object(*id).ok(),
        o => Some(o),
    }
}

// ---------------------------------------------------------------------------------------
// Decompression bombs.

/// Two bytes that start a zlib stream.
fn zlib_header(cmf: u8, flg: u8) -> bool {
    cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
}

/// Counts bytes read through it.
struct Counting<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// How many bytes a zlib stream inflates to, stopping past `cap`. A stream whose output
/// is itself a zlib stream (chained `/FlateDecode` filters) is measured through, up to
/// `layers` deep. Damaged data counts what inflated before the damage.
fn inflated_size(input: &mut dyn Read, cap: u64, layers: u32) -> u64 {
    let mut outer = Counting {
        inner: flate2::read::ZlibDecoder::new(input),
        n: 0,
    };
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match outer.read(&mut head[got..]) {
            Ok(0) | Err(_) => return got as u64,
            Ok(n) => got += n,
        }
    }
    if layers > 0 && zlib_header(head[0], head[1]) {
        let inner = inflated_size(
            &mut std::io::Cursor::new(head).chain(&mut outer),
            cap,
            layers - 1,
        );
        return inner.max(outer.n);
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match outer.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) if outer.n > cap => break,
            Ok(_) => {}
        }
    }
    outer.n
}

/// Before `lopdf` loads the file (and inflates its object and cross-reference streams):
/// measures every zlib stream in the raw bytes, and refuses PNG-predictor parameters
/// that would make it allocate rows of gigabytes.
fn prescan(bytes: &[u8]) -> Result<(), ParseError> {
    check_raw_predictor_params(bytes)?;
    let mut total = 0u64;
    let mut pos = 0;
    while let Some(off) = find(&bytes[pos..], b"stream") {
        let at = pos + off;
        pos = at + 6;
        if at >= 3 && &bytes[at - 3..at] == b"end" {
            continue;
        }
        let mut data = pos;
        if bytes.get(data) == Some(&b'\r') {
            data += 1;
        }
        if bytes.get(data) == Some(&b'\n') {
            data += 1;
        }
        if data + 2 > bytes.len() || !zlib_header(bytes[data], bytes[data + 1]) {
            continue;
        }
        let n = inflated_size(&mut &bytes[data..], MAX_STREAM_BYTES, 3);
        if n > MAX_STREAM_BYTES {
            return Err(bomb("a stream", MAX_STREAM_BYTES));
        }
        total += n;
        if total > MAX_TOTAL_BYTES {
            return Err(bomb("the whole of the streams", MAX_TOTAL_BYTES));
        }
    }
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Refuses `/Columns`, `/Colors` or `/BitsPerComponent` values (found anywhere in the
/// raw file, names decoded) that would make a predictor row absurdly large.
fn check_raw_predictor_params(bytes: &[u8]) -> Result<(), ParseError> {
    let delimiter = |c: u8| c.is_ascii_whitespace() || b"/[]<>(){}%".contains(&c);
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|&c| c == b'/') {
        let start = i + off + 1;
        let len = bytes[start..]
            .iter()
            .take_while(|&&c| !delimiter(c))
            .count();
        i = start + len;
        let raw = &bytes[start..start + len];
        if !(7..=40).contains(&raw.len()) {
            continue;
        }
        let name = decode_name(raw);
        let limit: u64 = match name.as_slice() {
            b"Columns" => 1 << 20,
            b"Colors" => 32,
            b"BitsPerComponent" => 32,
            _ => continue,
        };
        let digits: Vec<u8> = bytes[i..]
            .iter()
            .skip_while(|c| c.is_ascii_whitespace())
            .take_while(|c| c.is_ascii_digit() || **c == b'+')
            .filter(|c| c.is_ascii_digit())
            .take(20)
            .copied()
            .collect();
        let value = std::str::from_utf8(&digits)
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        if digits.len() >= 20 || value.is_some_and(|v| v > limit) {
            return Err(corrupt(format!(
                "this PDF is damaged or hostile: /{} {} is far beyond any real image or stream",
                String::from_utf8_lossy(&name),
                String::from_utf8_lossy(&digits)
            )));
        }
    }
    Ok(())
}

/// A PDF name with its `#xx` escapes decoded.
fn decode_name(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'#'
            && let Some(hex) = raw.get(i + 1..i + 3)
            && let Ok(s) = std::str::from_utf8(hex)
            && let Ok(v) = u8::from_str_radix(s, 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

/// After loading: empties image streams (they hold no text, yet `pdf-extract` decodes
/// any XObject it is asked to draw), and measures every other stream's filter chain and
/// predictor the way `lopdf` will decode it.
fn sanitize_streams(doc: &mut Document) -> Result<(), ParseError> {
    for obj in doc.objects.values_mut() {
        let Object::Stream(stream) = obj else {
            continue;
        };
        let is_image = matches!(stream.dict.get(b"Subtype"), Ok(Object::Name(n)) if n == b"Image");
        if is_image {
            stream.dict.remove(b"Filter");
            stream.dict.remove(b"DecodeParms");
            stream.set_content(Vec::new());
            continue;
        }
        check_predictor(&stream.dict)?;
        if let Ok(filters) = stream.filters()
            && !filters.is_empty()
            && decoded_size(&stream.content, &filters) > MAX_STREAM_BYTES
        {
            return Err(bomb("a stream", MAX_STREAM_BYTES));
        }
    }
    Ok(())
}

/// Refuses predictor parameters whose rows would be huge (lopdf allocates two rows).
fn check_predictor(dict: &Dictionary) -> Result<(), ParseError> {
    let Ok(params) = dict.get(b"DecodeParms").and_then(Object::as_dict) else {
        return Ok(());
    };
    let int = |key: &[u8], default: i64| {
        params
            .get(key)
            .and_then(Object::as_i64)
            .unwrap_or(default)
            .max(1)
            .unsigned_abs()
    };
    let predictor = params
        .get(b"Predictor")
        .and_then(Object::as_i64)
        .unwrap_or(1);
    if !(10..=15).contains(&predictor) {
        return Ok(());
    }
    let row = int(b"Colors", 1)
        .saturating_mul(int(b"BitsPerComponent", 8).max(8))
        .saturating_div(8)
        .saturating_mul(int(b"Columns", 1));
    if row > MAX_ROW_BYTES {
        return Err(corrupt(format!(
            "this PDF is damaged or hostile: a stream declares rows of {} bytes",
            row
        )));
    }
    Ok(())
}

/// The size a stream decodes to through its filters, as `lopdf` applies them (Flate with
/// its raw-deflate fallback, LZW, ASCII85; anything else stops decoding), counting no
/// further than just past [`MAX_STREAM_BYTES`]. Only intermediate layers are kept in
/// memory; the last is counted.
fn decoded_size(content: &[u8], filters: &[&[u8]]) -> u64 {
    let cap = MAX_STREAM_BYTES;
    let mut data: Cow<'_, [u8]> = Cow::Borrowed(content);
    for (i, filter) in filters.iter().enumerate() {
        let mut out = Output {
            keep: i + 1 < filters.len(),
            bytes: Vec::new(),
            n: 0,
        };
        match *filter {
            b"FlateDecode" => {
                let _ = std::io::copy(
                    &mut flate2::read::ZlibDecoder::new(&data[..]).take(cap + 1),
                    &mut out,
                );
                if out.n == 0 && data.len() > 2 {
                    let _ = std::io::copy(
                        &mut flate2::read::DeflateDecoder::new(&data[2..]).take(cap + 1),
                        &mut out,
                    );
                }
            }
            b"LZWDecode" => lzw_bounded(&data, cap + 1, &mut out),
            b"ASCII85Decode" => {
                // At most four bytes out per byte in: no bomb on its own.
                let mut s = Stream::new(Dictionary::new(), data.to_vec());
                s.dict
                    .set("Filter", Object::Name(b"ASCII85Decode".to_vec()));
                let decoded = s.decompressed_content().unwrap_or_default();
                out.n = decoded.len() as u64;
                out.bytes = decoded;
            }
            _ => break,
        }
        if out.n > cap || !out.keep {
            return out.n;
        }
        data = Cow::Owned(out.bytes);
    }
    data.len() as u64
}

/// Where a decoding layer writes: kept for the next layer, or only counted.
struct Output {
    keep: bool,
    bytes: Vec<u8>,
    n: u64,
}

impl std::io::Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.n += buf.len() as u64;
        if self.keep {
            self.bytes.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// LZW-decodes (PDF's early-change variant) into `out`, stopping past `cap` bytes.
fn lzw_bounded(input: &[u8], cap: u64, out: &mut Output) {
    use std::io::Write;
    let mut decoder = weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
    let mut buf = vec![0u8; 64 * 1024];
    let mut pos = 0;
    while out.n <= cap {
        let r = decoder.decode_bytes(&input[pos..], &mut buf);
        let _ = out.write(&buf[..r.consumed_out]);
        pos += r.consumed_in;
        match r.status {
            Ok(weezl::LzwStatus::Ok) if r.consumed_in + r.consumed_out > 0 => {}
            _ => break,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Structural checks before pdf-extract walks the document.

/// What `pdf-extract`'s inherited-attribute lookup would find for `key` from `page`.
enum Inherited {
    /// The object (already dereferenced) and the node it is on.
    Found(ObjectId),
    /// A reference to nothing: `pdf-extract` would panic.
    Dangling,
    Missing,
}

/// Walks the `/Parent` chain as `pdf-extract` does: the first node whose `key` is of the
/// wanted shape (`accept`) wins; other values are skipped.
fn inherited(
    doc: &Document,
    page: ObjectId,
    key: &[u8],
    accept: impl Fn(&Object) -> bool,
) -> Inherited {
    let mut node = page;
    for _ in 0..=MAX_PARENT_CHAIN {
        let Ok(dict) = doc.get_dictionary(node) else {
            return Inherited::Missing;
        };
        if let Ok(value) = dict.get(key) {
            match deref(doc, value) {
                None => return Inherited::Dangling,
                Some(v) if accept(v) => return Inherited::Found(node),
                Some(_) => {}
            }
        }
        match dict.get(b"Parent").and_then(Object::as_reference) {
            Ok(parent) => node = parent,
            Err(_) => return Inherited::Missing,
        }
    }
    Inherited::Missing
}

/// Cuts `/Parent` loops and over-long chains, and gives pages whose inherited
/// `/MediaBox` is missing or malformed (or whose `/Resources` dangle) usable ones.
fn repair_pages(doc: &mut Document, pages: &[ObjectId]) {
    for &page in pages {
        // Parent chain: cut where it loops or runs too long.
        let mut seen = HashSet::from([page]);
        let mut node = page;
        for step in 0.. {
            let parent = doc
                .get_dictionary(node)
                .ok()
                .and_then(|d| d.get(b"Parent").ok())
                .and_then(|p| p.as_reference().ok());
            let Some(parent) = parent else {
                break;
            };
            if !seen.insert(parent) || step >= MAX_PARENT_CHAIN {
                if let Ok(d) = doc.get_object_mut(node).and_then(Object::as_dict_mut) {
                    d.remove(b"Parent");
                }
                break;
            }
            node = parent;
        }
        let media_box_ok = match inherited(doc, page, b"MediaBox", |o| o.as_array().is_ok()) {
            Inherited::Found(node) => doc
                .get_dictionary(node)
                .ok()
                .and_then(|d| d.get(b"MediaBox").ok())
                .and_then(|o| deref(doc, o))
                .and_then(|o| o.as_array().ok())
                .is_some_and(|a| {
                    a.len() >= 4
                        && a.iter()
                            .all(|v| matches!(v, Object::Integer(_) | Object::Real(_)))
                }),
            Inherited::Dangling | Inherited::Missing => false,
        };
        let resources_dangle = matches!(
            inherited(doc, page, b"Resources", |o| o.as_dict().is_ok()),
            Inherited::Dangling
        );
        if let Ok(d) = doc.get_object_mut(page).and_then(Object::as_dict_mut) {
            if !media_box_ok {
                d.set("MediaBox", vec![0.into(), 0.into(), 612.into(), 792.into()]);
            }
            if resources_dangle {
                d.set("Resources", Dictionary::new());
            }
        }
    }
}

/// An XObject drawn with `Do`, with the resources its content is read with.
#[derive(Clone, Copy)]
struct Drawn<'a> {
    stream: &'a Stream,
    resources: &'a Dictionary,
}

impl Drawn<'_> {
    /// Identity of the (stream, resources) pair: what `pdf-extract` recurses on.
    fn key(&self) -> (usize, usize) {
        (
            std::ptr::from_ref(self.stream) as usize,
            std::ptr::from_ref(self.resources) as usize,
        )
    }
}

/// The XObjects a content stream draws, resolved as `pdf-extract` resolves them.
fn drawn<'a>(doc: &'a Document, content: &[u8], resources: &'a Dictionary) -> Vec<Drawn<'a>> {
    let Some(xobjects) = resources
        .get(b"XObject")
        .ok()
        .and_then(|o| deref(doc, o))
        .and_then(|o| o.as_dict().ok())
    else {
        return Vec::new();
    };
    let Ok(content) = Content::decode(content) else {
        return Vec::new();
    };
    content
        .operations
        .iter()
        .filter(|op| op.operator == "Do")
        .filter_map(|op| {
            let name = op.operands.first()?.as_name().ok()?;
            let stream = deref(doc, xobjects.get(name).ok()?)?.as_stream().ok()?;
            let own = stream
                .dict
                .get(b"Resources")
                .ok()
                .and_then(|o| deref(doc, o))
                .and_then(|o| o.as_dict().ok());
            Some(Drawn {
                stream,
                resources: own.unwrap_or(resources),
            })
        })
        .collect()
}

/// A stream's content as `pdf-extract` reads it.
fn stream_content(stream: &Stream) -> Vec<u8> {
    if stream.filters().is_ok() {
        stream
            .decompressed_content()
            .unwrap_or_else(|_| stream.content.clone())
    } else {
        stream.content.clone()
    }
}

/// Checks, without recursion, that no page draws XObjects in a loop, too deep, or too
/// many times over.
fn check_xobjects(doc: &Document, pages: &[ObjectId]) -> Result<(), ParseError> {
    enum Mark {
        Open,
        /// Invocations below and including it, and the depth below it.
        Done(u64, usize),
    }
    struct Frame<'a> {
        key: Option<(usize, usize)>,
        calls: Vec<Drawn<'a>>,
        next: usize,
        total: u64,
        height: usize,
    }
    let empty = Dictionary::new();
    let mut marks: HashMap<(usize, usize), Mark> = HashMap::new();
    for (i, &page) in pages.iter().enumerate() {
        let n = i + 1;
        let resources = match inherited(doc, page, b"Resources", |o| o.as_dict().is_ok()) {
            Inherited::Found(node) => doc
                .get_dictionary(node)
                .ok()
                .and_then(|d| d.get(b"Resources").ok())
                .and_then(|o| deref(doc, o))
                .and_then(|o| o.as_dict().ok())
                .unwrap_or(&empty),
            _ => &empty,
        };
        if resources.get(b"XObject").is_err() {
            continue;
        }
        let content = doc.get_page_content(page).unwrap_or_default();
        let mut stack = vec![Frame {
            key: None,
            calls: drawn(doc, &content, resources),
            next: 0,
            total: 0,
            height: 0,
        }];
        while let Some(top) = stack.last_mut() {
            if let Some(call) = top.calls.get(top.next).copied() {
                top.next += 1;
                let key = call.key();
                match marks.get(&key) {
                    Some(Mark::Open) => {
                        return Err(corrupt(format!(
                            "this PDF is damaged or hostile: page {n} draws an XObject that draws itself"
                        )));
                    }
                    Some(Mark::Done(calls, height)) => {
                        top.total = top.total.saturating_add(*calls);
                        top.height = top.height.max(*height + 1);
                        if stack.len() + height > MAX_FORM_DEPTH {
                            return Err(too_deep(n));
                        }
                    }
                    None => {
                        if stack.len() > MAX_FORM_DEPTH {
                            return Err(too_deep(n));
                        }
                        marks.insert(key, Mark::Open);
                        let calls = drawn(doc, &stream_content(call.stream), call.resources);
                        stack.push(Frame {
                            key: Some(key),
                            calls,
                            next: 0,
                            total: 0,
                            height: 0,
                        });
                    }
                }
            } else {
                let Some(done) = stack.pop() else { break };
                let calls = done.total.saturating_add(1);
                if let Some(key) = done.key {
                    marks.insert(key, Mark::Done(calls, done.height));
                }
                match stack.last_mut() {
                    Some(parent) => {
                        parent.total = parent.total.saturating_add(calls);
                        parent.height = parent.height.max(done.height + 1);
                    }
                    None => {
                        if done.total > MAX_FORM_CALLS {
                            return Err(corrupt(format!(
                                "this PDF is damaged or hostile: page {n} draws XObjects {} times over (limit {MAX_FORM_CALLS})",
                                done.total
                            )));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn too_deep(page: usize) -> ParseError {
    corrupt(format!(
        "this PDF is damaged or hostile: page {page} nests XObjects more than {MAX_FORM_DEPTH} deep"
    ))
}

// ---------------------------------------------------------------------------------------
// Extraction.

/// Runs `pdf-extract` over every page. Returns the text of each page begun, and why it
/// stopped early (an error or a panic inside the extractor), if it did.
fn extract(doc: &Document) -> (Vec<String>, Option<String>) {
    let mut out = PageText::default();
    let result = catch_unwind(AssertUnwindSafe(|| pdf_extract::output_doc(doc, &mut out)));
    let failure = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(panic) => Some(format!(
            "the text extractor crashed ({})",
            panic_message(&*panic)
        )),
    };
    let mut pages = out.pages;
    pages.truncate(out.done);
    (pages, failure)
}

/// Collects text page by page, placing spaces and line breaks from glyph positions (the
/// rules of `pdf-extract`'s `PlainTextOutput`).
#[derive(Default)]
struct PageText {
    pages: Vec<String>,
    /// Pages finished.
    done: usize,
    height: f64,
    last_end: f64,
    last_y: f64,
    first_char: bool,
}

impl OutputDev for PageText {
    fn begin_page(
        &mut self,
        _page_num: u32,
        media_box: &MediaBox,
        _art_box: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), OutputError> {
        self.pages.push(String::new());
        self.height = media_box.ury - media_box.lly;
        self.last_end = 100_000.0;
        self.last_y = 0.0;
        self.first_char = false;
        Ok(())
    }

    fn end_page(&mut self) -> Result<(), OutputError> {
        self.done += 1;
        Ok(())
    }

    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        _spacing: f64,
        font_size: f64,
        char: &str,
    ) -> Result<(), OutputError> {
        // Position with the y axis flipped to grow downwards.
        let (x, y) = (trm.m31, self.height - trm.m32);
        let vx = font_size * trm.m11 + font_size * trm.m21;
        let vy = font_size * trm.m12 + font_size * trm.m22;
        // The absolute value: for rotated text (`vx * vy < 0`) the square root would be
        // NaN and every spacing test below false, gluing the text to its neighbours.
        let size = (vx * vy).abs().sqrt();
        if self.pages.is_empty() {
            self.pages.push(String::new());
        }
        let Some(page) = self.pages.last_mut() else {
            return Ok(());
        };
        if self.first_char {
            if (y - self.last_y).abs() > size * 1.5 {
                page.push('\n');
            }
            if x < self.last_end && (y - self.last_y).abs() > size * 0.5 {
                page.push('\n');
            }
            if x > self.last_end + size * 0.1 {
                page.push(' ');
            }
        }
        page.push_str(char);
        self.first_char = false;
        self.last_y = y;
        self.last_end = x + width * size;
        Ok(())
    }

    fn begin_word(&mut self) -> Result<(), OutputError> {
        self.first_char = true;
        Ok(())
    }

    fn end_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn end_line(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}

/// Folds ligatures and drops soft hyphens and NULs.
fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{FB00}' => folded.push_str("ff"),
            '\u{FB01}' => folded.push_str("fi"),
            '\u{FB02}' => folded.push_str("fl"),
            '\u{FB03}' => folded.push_str("ffi"),
            '\u{FB04}' => folded.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => folded.push_str("st"),
            '\u{00AD}' | '\0' => {}
            '\r' => folded.push('\n'),
            c => folded.push(c),
        }
    }
    folded
}

/// The hyphenated words (`task-specific`) a text uses within its lines, lower-cased.
fn hyphenated_words<'a>(texts: impl IntoIterator<Item = &'a str>) -> HashSet<String> {
    let mut words = HashSet::new();
    for text in texts {
        for token in text.split_whitespace() {
            let token = token.trim_matches(|c: char| !c.is_alphanumeric());
            if token.contains('-') && !token.starts_with('-') && !token.ends_with('-') {
                words.insert(token.to_lowercase());
            }
        }
    }
    words
}

/// Joins words hyphenated at line ends. `exam-\nple` becomes `example`, unless the
/// document writes `exam-ple` elsewhere, then `exam-ple`; before an upper-case letter or
/// a digit the hyphen stays (`COVID-\n19` → `COVID-19`).
fn dehyphenate(text: &str, hyphenated: &HashSet<String>) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '-' | '\u{2010}') && i > 0 && chars[i - 1].is_alphabetic() {
            // Spaces, one newline, spaces, then the rest of the word.
            let mut j = i + 1;
            while j < chars.len() && chars[j] == ' ' {
                j += 1;
            }
            if j < chars.len() && chars[j] == '\n' {
                j += 1;
                while j < chars.len() && chars[j] == ' ' {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_alphanumeric() {
                    let before: String = {
                        let start = chars[..i]
                            .iter()
                            .rposition(|c| !c.is_alphanumeric() && *c != '-')
                            .map_or(0, |p| p + 1);
                        chars[start..i].iter().collect()
                    };
                    let after: String = chars[j..]
                        .iter()
                        .take_while(|c| c.is_alphanumeric() || **c == '-')
                        .collect();
                    // A compound already hyphenated on either side of the break
                    // (`state-of-⏎the-art`) keeps its hyphen.
                    let keep = !chars[j].is_lowercase()
                        || before.contains('-')
                        || after.contains('-')
                        || hyphenated.contains(&format!("{before}-{after}").to_lowercase());
                    if keep {
                        out.push('-');
                    }
                    i = j;
                    continue;
                }
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Paragraphs of a page: blank-line separated, lines joined by single spaces.
fn page_paragraphs(text: &str) -> Vec<String> {
    super::text::paragraphs(text)
        .map(|p| {
            p.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A PDF of `pages` pages, each showing its text with a base-14 font, built with
    /// lopdf. `extra` can change the document before it is saved.
    pub(crate) fn pdf_with(pages: &[&str], extra: impl FnOnce(&mut Document)) -> Vec<u8> {
        use lopdf::content::Operation;
        let pages: Vec<Vec<Operation>> = pages
            .iter()
            .map(|text| {
                let mut ops = vec![Operation::new("BT", vec![])];
                ops.push(Operation::new("Tf", vec!["F1".into(), 12.into()]));
                ops.push(Operation::new("TL", vec![14.into()]));
                ops.push(Operation::new("Td", vec![72.into(), 720.into()]));
                for line in text.split('\n') {
                    ops.push(Operation::new("Tj", vec![Object::string_literal(line)]));
                    ops.push(Operation::new("T*", vec![]));
                }
                ops.push(Operation::new("ET", vec![]));
                ops
            })
            .collect();
        pdf_from_operations(pages, extra)
    }

    /// A PDF whose pages draw with the given content operations (font `F1`: Helvetica).
    pub(crate) fn pdf_from_operations(
        pages: Vec<Vec<lopdf::content::Operation>>,
        extra: impl FnOnce(&mut Document),
    ) -> Vec<u8> {
        use lopdf::dictionary;
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font_id = doc.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => "Helvetica",
        });
        let resources_id = doc.add_object(dictionary! {
            "Font" => dictionary! { "F1" => font_id },
        });
        let mut kids = Vec::new();
        for ops in pages {
            let content = Content { operations: ops };
            let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
            let page_id = doc.add_object(dictionary! {
                "Type" => "Page",
                "Parent" => pages_id,
                "Contents" => content_id,
            });
            kids.push(Object::from(page_id));
        }
        let count = kids.len() as i64;
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages",
                "Kids" => kids,
                "Count" => count,
                "Resources" => resources_id,
                "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
            }),
        );
        let info_id = doc.add_object(dictionary! {
            "Title" => Object::string_literal("A Test Document"),
        });
        let catalog_id = doc.add_object(dictionary! {
            "Type" => "Catalog",
            "Pages" => pages_id,
        });
        doc.trailer.set("Root", catalog_id);
        doc.trailer.set("Info", info_id);
        extra(&mut doc);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    pub(crate) fn pdf(pages: &[&str]) -> Vec<u8> {
        pdf_with(pages, |_| {})
    }

    #[test]
    fn pages_are_numbered_and_counted() {
        let d = parse(&pdf(&[
            "First page text.",
            "Second page.\n\nNew paragraph.",
        ]))
        .unwrap();
        assert_eq!(d.pages, Some(2));
        assert_eq!(d.title.as_deref(), Some("A Test Document"));
        let got: Vec<_> = d.blocks.iter().map(|b| (b.page, d.block_text(b))).collect();
        assert_eq!(
            got,
            [
                (Some(1), "First page text."),
                (Some(2), "Second page."),
                (Some(2), "New paragraph."),
            ]
        );
    }

    #[test]
    fn rotated_text_is_not_glued_to_its_neighbours() {
        use lopdf::content::Operation;
        let text = |x: i64, y: i64, s: &str| {
            vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 12.into()]),
                Operation::new("Td", vec![x.into(), y.into()]),
                Operation::new("Tj", vec![Object::string_literal(s)]),
                Operation::new("ET", vec![]),
            ]
        };
        let mut ops = text(72, 720, "masked words");
        // A margin stamp turned 90 degrees, as arXiv prints its identifier.
        ops.extend([
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new(
                "Tm",
                vec![
                    0.into(),
                    1.into(),
                    (-1).into(),
                    0.into(),
                    30.into(),
                    300.into(),
                ],
            ),
            Operation::new("Tj", vec![Object::string_literal("arXiv:1810.04805v2")]),
            Operation::new("ET", vec![]),
        ]);
        ops.extend(text(72, 700, "next line"));
        let d = parse(&pdf_from_operations(vec![ops], |_| {})).unwrap();
        let all: String = d
            .blocks
            .iter()
            .map(|b| d.block_text(b))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(all.contains("masked words"), "{all}");
        assert!(all.contains("next line"), "{all}");
        for glued in ["wordsarXiv", "arXiv:1810.04805v2next", "wordsa", "v2next"] {
            assert!(
                !all.contains(glued),
                "rotated text glued to its neighbours: {all:?}"
            );
        }
    }

    #[test]
    fn ligatures_and_hyphenation_are_cleaned() {
        let text = fold(
            "the \u{FB01}rst e\u{FB03}cient exam-\n  ple, COVID-\n19, x-\n\ny, a task-\nspecific and task-specific, state-of-\nthe-art, state-\nof-the-art",
        );
        let words = hyphenated_words([text.as_str()]);
        assert_eq!(
            dehyphenate(&text, &words),
            "the first efficient example, COVID-19, x-\n\ny, a task-specific and task-specific, state-of-the-art, state-of-the-art"
        );
        assert_eq!(
            page_paragraphs("a line\nnext line\n\n\nsecond   para"),
            ["a line next line", "second   para"]
        );
    }

    #[test]
    fn not_a_pdf_and_truncated_are_corrupt() {
        let err = parse(b"hello").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Corrupt);
        assert!(err.message.contains("no %PDF header"));
        let bytes = pdf(&["some text"]);
        let err = parse(&bytes[..bytes.len() / 2]).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Corrupt, "{}", err.message);
    }

    #[test]
    fn a_self_drawing_xobject_is_refused_not_a_stack_overflow() {
        let bytes = pdf_with(&["text"], |doc| {
            use lopdf::dictionary;
            let form_id = doc.new_object_id();
            let form = Stream::new(
                dictionary! {
                    "Type" => "XObject",
                    "Subtype" => "Form",
                    "BBox" => vec![0.into(), 0.into(), 10.into(), 10.into()],
                    "Resources" => dictionary! { "XObject" => dictionary! { "X" => form_id } },
                },
                b"/X Do".to_vec(),
            );
            doc.objects.insert(form_id, Object::Stream(form));
            let page = doc.page_iter().next().unwrap();
            let contents = doc.add_object(Stream::new(dictionary! {}, b"/X Do".to_vec()));
            let page = doc.get_object_mut(page).unwrap().as_dict_mut().unwrap();
            page.set("Contents", contents);
            page.set(
                "Resources",
                dictionary! { "XObject" => dictionary! { "X" => form_id } },
            );
        });
        let err = parse(&bytes).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Corrupt);
        assert!(err.message.contains("draws itself"), "{}", err.message);
    }

    #[test]
    fn a_parent_loop_is_cut() {
        let bytes = pdf_with(&["looped"], |doc| {
            // The page tree root names itself as its parent, and nothing has Resources
            // or MediaBox: pdf-extract would recurse forever looking for them.
            let root = doc
                .catalog()
                .unwrap()
                .get(b"Pages")
                .unwrap()
                .as_reference()
                .unwrap();
            let d = doc.get_object_mut(root).unwrap().as_dict_mut().unwrap();
            d.set("Parent", root);
            d.remove(b"MediaBox");
            d.remove(b"Resources");
        });
        // The text cannot be shown without a font, but nothing overflows.
        let r = parse(&bytes);
        assert!(
            matches!(&r, Err(e) if e.kind == ParseErrorKind::Corrupt) || r.is_ok(),
            "{r:?}"
        );
    }

    #[test]
    fn flate_bombs_are_too_large() {
        // 300 MB of zeros, deflated twice (a chain of two /FlateDecode filters).
        let bomb = include_bytes!("../../tests/fixtures/flate_bomb_300mb.zz").to_vec();
        let bytes = pdf_with(&["x"], |doc| {
            use lopdf::dictionary;
            doc.add_object(Stream::new(
                dictionary! { "Filter" => vec!["FlateDecode".into(), "FlateDecode".into()] },
                bomb,
            ));
        });
        let err = parse(&bytes).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::TooLarge, "{}", err.message);
    }

    #[test]
    fn huge_predictor_rows_are_refused() {
        let mut bytes = pdf(&["x"]);
        bytes.extend_from_slice(b"\n% /DecodeParms << /Predictor 12 /Col#75mns 99999999999 >>\n");
        let err = parse(&bytes).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Corrupt);
        assert!(err.message.contains("/Columns"), "{}", err.message);
    }
}
