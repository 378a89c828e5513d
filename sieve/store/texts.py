"""How often each message text was stored: what pre-generation ranks texts by."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from sieve.store.repository import reading
from sieve.store.tables import messages


def text_counts(engine: Engine, *, min_count: int = 1) -> list[tuple[str, int]]:
    """(exact text, stored messages with it), most frequent first; texts of fewer than
    ``min_count`` messages left out. Spellings that normalise alike are merged by the
    caller (normalisation is Unicode NFKC, which SQL does not do the same everywhere)."""
    count = func.count()
    query = (
        select(messages.c.text, count)
        .group_by(messages.c.text)
        .order_by(count.desc(), messages.c.text)
    )
    with reading(engine) as conn:
        return [(text, int(n)) for text, n in conn.execute(query) if n >= min_count]
