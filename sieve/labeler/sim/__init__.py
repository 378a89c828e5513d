"""The teacher simulator: an OpenAI-compatible HTTP server (``simulator.py``,
``endpoint.py``) that answers from a labeled dataset with configurable accuracy and label
noise (``noise.py``) and injected faults — 429s, 5xx, hangs, malformed and outside-set answers
(``faults.py``). Used by the demo, the benchmarks and the tests in place of a paid LLM."""
