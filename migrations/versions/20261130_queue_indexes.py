"""case queue and survey results indexes

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 01:10:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('answer', schema=None) as batch_op:
        batch_op.create_index(
            'ix_answer_tally',
            ['response_id', 'question_key', 'skipped', 'choice', 'number', 'answered_at'],
            unique=False,
        )
    with op.batch_alter_table('response', schema=None) as batch_op:
        batch_op.create_index(
            'ix_response_results',
            ['survey_id', 'status', 'period', 'unit_id', 'channel'],
            unique=False,
        )
    with op.batch_alter_table('follow_up_case', schema=None) as batch_op:
        batch_op.create_index('ix_follow_up_case_queue', ['rectify_due', 'id'], unique=False)
        batch_op.create_index(
            'ix_follow_up_case_unit_queue', ['unit_id', 'rectify_due', 'id'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('follow_up_case', schema=None) as batch_op:
        batch_op.drop_index('ix_follow_up_case_unit_queue')
        batch_op.drop_index('ix_follow_up_case_queue')
    with op.batch_alter_table('response', schema=None) as batch_op:
        batch_op.drop_index('ix_response_results')
    with op.batch_alter_table('answer', schema=None) as batch_op:
        batch_op.drop_index('ix_answer_tally')
