"""docker-compose.yml: valid against the Compose Specification schema, built from a
Dockerfile stage that exists, wired as DESIGN.md says (migrations before services,
Prometheus scraping every process), and only environment names the processes read."""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from common.settings import ServiceSettings
from gateway.settings import GatewaySettings
from tests.deploy.support import (
    ALL_INTERFACES,
    PLACEHOLDER_SECRETS,
    ROOT,
    load_with_env,
    settings_class,
    unknown_env_names,
)

COMPOSE_FILE = ROOT / "docker-compose.yml"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRPC_SERVICES = {"authorize": 50051, "token": 50052, "clients": 50053, "admin": 50054}
PROCESSES = ["gateway", *GRPC_SERVICES]

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}
INTERPOLATION = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


@functools.cache
def compose_schema() -> dict[str, Any]:
    """The Compose Specification schema (compose-spec/compose-spec, Apache-2.0), as
    vendored by check-jsonschema (``--builtin-schema vendor.compose-spec``), a dev
    dependency. Found without importing the package."""
    spec = importlib.util.find_spec("check_jsonschema")
    assert spec is not None and spec.origin is not None, "pip install check-jsonschema"
    path = Path(spec.origin).parent / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


@functools.cache
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return document


def services() -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose()["services"]
    return result


#: One-shot tools of the image that are not one of the processes (no settings class).
TOOLS = {"grpc-certs"}


def ours() -> dict[str, dict[str, Any]]:
    """The services that run this project's processes from its image (built here)."""
    return {
        name: service
        for name, service in services().items()
        if "build" in service and name not in TOOLS
    }


def interpolate(value: str) -> str:
    """What compose substitutes: defaults, and placeholders for required secrets."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if name in PLACEHOLDER_SECRETS:
            return PLACEHOLDER_SECRETS[name]
        if op in {":-", "-"}:
            return arg
        pytest.fail(f"${{{name}}} has no default and no placeholder in tests/deploy/support.py")

    return INTERPOLATION.sub(substitute, value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    assert not service.get("env_file"), "settings come from environment:, not env files"
    return {name: interpolate(str(value)) for name, value in env.items()}


def dockerfile_stages(path: Path) -> set[str]:
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", path.read_text(), re.MULTILINE | re.I)
    return {stage.lower() for stage in stages}


def test_validates_against_the_compose_specification() -> None:
    schema = compose_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(
        validator_class(schema).iter_errors(compose()), key=lambda error: list(error.path)
    )
    assert not errors, "\n".join(
        f"{'.'.join(map(str, error.absolute_path))}: {error.message}" for error in errors
    )


def test_schema_validation_catches_a_mistake() -> None:
    """The check above is not vacuous: each of these mistakes fails it."""
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    misspelt = json.loads(json.dumps(compose()))
    misspelt["services"]["gateway"]["helthcheck"] = {"test": ["CMD", "true"]}
    assert not validator.is_valid(misspelt)
    bad_condition = json.loads(json.dumps(compose()))
    bad_condition["services"]["token"]["depends_on"]["migrate-token"]["condition"] = "done"
    assert not validator.is_valid(bad_condition)


def test_every_build_points_at_a_dockerfile_stage_that_exists() -> None:
    assert set(ours()) == set(PROCESSES) | {f"migrate-{name}" for name in GRPC_SERVICES}
    for name, service in ours().items():
        build = service["build"]
        if isinstance(build, str):
            build = {"context": build}
        context = (ROOT / build["context"]).resolve()
        assert context.is_dir(), f"{name}: no build context {context}"
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: no {dockerfile}"
        if "target" in build:
            assert build["target"] in dockerfile_stages(dockerfile), (
                f"{name}: {dockerfile} has no stage {build['target']}"
            )


def test_depends_on_names_defined_services() -> None:
    for name, service in services().items():
        depends_on = service.get("depends_on", {})
        for dependency in depends_on:
            assert dependency in services(), f"{name} depends on undefined {dependency}"
            assert dependency != name


def test_services_wait_for_their_migration_and_migrations_for_postgres() -> None:
    for name in GRPC_SERVICES:
        migration = services()[f"migrate-{name}"]
        assert migration["command"] == ["python", "-m", f"services.{name}", "migrate"]
        assert migration["depends_on"]["postgres"]["condition"] == "service_healthy"
        service = services()[name]
        assert service["command"] == ["python", "-m", f"services.{name}", "serve"]
        condition = service["depends_on"][f"migrate-{name}"]["condition"]
        assert condition == "service_completed_successfully", name
    assert "pg_isready" in " ".join(services()["postgres"]["healthcheck"]["test"])
    assert services()["redis"]["healthcheck"]["test"]
    assert services()["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"


def test_an_upgrade_reruns_the_migrations_before_the_services() -> None:
    """`docker compose up -d` recreates a container whose image changed and starts the
    stopped ones: every migrate-* runs from the same image as its service (a new image
    re-runs it first), is one-shot (never restarted), and nothing pins the image or
    refuses to pull the one OAUTH2_IMAGE names."""
    images = {name: services()[name]["image"] for name in [*ours(), *TOOLS]}
    assert set(images.values()) == {"${OAUTH2_IMAGE:-oauth2-server:dev}"}, images
    assert interpolate(images["token"]) == "oauth2-server:dev"
    for name in GRPC_SERVICES:
        migration = services()[f"migrate-{name}"]
        assert migration["restart"] == "no", name
        assert migration.get("pull_policy", "missing") in {"missing", "always"}, name
        assert services()[name].get("pull_policy", "missing") in {"missing", "always"}, name
        # The migration's database is the service's.
        assert (
            environment(migration)["DATABASE_URL"] == environment(services()[name])["DATABASE_URL"]
        ), name


@pytest.mark.parametrize("name", sorted(ours()))
def test_every_env_var_is_a_setting_of_the_process_and_validates(name: str) -> None:
    service = ours()[name]
    cls = settings_class(service["command"])
    env = environment(service)
    unknown = unknown_env_names(cls, env)
    assert not unknown, f"{name}: {cls.__name__} reads no {unknown}"
    settings = load_with_env(cls, env)
    assert settings.database_url or name == "gateway", f"{name}: no DATABASE_URL"
    if name.startswith("migrate-"):
        return
    assert settings.redis_url, f"{name}: no REDIS_URL"
    assert settings.otel_exporter_otlp_endpoint == "http://jaeger:4317"
    assert settings.issuer == "http://localhost:8080"
    for process, port in GRPC_SERVICES.items():
        assert getattr(settings, f"{process}_target") == f"dns:///{process}:{port}"
    if isinstance(settings, ServiceSettings):
        assert settings.grpc_host == ALL_INTERFACES
        assert settings.grpc_port == GRPC_SERVICES[name]
        assert settings.metrics_port == 9100
    else:
        assert isinstance(settings, GatewaySettings)
        assert settings.host == ALL_INTERFACES
        assert settings.admin_host == ALL_INTERFACES
        # The admin listener is published on the host's loopback only.
        assert f"127.0.0.1:{settings.admin_port}:{settings.admin_port}" in service["ports"]


def test_key_encryption_keys_are_required_not_committed() -> None:
    """The token service's and the clients service's, each its own (make up writes both
    to var/compose.env)."""
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    token = services["token"]["environment"]["OAUTH2_KEY_ENCRYPTION_KEY"]
    clients = services["clients"]["environment"]["OAUTH2_KEY_ENCRYPTION_KEY"]
    assert token.startswith("${OAUTH2_KEY_ENCRYPTION_KEY:?")
    assert clients.startswith("${OAUTH2_CLIENTS_KEY_ENCRYPTION_KEY:?")
    makefile = (COMPOSE_FILE.parent / "Makefile").read_text()
    assert "COMPOSE_KEKS := OAUTH2_KEY_ENCRYPTION_KEY OAUTH2_CLIENTS_KEY_ENCRYPTION_KEY" in makefile


def test_prometheus_scrapes_every_process() -> None:
    config = yaml.safe_load(PROMETHEUS_FILE.read_text(encoding="utf-8"))
    scraped: dict[str, tuple[int, str]] = {}
    for job in config["scrape_configs"]:
        for sd in job["dns_sd_configs"]:
            for host in sd["names"]:
                scraped[host] = (sd["port"], job.get("metrics_path", "/metrics"))
    gateway_admin = int(environment(services()["gateway"])["OAUTH2_ADMIN_PORT"])
    expected = {"gateway": (gateway_admin, "/metrics")}
    for name in GRPC_SERVICES:
        port = int(environment(services()[name])["OAUTH2_METRICS_PORT"])
        expected[name] = (port, "/metrics")
    assert scraped == expected
    volumes = services()["prometheus"]["volumes"]
    assert any(v.startswith("./deploy/prometheus/prometheus.yml:") for v in volumes)


def test_every_process_talks_mutual_tls_with_the_generated_certificates() -> None:
    certs = services()["grpc-certs"]
    assert certs["command"][:3] == ["python", "-m", "oauth2ctl.devcerts"]
    assert "grpc-certs:/certs" in certs["volumes"]
    for name in PROCESSES:
        service = services()[name]
        env = environment(service)
        assert env["OAUTH2_GRPC_TLS_CA_FILE"] == "/certs/ca.crt", name
        # Each process presents its own certificate: its CN is its identity.
        assert env["OAUTH2_GRPC_TLS_CERT_FILE"] == f"/certs/{name}.crt", name
        assert env["OAUTH2_GRPC_TLS_KEY_FILE"] == f"/certs/{name}.key", name
        assert "grpc-certs:/certs:ro" in service["volumes"], name
        condition = service["depends_on"]["grpc-certs"]["condition"]
        assert condition == "service_completed_successfully", name
        if name in GRPC_SERVICES:
            health_port = env["OAUTH2_GRPC_HEALTH_PORT"]
            assert f"127.0.0.1:{health_port}" in " ".join(service["healthcheck"]["test"]), name
