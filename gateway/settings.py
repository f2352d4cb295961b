"""Settings of the HTTP gateway."""

from __future__ import annotations

import json
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    IPvAnyNetwork,
    PlainSerializer,
    SecretStr,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import NoDecode

from common.settings import CommonSettings
from gateway.client_address import ProxyHeader
from gateway.origins import is_origin
from gateway.tls import TlsFiles, TlsFilesError

_RATE = re.compile(
    r"\s*(?P<count>\d+(?:\.\d+)?)\s*/\s*(?P<unit>s|sec|second|min|minute|h|hour)"
    r"\s+burst\s+(?P<burst>\d+)\s*",
    re.IGNORECASE,
)
_UNIT_SECONDS: Final = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
}


@dataclass(frozen=True)
class Rate:
    """A rate limit as GCRA sees it (gateway/ratelimit.py): ``count`` requests per
    ``unit`` sustained, with up to ``burst`` at once. Written ``"10/min burst 20"``."""

    count: float
    unit: str
    burst: int

    @property
    def per_second(self) -> float:
        return self.count / _UNIT_SECONDS[self.unit]

    def __str__(self) -> str:
        count = f"{self.count:g}"
        return f"{count}/{self.unit} burst {self.burst}"

    @classmethod
    def parse(cls, value: Any) -> Rate:
        if isinstance(value, Rate):
            return value
        found = _RATE.fullmatch(value) if isinstance(value, str) else None
        if found is None:
            raise ValueError("must look like '10/s burst 20' (units: s, min, h)")
        count, burst = float(found["count"]), int(found["burst"])
        if count <= 0 or burst < 1:
            raise ValueError("the rate must be positive and the burst at least 1")
        unit = found["unit"].lower()
        unit = {"sec": "s", "second": "s", "minute": "min", "hour": "h"}.get(unit, unit)
        return cls(count, unit, burst)


RateSetting = Annotated[Rate, NoDecode, BeforeValidator(Rate.parse), PlainSerializer(str)]


def _password(value: Any) -> str | None:
    return value.get_secret_value() if isinstance(value, SecretStr) else None


def _check_pair(files: TlsFiles) -> None:
    try:
        files.load()
    except TlsFilesError as exc:
        raise ValueError(str(exc)) from None


def _networks(value: Any) -> Any:
    """A list of CIDRs, or one string of them separated by commas (the environment)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class GatewaySettings(CommonSettings):
    """The gateway: the public HTTP surface (RFC 6749, RFC 7662, RFC 7009, RFC 8414)."""

    PROCESS: ClassVar[str] = "gateway"

    # Address the HTTP server listens on.
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Largest request body accepted; larger ones get 413 before they are read in full.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    # Deadline of each downstream health check behind GET /ready, in seconds; it
    # also bounds how long /ready takes to say 503. Longer than the 1 s maximum
    # reconnect backoff of common.grpc_client, so a service that is back is seen.
    ready_timeout_seconds: float = Field(default=1.5, gt=0, le=30)
    # Seconds uvicorn gives open requests to finish on SIGTERM.
    drain_seconds: float = Field(default=5.0, ge=0, le=300)
    # uvicorn worker processes. Kubernetes scales the gateway by pods, so 1 is the
    # norm there; several need Redis (sessions must be shared) and a Prometheus
    # multiprocess directory (below; a temporary one is made when it is unset).
    workers: int = Field(default=1, ge=1, le=64)
    # PROMETHEUS_MULTIPROC_DIR: set it (to an empty directory) when uvicorn runs
    # several workers, so that GET /metrics adds up the samples of every worker.
    # prometheus_client itself reads the environment variable, so set it there.
    prometheus_multiproc_dir: str | None = None
    # Lifetime of a browser session held server-side, in seconds; sliding: every
    # page the session is used on starts the period again (8 hours).
    session_ttl_seconds: int = Field(default=8 * 3600, ge=60, le=30 * 86400)
    # Lifetime of a session nobody has signed in on yet, which only holds the
    # pages of waiting sign-ins (30 minutes, the authorize service's
    # interaction_ttl_seconds); sessions are stored only once they hold either.
    pending_session_ttl_seconds: int = Field(default=1800, ge=60, le=86400)
    # Name of the session cookie (HttpOnly, SameSite=Lax, Path=/, Secure when the
    # issuer is https).
    session_cookie_name: str = Field(
        default="oauth2_session", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$"
    )
    # Origins (scheme://host[:port]) whose browser apps may call the token,
    # revocation, userinfo, JWKS and discovery endpoints (CORS, docs/operators.md),
    # for every client; each client's own origins (those of its redirect URIs and
    # its allowed_cors_origins) are allowed for that client without listing them
    # here. Empty: only the clients' own. "*" is refused: list the origins.
    cors_allowed_origins: list[str] = Field(default_factory=list, max_length=1000)
    # Seconds the gateway keeps what it learnt of the clients' CORS origins; a
    # client's new redirect URI is allowed for CORS at most this much later.
    cors_cache_seconds: float = Field(default=60.0, ge=0.1, le=3600)
    # Access-Control-Max-Age of a preflight answer: seconds a browser may reuse it
    # (Chromium caps it at 7200).
    cors_max_age_seconds: int = Field(default=600, ge=0, le=86400)
    # Address of the admin listener: the admin API (/admin/api), /metrics and the
    # admin API's OpenAPI document, which the public listener (host/port) does not
    # serve (like Hydra's 4445 and Keycloak's management port). Keep it on loopback
    # or a cluster-internal address, never behind the public ingress.
    admin_host: str = "127.0.0.1"
    # Port of the admin listener; 0 turns it off (the admin API is then unreachable).
    admin_port: int = Field(default=8081, ge=0, le=65535)

    @field_validator("cors_allowed_origins")
    @classmethod
    def _origins_are_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not is_origin(origin):
                raise ValueError(
                    f"{origin[:100]!r} is not an origin: scheme://host[:port], lower case,"
                    " no path and no default port ('*' is not allowed: list the origins)"
                )
        return value

    # Proxies whose X-Forwarded-For / Forwarded the gateway believes (gateway/client_address.py):
    # CIDRs, a list in TOML or one comma-separated string in OAUTH2_TRUSTED_PROXIES.
    # Empty: the TCP peer is the client, and forwarding headers from anyone are ignored.
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode, BeforeValidator(_networks)] = []
    # The one header those proxies append the client's address to: "x-forwarded-for"
    # (nginx, most ingresses) or "forwarded" (RFC 7239 for=). The other is ignored.
    trusted_proxy_header: ProxyHeader = "x-forwarded-for"

    # Rate limits (docs/operators.md, "Rate limits"): GCRA counted in Redis (in process
    # on the embedded default), so every replica shares them. Each is written
    # "<requests>/<s|min|h> burst <n>"; over a limit the answer is 429 with Retry-After.
    # false turns every limit off.
    rate_limits_enabled: bool = True
    # POST /oauth/token, per client_id (read from Basic or the form, before the secret
    # is checked): what stops secret guessing and spares the token service.
    rate_limit_token_per_client: RateSetting = Rate(20, "s", 100)
    # POST /oauth/introspect, per client_id: resource servers introspect often.
    rate_limit_introspect_per_client: RateSetting = Rate(100, "s", 200)
    # POST /oauth/revoke, per client_id.
    rate_limit_revoke_per_client: RateSetting = Rate(10, "s", 50)
    # POST /oauth/par (RFC 9126), per client_id: one push per sign-in it starts.
    rate_limit_par_per_client: RateSetting = Rate(10, "s", 50)
    # POST /oauth/device_authorization (RFC 8628), per client_id: one per device sign-in.
    rate_limit_device_authorization_per_client: RateSetting = Rate(10, "s", 50)
    # POST /device, per address: user_code guesses (RFC 8628 section 5.1). A person
    # mistypes a few times; 20**8 codes at this pace take an address millennia.
    rate_limit_device_verification_per_address: RateSetting = Rate(5, "min", 10)
    # Token, introspection and revocation requests that name no client, per address.
    rate_limit_client_per_address: RateSetting = Rate(5, "s", 30)
    # Every token, introspection and revocation request, per address, whatever client
    # it names: a client_id is unverified here, so rotating made-up ones must not buy
    # unlimited calls. Generous: several backends behind one NAT address share it.
    rate_limit_oauth_per_address: RateSetting = Rate(200, "s", 1000)
    # GET|PUT|DELETE /oauth/register/{client_id} (RFC 7592), per client_id.
    rate_limit_registration_per_client: RateSetting = Rate(1, "s", 10)
    # POST /oauth/register (RFC 7591 self-registration), per address.
    rate_limit_register_per_address: RateSetting = Rate(10, "min", 20)
    # POST /login, per address: bounds password spraying (1 a second sustained), while
    # the burst lets a person behind a busy address (or after many typos) through.
    rate_limit_login_per_address: RateSetting = Rate(1, "s", 60)
    # POST /login, per username: the authorize service's lockout is the real control;
    # this only keeps a flood for one account away from the password hashing.
    rate_limit_login_per_user: RateSetting = Rate(10, "min", 10)
    # The sign-in pages per address: /oauth/authorize, GET /login, /consent, /logout.
    rate_limit_pages_per_address: RateSetting = Rate(10, "s", 200)
    # Discovery, JWKS and userinfo, per address: cheap, and fetched often.
    rate_limit_public_per_address: RateSetting = Rate(50, "s", 500)
    # IPv6 addresses count per network of this prefix length for the per-address
    # limits: one host usually holds a whole /64 and could rotate through it.
    rate_limit_ipv6_prefix: int = Field(default=64, ge=32, le=128)

    # Slow clients (gateway/http_timeouts.py), on both listeners, as nginx's
    # client_header_timeout, client_body_timeout and keepalive_timeout. Seconds a
    # client may take over a request's headers: from the moment its connection is
    # open (the first request) or from the first byte of the next request on a
    # kept-alive connection, until the headers are complete. Then the connection is
    # closed (after a 408 if part of a request arrived) and counted in
    # oauth2_http_slow_client_drops_total{phase="headers"}.
    request_header_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    # Seconds a client may take over a request's whole body, from the end of its
    # headers: slower, and it gets 408 invalid_request with Connection: close (or
    # the connection is closed, if the response has begun);
    # oauth2_http_slow_client_drops_total{phase="body"}.
    request_body_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    # Seconds a kept-alive connection may idle between the end of a response and the
    # next request's first byte before the gateway closes it (uvicorn's
    # timeout_keep_alive: whole seconds). Behind a load balancer that pools
    # connections, make it longer than the balancer's idle timeout (AWS ALB: 60 s),
    # so that the balancer never sends a request on a connection being closed.
    keep_alive_timeout_seconds: int = Field(default=5, ge=1, le=3600)

    # TLS on the public listener (docs/operators.md, "TLS at the gateway"): PEM files
    # of its certificate chain and private key, both or none; none (the default)
    # serves plain HTTP, for an ingress that terminates TLS in front. Checked at
    # start-up (readable, the key belongs to the certificate) and reloaded when
    # either file changes (gateway/tls.py). Needs an https:// issuer.
    tls_cert_file: Path | None = None
    # Password of an encrypted tls_key_file (and of admin_tls_key_file); unset: the
    # keys are not encrypted.
    tls_key_password: SecretStr | None = None
    tls_key_file: Path | None = None
    # Mutual TLS (RFC 8705; docs/operators.md, "Client certificates"): a PEM file of
    # the CA certificates that clients' certificates chain to. Set, the public
    # listener asks every client for a certificate (a client without one still
    # connects), verifies it against these, and tls_client_auth clients
    # authenticate with it; tokens can be bound to it (cnf.x5t#S256).
    tls_client_ca_file: Path | None = None
    # Behind a proxy that terminates TLS: the request header in which it forwards the
    # client's certificate, read only from trusted_proxies. RFC 9440 Client-Cert
    # (":base64 DER:") or a URL-escaped PEM (nginx $ssl_client_escaped_cert).
    # "" (the default): no such header is believed.
    tls_client_cert_header: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9-]*$")
    # TLS on the admin listener, the same way; unset (the default): plain HTTP, as
    # on loopback. Name the public files again to serve the same certificate.
    admin_tls_cert_file: Path | None = None
    admin_tls_key_file: Path | None = None
    # Strict-Transport-Security (RFC 6797) on every public response whenever the
    # issuer is https (TLS here or at an ingress): max-age in seconds (1 year;
    # 0 tells browsers to forget an earlier one) ...
    hsts_max_age_seconds: int = Field(default=365 * 86400, ge=0, le=2 * 365 * 86400)
    # ... and includeSubDomains, which binds every subdomain of the issuer's host
    # to https as well: only when all of them serve https.
    hsts_include_subdomains: bool = False

    @field_validator("tls_cert_file")
    @classmethod
    def _tls_needs_https_issuer(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None and not str(info.data.get("issuer", "")).startswith("https://"):
            raise ValueError("the gateway serves https, so the issuer must be an https:// URL")
        return value

    @field_validator("tls_key_file")
    @classmethod
    def _tls_pair_loads(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # Declared after tls_cert_file and tls_key_password, so both are in info.data.
        cert = info.data.get("tls_cert_file")
        if (cert is None) != (value is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if cert is None or value is None:
            return value
        _check_pair(TlsFiles(cert, value, _password(info.data.get("tls_key_password"))))
        return value

    @field_validator("admin_tls_key_file")
    @classmethod
    def _admin_tls_pair_loads(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        cert = info.data.get("admin_tls_cert_file")
        if (cert is None) != (value is None):
            raise ValueError("admin_tls_cert_file and admin_tls_key_file go together")
        if cert is not None and value is not None:
            _check_pair(TlsFiles(cert, value, _password(info.data.get("tls_key_password"))))
        return value

    @field_validator("tls_client_ca_file")
    @classmethod
    def _client_ca_needs_tls(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None and info.data.get("tls_key_file") is None:
            raise ValueError(
                "client certificates need TLS here: set tls_cert_file and tls_key_file"
            )
        if value is not None:
            try:
                ssl.create_default_context(cafile=value)
            except (ssl.SSLError, OSError) as exc:
                raise ValueError(f"{value} is not a PEM file of CA certificates ({exc})") from None
        return value

    @property
    def client_certificates(self) -> bool:
        """Clients' TLS certificates reach the gateway (RFC 8705), by its own TLS or
        a trusted proxy's header: discovery advertises the mTLS endpoints."""
        return self.tls_client_ca_file is not None or bool(self.tls_client_cert_header)

    @property
    def public_tls(self) -> TlsFiles | None:
        """The public listener's certificate, or None for plain HTTP."""
        if self.tls_cert_file is None or self.tls_key_file is None:
            return None
        return TlsFiles(
            self.tls_cert_file,
            self.tls_key_file,
            _password(self.tls_key_password),
            self.tls_client_ca_file,
        )

    @property
    def admin_tls(self) -> TlsFiles | None:
        """The admin listener's certificate, or None for plain HTTP."""
        if self.admin_tls_cert_file is None or self.admin_tls_key_file is None:
            return None
        return TlsFiles(
            self.admin_tls_cert_file, self.admin_tls_key_file, _password(self.tls_key_password)
        )

    @property
    def strict_transport_security(self) -> str | None:
        """The Strict-Transport-Security header of public responses: whenever the
        issuer is https (the gateway's own TLS needs an https issuer), since a
        browser reached it over https then, here or at an ingress."""
        if not self.secure_cookies:
            return None
        value = f"max-age={self.hsts_max_age_seconds}"
        return value + "; includeSubDomains" if self.hsts_include_subdomains else value

    @property
    def secure_cookies(self) -> bool:
        """Cookies are Secure exactly when the public base URL is https: always
        when the gateway serves TLS itself (that needs an https issuer)."""
        return self.issuer.startswith("https://")

    @property
    def root_path(self) -> str:
        """The path of the issuer ("" or e.g. "/tenant"): where the gateway's own
        pages live behind a proxy that strips it."""
        return urlsplit(self.issuer).path.rstrip("/")

    @field_validator("workers")
    @classmethod
    def _workers_share_state(cls, value: int, info: ValidationInfo) -> int:
        if value > 1 and info.data.get("redis_url") is None:
            raise ValueError("more than 1 needs redis_url: workers must share sessions")
        return value
