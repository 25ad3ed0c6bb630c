"""Settings, read once from the environment (prefix ``PIE_``) by ``bootstrap`` and passed down.
Nothing else in PIE reads ``os.environ``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "pie"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PIE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Folder for the embedded SQLite database, reports and suggested mappings.",
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the store the application uses. Unset: SQLite at "
            "DATA_DIR/pie.db. PostgreSQL: postgresql+asyncpg://pie_app@host/pie (a role that is "
            "neither superuser nor table owner, so row-level security applies)."
        ),
    )
    admin_database_url: str | None = Field(
        default=None,
        description=(
            "URL used by `pie db upgrade` to run migrations as the tables' owner. "
            "Unset: DATABASE_URL."
        ),
    )
    app_role: str = Field(
        default="pie_app",
        description="PostgreSQL role the migrations grant table access to (the app's role).",
    )
    tenant: str | None = Field(
        default=None, description="Tenant id or name the CLI acts for (same as --tenant)."
    )
    api_host: str = Field(default="127.0.0.1", description="Address `pie serve` listens on.")
    api_port: int = Field(default=8000, description="Port `pie serve` listens on.")
    model_cache_size: int = Field(
        default=8,
        ge=0,
        le=1000,
        description=(
            "Fitted process models the server keeps in memory (one per tenant and as_of); "
            "they are also stored in the database, so a restart does not refit."
        ),
    )
    max_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Largest request body the API reads; a larger one is answered 413.",
    )
    max_concurrent_simulations: int = Field(
        default=2,
        ge=1,
        le=64,
        description=(
            "Simulations, forecasts and fits one server process runs at once, each in a worker "
            "thread off the event loop."
        ),
    )
    simulation_queue: int = Field(
        default=8,
        ge=0,
        le=1000,
        description=(
            "Simulation requests that may wait for a free slot; one more is answered 429 "
            "with Retry-After."
        ),
    )
    sqlite_busy_timeout: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description=(
            "Seconds a write to the embedded SQLite store waits for another process's write "
            "(an import) to finish before it gives up."
        ),
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description=(
            "Key that encrypts stored source credentials (a long random string; several, "
            "comma-separated, to rotate: the first encrypts, all decrypt). Unset: a key file "
            "DATA_DIR/secret.key, made on first use and readable only by its owner. Set it "
            "whenever several machines (API servers, workers) share one PostgreSQL store."
        ),
    )

    notion_base_url: str | None = Field(
        default=None,
        description=(
            "Notion API base URL (the emulator's, e.g. http://127.0.0.1:8787). Unset: the one "
            "stored by `pie notion setup`, else https://api.notion.com."
        ),
    )
    notion_token: SecretStr | None = Field(
        default=None,
        description=(
            "Notion integration token `pie notion setup` / `check` store (encrypted); unset: "
            "they prompt for it, or use the stored one."
        ),
    )

    @property
    def secret_key_file(self) -> Path:
        return self.data_dir / "secret.key"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "pie.db"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.sqlite_path}"

    @property
    def effective_admin_database_url(self) -> str:
        return self.admin_database_url or self.effective_database_url
