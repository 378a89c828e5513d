"""Which messages the fast model keeps and which go to the LLM. ``policy.py`` is the pure
decision per message (accept, escalate, with a reason); ``thresholds.py`` holds the fitted
per-label thresholds a model version carries; ``fit.py`` fits them for a precision target
against the truth (gold set, or LLM agreement corrected for the LLM's estimated accuracy);
``share.py`` keeps the share sent to the LLM within a budget once the model has warmed up;
``rules.py`` (with its file format in ``rules_file.py``) holds the operator's routing rules,
checked before the model; ``drift.py`` compares recent decisions with a reference window."""
