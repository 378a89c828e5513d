"""A Celery broker in a SQL database, for running with no server: a SQLite file will do.

Kombu's SQLAlchemy transport polls its tables once a second, and with one task in flight
per worker process that caps a worker at about (processes) tasks a second. This subclass
polls every 50 ms; it is selected for any SQLAlchemy URL given as the broker
(``SIEVE_CELERY__BROKER_URL=sqlite:////var/lib/sieve/broker.db``).
"""

from __future__ import annotations

from kombu.transport.sqlalchemy import Transport as SqlAlchemyTransport

SQL_SCHEMES = ("sqlite", "postgresql", "mysql")
TRANSPORT = "sieve.workers.llm.sql_broker:Transport"


class Transport(SqlAlchemyTransport):
    polling_interval = 0.05


def is_sql_url(url: str) -> bool:
    scheme = url.split("://", 1)[0]
    return scheme.split("+", 1)[0] in SQL_SCHEMES
