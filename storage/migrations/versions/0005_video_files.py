"""a rendered video's file, size and thumbnail in its video_metadata row: the bot uploads it, /video again

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("video_metadata") as batch:
        batch.add_column(sa.Column("width", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("height", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("data", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("thumbnail", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("video_metadata") as batch:
        batch.drop_column("thumbnail")
        batch.drop_column("data")
        batch.drop_column("height")
        batch.drop_column("width")
