# Every table module registers its tables on tables.Base.metadata when imported.
from pie.adapters.db import tables_intelligence as _tables_intelligence  # noqa: F401
