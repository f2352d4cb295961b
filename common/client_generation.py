"""The generation of a registered client: how caches outside the clients service
learn, on their very next lookup, that a client changed.

The clients service owns clients; the token service keeps successful client
authentications in memory (services/token/client_auth_cache.py). Pub/sub alone
cannot make that strict (a message may arrive after the next token request, or
never), so every change of a client writes a fresh random generation under
:func:`generation_key` in the shared KeyValue before the change is answered, and a
cached authentication is served only while the generation it saw is still the
current one: one GET per lookup. The channel only lets replicas drop entries early.

A random value rather than a counter: a counter restarts at 1 when Redis loses its
data, and could climb back to a value an old entry recorded; a random one never
comes back. The key expires after :data:`GENERATION_TTL_SECONDS`, far beyond any
cache entry's lifetime (the token setting is capped at an hour), so an entry
cannot outlive two changes of its key's value.
"""

from __future__ import annotations

import secrets

#: Keys of client generations; the rest of the key is the client_id.
GENERATION_PREFIX = "clients:generation:"
#: Channel on which the client_id of every changed client is published.
CHANGES_CHANNEL = "clients:changed"
#: Lifetime of a generation key: a day, against one hour at most for a cache entry.
GENERATION_TTL_SECONDS = 86400.0


def generation_key(client_id: str) -> str:
    return GENERATION_PREFIX + client_id


def new_generation() -> str:
    """128 random bits: no two changes of any client share a generation."""
    return secrets.token_hex(16)
