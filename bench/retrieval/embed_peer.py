#!/usr/bin/env python3
"""Embedding throughput of sentence-transformers (all-MiniLM-L6-v2) on CPU.

Reads texts from a JSONL file (the "text" field of each line, e.g. a BEIR corpus), warms
the model up on 64 texts, then times one
    model.encode(texts, batch_size=bs, normalize_embeddings=True)
call (which sorts the texts by length before batching) and prints one JSON line:
    {"engine": "sentence-transformers", "version": ..., "texts": n, "batch_size": bs,
     "seconds": s, "per_second": n / s, ...}
berth's embed_throughput example prints the same shape with "engine": "berth".

Usage: embed_peer.py --texts ../shared/eval/msmarco-5k/corpus.jsonl [--limit 2000]
                     [--batch-size 32] [--threads N] [--model-dir .models/all-MiniLM-L6-v2]
"""

import argparse
import json
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser(description="Embedding throughput of sentence-transformers on CPU.")
    ap.add_argument("--texts", required=True, help="JSONL file with a \"text\" field per line")
    ap.add_argument("--limit", type=int, default=2000, help="number of texts to embed (first N lines)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    ap.add_argument("--model-dir", default=".models/all-MiniLM-L6-v2")
    args = ap.parse_args()

    texts = []
    with open(args.texts, encoding="utf-8") as f:
        for line in f:
            if len(texts) >= args.limit:
                break
            if line.strip():
                texts.append(json.loads(line)["text"])
    if not texts:
        sys.exit(f"no texts in {args.texts}")

    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    model = SentenceTransformer(args.model_dir, device="cpu")
    model.encode(texts[:64], batch_size=args.batch_size, normalize_embeddings=True, show_progress_bar=False)

    t0 = time.perf_counter()
    vectors = model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True, show_progress_bar=False)
    seconds = time.perf_counter() - t0
    assert len(vectors) == len(texts)

    print(json.dumps({
        "engine": "sentence-transformers",
        "version": sentence_transformers.__version__,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "texts": len(texts),
        "batch_size": args.batch_size,
        "seconds": round(seconds, 3),
        "per_second": round(len(texts) / seconds, 1),
    }))


if __name__ == "__main__":
    main()
