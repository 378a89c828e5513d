"""Sieve: classify a stream of customer feedback with a fast ONNX student, ask an LLM about
the messages it is unsure of, and distil the LLM's labels back into the student.

The packages form a stack; imports point down it only (``tests/unit/test_layers.py``):
``core`` <- ``models``, ``routing``, ``labeler`` <- ``store`` <- ``workers`` (shared modules <-
``stream``, ``llm`` <- ``distill``) <- ``wiring`` <- ``jobs`` <- ``admin``, ``demo`` <- ``bench``
<- ``cli``. README, "Where each step lives", maps them onto the data flow."""
