#!/usr/bin/env python3
"""Retrieval quality of berth beside its peers on a BEIR data set (default: msmarco-5k).

Peers, run here on the same files:
  bm25s                  BM25 ("lucene" variant, k1 = 1.2, b = 0.75), English stop words,
                         Snowball English stemmer (PyStemmer), top 100. These mirror berth's
                         keyword index: lowercase, English stop words, English stemmer,
                         BM25 k1 1.2 b 0.75.
  sentence-transformers  all-MiniLM-L6-v2 from the local model directory, normalised
                         embeddings, dot product (cosine), exact top 100, CPU.
  rrf(bm25s, st)         reciprocal rank fusion (k = 60) of the two top-100 lists above,
                         for reference beside berth's hybrid mode.

berth's results come from --berth-runs, written by berth's `beir` example:
  {"system": "berth",
   "runs": {"bm25": {"<qid>": [["<docid>", score], ...]}, "dense": {...}, "hybrid": {...}},
   "timings": {...}}

Metrics (standard BEIR / trec_eval definitions, one implementation for every system):
  nDCG@10     gain = graded qrels score (linear), discount log2(rank + 1), ideal DCG from
              all judged documents of the query.
  Recall@100  fraction of the query's judged-relevant documents (score >= 1) found in the
              top 100.
A run is ranked by score, descending, ties broken by document id, descending (as trec_eval
does). Both are averaged over the queries that have qrels; a query without results scores 0.

Documents are indexed as `title + " " + text` when the title is not empty, else `text`.

Targets checked:
  berth bm25 nDCG@10 within 0.01 of bm25s;
  berth dense nDCG@10 within 0.01 of sentence-transformers;
  berth hybrid nDCG@10 >= max(berth bm25, berth dense).
The exit status is 0 unless --strict is given and a target fails.

Usage:
  eval.py --berth-runs target/bench/berth-runs.json [--data ../shared/eval/msmarco-5k]
          [--model-dir .models/all-MiniLM-L6-v2] [--json OUT] [--strict]
  eval.py --write-peer-runs FILE     also write the peers' runs in the berth-runs format
  eval.py --peer-runs FILE           reuse peers' runs written earlier instead of running them
  eval.py --self-test                check the metric code and exit
"""

import argparse
import json
import math
import os
import platform
import sys
import time
from collections import defaultdict

TOP_K = 100
RRF_K = 60
BM25_K1 = 1.2
BM25_B = 0.75
ENCODE_BATCH = 32
MODES = ("bm25", "dense", "hybrid")
PEER_NAMES = {"bm25": "bm25s", "dense": "sentence-transformers", "hybrid": "rrf(bm25s, st)"}
TOLERANCE = 0.01


# ---------------------------------------------------------------- data


def load_beir(data_dir):
    corpus_ids, corpus_texts = [], []
    with open(os.path.join(data_dir, "corpus.jsonl"), encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            title = (d.get("title") or "").strip()
            text = d.get("text") or ""
            corpus_ids.append(str(d["_id"]))
            corpus_texts.append(f"{title} {text}" if title else text)
    queries = {}
    with open(os.path.join(data_dir, "queries.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                q = json.loads(line)
                queries[str(q["_id"])] = q["text"]
    qrels = defaultdict(dict)
    with open(os.path.join(data_dir, "qrels", "test.tsv"), encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            try:
                score = int(parts[2])
            except ValueError:  # header line
                continue
            qrels[parts[0]][parts[1]] = score
    return corpus_ids, corpus_texts, queries, dict(qrels)


# ---------------------------------------------------------------- metrics


def ranked(run_for_query):
    """[[docid, score], ...] -> docids ordered as trec_eval orders them."""
    seen = {}
    for docid, score in run_for_query:
        docid = str(docid)
        if docid not in seen:
            seen[docid] = float(score)
    return [d for d, _ in sorted(seen.items(), key=lambda x: (x[1], x[0]), reverse=True)]


def ndcg_at(qrel, docs, k=10):
    dcg = sum(qrel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(docs[:k]) if qrel.get(d, 0) > 0)
    ideal = sorted((g for g in qrel.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(qrel, docs, k=100):
    relevant = {d for d, g in qrel.items() if g >= 1}
    if not relevant:
        return 0.0
    return len(relevant.intersection(docs[:k])) / len(relevant)


def evaluate(run, qrels):
    """Mean nDCG@10 and Recall@100 over the queries with qrels."""
    ndcg, recall = [], []
    for qid, qrel in qrels.items():
        docs = ranked(run.get(qid, []))
        ndcg.append(ndcg_at(qrel, docs, 10))
        recall.append(recall_at(qrel, docs, 100))
    n = len(ndcg)
    return {"ndcg@10": sum(ndcg) / n, "recall@100": sum(recall) / n, "queries": n,
            "queries_with_results": sum(1 for q in qrels if run.get(q))}


def rrf(lists, k=RRF_K, top_k=TOP_K):
    """Reciprocal rank fusion of ranked docid lists (ranks start at 1)."""
    fused = defaultdict(float)
    for docs in lists:
        for rank, d in enumerate(docs, start=1):
            fused[d] += 1.0 / (k + rank)
    best = sorted(fused.items(), key=lambda x: (-x[1], x[0]))[:top_k]
    return [[d, s] for d, s in best]


def self_test():
    """Hand-computed checks of the metric and fusion code."""

    def close(a, b):
        return abs(a - b) < 1e-12

    qrels = {"q1": {"d1": 3, "d2": 2, "d3": 1, "d4": 0}}
    # Ranked: d3 (gain 1) at 1, d5 (unjudged) at 2, d1 (gain 3) at 3, d4 (judged 0) at 4.
    run = {"q1": [["d3", 0.9], ["d5", 0.8], ["d1", 0.7], ["d4", 0.6]]}
    # DCG = 1/log2(2) + 3/log2(4) = 1 + 1.5 = 2.5
    # IDCG = 3/log2(2) + 2/log2(3) + 1/log2(4) = 3.5 + 2/log2(3)
    expected_ndcg = 2.5 / (3.5 + 2 / math.log2(3))
    assert abs(expected_ndcg - 0.52500498938491) < 1e-13, expected_ndcg  # 2.5 / 4.76185950714
    m = evaluate(run, qrels)
    assert close(m["ndcg@10"], expected_ndcg), m
    assert close(m["recall@100"], 2 / 3), m  # d1 and d3 of {d1, d2, d3}; d4 (score 0) is not relevant

    # Ranking by score, not by list order; ties by docid descending (trec_eval).
    run = {"q1": [["d1", 0.5], ["d2", 0.5], ["d3", 1.0]]}
    assert ranked(run["q1"]) == ["d3", "d2", "d1"]
    # DCG = 1 + 2/log2(3) + 3/log2(4) = 2.5 + 2/log2(3)
    m = evaluate(run, qrels)
    assert close(m["ndcg@10"], (2.5 + 2 / math.log2(3)) / (3.5 + 2 / math.log2(3))), m  # 0.78999800...
    assert m["recall@100"] == 1.0, m

    # Cutoffs: a relevant document at rank 11 counts for Recall@100, not for nDCG@10;
    # one at rank 101 counts for neither.
    qrels = {"q1": {"r11": 1, "r101": 2}}
    docs = [f"x{i:03d}" for i in range(1, 101)]
    docs[10] = "r11"
    docs = docs + ["r101"]
    run = {"q1": [[d, 1000.0 - i] for i, d in enumerate(docs)]}
    m = evaluate(run, qrels)
    assert m["ndcg@10"] == 0.0 and m["recall@100"] == 0.5, m

    # Averaging over the queries with qrels; a query with no results scores 0; queries
    # without qrels are ignored.
    qrels = {"a": {"d1": 1}, "b": {"d2": 2}}
    run = {"a": [["d1", 1.0]], "c": [["d9", 1.0]]}
    m = evaluate(run, qrels)
    assert m["ndcg@10"] == 0.5 and m["recall@100"] == 0.5 and m["queries"] == 2, m

    # RRF, k = 60: x at ranks 1 and 2 -> 1/61 + 1/62; y at 2 and 1 -> same; z at 3 -> 1/63.
    fused = rrf([["x", "y", "z"], ["y", "x"]])
    assert [d for d, _ in fused] == ["x", "y", "z"], fused
    assert close(fused[0][1], 1 / 61 + 1 / 62) and close(fused[2][1], 1 / 63), fused
    return "metric self-test passed (nDCG@10, Recall@100, ranking, cutoffs, averaging, RRF)"


# ---------------------------------------------------------------- peers


def run_bm25s(corpus_ids, corpus_texts, queries):
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    t0 = time.perf_counter()
    tokens = bm25s.tokenize(corpus_texts, lower=True, stopwords="en", stemmer=stemmer, show_progress=False)
    retriever = bm25s.BM25(method="lucene", k1=BM25_K1, b=BM25_B)
    retriever.index(tokens, show_progress=False)
    t_index = time.perf_counter() - t0

    qids = list(queries)
    t0 = time.perf_counter()
    q_tokens = bm25s.tokenize([queries[q] for q in qids], lower=True, stopwords="en", stemmer=stemmer,
                              show_progress=False, return_ids=False)
    run = {}
    k = min(TOP_K, len(corpus_ids))
    for qid, toks in zip(qids, q_tokens):
        if not toks:
            run[qid] = []
            continue
        # retrieve() fills with zero-score documents when fewer than k match; keep only matches.
        docs, scores = retriever.retrieve([toks], k=k, show_progress=False, n_threads=1)
        run[qid] = [[corpus_ids[int(i)], float(s)] for i, s in zip(docs[0], scores[0]) if s > 0]
    t_search = time.perf_counter() - t0
    return run, {"index_s": t_index, "search_s": t_search}


def run_dense(model_dir, corpus_ids, corpus_texts, queries):
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(os.cpu_count())
    model = SentenceTransformer(model_dir, device="cpu")
    t0 = time.perf_counter()
    doc_emb = model.encode(corpus_texts, batch_size=ENCODE_BATCH, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=False)
    t_index = time.perf_counter() - t0

    qids = list(queries)
    t0 = time.perf_counter()
    q_emb = model.encode([queries[q] for q in qids], batch_size=ENCODE_BATCH, normalize_embeddings=True,
                         convert_to_numpy=True, show_progress_bar=False)
    scores = q_emb @ doc_emb.T
    k = min(TOP_K, len(corpus_ids))
    run = {}
    for row, qid in enumerate(qids):
        s = scores[row]
        top = np.argpartition(-s, k - 1)[:k]
        top = top[np.argsort(-s[top], kind="stable")]
        run[qid] = [[corpus_ids[int(i)], float(s[i])] for i in top]
    t_search = time.perf_counter() - t0
    return run, {"index_s": t_index, "search_s": t_search}


def run_peers(args, corpus_ids, corpus_texts, queries):
    runs, timings = {}, {}
    print(f"peer bm25s: indexing {len(corpus_ids)} documents ...", file=sys.stderr)
    runs["bm25"], timings["bm25"] = run_bm25s(corpus_ids, corpus_texts, queries)
    print(f"peer sentence-transformers: encoding {len(corpus_ids)} documents on CPU ...", file=sys.stderr)
    runs["dense"], timings["dense"] = run_dense(args.model_dir, corpus_ids, corpus_texts, queries)
    t0 = time.perf_counter()
    runs["hybrid"] = {q: rrf([ranked(runs["bm25"].get(q, [])), ranked(runs["dense"].get(q, []))])
                      for q in queries}
    timings["hybrid"] = {"fuse_s": time.perf_counter() - t0}
    return runs, timings


# ---------------------------------------------------------------- report


def versions():
    out = {"python": platform.python_version()}
    for name, module in (("bm25s", "bm25s"), ("PyStemmer", "Stemmer"),
                         ("sentence-transformers", "sentence_transformers"),
                         ("transformers", "transformers"), ("torch", "torch"), ("numpy", "numpy")):
        try:
            from importlib.metadata import version
            out[name] = version(name)
        except Exception:
            try:
                out[name] = __import__(module).__version__
            except Exception:
                out[name] = "not installed"
    try:
        import torch
        out["torch_threads"] = torch.get_num_threads()
    except Exception:
        pass
    out["cpus"] = os.cpu_count()
    out["machine"] = platform.machine()
    return out


def fmt(x):
    return "—" if x is None else f"{x:.4f}"


def fmt_diff(x):
    return "—" if x is None else f"{x:+.4f}"


def main():
    ap = argparse.ArgumentParser(description="Retrieval quality of berth beside bm25s and sentence-transformers.")
    ap.add_argument("--data", default="../shared/eval/msmarco-5k", help="BEIR data set directory")
    ap.add_argument("--berth-runs", help="berth's runs (JSON from berth's beir example)")
    ap.add_argument("--model-dir", default=".models/all-MiniLM-L6-v2")
    ap.add_argument("--json", dest="json_out", help="also write every number to this JSON file")
    ap.add_argument("--write-peer-runs", help="write the peers' runs, in the berth-runs format, to this file")
    ap.add_argument("--peer-runs", help="read the peers' runs from a file written by --write-peer-runs "
                                        "instead of running the peers")
    ap.add_argument("--strict", action="store_true", help="exit with status 1 when a target fails")
    ap.add_argument("--self-test", action="store_true", help="check the metric code and exit")
    args = ap.parse_args()

    print(self_test(), file=sys.stderr)
    if args.self_test:
        return 0

    corpus_ids, corpus_texts, queries, qrels = load_beir(args.data)
    dataset = os.path.basename(os.path.normpath(args.data))

    if args.peer_runs:
        with open(args.peer_runs, encoding="utf-8") as f:
            doc = json.load(f)
        peer_runs, peer_timings = doc["runs"], doc.get("timings") or {m: {} for m in MODES}
        print(f"peer runs read from {args.peer_runs}", file=sys.stderr)
    else:
        peer_runs, peer_timings = run_peers(args, corpus_ids, corpus_texts, queries)
    if args.write_peer_runs:
        os.makedirs(os.path.dirname(os.path.abspath(args.write_peer_runs)), exist_ok=True)
        with open(args.write_peer_runs, "w", encoding="utf-8") as f:
            json.dump({"system": "peers (bm25s, sentence-transformers, rrf)", "runs": peer_runs,
                       "timings": peer_timings}, f)
        print(f"peer runs written to {args.write_peer_runs}", file=sys.stderr)

    berth_runs, berth_timings, berth_system = {}, None, "berth"
    if args.berth_runs:
        with open(args.berth_runs, encoding="utf-8") as f:
            doc = json.load(f)
        berth_runs = doc.get("runs") or {}
        berth_timings = doc.get("timings")
        berth_system = doc.get("system") or "berth"

    peer = {m: evaluate(peer_runs[m], qrels) for m in MODES}
    berth = {m: (evaluate(berth_runs[m], qrels) if berth_runs.get(m) is not None else None) for m in MODES}

    vers = versions()
    print(f"## Retrieval quality on {dataset}\n")
    print(f"{len(corpus_ids)} documents, {len(queries)} queries, {len(qrels)} with qrels "
          f"(metrics averaged over those). Peers: bm25s {vers['bm25s']} (lucene, k1 {BM25_K1}, b {BM25_B}, "
          f"English stop words, PyStemmer {vers['PyStemmer']} English stemmer); sentence-transformers "
          f"{vers['sentence-transformers']} (transformers {vers['transformers']}, torch {vers['torch']}, "
          f"numpy {vers['numpy']}) with all-MiniLM-L6-v2 on CPU ({vers.get('torch_threads')} threads), "
          f"cosine, exact top {TOP_K}; RRF k = {RRF_K}. Python {vers['python']}.\n")
    print("| system | mode | nDCG@10 | Recall@100 | Δ nDCG@10 (berth − peer) | Δ Recall@100 (berth − peer) |")
    print("|---|---|---:|---:|---:|---:|")
    diffs = {}
    for m in MODES:
        b, p = berth[m], peer[m]
        if b is None:
            print(f"| {berth_system} | {m} | missing | missing | — | — |")
            diffs[m] = None
        else:
            d = {"ndcg@10": b["ndcg@10"] - p["ndcg@10"], "recall@100": b["recall@100"] - p["recall@100"]}
            diffs[m] = d
            print(f"| {berth_system} | {m} | {fmt(b['ndcg@10'])} | {fmt(b['recall@100'])} | "
                  f"{fmt_diff(d['ndcg@10'])} | {fmt_diff(d['recall@100'])} |")
        print(f"| {PEER_NAMES[m]} | {m} | {fmt(p['ndcg@10'])} | {fmt(p['recall@100'])} | | |")
    print()

    targets = []

    def target(name, ok, detail):
        targets.append({"target": name, "pass": bool(ok), "detail": detail})

    for m, peer_name in (("bm25", "bm25s"), ("dense", "sentence-transformers")):
        name = f"berth {m} nDCG@10 within {TOLERANCE} of {peer_name}"
        if berth[m] is None:
            target(name, False, f"berth {m} run missing")
        else:
            d = diffs[m]["ndcg@10"]
            target(name, abs(d) <= TOLERANCE + 1e-12,
                   f"{fmt(berth[m]['ndcg@10'])} vs {fmt(peer[m]['ndcg@10'])} ({fmt_diff(d)})")
    name = "berth hybrid nDCG@10 >= max(berth bm25, berth dense)"
    missing = [m for m in MODES if berth[m] is None]
    if missing:
        target(name, False, f"berth run(s) missing: {', '.join(missing)}")
    else:
        best = max(berth["bm25"]["ndcg@10"], berth["dense"]["ndcg@10"])
        h = berth["hybrid"]["ndcg@10"]
        target(name, h >= best,
               f"{fmt(h)} vs {fmt(best)} ({fmt_diff(h - best)}); peers: rrf {fmt(peer['hybrid']['ndcg@10'])}, "
               f"bm25s {fmt(peer['bm25']['ndcg@10'])}, sentence-transformers {fmt(peer['dense']['ndcg@10'])}")
    print("### Targets\n")
    for t in targets:
        print(f"- {'PASS' if t['pass'] else 'FAIL'}: {t['target']}: {t['detail']}")
    print()

    print("### Timings (seconds)\n")
    for m in MODES:
        print(f"- peer {PEER_NAMES[m]}: " + ", ".join(f"{k} {v:.2f}" for k, v in peer_timings[m].items()))
    if berth_timings is not None:
        print(f"- {berth_system}: {json.dumps(berth_timings)}")
    print()
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()))

    if args.json_out:
        os.makedirs(os.path.dirname(os.path.abspath(args.json_out)), exist_ok=True)
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump({"dataset": dataset, "documents": len(corpus_ids), "queries": len(queries),
                       "queries_with_qrels": len(qrels), "berth_system": berth_system,
                       "berth": berth, "peers": {PEER_NAMES[m]: peer[m] for m in MODES},
                       "peer_modes": PEER_NAMES, "diff_berth_minus_peer": diffs, "targets": targets,
                       "timings": {"peers": peer_timings, "berth": berth_timings},
                       "versions": vers}, f, indent=2)
    failed = [t for t in targets if not t["pass"]]
    return 1 if (args.strict and failed) else 0


if __name__ == "__main__":
    sys.exit(main())
