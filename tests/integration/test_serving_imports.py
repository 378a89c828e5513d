"""Serving processes load no training stack: building the stream worker (with a model of
each family active) and the Celery labeling worker imports neither torch nor transformers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.integration.conftest import activate

SCRIPT = textwrap.dedent(
    """
    import sys

    from sieve.core.settings import Settings
    from sieve.workers.llm.celery_app import make_app
    from sieve.workers.stream.model_watch import ActiveModel
    from sieve.wiring import open_store, stream_worker

    settings = Settings()
    engine = open_store(settings)
    with stream_worker(settings, engine):
        # What the worker does between batches: load the active version.
        model = ActiveModel(engine, check_interval_s=0.0)
        assert model.refresh(force=True), "no model loaded"
        scores = model.classifier.predict_scores(["my card does not work"])
        print(model.version, scores.probs.shape, scores.similarity)
    app = make_app(settings)
    app.loader.import_default_modules()  # the task module, as `celery worker` does
    from sieve.workers.llm import tasks

    tasks.worker_context()  # what a labeling worker process builds before its first task
    heavy = sorted(m for m in ("torch", "transformers", "sklearn", "scipy") if m in sys.modules)
    assert not heavy, f"serving imported {heavy}"
    print("ok")
    """
)


@pytest.mark.parametrize("family", ["ngram", "minilm"])
def test_stream_and_labeling_workers_import_no_torch(
    family, settings, model_factory, minilm_artefact
):
    info = minilm_artefact if family == "minilm" else model_factory(0)
    activate(settings.database_url, info)
    kafka = settings.kafka
    env = {
        **os.environ,
        "SIEVE_DATA_DIR": str(settings.data_dir),
        "SIEVE_DATABASE__URL": settings.database_url,
        "SIEVE_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "SIEVE_KAFKA__INPUT_TOPIC": kafka.input_topic,
        "SIEVE_KAFKA__LABELS_TOPIC": kafka.labels_topic,
        "SIEVE_KAFKA__DLQ_TOPIC": kafka.dlq_topic,
        "SIEVE_KAFKA__GROUP_ID": kafka.group_id,
        "SIEVE_STREAM__ESCALATION_SINK": "store",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith(info.version) and result.stdout.endswith("ok\n")
    if family == "minilm":
        assert "None" not in result.stdout  # a similarity was computed
