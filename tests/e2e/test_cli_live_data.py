"""`pie changes` and `pie policy` on a real database."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from tests.e2e.test_cli import pie, sample, url

__all__ = ["sample", "url"]


def _tenant(url: str) -> str:
    name = f"live-{uuid.uuid4().hex[:8]}"
    assert pie("--db", url, "tenant", "create", name).exit_code == 0
    return name


def _all_changes(url: str, name: str, **opts: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    since = "0"
    while True:
        extra = [a for k, v in opts.items() for a in (f"--{k}", v)]
        got = pie(
            "--db",
            url,
            "--tenant",
            name,
            "changes",
            "--since",
            since,
            "--limit",
            "1000",
            "--json",
            *extra,
        )
        assert got.exit_code == 0, got.output
        page = json.loads(got.stdout)
        out += page["changes"]
        if not page["more"]:
            return out
        since = str(page["next_since"])


def test_changes_show_exactly_what_an_import_did(url: str, sample: Path) -> None:
    name = _tenant(url)
    # the import's own changes (the pipeline on its conversations writes as ``pie`` after it)
    first = pie("--db", url, "--tenant", name, "import", sample, "--json", "--no-conversations")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    created = sum(c["created"] for c in report["counts"].values())
    changes = _all_changes(url, name)
    assert len(changes) == created
    assert {c["op"] for c in changes} == {"create"}
    assert [c["seq"] for c in changes] == list(range(1, created + 1))
    deals = _all_changes(url, name, entity="deal")
    assert len(deals) == report["counts"]["deal"]["created"]
    assert all(c["entity"] == "deal" and c["version"] == 1 for c in deals)

    again = pie("--db", url, "--tenant", name, "import", sample, "--json", "--no-conversations")
    assert again.exit_code == 0, again.output
    assert len(_all_changes(url, name)) == created  # an unchanged re-import adds nothing

    table = pie("--db", url, "--tenant", name, "changes", "--limit", "3")
    assert table.exit_code == 0, table.output
    assert "next: --since 3" in table.stdout
    bad = pie("--db", url, "--tenant", name, "changes", "--entity", "dael")
    assert bad.exit_code == 1 and "unknown entity 'dael'" in bad.output


def test_policy_set_and_show(url: str, tmp_path: Path) -> None:
    name = _tenant(url)
    shown = pie("--db", url, "--tenant", name, "policy", "show")
    assert shown.exit_code == 0 and "human > any source > pie" in shown.stdout
    file = tmp_path / "policy.toml"
    file.write_text('"deal.stage" = ["salesforce", "human", "pie"]\n')
    done = pie("--db", url, "--tenant", name, "policy", "set", file, "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"orders": {"deal.stage": ["salesforce", "human", "pie"]}}
    file.write_text('"deals.stage" = ["human"]\n')
    bad = pie("--db", url, "--tenant", name, "policy", "set", file)
    assert bad.exit_code == 1 and "deals.stage" in bad.output
    shown = pie("--db", url, "--tenant", name, "policy", "show")
    assert "deal.stage: salesforce > human > pie" in shown.stdout
