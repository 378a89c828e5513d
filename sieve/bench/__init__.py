"""Benchmarks that print figures next to their baselines from the same run: classify
(per-family speed), stream (Sieve vs raw Kafka on the same broker), llm (task path), teacher
(the simulator), cascade (share sent to the LLM and accuracy over a stream), and
``faults/``, the fault suite (kills, outages, LLM faults, budget, admin). ``sieve bench``."""
