"""Logging setup, called by entry points only."""

from __future__ import annotations

import json
import logging
import sys

from sieve.core.settings import Settings

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # kafka-python logs every reconnect attempt at INFO/WARNING; keep ours readable.
    logging.getLogger("kafka").setLevel(logging.ERROR)


def log_effective_config(settings: Settings, logger: logging.Logger) -> None:
    logger.info("effective configuration: %s", json.dumps(settings.masked(), default=str))
