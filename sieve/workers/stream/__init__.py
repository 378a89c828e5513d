"""The stream worker, in the order a message meets it: ``loop.py`` polls a micro-batch,
``messages.py`` decodes and validates each record (bad ones become dead letters with a
reason), ``batch.py`` classifies and routes the batch with the active model
(``model_watch.py`` hot-swaps it), ``checkpoint.py`` makes the outcome durable — rows, label
events, escalations, then offsets. ``drift_watch.py`` turns each window of the model's
decisions into drift gauges and alerts. ``produce.py`` publishes a JSONL file to a topic."""
