"""Money in conversation text: "$120k", "USD 50,000", "€1.2M", "between $40k and $60k a year",
"half a million dollars".

A cheap precompiled regex finds candidate spans; ``price-parser`` reads each span's number and
currency (it knows thousand and decimal separators in their regional forms: "1.200,50 €",
"$1,200.50"); this module adds what price-parser leaves out (k/M/bn multipliers, number words,
ranges and "per year").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from price_parser.parser import Price

from pie.intelligence.lexicon import lower, rx

_CUR = r"(?:US\$|USD|EUR|GBP|CAD|AUD|[$€£])"
_NUM = r"\d{1,3}(?:[,.\u00a0 ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d+)?"
_MULT = r"(?:\s?(?:k|K|m|M|mm|MM|bn|BN|million|thousand|billion|grand)\b)"
_WORDS = (
    r"(?:half\s+a|a|one|two|three|four|five|six|seven|eight|nine|ten|fifteen|twenty|"
    r"twenty[- ]five|thirty|forty|fifty|sixty|seventy|eighty|ninety|a\s+hundred|"
    r"one\s+hundred|two\s+hundred|three\s+hundred|five\s+hundred|a\s+couple\s+hundred)"
)
_AMOUNT = (
    rf"(?:{_CUR}\s?(?:{_NUM}){_MULT}?"
    rf"|(?:{_NUM}){_MULT}?\s?(?:[$€£]|(?:US\$|USD|EUR|GBP|CAD|AUD|dollars|euros?|pounds|bucks)\b)"
    rf"|(?:{_NUM})\s?(?:k|K|grand|thousand|million|mm|bn)\b"
    rf"|{_WORDS}\s+(?:thousand|million|grand)(?:\s+(?:dollars|euros?|pounds))?)"
)
_SECOND = rf"(?:{_CUR}\s?)?(?:{_NUM}){_MULT}?(?:\s?(?:{_CUR}|dollars|euros?))?"
_PERIOD = (
    r"(?:\s?(?:/|per|a|an|each)\s?(?P<period>year|yr|annum|month|mo|quarter|seat|user|"
    r"license|head)\b|\s(?P<period2>annually|yearly|monthly|ARR|MRR|p\.a\.))"
)
MONEY = rx(
    rf"(?<![\w.])(?:between\s+)?(?P<lo>{_AMOUNT})"
    rf"(?:\s?(?:-|–|—|to|and)\s?(?P<hi>{_SECOND}))?{_PERIOD}?"
)
_MULTIPLIERS = {
    "k": 1_000,
    "thousand": 1_000,
    "grand": 1_000,
    "m": 1_000_000,
    "mm": 1_000_000,
    "million": 1_000_000,
    "bn": 1_000_000_000,
    "billion": 1_000_000_000,
}
_WORD_VALUES = {
    "half a": 0.5,
    "a": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "fifteen": 15,
    "twenty": 20,
    "twenty-five": 25,
    "twenty five": 25,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "a hundred": 100,
    "one hundred": 100,
    "two hundred": 200,
    "three hundred": 300,
    "five hundred": 500,
    "a couple hundred": 200,
}
_CURRENCIES = {
    "$": "USD",
    "us$": "USD",
    "usd": "USD",
    "dollars": "USD",
    "bucks": "USD",
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "pounds": "GBP",
    "cad": "CAD",
    "aud": "AUD",
}
_MULT_AT_END = re.compile(r"(k|m|mm|bn|million|thousand|billion|grand)\s*$", re.I)


@dataclass(frozen=True, slots=True)
class Money:
    start: int
    end: int
    amount: Decimal  # the low end of a range
    high: Decimal | None  # the high end of a range
    currency: str | None  # ISO code when the text names one
    period: str | None  # year, month, seat, ...

    def describe(self) -> str:
        sym = {"USD": "$", "EUR": "€", "GBP": "£"}.get(self.currency or "", "")
        code = "" if sym or not self.currency else f" {self.currency}"

        def fmt(v: Decimal) -> str:
            return f"{sym}{v:,.0f}{code}"

        out = fmt(self.amount) + (f"–{fmt(self.high)}" if self.high is not None else "")
        return out + (f" per {self.period}" if self.period else "")


def _value(text: str) -> tuple[Decimal, str | None] | None:
    """The amount and currency of one amount's text (no range, no period)."""
    t = text.strip()
    low = t.casefold()
    for words, v in sorted(_WORD_VALUES.items(), key=lambda kv: -len(kv[0])):
        if low.startswith(words + " ") and re.match(
            r"(thousand|million|grand)", low[len(words) + 1 :]
        ):
            rest = low[len(words) + 1 :]
            mult = _MULTIPLIERS[rest.split()[0]]
            cur = next((c for k, c in _CURRENCIES.items() if k in rest.split()[1:]), None)
            return Decimal(str(v)) * mult, cur
    mult = 1
    m = _MULT_AT_END.search(
        re.sub(rf"\s?(?:{_CUR}|dollars|euros?|pounds|bucks)\s*$", "", t, flags=re.I)
    )
    if m:
        mult = _MULTIPLIERS[m.group(1).casefold()]
    price = Price.fromstring(t)
    if price.amount is None:
        return None
    cur_text = (price.currency or "").casefold()
    if not cur_text:
        cur_text = next((w for w in re.findall(r"[a-z]+", low) if w in _CURRENCIES), "")
    try:
        amount = Decimal(price.amount) * mult
    except InvalidOperation:
        return None
    return amount, _CURRENCIES.get(cur_text)


def find_money(text: str, start: int = 0, end: int | None = None) -> list[Money]:
    """Every amount of money in ``text[start:end]``, spans relative to ``text``."""
    out: list[Money] = []
    stop = len(text) if end is None else end
    low = lower(text[start:stop])

    def group(m: re.Match[str], name: str) -> str | None:
        if m.group(name) is None:
            return None
        return text[start + m.start(name) : start + m.end(name)]

    for m in MONEY.finditer(low):
        lo_text = group(m, "lo")
        lo = _value(lo_text) if lo_text else None
        if lo is None or lo[0] <= 0:
            continue
        amount, currency = lo
        high: Decimal | None = None
        hi_text = group(m, "hi")
        if hi_text:
            hi = _value(hi_text)
            if hi is not None:
                high = hi[0]
                currency = currency or hi[1]
                # "$40-60k": the multiplier written once applies to both ends
                if high > amount * 100 and amount < 1000:
                    amount *= high / _bare(hi_text)
                if high < amount:
                    high = None
        period = m.group("period") or m.group("period2")
        if period:
            period = {
                "yr": "year",
                "annum": "year",
                "annually": "year",
                "yearly": "year",
                "arr": "year",
                "p.a.": "year",
                "mo": "month",
                "monthly": "month",
                "mrr": "month",
                "license": "seat",
                "user": "seat",
                "head": "seat",
            }.get(period.casefold(), period.casefold())
        out.append(
            Money(
                start=start + m.start(),
                end=start + m.end(),
                amount=amount,
                high=high,
                currency=currency,
                period=period,
            )
        )
    return out


def _bare(text: str) -> Decimal:
    v = _value(re.sub(r"(?i)\s?(k|m|mm|bn|million|thousand|billion|grand)\b", "", text))
    return v[0] if v and v[0] > 0 else Decimal(1)
