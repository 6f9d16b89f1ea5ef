"""Writes N Markdown documents (deterministic) to DIR, for the ingestion benchmarks.

    python make_markdown.py DIR N
"""
import os
import random
import sys

WORDS = ("berth pipeline chunk index vector gateway model source document retrieval answer "
         "question cluster node memory latency token embed search policy access group staff "
         "report update delete change kubernetes compose container image driver cuda replica "
         "router fallback secret catalog contract binding health probe budget").split()


def paragraph(rng):
    sentences = []
    for _ in range(rng.randint(2, 6)):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 20))]
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences)


def document(rng, i):
    out = [f"# Document {i}: {rng.choice(WORDS)} {rng.choice(WORDS)}", ""]
    for s in range(rng.randint(2, 5)):
        out += [f"## Section {s + 1}", "", paragraph(rng), ""]
        if rng.random() < 0.3:
            out += ["- " + paragraph(rng) for _ in range(3)] + [""]
        if rng.random() < 0.2:
            out += ["```", "berth plan --json | jq .order", "```", ""]
        out += [paragraph(rng), ""]
    return "\n".join(out)


if __name__ == "__main__":
    root, n = sys.argv[1], int(sys.argv[2])
    rng = random.Random(42)
    for i in range(n):
        d = os.path.join(root, f"{i // 1000:02d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"doc{i:05d}.md"), "w") as f:
            f.write(document(rng, i))
