"""What the deployment tests share: which settings class a command runs, which
environment names that class reads, and whether a container's environment loads."""

from __future__ import annotations

import base64
import importlib
import inspect
import os
from collections.abc import Mapping
from pathlib import Path

import pytest
from pydantic import ValidationError

from common.settings import CONFIG_ENV, ENV_PREFIX, CommonSettings

ROOT = Path(__file__).resolve().parents[2]

# What a process in a container must listen on: its published port is not loopback.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104

# The names common.settings._WellKnownEnvSource reads besides OAUTH2_<FIELD>, per
# field ("{P}" is the process name upper-cased). A name counts only for a class that
# has the field. test_well_known_names_are_read checks each against the real source.
WELL_KNOWN_ENV: Mapping[str, tuple[str, ...]] = {
    "database_url": ("{P}_DATABASE_URL", "DATABASE_URL"),
    "redis_url": ("{P}_REDIS_URL", "REDIS_URL"),
    "otel_exporter_otlp_endpoint": ("OTEL_EXPORTER_OTLP_ENDPOINT",),
    "prometheus_multiproc_dir": ("PROMETHEUS_MULTIPROC_DIR",),
}

# Read by the OpenTelemetry SDK and its OTLP exporter themselves, not by our settings;
# allowed so that an operator may tune export without a code change.
OTEL_SDK_ENV = frozenset(
    {
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_BSP_EXPORT_TIMEOUT",
    }
)

# Values standing in for secretKeyRef and ${...} values: valid, but pointing nowhere.
PLACEHOLDER_SECRETS: Mapping[str, str] = {
    "DATABASE_URL": "postgresql://svc:placeholder@db.invalid:5432/oauth2",
    "REDIS_URL": "redis://redis.invalid:6379/0",
    "OAUTH2_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(bytes(32)).decode("ascii"),
    "OAUTH2_CLIENTS_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(bytes(32)).decode("ascii"),
}


def settings_class(command: list[str]) -> type[CommonSettings]:
    """The settings class of ``python -m gateway`` / ``python -m services.<name> ...``."""
    assert command[:2] == ["python", "-m"], f"unexpected command {command}"
    package = command[2]
    module = importlib.import_module(f"{package}.settings")
    process = package.rsplit(".", 1)[-1]
    found = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, CommonSettings)
        and cls.__module__ == module.__name__
        and cls.PROCESS == process
    ]
    assert len(found) == 1, f"{module.__name__}: expected one settings class for {process}"
    return found[0]


def known_env_names(cls: type[CommonSettings]) -> frozenset[str]:
    """Every environment name ``cls`` reads: OAUTH2_<FIELD>, OAUTH2_CONFIG, the
    well-known names of its fields, and what the OpenTelemetry SDK reads."""
    process = cls.PROCESS.upper()
    names = {ENV_PREFIX + field.upper() for field in cls.model_fields} | {CONFIG_ENV}
    for field, candidates in WELL_KNOWN_ENV.items():
        if field in cls.model_fields:
            names.update(candidate.format(P=process) for candidate in candidates)
    return frozenset(names | OTEL_SDK_ENV)


def unknown_env_names(cls: type[CommonSettings], env: Mapping[str, str]) -> list[str]:
    return sorted(set(env) - known_env_names(cls))


def _is_settings_env(name: str) -> bool:
    return (
        name.startswith((ENV_PREFIX, "OTEL_"))
        or name.endswith(("DATABASE_URL", "REDIS_URL"))
        or name == "PROMETHEUS_MULTIPROC_DIR"
    )


def load_with_env(cls: type[CommonSettings], env: Mapping[str, str]) -> CommonSettings:
    """Instantiate ``cls`` with exactly ``env`` as its environment (and no config file);
    fails the test with the setting that does not validate."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if _is_settings_env(name):
                mp.delenv(name)
        for name, value in env.items():
            mp.setenv(name, value)
        mp.setattr(cls, "_config_file", None)
        try:
            return cls()
        except ValidationError as exc:
            pytest.fail(f"{cls.PROCESS}: the environment does not validate: {exc}")
