"""Lines cut from the body as it arrives: the same lines, numbers and errors as reading the
whole body as a file with universal newlines, wherever the chunks split it."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest

from sieve.admin.ndjson import BadLine, numbered_lines

BODIES = [
    b"a\nb\n",
    b"a\r\nb\r\nc",
    b"a\rb\r\n\r\nc\n",
    b"\n\n",
    b"caf\xc3\xa9\r\n\xe2\x82\xac\n",
    b"",
]


def _lines(chunks: list[bytes], max_line_bytes: int = 1_024) -> list[tuple[int, str]]:
    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def collect() -> list[tuple[int, str]]:
        return [item async for item in numbered_lines(source(), max_line_bytes=max_line_bytes)]

    return asyncio.run(collect())


def _as_a_file(body: bytes) -> list[tuple[int, str]]:
    text = io.StringIO(body.decode(), newline=None).read().split("\n")
    lines = text[:-1] if text[-1] == "" else text
    return list(enumerate(lines, start=1))


@pytest.mark.parametrize("body", BODIES)
def test_every_split_of_the_body_gives_the_lines_a_file_would(body: bytes) -> None:
    expected = _as_a_file(body)

    assert _lines([body]) == expected
    for cut in range(len(body) + 1):
        assert _lines([body[:cut], body[cut:]]) == expected, cut
    assert _lines([body[i : i + 1] for i in range(len(body))]) == expected


def test_an_empty_chunk_inside_a_split_crlf_changes_nothing() -> None:
    assert _lines([b"a\r", b"", b"\nb"]) == [(1, "a"), (2, "b")]


def test_a_bad_byte_is_named_by_its_line() -> None:
    with pytest.raises(BadLine, match=r"^line 2: not UTF-8$"):
        _lines([b"ok\ncaf\xe9\n"])


@pytest.mark.parametrize(
    "chunks",
    [[b"ab\n", b"x" * 11 + b"\n"], [b"ab\n" + b"x" * 6, b"x" * 6], [b"ab\n", b"x" * 11]],
    ids=["ended", "unended-split", "last-unended"],
)
def test_a_line_over_the_bound_is_refused_naming_it(chunks: list[bytes]) -> None:
    with pytest.raises(BadLine, match=r"^line 2: longer than 10 bytes$"):
        _lines(chunks, max_line_bytes=10)
