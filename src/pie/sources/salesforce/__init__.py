"""Salesforce: a connector (simple-salesforce, SOQL with ``nextRecordsUrl`` paging, incremental
on ``SystemModstamp``, deletes through ``queryAll``) and a local emulator of the REST API.
See docs/connectors-salesforce.md."""

from pie.sources.registry import register, register_emulator
from pie.sources.salesforce.registration import SalesforceConnector, SalesforceEmulatorEntry

register(SalesforceConnector())
register_emulator(SalesforceEmulatorEntry())
