"""Pipedrive: the connector (``connector.PipedriveSource`` over ``client.PipedriveClient``)
and a local emulator of its API (``emulator.Emulator`` over ``world.World``). The mapper is
``pie.importing.mapping.pipedrive``. See docs/connectors-pipedrive.md."""
