"""TLS on the gateway's listeners, with certificates that are reloaded when their
files change on disk (cert-manager renewing a Secret), without a restart.

uvicorn builds its ``ssl.SSLContext`` once, in ``Config.load``; its
``ssl_context_factory`` hook (:func:`reloading_context`) lets us hand it one
whose SNI callback, called on every ClientHello (with ``server_name`` None when
the client sends no SNI, as for an IP address), moves the handshake onto a
context freshly loaded from the files once their stat changed. The files are
stat'ed at most once every :data:`CHECK_EVERY_SECONDS`, so a handshake costs no
more than a clock read in between. Every uvicorn worker loads its own.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

log = logging.getLogger(__name__)

#: Seconds between two looks at the files' stat, at most: a renewed certificate
#: serves new handshakes at most this much after it is written.
CHECK_EVERY_SECONDS: Final = 1.0


class TlsFilesError(ValueError):
    """A certificate/key pair that cannot be used; the message is one line."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A listener's PEM certificate chain, its private key and the key's password."""

    cert: Path
    key: Path
    password: str | None = None
    # RFC 8705: the CA certificates (PEM) that client certificates are verified
    # against; set, the listener asks every client for one (optional: a client
    # without one still connects and authenticates otherwise).
    client_ca: Path | None = None

    def stamp(self) -> tuple[tuple[int, int, int], ...]:
        """What changes when either file is replaced (mtime, size, inode: a
        Kubernetes Secret volume swaps a symlink, which stat follows)."""
        stamps = []
        for path in self.paths():
            try:
                found = os.stat(path)
            except OSError:
                stamps.append((0, 0, 0))
                continue
            stamps.append((found.st_mtime_ns, found.st_size, found.st_ino))
        return tuple(stamps)

    def load(self) -> ssl.SSLContext:
        """A server context holding this pair, or :class:`TlsFilesError` saying why not."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # Never the terminal prompt OpenSSL falls back to for an encrypted key.
        password = (self.password or "").encode()
        for path in self.paths():
            # OpenSSL's own error would not say which file.
            try:
                with path.open("rb"):
                    pass
            except OSError as exc:
                raise TlsFilesError(f"cannot read {path}: {exc.strerror}") from None
        try:
            context.load_cert_chain(self.cert, self.key, password=lambda: password)
        except ssl.SSLError as exc:
            raise TlsFilesError(_explain(exc, self)) from None
        except OSError as exc:
            raise TlsFilesError(f"cannot read {self.cert} or {self.key}: {exc}") from None
        if self.client_ca is not None:
            try:
                context.load_verify_locations(cafile=self.client_ca)
            except (ssl.SSLError, OSError) as exc:
                raise TlsFilesError(
                    f"{self.client_ca} is not a PEM file of CA certificates ({exc})"
                ) from None
            context.verify_mode = ssl.CERT_OPTIONAL
        return context

    def paths(self) -> tuple[Path, ...]:
        return (
            (self.cert, self.key)
            if self.client_ca is None
            else (
                self.cert,
                self.key,
                self.client_ca,
            )
        )


def _explain(exc: ssl.SSLError, files: TlsFiles) -> str:
    reason = str(exc.reason or "")
    if reason == "KEY_VALUES_MISMATCH":
        return f"the key {files.key} does not belong to the certificate {files.cert}"
    if _encrypted(files.key):
        # OpenSSL 3 says no more than PEM_LIB for a wrong password.
        return f"cannot decrypt the key {files.key}: wrong or missing tls_key_password"
    why = f" ({reason})" if reason else ""
    return f"{files.cert} and {files.key} are not a PEM certificate chain and private key{why}"


def _encrypted(key: Path) -> bool:
    """A PKCS#8 "ENCRYPTED PRIVATE KEY" or a traditional one with Proc-Type ENCRYPTED."""
    try:
        return b"ENCRYPTED" in key.read_bytes()[:4096]
    except OSError:
        return False


class ReloadingCertificate:
    """The context a listener starts with; new handshakes get the files' current
    pair. A pair that does not load (a renewal half written) is logged and the
    previous one kept until the files change again."""

    def __init__(self, files: TlsFiles, clock: Callable[[], float] = time.monotonic) -> None:
        self.files = files
        self._clock = clock
        self._stamp = files.stamp()
        self._refused: tuple[tuple[int, int, int], ...] | None = None
        self.context = files.load()
        self.context.sni_callback = self._on_client_hello
        self._current = self.context
        self._checked = clock()

    @property
    def current(self) -> ssl.SSLContext:
        """The context new handshakes use (after :meth:`refresh`)."""
        return self._current

    def refresh(self) -> None:
        """Load the pair again if the files changed since it was last loaded."""
        now = self._clock()
        if now - self._checked < CHECK_EVERY_SECONDS:
            return
        self._checked = now
        stamp = self.files.stamp()
        if stamp == self._stamp or stamp == self._refused:
            return
        try:
            context = self.files.load()
        except TlsFilesError as exc:
            self._refused = stamp
            log.warning("TLS certificate not reloaded, still serving the previous one: %s", exc)
            return
        self._stamp, self._refused, self._current = stamp, None, context
        log.info("TLS certificate reloaded from %s", self.files.cert)

    def _on_client_hello(
        self, connection: Any, _server_name: str | None, context: ssl.SSLContext
    ) -> None:
        self.refresh()
        if self._current is not context:
            connection.context = self._current


def reloading_context(config: Any, _default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's ``ssl_context_factory``: the pair named by the Config's
    ``ssl_certfile``/``ssl_keyfile``/``ssl_keyfile_password``, reloaded on change.
    A module-level function, so that it reaches spawned workers by name."""
    files = TlsFiles(
        Path(config.ssl_certfile),
        Path(config.ssl_keyfile),
        config.ssl_keyfile_password,
        Path(config.ssl_ca_certs) if config.ssl_ca_certs else None,
    )
    return ReloadingCertificate(files).context


def uvicorn_tls(files: TlsFiles | None) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.Config`` (or ``uvicorn.run``) that serve
    ``files`` with :func:`reloading_context`; none for a plaintext listener."""
    if files is None:
        return {}
    return {
        "ssl_certfile": str(files.cert),
        "ssl_keyfile": str(files.key),
        "ssl_keyfile_password": files.password,
        "ssl_ca_certs": str(files.client_ca) if files.client_ca is not None else None,
        "ssl_context_factory": reloading_context,
    }
