#!/usr/bin/env python3
"""A stand-in chat model for checking the Text2SQL evaluation's harness, not a model.

It speaks the OpenAI chat completions API (non-streaming) and answers each prompt with
the first gold query of the question the prompt holds (`Question: ...` line, dialect
from the prompt's first line), in a ```sql block, as a perfect model would. Run through
`text2sql_eval --chat-url`, execution accuracy then measures what berth's own parts lose
on the way (schema linking that leaves out a gold table, the validator, execution, the
result comparison), which should be close to nothing.

    python3 bench/text2sql/oracle.py ../shared/eval/text2sql 127.0.0.1:8765

With `--wrong` it answers `SELECT 1` to everything instead: the accuracy must then drop
to nearly nothing, which shows the comparison rejects wrong rows.
"""

import csv
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def expand_braces(sql):
    """sql-eval's `{a.x, a.y}` alternatives, kept whole as the evaluation does."""
    out, last, rest = [], "", sql
    while "{" in rest:
        i = rest.index("{")
        j = rest.find("}", i)
        if j < 0:
            break
        out.append(rest[:i])
        inner = rest[i + 1 : j].strip()
        if inner:
            last = inner
        out.append(last)
        rest = rest[j + 1 :]
    out.append(rest)
    return "".join(out)


def load(data):
    gold = {}
    for dialect, name in (("PostgreSQL", "questions_postgres.csv"), ("SQLite", "questions_sqlite.csv")):
        with open(f"{data}/{name}", newline="") as f:
            for row in csv.DictReader(f):
                first = expand_braces(row["query"]).split(";")[0].strip()
                gold[(dialect, row["question"].strip())] = first
    return gold


def main():
    data, address = sys.argv[1], sys.argv[2]
    wrong = "--wrong" in sys.argv[3:]
    host, port = address.rsplit(":", 1)
    gold = load(data)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            prompt = body["messages"][-1]["content"]
            dialect = "PostgreSQL" if prompt.startswith("You translate a question into one PostgreSQL") else "SQLite"
            match = re.search(r"^Question: (.*)$", prompt, re.M)
            sql = gold.get((dialect, match.group(1).strip())) if match else None
            if wrong:
                sql = "SELECT 1"
            content = f"```sql\n{sql}\n```" if sql else "I do not know this question."
            answer = json.dumps({
                "id": "oracle", "object": "chat.completion", "model": body.get("model", "oracle"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
            }).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    print(f"oracle stand-in on http://{address}/v1 ({len(gold)} questions)", flush=True)
    ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()
