"""The LLM teacher: labels the messages the fast model is unsure about.

- ``prompts.py`` + ``prompts/*.yaml``: versioned prompt templates (``classify-zero-shot@1``).
- ``client.py``: ``LLMClient`` over any OpenAI-compatible endpoint; error translation
  (transient vs permanent); ``backoff_s`` for retries.
- ``parsing.py``: defensive answer parsing, label-set validation (``LabelOutsideSet``).
- ``cache.py``: exact answer cache (Redis, in memory); ``cost.py``: price table.
- ``service.py``: ``label_message`` — cache, then LLM, then cache; what a task calls.
- ``simulator.py`` (+ ``simulated_endpoint.py``, ``noise.py``, ``faults.py``): the teacher
  simulator, an OpenAI-compatible server answering from labeled data.
"""
