"""The Notion workspace the emulator serves: databases, data sources, pages and blocks in
memory, with Notion's (API version 2025-09-03) object shapes, validation messages, query
filters, sorts and cursors. No HTTP here: `emulator.py` wraps it in a server.

Behaviour reproduced on purpose (see docs/notion.md and the shared sync notes):
- ``created_time`` / ``last_edited_time`` are floored to the minute and come from the
  emulator's own clock, which can be skewed or driven by hand;
- ``last_edited_by`` names whoever made the last property edit (the integration's bot, or a
  "human" edit made through :meth:`Workspace.update_page` with a person's user id);
- appending blocks does not bump the page's ``last_edited_time`` (a reported Notion oddity);
- trashed pages drop out of queries unless ``in_trash`` is asked for, and cannot be edited;
- ``next_cursor`` values are opaque tokens, never page ids;
- writing a select option that does not exist adds it to the schema, as Notion does.
"""

from __future__ import annotations

import copy
import math
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from pie.domain.errors import ConnectorError

JsonObj = dict[str, Any]

MAX_PAGE_SIZE = 100
MAX_TEXT = 2000
MAX_RICH_TEXT_ITEMS = 100
MAX_EMAIL = 200
MAX_URL = 2000
MAX_CHILDREN = 100
MAX_CURSORS = 10_000

PROPERTY_TYPES = (
    "title",
    "rich_text",
    "number",
    "select",
    "date",
    "email",
    "checkbox",
    "url",
    "phone_number",
)
COLORS = ("default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red")
EMPTY_ANNOTATIONS: JsonObj = {
    "bold": False,
    "italic": False,
    "strikethrough": False,
    "underline": False,
    "code": False,
    "color": "default",
}


class NotionApiError(ConnectorError):
    """An error answer in Notion's shape. The server turns it into the HTTP response
    ``{"object": "error", "status", "code", "message", "request_id"}``; the demo's helpers
    (``edit_as_human``) raise it with the emulator's answer."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        additional_data: JsonObj | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.additional_data = additional_data


def validation(message: str) -> NotionApiError:
    return NotionApiError(400, "validation_error", message)


def not_found(kind: str, ident: str) -> NotionApiError:
    return NotionApiError(
        404,
        "object_not_found",
        f"Could not find {kind} with ID: {ident}. Make sure the relevant pages and databases "
        "are shared with your integration.",
    )


def normalise_id(raw: str) -> str | None:
    """Notion accepts ids with or without dashes; None if ``raw`` is not a UUID."""
    try:
        return str(uuid.UUID(raw.replace("-", "")))
    except ValueError:
        return None


def floor_minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def iso(at: datetime) -> str:
    """Notion's timestamp text: ``2025-05-01T10:00:00.000Z`` (always floored to the minute)."""
    return floor_minute(at).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:00.000Z")


def parse_time(text: Any, where: str) -> datetime:
    """A date or date-time from a filter or date value; naive values are UTC."""
    if not isinstance(text, str):
        raise validation(
            f"body failed validation: {where} should be a string, instead was `{_show(text)}`."
        )
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise validation(
            f"body failed validation: {where} should be a valid ISO 8601 date string, "
            f"instead was `{_show(text)}`."
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _show(value: Any) -> str:
    import json

    return json.dumps(value)


class Clock:
    """The emulator's clock: real time plus a skew, or a frozen virtual time moved by hand.
    Thread-safe enough for the server (reads and writes of one attribute)."""

    def __init__(self, *, skew_seconds: float = 0.0, frozen: datetime | None = None) -> None:
        self.skew = timedelta(seconds=skew_seconds)
        self.frozen = frozen

    def now(self) -> datetime:
        base = self.frozen if self.frozen is not None else datetime.now(UTC)
        return base + self.skew

    def set(self, at: datetime) -> None:
        self.frozen = at if at.tzinfo else at.replace(tzinfo=UTC)

    def advance(self, seconds: float) -> None:
        if self.frozen is None:
            self.frozen = datetime.now(UTC)
        self.frozen += timedelta(seconds=seconds)


def _prop_id() -> str:
    """Property ids look like Notion's: short, with characters that need percent-encoding."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789;@>?=[]"
    return quote("".join(secrets.choice(alphabet) for _ in range(4)), safe="")


def _user(user_id: str) -> JsonObj:
    return {"object": "user", "id": user_id}


def _rich_text_item(content: str) -> JsonObj:
    return {
        "type": "text",
        "text": {"content": content, "link": None},
        "annotations": dict(EMPTY_ANNOTATIONS),
        "plain_text": content,
        "href": None,
    }


def plain_text(items: Iterable[JsonObj]) -> str:
    return "".join(str(i.get("plain_text", "")) for i in items)


@dataclass
class PropertySchema:
    id: str
    name: str
    type: str
    config: JsonObj

    def as_json(self) -> JsonObj:
        return {"id": self.id, "name": self.name, "type": self.type, self.type: self.config}


@dataclass
class DataSource:
    id: str
    database_id: str
    title: list[JsonObj]
    properties: dict[str, PropertySchema]  # by property id
    created_time: datetime
    last_edited_time: datetime
    created_by: str
    last_edited_by: str
    in_trash: bool = False

    def by_name_or_id(self, key: str) -> PropertySchema | None:
        if key in self.properties:
            return self.properties[key]
        return next((p for p in self.properties.values() if p.name == key), None)


@dataclass
class Database:
    id: str
    parent_page_id: str
    title: list[JsonObj]
    data_source_ids: list[str]
    created_time: datetime
    last_edited_time: datetime
    created_by: str
    last_edited_by: str
    is_inline: bool = False
    in_trash: bool = False


@dataclass
class Page:
    id: str
    parent: JsonObj  # {"type": "data_source_id", ...} or {"type": "page_id", ...}
    values: dict[str, Any]  # property id -> normalised value (as Notion returns it)
    created_time: datetime
    last_edited_time: datetime
    created_by: str
    last_edited_by: str
    in_trash: bool = False
    title_text: str = ""  # for pages outside a data source (workspace pages)
    seq: int = 0  # creation order, the last tie-break of every sort


@dataclass
class Block:
    id: str
    parent: JsonObj
    type: str
    content: JsonObj
    created_time: datetime
    created_by: str
    children: list[str] = field(default_factory=list)


@dataclass
class _Cursor:
    key: str  # what the cursor belongs to (query fingerprint)
    offset: int


class Workspace:
    """Everything the emulator holds, behind one lock. Methods take and return JSON-like
    dicts in Notion's shapes and raise :class:`NotionApiError` with Notion's messages.
    ``actor`` is the user id making the request (the integration's bot, or a person)."""

    def __init__(self, clock: Clock | None = None, *, root_page_id: str | None = None) -> None:
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self.databases: dict[str, Database] = {}
        self.data_sources: dict[str, DataSource] = {}
        self.pages: dict[str, Page] = {}
        self.blocks: dict[str, Block] = {}
        self.page_children: dict[str, list[str]] = {}  # page id -> top-level block ids
        self._cursors: dict[str, _Cursor] = {}
        self._seq = 0
        #: Queries with more matches than this report ``query_result_limit_reached``.
        self.result_limit: int | None = None
        now = self.clock.now()
        self.root_page_id = (normalise_id(root_page_id) if root_page_id else None) or str(
            uuid.uuid4()
        )
        self.pages[self.root_page_id] = Page(
            self.root_page_id,
            {"type": "workspace", "workspace": True},
            {},
            now,
            now,
            "system",
            "system",
            title_text="PIE workspace",
        )

    # --- helpers -------------------------------------------------------------------------

    def _remember(self, token: str, cursor: _Cursor) -> None:
        """Cursors live until MAX_CURSORS newer ones were handed out (a long demo's memory
        stays bounded; a cursor that old is refused as Notion refuses a stale one)."""
        self._cursors[token] = cursor
        while len(self._cursors) > MAX_CURSORS:
            del self._cursors[next(iter(self._cursors))]

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _page(self, raw_id: str) -> Page:
        ident = normalise_id(raw_id)
        page = self.pages.get(ident) if ident else None
        if page is None:
            raise not_found("page", raw_id)
        return page

    def _data_source(self, raw_id: str) -> DataSource:
        ident = normalise_id(raw_id)
        ds = self.data_sources.get(ident) if ident else None
        if ds is None:
            raise not_found("data_source", raw_id)
        return ds

    def _database(self, raw_id: str) -> Database:
        ident = normalise_id(raw_id)
        db = self.databases.get(ident) if ident else None
        if db is None:
            raise not_found("database", raw_id)
        return db

    def _title(self, raw: Any, where: str) -> list[JsonObj]:
        if raw is None:
            return []
        return self._rich_text(raw, where)

    def _rich_text(self, raw: Any, where: str) -> list[JsonObj]:
        if not isinstance(raw, list):
            raise validation(
                f"body failed validation: {where} should be an array, instead was `{_show(raw)}`."
            )
        if len(raw) > MAX_RICH_TEXT_ITEMS:
            raise validation(
                f"body failed validation: {where}.length should be ≤ `{MAX_RICH_TEXT_ITEMS}`, "
                f"instead was `{len(raw)}`."
            )
        out = []
        for i, item in enumerate(raw):
            text = item.get("text") if isinstance(item, dict) else None
            content = text.get("content") if isinstance(text, dict) else None
            if not isinstance(content, str):
                raise validation(
                    f"body failed validation: {where}[{i}].text.content should be defined, "
                    "instead was `undefined`."
                )
            if len(content) > MAX_TEXT:
                raise validation(
                    f"body failed validation: {where}[{i}].text.content.length should be ≤ "
                    f"`{MAX_TEXT}`, instead was `{len(content)}`."
                )
            out.append(_rich_text_item(content))
        return out

    # --- schema --------------------------------------------------------------------------

    def _schema_entry(
        self, name: str, raw: Any, where: str, existing: PropertySchema | None
    ) -> PropertySchema:
        if not isinstance(raw, dict):
            raise validation(
                f"body failed validation: {where} should be an object, instead was `{_show(raw)}`."
            )
        new_name = raw.get("name", name)
        kinds = [k for k in raw if k in PROPERTY_TYPES]
        if not kinds:
            if existing is not None:  # a rename only
                return PropertySchema(existing.id, new_name, existing.type, existing.config)
            raise validation(
                f"body failed validation: {where} should define one of the property types "
                f"{', '.join(PROPERTY_TYPES)}."
            )
        kind = kinds[0]
        config = raw[kind] if isinstance(raw[kind], dict) else {}
        config = copy.deepcopy(config)
        if kind == "select":
            options = []
            for opt in config.get("options", []):
                opt_name = str(opt.get("name", ""))
                if "," in opt_name:
                    raise validation(f"Select option names cannot contain commas: {opt_name!r}.")
                options.append(
                    {
                        "id": opt.get("id") or str(uuid.uuid4()),
                        "name": opt_name,
                        "color": opt.get("color", "default"),
                        "description": None,
                    }
                )
            config = {"options": options}
        elif kind == "number":
            config = {"format": config.get("format", "number")}
        else:
            config = {}
        if kind == "title":
            prop_id = "title"
        elif existing is not None:
            prop_id = existing.id
        else:
            prop_id = _prop_id()
        return PropertySchema(prop_id, new_name, kind, config)

    def _build_schema(self, raw: Any) -> dict[str, PropertySchema]:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise validation("body failed validation: body.properties should be an object.")
        props: dict[str, PropertySchema] = {}
        for name, spec in raw.items():
            entry = self._schema_entry(name, spec, f"body.properties.{name}", None)
            props[entry.id] = entry
        titles = [p for p in props.values() if p.type == "title"]
        if len(titles) > 1:
            raise validation("Data source must have exactly one title property.")
        if not titles:
            props["title"] = PropertySchema("title", "Name", "title", {})
        return props

    # --- databases -----------------------------------------------------------------------

    def create_database(self, body: JsonObj, actor: str) -> JsonObj:
        with self.lock:
            parent = body.get("parent")
            if not isinstance(parent, dict) or "page_id" not in parent:
                raise validation(
                    "body failed validation: body.parent.page_id should be defined, instead was "
                    "`undefined`."
                )
            parent_page = self._page(str(parent["page_id"]))
            initial = body.get("initial_data_source") or {}
            properties = self._build_schema(initial.get("properties"))
            title = self._title(body.get("title"), "body.title")
            now = self.clock.now()
            db_id, ds_id = str(uuid.uuid4()), str(uuid.uuid4())
            self.databases[db_id] = Database(
                db_id,
                parent_page.id,
                title,
                [ds_id],
                now,
                now,
                actor,
                actor,
                is_inline=bool(body.get("is_inline", False)),
            )
            self.data_sources[ds_id] = DataSource(
                ds_id, db_id, copy.deepcopy(title), properties, now, now, actor, actor
            )
            return self.database_json(self.databases[db_id])

    def retrieve_database(self, raw_id: str) -> JsonObj:
        with self.lock:
            return self.database_json(self._database(raw_id))

    def database_json(self, db: Database) -> JsonObj:
        return {
            "object": "database",
            "id": db.id,
            "title": db.title,
            "description": [],
            "parent": {"type": "page_id", "page_id": db.parent_page_id},
            "is_inline": db.is_inline,
            "in_trash": db.in_trash,
            "is_locked": False,
            "created_time": iso(db.created_time),
            "last_edited_time": iso(db.last_edited_time),
            "data_sources": [
                {"id": ds, "name": plain_text(self.data_sources[ds].title)}
                for ds in db.data_source_ids
            ],
            "icon": None,
            "cover": None,
            "url": f"https://www.notion.so/{db.id.replace('-', '')}",
            "public_url": None,
        }

    # --- data sources --------------------------------------------------------------------

    def create_data_source(self, body: JsonObj, actor: str) -> JsonObj:
        with self.lock:
            parent = body.get("parent")
            if not isinstance(parent, dict) or "database_id" not in parent:
                raise validation(
                    "body failed validation: body.parent.database_id should be defined, "
                    "instead was `undefined`."
                )
            db = self._database(str(parent["database_id"]))
            now = self.clock.now()
            ds_id = str(uuid.uuid4())
            self.data_sources[ds_id] = DataSource(
                ds_id,
                db.id,
                self._title(body.get("title"), "body.title"),
                self._build_schema(body.get("properties")),
                now,
                now,
                actor,
                actor,
            )
            db.data_source_ids.append(ds_id)
            return self.data_source_json(self.data_sources[ds_id])

    def retrieve_data_source(self, raw_id: str) -> JsonObj:
        with self.lock:
            return self.data_source_json(self._data_source(raw_id))

    def data_source_json(self, ds: DataSource) -> JsonObj:
        db = self.databases[ds.database_id]
        return {
            "object": "data_source",
            "id": ds.id,
            "created_time": iso(ds.created_time),
            "last_edited_time": iso(ds.last_edited_time),
            "created_by": _user(ds.created_by),
            "last_edited_by": _user(ds.last_edited_by),
            "title": ds.title,
            "description": [],
            "properties": {p.name: p.as_json() for p in ds.properties.values()},
            "parent": {"type": "database_id", "database_id": ds.database_id},
            "database_parent": {"type": "page_id", "page_id": db.parent_page_id},
            "in_trash": ds.in_trash,
            "archived": ds.in_trash,
            "is_inline": db.is_inline,
            "icon": None,
            "cover": None,
            "url": f"https://www.notion.so/{ds.id.replace('-', '')}",
            "public_url": None,
        }

    def update_data_source(self, raw_id: str, body: JsonObj, actor: str) -> JsonObj:
        with self.lock:
            ds = self._data_source(raw_id)
            if "title" in body:
                ds.title = self._title(body["title"], "body.title")
            raw_props = body.get("properties")
            if raw_props is not None:
                if not isinstance(raw_props, dict):
                    raise validation("body failed validation: body.properties should be an object.")
                updated = dict(ds.properties)
                for key, spec in raw_props.items():
                    existing = ds.by_name_or_id(key)
                    if spec is None:
                        if existing is None:
                            raise validation(f"{key} is not a property that exists.")
                        if existing.type == "title":
                            raise validation("Cannot delete the title property.")
                        del updated[existing.id]
                        continue
                    entry = self._schema_entry(key, spec, f"body.properties.{key}", existing)
                    if existing is not None and entry.type == "title" and existing.type != "title":
                        raise validation("Data source must have exactly one title property.")
                    if existing is not None and existing.type != entry.type:
                        for page in self.pages.values():
                            page.values.pop(existing.id, None)
                    updated[entry.id] = entry
                ds.properties = updated
            if "in_trash" in body or "archived" in body:
                ds.in_trash = bool(body.get("in_trash", body.get("archived")))
            ds.last_edited_time, ds.last_edited_by = self.clock.now(), actor
            return self.data_source_json(ds)

    # --- property values -----------------------------------------------------------------

    def _value(self, ds: DataSource, prop: PropertySchema, raw: Any, where: str) -> Any:
        """Validate a written property value and return it as Notion stores and returns it."""
        if not isinstance(raw, dict) or prop.type not in raw:
            other = next((k for k in (raw or {}) if k in PROPERTY_TYPES), None)
            if other is not None:
                raise validation(f"{prop.name} is expected to be {prop.type}.")
            raise validation(
                f"body failed validation: {where}.{prop.type} should be defined, instead was "
                "`undefined`."
            )
        value = raw[prop.type]
        where = f"{where}.{prop.type}"
        kind = prop.type
        if kind in ("title", "rich_text"):
            return self._rich_text(value, where)
        if value is None:
            return None
        if kind == "number":
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise validation(
                    f"body failed validation: {where} should be a number or `null`, instead "
                    f"was `{_show(value)}`."
                )
            return value
        if kind == "checkbox":
            if not isinstance(value, bool):
                raise validation(
                    f"body failed validation: {where} should be a boolean, instead was "
                    f"`{_show(value)}`."
                )
            return value
        if kind in ("email", "url", "phone_number"):
            limit = MAX_URL if kind == "url" else MAX_EMAIL
            if not isinstance(value, str):
                raise validation(
                    f"body failed validation: {where} should be a string or `null`, instead "
                    f"was `{_show(value)}`."
                )
            if len(value) > limit:
                raise validation(
                    f"body failed validation: {where}.length should be ≤ `{limit}`, instead "
                    f"was `{len(value)}`."
                )
            return value
        if kind == "select":
            return self._select(prop, value, where)
        if kind == "date":
            if not isinstance(value, dict) or "start" not in value:
                raise validation(
                    f"body failed validation: {where}.start should be defined, instead was "
                    "`undefined`."
                )
            start = value["start"]
            parse_time(start, f"{where}.start")
            end = value.get("end")
            if end is not None:
                parse_time(end, f"{where}.end")
            return {"start": start, "end": end, "time_zone": value.get("time_zone")}
        return value  # pragma: no cover - every type in PROPERTY_TYPES is handled above

    def _select(self, prop: PropertySchema, value: Any, where: str) -> JsonObj:
        if not isinstance(value, dict) or not ({"name", "id"} & value.keys()):
            raise validation(
                f"body failed validation: {where}.name should be defined, instead was `undefined`."
            )
        options: list[JsonObj] = prop.config.setdefault("options", [])
        if "id" in value:
            found = next((o for o in options if o["id"] == value["id"]), None)
            if found is None:
                raise validation(f"Select option id {value['id']} does not exist for {prop.name}.")
        else:
            name = value["name"]
            if not isinstance(name, str) or not name:
                raise validation(
                    f"body failed validation: {where}.name should be a non-empty string."
                )
            if "," in name:
                raise validation(f"Select option names cannot contain commas: {name!r}.")
            if len(name) > 100:
                raise validation(
                    f"body failed validation: {where}.name.length should be ≤ `100`, instead "
                    f"was `{len(name)}`."
                )
            found = next((o for o in options if o["name"] == name), None)
            if found is None:
                found = {
                    "id": str(uuid.uuid4()),
                    "name": name,
                    "color": COLORS[len(options) % len(COLORS)],
                    "description": None,
                }
                options.append(found)
        return {"id": found["id"], "name": found["name"], "color": found["color"]}

    def _apply_properties(self, ds: DataSource, page: Page | None, raw: Any) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise validation("body failed validation: body.properties should be an object.")
        out: dict[str, Any] = {}
        for key, value in raw.items():
            prop = ds.by_name_or_id(key)
            if prop is None:
                raise validation(f"{key} is not a property that exists.")
            out[prop.id] = self._value(ds, prop, value, f"body.properties.{key}")
        return out

    # --- pages ---------------------------------------------------------------------------

    def create_page(self, body: JsonObj, actor: str) -> JsonObj:
        with self.lock:
            parent = body.get("parent")
            if not isinstance(parent, dict):
                raise validation(
                    "body failed validation: body.parent should be defined, instead was "
                    "`undefined`."
                )
            ds_ref = parent.get("data_source_id")
            if ds_ref is None and "database_id" in parent:
                db = self._database(str(parent["database_id"]))
                if len(db.data_source_ids) > 1:
                    raise validation(
                        "Databases with multiple data sources are not supported in this API "
                        "version. Use a data_source_id parent instead."
                    )
                ds_ref = db.data_source_ids[0]
            if ds_ref is None:
                raise validation(
                    "body failed validation: body.parent.data_source_id should be defined, "
                    "instead was `undefined`."
                )
            ds = self._data_source(str(ds_ref))
            values = self._apply_properties(ds, None, body.get("properties"))
            children = body.get("children") or []
            self._check_children(children)
            now = self.clock.now()
            page_id = str(uuid.uuid4())
            page = Page(
                page_id,
                {
                    "type": "data_source_id",
                    "data_source_id": ds.id,
                    "database_id": ds.database_id,
                },
                values,
                now,
                now,
                actor,
                actor,
                seq=self._next_seq(),
            )
            self.pages[page_id] = page
            if children:
                self._append(page_id, {"type": "page_id", "page_id": page_id}, children, actor)
            return self.page_json(page)

    def retrieve_page(self, raw_id: str, filter_properties: list[str] | None = None) -> JsonObj:
        with self.lock:
            return self.page_json(self._page(raw_id), filter_properties)

    def update_page(self, raw_id: str, body: JsonObj, actor: str) -> JsonObj:
        """``PATCH /v1/pages/{id}``; a "human" edit is the same call with a person's id."""
        with self.lock:
            page = self._page(raw_id)
            ds = self._page_source(page)
            trash = body.get("in_trash", body.get("archived"))
            if page.in_trash and trash is not False and body.get("properties"):
                raise validation(
                    "Can't edit block that is archived. You must unarchive the block before "
                    "editing."
                )
            values = self._apply_properties(ds, page, body.get("properties")) if ds else {}
            page.values.update(values)
            if trash is not None:
                page.in_trash = bool(trash)
            page.last_edited_time, page.last_edited_by = self.clock.now(), actor
            return self.page_json(page)

    def _page_source(self, page: Page) -> DataSource | None:
        ds_id = page.parent.get("data_source_id")
        return self.data_sources.get(ds_id) if ds_id else None

    def page_json(self, page: Page, filter_properties: list[str] | None = None) -> JsonObj:
        ds = self._page_source(page)
        properties: JsonObj = {}
        if ds is not None:
            for prop in ds.properties.values():
                if filter_properties is not None and prop.id not in filter_properties:
                    continue
                empty: Any = [] if prop.type in ("title", "rich_text") else None
                if prop.type == "checkbox":
                    empty = False
                properties[prop.name] = {
                    "id": prop.id,
                    "type": prop.type,
                    prop.type: copy.deepcopy(page.values.get(prop.id, empty)),
                }
        else:
            properties["title"] = {
                "id": "title",
                "type": "title",
                "title": [_rich_text_item(page.title_text)],
            }
        return {
            "object": "page",
            "id": page.id,
            "created_time": iso(page.created_time),
            "last_edited_time": iso(page.last_edited_time),
            "created_by": _user(page.created_by),
            "last_edited_by": _user(page.last_edited_by),
            "parent": dict(page.parent),
            "in_trash": page.in_trash,
            "archived": page.in_trash,
            "is_locked": False,
            "icon": None,
            "cover": None,
            "properties": properties,
            "url": f"https://www.notion.so/{page.id.replace('-', '')}",
            "public_url": None,
        }

    # --- queries -------------------------------------------------------------------------

    def query(
        self, raw_id: str, body: JsonObj, filter_properties: list[str] | None = None
    ) -> JsonObj:
        with self.lock:
            ds = self._data_source(raw_id)
            page_size = body.get("page_size", MAX_PAGE_SIZE)
            if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
                raise validation(
                    "body failed validation: body.page_size should be a number, instead was "
                    f"`{_show(page_size)}`."
                )
            if page_size > MAX_PAGE_SIZE:
                raise validation(
                    f"body failed validation: body.page_size should be ≤ `{MAX_PAGE_SIZE}`, "
                    f"instead was `{page_size}`."
                )
            filt = body.get("filter")
            sorts = body.get("sorts") or []
            if not isinstance(sorts, list):
                raise validation("body failed validation: body.sorts should be an array.")
            want_trash = bool(body.get("in_trash", body.get("archived", False)))
            matches = [
                p
                for p in self.pages.values()
                if p.parent.get("data_source_id") == ds.id
                and (want_trash or not p.in_trash)
                and (filt is None or self._matches(ds, p, filt, "body.filter"))
            ]
            matches.sort(key=lambda p: p.seq)
            matches.sort(key=lambda p: p.created_time, reverse=True)  # Notion's default order
            for spec in reversed(sorts):
                self._sort(ds, matches, spec)
            incomplete = self.result_limit is not None and len(matches) > self.result_limit
            if incomplete:
                matches = matches[: self.result_limit]
            key = f"{ds.id}|{_show(filt)}|{_show(sorts)}|{want_trash}"
            offset = 0
            start = body.get("start_cursor")
            if start is not None:
                cursor = self._cursors.get(str(start))
                if cursor is None or cursor.key != key:
                    raise validation(
                        f"body failed validation: body.start_cursor should be a valid cursor "
                        f"returned by a previous request, instead was `{_show(start)}`."
                    )
                offset = cursor.offset
            chunk = matches[offset : offset + page_size]
            has_more = offset + page_size < len(matches)
            next_cursor = None
            if has_more:
                next_cursor = str(uuid.uuid4())
                self._remember(next_cursor, _Cursor(key, offset + page_size))
            out: JsonObj = {
                "object": "list",
                "results": [self.page_json(p, filter_properties) for p in chunk],
                "next_cursor": next_cursor,
                "has_more": has_more,
                "type": "page_or_data_source",
                "page_or_data_source": {},
            }
            if incomplete:
                out["request_status"] = {
                    "type": "incomplete",
                    "incomplete_reason": "query_result_limit_reached",
                }
            return out

    def _sort(self, ds: DataSource, pages: list[Page], spec: Any) -> None:
        if not isinstance(spec, dict):
            raise validation("body failed validation: body.sorts[0] should be an object.")
        direction = spec.get("direction", "ascending")
        if direction not in ("ascending", "descending"):
            raise validation(
                "body failed validation: body.sorts[0].direction should be `ascending` or "
                f"`descending`, instead was `{_show(direction)}`."
            )
        reverse = direction == "descending"
        if "timestamp" in spec:
            ts = spec["timestamp"]
            if ts not in ("created_time", "last_edited_time"):
                raise validation(
                    "body failed validation: body.sorts[0].timestamp should be "
                    f"`created_time` or `last_edited_time`, instead was `{_show(ts)}`."
                )
            pages.sort(key=lambda p: floor_minute(getattr(p, ts)), reverse=reverse)
            return
        prop = ds.by_name_or_id(str(spec.get("property")))
        if prop is None:
            raise validation(
                f"Could not find sort property with name or id: {spec.get('property')}"
            )

        def sort_key(p: Page) -> tuple[int, Any]:
            v = p.values.get(prop.id)
            if prop.type in ("title", "rich_text"):
                v = plain_text(v or [])
            elif prop.type == "select":
                v = v["name"] if v else None
            elif prop.type == "date":
                v = parse_time(v["start"], "date") if v else None
            if v in (None, ""):
                return (1, "")  # empty values last, whatever the direction
            return (0, v)

        filled = [p for p in pages if sort_key(p)[0] == 0]
        empty = [p for p in pages if sort_key(p)[0] == 1]
        filled.sort(key=lambda p: sort_key(p)[1], reverse=reverse)
        pages[:] = filled + empty

    def _matches(self, ds: DataSource, page: Page, filt: Any, where: str) -> bool:
        if not isinstance(filt, dict):
            raise validation(f"body failed validation: {where} should be an object.")
        if "and" in filt:
            return all(self._matches(ds, page, f, f"{where}.and") for f in filt["and"])
        if "or" in filt:
            return any(self._matches(ds, page, f, f"{where}.or") for f in filt["or"])
        if "timestamp" in filt:
            ts = filt["timestamp"]
            if ts not in ("created_time", "last_edited_time") or ts not in filt:
                raise validation(
                    f"body failed validation: {where}.{ts} should be defined, instead was "
                    "`undefined`."
                )
            return self._date_match(
                floor_minute(getattr(page, ts)), filt[ts], f"{where}.{ts}", minute=True
            )
        name = filt.get("property")
        if name is None:
            raise validation(
                f"body failed validation: {where}.property should be defined, instead was "
                "`undefined`."
            )
        prop = ds.by_name_or_id(str(name))
        if prop is None:
            raise validation(f"Could not find property with name or id: {name}")
        kinds = [k for k in filt if k != "property"]
        if not kinds:
            raise validation(f"body failed validation: {where} should define a condition.")
        kind = kinds[0]
        allowed = {prop.type}
        if prop.type in ("title", "rich_text", "email", "url", "phone_number"):
            allowed |= {"rich_text", "title", "email", "url", "phone_number"}
        if kind not in allowed:
            raise validation(
                f"Property type of {prop.name} ({prop.type}) does not match filter type {kind}."
            )
        cond = filt[kind]
        if not isinstance(cond, dict) or len(cond) != 1:
            raise validation(f"body failed validation: {where}.{kind} should have one condition.")
        op, arg = next(iter(cond.items()))
        value = page.values.get(prop.id)
        if op == "is_empty":
            return value in (None, [], "") or (isinstance(value, list) and not plain_text(value))
        if op == "is_not_empty":
            return not (
                value in (None, [], "") or (isinstance(value, list) and not plain_text(value))
            )
        if prop.type in ("title", "rich_text"):
            value = plain_text(value or [])
        if prop.type == "date":
            when = parse_time(value["start"], "date") if value else None
            if when is None:
                return False
            return self._date_match(when, {op: arg}, f"{where}.{kind}")
        if prop.type == "select":
            name_ = value["name"] if value else None
            if op == "equals":
                return bool(name_ == arg)
            if op == "does_not_equal":
                return bool(name_ != arg)
        elif prop.type == "number":
            if op == "equals":
                return bool(value == arg)
            if op == "does_not_equal":
                return bool(value != arg)
            if value is None:
                return False
            ops: dict[str, Callable[[Any, Any], bool]] = {
                "greater_than": lambda a, b: a > b,
                "less_than": lambda a, b: a < b,
                "greater_than_or_equal_to": lambda a, b: a >= b,
                "less_than_or_equal_to": lambda a, b: a <= b,
            }
            if op in ops:
                return ops[op](value, arg)
        elif prop.type == "checkbox":
            if op == "equals":
                return bool(value) == bool(arg)
            if op == "does_not_equal":
                return bool(value) != bool(arg)
        else:
            text = value or ""
            text_ops: dict[str, Callable[[str, str], bool]] = {
                "equals": lambda a, b: a == b,
                "does_not_equal": lambda a, b: a != b,
                "contains": lambda a, b: b in a,
                "does_not_contain": lambda a, b: b not in a,
                "starts_with": lambda a, b: a.startswith(b),
                "ends_with": lambda a, b: a.endswith(b),
            }
            if op in text_ops:
                return text_ops[op](text, str(arg))
        raise validation(f"body failed validation: {where}.{kind}.{op} is not a valid condition.")

    def _date_match(self, at: datetime, cond: Any, where: str, *, minute: bool = False) -> bool:
        if not isinstance(cond, dict) or len(cond) != 1:
            raise validation(f"body failed validation: {where} should have one condition.")
        op, arg = next(iter(cond.items()))
        now = self.clock.now()
        relative = {
            "past_week": (now - timedelta(days=7), now),
            "past_month": (now - timedelta(days=30), now),
            "past_year": (now - timedelta(days=365), now),
            "next_week": (now, now + timedelta(days=7)),
            "next_month": (now, now + timedelta(days=30)),
            "next_year": (now, now + timedelta(days=365)),
        }
        if op in relative:
            lo, hi = relative[op]
            return lo <= at <= hi
        ref = parse_time(arg, f"{where}.{op}")
        if minute:
            ref = floor_minute(ref) if op in ("on_or_after", "before") else ref
        checks: dict[str, Callable[[datetime, datetime], bool]] = {
            "equals": lambda a, b: a == b,
            "before": lambda a, b: a < b,
            "after": lambda a, b: a > b,
            "on_or_before": lambda a, b: a <= b,
            "on_or_after": lambda a, b: a >= b,
        }
        if op not in checks:
            raise validation(f"body failed validation: {where}.{op} is not a valid condition.")
        return checks[op](at, ref)

    # --- blocks --------------------------------------------------------------------------

    def _check_children(self, children: Any) -> None:
        if not isinstance(children, list):
            raise validation("body failed validation: body.children should be an array.")
        if len(children) > MAX_CHILDREN:
            raise validation(
                f"body failed validation: body.children.length should be ≤ `{MAX_CHILDREN}`, "
                f"instead was `{len(children)}`."
            )
        for i, child in enumerate(children):
            kind = child.get("type") if isinstance(child, dict) else None
            if kind is None and isinstance(child, dict):
                kind = next((k for k in child if k not in ("object", "type")), None)
            if not isinstance(child, dict) or kind is None or not isinstance(child.get(kind), dict):
                raise validation(
                    f"body failed validation: body.children[{i}] should be a block object."
                )
            rich = child[kind].get("rich_text")
            if rich is not None:
                self._rich_text(rich, f"body.children[{i}].{kind}.rich_text")

    def _append(
        self, target: str, parent: JsonObj, children: list[JsonObj], actor: str
    ) -> list[Block]:
        now = self.clock.now()
        made = []
        for child in children:
            kind = child.get("type") or next(k for k in child if k not in ("object", "type"))
            content = copy.deepcopy(child[kind])
            if "rich_text" in content:
                content["rich_text"] = [
                    _rich_text_item(i["text"]["content"]) for i in content["rich_text"]
                ]
            block = Block(str(uuid.uuid4()), parent, kind, content, now, actor)
            self.blocks[block.id] = block
            made.append(block)
        ids = [b.id for b in made]
        if target in self.pages:
            self.page_children.setdefault(target, []).extend(ids)
        else:
            self.blocks[target].children.extend(ids)
        return made

    def append_children(self, raw_id: str, body: JsonObj, actor: str) -> JsonObj:
        """``PATCH /v1/blocks/{id}/children``: not idempotent (a retry appends twice), and it
        does not bump the page's ``last_edited_time``."""
        with self.lock:
            ident = normalise_id(raw_id)
            if ident in self.pages:
                page = self.pages[ident]
                if page.in_trash:
                    raise validation(
                        "Can't edit block that is archived. You must unarchive the block before "
                        "editing."
                    )
                parent: JsonObj = {"type": "page_id", "page_id": ident}
            elif ident in self.blocks:
                parent = {"type": "block_id", "block_id": ident}
            else:
                raise not_found("block", raw_id)
            children = body.get("children")
            self._check_children(children)
            made = self._append(ident, parent, children or [], actor)
            return {
                "object": "list",
                "results": [self.block_json(b) for b in made],
                "next_cursor": None,
                "has_more": False,
                "type": "block",
                "block": {},
            }

    def list_children(self, raw_id: str, start_cursor: str | None, page_size: int) -> JsonObj:
        with self.lock:
            ident = normalise_id(raw_id)
            if ident in self.pages:
                ids = self.page_children.get(ident, [])
            elif ident in self.blocks:
                ids = self.blocks[ident].children
            else:
                raise not_found("block", raw_id)
            if page_size > MAX_PAGE_SIZE or page_size < 1:
                raise validation(
                    f"body failed validation: page_size should be ≤ `{MAX_PAGE_SIZE}`, instead "
                    f"was `{page_size}`."
                )
            key = f"children|{ident}"
            offset = 0
            if start_cursor is not None:
                cursor = self._cursors.get(start_cursor)
                if cursor is None or cursor.key != key:
                    raise validation(
                        "body failed validation: start_cursor should be a valid cursor returned "
                        f"by a previous request, instead was `{_show(start_cursor)}`."
                    )
                offset = cursor.offset
            chunk = ids[offset : offset + page_size]
            has_more = offset + page_size < len(ids)
            next_cursor = None
            if has_more:
                next_cursor = str(uuid.uuid4())
                self._remember(next_cursor, _Cursor(key, offset + page_size))
            return {
                "object": "list",
                "results": [self.block_json(self.blocks[b]) for b in chunk],
                "next_cursor": next_cursor,
                "has_more": has_more,
                "type": "block",
                "block": {},
            }

    def block_json(self, block: Block) -> JsonObj:
        return {
            "object": "block",
            "id": block.id,
            "parent": dict(block.parent),
            "created_time": iso(block.created_time),
            "last_edited_time": iso(block.created_time),
            "created_by": _user(block.created_by),
            "last_edited_by": _user(block.created_by),
            "has_children": bool(block.children),
            "archived": False,
            "in_trash": False,
            "type": block.type,
            block.type: copy.deepcopy(block.content),
        }

    # --- conveniences for tests and demos -------------------------------------------------

    def pages_in(self, data_source_id: str, *, include_trashed: bool = True) -> list[JsonObj]:
        """Every page of a data source (oldest first), as the API would show them."""
        with self.lock:
            return [
                self.page_json(p)
                for p in sorted(self.pages.values(), key=lambda p: p.seq)
                if p.parent.get("data_source_id") == data_source_id
                and (include_trashed or not p.in_trash)
            ]

    def titles(self) -> Mapping[str, str]:
        """page id -> title text, for pages inside data sources."""
        with self.lock:
            out = {}
            for page in self.pages.values():
                ds = self._page_source(page)
                if ds is None:
                    continue
                title = next((p for p in ds.properties.values() if p.type == "title"), None)
                out[page.id] = plain_text(page.values.get(title.id, []) if title else [])
            return out
