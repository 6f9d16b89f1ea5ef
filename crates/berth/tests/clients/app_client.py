"""The official `openai` Python client asking one of berth's apps, as a model.

Usage: app_client.py BASE_URL APP QUESTION EXPECTED_DOCUMENT
Streams the answer of model `app/APP` and checks that text arrives, that berth's last
chunk carries citations and that the first citation is EXPECTED_DOCUMENT; then asks the
same without streaming. Prints one line per check and exits non-zero on the first failure.
"""

import sys

from openai import OpenAI

base_url, app, question, expected = sys.argv[1:5]
client = OpenAI(base_url=base_url, api_key="sk-unused", max_retries=0, timeout=30)


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name}: {detail}")
        sys.exit(1)
    print(f"ok   {name}")


text, citations, pieces, usage = "", None, 0, None
stream = client.chat.completions.create(
    model=f"app/{app}",
    messages=[{"role": "user", "content": question}],
    stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    extra = chunk.to_dict().get("berth")
    if extra:
        citations = extra["citations"]
    if chunk.usage:
        usage = chunk.usage
    for choice in chunk.choices:
        if choice.delta.content:
            text += choice.delta.content
            pieces += 1
check("streamed text", pieces >= 1 and len(text) > 20, repr(text))
check("citations in the last chunk", bool(citations), repr(citations))
check(
    "first citation is the right document",
    citations[0]["document"] == expected,
    f"{citations[0]['document']} != {expected}",
)
check("markers in the text", "[1]" in text, text)
check("usage with include_usage", usage is not None and usage.total_tokens > 0, repr(usage))

whole = client.chat.completions.create(
    model=f"app/{app}", messages=[{"role": "user", "content": question}]
)
check("whole answer", whole.choices[0].message.content == text, whole.choices[0].message.content)
check("model name", whole.model == f"app/{app}", whole.model)
print("all checks passed")
