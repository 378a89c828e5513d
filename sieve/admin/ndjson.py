"""JSON Lines read as the body arrives: lines are cut from the received chunks one by one,
so the body is never held whole, only the line being read (bounded by ``max_line_bytes``).

Lines end as reading a file with universal newlines ends them (``\\n``, ``\\r\\n`` or
``\\r``), also when a ``\\r\\n`` is split between two chunks, so line numbers agree with
``sieve label-file``. Splitting the bytes is safe: UTF-8 never puts ``\\r`` or ``\\n``
inside a multi-byte character. Each line is decoded on its own, so a bad byte is named by
its line.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator

from sieve.core.errors import PermanentError

_LINE_END = re.compile(rb"\r\n|\r|\n")


class BadLine(PermanentError):
    """A line that cannot be read; the message starts with ``line N:``."""


async def numbered_lines(
    chunks: AsyncIterable[bytes], *, max_line_bytes: int
) -> AsyncIterator[tuple[int, str]]:
    """(line number from 1, text without its line end) for every line, blank ones included."""
    pending = b""
    number = 0
    skip_lf = False  # the previous chunk ended on \r: a \n starting this one ends nothing
    async for chunk in chunks:
        if not chunk:
            continue  # an empty chunk neither ends nor continues a \r\n
        if skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        skip_lf = False
        pending += chunk  # bytes, not a bytearray: finditer holds a view of it meanwhile
        start = 0
        for end in _LINE_END.finditer(pending):
            if end.group() == b"\r" and end.end() == len(pending):
                skip_lf = True  # may be the first half of a \r\n
            number += 1
            yield number, _decoded(number, pending[start : end.start()], max_line_bytes)
            start = end.end()
        pending = pending[start:]
        if len(pending) > max_line_bytes:
            raise BadLine(f"line {number + 1}: longer than {max_line_bytes} bytes")
    if pending:
        yield number + 1, _decoded(number + 1, pending, max_line_bytes)


def _decoded(number: int, raw: bytes, max_line_bytes: int) -> str:
    if len(raw) > max_line_bytes:
        raise BadLine(f"line {number}: longer than {max_line_bytes} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadLine(f"line {number}: not UTF-8") from exc
