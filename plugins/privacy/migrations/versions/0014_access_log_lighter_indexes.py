"""the access log's indexes for its writes: no unique index on `hash`, and the people's index
narrowed by reader and time

A first read of a page writes some 200 entries; each entry went into four indexes, and the unique
one on `hash` (random 64-character text) cost as much as the three others together: half the
INSERT's time on PostgreSQL, and on SQLite half the pages a commit writes. Nothing looks an entry
up by its hash, and the chain (`verify`) is what makes an entry's hash unforgeable, not the index.

The index on `contact_id` becomes (`contact_id`, `user_id`, `at`): a first read asks which of its
people this reader has read today, and by person alone that lookup read every entry ever written
about them, by anyone, growing with the log's age. "Who read this person" still uses it.

Revision ID: privacy_0014_access_log_indexes
Revises: privacy_0013_access_log_by_user
Create Date: 2026-12-07 01:05:00
"""

from alembic import op

revision = "privacy_0014_access_log_indexes"
down_revision = "privacy_0013_access_log_by_user"
branch_labels = None
depends_on = None

COLUMNS = "seq, at, user_id, roles, contact_id, action, purpose, prev_hash, hash"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("uq_privacy_access_log_hash", "privacy_access_log", type_="unique")
        op.drop_index("ix_privacy_access_log_contact_id", table_name="privacy_access_log")
    else:
        _rebuild_sqlite_table_without_unique_hash()
    op.create_index("ix_privacy_access_log_contact_user_at", "privacy_access_log", ["contact_id", "user_id", "at"])


def _rebuild_sqlite_table_without_unique_hash() -> None:
    """SQLite cannot drop a table's constraint: the table is copied into one without it (by hand,
    not Alembic's batch mode, which would drop the triggers keeping it append-only). DROP TABLE's
    implicit delete fires no trigger; the table's indexes and triggers go with it, and the copy
    gets the triggers and the index by user again (the one by person is replaced below)."""
    op.execute(
        """CREATE TABLE privacy_access_log_copy (
               seq INTEGER NOT NULL, at DATETIME NOT NULL, user_id CHAR(32), roles VARCHAR(200) NOT NULL,
               contact_id CHAR(32) NOT NULL, action VARCHAR(60) NOT NULL, purpose VARCHAR(200) NOT NULL,
               prev_hash VARCHAR(64) NOT NULL, hash VARCHAR(64) NOT NULL,
               CONSTRAINT pk_privacy_access_log PRIMARY KEY (seq))"""
    )
    op.execute(f"INSERT INTO privacy_access_log_copy ({COLUMNS}) SELECT {COLUMNS} FROM privacy_access_log")
    op.execute("DROP TABLE privacy_access_log")
    op.execute("ALTER TABLE privacy_access_log_copy RENAME TO privacy_access_log")
    op.create_index("ix_privacy_access_log_user_seq", "privacy_access_log", ["user_id", "seq"])
    for action in ("UPDATE", "DELETE"):
        op.execute(f"""CREATE TRIGGER privacy_access_log_no_{action.lower()} BEFORE {action} ON privacy_access_log
                       BEGIN SELECT RAISE(ABORT, 'privacy_access_log is append-only'); END""")


def downgrade() -> None:
    op.drop_index("ix_privacy_access_log_contact_user_at", table_name="privacy_access_log")
    op.create_index("ix_privacy_access_log_contact_id", "privacy_access_log", ["contact_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_unique_constraint("uq_privacy_access_log_hash", "privacy_access_log", ["hash"])
    else:  # the same uniqueness, as an index (a constraint would mean copying the table again)
        op.create_index("uq_privacy_access_log_hash", "privacy_access_log", ["hash"], unique=True)
