"""A budget on the LLM path, end to end against the teacher simulator: spend stops within
one request of the budget, the rest wait as `deferred` with their provisional label, and
they are labeled once the window renews (budget counters in Redis, or in the store)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from sieve.core.dataset import read_labeled_jsonl
from sieve.labeler.sim.endpoint import SimulatorConfig
from sieve.labeler.sim.simulator import SimulatorServer
from sieve.store.engine import make_engine
from sieve.store.escalations import EscalationStatus, set_escalation_status
from sieve.store.ledger import spend_totals
from sieve.store.repository import (
    EscalationRecord,
    MessageRecord,
    save_escalations,
    save_messages,
)
from sieve.store.tables import labels, llm_requests
from sieve.wiring import celery_sink
from sieve.workers.llm.budget import BudgetGate
from sieve.workers.llm.labeling import Outcome
from tests.conftest import BANKING77
from tests.integration.test_escalation_states import _queued, _statuses
from tests.integration.test_llm_ledger import _context, _label_until_done

pytestmark = pytest.mark.integration

BUDGET_USD = 0.004  # a few answers at the test's prices (1 and 2 USD per 1M tokens)


def test_a_spent_budget_defers_escalations_until_it_renews(llm_settings, teacher) -> None:
    settings = llm_settings.model_copy(
        update={"budget": llm_settings.budget.model_copy(update={"usd_per_hour": BUDGET_USD})}
    )
    items = read_labeled_jsonl(BANKING77 / "test.jsonl")[:20]
    ids = [f"b{i}" for i in range(len(items))]
    engine = make_engine(settings.database_url)
    save_messages(
        engine, [MessageRecord(id=i, text=it.text) for i, it in zip(ids, items, strict=True)]
    )
    save_escalations(engine, [EscalationRecord(i, "v1", "low_confidence") for i in ids])
    set_escalation_status(engine, ids, EscalationStatus.ENQUEUED)
    with SimulatorServer(teacher, SimulatorConfig()) as sim:
        ctx = _context(settings, sim.base_url)
        assert isinstance(ctx.client.gate, BudgetGate)
        outcomes = {mid: _label_until_done(ctx, mid) for mid in ids}
        labeled = [mid for mid, outcome in outcomes.items() if outcome is Outcome.LABELED]
        deferred = [mid for mid, outcome in outcomes.items() if outcome is Outcome.DEFERRED]

        totals = spend_totals(engine)
        with engine.connect() as conn:
            dearest = conn.execute(select(func.max(llm_requests.c.cost_usd))).scalar_one()
        assert len(labeled) >= 2 and len(deferred) >= 2
        assert len(labeled) + len(deferred) == len(ids)
        assert totals.requests == len(labeled) == sim.stats()["requests"]
        # Requests go out while the hour's spend is below the budget: it is reached, and
        # passed by one request at most.
        assert BUDGET_USD <= totals.cost_usd <= BUDGET_USD + dearest
        statuses = _statuses(engine)
        assert {statuses[mid] for mid in deferred} == {EscalationStatus.DEFERRED}
        with engine.connect() as conn:
            rows = set(conn.execute(select(labels.c.message_id)).scalars())
        assert rows == set(labeled)  # the deferred keep their provisional label only

        # The drain leaves them while the budget is spent ...
        budget = ctx.client.gate.budget
        sink = celery_sink(settings, engine)
        assert sink.drain_deferred(budget_has_room=budget.has_room()) == 0
        # ... and enqueues them in the next hour, when they are labeled.
        budget.clock = lambda: time.time() + 3_600
        assert sink.drain_deferred(budget_has_room=budget.has_room()) == len(deferred)
        assert _queued(settings) == len(deferred)
        later = [_label_until_done(ctx, mid) for mid in deferred[:3]]
        assert later == [Outcome.LABELED] * 3
    engine.dispose()
