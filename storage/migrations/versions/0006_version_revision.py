"""what an improvement did to its parent: storyboard_versions.revision (JSON, None for a first version)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 17:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("storyboard_versions") as batch:
        batch.add_column(sa.Column("revision", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("storyboard_versions") as batch:
        batch.drop_column("revision")
