#!/usr/bin/env python3
"""End-to-end retrieval on ARAGOG: berth beside a LangChain baseline, same PDFs, same questions.

berth: a temporary stack whose source is the aragog `papers/` directory (`**/*.pdf`);
`berth ingest PIPELINE`, then `berth search --json -k 5` once per question: BM25, and
hybrid (and dense, for reference) when the all-MiniLM-L6-v2 model directory exists.

LangChain: pypdf `PdfReader(...).pages[i].extract_text()` per page,
`RecursiveCharacterTextSplitter` and `langchain_community.retrievers.BM25Retriever`
(rank_bm25, Okapi BM25) with k = 5 — once with its default preprocessing (whitespace split,
case kept) and once with a lower-cased word tokenizer, so that berth is not only compared
with a weak default.

Measure, identical for every system: the key terms of a ground truth are its lower-cased
alphanumeric tokens (after Unicode NFKC, so a ligature glyph counts as its letters) minus
a fixed list of English stop words; a question's token recall is the share of its key
terms found among the tokens of its top-5 chunks, concatenated; a hit is recall >= 0.5.

Top-5 recall grows with the amount of text retrieved, so the script also runs a chunk-size
sweep (BM25 only) for both systems at the same nominal sizes (berth N tokens of its
`words` tokenizer, LangChain 4·N characters, the ratio bench/ingest uses) and reports how
much text each top 5 holds.

Prints Markdown tables and writes everything as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
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
CHARS_PER_TOKEN = 4  # LangChain chunk_size = 4 × berth max_tokens in the sweep
SWEEP = (150, 200, 250, 300, 400)

# A fixed, small list of English stop words (function words only).
STOP_WORDS = frozenset(
    """
    a an the and or but nor so yet if then than that this these those there here
    of in on at by for with from to into onto over under about above below between
    through during before after up down out off again further once
    is are was were be been being am do does did doing have has had having
    it its they them their theirs he him his she her hers we us our ours
    you your yours i me my mine who whom whose which what when where why how
    all any both each few more most other some such no not only own same too very
    can will just should would could may might must also as via per
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


def score(retrieved: list[list[str]], truths: list[str]) -> dict:
    recalls = [recall(key_terms(gt), texts) for gt, texts in zip(truths, retrieved)]
    hits = sum(r >= HIT_THRESHOLD for r in recalls)
    return {
        "questions": len(recalls),
        "hits": hits,
        "hit_rate": hits / len(recalls),
        "mean_recall": statistics.fmean(recalls),
        "top5_chars": statistics.fmean(sum(len(t) for t in texts) / max(len(texts), 1) for texts in retrieved),
        "per_question_recall": [round(r, 4) for r in recalls],
    }


def sign_test(a: int, b: int) -> float:
    """Two-sided exact sign test on a wins against b wins (ties dropped)."""
    n = a + b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(a, b) + 1)) / 2**n
    return min(1.0, 2 * tail)


def corpus_coverage(full_texts: list[str], truths: list[str]) -> float:
    """Mean share of each ground truth's key terms present anywhere in the indexed text:
    the ceiling of the measure for any retriever over this extraction."""
    vocab = set()
    for t in full_texts:
        vocab.update(tokens(t))
    return statistics.fmean(
        (len(key_terms(gt) & vocab) / len(key_terms(gt))) if key_terms(gt) else 1.0 for gt in truths
    )


def mean_len(texts: list[str]) -> float:
    return statistics.fmean(len(t) for t in texts) if texts else 0.0


# --------------------------------------------------------------------------------- berth


def run(cmd: list[str], check: bool = False) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, text=True, capture_output=True)
    if check and p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} ... failed ({p.returncode}): {p.stderr.strip()}")
    return p


def flow(d: dict) -> str:
    return "{ " + ", ".join(f"{k}: {json.dumps(v)}" for k, v in d.items()) + " }"


def berth_stack(papers: Path, pipelines: dict[str, tuple[dict, bool]], model_dir: Path | None) -> str:
    """A stack file: one source, the given pipelines (name -> (chunk, embeds))."""
    lines = ["stack: aragog-eval", "target: local"]
    if model_dir is not None:
        lines += [
            "components:",
            f"  embedder: {{ uses: berth-embedder, with: {{ model_dir: {json.dumps(str(model_dir))} }} }}",
            "models:",
            "  embed:",
            "    - component: embedder",
        ]
    lines += ["sources:", f"  papers: {{ path: {json.dumps(str(papers))}, include: [\"**/*.pdf\"] }}", "pipelines:"]
    for name, (chunk, embeds) in pipelines.items():
        lines.append(f"  {name}: {{ source: papers, chunk: {flow(chunk)}{', embed: embed' if embeds else ''} }}")
    return "\n".join(lines) + "\n"


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def berth_ingest(berth: str, stack: Path, pipeline: str) -> tuple[float, float]:
    """Runs `berth ingest PIPELINE`; returns its wall and CPU seconds."""
    t0, c0 = time.perf_counter(), child_cpu()
    p = run([berth, "ingest", pipeline, "-s", str(stack)])
    seconds, cpu = time.perf_counter() - t0, child_cpu() - c0
    for line in (p.stdout + p.stderr).splitlines():
        if " seen · " in line or "peak memory" in line or "error" in line.lower():
            print(f"  {line}", file=sys.stderr)
    if p.returncode not in (0, 1):  # 1: some document was dead-lettered (reported below)
        raise SystemExit(f"berth ingest {pipeline} failed ({p.returncode}): {p.stderr.strip()}")
    return seconds, cpu


def berth_documents(berth: str, stack: Path, pipeline: str) -> tuple[list[dict], list[str]]:
    """The pipeline's documents (`berth docs --json`) and the text of all its chunks."""
    docs = json.loads(run([berth, "docs", "--json", "--pipeline", pipeline, "-s", str(stack)], check=True).stdout)
    chunks = []
    for d in docs:
        shown = json.loads(
            run([berth, "docs", "--pipeline", pipeline, "-s", str(stack), "show", d["id"], "--json"], check=True).stdout
        )
        for entry in shown:
            if entry["document"]["pipeline"] == pipeline:
                chunks += [c["text"] for c in entry["chunks"]]
    return docs, chunks


def berth_runs(berth: str, stack: Path, pipeline: str) -> list[dict]:
    runs = json.loads(run([berth, "runs", "--json", "-s", str(stack)], check=True).stdout)
    return [r for r in runs if r.get("pipeline") == pipeline]


def berth_search(berth: str, stack: Path, pipeline: str, mode: str, questions: list[str]):
    retrieved = []
    t0 = time.perf_counter()
    for q in questions:
        p = run([berth, "search", "--json", "-k", str(K), "--mode", mode, "--pipeline", pipeline, "-s", str(stack), q],
                check=True)
        out = json.loads(p.stdout)
        if out["mode"] != mode:
            raise SystemExit(f"berth searched by {out['mode']}, not {mode}: {p.stderr.strip()}")
        retrieved.append([h["text"] for h in out["hits"]])
    return retrieved, time.perf_counter() - t0


def evaluate_berth(args, questions, truths) -> tuple[list[dict], list[dict]]:
    papers = args.papers.resolve()
    model_dir = args.model_dir.resolve() if (args.model_dir / "model.safetensors").exists() else None
    chunk = {"strategy": args.strategy, "max_tokens": args.max_tokens, "overlap": args.overlap}
    pipelines: dict[str, tuple[dict, bool]] = {"pdf": (chunk, False)}
    if model_dir is not None:
        pipelines["pdf-embed"] = (chunk, True)
    else:
        print(f"note: no model in {args.model_dir}; berth hybrid skipped (bench/fetch-model.sh fetches it)",
              file=sys.stderr)
    # Pipelines with identical settings must not share a stack: berth's chunk ids do not
    # include the pipeline name, so the second pipeline's chunks land on the first's rows
    # and its index stays empty. The sweep reuses `pdf` where the settings coincide.
    sweep = [] if args.no_sweep else list(SWEEP)
    for n in sweep:
        cfg = {"strategy": args.strategy, "max_tokens": n, "overlap": n // 10}
        if cfg != chunk:
            pipelines[f"sweep-{n}"] = (cfg, False)

    work = Path(tempfile.mkdtemp(prefix="berth-rag-"))
    stack_text = berth_stack(papers, pipelines, model_dir)
    (work / "berth.yaml").write_text(stack_text)
    try:
        main, swept = [], []
        for pipeline, (chunk_cfg, embeds) in pipelines.items():
            print(f"berth: ingest {pipeline}", file=sys.stderr)
            seconds, cpu = berth_ingest(args.berth, work, pipeline)
            docs, all_chunks = berth_documents(args.berth, work, pipeline)
            failed = [{"id": d["id"], "error": d.get("last_error")} for d in docs if d.get("status") == "failed"]
            pages = sum(d.get("pages") or 0 for d in docs)
            common = {
                "pipeline": pipeline,
                "chunk": chunk_cfg,
                "documents": len(docs),
                "failed_documents": failed,
                "pages": pages,
                "chunks": len(all_chunks),
                "mean_chunk_chars": mean_len(all_chunks),
                "ingest_s": seconds,
                "ingest_cpu_s": cpu,
                "corpus_coverage": corpus_coverage(all_chunks, truths),
                "runs": berth_runs(args.berth, work, pipeline),
            }
            modes = ["hybrid", "dense"] if embeds else ["bm25"]
            for mode in modes:
                retrieved, search_s = berth_search(args.berth, work, pipeline, mode, questions)
                r = {"system": f"berth {mode}", "mode": mode, **score(retrieved, truths), **common,
                     "search_s_total": search_s}
                if pipeline.startswith("sweep-"):
                    swept.append(r)
                else:
                    r["embed_model"] = str(model_dir) if embeds else None
                    r["retrieved"] = retrieved
                    main.append(r)
        for n in sweep:
            if f"sweep-{n}" not in pipelines:
                swept.append({k: v for k, v in main[0].items() if k != "retrieved"})
        swept.sort(key=lambda r: r["chunk"]["max_tokens"])
        for r in main:
            r["stack_file"] = stack_text
        return main, swept
    finally:
        if args.keep:
            print(f"berth stack kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


# ----------------------------------------------------------------------------- LangChain


def evaluate_langchain(args, questions, truths) -> tuple[list[dict], list[dict]]:
    import warnings

    with warnings.catch_warnings():  # langchain-community announces its sunset on import
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.retrievers import BM25Retriever
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # font warnings, not failures
    pdfs = sorted(args.papers.glob("**/*.pdf"))
    t0, c0 = time.perf_counter(), time.process_time()
    pages, page_failures, file_failures = [], [], []
    for pdf in pdfs:
        try:
            reader = PdfReader(pdf)
            n = len(reader.pages)
        except Exception as e:  # noqa: BLE001 - report, go on
            file_failures.append({"id": pdf.name, "error": repr(e)})
            continue
        for i in range(n):
            try:
                text = reader.pages[i].extract_text() or ""
            except Exception as e:  # noqa: BLE001
                page_failures.append({"id": pdf.name, "page": i + 1, "error": repr(e)})
                continue
            pages.append(Document(page_content=text, metadata={"source": pdf.name, "page": i + 1}))
    extract_s, extract_cpu = time.perf_counter() - t0, time.process_time() - c0

    variants = [
        ("LangChain BM25 (default preprocessing)", None),
        ("LangChain BM25 (lower-cased words)", lambda s: TOKEN.findall(s.lower())),
    ]

    def one(chunk_size: int, overlap: int, keep_retrieved: bool) -> list[dict]:
        t1, c1 = time.perf_counter(), time.process_time()
        splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=overlap)
        chunks = splitter.split_documents(pages)
        split_s, split_cpu = time.perf_counter() - t1, time.process_time() - c1
        texts = [c.page_content for c in chunks]
        common = {
            "chunk": {"splitter": "RecursiveCharacterTextSplitter", "chunk_size": chunk_size, "chunk_overlap": overlap},
            "documents": len(pdfs),
            "failed_documents": file_failures,
            "failed_pages": page_failures,
            "pages": len(pages),
            "chunks": len(chunks),
            "mean_chunk_chars": mean_len(texts),
            "extract_s": extract_s,
            "corpus_coverage": corpus_coverage(texts, truths),
        }
        out = []
        for name, pre in variants:
            t2, c2 = time.perf_counter(), time.process_time()
            kw = {"k": K} if pre is None else {"k": K, "preprocess_func": pre}
            retriever = BM25Retriever.from_documents(chunks, **kw)
            index_s, index_cpu = time.perf_counter() - t2, time.process_time() - c2
            t3 = time.perf_counter()
            retrieved = [[d.page_content for d in retriever.invoke(q)] for q in questions]
            r = {"system": name, "mode": "bm25", **score(retrieved, truths), **common,
                 "ingest_s": extract_s + split_s + index_s, "ingest_cpu_s": extract_cpu + split_cpu + index_cpu,
                 "search_s_total": time.perf_counter() - t3}
            if keep_retrieved:
                r["retrieved"] = retrieved
            out.append(r)
        return out

    main = one(args.lc_chunk_size, args.lc_overlap, True)
    swept = []
    if not args.no_sweep:
        for n in SWEEP:
            size = CHARS_PER_TOKEN * n
            swept += one(size, size // 10, False)
    return main, swept


# ---------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth", required=True, help="the berth binary")
    ap.add_argument("--data", type=Path, default=Path("../shared/eval/aragog"))
    ap.add_argument("--model-dir", type=Path, default=Path(".models/all-MiniLM-L6-v2"))
    ap.add_argument("--strategy", default="recursive", help="berth chunk strategy")
    ap.add_argument("--max-tokens", type=int, default=250, help="berth max_tokens (words tokenizer)")
    ap.add_argument("--overlap", type=int, default=25, help="berth overlap in tokens")
    ap.add_argument("--lc-chunk-size", type=int, default=1000, help="LangChain chunk_size in characters")
    ap.add_argument("--lc-overlap", type=int, default=100, help="LangChain chunk_overlap in characters")
    ap.add_argument("--json", type=Path, default=Path("target/bench-rag.json"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary berth stack")
    ap.add_argument("--no-sweep", action="store_true", help="skip the chunk-size sweep")
    ap.add_argument("--skip-langchain", action="store_true")
    args = ap.parse_args()
    args.papers = args.data / "papers"
    bench = json.loads((args.data / "benchmark.json").read_text())
    questions, truths = bench["questions"], bench["ground_truths"]
    assert len(questions) == len(truths)
    t_start = time.perf_counter()

    main_rows, sweep_rows = evaluate_berth(args, questions, truths)
    if not args.skip_langchain:
        print("LangChain: pypdf, split, BM25", file=sys.stderr)
        lc_main, lc_sweep = evaluate_langchain(args, questions, truths)
        main_rows += lc_main
        sweep_rows += lc_sweep

    peers = {p: version(p) for p in ("pypdf", "langchain-text-splitters", "langchain-community", "langchain-core",
                                     "rank-bm25")}
    berth_version = run([args.berth, "--version"]).stdout.strip()
    n_pdfs = len(list(args.papers.glob("**/*.pdf")))

    def chunking(r: dict) -> str:
        c = r["chunk"]
        if "strategy" in c:
            return f"{c['strategy']} {c['max_tokens']}/{c['overlap']} tokens"
        return f"{c['chunk_size']}/{c['chunk_overlap']} chars"

    print()
    print(f"ARAGOG: {len(questions)} questions, {n_pdfs} PDFs; top {K}; hit = key-term recall >= {HIT_THRESHOLD}")
    print()
    print("| system | chunking | hit rate | hits | mean recall | chunks | mean chunk chars | top-5 chars/chunk "
          "| ingest s | ingest CPU s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in main_rows:
        print(f"| {r['system']} | {chunking(r)} | {r['hit_rate']:.3f} | {r['hits']}/{r['questions']} "
              f"| {r['mean_recall']:.3f} | {r['chunks']} | {r['mean_chunk_chars']:.0f} | {r['top5_chars']:.0f} "
              f"| {r['ingest_s']:.2f} | {r['ingest_cpu_s']:.2f} |")
    print()
    print("PDF extraction health:")
    print()
    print("| extractor | documents | failed documents | pages | failed pages | ingest s per page "
          "| ground-truth key terms in the indexed text |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    seen = set()
    for r in main_rows:
        who = "berth (pdf-extract/lopdf)" if r["system"].startswith("berth") else f"pypdf {peers['pypdf']}"
        if who in seen:
            continue
        seen.add(who)
        print(f"| {who} | {r['documents']} | {len(r['failed_documents'])} | {r['pages']} "
              f"| {len(r.get('failed_pages', []))} | {r['ingest_s'] / max(r['pages'], 1):.3f} "
              f"| {r['corpus_coverage']:.3f} |")
    if sweep_rows:
        print()
        print(f"Chunk-size sweep, BM25 (berth {args.strategy} N tokens, overlap N/10; "
              f"LangChain {CHARS_PER_TOKEN}·N characters, overlap a tenth):")
        print()
        print("| N | berth hit rate | berth mean recall | berth top-5 chars/chunk "
              "| LangChain lower-cased hit rate | mean recall | top-5 chars/chunk "
              "| LangChain default hit rate | mean recall |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in SWEEP:
            b = next(r for r in sweep_rows if r["system"].startswith("berth") and r["chunk"]["max_tokens"] == n)
            lc = [r for r in sweep_rows if r["system"].startswith("LangChain")
                  and r["chunk"]["chunk_size"] == CHARS_PER_TOKEN * n]
            lc_low = next((r for r in lc if "lower" in r["system"]), None)
            lc_def = next((r for r in lc if "default" in r["system"]), None)
            cells = [f"{b['hit_rate']:.3f}", f"{b['mean_recall']:.3f}", f"{b['top5_chars']:.0f}"]
            for r, full in ((lc_low, True), (lc_def, False)):
                if r is None:
                    cells += ["–", "–"] + (["–"] if full else [])
                else:
                    cells += [f"{r['hit_rate']:.3f}", f"{r['mean_recall']:.3f}"] + ([f"{r['top5_chars']:.0f}"] if full else [])
            print(f"| {n} | " + " | ".join(cells) + " |")
    base = next((r for r in main_rows if r["system"] == "berth bm25"), None)
    if base is not None and len(main_rows) > 1:
        print()
        print("Paired, per question (hit = recall >= 0.5), berth bm25 against each other system:")
        print()
        print("| other system | hit by berth bm25 only | hit by the other only | two-sided sign test p |")
        print("|---|---:|---:|---:|")
        for r in main_rows:
            if r is base:
                continue
            a = sum(x >= HIT_THRESHOLD > y for x, y in zip(base["per_question_recall"], r["per_question_recall"]))
            b = sum(y >= HIT_THRESHOLD > x for x, y in zip(base["per_question_recall"], r["per_question_recall"]))
            r["paired_vs_berth_bm25"] = {"berth_bm25_only": a, "other_only": b, "sign_test_p": sign_test(a, b)}
            print(f"| {r['system']} | {a} | {b} | {sign_test(a, b):.2g} |")
    total_s = time.perf_counter() - t_start
    print()
    print(f"{berth_version}; peers: " + ", ".join(f"{k} {v}" for k, v in peers.items()))
    print(f"evaluation took {total_s:.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "data": str(args.data), "questions": questions, "ground_truths": truths,
        "k": K, "hit_threshold": HIT_THRESHOLD, "stop_words": sorted(STOP_WORDS),
        "berth_version": berth_version, "peers": peers, "seconds": total_s,
        "results": main_rows, "sweep": sweep_rows,
    }, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
