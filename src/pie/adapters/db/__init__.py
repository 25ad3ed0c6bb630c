# Table modules of each area register on tables.Base's metadata when imported: import them all
# here, so the migrations and the model checks see every table.
from pie.adapters.db import tables_connections as _tables_connections  # noqa: F401
