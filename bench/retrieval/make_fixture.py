#!/usr/bin/env python3
"""Writes the reference vectors that berth-models' embedder tests compare against.

The vectors come from sentence-transformers (the reference implementation of
all-MiniLM-L6-v2: WordPiece tokenizer, BERT encoder, mean pooling over the attention
mask, L2 normalisation, truncation at max_seq_length = 256 word pieces) on CPU, for a
set of texts chosen to stress an embedder: short and long English, a passage longer than
the 256-piece window, Chinese, Japanese, Korean, Arabic, emoji, source code, accents and
case, near-empty whitespace, URLs, numbers and repeated punctuation.

Usage: make_fixture.py [--model-dir .models/all-MiniLM-L6-v2]
                       [--out crates/berth-models/tests/fixtures/minilm_reference.json]
"""

import argparse
import json
import os
import sys

LONG_PASSAGE = (
    "The history of the lighthouse begins in antiquity, when fires were lit on hilltops "
    "to guide ships toward harbours at night. The Pharos of Alexandria, completed in the "
    "third century BC, stood more than one hundred metres tall and was counted among the "
    "seven wonders of the ancient world. Roman engineers built towers along the coasts of "
    "their empire, from Dover to the mouth of the Tagus, and some of them were still in use "
    "a thousand years later. In the eighteenth century, oil lamps with polished reflectors "
    "replaced open fires, and in 1822 Augustin Fresnel presented a lens made of concentric "
    "rings of glass prisms that bent the light into a narrow, intense beam visible for more "
    "than twenty nautical miles. Fresnel lenses were graded into orders by their focal "
    "length, the first order being the largest and used for seacoast lights, the sixth "
    "the smallest and used in harbours. Keepers lived at the stations with their families, "
    "trimming wicks, winding the clockwork that turned the lens, and recording the weather "
    "in logbooks every four hours. Electrification arrived at the end of the nineteenth "
    "century, and by the middle of the twentieth most lights had been automated, their "
    "keepers withdrawn, and their towers maintained by periodic visits. Today satellite "
    "navigation has made many lights redundant, yet thousands remain in service as aids to "
    "navigation, and many more have been preserved as museums, holiday cottages or simply "
    "as landmarks that coastal communities refuse to let go. Their characteristic flashes, "
    "listed in official light lists, still let a navigator identify a headland at night: "
    "one long flash every ten seconds, two short flashes every fifteen, a fixed red sector "
    "over a dangerous shoal. The engineering of the towers themselves is remarkable. On "
    "wave-swept rocks such as Eddystone or Bell Rock, builders dovetailed granite blocks "
    "into one another so that the tower behaved as a single monolith, and they worked only "
    "at low tide in calm weather, sometimes for a few hours a week. Robert Stevenson's "
    "Bell Rock lighthouse, lit in 1811, is the oldest surviving sea-washed lighthouse and "
    "still shines today, more than two centuries after its keepers first climbed its stairs."
)

TEXTS = [
    # Short and ordinary English.
    "hello",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "what is the boiling point of water at sea level",
    "causes of left ventricular hypertrophy",
    "How do I reset my password if I no longer have access to my email?",
    "A man is playing a guitar.",
    "A woman is slicing an onion in the kitchen.",
    "Rust is a systems programming language focused on safety, speed and concurrency.",
    "The mitochondria is the powerhouse of the cell.",
    # Longer English, under the window.
    "Photosynthesis is the process by which green plants and some other organisms use "
    "sunlight to synthesise foods from carbon dioxide and water. Photosynthesis in plants "
    "generally involves the green pigment chlorophyll and generates oxygen as a by-product.",
    "The Treaty of Westphalia, signed in 1648, ended the Thirty Years' War and established "
    "the principle of state sovereignty that still shapes international relations. It "
    "recognised the independence of the Dutch Republic and the Swiss Confederation.",
    # Longer than 256 word pieces: the reference truncates at 256.
    LONG_PASSAGE,
    # The same passage twice: identical first 256 pieces, so the same vector as above.
    LONG_PASSAGE + " " + LONG_PASSAGE,
    # Case and accents.
    "APPLE",
    "apple",
    "Apple",
    "café résumé naïve façade",
    "cafe resume naive facade",
    "Ångström, Øresund, Straße, Ærø, Ñandú",
    "ÉCOLE NORMALE SUPÉRIEURE",
    "Crème brûlée à la française",
    # Chinese, Japanese, Korean.
    "我喜欢在周末去公园散步。",
    "北京是中华人民共和国的首都。",
    "東京は日本の首都です。",
    "ひらがなとカタカナと漢字を混ぜた文章です。",
    "서울은 대한민국의 수도입니다.",
    "안녕하세요, 만나서 반갑습니다.",
    # Arabic, Hebrew, Cyrillic, Greek, Devanagari, Thai.
    "مرحبا بالعالم",
    "القاهرة هي عاصمة جمهورية مصر العربية.",
    "שלום עולם",
    "Москва — столица России.",
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "नमस्ते दुनिया",
    "สวัสดีชาวโลก",
    # Emoji and symbols.
    "I love pizza 🍕🍕🍕",
    "🚀✨🔥",
    "👨‍👩‍👧‍👦 family emoji with zero-width joiners",
    "Flags: 🇫🇷 🇯🇵 🇧🇷",
    "™ © ® § ¶ † ‡ • … ‰ € £ ¥",
    # Code.
    "fn main() { println!(\"Hello, world!\"); }",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)",
    "SELECT id, name FROM users WHERE created_at > NOW() - INTERVAL '7 days';",
    "const x = arr.map((v, i) => v * i).filter(Boolean);",
    "<div class=\"container\"><p>Hello &amp; welcome</p></div>",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}",
    # Whitespace and near-empty text.
    "",
    " ",
    "   \t\n  ",
    "\n\nleading and trailing newlines\n\n",
    "multiple     spaces\tand\ttabs   between    words",
    "a",
    ".",
    # URLs, e-mail, paths.
    "https://www.example.com/path/to/page?query=rust&lang=en#section-2",
    "Contact us at support@example.org or visit http://example.org.",
    "/usr/local/bin/python3 --version",
    # Numbers.
    "3.14159265358979323846",
    "Call 555-0123 before 10:30 on 2024-03-15.",
    "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20",
    "The price rose from $1,234.56 to $9,876.54 (+700%).",
    # Repeated punctuation and characters.
    "!!!!!!!!!!!!!!!!!!!!",
    "Wait... what?!?! Really???",
    "-----=====-----=====-----",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    # Mixed scripts in one text.
    "Rust (プログラミング言語) は安全性を重視する — a language loved by 开发者 🦀",
]


def significant(x, digits=7):
    return float(f"{x:.{digits - 1}e}")


def dumps_one_per_line(doc):
    """JSON with one text and one vector per line, so that changes read well in a diff."""
    lines = ["{"]
    for key, value in doc.items():
        if isinstance(value, list):
            items = [json.dumps(v, ensure_ascii=False, separators=(",", ":")) for v in value]
            lines.append(f"  {json.dumps(key)}: [")
            lines.extend(f"    {item}," for item in items[:-1])
            lines.append(f"    {items[-1]}")
            lines.append("  ],")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
    lines[-1] = lines[-1].rstrip(",")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", default=".models/all-MiniLM-L6-v2")
    ap.add_argument("--out", default="crates/berth-models/tests/fixtures/minilm_reference.json")
    args = ap.parse_args()

    import numpy
    import sentence_transformers
    import tokenizers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    if not os.path.isfile(os.path.join(args.model_dir, "model.safetensors")):
        sys.exit(f"no model in {args.model_dir}: run bench/fetch-model.sh first")
    model = SentenceTransformer(args.model_dir, device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    vectors = model.encode(TEXTS, batch_size=16, normalize_embeddings=True, convert_to_numpy=True)
    assert vectors.shape == (len(TEXTS), 384), vectors.shape

    n_pieces = len(model.tokenizer(LONG_PASSAGE)["input_ids"])
    assert n_pieces > 256, f"long passage has only {n_pieces} word pieces"

    generator = (
        f"bench/retrieval/make_fixture.py (sentence-transformers {sentence_transformers.__version__}, "
        f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}, "
        f"torch {torch.__version__}, numpy {numpy.__version__}, device cpu)"
    )
    doc = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "generator": generator,
        "max_seq_length": 256,
        "normalize": True,
        "texts": TEXTS,
        "vectors": [[significant(float(x)) for x in row] for row in vectors],
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(dumps_one_per_line(doc))
    print(f"{len(TEXTS)} texts (long passage: {n_pieces} word pieces) -> {args.out} "
          f"({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()
