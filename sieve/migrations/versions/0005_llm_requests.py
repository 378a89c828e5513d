"""llm_requests: the ledger of every HTTP request sent to the LLM

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "llm_requests",
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.String(length=256), nullable=True),
        sa.Column("prompt_version", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_llm_requests")),
    )
    op.create_index(
        op.f("ix_llm_requests_started_at"), "llm_requests", ["started_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_llm_requests_started_at"), table_name="llm_requests")
    op.drop_table("llm_requests")
