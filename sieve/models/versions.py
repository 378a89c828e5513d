"""The names a model version can have: what ``registry`` makes (``<family>-<UTC time>-<8
hex>``) and accepts for a folder name, so a name outside it cannot exist anywhere. Kept
apart from the registry so that a reader of names (the admin API) imports no onnxruntime."""

from __future__ import annotations

import re

VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def is_version_name(name: str) -> bool:
    return VERSION_PATTERN.fullmatch(name) is not None
