"""Alembic migrations of the label store's schema (``versions/``); ``sieve migrate`` runs
them (``sieve.store.migrate``)."""
