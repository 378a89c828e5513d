"""The LLM side: ``escalation.py`` (the sinks the stream hands escalations to: rows, then
Celery tasks sent by name), ``celery_app.py`` and ``sql_broker.py`` (the app and its broker
without Redis), ``tasks.py`` (task bodies), ``labeling.py`` (one escalation: cache, lease,
LLM, label row, label event), ``leases.py`` (locks and markers in Redis or the store),
``backlog.py`` (operator labeling jobs), ``prompt_choice.py`` (which prompt version labels
a message: one, or an A/B by the bandit), ``examples.py`` (the labeled examples retrieval
prompts show), ``context.py`` (building it all from Settings)."""
