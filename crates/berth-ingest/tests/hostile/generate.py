#!/usr/bin/env python3
"""Generates the hostile-input corpus of berth-ingest's parsers.

Run from anywhere:  python3 generate.py   (needs `pypdf`, `cryptography` and
`msoffcrypto-tool` from PyPI, and the `zip` command, for the encrypted cases).

It rewrites every corpus file in this folder, `EXPECT` (what parsing each file must give,
read by tests/parsers.rs) and `README.md` (what each file is). The tests themselves need
none of this: they read the committed files. Output is deterministic except for the
encrypted files (random salts).
"""

import io
import os
import random
import subprocess
import sys
import tempfile
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
RNG = random.Random(20251127)
CASES = []  # (name, expect, substring, description)


def case(name, data, expect, description, substring=""):
    """Writes one corpus file. `expect` is the ParseErrorKind (snake_case) or `ok`."""
    assert len(data) < 200_000, (name, len(data))
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    CASES.append((name, expect, substring, description))


def rand(n):
    return bytes(RNG.getrandbits(8) for _ in range(n))


# --------------------------------------------------------------------------- empty files

for ext in ["txt", "md", "html", "csv", "json", "jsonl", "pdf", "docx"]:
    expect = {"pdf": "corrupt", "docx": "corrupt"}.get(ext, "empty")
    case(f"empty.{ext}", b"", expect, f"zero bytes named .{ext}")

# --------------------------------------------------------------------------- binary data

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00" + rand(400)
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00" + rand(600)
GZIP = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + rand(500)
case("binary_png.txt", PNG, "corrupt", "a PNG image named .txt", "binary data")
case("binary_elf.md", ELF, "corrupt", "an ELF executable named .md", "binary data")
case("binary_gzip.html", GZIP, "corrupt", "gzip data named .html", "binary data")
case("binary_random.csv", rand(2000), "corrupt", "random bytes named .csv", "binary data")
case("binary_png.json", PNG, "corrupt", "a PNG image named .json", "binary data")
case("binary_random.jsonl", rand(1500), "corrupt", "random bytes named .jsonl", "binary data")
ctrl = bytes(RNG.choice(list(range(1, 9)) + list(range(14, 27))) for _ in range(3000))
case("control_chars.txt", ctrl, "corrupt",
     "3,000 control characters and no NUL byte", "binary data")

# --------------------------------------------------------------------------- text

case("invalid_utf8.txt",
     "Grüße aus Köln — ".encode() * 20 + b"\xff\xfe\xc3(" + "naïve café\n".encode() * 5,
     "ok", "UTF-8 with invalid byte sequences in the middle (decoded with U+FFFD)")
case("latin1.txt", "Le café de la gare était fermé à Noël. Déjà vu!\n".encode("cp1252") * 10,
     "ok", "windows-1252 text without any marker (the encoding is guessed)")
case("utf16le_bom.txt", "\ufeffUTF-16 little endian with a BOM.\n".encode("utf-16-le") * 5,
     "ok", "UTF-16LE with a byte-order mark")
case("utf16be_nobom.txt", "UTF-16 big endian without any BOM at all.\n".encode("utf-16-be") * 5,
     "ok", "UTF-16BE without a byte-order mark")
case("whitespace_only.txt", b" \n\t\r\n   \n" * 100, "empty", "only whitespace")
case("nul_after_8k.txt", b"plain text line\n" * 600 + b"\x00 late NUL\n", "ok",
     "text with a NUL byte past the first 8,000 bytes (the NUL is dropped)")
case("long_line.txt", b"word " * 4_000, "ok", "one 20 KB line (a 100 MB line is generated at test time)")

# --------------------------------------------------------------------------- markdown

case("front_matter_malformed.md", b"---\ntitle: [unclosed\nacl: {users: [\n---\n# Body\n",
     "corrupt", "YAML front matter that is not valid YAML", "front matter")
case("front_matter_bad_acl.md", b"---\ntitle: Doc\nacl:\n  user: [ann]\n---\n# Body\n\ntext\n",
     "corrupt", "front matter whose acl has an unknown key (`user`)", "front matter")
case("front_matter_only.md", b"---\ntitle: Nothing else\n---\n", "empty",
     "front matter and no body")
laughs = ["---", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
for i, (x, y) in enumerate(zip("bcdefghij", "abcdefghi")):
    laughs.append(f"{x}: &{x} [*{y},*{y},*{y},*{y},*{y},*{y},*{y},*{y},*{y}]")
laughs += ["title: *j", "---", "body"]
case("front_matter_alias_bomb.md", "\n".join(laughs).encode(), "corrupt",
     "a YAML 'billion laughs' alias bomb in the front matter", "front matter")
case("unclosed_fence.md", b"# Code\n\n```python\n" + b"print('never closed')\n" * 500, "ok",
     "a fenced code block that never closes")
case("deep_blockquote.md", b">" * 100_000 + b" deep\n", "ok", "100,000 nested block quotes")
case("deep_list.md", b"".join(b"  " * i + b"- item\n" for i in range(300)), "ok",
     "a list nested 300 levels deep")
case("many_brackets.md", b"[" * 60_000 + b"x" + b"](" * 30_000, "ok",
     "60,000 unclosed link brackets")
case("emphasis_storm.md", b"*_" * 60_000 + b"text", "ok", "120,000 unmatched emphasis markers")

# --------------------------------------------------------------------------- html

case("deep_divs.html", b"<html><body>" + b"<div>" * 38_000 + b"deep text", "ok",
     "38,000 nested, never closed <div>s (100,000 closed ones are generated at test time)")
case("deep_inline.html", b"<p>" + b"<b><i>" * 16_000 + b"bold", "ok",
     "32,000 nested unclosed <b><i> formatting elements")
case("deep_tables.html", b"<table><tr><td>" * 8_000 + b"cell", "ok", "tables nested 8,000 deep")
case("only_chrome.html",
     b"<html><head><title></title><script>var a = '<p>not text</p>';</script><style>p{}</style></head>"
     b"<body><nav><a href=/>Home</a></nav><header>Banner</header><aside>ad</aside>"
     b"<footer>(c)</footer><noscript>enable js</noscript><template><p>t</p></template></body></html>",
     "empty", "nothing but script, style, nav, header, aside, footer, noscript, template")
case("tag_soup.html",
     b"<p>one<p>two<li>three</td></tr><b><i>four</b></i><table><p>five<tr><td>six"
     b"<!-- unterminated comment <p>seven", "ok", "unclosed and misnested tags")
case("meta_charset_lie.html",
     b'<meta charset="utf-16"><p>UTF-8 text that claims to be UTF-16: caf\xc3\xa9</p>', "ok",
     "a page that declares UTF-16 but is UTF-8")
case("attribute_flood.html", b"<div " + b'a="x" ' * 25_000 + b">text</div>", "ok",
     "one element with 25,000 attributes")

# --------------------------------------------------------------------------- csv

case("ragged.csv", b"name,city,age\nAnn,Paris\nBob,Rome,40,extra,more\n\nCy\n", "ok",
     "rows shorter and longer than the header, and a blank line")
case("header_only.csv", b"name,city,age\n", "empty", "a header and no rows")
case("unbalanced_quote.csv", b'a,b\n1,"never closed\n2,3\n' * 50, "ok",
     "a quote that never closes (it swallows the rest of the file as one cell)")
case("semicolons.csv", "nom;ville\nAnné;Lyon\nLuc;Nice\n".encode("cp1252"), "ok",
     "semicolon-separated windows-1252 CSV")
hdr = ",".join("h%03d" % i + "x" * 1000 for i in range(100)).encode() + b"\n"
case("header_amplification.csv", hdr + (b"1," * 100 + b"\n") * 400, "too_large",
     "long headers and many tiny rows: rendering repeats the header for every cell",
     "would produce more than")

# --------------------------------------------------------------------------- json / jsonl

case("nesting_bomb_array.json", b"[" * 10_000 + b"]" * 10_000, "corrupt",
     "arrays nested 10,000 deep", "nested too deeply")
case("nesting_bomb_object.json", b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "corrupt",
     "objects nested 5,000 deep", "nested too deeply")
case("truncated.json", b'[{"id": 1, "name": "ok"}, {"id": 2, "na', "corrupt",
     "a JSON array cut in the middle", "not valid JSON")
case("huge_number.json", b'{"n": 1e99999999999}', "corrupt", "a number out of range",
     "not valid JSON")
case("empty_array.json", b"[]", "empty", "an empty array")
case("utf16_bom.json", '\ufeff[{"q": "utf-16 json"}]'.encode("utf-16-le"), "ok",
     "JSON in UTF-16LE with a BOM")
v = "[" + ",".join(['{"a":0}'] * 6_000) + "]"
for _ in range(30):
    v = '{"' + "k" * 1000 + '":' + v + "}"
case("key_amplification.json", v.encode(), "too_large",
     "a long key path repeated for 6,000 leaves", "would produce more than")
case("bad_line.jsonl", b'{"q": 1}\n{"q": 2}\n{"q": oops}\n{"q": 4}\n', "corrupt",
     "the third line is not JSON", "line 3 is not valid JSON")
case("nesting_bomb.jsonl", b'{"ok": true}\n' + b"[" * 50_000 + b"\n", "corrupt",
     "the second line nests 50,000 deep", "line 2: JSON nested too deeply")
case("blank_lines.jsonl", b"\n\n   \n\r\n" * 100, "empty", "only blank lines")

# --------------------------------------------------------------------------- docx

W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
CT = (b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
      b'package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/'
      b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')


def document_xml(body):
    return b'<?xml version="1.0" encoding="UTF-8"?><w:document ' + W + b"><w:body>" + body + b"</w:body></w:document>"


def para(text, style=None):
    ppr = b'<w:pPr><w:pStyle w:val="%s"/></w:pPr>' % style if style else b""
    return b"<w:p>" + ppr + b"<w:r><w:t>" + text + b"</w:t></w:r></w:p>"


def docx(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data, compresslevel=9)
    return buf.getvalue()


GOOD_BODY = para(b"Report", b"Title") + para(b"Intro", b"Heading1") + para(b"Body text.")
GOOD_DOCX = docx([("[Content_Types].xml", CT), ("word/document.xml", document_xml(GOOD_BODY))])
case("valid_control.docx", GOOD_DOCX, "ok", "a small valid .docx (control)")
case("not_a_zip.docx", b"This is plain text pretending to be a Word document.\n" * 20, "corrupt",
     "plain text named .docx", "not a .docx file")
case("zip_without_document.docx", docx([("[Content_Types].xml", CT), ("word/other.xml", b"<x/>")]),
     "corrupt", "a zip with no word/document.xml", "no word/document.xml")
case("truncated.docx", GOOD_DOCX[: len(GOOD_DOCX) // 2], "corrupt",
     "a valid .docx cut in half (no central directory)", "not a .docx file")
case("malformed_xml.docx",
     docx([("word/document.xml", document_xml(b"<w:p><w:r><w:t>unclosed</w:r></w:p>"))]),
     "corrupt", "document.xml with mismatched tags", "not valid XML")
big = document_xml(para(b"a" * (150 << 20)))
case("zip_bomb.docx", docx([("[Content_Types].xml", CT), ("word/document.xml", big)]), "too_large",
     "document.xml expands to 150 MB (cap: 100 MB), ~150 KB on disk", "zip bomb")
styles_bomb = b'<w:styles ' + W + b'>' + b" " * (120 << 20) + b"</w:styles>"
case("styles_bomb.docx",
     docx([("word/document.xml", document_xml(GOOD_BODY)), ("word/styles.xml", styles_bomb)]),
     "too_large", "a small document.xml and a styles.xml expanding to 120 MB", "zip bomb")


def lie_about_sizes(data, name, size):
    """Rewrites the uncompressed size of entry `name` in local and central headers."""
    data = bytearray(data)
    nb = name.encode()
    i = 0
    while True:
        i = data.find(b"PK\x03\x04", i)
        if i < 0:
            break
        n = int.from_bytes(data[i + 26:i + 28], "little")
        if data[i + 30:i + 30 + n] == nb:
            data[i + 22:i + 26] = size.to_bytes(4, "little")
        i += 4
    i = 0
    while True:
        i = data.find(b"PK\x01\x02", i)
        if i < 0:
            break
        n = int.from_bytes(data[i + 28:i + 30], "little")
        if data[i + 46:i + 46 + n] == nb:
            data[i + 24:i + 28] = size.to_bytes(4, "little")
        i += 4
    return bytes(data)


case("zip_bomb_lying_size.docx",
     lie_about_sizes(docx([("word/document.xml", big)]), "word/document.xml", 4096),
     "corrupt", "the same bomb, declaring 4 KB: zip stops at the declared size and the CRC fails",
     "cannot be read")
lol = b'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY lol "lol">'
for i in range(1, 10):
    prev = b"&lol;" if i == 1 else b"&lol%d;" % (i - 1)
    lol += b'<!ENTITY lol%d "%s">' % (i, prev * 10)
lol += b"]><w:document " + W + b"><w:body>" + para(b"&lol9;") + para(b"after") + b"</w:body></w:document>"
case("xml_entity_bomb.docx", docx([("word/document.xml", lol)]), "ok",
     "a 'billion laughs' DTD in document.xml (entities are not expanded)")
deep = document_xml(b"<w:p>" + b"<w:r>" * 40_000 + b"<w:t>deep</w:t>" + b"</w:r>" * 40_000 + b"</w:p>")
case("deep_xml.docx", docx([("word/document.xml", deep)]), "ok", "runs nested 40,000 deep")
OLE = bytes.fromhex("D0CF11E0A1B11AE1")
case("old_word.docx", OLE + bytes(504) + rand(1000), "corrupt",
     "an OLE compound file (old .doc) named .docx", "old-style Word")

with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "in.docx")
    with open(src, "wb") as f:
        f.write(GOOD_DOCX)
    out = os.path.join(tmp, "out.docx")
    subprocess.run(["msoffcrypto-tool", "-e", "-p", "secret", src, out], check=True)
    with open(out, "rb") as f:
        case("encrypted_password.docx", f.read(), "encrypted",
             "a password-protected .docx (Word's encryption: an OLE file)", "password-protected")
    d = os.path.join(tmp, "d")
    os.makedirs(os.path.join(d, "word"))
    with open(os.path.join(d, "word", "document.xml"), "wb") as f:
        f.write(document_xml(GOOD_BODY))
    subprocess.run(["zip", "-q", "-X", "-P", "secret", "-r", os.path.join(tmp, "z.docx"), "word"],
                   cwd=d, check=True)
    with open(os.path.join(tmp, "z.docx"), "rb") as f:
        case("zipcrypto_entry.docx", f.read(), "encrypted",
             "a zip whose document.xml is ZipCrypto-encrypted", "encrypted")

# --------------------------------------------------------------------------- pdf


def stream(dict_inner, data, length=None):
    length = len(data) if length is None else length
    return b"<<" + dict_inner + b" /Length %d>>\nstream\n" % length + data + b"\nendstream"


def build_pdf(objs, root=1, extra_trailer=b"", version=b"1.7"):
    out = bytearray(b"%PDF-" + version + b"\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num in sorted(objs):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objs[num] + b"\nendobj\n"
    size = max(objs) + 1
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for n in range(1, size):
        out += b"%010d 00000 n \n" % offsets[n] if n in offsets else b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root %d 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, extra_trailer, xref)
    return bytes(out)


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def text_content(text):
    return b"BT /F1 12 Tf 72 720 Td (" + text + b") Tj ET"


def simple_pdf(pages=(b"Hello hostile world",), page_extra=b"", pages_extra=b"", objs_extra=None,
               resources=b"<< /Font << /F1 3 0 R >> >>", contents=None, media_box=b" /MediaBox [0 0 612 792]",
               length=None, content_dict=b""):
    objs = {1: b"<< /Type /Catalog /Pages 2 0 R >>", 3: FONT}
    kids = []
    n = 10
    for i, text in enumerate(pages):
        page, content = n, n + 1
        n += 2
        kids.append(b"%d 0 R" % page)
        objs[page] = (b"<< /Type /Page /Parent 2 0 R" + media_box + b" /Resources " + resources
                      + b" /Contents %d 0 R" % content + page_extra + b" >>")
        objs[content] = stream(content_dict, contents[i] if contents else text_content(text), length)
    objs[2] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d" % len(kids) + pages_extra + b" >>"
    objs.update(objs_extra or {})
    return build_pdf(objs)


VALID = simple_pdf([b"Page one of a valid document.", b"Page two.", b"Page three, the last."])
case("valid_control.pdf", VALID, "ok", "a small valid 3-page PDF (control)")
case("not_a_pdf.pdf", b"Just text, no PDF header.\n" * 10, "corrupt", "text named .pdf", "no %PDF header")
case("header_only.pdf", b"%PDF-1.7\n", "corrupt", "only the %PDF header", "cannot be read")
case("truncated_half.pdf", VALID[: len(VALID) // 2], "corrupt",
     "a valid PDF cut in half (no xref, no trailer)")
case("truncated_before_eof.pdf", VALID[: VALID.rfind(b"trailer")], "corrupt",
     "a valid PDF cut just before its trailer")
case("startxref_wrong.pdf", VALID.replace(b"startxref\n", b"startxref\n1"), "corrupt",
     "startxref points past the end of the file", "cannot be read")
case("broken_xref.pdf", VALID.replace(b" 00000 n ", b" 00000 q ").replace(b"xref\n0", b"xref\n9"),
     "corrupt", "an unparseable cross-reference table")
bad_offsets = bytearray(VALID)
xref_at = VALID.rfind(b"xref\n")
entries_at = VALID.index(b"\n", xref_at + 5) + 1
for k in range(5):
    pos = entries_at + 20 * (k + 1)
    bad_offsets[pos:pos + 10] = b"%010d" % (7 + k * 3)
case("wrong_xref_offsets.pdf", bytes(bad_offsets), "ok",
     "cross-reference offsets that point into the middle of other objects (the reader recovers)")
case("huge_length.pdf", simple_pdf(length=99999999999), "empty",
     "the content stream declares /Length 99999999999: the reader drops it, so no text")
case("invalid_content.pdf",
     simple_pdf(contents=[b"BT /F1 12 Tf (unclosed string Tj ET q q q Q cm [[[[ <<>> 1 2 3 re f BT ET"]),
     "empty", "a content stream of garbage operators: no text")
case("no_pages.pdf", build_pdf({1: b"<< /Type /Catalog /Pages 2 0 R >>",
                                2: b"<< /Type /Pages /Kids [] /Count 0 >>"}), "corrupt",
     "a page tree with no pages", "no pages")
case("page_count_lie.pdf", simple_pdf(pages_extra=b" /Count 100"), "corrupt",
     "one page, but /Count claims 100", "lists 100 pages but only 1")


def deep_page_tree(levels):
    """One page under `levels` nested /Pages nodes; the font and media box are on the root."""
    tree = {1: b"<< /Type /Catalog /Pages 2 0 R >>", 3: FONT}
    tree[2] = (b"<< /Type /Pages /Kids [100 0 R] /Count 1 /MediaBox [0 0 612 792]"
               b" /Resources << /Font << /F1 3 0 R >> >> >>")
    for lvl in range(levels):
        node = 100 + lvl
        tree[node] = b"<< /Type /Pages /Kids [%d 0 R] /Count 1 /Parent %d 0 R >>" % (node + 1, node - 1 if lvl else 2)
    page = 100 + levels
    tree[page] = b"<< /Type /Page /Parent %d 0 R /Contents %d 0 R >>" % (page - 1, page + 1)
    tree[page + 1] = stream(b"", text_content(b"deep"))
    return build_pdf(tree)


case("deep_page_tree.pdf", deep_page_tree(300), "ok",
     "a page 300 levels down the page tree, inheriting its font and media box from the root")
case("deeper_page_tree.pdf", deep_page_tree(1500), "ok",
     "a page 1,500 levels down the page tree (pdf-extract recurses once per level)")
case("parent_loop.pdf",
     simple_pdf(pages_extra=b" /Parent 2 0 R", media_box=b""),
     "ok", "the page tree root is its own /Parent and no page has a /MediaBox: "
     "pdf-extract would recurse forever (stack overflow) looking for one")
case("missing_mediabox.pdf", simple_pdf(media_box=b" /MediaBox [0 0 612]"), "ok",
     "pages whose /MediaBox has three numbers (pdf-extract would panic; a default is used)")
case("dangling_font.pdf", simple_pdf(resources=b"<< /Font << /F1 99 0 R >> >>"), "corrupt",
     "the font is a reference to an object that does not exist: pdf-extract panics",
     "crashed")
case("do_without_xobjects.pdf", simple_pdf(contents=[b"/X1 Do " + text_content(b"after")]),
     "corrupt", "draws /X1 with no /XObject resources: pdf-extract panics", "crashed")
XRES = b"<< /Font << /F1 3 0 R >> /XObject << /X 20 0 R >> >>"
case("xobject_self_loop.pdf",
     simple_pdf(resources=XRES, contents=[b"/X Do"],
                objs_extra={20: stream(b"/Type /XObject /Subtype /Form /BBox [0 0 10 10]", b"/X Do")}),
     "corrupt", "a form XObject that draws itself: pdf-extract would overflow the stack",
     "draws itself")
case("xobject_mutual_loop.pdf",
     simple_pdf(resources=XRES, contents=[b"/X Do"], objs_extra={
         20: stream(b"/Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /Y 21 0 R >> >>", b"/Y Do"),
         21: stream(b"/Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /Z 20 0 R >> >>", b"/Z Do"),
     }), "corrupt", "two form XObjects that draw each other", "draws itself")
fan = {}
for lvl in range(24):
    nxt = b" /Resources << /XObject << /N %d 0 R >> >>" % (21 + lvl) if lvl < 23 else b" /Resources << /Font << /F1 3 0 R >> >>"
    body = b"/N Do /N Do" if lvl < 23 else text_content(b"leaf")
    fan[20 + lvl] = stream(b"/Type /XObject /Subtype /Form /BBox [0 0 10 10]" + nxt, body)
case("xobject_fanout.pdf",
     simple_pdf(resources=b"<< /Font << /F1 3 0 R >> /XObject << /N 20 0 R >> >>", contents=[b"/N Do"], objs_extra=fan),
     "corrupt", "24 form XObjects each drawing the next twice: 16 million draws", "times over")
chain = {}
for lvl in range(40):
    nxt = b" /Resources << /XObject << /N %d 0 R >> >>" % (21 + lvl) if lvl < 39 else b""
    chain[20 + lvl] = stream(b"/Type /XObject /Subtype /Form /BBox [0 0 10 10]" + nxt, b"/N Do" if lvl < 39 else b"")
case("xobject_deep_chain.pdf",
     simple_pdf(resources=b"<< /XObject << /N 20 0 R >> >>", contents=[b"/N Do"], objs_extra=chain),
     "corrupt", "form XObjects nested 40 deep", "more than 32 deep")
image_loop = stream(b"/Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray /BitsPerComponent 8",
                    b"/X Do")
case("image_draws_itself.pdf",
     simple_pdf(resources=XRES, contents=[b"/X Do " + text_content(b"after the image")],
                objs_extra={20: image_loop}),
     "ok", "an image whose pixel data reads as '/X Do': pdf-extract would run it as content, "
     "drawing itself forever; images are emptied first")
inner = zlib.compress(b"\0" * (300 << 20), 9)
double = zlib.compress(inner, 9)
case("flate_bomb.pdf",
     simple_pdf(objs_extra={20: stream(b"/Filter [/FlateDecode /FlateDecode]", double)}), "too_large",
     "a stream deflated twice that expands to 300 MB (cap 256 MB), 1 KB on disk", "decompression bomb")
case("flate_bomb_content.pdf",
     simple_pdf(contents=[double], content_dict=b"/Filter [/FlateDecode /FlateDecode]"),
     "too_large", "the page's own content stream is the 300 MB double-deflate bomb", "decompression bomb")


def lzw_encode_zeros(n):
    """PDF LZW (early change) of n zero bytes: runs of 1, 2, 3, ... zeros, one code each."""
    out, acc, nbits = bytearray(), 0, 0
    width = 9
    def emit(code):
        nonlocal acc, nbits
        acc = (acc << width) | code
        nbits += width
        while nbits >= 8:
            nbits -= 8
            out.append((acc >> nbits) & 0xFF)
        acc &= (1 << nbits) - 1
    emit(256)
    done, emissions = 0, 0
    while done < n:
        dec_next = 258 + max(emissions - 1, 0)
        run = emissions + 1
        length = min(run, n - done)
        code = 0 if length == 1 else 258 + length - 2
        if length > 1 and code > dec_next:
            length, code = 1, 0
        emit(code)
        done += length
        emissions += 1
        dec_next = 258 + emissions - 1
        if dec_next + 1 >= (1 << width) and width < 12:
            width += 1
        if dec_next + 2 >= 4096:
            emit(256)
            width, emissions = 9, 0
    emit(257)
    if nbits:
        out.append((acc << (8 - nbits)) & 0xFF)
    return bytes(out)


lzw = lzw_encode_zeros(300 << 20)
case("lzw_bomb.pdf",
     simple_pdf(objs_extra={20: stream(b"/Filter [/FlateDecode /LZWDecode]", zlib.compress(lzw, 9))}),
     "too_large", "an LZW stream (inside a deflate layer) expanding to 300 MB", "decompression bomb")
case("predictor_huge_columns.pdf",
     simple_pdf(contents=[zlib.compress(b"\x02" + bytes(100))],
                content_dict=b"/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 4000000000 >>"),
     "corrupt", "the page content's PNG predictor has /Columns 4000000000 (lopdf would allocate two 4 GB rows)",
     "/Columns 4000000000")
nested = b"[" * 50_000 + b"]" * 50_000
case("nested_arrays.pdf", simple_pdf(objs_extra={20: nested}), "ok",
     "an object of arrays nested 50,000 deep (skipped by the reader's depth limit)")
case("ref_cycle.pdf",
     simple_pdf(resources=b"30 0 R", objs_extra={30: b"31 0 R", 31: b"30 0 R"}), "corrupt",
     "resources that are a reference cycle (30 -> 31 -> 30): no font, pdf-extract panics",
     "crashed (Font)")
case("many_q.pdf", simple_pdf(contents=[b"q " * 30_000 + text_content(b"after the stack")]), "ok",
     "30,000 unbalanced 'q' (save graphics state) operators")

# Encrypted, with pypdf.
from pypdf import PdfReader, PdfWriter  # noqa: E402


def encrypt(user, owner, algorithm):
    w = PdfWriter(clone_from=PdfReader(io.BytesIO(VALID)))
    w.encrypt(user_password=user, owner_password=owner, algorithm=algorithm)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


case("encrypted_rc4.pdf", encrypt("secret", "owner", "RC4-128"), "encrypted",
     "RC4-128 encryption with a user password", "encrypted")
case("encrypted_aes128.pdf", encrypt("secret", "owner", "AES-128"), "encrypted",
     "AES-128 encryption with a user password", "encrypted")
case("encrypted_aes256.pdf", encrypt("secret", "owner", "AES-256"), "encrypted",
     "AES-256 encryption with a user password", "encrypted")
case("encrypted_empty_user_password.pdf", encrypt("", "owner", "AES-128"), "ok",
     "AES-128 with an empty user password (opens without asking: it is read)")

# --------------------------------------------------------------------------- EXPECT, README

total = 0
with open(os.path.join(HERE, "EXPECT"), "w") as f:
    f.write("# file<TAB>expected (ok or a ParseErrorKind)<TAB>text the error message must contain\n")
    f.write("# Generated by generate.py; tests/parsers.rs checks every file against it.\n")
    for name, expect, sub, _ in CASES:
        f.write(f"{name}\t{expect}\t{sub}\n")
        total += os.path.getsize(os.path.join(HERE, name))
with open(os.path.join(HERE, "README.md"), "w") as f:
    f.write("# Hostile inputs for berth-ingest's parsers\n\n")
    f.write(f"{len(CASES)} files, {total / 1024:.0f} KB in all, written by `generate.py` (run it to "
            "regenerate; it needs `pypdf`, `cryptography` and `msoffcrypto-tool` from PyPI and the "
            "`zip` command). `EXPECT` says what parsing each must give; `tests/parsers.rs` parses "
            "every file with `parse_contained` and default options and checks it. Larger cases "
            "(100,000 nested `<div>`s, a 100 MB line, a .docx with 20,000 entries) are generated "
            "by that test at run time.\n\n")
    f.write("| file | expected | what it is |\n|---|---|---|\n")
    for name, expect, sub, desc in CASES:
        f.write(f"| `{name}` | {expect} | {desc} |\n")
print(f"{len(CASES)} files, {total} bytes", file=sys.stderr)
