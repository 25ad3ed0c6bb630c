"""The tables an import fills (records, external refs, the change feed) lose their foreign key
to ``tenants``; deleting a tenant still deletes their rows, through a trigger on ``tenants``.

On PostgreSQL the key was checked by a trigger per inserted row, a quarter of the database's
work in a first import (67,000 records, 45,000 refs and 67,000 changes: 180,000 lookups of
the same tenant row, each locking it). It guarded nothing else: row-level security already
refuses a row whose ``tenant_id`` is not the transaction's tenant, and every write of records
bumps the tenant's ``change_counters`` row in the same transaction, which keeps its foreign key,
so a write for a tenant that does not exist still fails. The other foreign keys (a deal's
account, an activity's deal, ...) stay: they are the references an import checks.

SQLite: the constraint is removed from the stored table definitions (the documented
``writable_schema`` procedure for dropping a foreign key: the rows on disk do not change, so
the tables are not rebuilt; a rebuild would delete the rows of their children through the
other foreign keys' cascades).

Revision ID: 0010_import_speed
Revises: 0009_trigger_index
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0010_import_speed"
down_revision: str | None = "0009_trigger_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Children first: a tenant's rows are deleted in this order.
TABLES = (
    "changes",
    "external_refs",
    "stage_transitions",
    "activities",
    "stakeholders",
    "deals",
    "contacts",
    "accounts",
)
TRIGGER = "pie_drop_tenant_rows"


def _fk(table: str) -> str:
    return f"fk_{table}_tenant_id_tenants"


def _is_pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _is_pg():
        for table in TABLES:
            op.drop_constraint(_fk(table), table, type_="foreignkey")
        deletes = "\n".join(
            f"  DELETE FROM {table} AS t USING gone AS g WHERE t.tenant_id = g.id;"
            for table in TABLES
        )
        op.execute(
            f"""
            CREATE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
            {deletes}
              RETURN NULL;
            END $$
            """
        )
        op.execute(
            f"CREATE TRIGGER {TRIGGER} AFTER DELETE ON tenants "
            f"REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER}()"
        )
        return
    _sqlite_rewrite(_without_fk)
    deletes = "\n".join(f"  DELETE FROM {table} WHERE tenant_id = OLD.id;" for table in TABLES)
    op.execute(
        f"CREATE TRIGGER {TRIGGER} AFTER DELETE ON tenants FOR EACH ROW BEGIN\n{deletes}\nEND"
    )


def downgrade() -> None:
    if _is_pg():
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON tenants")
        op.execute(f"DROP FUNCTION IF EXISTS {TRIGGER}()")
        for table in TABLES:
            op.create_foreign_key(
                _fk(table), table, "tenants", ["tenant_id"], ["id"], ondelete="CASCADE"
            )
        return
    op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")
    _sqlite_rewrite(_with_fk)


def _without_fk(table: str, sql: str) -> str:
    pattern = (
        rf",\s*CONSTRAINT {_fk(table)} FOREIGN KEY\s*\(tenant_id\)\s*"
        r"REFERENCES tenants\s*\(id\)\s*ON DELETE CASCADE"
    )
    out, found = re.subn(pattern, "", sql)
    if found != 1:
        raise RuntimeError(f"{table}: the tenant foreign key is not where it was expected")
    return out


def _with_fk(table: str, sql: str) -> str:
    body = sql.rstrip().removesuffix(")").rstrip()
    return (
        f"{body}, \n\tCONSTRAINT {_fk(table)} FOREIGN KEY(tenant_id) "
        "REFERENCES tenants (id) ON DELETE CASCADE\n)"
    )


def _sqlite_rewrite(rewrite: Callable[[str, str], str]) -> None:
    """Edit the stored ``CREATE TABLE`` of each table (SQLite's procedure for removing or adding
    a constraint the stored rows already satisfy), then bump the schema version so every
    connection reloads the schema."""
    bind = op.get_bind()
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar_one())
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    try:
        for table in TABLES:
            sql = bind.execute(
                text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"),
                {"t": table},
            ).scalar_one()
            bind.execute(
                text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :t"),
                {"sql": rewrite(table, sql), "t": table},
            )
        bind.exec_driver_sql(f"PRAGMA schema_version={version + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema=OFF")
