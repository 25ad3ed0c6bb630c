"""HubSpot: the CRM API connector (``connector``, ``client``) and a local emulator of the API
(``portal``, ``emulator``, ``world``), registered with ``pie.sources.registry`` on import. See
docs/connectors-hubspot.md."""

from pie.sources.hubspot import registration as registration
