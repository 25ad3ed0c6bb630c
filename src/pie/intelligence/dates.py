"""Dates and timeframes in conversation text, anchored at the conversation's date: "by Q3",
"end of FY27", "in six weeks", "next month", "before March", "mid-April", "by Friday".

dateparser is accurate but costs milliseconds a call, so a precompiled regex first finds
candidate spans; quarters, fiscal years and "end of the quarter/year" (which dateparser does
not read) are computed here; every other span goes to dateparser with the conversation's date
as ``RELATIVE_BASE``, through a cache (calls repeat a lot across a history).
"""

from __future__ import annotations

import calendar
import re
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from pie.intelligence.lexicon import lower, rx

_MONTHS = (
    r"January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec"
)
_DAYS = r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_NUMWORD = (
    r"\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a few|a couple of"
)
_MOD = r"(?:(?:the\s+)?(?:early|mid|late|end\s+of|beginning\s+of|start\s+of)[\s-]+)?"
TIMEFRAME = rx(
    r"\b(?:"
    r"(?P<q>Q(?P<qn>[1-4])|(?P<qw>first|second|third|fourth|1st|2nd|3rd|4th|last|next|this)\s+quarter)"
    r"(?:\s*(?:of\s+)?(?:FY\s?|fiscal\s+(?:year\s+)?)?'?(?P<qy>(?:20)?\d{2})\b(?!:))?"
    r"|(?P<fy>FY\s?'?(?P<fyy>(?:20)?\d{2})\b|(?:the\s+)?(?:next|this)\s+fiscal\s+year|"
    r"(?:the\s+)?fiscal\s+year[- ]end)"
    r"|(?P<eo>(?:the\s+)?(?:end|close)\s+of\s+(?:the\s+)?(?P<eow>quarter|year|month)|EOQ|EOY|"
    r"year[- ]end|quarter[- ]end|month[- ]end)"
    r"|(?P<rel>(?:in|within|inside\s+of)\s+(?:the\s+next\s+)?(?:" + _NUMWORD + r")\s+"
    r"(?:days?|weeks?|months?|years?)"
    r"|(?:next|this|coming)\s+(?:week|month|year|" + _DAYS + r")"
    r"|tomorrow|end\s+of\s+(?:the\s+)?week|this\s+week)"
    r"|(?P<mon>" + _MOD + r"(?:" + _MONTHS + r")\.?(?:\s+\d{1,2}(?:st|nd|rd|th)?)?"
    r"(?:,?\s+(?:20\d{2}))?)"
    r"|(?P<dd>\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:" + _MONTHS + r")(?:,?\s+20\d{2})?)"
    r"|(?P<day>(?:on|by|before|until|this|next)\s+(?:" + _DAYS + r"))"
    r"|(?P<iso>20\d{2}-\d{2}-\d{2})"
    r"|(?P<yr>(?:in|by|before|during)\s+20\d{2})"
    r"|(?P<season>(?:this|next|the|by|before|in|until|over)\s+(?:the\s+)?(?:coming\s+)?"
    r"(?:spring|summer|autumn|fall|winter))"
    r")\b"
)
# "May" the verb and "March" the verb are excluded unless they look like dates.
_VERB_MONTH = re.compile(r"^(may|march)$", re.I)
_WORDNUM = {
    "a": 1,
    "an": 1,
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
    "eleven": 11,
    "twelve": 12,
    "a few": 3,
    "a couple of": 2,
}
_QWORD = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}


@dataclass(frozen=True, slots=True)
class Timeframe:
    start: int
    end: int
    due: date  # the latest day the timeframe means ("by Q3" -> the last day of Q3)
    text: str
    specificity: int = 1  # 3 a day, 2 a month, 1 a quarter or relative span, 0 a year


def _quarter_end(year: int, q: int, fy_start_month: int) -> date:
    # fiscal quarter q of fiscal year `year` (named by the calendar year it ends in)
    first_month = fy_start_month + 3 * (q - 1)
    y = year - (1 if fy_start_month != 1 else 0)
    y += (first_month - 1) // 12
    m = (first_month - 1) % 12 + 1
    last_m = (m + 1) % 12 + 1
    last_y = y + (1 if m + 2 > 12 else 0)
    return date(last_y, last_m, calendar.monthrange(last_y, last_m)[1])


def _current_quarter(anchor: date, fy_start_month: int) -> tuple[int, int]:
    """(fiscal year, quarter) containing ``anchor``."""
    months_in = (anchor.month - fy_start_month) % 12
    q = months_in // 3 + 1
    fy = anchor.year + (1 if fy_start_month != 1 and anchor.month >= fy_start_month else 0)
    return fy, q


def _fy_end(fy: int, fy_start_month: int) -> date:
    if fy_start_month == 1:
        return date(fy, 12, 31)
    m = fy_start_month - 1
    return date(fy, m, calendar.monthrange(fy, m)[1])


def _year(text: str | None, anchor: date) -> int | None:
    if not text:
        return None
    y = int(text)
    return y + 2000 if y < 100 else y


@lru_cache(maxsize=4096)
def _dateparser(span: str, anchor: date) -> date | None:
    import dateparser  # imported lazily: loading its data costs ~0.5 s

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = dateparser.parse(
            span,
            languages=["en"],
            settings={
                "RELATIVE_BASE": datetime(anchor.year, anchor.month, anchor.day),
                "PREFER_DATES_FROM": "future",
                "PREFER_DAY_OF_MONTH": "first",
                "REQUIRE_PARTS": [],
            },
        )
    return got.date() if got is not None else None


def _month_span(span: str, anchor: date) -> date | None:
    s = span.strip()
    mod = ""
    m = re.match(r"(?i)(?:the\s+)?(early|mid|late|end\s+of|beginning\s+of|start\s+of)[\s-]+", s)
    if m:
        mod = m.group(1).casefold()
        s = s[m.end() :]
    has_day = bool(re.search(r"\d{1,2}(?:st|nd|rd|th)?(?!\d)", re.sub(r"20\d{2}", "", s)))
    got = _dateparser(s, anchor)
    if got is None:
        return None
    if not re.search(r"20\d{2}", s) and got < anchor - timedelta(days=20):
        got = got.replace(year=got.year + 1)
    if has_day:
        return got
    last = calendar.monthrange(got.year, got.month)[1]
    day = {"early": 10, "mid": 15, "beginning of": 10, "start of": 10}.get(mod, last)
    return got.replace(day=day)


_MONTH_PREPS = frozenset(
    {
        "in",
        "by",
        "before",
        "until",
        "till",
        "of",
        "since",
        "through",
        "from",
        "early",
        "late",
        "mid",
        "end",
        "around",
        "for",
    }
)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _weekday(span: str, anchor: date) -> date | None:
    """ "by Friday", "next Tuesday": the next such day after ``anchor`` (a week later for
    "next" when that day is in the anchor's week)."""
    day = next((i for i, d in enumerate(_WEEKDAYS) if d in span), None)
    if day is None:
        return None
    ahead = (day - anchor.weekday()) % 7 or 7
    if span.startswith("next") and anchor.weekday() < day:
        ahead += 7
    return anchor + timedelta(days=ahead)


_SEASON_END = {
    "spring": (5, 31),
    "summer": (8, 31),
    "autumn": (11, 30),
    "fall": (11, 30),
    "winter": (2, 28),
}


def _season(span: str, anchor: date) -> date:
    name = next(k for k in _SEASON_END if k in span)
    month, day = _SEASON_END[name]
    due = date(anchor.year + (1 if name == "winter" else 0), month, day)
    if due < anchor or "next" in span.split():
        due = due.replace(year=due.year + 1)
    return due


def find_timeframes(
    text: str, anchor: date, *, start: int = 0, end: int | None = None, fy_start_month: int = 1
) -> list[Timeframe]:
    """Every date or timeframe in ``text[start:end]`` with the last day it stands for."""
    out: list[Timeframe] = []
    stop = len(text) if end is None else end
    low = lower(text[start:stop])
    for m in TIMEFRAME.finditer(low):
        span = text[start + m.start() : start + m.end()]
        due: date | None = None
        if m.group("q"):
            fy, cur_q = _current_quarter(anchor, fy_start_month)
            word = (m.group("qw") or "").casefold()
            if m.group("qn") or word in _QWORD:
                q = int(m.group("qn")) if m.group("qn") else _QWORD[word]
                year = _year(m.group("qy"), anchor)
                if year is None:
                    year = fy if q >= cur_q else fy + 1
                due = _quarter_end(year, q, fy_start_month)
            else:
                step = {"this": 0, "next": 1, "last": -1}[word]
                q0 = cur_q - 1 + step
                due = _quarter_end(fy + q0 // 4, q0 % 4 + 1, fy_start_month)
        elif m.group("fy"):
            y = _year(m.group("fyy"), anchor)
            fy, _ = _current_quarter(anchor, fy_start_month)
            if y is None:
                y = fy + (1 if "next" in span.casefold() else 0)
            due = _fy_end(y, fy_start_month)
        elif m.group("eo"):
            low = span.casefold()
            if "quarter" in low or low == "eoq":
                fy, q = _current_quarter(anchor, fy_start_month)
                due = _quarter_end(fy, q, fy_start_month)
            elif "month" in low:
                due = anchor.replace(day=calendar.monthrange(anchor.year, anchor.month)[1])
            else:
                due = date(anchor.year, 12, 31)
        elif m.group("rel"):
            low = span.casefold()
            num = re.search(
                r"(?:in|within|inside of)\s+(?:the\s+next\s+)?(.+?)\s+(day|week|month|year)", low
            )
            if num:
                n = _WORDNUM.get(num.group(1))
                if n is None and num.group(1).isdigit():
                    n = int(num.group(1))
                if n is not None:
                    days = {"day": 1, "week": 7, "month": 30, "year": 365}[num.group(2)] * n
                    due = anchor + timedelta(days=days)
            elif ("end of" in low and "week" in low) or low == "this week":
                due = anchor + timedelta(days=(4 - anchor.weekday()) % 7)
            elif low in ("next year", "coming year"):
                due = date(anchor.year + 1, 12, 31)
            elif low in ("this year",):
                due = date(anchor.year, 12, 31)
            elif low in ("next month", "coming month"):
                nxt = (anchor.replace(day=1) + timedelta(days=32)).replace(day=1)
                due = nxt.replace(day=calendar.monthrange(nxt.year, nxt.month)[1])
            elif low == "this month":
                due = anchor.replace(day=calendar.monthrange(anchor.year, anchor.month)[1])
            else:
                due = _weekday(low, anchor)
        elif m.group("mon"):
            word = span.strip().rstrip(".").casefold()
            before = low[max(0, m.start() - 12) : m.start()].split()
            if _VERB_MONTH.match(word) and (not before or before[-1] not in _MONTH_PREPS):
                continue  # "may" / "march" alone: a verb more often than a month
            due = _month_span(span, anchor)
        elif m.group("dd") or m.group("iso"):
            due = _dateparser(span, anchor)
        elif m.group("day"):
            due = _weekday(span.casefold(), anchor)
        elif m.group("yr"):
            y = int(re.search(r"20\d{2}", span)[0])  # type: ignore[index]
            due = date(y, 12, 31)
        elif m.group("season"):
            due = _season(span.casefold(), anchor)
        if due is not None:
            spec = (
                3
                if m.group("dd") or m.group("iso") or m.group("day")
                else 2
                if m.group("mon")
                and re.search(r"\d{1,2}(?:st|nd|rd|th)?(?!\d)", re.sub(r"20\d{2}", "", span))
                is not None
                else 2
                if m.group("mon")
                else 0
                if m.group("fy") or m.group("yr")
                else 1
            )
            if m.group("mon") and re.search(
                r"\b\d{1,2}(?:st|nd|rd|th)?\b", re.sub(r"20\d{2}", "", span)
            ):
                spec = 3
            out.append(
                Timeframe(
                    start=start + m.start(),
                    end=start + m.end(),
                    due=due,
                    text=span,
                    specificity=spec,
                )
            )
    return out
