"""Salesforce: an Opportunity, in the REST API's field names, becomes a Deal and its Account.

The API's records (``SELECT Id, Name, StageName, ... FROM Opportunity``) nest relationship
fields (``"Account": {"Name": ...}``); they are read as dotted names (``Account.Name``). An
opportunity report exported as CSV is first mapped onto the same names (``CSV_HEADERS``), so
the CSV import and the API connector share this mapper. "Opportunity" exists only here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pie.importing.mapping import MapContext
from pie.importing.mapping.crm import CrmDealMapper, Vendor, percent

#: PIE's roles -> the Opportunity's API fields (first present wins). ``Loss_Reason__c`` and
#: ``Product_Line__c`` are custom fields (Salesforce has no standard ones).
FIELDS: Mapping[str, tuple[str, ...]] = {
    "id": ("Id",),
    "name": ("Name",),
    "stage": ("StageName",),
    "created_at": ("CreatedDate",),
    "updated_at": ("LastModifiedDate",),
    "amount": ("Amount",),
    "currency": ("CurrencyIsoCode",),
    "probability": ("Probability",),
    "close_date": ("CloseDate",),
    "owner": ("Owner.Name", "OwnerId"),
    "lead_source": ("LeadSource",),
    "closed": ("IsClosed",),
    "won": ("IsWon",),
    "lost_reason": ("Loss_Reason__c",),
    "product_line": ("Product_Line__c",),
    "account_id": ("AccountId",),
    "account_name": ("Account.Name",),
    "account_industry": ("Account.Industry",),
    "account_country": ("Account.BillingCountry",),
    "account_owner": ("Account.Owner.Name",),
}

#: An opportunity report's column headers -> API fields. Matched ignoring case and spaces.
CSV_HEADERS: Mapping[str, str] = {
    "Opportunity ID": "Id",
    "Opportunity ID (18)": "Id",
    "Opportunity Name": "Name",
    "Stage": "StageName",
    "Created Date": "CreatedDate",
    "Last Modified Date": "LastModifiedDate",
    "Amount": "Amount",
    "Currency": "CurrencyIsoCode",
    "Opportunity Currency": "CurrencyIsoCode",
    "Amount Currency": "CurrencyIsoCode",
    "Probability (%)": "Probability",
    "Close Date": "CloseDate",
    "Opportunity Owner": "Owner.Name",
    "Lead Source": "LeadSource",
    "Closed": "IsClosed",
    "Won": "IsWon",
    "Loss Reason": "Loss_Reason__c",
    "Closed Lost Reason": "Loss_Reason__c",
    "Product Line": "Product_Line__c",
    "Product Family": "Product_Line__c",
    "Account ID": "AccountId",
    "Account Name": "Account.Name",
    "Industry": "Account.Industry",
    "Billing Country": "Account.BillingCountry",
    "Account Owner": "Account.Owner.Name",
}

#: API fields that are neither PIE fields nor worth keeping as custom fields.
IGNORED = frozenset(
    {
        "attributes",
        "SystemModstamp",
        "IsDeleted",
        "CreatedById",
        "LastModifiedById",
        "LastActivityDate",
        "LastViewedDate",
        "LastReferencedDate",
        "Account.Id",
        "Owner.Id",
        "FiscalQuarter",
        "FiscalYear",
        "Fiscal",
    }
)


def flatten(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """An API record with nested relationships -> dotted names; a flat record as it is."""
    if "attributes" not in record:
        return record
    flat: dict[str, Any] = {}
    _flatten(record, "", flat)
    return flat


def _flatten(record: Mapping[str, Any], prefix: str, into: dict[str, Any]) -> None:
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, Mapping):
            _flatten(value, f"{prefix}{key}.", into)
        else:
            into[f"{prefix}{key}"] = value


OPPORTUNITY = Vendor(
    name="salesforce",
    record="opportunity",
    fields=FIELDS,
    probability=percent,
    ignored=IGNORED,
    flatten=flatten,
)


def mapper(ctx: MapContext) -> CrmDealMapper:
    """The mapper of stream ``deals``: Opportunity records."""
    return CrmDealMapper(OPPORTUNITY, ctx)
