"""Tables of the admin schema. Empty until a later issue gives the service its data."""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
