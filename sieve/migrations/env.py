"""Alembic environment: metadata from sieve.store.tables, URL from the caller or settings."""

from __future__ import annotations

from alembic import context

from sieve.store.engine import make_engine
from sieve.store.tables import metadata

config = context.config


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from sieve.core.settings import Settings  # an entry point: the `alembic` CLI

    return Settings().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url())
    with engine.connect() as connection:
        # Batch mode rewrites ALTERs as table copies on SQLite, a no-op on PostgreSQL.
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
