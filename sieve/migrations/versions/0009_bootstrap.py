"""synthetic_examples (the synthetic bootstrap's generated training examples)

Revision ID: 0010
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "synthetic_examples",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("prompt_version", sa.String(length=64), nullable=False),
        sa.Column("llm_model", sa.String(length=128), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_synthetic_examples")),
    )
    with op.batch_alter_table("synthetic_examples", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_synthetic_examples_label"), ["label"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("synthetic_examples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_synthetic_examples_label"))
    op.drop_table("synthetic_examples")
