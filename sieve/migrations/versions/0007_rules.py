"""predictions indexed by (model_version, created_at): drift windows (/stats) read a
version's first and latest decisions

Revision ID: 0009
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEX = "ix_predictions_model_version_created_at"


def upgrade() -> None:
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.create_index(INDEX, ["model_version", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index(INDEX)
