"""The official `openai` Python client against a running berth gateway.

Run by crates/berth/tests/gateway.rs with the gateway's base URL; the gateway routes the
logical models below to stand-in upstreams scripted by that test:

  chat    -> a healthy upstream (upstream model name `upstream-chat`)
  flaky   -> an upstream that always answers 500, then the healthy one (fallback)
  limited -> an upstream that always answers 429
  picky   -> an upstream that always answers 400
  cut     -> an upstream that breaks every stream after two events
  embed   -> the healthy upstream

Prints one line per check and exits non-zero on the first failure.
"""

import sys

import openai
from openai import OpenAI

base_url = sys.argv[1]
client = OpenAI(base_url=base_url, api_key="sk-client", max_retries=0, timeout=20)


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name}: {detail}")
        sys.exit(1)
    print(f"ok   {name}")


def expect_error(name, cls, status, call):
    try:
        call()
    except cls as e:
        check(name, e.status_code == status, f"status {e.status_code}, body {e.body!r}")
        return e
    except Exception as e:  # noqa: BLE001 - report what arrived instead
        check(name, False, f"{type(e).__name__}: {e}")
    check(name, False, "no error raised")


models = sorted(m.id for m in client.models.list().data)
check("models.list names the logical models", models == ["chat", "cut", "embed", "flaky", "limited", "picky"], models)

reply = client.chat.completions.create(
    model="chat",
    messages=[{"role": "user", "content": "hi"}],
    extra_body={"top_k": 5},
)
check("chat: the logical model name comes back", reply.model == "chat", reply.model)
check("chat: content arrives", bool(reply.choices[0].message.content), reply)
check("chat: usage is reported", reply.usage is not None and reply.usage.total_tokens > 0, reply.usage)

stream = client.chat.completions.create(
    model="chat",
    messages=[{"role": "user", "content": "stream please"}],
    stream=True,
    stream_options={"include_usage": True},
)
pieces, usage, names = [], None, set()
for chunk in stream:
    names.add(chunk.model)
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
    if chunk.usage is not None:
        usage = chunk.usage
check("stream: several content events", len(pieces) >= 2, pieces)
check("stream: usage chunk with include_usage", usage is not None and usage.total_tokens > 0, usage)
check("stream: every chunk names the logical model", names == {"chat"}, names)

tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
reply = client.chat.completions.create(
    model="chat",
    messages=[{"role": "user", "content": "use a tool"}],
    tools=tools,
    response_format={"type": "json_object"},
)
check("tools and response_format are accepted", reply.model == "chat", reply)

reply = client.chat.completions.create(model="flaky", messages=[{"role": "user", "content": "hi"}])
check("fallback: a failing first route falls back to the next", reply.model == "flaky" and reply.choices[0].message.content, reply)

emb = client.embeddings.create(model="embed", input=["first text", "second text"])
check("embeddings: one vector per input", len(emb.data) == 2 and len(emb.data[0].embedding) > 0, emb)
check("embeddings: logical model name", emb.model == "embed", emb.model)

e = expect_error("unknown model -> NotFoundError 404", openai.NotFoundError, 404,
                 lambda: client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}]))
check("404 body is OpenAI-shaped", isinstance(e.body, dict) and e.body.get("code") == "model_not_found", e.body)
expect_error("upstream 400 -> BadRequestError", openai.BadRequestError, 400,
             lambda: client.chat.completions.create(model="picky", messages=[{"role": "user", "content": "x"}]))
expect_error("upstream 429 -> RateLimitError", openai.RateLimitError, 429,
             lambda: client.chat.completions.create(model="limited", messages=[{"role": "user", "content": "x"}]))
expect_error("missing messages/model -> BadRequestError", openai.BadRequestError, 400,
             lambda: client.post("/chat/completions", body={"messages": []}, cast_to=object))

try:
    got = []
    for chunk in client.chat.completions.create(model="cut", messages=[{"role": "user", "content": "x"}], stream=True):
        got.append(chunk)
    check("a broken stream raises instead of ending silently", False, f"{len(got)} chunks and no error")
except openai.APIError as e:
    check("a broken stream raises APIError", "interrupted" in str(e) or "upstream" in str(e).lower(), str(e))

print("all checks passed")
