"""Mutual-TLS client authentication (RFC 8705): the subject attribute a
tls_client_auth client's certificate must carry (section 2.1.2), and
tls_client_certificate_bound_access_tokens (section 3.4) per client.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 00:00:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: Union[str, None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

SUBJECT_COLUMNS = (
    "tls_client_auth_subject_dn",
    "tls_client_auth_san_dns",
    "tls_client_auth_san_uri",
    "tls_client_auth_san_ip",
    "tls_client_auth_san_email",
)


def upgrade() -> None:
    # Defaults, so that the previous release (which writes no such columns) keeps
    # working on this schema during a rollback.
    with op.batch_alter_table("clients") as batch:
        for name in SUBJECT_COLUMNS:
            batch.add_column(sa.Column(name, sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column(
                "tls_client_certificate_bound_access_tokens",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("tls_client_certificate_bound_access_tokens")
        for name in reversed(SUBJECT_COLUMNS):
            batch.drop_column(name)
