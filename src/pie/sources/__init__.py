"""Sources of records on the network: one package per vendor (``pie.sources.salesforce``, ...)
with its connector (a ``pie.importing.source.Source`` factory) and its HTTP emulator. Each
package registers itself in ``pie.sources.registry`` when imported; see docs/connectors.md."""
