"""HubSpot: a deal, in the CRM API's property names, becomes a Deal and its Account.

The API returns ``{"id", "properties": {...}, "associations": {"companies": ...}}``; it is read
flat: the properties, ``hs_object_id``, and the associated companies as
``associatedcompanyids`` (HubSpot's name for them in the legacy API and in exports; the
company's name, which only a CSV export has, as ``associatedcompany``). A deals export (CSV)
is first mapped onto the same names (``CSV_HEADERS``), so the CSV import and the API
connector share this mapper. Property values are strings, as HubSpot sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pie.importing.mapping import MapContext
from pie.importing.mapping.crm import CrmDealMapper, Vendor, fraction

FIELDS: Mapping[str, tuple[str, ...]] = {
    "id": ("hs_object_id",),
    "name": ("dealname",),
    "stage": ("dealstage",),
    "created_at": ("createdate",),
    "updated_at": ("hs_lastmodifieddate",),
    "amount": ("amount",),
    "currency": ("deal_currency_code",),
    "probability": ("hs_deal_stage_probability",),
    "close_date": ("closedate",),
    "owner": ("hubspot_owner_id",),
    "pipeline": ("pipeline",),
    "closed": ("hs_is_closed",),
    "won": ("hs_is_closed_won",),
    "lost_reason": ("closed_lost_reason",),
    "lead_source": ("hs_analytics_source",),
    "account_id": ("associatedcompanyids",),
    "account_name": ("associatedcompany",),
}

#: A deals export's column headers -> properties. Matched ignoring case and spaces.
CSV_HEADERS: Mapping[str, str] = {
    "Record ID": "hs_object_id",
    "Deal Name": "dealname",
    "Deal Stage": "dealstage",
    "Create Date": "createdate",
    "Last Modified Date": "hs_lastmodifieddate",
    "Amount": "amount",
    "Currency": "deal_currency_code",
    "Deal probability": "hs_deal_stage_probability",
    "Close Date": "closedate",
    "Deal owner": "hubspot_owner_id",
    "Pipeline": "pipeline",
    "Is Closed": "hs_is_closed",
    "Is Closed Won": "hs_is_closed_won",
    "Closed Lost Reason": "closed_lost_reason",
    "Original Source Type": "hs_analytics_source",
    "Associated Company IDs": "associatedcompanyids",
    "Associated Company ID": "associatedcompanyids",
    "Associated Company IDs (Primary)": "associatedcompanyids",
    "Associated Company": "associatedcompany",
    "Associated Company (Primary)": "associatedcompany",
    "Company name": "associatedcompany",
}

IGNORED = frozenset({"hs_createdate", "hs_is_closed_count", "hs_deal_stage_probability_shadow"})


def flatten(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """An API object -> its properties, with its id and associated company ids."""
    properties = record.get("properties")
    if not isinstance(properties, Mapping):
        return record
    flat = dict(properties)
    if record.get("id") is not None:
        flat.setdefault("hs_object_id", str(record["id"]))
    companies = (record.get("associations") or {}).get("companies")
    if isinstance(companies, Mapping):
        flat["associatedcompanyids"] = [str(c["id"]) for c in companies.get("results") or ()]
    return flat


def stage_name(stage: str, record: Mapping[str, Any]) -> str:
    """Exports may label a stage "Closed Won (Sales Pipeline)": the pipeline is removed."""
    pipeline = record.get("pipeline")
    pipeline = pipeline.strip() if isinstance(pipeline, str) else ""
    if pipeline and stage.endswith(f"({pipeline})"):
        return stage[: -len(pipeline) - 2].strip() or stage
    return stage


DEAL = Vendor(
    name="hubspot",
    record="deal",
    fields=FIELDS,
    probability=fraction,
    ignored=IGNORED,
    flatten=flatten,
    stage_name=stage_name,
)


def mapper(ctx: MapContext) -> CrmDealMapper:
    """The mapper of stream ``deals``: deal objects."""
    return CrmDealMapper(DEAL, ctx)
