"""File sources: PIE JSON, CSV reports and stage histories, event logs. Each reads one file
and yields its records (``pie.importing.source.RawRecord``); none is resumable: a file is
stored in one transaction. API connectors are sources too (``adapters/sources/<vendor>``)."""
