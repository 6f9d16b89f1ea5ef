"""Parse + chunk throughput of the peers berth is measured beside.

    python peers.py langchain|llamaindex DIR [--format pdf|html|md]

LangChain: pypdf (PDF) or BeautifulSoup (HTML) or the raw text, then
RecursiveCharacterTextSplitter (1,600 characters, 160 overlap ~ 400/40 tokens).
LlamaIndex: SimpleDirectoryReader with its default readers, then SentenceSplitter
(400 tokens, 40 overlap). Prints one JSON line: files, bytes, chunks, seconds.
"""
import json
import os
import sys
import time


def files_of(root):
    out = []
    for d, _, names in os.walk(root):
        for n in names:
            out.append(os.path.join(d, n))
    return sorted(out)


def langchain(root):
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=1600, chunk_overlap=160)
    files = files_of(root)
    total = sum(os.path.getsize(f) for f in files)
    start = time.perf_counter()
    chunks = 0
    for f in files:
        if f.endswith(".pdf"):
            from pypdf import PdfReader

            text = "\n".join(page.extract_text() or "" for page in PdfReader(f).pages)
        elif f.endswith((".html", ".htm")):
            from bs4 import BeautifulSoup

            with open(f, "rb") as fh:
                text = BeautifulSoup(fh.read(), "html.parser").get_text("\n")
        else:
            with open(f, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        chunks += len(splitter.split_text(text))
    return len(files), total, chunks, time.perf_counter() - start


def llamaindex(root):
    from llama_index.core import SimpleDirectoryReader
    from llama_index.core.node_parser import SentenceSplitter

    files = files_of(root)
    total = sum(os.path.getsize(f) for f in files)
    start = time.perf_counter()
    docs = SimpleDirectoryReader(root, recursive=True).load_data()
    nodes = SentenceSplitter(chunk_size=400, chunk_overlap=40).get_nodes_from_documents(docs)
    return len(files), total, len(nodes), time.perf_counter() - start


if __name__ == "__main__":
    peer, root = sys.argv[1], sys.argv[2]
    n, size, chunks, secs = {"langchain": langchain, "llamaindex": llamaindex}[peer](root)
    print(json.dumps({"peer": peer, "files": n, "bytes": size, "chunks": chunks, "seconds": secs}))
