"""Scenarios `llm-faults` and `budget`: what is paid, and that it is all accounted for.

`llm-faults`: the simulator answers 30% of requests 429 (Retry-After 1 s), 10% 5xx and
leaves 5% hanging past the client's timeout. Passes when every escalation is labeled, the
simulator was paid once per distinct escalated text plus once per unusable answer, the
ledger holds exactly as many requests as the simulator counted, and nothing is lost or
duplicated.

`budget`: an hourly budget worth BUDGET_CALLS calls (the simulator priced at 1 USD per 1M
prompt tokens, completions free, so a call's cost is known from its prompt). Once spend
stops, the spend in the ledger must be within the budget plus one call, the rest of the
escalations `deferred` with their provisional label; then the window *renews*: the
hour's counters are deleted from Redis, as the next hour would start with none, and the
drain must enqueue the deferred escalations and get them labeled.
"""

from __future__ import annotations

import functools
import json
import time

import redis

from sieve.bench.faults.llm import SwitchableLLM
from sieve.bench.faults.registry import Row, scenario, tallied_row
from sieve.bench.faults.rig import REDIS_URL, Rig, wait_for
from sieve.bench.faults.suite import Suite
from sieve.labeler.prompts import load_prompt
from sieve.labeler.sim.endpoint import SimulatorConfig, approx_tokens
from sieve.labeler.sim.faults import FaultRates
from sieve.store.escalations import EscalationStatus, count_escalations
from sieve.store.ledger import spend_totals
from sieve.store.tally import dearest_request_usd

BUDGET_CALLS = 50
PRICE_IN_USD_PER_1M = 1.0
MAX_RENEWALS = 3


@scenario("llm-faults", "the LLM answers 30% 429, 10% 5xx and hangs 5%")
def llm_faults(suite: Suite, short: bool) -> Row:
    messages = 400 if short else 3_000
    faults = FaultRates(rate_limit=0.30, server_error=0.10, hang=0.05)
    config = SimulatorConfig(faults=faults, retry_after_s=1, hang_s=10.0, seed=7)
    with SwitchableLLM(suite.teacher, config) as llm, Rig(suite, "llm-faults", messages) as rig:
        env = rig.env(llm.base_url, LLM__TIMEOUT_S="3")
        for command in ("beat", "worker", "worker", "stream"):
            rig.start(env, command)
        rig.produce(0, messages)
        settled = wait_for(rig.settled, 300 if short else 1_200)
        tally = rig.tally()
        counts = llm.counts()
        ledger = spend_totals(rig.engine).requests
    paid, unusable = counts["paid_calls"], counts["unusable"]
    return tallied_row(
        "llm-faults",
        messages,
        tally,
        paid,
        checks=(
            ("settled", settled),
            ("every escalation labeled", tally.labeled == tally.escalated),
            ("paid calls = distinct texts + unusable", paid == tally.distinct_texts + unusable),
            ("ledger requests = simulator requests", ledger == counts["requests"]),
        ),
        detail=f"{tally.escalated} escalated; {counts['requests']} requests, "
        f"{ledger} in the ledger; {unusable} unusable",
    )


@scenario("budget", f"an hourly budget worth {BUDGET_CALLS} calls, then its renewal")
def budget(suite: Suite, short: bool) -> Row:
    messages = 480  # 120 escalations: more than the budget buys, less than two budgets
    with SwitchableLLM(suite.teacher) as llm, Rig(suite, "budget", messages) as rig:
        call_usd = _mean_call_usd(suite, messages)
        budget_usd = BUDGET_CALLS * call_usd
        env = rig.env(
            llm.base_url,
            BUDGET__USD_PER_HOUR=repr(budget_usd),
            LLM__PRICES_USD_PER_1M=json.dumps({"teacher-sim": [PRICE_IN_USD_PER_1M, 0.0]}),
        )
        for command in ("beat", "worker", "worker", "stream"):
            rig.start(env, command)
        hour = int(time.time() // 3_600)
        rig.produce(0, messages)
        stopped = wait_for(lambda: _spend_stopped(rig), 240)
        crossed_hour = int(time.time() // 3_600) != hour  # a real renewal happened
        spent_usd = spend_totals(rig.engine).cost_usd
        dearest_usd = dearest_request_usd(rig.engine)
        deferred = _deferred(rig)
        labeled_before = rig.tally().labeled
        renewals = 0
        while not rig.settled() and renewals < MAX_RENEWALS:
            waiting = _deferred(rig)
            _renew(rig.prefix)
            renewals += 1
            # The beat's drain enqueues the deferred escalations within ~10 s.
            wait_for(functools.partial(_drained_below, rig, waiting), 60)
            wait_for(lambda: _spend_stopped(rig), 120)
        settled = wait_for(rig.settled, 30)
        tally = rig.tally()
        paid = llm.paid_calls
    allowed_usd = budget_usd * (2 if crossed_hour else 1) + dearest_usd
    return tallied_row(
        "budget",
        messages,
        tally,
        paid,
        checks=(
            ("spend stopped", stopped),
            ("spend <= budget + one call", spent_usd <= allowed_usd),
            ("the rest deferred", deferred > 0 and labeled_before + deferred == tally.escalated),
            ("labeled after renewal", settled and tally.labeled == tally.escalated),
        ),
        spend=f"{spent_usd:.5f} / {budget_usd:.5f} USD",
        detail=f"{tally.escalated} escalated; {labeled_before} labeled within the budget, "
        f"{deferred} deferred; {renewals} renewals",
    )


def _mean_call_usd(suite: Suite, messages: int) -> float:
    """What the simulator charges on average for a prompt of these texts (its token count:
    ~4 characters a token, 4 per message, 3 per request), at PRICE_IN_USD_PER_1M."""
    prompt = load_prompt("classify-zero-shot")
    labels = (suite.data_dir / "labels.txt").read_text(encoding="utf-8").split()
    texts = suite.texts[:messages]
    tokens = [
        sum(approx_tokens(str(m["content"])) + 4 for m in prompt.render(text, labels)) + 3
        for text in texts
    ]
    return sum(tokens) / len(tokens) * PRICE_IN_USD_PER_1M / 1e6


def _drained_below(rig: Rig, deferred: int) -> bool:
    return rig.settled() or _deferred(rig) < deferred


def _deferred(rig: Rig) -> int:
    return count_escalations(rig.engine, EscalationStatus.DEFERRED)


def _spend_stopped(rig: Rig) -> bool:
    """Every message predicted, and every escalation labeled or deferred."""
    tally = rig.tally()
    return tally.predicted >= rig.messages and tally.answered + _deferred(rig) >= tally.escalated


def _renew(prefix: str) -> None:
    """The next hour: the budget's counters start from nothing."""
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}spend:usd_per_hour:*"))
    if keys:
        client.delete(*keys)
    client.close()
