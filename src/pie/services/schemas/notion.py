"""`pie notion setup` / `pie notion check` as JSON. No shape here has a field for the token."""

from __future__ import annotations

from pydantic import BaseModel, Field


class NotionDatabaseRead(BaseModel):
    kind: str = Field(description="deal or contact")
    database_id: str
    data_source_id: str | None = Field(
        None, description="The database's data source PIE reads and writes (resolved once)"
    )
    problems: list[str] = Field(
        default_factory=list, description="Every missing or mistyped property, one line each"
    )


class NotionSetupRead(BaseModel):
    connection: str = Field(description="The connection's name (where the ids are stored)")
    base_url: str = Field(description="The Notion API PIE talks to")
    databases: list[NotionDatabaseRead]
    ok: bool = Field(description="Whether every database has PIE's schema")
