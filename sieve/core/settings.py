"""The one settings object. Only entry points build it; library code receives sections.

Every field can be set from the environment with the prefix ``SIEVE_`` and ``__`` between
section and field, e.g. ``SIEVE_KAFKA__BOOTSTRAP_SERVERS=broker:9092``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path(".sieve")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    input_topic: str = "feedback"
    labels_topic: str = "feedback.labels"
    dlq_topic: str = "feedback.dlq"
    group_id: str = "sieve-stream"
    # A group join against Tansu takes about half of session_timeout_ms; Apache Kafka
    # answers as soon as the group is stable. 10 s is a fair compromise for both.
    session_timeout_ms: int = Field(10_000, ge=1_000)
    heartbeat_interval_ms: int = Field(2_000, ge=100)
    max_poll_interval_ms: int = Field(300_000, ge=1_000)
    # Longer than a group join: kafka-python drops a join that completes outside poll().
    poll_timeout_ms: int = Field(8_000, ge=10)
    max_batch_size: int = Field(500, ge=1)
    # How long the broker may hold a fetch that finds no new record. Apache Kafka answers
    # as soon as a record arrives; Tansu (the embedded broker) holds the fetch for all of
    # it, so a consumer that has caught up waits this long for the next record: the
    # latency benchmark (bench/RESULTS.md) measured produce → label event at 1,000 msg/s
    # with 500 ms (kafka-python's default) and with 10 ms.
    fetch_max_wait_ms: int = Field(500, ge=0, le=60_000)
    auto_offset_reset: str = "earliest"
    client_id: str = "sieve"
    # The producer refuses a record above this (kafka-python's max_request_size); keep it
    # at or below the broker's message.max.bytes (Apache Kafka: 1048588). A dead letter
    # above it is cut to fit (reason `too_large`).
    max_request_size_bytes: int = Field(1_048_576, ge=1_024)

    @model_validator(mode="after")
    def _heartbeat_below_session(self) -> KafkaSettings:
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be lower than session_timeout_ms")
        return self


class DatabaseSettings(_Section):
    # None: a SQLite file under the data dir (see Settings.database_url).
    url: SecretStr | None = None
    echo: bool = False


class RedisSettings(_Section):
    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    # Every key Sieve writes (answer cache, enqueue markers, locks) starts with this.
    key_prefix: str = "sieve:"


class LLMSettings(_Section):
    base_url: str = "http://127.0.0.1:8089/v1"
    api_key: SecretStr = SecretStr("")
    model: str = "teacher-sim"
    timeout_s: float = Field(30.0, gt=0)
    # Prompt template (sieve/labeler/prompts/<prompt>.yaml); its version is stored per label.
    prompt: str = "classify-zero-shot"
    # Prompt A/B: two or more templates, comma-separated ("classify-zero-shot,classify-
    # retrieval"; "name@version" is checked against the file), sharing the traffic by
    # Thompson sampling (SIEVE_BANDIT__*) until one is promoted. Empty: `prompt` alone.
    prompts: str = ""
    # Retrieval prompts (retrieval_k in the YAML): the index of labeled examples is rebuilt
    # at most this often, when the active model or the number of labels changed.
    retrieval_refresh_s: float = Field(60.0, ge=0)
    retrieval_max_examples: int = Field(20_000, ge=1)

    def prompt_names(self) -> list[str]:
        """The templates in use: ``prompts`` when set, else ``prompt``."""
        names = [name.strip() for name in self.prompts.split(",") if name.strip()]
        return names or [self.prompt]

    json_mode: bool = True  # response_format=json_object; turn off for endpoints without it
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int | None = Field(512, ge=1)
    seed: int | None = None
    corrective_retries: int = Field(1, ge=0, le=3)
    # Transient failures (429, 5xx, timeouts): exponential back-off with jitter, capped.
    retry_base_s: float = Field(1.0, gt=0)
    retry_cap_s: float = Field(60.0, gt=0)
    max_attempts: int = Field(8, ge=1)
    cache_ttl_s: int | None = Field(None, ge=1)  # None: answers never expire
    # USD per 1M tokens, {"model": [input, output]}; merged over the built-in table.
    prices_usd_per_1m: dict[str, tuple[float, float]] = Field(default_factory=dict)
    # Global limits shared by every worker (Redis, or the store without it); None: no limit.
    # Each request reserves its estimated tokens (prompt characters / 3 + max_tokens) and
    # is settled with the endpoint's own usage once answered.
    max_requests_per_minute: int | None = Field(None, ge=1)
    max_tokens_per_minute: int | None = Field(None, ge=1)


class BanditSettings(_Section):
    """Prompt A/B (SIEVE_LLM__PROMPTS): Thompson sampling on agreement with human labels."""

    # Promote a version once P(it is the best) reaches this, by Monte Carlo over the Betas...
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    # ...and every version has at least this many rewards.
    min_rewards: int = Field(30, ge=1)
    # While some versions have fewer rewards than that, this share of the traffic goes to
    # them: Thompson sampling alone starves a clearly worse version before its minimum.
    explore_share: float = Field(0.2, ge=0.0, le=1.0)
    draws: int = Field(4_000, ge=100)
    # How often a worker re-reads the rewards and checks for a winner.
    refresh_s: float = Field(10.0, ge=0)
    seed: int | None = None


class BudgetSettings(_Section):
    """Spend budgets on the LLM, in USD, over UTC clock hours and days; None: no budget.
    A request is sent only while the window's spend is below the budget, so spend exceeds
    it by at most one request's cost. Escalations refused for budget keep their provisional
    label and wait (status `deferred`); the drain enqueues them when the window renews."""

    usd_per_hour: float | None = Field(None, gt=0)
    usd_per_day: float | None = Field(None, gt=0)


class CelerySettings(_Section):
    """The task queue that carries escalations to the LLM."""

    # None: the Redis URL. Any Kombu URL otherwise; one that is not Redis (for example
    # sqlite:////var/lib/sieve/broker.db, which needs no server) moves the answer
    # cache, enqueue markers and label locks from Redis into the database.
    broker_url: SecretStr | None = None
    queue: str = "sieve"
    concurrency: int = Field(2, ge=1)
    prefetch_multiplier: int = Field(1, ge=1)
    soft_time_limit_s: float = Field(120.0, gt=0)
    time_limit_s: float = Field(150.0, gt=0)
    # Must exceed the worst task time plus every retry countdown, or Redis redelivers a
    # task that is still running and the LLM is paid twice (celery #5935, #5306).
    visibility_timeout_s: int = Field(3_600, ge=60)
    # Pending escalations older than this are re-enqueued by the drain.
    drain_after_s: float = Field(60.0, ge=0)
    # Escalations `enqueued` this long ago and still unlabeled are re-enqueued by the drain
    # (their task was lost). Above time_limit_s, so a task still running gets no twin;
    # a twin that slips through is harmless (tasks are idempotent).
    requeue_enqueued_after_s: float = Field(900.0, gt=0)
    # Backpressure: at most this many escalations enqueued and not yet labeled. Beyond it the
    # stream keeps its fast model's labels and records the overflow as `deferred`; the drain
    # enqueues deferred escalations as the backlog shrinks. None: no bound.
    max_waiting: int | None = Field(10_000, ge=1)
    # Prometheus /metrics of `sieve worker`, its pool processes summed; 0 or None: off.
    metrics_port: int | None = Field(9102, ge=0, le=65_535)

    @model_validator(mode="after")
    def _limits_are_ordered(self) -> CelerySettings:
        if self.soft_time_limit_s >= self.time_limit_s:
            raise ValueError("soft_time_limit_s must be lower than time_limit_s")
        if self.visibility_timeout_s <= self.time_limit_s:
            raise ValueError("visibility_timeout_s must exceed time_limit_s")
        if self.requeue_enqueued_after_s <= self.time_limit_s:
            raise ValueError("requeue_enqueued_after_s must exceed time_limit_s")
        return self


class ModelsSettings(_Section):
    # None: <data_dir>/models
    dir: Path | None = None
    # The student family new models are trained with (sieve.models.families.Family);
    # a stored model is always loaded with the family its meta.json names. MiniLM by
    # default: on the Banking77 cascade it sent 10% of the test phase to the LLM at 88.7%
    # accuracy where the n-gram student sent 42% at 85.2% (bench/RESULTS.md).
    family: Literal["ngram", "minilm"] = "minilm"
    # Derived files shared by every version (the exported MiniLM encoder, embeddings of
    # texts seen before). None: <models dir>/.encoders
    encoder_cache_dir: Path | None = None
    # Threads for training, and for the inference training needs (embedding texts).
    train_threads: int = Field(1, ge=1)
    # How often the stream worker asks the store which version is active.
    reload_check_interval_s: float = Field(5.0, ge=0)


class RoutingSettings(_Section):
    """Thresholds of the routing policy (see sieve.routing.policy)."""

    min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    min_margin: float = Field(0.1, ge=0.0, le=1.0)
    max_text_chars: int = Field(1_000, ge=1)
    # A text longer than max_text_chars: "truncate" (the default) scores its first
    # max_text_chars characters and routes it like any other, so writing long texts to the
    # topic cannot force LLM calls; "escalate" always sends it to the LLM (reason
    # text_too_long), where it is paid like any escalation.
    long_text: Literal["truncate", "escalate"] = "truncate"
    # Calibrated routing, fitted at retraining (sieve.routing.fit): per predicted label, the
    # lowest confidence at which kept messages reach the target precision *against the
    # truth*: measured on the human gold set when one of at least gold_min_items is
    # registered, else estimated from the LLM's labels corrected for the LLM's accuracy.
    # None (the default): "make at most half the LLM's errors", i.e. halfway between the
    # LLM's estimated accuracy and 1, so kept labels are at least as accurate as the LLM's.
    target_precision: float | None = Field(None, gt=0.0, le=1.0)
    # The LLM's accuracy when known (e.g. measured on a gold set); None: estimated at each
    # retraining from the agreement on the student's most confident held-out messages.
    teacher_accuracy: float | None = Field(None, gt=0.0, le=1.0)
    gold_min_items: int = Field(100, ge=1)
    min_label_support: int = Field(20, ge=1)
    # "I have not seen this": a message whose nearest training example is less similar
    # than this quantile of the held-out slice's nearest-example similarities escalates
    # (reason "unseen"); 0 turns the rule off.
    unseen_quantile: float = Field(0.02, ge=0.0, lt=0.5)
    # None: off (route by precision). Else the share of recent traffic sent to the LLM;
    # it replaces the precision rules, exploration included in the share. It applies only
    # once the active model was trained on at least share_after_labels labels: before,
    # routing is by precision so that the student is not starved of labels.
    target_llm_share: float | None = Field(None, ge=0.0, le=1.0)
    share_after_labels: int = Field(2_000, ge=0)
    # How many recent top confidences the share threshold is taken over, and how many
    # must be held (after start or a model swap) before it is used.
    recent_window: int = Field(5_000, ge=100, le=1_000_000)
    min_share_samples: int = Field(200, ge=1)
    # Share of confident messages sent to the LLM anyway, to measure kept-item accuracy.
    exploration_rate: float = Field(0.02, ge=0.0, lt=1.0)
    exploration_seed: int = 0
    # Routing rules checked before the model (sieve.routing.rules; README, "Rules"): a
    # YAML or JSON file, validated at start-up against the label set. None: no rules.
    rules_file: Path | None = None

    @model_validator(mode="after")
    def _share_samples_fit_the_window(self) -> RoutingSettings:
        if self.min_share_samples > self.recent_window:
            raise ValueError("min_share_samples must not exceed recent_window")
        return self


class DriftReference(StrEnum):
    """What the current drift window is compared with (``SIEVE_DRIFT__REFERENCE``)."""

    FIRST = "first"  # the first window the active model decided: catches slow drift too
    PREVIOUS = "previous"  # the window before: catches sudden changes only


class DriftSettings(_Section):
    """Drift alerts (sieve.routing.drift): the model's recent decisions against a reference
    window. The bounds sit well above the noise of two windows of ``window`` messages
    (77 labels: a label-mix TVD of ~0.11 by chance at 2,000 messages a window)."""

    enabled: bool = True
    window: int = Field(2_000, ge=10)
    reference: DriftReference = DriftReference.FIRST
    # Fewer messages than this in either window (the store's view, /stats): no verdict.
    min_samples: int = Field(500, ge=1)
    # Absolute difference of the share escalated.
    escalation_rate_bound: float = Field(0.05, gt=0.0, le=1.0)
    # Total variation distance between the predicted-label distributions.
    label_mix_bound: float = Field(0.25, gt=0.0, le=1.0)
    # Population stability index of the top probability (0.25: "major shift").
    confidence_bound: float = Field(0.25, gt=0.0)

    @model_validator(mode="after")
    def _samples_fit_the_window(self) -> DriftSettings:
        if self.min_samples > self.window:
            raise ValueError("min_samples must not exceed window")
        return self


class EscalationSinkKind(StrEnum):
    """Where the stream worker sends escalations (``SIEVE_STREAM__ESCALATION_SINK``)."""

    CELERY = "celery"  # a label_with_llm task each, at once
    STORE = "store"  # recorded only; the periodic drain_escalations task enqueues them


class StreamSettings(_Section):
    """Limits on what the stream worker accepts as a message."""

    max_message_bytes: int = Field(65_536, ge=64)
    max_text_chars: int = Field(10_000, ge=1)
    # Capped by the id column's length (sieve.store.columns.MESSAGE_FIELD_CHARS).
    max_id_chars: int = Field(256, ge=1)
    # Deeper JSON is dead-lettered (`too_deep`); well below Python's recursion limit.
    max_json_depth: int = Field(64, ge=2, le=500)
    # STORE: for a stream worker that runs without the task queue.
    escalation_sink: EscalationSinkKind = EscalationSinkKind.CELERY
    # Prometheus /metrics of `sieve stream` (all interfaces, like prometheus-client's
    # default, so a scraper in another container reaches it); 0 or None: off.
    metrics_port: int | None = Field(9101, ge=0, le=65_535)


class RetrainSettings(_Section):
    """Distillation: when and how stored labels retrain the fast model."""

    # The first training runs as soon as this many usable labels exist (cold start).
    min_labels: int = Field(200, ge=10)
    # The schedule retrains only when this many labels arrived since the last run.
    min_new_labels: int = Field(500, ge=1)
    interval_min: float = Field(10.0, gt=0)
    eval_fraction: float = Field(0.2, gt=0.0, lt=0.9)
    # Promotion gate (sieve/workers/distill/gate.py): refuse a candidate only when a paired test
    # on the evaluation slice finds it worse than the active model, in macro-F1 (bootstrap
    # interval at this confidence) or on one label (McNemar, corrected across labels).
    gate_confidence: float = Field(0.95, gt=0.5, lt=1.0)
    gate_bootstrap_rounds: int = Field(1_000, ge=100, le=100_000)
    # The candidate may be this much worse in macro-F1 before it counts as worse.
    gate_f1_tolerance: float = Field(0.0, ge=0.0, le=1.0)
    seed: int = 0
    epochs: int = Field(5, ge=1)
    lock_ttl_s: int = Field(3_600, ge=60)


class BootstrapSettings(_Section):
    """Synthetic bootstrap (`sieve bootstrap`): before any traffic, the LLM writes example
    messages per label and a first student is trained on them."""

    # The generation prompt (sieve/labeler/prompts/generation/<prompt>.yaml).
    prompt: str = "generate-examples"
    per_label: int = Field(20, ge=1, le=200)
    seed: int = 0
    # Asked again for the shortfall after validation, at most this many more times a label.
    extra_rounds: int = Field(1, ge=0, le=5)
    # Validation bounds on a generated message, in characters (after trimming).
    min_chars: int = Field(8, ge=1)
    max_chars: int = Field(300, ge=1)
    # Keep only examples the classification prompt labels as the label asked for (one
    # labeling call per example: it roughly doubles the calls of a bootstrap).
    verify: bool = False
    # Retraining (sieve/workers/distill/synthetic.py): synthetic examples join the
    # train/evaluation split while real labels number fewer than evaluate_real_after_labels
    # (the default is retraining's min_labels), only train from there, and are dropped once
    # drop_after_labels real labels exist. 1,500 was measured worse (synthetic.py).
    evaluate_real_after_labels: int = Field(200, ge=0)
    drop_after_labels: int = Field(2_000, ge=1)

    @model_validator(mode="after")
    def _bounds_are_ordered(self) -> BootstrapSettings:
        if self.min_chars > self.max_chars:
            raise ValueError("min_chars must not exceed max_chars")
        return self


class AdminSettings(_Section):
    token: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    # Request body bounds (413 beyond): the JSON routes take a reason of 500 characters at
    # most; POST /label-jobs streams its JSON Lines (never held whole), one line at a time.
    max_json_body_bytes: int = Field(64 * 1024, ge=1_024)
    max_ndjson_body_bytes: int = Field(256 * 1024 * 1024, ge=1_024)
    max_ndjson_line_bytes: int = Field(1024 * 1024, ge=1_024)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SIEVE_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    data_dir: Path = DEFAULT_DATA_DIR
    # The deployment's label set, one label per line: what the LLM may answer and the
    # active model must predict (sieve.workers.label_set). Relative to the working directory.
    labels_file: Path = Path("data/banking77/labels.txt")
    log_level: str = "INFO"
    kafka: KafkaSettings = KafkaSettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    llm: LLMSettings = LLMSettings()
    budget: BudgetSettings = BudgetSettings()
    bandit: BanditSettings = BanditSettings()
    celery: CelerySettings = CelerySettings()
    models: ModelsSettings = ModelsSettings()
    routing: RoutingSettings = RoutingSettings()
    drift: DriftSettings = DriftSettings()
    stream: StreamSettings = StreamSettings()
    retrain: RetrainSettings = RetrainSettings()
    bootstrap: BootstrapSettings = BootstrapSettings()
    admin: AdminSettings = AdminSettings()

    @property
    def database_url(self) -> str:
        if self.database.url is not None:
            return self.database.url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'sieve.db').resolve()}"

    @property
    def broker_url(self) -> str:
        if self.celery.broker_url is not None:
            return self.celery.broker_url.get_secret_value()
        return self.redis.url.get_secret_value()

    @property
    def uses_redis(self) -> bool:
        """Whether the broker is Redis, and with it the cache, markers and locks."""
        return self.broker_url.split("://", 1)[0] in ("redis", "rediss", "redis+socket")

    @property
    def models_dir(self) -> Path:
        return self.models.dir if self.models.dir is not None else self.data_dir / "models"

    def masked(self) -> dict[str, Any]:
        """The effective configuration, secrets replaced by '**********' (or None)."""
        return _mask(self.model_dump(mode="python"))


def _mask(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "**********" if value.get_secret_value() else ""
    if isinstance(value, dict):
        return {key: _mask(item) for key, item in value.items()}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, StrEnum):  # logged as its text, as a Literal was
        return value.value
    return value
