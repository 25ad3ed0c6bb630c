"""Pipedrive: the connector (``connector.PipedriveSource`` over ``client.PipedriveClient``)
and a local emulator of its API (``emulator.Emulator`` over ``world.World``), registered in
``pie.sources.registry`` on import. The mapper is ``pie.importing.mapping.pipedrive``. See
docs/connectors-pipedrive.md."""

from pie.sources.pipedrive.registration import PipedriveConnector, PipedriveEmulator
from pie.sources.registry import register, register_emulator

register(PipedriveConnector())
register_emulator(PipedriveEmulator())
