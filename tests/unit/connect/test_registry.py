"""The registry finds every vendor package; one that cannot be imported leaves the others
usable and is named when asked for."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pie.domain.errors import InvalidInput
from pie.sources import registry
from tests.fakes.connector import FakeConnector, FakeEmulator


def test_a_broken_vendor_package_does_not_hide_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pie.sources

    extra = tmp_path / "pie_sources_extra"
    (extra / "brokenvendor").mkdir(parents=True)
    (extra / "brokenvendor" / "__init__.py").write_text("import no_such_sdk_for_pie\n")
    (extra / "goodvendor").mkdir()
    (extra / "goodvendor" / "__init__.py").write_text(
        "from pie.sources import registry\n"
        "from tests.fakes.connector import FakeConnector\n"
        "class Good(FakeConnector):\n"
        "    vendor = 'goodvendor'\n"
        "registry.register(Good())\n"
    )
    monkeypatch.setattr(pie.sources, "__path__", [*pie.sources.__path__, str(extra)])
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "_BROKEN", {})
    try:
        assert "goodvendor" in registry.connectors()
        with pytest.raises(InvalidInput, match="brokenvendor connector could not be loaded"):
            registry.connector("brokenvendor")
        with pytest.raises(InvalidInput, match="no connector for 'nosuch'"):
            registry.connector("nosuch")
    finally:
        registry.unregister("goodvendor")
        for name in ("pie.sources.goodvendor", "pie.sources.brokenvendor"):
            sys.modules.pop(name, None)


def test_register_and_unregister() -> None:
    registry.register(FakeConnector())
    registry.register_emulator(FakeEmulator())
    try:
        assert isinstance(registry.connector("fakecrm"), FakeConnector)
        assert registry.emulator("fakecrm").title == "Fake CRM"
        flow = registry.auth_flow(registry.connector("fakecrm"), None)
        assert flow.name == "api-token" and [f.option for f in flow.secret_fields()] == [
            "--api-token"
        ]
        with pytest.raises(InvalidInput, match="no auth flow 'magic'"):
            registry.auth_flow(registry.connector("fakecrm"), "magic")
    finally:
        registry.unregister("fakecrm")
    with pytest.raises(InvalidInput):
        registry.connector("fakecrm")
