"""Typed settings: defaults in code -> a TOML file -> environment variables.

One settings class per process derives from :class:`CommonSettings`. The TOML
file (``--config`` or ``OAUTH2_CONFIG``) holds shared keys at the top level and
per-process overrides in a table named after the process (``[token]``,
``[gateway]``...). Environment variables are ``OAUTH2_<KEY>``, overridden for one
process by ``OAUTH2_<PROCESS>_<KEY>`` (``OAUTH2_TOKEN_GRPC_PORT``), plus the
well-known names ``DATABASE_URL``, ``<SERVICE>_DATABASE_URL``, ``REDIS_URL``
and ``OTEL_EXPORTER_OTLP_ENDPOINT``.

An invalid value stops start-up with one readable line naming the key and exit
code 2 (:func:`load_settings`), and so does a key no process knows: anywhere in
the TOML file, or an ``OAUTH2_*`` environment variable (:func:`check_strict`).
The top level of the file and the ``OAUTH2_<KEY>`` names are shared by every
process, so "known" means known to one of the classes in :data:`SETTINGS_CLASSES`.
Nothing else in the code base reads ``os.environ``.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import os
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BeforeValidator, Field, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from common.redis_url import parse_redis_url

ENV_PREFIX = "OAUTH2_"
CONFIG_ENV = "OAUTH2_CONFIG"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

#: The settings class of every process, by "module:class", keyed by its PROCESS
#: (its TOML table, its OAUTH2_<PROCESS>_ names). Strings imported when settings
#: are checked (:func:`known_fields`), so that common/ imports none of them.
SETTINGS_CLASSES: dict[str, str] = {
    "gateway": "gateway.settings:GatewaySettings",
    "authorize": "services.authorize.settings:AuthorizeSettings",
    "token": "services.token.settings:TokenSettings",
    "clients": "services.clients.settings:ClientsSettings",
    "admin": "services.admin.settings:AdminSettings",
    "ctl": "oauth2ctl.settings:CtlSettings",
}

#: OAUTH2_ names that are not keys of a settings class but are read all the same.
OTHER_ENV: frozenset[str] = frozenset({"OAUTH2_CONFIG"})


class ConfigError(Exception):
    """A setting that cannot be used; the message names the key."""


def process_env_prefix(process: str) -> str:
    """The prefix of one process's own environment names: OAUTH2_TOKEN_ for token."""
    return f"{ENV_PREFIX}{process.upper()}_"


def config_file_from_env() -> Path | None:
    value = os.environ.get(CONFIG_ENV)
    return Path(value) if value else None


def read_config_file(path: Path) -> dict[str, Any]:
    """The TOML file's tables, or ConfigError naming the file and what is wrong."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from exc


class _TomlSource(PydanticBaseSettingsSource):
    """Top-level keys the class knows, then the process's own table on top."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        if path is None:
            return
        raw = read_config_file(path)
        fields = settings_cls.model_fields
        process = getattr(settings_cls, "PROCESS", "")
        for key, value in raw.items():
            if not isinstance(value, dict) and key in fields:
                self._data[key] = value
        table = raw.get(process)
        if isinstance(table, dict):
            for key, value in table.items():
                if key not in fields:
                    raise ConfigError(f"config file {path}: unknown key '{process}.{key}'")
                self._data[key] = value

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class _WellKnownEnvSource(PydanticBaseSettingsSource):
    """Environment names shared with the wider ecosystem (12-factor, OpenTelemetry)."""

    def __call__(self) -> dict[str, Any]:
        process = getattr(self.settings_cls, "PROCESS", "").upper()
        names: dict[str, list[str]] = {
            "database_url": [f"{process}_DATABASE_URL", "DATABASE_URL"],
            "redis_url": [f"{process}_REDIS_URL", "REDIS_URL"],
            "otel_exporter_otlp_endpoint": ["OTEL_EXPORTER_OTLP_ENDPOINT"],
            "prometheus_multiproc_dir": ["PROMETHEUS_MULTIPROC_DIR"],
        }
        found: dict[str, Any] = {}
        for field_name, env_names in names.items():
            if field_name not in self.settings_cls.model_fields:
                continue
            for env_name in env_names:
                if os.environ.get(env_name):
                    found[field_name] = os.environ[env_name]
                    break
        return found

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False


def _method_list(value: Any) -> Any:
    """gRPC methods as "package.Service/Method": a list, or one string of them
    separated by commas (the environment)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    for method in value if isinstance(value, list) else ():
        service, _, name = str(method).partition("/")
        if "." not in service or not name or "/" in name:
            raise ValueError(f"'{method}' is not a gRPC method as package.Service/Method")
    return value


class CommonSettings(BaseSettings):
    """Settings every process has. Each key is documented beside its default."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        validate_default=True,
        case_sensitive=False,
    )

    #: Name of the process, used for the TOML table, service.name and the SQLite file.
    PROCESS: ClassVar[str] = "common"
    #: Set by load_settings from --config / OAUTH2_CONFIG.
    _config_file: ClassVar[Path | None] = None

    # The public base URL of the gateway; the `iss` of every token (RFC 8414 section 2).
    issuer: str = "http://127.0.0.1:8080"
    # Every authorization request must be pushed first (RFC 9126: POST /oauth/par,
    # then /oauth/authorize with client_id and request_uri only). Read by the authorize
    # service (it refuses others) and the gateway (discovery says so).
    require_pushed_authorization_requests: bool = False
    # Accept a client's jwks_uri (RFC 7591 section 2) with http://, not only https://.
    # For development and tests only: a key set fetched in the clear can be swapped.
    # Every process reads it (the clients service when it validates the metadata,
    # the processes that fetch the keys).
    jwks_uri_allow_http: bool = False
    # Accept a client's backchannel_logout_uri (OpenID Connect Back-Channel Logout 1.0)
    # with http://, not only https://: the token service POSTs logout tokens there.
    # For development and tests only. Read by the clients service.
    backchannel_logout_uri_allow_http: bool = False
    # DEBUG | INFO | WARNING | ERROR
    log_level: LogLevel = "INFO"
    # "json" lines for machines, "text" for a terminal (control characters escaped,
    # so no logged input can forge a line).
    log_format: Literal["json", "text"] = "json"
    # Where the embedded default keeps its SQLite files and generated secrets.
    data_dir: Path = Path("var")
    # SQLAlchemy URL; unset means sqlite+aiosqlite:///<data_dir>/<process>.db.
    # postgresql:// URLs are switched to the asyncpg driver.
    database_url: str | None = None
    # PostgreSQL schema this process owns; defaults to the process name.
    database_schema: str | None = None
    database_pool_size: int = Field(default=10, ge=1, le=200)
    # A pooled PostgreSQL connection idle this long is pinged before use (common/db.py);
    # 0 pings at every checkout, as SQLAlchemy's pool_pre_ping does.
    database_ping_after_idle_seconds: float = Field(default=1.0, ge=0, le=3600)
    # Redis, one of (docs/operators.md, "Redis: Sentinel, Cluster, TLS, sharing one Redis"):
    # redis://[user:pass@]host:port[/db], rediss://... (TLS), unix:///path.sock;
    # redis+sentinel://[user:pass@]host:26379[,host:26379...]/service_name[/db] (also
    # rediss+sentinel://; the sentinels' own password as ?sentinel_password=...);
    # redis+cluster://[user:pass@]host:7000[,host:7001...] (also rediss+cluster://).
    # Unset means an in-process stand-in (embedded default only).
    redis_url: str | None = None
    # Prefix of every Redis key and channel, so that deployments can share a server.
    # Empty (the default) derives it from the issuer: "oauth2:" + the first 8 hex digits
    # of SHA-256(issuer) + ":", the same in every process of one deployment and apart
    # from any other deployment's.
    redis_key_prefix: str = ""
    # PEM files for TLS to Redis (rediss:// schemes only): the CA that signs the
    # servers' certificates (unset: the system's CAs), and a client certificate and its
    # key for servers that ask for one (both or neither). The URL's own query options
    # (?ssl_ca_certs=..., ?ssl_cert_reqs=none) are honoured too; these win.
    redis_tls_ca_file: Path | None = None
    redis_tls_cert_file: Path | None = None
    redis_tls_key_file: Path | None = None
    # Longest wait for one Redis command, in seconds (less when the request's budget
    # has less left); after one finds Redis away the next fail at once for a second.
    redis_timeout_seconds: float = Field(default=0.5, gt=0, le=30)
    # gRPC targets of the services: "host:port", several "host:port" separated by
    # commas (balanced round_robin), or any gRPC name such as dns:///token:50051.
    authorize_target: str = "127.0.0.1:50051"
    token_target: str = "127.0.0.1:50052"  # noqa: S105 - an address, not a secret
    clients_target: str = "127.0.0.1:50053"
    admin_target: str = "127.0.0.1:50054"
    # The budget of one request, in seconds: at the gateway, of everything one HTTP
    # request does through every hop (gRPC propagates the deadline; Redis commands
    # and calls take their timeouts from what is left: common/deadline.py); in a
    # service, of each call it makes outside a request (background work).
    grpc_deadline_seconds: float = Field(default=5.0, gt=0, le=120)
    # Seconds a process keeps trying to reach its database (and the gateway Redis)
    # at start-up, with growing pauses, before it stops with one line naming the
    # host and port and exit code 2: long enough for the database to start beside it.
    startup_timeout_seconds: float = Field(default=30.0, ge=0, le=3600)
    # OTLP/gRPC collector endpoint; unset disables trace export.
    otel_exporter_otlp_endpoint: str | None = None
    # Fraction of traces sampled at the root (parent-based below it).
    otel_sampling_ratio: float = Field(default=1.0, ge=0, le=1)
    # Mutual TLS on every gRPC channel (docs/operators.md, "Service-to-service TLS"):
    # PEM files of the CA that signs every process's certificate, of this process's
    # certificate (subject CN = the process name: gateway, authorize, token, clients,
    # admin, ctl) and of its private key. All three or none; none (the default) means
    # plaintext gRPC and no caller allow-list. `make run` sets them to throwaway
    # certificates under <data_dir>/certs.
    grpc_tls_ca_file: Path | None = None
    grpc_tls_cert_file: Path | None = None
    grpc_tls_key_file: Path | None = None
    # Seconds between keepalive pings on a gRPC connection. Clients ping this often
    # and servers accept pings this often (so an idle channel is never sent GOAWAY
    # too_many_pings): give every process the same value.
    grpc_keepalive_seconds: float = Field(default=2.0, ge=1, le=3600)
    # A ping not answered within this many seconds closes the connection: a frozen
    # or unreachable replica leaves the rotation within keepalive + this.
    grpc_ping_timeout_seconds: float = Field(default=2.0, ge=0.5, le=60)
    # Methods ("package.Service/Method") this process calls as items of a few
    # long-lived streams per channel instead of one gRPC call each (common/grpc_mux.py):
    # about half the CPU per call on both sides, a fraction of it when calls come
    # together. The default is the gateway's token path; only the processes that call
    # a listed method are affected. An empty list makes every call a unary call.
    grpc_multiplex_methods: Annotated[list[str], NoDecode, BeforeValidator(_method_list)] = Field(
        default_factory=lambda: [
            "oauth2.v1.TokenService/Exchange",
            "oauth2.v1.TokenService/Introspect",
        ]
    )
    # Streams per channel for the methods above, opened when first needed; round_robin
    # puts each on the next replica, so give at least as many as there are replicas.
    grpc_multiplex_streams: int = Field(default=2, ge=1, le=64)

    @field_validator("issuer")
    @classmethod
    def _issuer_is_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or "?" in value or "#" in value:
            raise ValueError("must be an http(s) URL without query or fragment")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url_known(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.startswith(("postgres://", "postgresql://")):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            return value
        if value.startswith("sqlite://"):
            return "sqlite+aiosqlite://" + value.split("://", 1)[1]
        raise ValueError("must be a postgresql:// or sqlite:// URL")

    @field_validator("redis_url")
    @classmethod
    def _redis_url_known(cls, value: str | None) -> str | None:
        if not value:
            return None
        parse_redis_url(value)  # ValueError names what is wrong
        return value

    @field_validator("redis_key_prefix")
    @classmethod
    def _redis_key_prefix_default(cls, value: str, info: ValidationInfo) -> str:
        url = info.data.get("redis_url")
        if "{" in value and url and parse_redis_url(url).topology == "cluster":
            raise ValueError("must not contain '{' on Redis Cluster (all keys in one slot)")
        if value:
            return value
        issuer = str(info.data.get("issuer", ""))
        return "oauth2:" + hashlib.sha256(issuer.encode()).hexdigest()[:8] + ":"

    @field_validator("redis_tls_key_file")
    @classmethod
    def _redis_tls_pair(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if (value is None) != (info.data.get("redis_tls_cert_file") is None):
            raise ValueError("redis_tls_cert_file and redis_tls_key_file go together")
        return value

    @field_validator("grpc_tls_key_file")
    @classmethod
    def _grpc_tls_all_or_none(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # Declared last of the three, so the other two are in info.data already.
        files = (info.data.get("grpc_tls_ca_file"), info.data.get("grpc_tls_cert_file"), value)
        if any(files) and not all(files):
            raise ValueError(
                "grpc_tls_ca_file, grpc_tls_cert_file and grpc_tls_key_file go together"
            )
        return value

    @property
    def embedded(self) -> bool:
        """True on the zero-setup default: SQLite and in-process stand-ins."""
        return self.redis_url is None

    @property
    def service_name(self) -> str:
        return f"oauth2-{self.PROCESS}"

    @property
    def db_schema(self) -> str:
        return self.database_schema or self.PROCESS

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / (self.PROCESS + '.db')}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        prefixed = EnvSettingsSource(settings_cls, env_prefix=ENV_PREFIX, case_sensitive=False)
        own = EnvSettingsSource(
            settings_cls, env_prefix=process_env_prefix(cls.PROCESS), case_sensitive=False
        )
        return (
            init_settings,
            own,
            prefixed,
            _WellKnownEnvSource(settings_cls),
            _TomlSource(settings_cls, cls._config_file or config_file_from_env()),
        )


class ServiceSettings(CommonSettings):
    """Settings of a gRPC service process."""

    # Address the gRPC server listens on.
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=0, ge=0, le=65535)
    # Port of the Prometheus /metrics endpoint; 0 disables it.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # Seconds in-flight calls get to finish after SIGTERM.
    drain_seconds: float = Field(default=5.0, ge=0, le=300)
    # Seconds between turning health NOT_SERVING on SIGTERM and stopping the server,
    # while clients (which watch health) take this replica out of their rotation.
    drain_delay_seconds: float = Field(default=0.5, ge=0, le=60)
    # Apply this service's migrations at start-up (the embedded default does).
    migrate_on_start: bool = False
    # A second, plaintext port serving only grpc.health.v1, for probes that cannot
    # present a client certificate (Kubernetes' native gRPC probes) when mTLS is on;
    # 0 (the default) serves none.
    grpc_health_port: int = Field(default=0, ge=0, le=65535)
    # Seconds between checks of the database (and Redis where the service needs it);
    # two failed checks in a row turn the service's gRPC health NOT_SERVING until
    # the next good one (common/dependencies.py). Each check has a second at most.
    dependency_check_seconds: float = Field(default=2.0, gt=0, le=60)


S = TypeVar("S", bound=CommonSettings)


def describe_error(exc: ValidationError, cls: type[CommonSettings]) -> str:
    """One line naming the first bad key, where it can be set, and why it is bad."""
    err = exc.errors()[0]
    key = ".".join(str(part) for part in err["loc"]) or "?"
    value = err.get("input")
    field = cls.model_fields.get(str(err["loc"][0])) if err["loc"] else None
    # A database or Redis URL may carry a password: never repeat one.
    if field is not None and ("SecretStr" in str(field.annotation) or key.endswith("_url")):
        shown = " (value not shown)"
    elif isinstance(value, str) and "://" in value and "@" in value:
        shown = " (value not shown: a URL with credentials)"
    elif isinstance(value, dict) or value is None:
        shown = ""
    else:
        shown = f" (got {value!r})"
    env_name = ENV_PREFIX + key.upper()
    return f"{cls.PROCESS}: invalid setting '{key}' [{env_name}]: {err['msg']}{shown}"


def known_fields(cls: type[CommonSettings]) -> dict[str, frozenset[str]]:
    """The keys of every process's settings, by process (``cls`` among them, known
    or not to :data:`SETTINGS_CLASSES`). A class that cannot be imported here (a
    trimmed image) is left out rather than failing every start."""
    known: dict[str, frozenset[str]] = {}
    for process, path in SETTINGS_CLASSES.items():
        module, _, name = path.partition(":")
        try:
            settings_cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        known[process] = frozenset(settings_cls.model_fields)
    known[cls.PROCESS] = known.get(cls.PROCESS, frozenset()) | frozenset(cls.model_fields)
    return known


def _did_you_mean(name: str, candidates: Any, shown: str = "'{}'", prefix: str = "") -> str:
    """A near miss among ``candidates``, compared without their common ``prefix``
    (which would make every OAUTH2_ name look close to every other)."""
    stems = {candidate.removeprefix(prefix): candidate for candidate in candidates}
    close = difflib.get_close_matches(name.removeprefix(prefix), sorted(stems), n=1, cutoff=0.75)
    return f" (did you mean {shown.format(stems[close[0]])}?)" if close else ""


def known_env_names(known: dict[str, frozenset[str]]) -> frozenset[str]:
    """OAUTH2_<KEY> of every key, OAUTH2_<PROCESS>_<KEY> of each process's keys."""
    names = set(OTHER_ENV)
    for process, fields in known.items():
        names.update(ENV_PREFIX + field.upper() for field in fields)
        names.update(process_env_prefix(process) + field.upper() for field in fields)
    return frozenset(names)


def check_environment(known: dict[str, frozenset[str]]) -> None:
    """Every OAUTH2_* variable is a setting of some process."""
    names = known_env_names(known)
    for variable in sorted(os.environ):
        name = variable.upper()
        if name.startswith(ENV_PREFIX) and name not in names:
            raise ConfigError(
                f"unknown environment variable {variable}"
                + _did_you_mean(name, names, "{}", ENV_PREFIX)
            )


def check_config_file(path: Path, known: dict[str, frozenset[str]]) -> None:
    """Every key of the file is a setting of some process (top level) or of the
    process whose table holds it; every table is a process's."""
    raw = read_config_file(path)
    shared = frozenset().union(*known.values())
    for key, value in raw.items():
        if key in known and isinstance(value, dict):
            for inner in value:
                if inner not in known[key]:
                    raise ConfigError(
                        f"config file {path}: unknown key '{inner}' in table [{key}]"
                        + _did_you_mean(inner, known[key])
                    )
        elif isinstance(value, dict) and key not in shared:
            raise ConfigError(
                f"config file {path}: unknown table [{key}]" + _did_you_mean(key, known, "[{}]")
            )
        elif key not in shared:
            raise ConfigError(
                f"config file {path}: unknown key '{key}'" + _did_you_mean(key, shared | set(known))
            )


def check_strict(cls: type[CommonSettings], config_file: Path | None) -> None:
    """Refuse what no process would read: a misspelt key is not silently a default."""
    known = known_fields(cls)
    check_environment(known)
    path = config_file or config_file_from_env()
    if path is not None:
        check_config_file(path, known)


#: Settings naming files a process reads at start-up (checked by load_settings only,
#: so that a container's environment can be validated where its files are not).
FILE_SETTINGS = ("grpc_tls_ca_file", "grpc_tls_cert_file", "grpc_tls_key_file")


def check_files(settings: CommonSettings) -> None:
    """Each file in :data:`FILE_SETTINGS` can be read: one line naming the setting
    now rather than a failure at the first call."""
    for name in FILE_SETTINGS:
        path = getattr(settings, name, None)
        if path is None:
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ConfigError(
                f"cannot read {name} [{ENV_PREFIX}{name.upper()}] {path}: {exc.strerror}"
            ) from None


def load_settings(cls: type[S], config_file: Path | None = None, **overrides: Any) -> S:
    """Build the settings or exit the process with code 2 and one line on stderr:
    a bad value, a missing or unreadable file, a key or variable no process knows."""
    cls._config_file = config_file
    try:
        check_strict(cls, config_file)
        settings = cls(**overrides)
        check_files(settings)
        return settings
    except ValidationError as exc:
        print(describe_error(exc, cls), file=sys.stderr)
        raise SystemExit(2) from None
    except ConfigError as exc:
        print(f"{cls.PROCESS}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
