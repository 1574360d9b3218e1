"""Property-based tests of the post form (the HTML form's ``/{board}/post`` and the JSON
API's thread and reply routes) through the whole application in-process: whatever the
fields, files and encodings, the answer is never a 5xx; an accepted post can be read back
through the 4chan JSON API and its thread page renders.

The markup renderer has its own properties in tests/unit/test_markup.py and /api/v1 its
schemathesis run in tests/integration/api/test_schemathesis.py; this fuzzes what those do
not: the form parsing, the field combinations and the posting path behind them.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import media_samples as samples
from tests.reliability.conftest import Figures

EXAMPLES = int(os.environ.get("IMAGEBOARD_FUZZ_EXAMPLES", "150"))
JSON = {"accept": "application/json"}
ANSWERS: Counter[int] = Counter()  # every status the fuzzed posts got, for the figures

MARKUP_PIECES = [
    ">>1", ">>2", ">>>/b/", ">>>/b/1", ">>>/nope/99999999999999999999", ">", ">>", "\n", "\r\n", "[spoiler]",
    "[/spoiler]", "[code]", "[/code]", "**", "''", "'''", "__", "~~", "==", "http://example.com/?a=<b>&c",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "&amp;", "&#x3C;", "\u202e", "\x00", "\u0000",
    "javascript:alert(1)", "](javascript:x)", "#", "##", "!!", "\t", " " * 50, "é", "𝕏", "\ufeff", "\u2028",
]  # fmt: skip
OPTIONS = ["", "sage", "noko", "nonoko", "sage noko", "SAGE", "mailto:x", "#", "sage" * 50]

# Any Unicode but lone surrogates (which no HTTP client can encode).
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=200)
comment = st.one_of(
    text,
    st.lists(st.one_of(st.sampled_from(MARKUP_PIECES), text), max_size=30).map("".join),
    st.text(st.sampled_from(">\n[]/*'b0123456789 "), min_size=1000, max_size=25_000),
)
resto = st.one_of(
    st.just(""), st.just("0"), st.integers(-10, 10).map(str), st.integers(0, 2**80).map(str), text.map(lambda t: t[:20])
)
upload = st.one_of(
    st.none(),
    st.tuples(text.map(lambda t: t[:300] or "f"), st.binary(max_size=4096)),
    st.tuples(text.map(lambda t: (t[:100] or "f") + ".png"), st.just(samples.png_bytes(20, 20))),
    st.tuples(st.just("../../x.gif"), st.just(samples.gif_bytes(16, 16))),
)
extra = st.dictionaries(text.map(lambda t: t[:40] or "k"), text, max_size=5)


@st.composite
def form(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": draw(st.one_of(text, st.sampled_from(["##", "#", "a#b", "a##b", "Anon#" + "x" * 200]))),
        "email": draw(st.sampled_from(OPTIONS) | text),
        "sub": draw(text),
        "com": draw(comment),
        "pwd": draw(text),
        "resto": draw(resto),
        "spoiler": draw(st.sampled_from(["", "on", "1", "true", "off"])),
        "capcode": draw(st.sampled_from(["", "on"])),
    }
    fields.update({k: v for k, v in draw(extra).items() if k not in fields})
    if draw(st.booleans()):
        fields = {k: v for k, v in fields.items() if draw(st.booleans())}  # leave some out
    return fields


async def _check_posted(client: httpx.AsyncClient, board: str, answer: httpx.Response) -> None:
    created = answer.json()
    thread_no = created.get("thread") or created.get("thread_no")
    no = created["no"]
    thread = await client.get(f"/{board}/thread/{thread_no}.json")
    assert thread.status_code == 200, thread.text
    assert no in [post["no"] for post in thread.json()["posts"]]
    page = await client.get(f"/{board}/thread/{thread_no}")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "<img src=x onerror" not in page.text


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    fields=form(),
    file=upload,
    board=st.sampled_from(["b", "tech", "nope"]),
    encoding=st.sampled_from(["multipart", "urlencoded"]),
)
async def test_post_form_never_fails_on_our_side(
    app_client: httpx.AsyncClient, fields: dict[str, Any], file: tuple[str, bytes] | None, board: str, encoding: str
) -> None:
    files = {"upfile": (file[0], file[1], "application/octet-stream")} if file and encoding == "multipart" else None
    if encoding == "multipart" and files is None:
        files = {"upfile": ("", b"", "application/octet-stream")}  # an empty file input, as browsers send it
    answer = await app_client.post(f"/{board}/post", data=fields, files=files, headers=JSON)
    ANSWERS[answer.status_code] += 1
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        error = answer.json()["error"]
        assert error["message"] and error["code"]
    else:
        assert answer.status_code in (201, 202), answer.text
        if answer.status_code == 201:
            await _check_posted(app_client, board, answer)


@settings(
    max_examples=EXAMPLES // 2,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    name=text,
    options=st.sampled_from(OPTIONS) | text,
    subject=text,
    body=comment,
    password=text,
    file=upload,
    thread=st.one_of(st.none(), st.integers(-1, 2**70)),
)
async def test_api_posting_never_fails_on_our_side(
    app_client: httpx.AsyncClient,
    name: str,
    options: str,
    subject: str,
    body: str,
    password: str,
    file: tuple[str, bytes] | None,
    thread: int | None,
) -> None:
    data = {"name": name, "options": options, "comment": body, "password": password}
    files = {"files": (file[0], file[1], "application/octet-stream")} if file else None
    if thread is None:
        answer = await app_client.post("/api/v1/boards/b/threads", data={**data, "subject": subject}, files=files)
    else:
        answer = await app_client.post(f"/api/v1/boards/b/threads/{thread}/posts", data=data, files=files)
    ANSWERS[answer.status_code] += 1
    assert answer.status_code < 500, answer.text
    if answer.status_code == 201:
        created = answer.json()
        listed = await app_client.get(f"/api/v1/boards/b/threads/{created['thread_no']}")
        assert listed.status_code == 200
        assert created["no"] in [post["no"] for post in listed.json()["posts"]]
    else:
        assert answer.json()["error"]["message"]


def test_fuzz_figures(figures: Figures) -> None:
    """Runs after the properties above (pytest keeps file order): what they sent and got."""
    figures.record("post_form_fuzz", requests=sum(ANSWERS.values()), answers=dict(sorted(ANSWERS.items())))
    assert sum(ANSWERS.values()) >= EXAMPLES
    assert not any(status >= 500 for status in ANSWERS)
