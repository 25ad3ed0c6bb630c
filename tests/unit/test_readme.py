"""The README's configuration table names every setting PIE reads."""

from pathlib import Path

from pie.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_documents_every_environment_variable() -> None:
    text = README.read_text()
    missing = [
        f"PIE_{name.upper()}"
        for name in Settings.model_fields
        if f"`PIE_{name.upper()}`" not in text
    ]
    assert missing == []


def test_readme_quick_start_is_two_commands() -> None:
    text = README.read_text()
    assert "make demo" in text
    assert "make test" in text
