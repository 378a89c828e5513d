"""`sieve admin`: serve the admin API with uvicorn on settings.admin.host/port."""

from __future__ import annotations

import logging

from sieve.core.settings import Settings

logger = logging.getLogger(__name__)


def serve(settings: Settings) -> None:
    import uvicorn

    from sieve.admin.app import create_app
    from sieve.wiring import open_store

    token = settings.admin.token
    if token is None or not token.get_secret_value():
        logger.warning(
            "no admin token (SIEVE_ADMIN__TOKEN): retrain, promote, rollback, label-jobs answer 401"
        )
    engine = open_store(settings)  # migrates SQLite; checks a shared database is at head
    app = create_app(settings, engine)
    logger.info("admin API on http://%s:%d", settings.admin.host, settings.admin.port)
    try:
        # log_config=None: keep the logging the entry point configured.
        uvicorn.run(app, host=settings.admin.host, port=settings.admin.port, log_config=None)
    finally:
        engine.dispose()
