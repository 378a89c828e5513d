"""The label store's schema. Alembic migrations (sieve/migrations) are the only way it changes.

Every table a worker writes has a natural unique key, so a redelivered message or a
retried task upserts onto the row it already made instead of adding a second one.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from sieve.store.columns import MESSAGE_FIELD_CHARS, MESSAGE_ID_CHARS

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _created_at() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


messages = Table(
    "messages",
    metadata,
    Column("id", String(MESSAGE_ID_CHARS), primary_key=True),
    Column("text", Text, nullable=False),
    Column("source", String(MESSAGE_FIELD_CHARS["source"])),
    Column("meta", JSON),
    Column("topic", String(255)),
    Column("partition", Integer),
    Column("offset", BigInteger),
    _created_at(),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("version", String(128), primary_key=True),
    Column("family", String(32), nullable=False),
    Column("path", Text, nullable=False),
    Column("data_hash", String(64), nullable=False),
    Column("metrics", JSON, nullable=False),
    # ModelStatus (versions.py); the default is ModelStatus.REGISTERED, as migrated.
    Column("status", String(16), nullable=False, server_default="registered"),
    Column("status_reason", Text),
    _created_at(),
)

# An append-only history: the active version is the newest row; rollback appends the
# previous one again, so the log also tells who was active when.
model_activations = Table(
    "model_activations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    _created_at(),
)

predictions = Table(
    "predictions",
    metadata,
    Column("message_id", String(MESSAGE_ID_CHARS), primary_key=True),
    Column("model_version", String(128), primary_key=True),
    Column("label", String(128)),
    Column("confidence", Float, nullable=False),
    Column("margin", Float, nullable=False),
    Column("route", String(16), nullable=False),  # routing.policy.Route
    Column("reason", String(32), nullable=False),  # routing.policy.Reason, or "rule:<name>"
    _created_at(),
    # Drift windows (store/routing_stats.py): a version's first and latest decisions.
    Index("ix_predictions_model_version_created_at", "model_version", "created_at"),
)

# Escalated messages waiting for the LLM. The stream worker records them here until the
# Celery path exists; the LLM path drains `pending` rows into tasks.
escalations = Table(
    "escalations",
    metadata,
    Column("message_id", String(MESSAGE_ID_CHARS), primary_key=True),
    Column("model_version", String(128), nullable=False),
    Column("reason", String(32), nullable=False),
    # EscalationStatus (escalations.py); the default is PENDING, as migrated. Indexed: the
    # sink counts the escalations waiting for the LLM at every batch.
    Column("status", String(16), nullable=False, server_default="pending", index=True),
    _created_at(),
    Column("updated_at", DateTime(timezone=True), server_default=func.now()),
)

labels = Table(
    "labels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(MESSAGE_ID_CHARS), nullable=False, index=True),
    Column("source", String(16), nullable=False),  # LabelSource.LLM | HUMAN (core/events.py)
    Column("prompt_version", String(64), nullable=False, server_default=""),
    Column("llm_model", String(128), nullable=False, server_default=""),
    Column("label", String(128)),
    Column("status", String(16), nullable=False),  # LabelStatus (labels.py)
    Column("error", Text),
    Column("rationale", Text),
    Column("raw_answer", Text),
    Column("tokens_in", Integer),
    Column("tokens_out", Integer),
    Column("cost_usd", Float),
    Column("latency_ms", Float),
    Column("cached", Boolean, nullable=False, server_default="0"),
    # Set once the final label event is on the labels topic.
    Column("announced_at", DateTime(timezone=True)),
    _created_at(),
    UniqueConstraint("message_id", "source", "prompt_version", "llm_model"),
)

training_runs = Table(
    "training_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # RunStatus (training.py)
    Column("trigger", String(32), nullable=False),  # RunTrigger (training.py)
    Column("model_version", String(128)),
    Column("metrics", JSON),
    Column("error", Text),
    Column("promoted", Boolean),
    _created_at(),
    Column("finished_at", DateTime(timezone=True)),
)

# Named leases with an expiry: one retraining at a time across processes and machines,
# the same on PostgreSQL and SQLite. Names start with a LeaseKind (coordination.py).
LOCK_NAME_LENGTH = 64

locks = Table(
    "locks",
    metadata,
    Column("name", String(LOCK_NAME_LENGTH), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# The LLM answer cache when Sieve runs without Redis: the labeler's cache key (sha256 hex)
# → the answer as JSON. No expiry unless the operator sets one.
llm_answers = Table(
    "llm_answers",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("answer", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    _created_at(),
)

# The LLM ledger: one row per HTTP request sent to the LLM endpoint, whatever became of it
# (answered, unusable, refused, timed out; corrective turns too). Spend is read from here.
# The client's request id is the key, so a row written twice stays one row.
llm_requests = Table(
    "llm_requests",
    metadata,
    Column("request_id", String(32), primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("message_id", String(MESSAGE_ID_CHARS)),
    Column("prompt_version", String(64), nullable=False),
    Column("model", String(128), nullable=False),
    Column("turn", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("status_code", Integer),
    Column("tokens_in", Integer, nullable=False),
    Column("tokens_out", Integer, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("latency_ms", Float, nullable=False),
)

# Shared counters of the LLM rate limits and spend budgets when Sieve runs without Redis:
# one row per (limit, window), e.g. "usd_per_hour:493921"; deleted once expired.
spend_counters = Table(
    "spend_counters",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("amount", Float, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# Prompt A/B (sieve.labeler.bandit): one row per (pool, prompt version), where the pool is
# the set of prompt versions configured together (SIEVE_LLM__PROMPTS, sorted, joined by
# commas). `active` until a version wins: the winner is `promoted`, the others `retired`.
PROMPT_POOL_CHARS = 255

prompt_arms = Table(
    "prompt_arms",
    metadata,
    Column("pool", String(PROMPT_POOL_CHARS), primary_key=True),
    Column("prompt_version", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # ArmStatus (prompt_arms.py)
    Column("reason", Text),
    _created_at(),
    Column("updated_at", DateTime(timezone=True)),
)

# Which prompt version of a pool labels a message, chosen once: a retried or redelivered
# task labels with the same version instead of drawing again (and paying twice).
prompt_assignments = Table(
    "prompt_assignments",
    metadata,
    Column("pool", String(PROMPT_POOL_CHARS), primary_key=True),
    Column("message_id", String(MESSAGE_ID_CHARS), primary_key=True),
    Column("prompt_version", String(64), nullable=False),
    _created_at(),
)

# Synthetic examples (`sieve bootstrap`): messages the LLM wrote for a label before any
# traffic. They train the first student (and later ones, down to a cut-off) but are never
# messages, never LLM answers to real messages and never gold. Key: the normalised text's
# sha256, so a text is an example of one label and asking again adds nothing twice.
synthetic_examples = Table(
    "synthetic_examples",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("label", String(128), nullable=False, index=True),
    Column("text", Text, nullable=False),
    Column("prompt_version", String(64), nullable=False),
    Column("llm_model", String(128), nullable=False),
    Column("seed", Integer, nullable=False),
    _created_at(),
)
