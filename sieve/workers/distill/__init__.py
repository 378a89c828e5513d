"""Distillation: ``retrain.py`` trains a candidate on the stored labels, ``calibrate.py``
fits its temperature and routing thresholds on a held-out slice, ``gate.py`` promotes it only
when it is not worse than the active version (paired bootstrap, per-label McNemar);
``tasks.py`` declares the Celery tasks that run it."""
