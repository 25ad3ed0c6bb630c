"""Salesforce: a connector (simple-salesforce, SOQL with ``nextRecordsUrl`` paging, incremental
on ``SystemModstamp``, deletes through ``queryAll``) and a local emulator of the REST API.
See docs/connectors-salesforce.md."""
