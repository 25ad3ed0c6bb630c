"""Accounts and contacts of the sample world, drawn as arrays and written one by one.

Only the compact ``Directory`` arrays (a few bytes per account and contact) stay in memory;
names, domains and emails are rebuilt from them when a deal needs them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from pie.sample import vocab
from pie.sample.ground_truth import GroundTruth
from pie.sample.writer import PieJsonWriter

_N_NAMES = len(vocab.NAME_PREFIXES) * len(vocab.NAME_ROOTS) * len(vocab.NAME_SUFFIXES)
_NAME_STEP = 7_919  # a prime that does not divide _N_NAMES: i -> i * step is a permutation


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _weights(rows: tuple[tuple[object, ...], ...]) -> NDArray[np.float64]:
    w = np.array([float(r[1]) for r in rows])  # type: ignore[arg-type]
    out: NDArray[np.float64] = w / w.sum()
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Directory:
    gt: GroundTruth
    industry: NDArray[np.int8]  # per account, into vocab.INDUSTRIES
    country: NDArray[np.int8]
    employees: NDArray[np.int64]
    owner: NDArray[np.int16]  # into vocab.OWNERS
    created_days: NDArray[np.float64]  # days before as_of
    contact_start: NDArray[np.int64]  # contacts of account a: start[a] .. start[a] + count[a]
    contact_count: NDArray[np.int64]
    first: NDArray[np.int16]  # per contact
    last: NDArray[np.int16]
    title: NDArray[np.int8]  # into vocab.TITLES

    @property
    def n_accounts(self) -> int:
        return len(self.industry)

    @property
    def n_contacts(self) -> int:
        return len(self.first)

    def icp_match(self, a: int) -> bool:
        return vocab.INDUSTRIES[self.industry[a]][0] in self.gt.icp_industries

    def account_name(self, a: int) -> str:
        return " ".join(self._name_parts(a)[:2]) + self._name_number(a)

    def domain(self, a: int) -> str:
        head, suffix = self._name_parts(a)
        tld = vocab.COUNTRIES[self.country[a]][3]
        return f"{head}{suffix}{self._name_number(a).strip()}".lower() + "." + tld

    def _name_parts(self, a: int) -> tuple[str, str]:
        code = (a * _NAME_STEP) % _N_NAMES
        n_roots, n_suffixes = len(vocab.NAME_ROOTS), len(vocab.NAME_SUFFIXES)
        prefix = vocab.NAME_PREFIXES[code // (n_roots * n_suffixes)]
        root = vocab.NAME_ROOTS[(code // n_suffixes) % n_roots]
        return prefix + root, vocab.NAME_SUFFIXES[code % n_suffixes]

    def _name_number(self, a: int) -> str:
        k = a // _N_NAMES
        return f" {k + 1}" if k else ""

    def contact_name(self, c: int) -> str:
        return f"{vocab.FIRST_NAMES[self.first[c]]} {vocab.LAST_NAMES[self.last[c]]}"

    def contact_title(self, c: int) -> str:
        return vocab.TITLES[self.title[c]][0]

    def contact_email(self, c: int, a: int) -> str:
        local = f"{vocab.FIRST_NAMES[self.first[c]]}.{vocab.LAST_NAMES[self.last[c]]}"
        return local.lower().replace("'", "") + "@" + self.domain(a)


def account_id(a: int) -> str:
    return f"A{a + 1:06d}"


def contact_id(c: int) -> str:
    return f"C{c + 1:07d}"


def build_directory(gt: GroundTruth, deals: int, rng: np.random.Generator) -> Directory:
    n = max(10, math.ceil(deals / gt.deals_per_account))
    industry = rng.choice(len(vocab.INDUSTRIES), n, p=_weights(vocab.INDUSTRIES)).astype(np.int8)
    country = rng.choice(len(vocab.COUNTRIES), n, p=_weights(vocab.COUNTRIES)).astype(np.int8)
    employees = np.clip(np.round(rng.lognormal(math.log(400), 1.5, n)), 5, 250_000)
    n_owners = min(len(vocab.OWNERS), max(6, deals // 400))
    counts = rng.integers(3, 9, n)
    start = np.concatenate(([0], np.cumsum(counts)[:-1]))
    m = int(counts.sum())
    slot = np.arange(m) - np.repeat(start, counts)
    title = np.empty(m, np.int8)
    for k, pool in enumerate(vocab.TITLE_POOLS):
        mask = (slot == k) if k < 3 else (slot >= 3)
        title[mask] = rng.integers(pool.start, pool.stop, int(mask.sum()))
    return Directory(
        gt=gt,
        industry=industry,
        country=country,
        employees=employees.astype(np.int64),
        owner=rng.integers(0, n_owners, n).astype(np.int16),
        created_days=gt.history_days + rng.random(n) * 365.0,
        contact_start=start.astype(np.int64),
        contact_count=counts.astype(np.int64),
        first=rng.integers(0, len(vocab.FIRST_NAMES), m).astype(np.int16),
        last=rng.integers(0, len(vocab.LAST_NAMES), m).astype(np.int16),
        title=title,
    )


def write_accounts(d: Directory, w: PieJsonWriter, rng: np.random.Generator) -> None:
    revenue_noise = rng.lognormal(0.0, 0.4, d.n_accounts).tolist()
    phones = rng.integers(2_000_000, 9_999_999, d.n_contacts).tolist()
    as_of = d.gt.as_of
    w.begin("accounts")
    for a in range(d.n_accounts):
        industry, _, per_employee = vocab.INDUSTRIES[d.industry[a]]
        employees = int(d.employees[a])
        created = iso(as_of - timedelta(days=float(d.created_days[a])))
        w.write(
            {
                "id": account_id(a),
                "name": d.account_name(a),
                "domain": d.domain(a),
                "industry": industry,
                "country": vocab.COUNTRIES[d.country[a]][0],
                "owner": vocab.OWNERS[d.owner[a]],
                "employees": employees,
                "annual_revenue": int(round(employees * per_employee * revenue_noise[a], -3)),
                "created_at": created,
                "updated_at": created,
            }
        )
    w.begin("contacts")
    for a in range(d.n_accounts):
        created = iso(as_of - timedelta(days=float(d.created_days[a]) - 1.0))
        prefix = vocab.COUNTRIES[d.country[a]][2]
        for c in range(int(d.contact_start[a]), int(d.contact_start[a] + d.contact_count[a])):
            title, department = vocab.TITLES[d.title[c]]
            p = phones[c]
            w.write(
                {
                    "id": contact_id(c),
                    "account": account_id(a),
                    "name": d.contact_name(c),
                    "title": title,
                    "email": d.contact_email(c, a),
                    "phone": f"{prefix} {p // 10_000 % 1000:03d} {p % 10_000:04d}",
                    "department": department,
                    "created_at": created,
                    "updated_at": created,
                }
            )
