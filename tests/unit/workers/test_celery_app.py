"""The Celery app follows the broker setting: Redis by default, a SQL file without Redis."""

from __future__ import annotations

import pytest

from sieve.core.settings import Settings
from sieve.workers.llm.celery_app import make_app
from sieve.workers.llm.sql_broker import TRANSPORT, Transport, is_sql_url


def test_the_broker_is_redis_unless_set(monkeypatch):
    monkeypatch.setenv("SIEVE_REDIS__URL", "redis://cache.internal:6380/2")
    settings = Settings(_env_file=None)
    assert settings.broker_url == "redis://cache.internal:6380/2" and settings.uses_redis
    app = make_app(settings)
    assert app.conf.broker_url == "redis://cache.internal:6380/2"
    assert app.conf.broker_transport_options == {
        "visibility_timeout": settings.celery.visibility_timeout_s
    }


def test_a_sql_broker_needs_no_redis_and_polls_fast(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'broker.db'}"
    monkeypatch.setenv("SIEVE_CELERY__BROKER_URL", url)
    settings = Settings(_env_file=None)
    assert settings.broker_url == url and not settings.uses_redis
    app = make_app(settings)
    # No Redis-only options: the SQLAlchemy transport would hand them to create_engine.
    assert app.conf.broker_transport_options == {}
    assert app.conf.broker_transport == TRANSPORT
    with app.connection_for_write() as connection:
        assert isinstance(connection.transport, Transport)
        assert connection.transport.polling_interval < 1.0
        assert connection.hostname == url


@pytest.mark.parametrize(
    ("url", "sql"),
    [
        ("sqlite:////var/lib/sieve/broker.db", True),
        ("postgresql+psycopg://sieve@db/sieve", True),
        ("redis://127.0.0.1:6379/0", False),
        ("amqp://guest@rabbit//", False),
        ("sqla+sqlite:///broker.db", False),  # Kombu's own transport, by its own prefix
    ],
)
def test_sql_urls_are_recognised(url, sql):
    assert is_sql_url(url) is sql
