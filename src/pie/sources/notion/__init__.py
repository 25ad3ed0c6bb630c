"""Notion: the emulator PIE's Notion adapter (pie.adapters.notion) is tested against, also
registered for `pie emulate notion`. Notion is a CRM PIE syncs with (`pie notion setup`,
`pie sync`), not an import source, so no connector is registered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pie.sources import registry

if TYPE_CHECKING:
    from pie.sources.notion.emulator import NotionEmulator

DEMO_TOKEN = "secret_pie_emulator"
DEMO_PAGE_ID = "5e7a0000-0000-4000-8000-00000000d3e0"


@dataclass(frozen=True)
class _Running:
    emulator: NotionEmulator

    @property
    def base_url(self) -> str:
        return self.emulator.url

    def stop(self) -> None:
        self.emulator.stop()


class NotionEmulatorPlugin:
    vendor = "notion"
    title = "Notion (API 2025-09-03; a CRM PIE syncs both ways)"

    def serve(self, host: str, port: int, options: registry.EmulatorOptions) -> _Running:
        from pie.sources.notion.emulator import NotionEmulator

        budget = int(options.extra.get("budget", "180"))
        emu = NotionEmulator(
            host=host,
            port=port,
            tokens={options.extra.get("token", DEMO_TOKEN): "5e1f5b1a-7d2c-4c1e-9f4e-0c0ffee0b075"},
            budget=(budget, 60.0) if budget > 0 else None,
            root_page_id=options.extra.get("parent_page", DEMO_PAGE_ID),
        )
        return _Running(emu.start())

    def connect_hint(self, base_url: str) -> str:
        return (
            f"PIE_NOTION_BASE_URL={base_url} PIE_NOTION_TOKEN={DEMO_TOKEN} "
            f"pie notion setup --parent {DEMO_PAGE_ID}"
        )


registry.register_emulator(NotionEmulatorPlugin())
