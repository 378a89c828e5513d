"""What code outside the store knows of the columns, without importing the schema
(``tables.py`` is the store's own): field lengths and the stored "no model" version."""

from __future__ import annotations

# The longest value each stored field of an input message may have, in characters (what
# VARCHAR(n) counts on PostgreSQL). The columns and the stream decoder both read these, so
# a message the decoder accepts always fits. `created_at` from the producer is not a
# column yet; the bound keeps a timestamp string from carrying a payload.
MESSAGE_FIELD_CHARS = {"id": 256, "source": 128, "created_at": 64}
MESSAGE_ID_CHARS = MESSAGE_FIELD_CHARS["id"]

# "No model was active" is stored as this version, so the key stays NOT NULL. Model
# versions are open text; this one value is the sentinel.
NO_MODEL_VERSION = "none"
