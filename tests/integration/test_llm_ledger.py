"""The LLM ledger and single flight on real PostgreSQL, Redis and Tansu, against the teacher
simulator over HTTP: label_escalated in-process, retried the way the Celery task retries.

- With faults (429, 5xx, hangs, malformed and outside-set answers), the ledger's requests
  and tokens equal what the simulator counted, exactly.
- N message ids carrying one text, labeled concurrently: exactly one paid call, with the
  leases in Redis or in the database.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select

from sieve.core.dataset import read_labeled_jsonl
from sieve.core.errors import TransientError
from sieve.core.settings import Settings
from sieve.labeler.sim.endpoint import SimulatorConfig
from sieve.labeler.sim.faults import FaultRates, LatencySpec
from sieve.labeler.sim.simulator import SimulatorServer
from sieve.store.engine import make_engine
from sieve.store.ledger import SpendGroup, spend_by, spend_totals
from sieve.store.repository import MessageRecord, save_messages
from sieve.store.tables import labels
from sieve.wiring import labeling_context
from sieve.workers.llm.labeling import LabelingContext, Outcome, label_escalated
from tests.conftest import BANKING77

pytestmark = pytest.mark.integration


def _context(settings: Settings, base_url: str) -> LabelingContext:
    llm = settings.llm.model_copy(
        update={
            "base_url": base_url,
            "timeout_s": 1.0,
            "prices_usd_per_1m": {"teacher-sim": (1.0, 2.0)},
        }
    )
    return labeling_context(settings.model_copy(update={"llm": llm}))


def _label_until_done(ctx: LabelingContext, message_id: str) -> Outcome:
    """What the Celery task does, without the countdowns: transient errors (429, 5xx,
    timeouts, an answer in flight elsewhere) are tried again."""
    for _ in range(200):
        try:
            return label_escalated(ctx, message_id)
        except TransientError:
            time.sleep(0.05)
    raise AssertionError(f"{message_id} never got past its transient errors")


def test_the_ledger_counts_exactly_what_the_endpoint_counted(llm_settings, teacher) -> None:
    items = read_labeled_jsonl(BANKING77 / "test.jsonl")[:40]
    engine = make_engine(llm_settings.database_url)
    # 40 distinct texts, the first 10 also under a second id: 50 messages.
    records = [MessageRecord(id=f"m{i}", text=item.text) for i, item in enumerate(items)]
    records += [MessageRecord(id=f"dup{i}", text=items[i].text) for i in range(10)]
    save_messages(engine, records)
    faults = FaultRates(rate_limit=0.1, server_error=0.1, hang=0.03, malformed=0.1, outside_set=0.1)
    config = SimulatorConfig(faults=faults, seed=3, hang_s=5.0)
    with SimulatorServer(teacher, config) as sim:
        ctx = _context(llm_settings, sim.base_url)
        outcomes = Counter(_label_until_done(ctx, record.id) for record in records)
        truth = sim.stats()
    assert ctx.ledger.pending == 0
    totals = spend_totals(engine)
    by_outcome = totals.requests_by_outcome

    # Every kind of fault happened, and each request is one ledger row ...
    for outcome in ("ok", "rate_limited", "server_error", "timeout", "malformed", "outside_set"):
        assert by_outcome.get(outcome, 0) > 0, outcome
    assert totals.requests == truth["requests"]
    # ... and what the endpoint billed is what the ledger holds, to the token.
    assert (totals.tokens_in, totals.tokens_out) == (
        truth["prompt_tokens"],
        truth["completion_tokens"],
    )
    answered = by_outcome["ok"] + by_outcome["malformed"] + by_outcome["outside_set"]
    assert answered == truth["paid_calls"]
    assert by_outcome["rate_limited"] == truth["outcomes"]["rate_limited"]
    assert totals.cost_usd == pytest.approx(
        (truth["prompt_tokens"] * 1.0 + truth["completion_tokens"] * 2.0) / 1e6
    )
    # The label rows under-report (they hold the winning turns only): the ledger does not.
    with engine.connect() as conn:
        label_tokens = sum(t or 0 for t in conn.execute(select(labels.c.tokens_in)).scalars())
    assert label_tokens < totals.tokens_in
    # The duplicates were served from the cache or failed like their twin; none paid again.
    assert outcomes[Outcome.CACHED] + outcomes[Outcome.LABELED] + outcomes[Outcome.FAILED] == 50
    assert [row.group for row in spend_by(engine, SpendGroup.PROMPT_VERSION)] == [
        "classify-zero-shot@1"
    ]
    engine.dispose()


def test_one_text_under_many_ids_labeled_concurrently_is_paid_once(llm_settings, teacher) -> None:
    item = read_labeled_jsonl(BANKING77 / "test.jsonl")[7]
    spellings = [item.text, item.text.upper(), f"  {item.text}  ", item.text.lower()]
    ids = [f"same{i}" for i in range(12)]
    engine = make_engine(llm_settings.database_url)
    save_messages(
        engine,
        [MessageRecord(id=mid, text=spellings[i % len(spellings)]) for i, mid in enumerate(ids)],
    )
    # 400 ms per answer: every labeling misses the cache before the first answer lands.
    config = SimulatorConfig(latency=LatencySpec.parse("400"))
    with SimulatorServer(teacher, config) as sim:
        ctx = _context(llm_settings, sim.base_url)
        results: dict[str, Outcome] = {}
        start = threading.Barrier(len(ids))

        def run(message_id: str) -> None:
            start.wait()
            results[message_id] = _label_until_done(ctx, message_id)

        threads = [threading.Thread(target=run, args=(mid,)) for mid in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        truth = sim.stats()

    assert truth["paid_calls"] == 1 and truth["requests"] == 1
    assert Counter(results.values()) == {Outcome.LABELED: 1, Outcome.CACHED: len(ids) - 1}
    assert spend_totals(engine).requests == 1
    with engine.connect() as conn:
        rows = conn.execute(select(labels.c.message_id, labels.c.label, labels.c.status)).all()
    assert sorted(row.message_id for row in rows) == sorted(ids)
    # One answer, paid once, for every id (the teacher may be wrong, but consistently).
    assert len({(row.label, row.status) for row in rows}) == 1 and rows[0].status == "ok"
    engine.dispose()
