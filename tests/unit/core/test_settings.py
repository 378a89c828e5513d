import pytest
from pydantic import ValidationError

from sieve.core.settings import EscalationSinkKind, Settings


def test_nested_environment_variables(monkeypatch):
    monkeypatch.setenv("SIEVE_KAFKA__BOOTSTRAP_SERVERS", "broker:9093")
    monkeypatch.setenv("SIEVE_ROUTING__MIN_CONFIDENCE", "0.8")
    settings = Settings(_env_file=None)
    assert settings.kafka.bootstrap_servers == "broker:9093"
    assert settings.routing.min_confidence == 0.8
    assert settings.kafka.input_topic == "feedback"


def test_masked_config_hides_secrets(monkeypatch):
    monkeypatch.setenv("SIEVE_DATABASE__URL", "postgresql://u:hunter2@db/sieve")
    monkeypatch.setenv("SIEVE_LLM__API_KEY", "sk-secret")
    settings = Settings(_env_file=None)
    masked = str(settings.masked())
    assert "hunter2" not in masked and "sk-secret" not in masked
    assert settings.database_url == "postgresql://u:hunter2@db/sieve"


def test_default_database_is_sqlite_under_data_dir(tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'sieve.db'}"
    assert settings.models_dir == tmp_path / "models"


def test_heartbeat_must_be_below_session_timeout(monkeypatch):
    monkeypatch.setenv("SIEVE_KAFKA__SESSION_TIMEOUT_MS", "3000")
    monkeypatch.setenv("SIEVE_KAFKA__HEARTBEAT_INTERVAL_MS", "3000")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


def test_out_of_range_threshold_is_rejected(monkeypatch):
    monkeypatch.setenv("SIEVE_ROUTING__MIN_CONFIDENCE", "1.5")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


def _variables(model, prefix="SIEVE_"):
    for name, field in model.model_fields.items():
        if hasattr(field.annotation, "model_fields"):
            yield from _variables(field.annotation, f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}"


def test_env_example_lists_every_setting():
    from tests.conftest import ROOT

    text = (ROOT / ".env.example").read_text()
    assert [name for name in _variables(Settings) if name not in text] == []


def test_stuck_escalations_are_re_enqueued_only_after_any_task_could_have_ended():
    assert Settings(_env_file=None).celery.requeue_enqueued_after_s == 900
    # A task still running (up to time_limit_s) must not get a twin.
    with pytest.raises(ValidationError, match="requeue_enqueued_after_s"):
        Settings(_env_file=None, celery={"requeue_enqueued_after_s": 100})


@pytest.mark.parametrize(
    ("value", "expected"),
    [("store", EscalationSinkKind.STORE), ("celery", EscalationSinkKind.CELERY)],
)
def test_escalation_sink_is_read_as_its_enum(monkeypatch, value, expected):
    monkeypatch.setenv("SIEVE_STREAM__ESCALATION_SINK", value)
    settings = Settings(_env_file=None)
    assert settings.stream.escalation_sink is expected
    # The logged configuration shows the text, not the enum's repr.
    assert settings.masked()["stream"]["escalation_sink"] == value


def test_an_unknown_escalation_sink_is_refused(monkeypatch):
    monkeypatch.setenv("SIEVE_STREAM__ESCALATION_SINK", "kafka")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)
