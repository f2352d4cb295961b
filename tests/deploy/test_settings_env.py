"""The environment-name table of tests/deploy/support.py matches what the settings
classes really read, so the deployment checks built on it can be trusted."""

from __future__ import annotations

import pytest

from common.settings import CommonSettings
from tests.deploy.support import (
    WELL_KNOWN_ENV,
    known_env_names,
    load_with_env,
    settings_class,
)

COMMANDS = [
    ["python", "-m", "gateway"],
    *(["python", "-m", f"services.{name}"] for name in ("authorize", "token", "clients", "admin")),
]

VALUES = {
    "database_url": "postgresql://svc:placeholder@db.invalid:5432/oauth2",
    "redis_url": "redis://redis.invalid:6379/0",
    "otel_exporter_otlp_endpoint": "http://collector.invalid:4317",
    "prometheus_multiproc_dir": "/tmp/prometheus",
}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command[2])
def test_well_known_names_are_read(command: list[str]) -> None:
    cls = settings_class(command)
    assert set(WELL_KNOWN_ENV) <= set(VALUES), "give every well-known field a sample value"
    for field, candidates in WELL_KNOWN_ENV.items():
        if field not in cls.model_fields:
            continue
        for candidate in candidates:
            name = candidate.format(P=cls.PROCESS.upper())
            settings = load_with_env(cls, {name: VALUES[field]})
            assert getattr(settings, field) is not None, f"{cls.__name__} ignores {name}"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command[2])
def test_every_field_is_an_oauth2_name(command: list[str]) -> None:
    cls = settings_class(command)
    assert issubclass(cls, CommonSettings)
    names = known_env_names(cls)
    assert "OAUTH2_ISSUER" in names and "OAUTH2_LOG_LEVEL" in names
    assert "OAUTH2_NO_SUCH_SETTING" not in names
    settings = load_with_env(cls, {"OAUTH2_LOG_LEVEL": "DEBUG"})
    assert settings.log_level == "DEBUG"
