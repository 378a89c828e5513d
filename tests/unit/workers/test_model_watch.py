from pathlib import Path

from sieve.store.engine import make_engine
from sieve.store.migrate import upgrade
from sieve.store.versions import ModelVersionRecord, activate_model_version, register_model_version
from sieve.workers.stream.model_watch import ActiveModel
from tests.fakes import FakeClassifier


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _register(engine, version: str, path: str) -> None:
    register_model_version(engine, ModelVersionRecord(version, "ngram", path, "hash", {}))


def test_swaps_only_when_the_active_version_changes(sqlite_url):
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    loaded: list[Path] = []

    def loader(path: Path) -> FakeClassifier:
        loaded.append(path)
        return FakeClassifier(["a"], version=path.name)

    clock = Clock()
    model = ActiveModel(engine, check_interval_s=5.0, loader=loader, clock=clock)
    assert model.refresh(force=True) is False and model.classifier is None

    _register(engine, "v1", "/models/v1")
    _register(engine, "v2", "/models/v2")
    activate_model_version(engine, "v1", reason="test")
    assert model.refresh(force=True) is True and model.version == "v1"

    activate_model_version(engine, "v2", reason="test")
    clock.now = 4.9
    assert model.refresh() is False and model.version == "v1"  # not yet time to check
    clock.now = 5.0
    assert model.refresh() is True and model.version == "v2"
    clock.now = 10.0
    assert model.refresh() is False  # unchanged: no reload
    assert loaded == [Path("/models/v1"), Path("/models/v2")]


def test_keeps_serving_when_the_new_artefact_cannot_load(sqlite_url):
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)

    def loader(path: Path) -> FakeClassifier:
        if path.name == "broken":
            raise OSError("no such file")
        return FakeClassifier(["a"], version=path.name)

    model = ActiveModel(engine, check_interval_s=0.0, loader=loader)
    _register(engine, "good", "/models/good")
    _register(engine, "broken", "/models/broken")
    activate_model_version(engine, "good", reason="test")
    model.refresh()
    activate_model_version(engine, "broken", reason="test")
    assert model.refresh() is False
    assert model.version == "good"


def test_a_version_with_other_labels_is_refused_and_not_reloaded(sqlite_url):
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    loaded: list[str] = []

    def loader(path: Path) -> FakeClassifier:
        loaded.append(path.name)
        labels = ["x", "y"] if path.name == "foreign" else ["b", "a"]
        return FakeClassifier(labels, version=path.name)

    clock = Clock()
    model = ActiveModel(engine, check_interval_s=1.0, loader=loader, clock=clock, labels=["a", "b"])
    _register(engine, "ours", "/models/ours")
    _register(engine, "foreign", "/models/foreign")
    activate_model_version(engine, "ours", reason="test")
    assert model.refresh(force=True) is True and model.version == "ours"

    activate_model_version(engine, "foreign", reason="activated by hand")
    clock.now = 1.0
    assert model.refresh() is False and model.version == "ours"
    clock.now = 2.0
    assert model.refresh() is False and model.version == "ours"
    assert loaded == ["ours", "foreign"]  # refused once, not loaded again at every check


class FlakyLoader:
    """A Loader that fails like an unreachable store the first ``failures`` times."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def __call__(self, path: Path) -> FakeClassifier:
        from sieve.core.errors import TransientError

        if self.failures:
            self.failures -= 1
            raise TransientError("database unavailable: OperationalError")
        return FakeClassifier(["a"], version=path.name)


def test_a_transient_error_propagates_and_the_next_check_retries(sqlite_url):
    """Not swallowed as "cannot load": the stream worker waits for the store instead of
    classifying the batch with no model, and the next refresh (not forced) tries again."""
    import pytest

    from sieve.core.errors import TransientError

    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    _register(engine, "v1", "/models/v1")
    activate_model_version(engine, "v1", reason="test")
    model = ActiveModel(engine, check_interval_s=60.0, loader=FlakyLoader(1), clock=Clock())
    with pytest.raises(TransientError):
        model.refresh(force=True)
    assert model.refresh() is True and model.version == "v1"
