"""keys scoped to the bot: bot_id on scripts, jobs, prompts and the outbox

Two bots (tokens of different bot ids) may share one database; a message id is unique only within one bot's
chat, so each origin key names its bot, and a bot's sender sends only its own notifications. Rows from before
this revision belong to bot 0, which no real bot is.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _bot_id() -> sa.Column[int]:
    return sa.Column("bot_id", sa.BigInteger(), nullable=False, server_default="0")


def upgrade() -> None:
    with op.batch_alter_table("scripts") as batch_op:
        batch_op.add_column(_bot_id())
        batch_op.drop_constraint("uq_scripts_origin", type_="unique")
        batch_op.create_unique_constraint("uq_scripts_origin", ["bot_id", "chat_id", "message_id"])
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(_bot_id())
    with op.batch_alter_table("feedback_prompts") as batch_op:
        batch_op.add_column(_bot_id())
        batch_op.drop_constraint("uq_prompts_message", type_="unique")
        batch_op.create_unique_constraint("uq_prompts_message", ["bot_id", "chat_id", "message_id"])
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(_bot_id())
        batch_op.drop_index("ix_outbox_due")
        batch_op.drop_index("ix_outbox_chat")
        batch_op.create_index("ix_outbox_due", ["bot_id", "status", "next_try_at"], unique=False)
        batch_op.create_index("ix_outbox_chat", ["bot_id", "chat_id", "status", "id"], unique=False)
    # Failure reasons become codes; the words a user reads are the bot's.
    op.execute(
        "UPDATE jobs SET error = CASE"
        " WHEN error LIKE '%stopped the worker%' THEN 'worker_crashes'"
        " WHEN status = 'cancelled' THEN 'recipient_gone'"
        " ELSE 'pipeline' END"
        " WHERE error IS NOT NULL"
    )
    # The default only filled the rows that were there; new rows always name their bot.
    for table in ("scripts", "jobs", "feedback_prompts", "outbox"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column("bot_id", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("ix_outbox_chat")
        batch_op.drop_index("ix_outbox_due")
        batch_op.create_index("ix_outbox_due", ["status", "next_try_at"], unique=False)
        batch_op.create_index("ix_outbox_chat", ["chat_id", "id"], unique=False)
        batch_op.drop_column("bot_id")
    with op.batch_alter_table("feedback_prompts") as batch_op:
        batch_op.drop_constraint("uq_prompts_message", type_="unique")
        batch_op.create_unique_constraint("uq_prompts_message", ["chat_id", "message_id"])
        batch_op.drop_column("bot_id")
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("bot_id")
    with op.batch_alter_table("scripts") as batch_op:
        batch_op.drop_constraint("uq_scripts_origin", type_="unique")
        batch_op.create_unique_constraint("uq_scripts_origin", ["chat_id", "message_id"])
        batch_op.drop_column("bot_id")
