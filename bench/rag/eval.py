#!/usr/bin/env python3
"""End-to-end retrieval on ARAGOG: berth beside a LangChain baseline, same PDFs, same questions.

berth: a temporary stack whose source is the aragog `papers/` directory (`**/*.pdf`);
`berth ingest`, then `berth search --json -k 5` once per question (BM25, and hybrid when
the all-MiniLM-L6-v2 model directory exists).

LangChain: pypdf `PdfReader(...).pages[i].extract_text()`, `RecursiveCharacterTextSplitter`
and `langchain_community.retrievers.BM25Retriever` (rank_bm25) with k = 5 — once with its
default preprocessing (whitespace split, case kept) and once with a lower-cased word
tokenizer, so that berth is not compared only with a weak default.

Measure, identical for every system: the key terms of a ground truth are its lower-cased
alphanumeric tokens (after Unicode NFKC, so a ligature glyph counts as its letters) minus
a fixed list of English stop words; a question's token recall is the share of its key
terms found among the tokens of its top-5 chunks, concatenated; a hit is recall >= 0.5.

Prints a Markdown table and writes everything as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from importlib.metadata import version
from pathlib import Path

K = 5
HIT_THRESHOLD = 0.5

# A fixed, small list of English stop words (function words only).
STOP_WORDS = frozenset(
    """
    a an the and or but nor so yet if then than that this these those there here
    of in on at by for with from to into onto over under about above below between
    through during before after up down out off again further once
    is are was were be been being am do does did doing have has had having
    it its it's they them their theirs he him his she her hers we us our ours
    you your yours i me my mine who whom whose which what when where why how
    all any both each few more most other some such no not only own same too very
    can will just should would could may might must also as such via per
    """.split()
)

TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    return TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


def key_terms(ground_truth: str) -> set[str]:
    return {t for t in tokens(ground_truth) if t not in STOP_WORDS}


def recall(terms: set[str], texts: list[str]) -> float:
    if not terms:
        return 1.0
    found = set(tokens("\n".join(texts)))
    return len(terms & found) / len(terms)


def score(name: str, retrieved: list[list[str]], truths: list[str]) -> dict:
    recalls = [recall(key_terms(gt), texts) for gt, texts in zip(truths, retrieved)]
    hits = [r >= HIT_THRESHOLD for r in recalls]
    return {
        "system": name,
        "questions": len(recalls),
        "hit_rate": sum(hits) / len(hits),
        "hits": sum(hits),
        "mean_recall": statistics.fmean(recalls),
        "per_question_recall": [round(r, 4) for r in recalls],
    }


def corpus_coverage(full_texts: list[str], truths: list[str]) -> float:
    """Mean share of each ground truth's key terms present anywhere in the extracted text:
    the ceiling any retriever over this extraction can reach."""
    vocab = set()
    for t in full_texts:
        vocab.update(tokens(t))
    return statistics.fmean(
        (len(key_terms(gt) & vocab) / len(key_terms(gt))) if key_terms(gt) else 1.0
        for gt in truths
    )


# --------------------------------------------------------------------------------- berth


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, text=True, capture_output=True, **kw)


def berth_stack(papers: Path, chunk: dict, model_dir: Path | None) -> str:
    def flow(d: dict) -> str:
        return "{ " + ", ".join(f"{k}: {v}" for k, v in d.items()) + " }"

    lines = ["stack: aragog-eval", "target: local"]
    if model_dir is not None:
        lines += [
            "components:",
            f"  embedder: {{ uses: berth-embedder, with: {{ model_dir: {json.dumps(str(model_dir))} }} }}",
            "models:",
            "  embed:",
            "    - component: embedder",
        ]
    lines += [
        "sources:",
        f"  papers: {{ path: {json.dumps(str(papers))}, include: [\"**/*.pdf\"] }}",
        "pipelines:",
        f"  pdf: {{ source: papers, chunk: {flow(chunk)} }}",
    ]
    if model_dir is not None:
        lines.append(f"  pdf-embed: {{ source: papers, chunk: {flow(chunk)}, embed: embed }}")
    return "\n".join(lines) + "\n"


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def berth_ingest(berth: str, stack: Path, pipeline: str) -> tuple[float, float]:
    """Runs `berth ingest PIPELINE`; returns its wall and CPU seconds."""
    t0, c0 = time.perf_counter(), child_cpu()
    p = run([berth, "ingest", pipeline, "-s", str(stack)])
    seconds, cpu = time.perf_counter() - t0, child_cpu() - c0
    sys.stderr.write(p.stdout + p.stderr)
    if p.returncode not in (0, 1):  # 1: some document was dead-lettered (reported below)
        raise SystemExit(f"berth ingest {pipeline} failed with exit code {p.returncode}")
    return seconds, cpu


def berth_health(berth: str, stack: Path, pipeline: str) -> dict:
    docs = json.loads(run([berth, "docs", "--json", "--pipeline", pipeline, "-s", str(stack)],
                          check=True).stdout)
    runs = json.loads(run([berth, "runs", "--json", "-s", str(stack)], check=True).stdout)
    return {"docs": docs, "runs": [r for r in runs if r.get("pipeline") == pipeline]}


def berth_chunks(berth: str, stack: Path, pipeline: str, doc_ids: list[str]) -> list[str]:
    texts = []
    for doc_id in doc_ids:
        shown = json.loads(run([berth, "docs", "--pipeline", pipeline, "-s", str(stack), "show", doc_id, "--json"],
                               check=True).stdout)
        for entry in shown if isinstance(shown, list) else [shown]:
            if entry.get("document", {}).get("pipeline", pipeline) != pipeline:
                continue
            texts += [c["text"] for c in entry.get("chunks", [])]
    return texts


def berth_search(berth: str, stack: Path, pipeline: str, mode: str, questions: list[str]):
    retrieved = []
    t0 = time.perf_counter()
    for q in questions:
        p = run([berth, "search", "--json", "-k", str(K), "--mode", mode,
                 "--pipeline", pipeline, "-s", str(stack), q], check=True)
        hits = json.loads(p.stdout)["hits"]
        retrieved.append([h["text"] for h in hits])
    return retrieved, time.perf_counter() - t0


def evaluate_berth(args, questions, truths) -> list[dict]:
    papers = args.papers.resolve()
    model_dir = args.model_dir.resolve() if args.model_dir and (args.model_dir / "model.safetensors").exists() else None
    chunk = {"strategy": args.strategy, "max_tokens": args.max_tokens, "overlap": args.overlap}
    work = Path(tempfile.mkdtemp(prefix="berth-rag-"))
    try:
        (work / "berth.yaml").write_text(berth_stack(papers, chunk, model_dir))
        pipelines = [("pdf", ["bm25"])]
        if model_dir is not None:
            pipelines.append(("pdf-embed", ["hybrid", "dense"]))
        else:
            print(f"note: no model in {args.model_dir}; berth hybrid skipped "
                  "(bench/fetch-model.sh fetches it)", file=sys.stderr)
        results = []
        for pipeline, modes in pipelines:
            seconds, cpu = berth_ingest(args.berth, work, pipeline)
            health = berth_health(args.berth, work, pipeline)
            docs = health["docs"]
            failed = [d for d in docs if d.get("status") == "failed"]
            pages = sum(d.get("pages") or 0 for d in docs)
            all_chunks = berth_chunks(args.berth, work, pipeline, [d["id"] for d in docs])
            for mode in modes:
                retrieved, search_s = berth_search(args.berth, work, pipeline, mode, questions)
                r = score(f"berth {mode}", retrieved, truths)
                r.update({
                    "pipeline": pipeline,
                    "mode": mode,
                    "chunk": chunk,
                    "embed": str(model_dir) if pipeline == "pdf-embed" else None,
                    "documents": len(docs),
                    "failed_documents": [{"id": d["id"], "error": d.get("last_error")} for d in failed],
                    "pages": pages,
                    "chunks": len(all_chunks),
                    "mean_chunk_chars": statistics.fmean(len(c) for c in all_chunks) if all_chunks else 0,
                    "ingest_s": seconds,
                    "ingest_cpu_s": cpu,
                    "search_s_total": search_s,
                    "corpus_coverage": corpus_coverage(all_chunks, truths),
                    "runs": health["runs"],
                    "retrieved": retrieved,
                })
                results.append(r)
        return results
    finally:
        if args.keep:
            print(f"berth stack kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


# ----------------------------------------------------------------------------- LangChain


def evaluate_langchain(args, questions, truths) -> list[dict]:
    from langchain_community.retrievers import BM25Retriever
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # font warnings, not failures
    t0, c0 = time.perf_counter(), time.process_time()
    pages, page_failures, file_failures = [], [], []
    for pdf in sorted(args.papers.glob("**/*.pdf")):
        try:
            reader = PdfReader(pdf)
            n = len(reader.pages)
        except Exception as e:  # noqa: BLE001 - report, go on
            file_failures.append({"file": pdf.name, "error": repr(e)})
            continue
        for i in range(n):
            try:
                text = reader.pages[i].extract_text() or ""
            except Exception as e:  # noqa: BLE001
                page_failures.append({"file": pdf.name, "page": i + 1, "error": repr(e)})
                continue
            pages.append(Document(page_content=text, metadata={"source": pdf.name, "page": i + 1}))
    extract_s = time.perf_counter() - t0
    splitter = RecursiveCharacterTextSplitter(chunk_size=args.lc_chunk_size, chunk_overlap=args.lc_overlap)
    chunks = splitter.split_documents(pages)
    split_s = time.perf_counter() - t0 - extract_s
    parse_cpu = time.process_time() - c0
    texts = [c.page_content for c in chunks]
    common = {
        "chunk": {"splitter": "RecursiveCharacterTextSplitter", "chunk_size": args.lc_chunk_size,
                  "chunk_overlap": args.lc_overlap},
        "documents": len(list(args.papers.glob("**/*.pdf"))),
        "failed_documents": file_failures,
        "failed_pages": page_failures,
        "pages": len(pages),
        "chunks": len(chunks),
        "mean_chunk_chars": statistics.fmean(len(t) for t in texts) if texts else 0,
        "extract_s": extract_s,
        "split_s": split_s,
        "corpus_coverage": corpus_coverage(texts, truths),
    }
    variants = [
        ("LangChain BM25 (default preprocessing)", None),
        ("LangChain BM25 (lower-cased words)", lambda s: TOKEN.findall(s.lower())),
    ]
    results = []
    for name, pre in variants:
        t1, c1 = time.perf_counter(), time.process_time()
        kw = {"k": K}
        if pre is not None:
            kw["preprocess_func"] = pre
        retriever = BM25Retriever.from_documents(chunks, **kw)
        index_s = time.perf_counter() - t1
        index_cpu = time.process_time() - c1
        t2 = time.perf_counter()
        retrieved = [[d.page_content for d in retriever.invoke(q)] for q in questions]
        search_s = time.perf_counter() - t2
        r = score(name, retrieved, truths)
        r.update(common)
        r.update({"ingest_s": extract_s + split_s + index_s, "index_s": index_s,
                  "ingest_cpu_s": parse_cpu + index_cpu,
                  "search_s_total": search_s, "retrieved": retrieved})
        results.append(r)
    return results


# ---------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth", required=True, help="the berth binary")
    ap.add_argument("--data", type=Path, default=Path("../shared/eval/aragog"))
    ap.add_argument("--model-dir", type=Path, default=Path(".models/all-MiniLM-L6-v2"))
    ap.add_argument("--strategy", default="recursive")
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--overlap", type=int, default=20)
    ap.add_argument("--lc-chunk-size", type=int, default=1000)
    ap.add_argument("--lc-overlap", type=int, default=100)
    ap.add_argument("--json", type=Path, default=Path("target/bench-rag.json"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary berth stack")
    ap.add_argument("--skip-langchain", action="store_true")
    args = ap.parse_args()
    args.papers = args.data / "papers"
    bench = json.loads((args.data / "benchmark.json").read_text())
    questions, truths = bench["questions"], bench["ground_truths"]
    assert len(questions) == len(truths)

    results = evaluate_berth(args, questions, truths)
    if not args.skip_langchain:
        results += evaluate_langchain(args, questions, truths)

    peers = {p: version(p) for p in ("pypdf", "langchain-text-splitters", "langchain-community",
                                     "langchain-core", "rank-bm25")}
    berth_version = run([args.berth, "--version"]).stdout.strip()
    print()
    print(f"ARAGOG: {len(questions)} questions, {len({*args.papers.glob('**/*.pdf')})} PDFs; "
          f"top {K}; hit = key-term recall >= {HIT_THRESHOLD}")
    print()
    print("| system | hit rate | hits | mean recall | chunks | mean chunk chars | pages | failed docs | ingest s | ingest CPU s | corpus coverage |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['system']} | {r['hit_rate']:.3f} | {r['hits']}/{r['questions']} | {r['mean_recall']:.3f} "
              f"| {r['chunks']} | {r['mean_chunk_chars']:.0f} | {r['pages']} | {len(r['failed_documents'])} "
              f"| {r['ingest_s']:.2f} | {r['ingest_cpu_s']:.2f} | {r['corpus_coverage']:.3f} |")
    print()
    print(f"berth: {berth_version}; chunk {results[0]['chunk']}")
    print("peers: " + ", ".join(f"{k} {v}" for k, v in peers.items()))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "data": str(args.data), "questions": questions, "ground_truths": truths,
        "k": K, "hit_threshold": HIT_THRESHOLD, "stop_words": sorted(STOP_WORDS),
        "berth_version": berth_version, "peers": peers, "results": results,
    }, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
