"""Ingestion benchmarks: berth beside LangChain and LlamaIndex, same files, same run.

    bench/ingest/run.sh            (sets up, then runs this)

For each corpus (the aragog PDFs, the PostgreSQL HTML manual, 10,000 generated Markdown
files) it measures berth's first `berth ingest` (list, hash, parse, chunk, write the
SQLite state store and its full-text index), its no-change re-run, its peak memory, and
the two peers' parse + chunk time. Prints a Markdown table.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BERTH = os.path.join(ROOT, "target", "release", "berth")
PY = sys.executable
HERE = os.path.dirname(os.path.abspath(__file__))


def berth(corpus, work, name):
    stack = os.path.join(work, f"stack-{name}")
    shutil.rmtree(stack, ignore_errors=True)
    os.makedirs(stack)
    with open(os.path.join(stack, "berth.yaml"), "w") as f:
        f.write(
            "stack: bench\nsources:\n"
            f"  corpus: {{ path: {corpus} }}\n"
            "pipelines:\n  idx: { source: corpus, chunk: { strategy: recursive, max_tokens: 400, overlap: 40 } }\n"
        )
    def once():
        t = time.perf_counter()
        out = subprocess.run([BERTH, "ingest"], cwd=stack, capture_output=True, text=True)
        secs = time.perf_counter() - t
        if out.returncode not in (0, 1):
            sys.exit(f"berth ingest failed:\n{out.stderr}")
        summary = out.stdout
        chunks = int(re.search(r"(\d+) chunks written", summary).group(1))
        failed = int(re.search(r"(\d+) failed", summary).group(1))
        peak = re.search(r"peak memory (\d+) MB", summary)
        return secs, chunks, failed, int(peak.group(1)) if peak else None
    first = once()
    rerun = once()
    return first, rerun


def parse_chunk(corpus):
    exe = os.path.join(ROOT, "target", "release", "examples", "parse_chunk")
    out = subprocess.run([exe, corpus, "2"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def peer(kind, corpus):
    out = subprocess.run([PY, os.path.join(HERE, "peers.py"), kind, corpus], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{kind} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def size_of(root):
    n = b = 0
    for d, _, names in os.walk(root):
        for x in names:
            n += 1
            b += os.path.getsize(os.path.join(d, x))
    return n, b


def main():
    work = sys.argv[1]
    corpora = [(name, os.path.join(work, name)) for name in ("pdf", "html", "md")]
    rows = []
    for name, corpus in corpora:
        files, size = size_of(corpus)
        (b_secs, b_chunks, b_failed, b_peak), (r_secs, _, _, _) = berth(corpus, work, name)
        pc = parse_chunk(corpus)
        lc = peer("langchain", corpus)
        li = peer("llamaindex", corpus)
        mb = size / 1e6
        rows.append((name, files, mb, b_secs, b_chunks, b_failed, b_peak, r_secs, pc, lc, li))
    print("Parse + chunk only (what the peers do), same files, same run:\n")
    print("| corpus | files | MB | berth s | berth MB/s | berth docs/s | LangChain s | LlamaIndex s | berth vs faster peer | chunks (berth / LangChain / LlamaIndex) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, files, mb, b, bc, bf, peak, r, pc, lc, li in rows:
        faster = min(lc["seconds"], li["seconds"])
        p = pc["seconds"]
        print(
            f"| {name} | {files} | {mb:.1f} | {p:.2f} | {mb / p:.1f} | {files / p:.0f} | {lc['seconds']:.2f} | {li['seconds']:.2f} "
            f"| {faster / p:.1f}× | {pc['chunks']} / {lc['chunks']} / {li['chunks']} |"
        )
    print("\nWhole `berth ingest` (also lists, hashes, writes the SQLite state store and its full-text index):\n")
    print("| corpus | first run s | MB/s | docs/s | vs faster peer | no-change re-run s | first / re-run | peak memory MB |")
    print("|---|---|---|---|---|---|---|---|")
    for name, files, mb, b, bc, bf, peak, r, pc, lc, li in rows:
        faster = min(lc["seconds"], li["seconds"])
        print(f"| {name} | {b:.2f} | {mb / b:.1f} | {files / b:.0f} | {faster / b:.1f}× | {r:.3f} | {b / r:.0f}× | {peak} |")
        if bf:
            print(f"<!-- berth dead-lettered {bf} documents of {name} -->")


if __name__ == "__main__":
    main()
