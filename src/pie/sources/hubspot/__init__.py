"""HubSpot: the CRM API connector (``connector``, ``client``) and a local emulator of the API
(``portal``, ``emulator``, ``world``). See docs/connectors-hubspot.md."""
