"""The LLM teacher: labels the messages the fast model is unsure about.

- ``prompts.py`` + ``prompts/*.yaml``: versioned prompt templates (``classify-zero-shot@1``).
- ``client.py``: ``LLMClient`` over any OpenAI-compatible endpoint; error translation
  (transient vs permanent); ``backoff_s`` for retries.
- ``parsing.py``: defensive answer parsing, label-set validation (``LabelOutsideSet``).
- ``cache.py``: exact answer cache (Redis, in memory); ``cost.py``: price table.
- ``usage.py``: ``LLMRequest``, what each HTTP request cost, the ``RequestRecorder`` role
  the client reports every request to (the workers write it to the ledger) and the
  ``RequestGate`` role that admits each request (the workers' limits and budgets).
- ``service.py``: ``label_message`` — cache, then one LLM labeling (single flight on the
  cache key when given leases), then cache; what a task calls.
- ``retrieval.py``: the labeled examples nearest to a message, for retrieval prompts;
  ``bandit.py``: prompt A/B by Thompson sampling, and when a version has won.
- ``sim/``: the teacher simulator, an OpenAI-compatible server answering from labeled data
  (``sim/prompting.py``: accuracy that depends on the prompt).
"""
