"""Tokens granted the admin scope (the admin API's, oauth2ctl's) are not counted in
the operators' stats; every other token is."""

from __future__ import annotations

from common.kv import MemoryKeyValue
from services.token.domain.stats import TokenStats
from services.token.tests.test_stats import NoFamilies


async def test_admin_tokens_are_not_counted() -> None:
    stats = TokenStats(MemoryKeyValue(), NoFamilies(), ["client_credentials"])  # type: ignore[arg-type]
    await stats.start()
    stats.record_issued("client_credentials", "admin")
    stats.record_issued("client_credentials", "read admin")
    stats.record_issued("client_credentials", "read")
    stats.record_issued("client_credentials", "administrator")  # another scope
    stats.record_issued("client_credentials")
    assert (await stats.read()).issued_by_grant_type == {"client_credentials": 3}
    await stats.close()
