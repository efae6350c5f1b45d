"""page indexes: counted ratings by unit, period, level, 事项, window and by unit, level, time;
cases by unit and state; the 已反馈 event of a case

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 00:40:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.create_index(
            'ix_rating_counted',
            ['unit_id', 'period', 'level', 'item_code', 'window_code', 'active', 'is_default',
             'excluded'],
            unique=False,
        )
        batch_op.create_index(
            'ix_rating_unit_level_time',
            ['unit_id', 'level', 'active', 'is_default', 'excluded', 'rated_at'],
            unique=False,
        )
    with op.batch_alter_table('follow_up_case', schema=None) as batch_op:
        batch_op.create_index('ix_follow_up_case_unit_state', ['unit_id', 'state'], unique=False)
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.create_index(
            'ix_case_event_case_to_state_at', ['case_id', 'to_state', 'at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.drop_index('ix_case_event_case_to_state_at')
    with op.batch_alter_table('follow_up_case', schema=None) as batch_op:
        batch_op.drop_index('ix_follow_up_case_unit_state')
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.drop_index('ix_rating_unit_level_time')
        batch_op.drop_index('ix_rating_counted')
