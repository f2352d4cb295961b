"""Code exchanges cut short by an outage, finished by the client's retry.

The authorize service consumes a code in its own database before this service
records the grant in its own; when the database (or the user directory) goes
away between the two, the token request answers 503 temporarily_unavailable,
which promises that the client may retry, but the code is used already and
the retry would be refused as a replay: the person's sign-in is lost.

So the consumed code is kept here (in Redis, shared by every replica) for a
short while when an exchange fails that way, and the retry of its client takes
it back instead of being treated as a replay. The single use holds: taking is
atomic (one retry wins), the grant family's primary key (the code's hash)
admits one grant per code whatever happens, and a retry must still pass client
authentication, the redirect URI and PKCE like the first attempt. Without
Redis nothing is kept, and the retry is refused as before.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import datetime

from common.kv import KeyValue
from services.token.domain.ports import ConsumedCode

log = logging.getLogger(__name__)

#: How long a client may take to retry (authorization codes live 60 s by default,
#: RFC 6749 section 4.1.2 recommends at most 10 minutes).
KEEP_SECONDS = 120.0
_KEY = "token:unfinished-exchange:"


class UnfinishedExchanges:
    """Consumed codes whose exchange failed with temporarily_unavailable."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def keep(self, code: ConsumedCode) -> None:
        """Remember ``code`` for its client's retry; never raises (the caller is
        already answering 503, and without Redis there is just no second chance)."""
        value = asdict(code)
        value["auth_time"] = code.auth_time.isoformat() if code.auth_time else None
        try:
            await self._kv.set(_KEY + code.code_id, json.dumps(value), ttl=KEEP_SECONDS)
        except Exception as exc:  # any store failure: the code stays burnt, as before
            log.warning("could not keep code %s for a retry: %s", code.code_id[:12], exc)

    async def take(self, code_id: str, client_id: str) -> ConsumedCode | None:
        """The kept code for a retry by the client it was issued to, removed so that
        exactly one retry gets it; None when there is none (a plain replay)."""
        key = _KEY + code_id
        try:
            raw = await self._kv.get(key)
            if raw is None:
                return None
            value = json.loads(raw)
            if value.get("client_id") != client_id or await self._kv.delete(key) != 1:
                return None
        except Exception as exc:  # Redis away: treat it as a replay (fail closed)
            log.warning("could not look for a kept code %s: %s", code_id[:12], exc)
            return None
        auth_time = value.pop("auth_time")
        return ConsumedCode(
            **{
                **value,
                "scopes": tuple(value["scopes"]),
                "amr": tuple(value["amr"]),
                "auth_time": datetime.fromisoformat(auth_time) if auth_time else None,
            }
        )
