"""What every layer shares and nothing else: Settings (``settings.py``), the error
hierarchy that says transient from permanent (``errors.py``), the label event format
(``events.py``), logging, Prometheus metrics, and reading a dataset folder (``dataset.py``:
JSONL messages and a label list). Imports nothing from Sieve."""
