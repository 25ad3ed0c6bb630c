"""Ingestion: extract (a source's raw records) -> map (drafts of the unified model) -> load
(the sink, through the unit of work). See docs/pipeline.md.

The CLI and API call ``import_file`` (a file, one transaction) or ``import_source`` (a
resumable source, one transaction per batch with its cursor); ``ImportReport`` is what they
print or return.
"""

from pie.importing.report import EntityCounts, ImportReport, Rejected
from pie.importing.service import detect_format, import_file, import_source

__all__ = [
    "EntityCounts",
    "ImportReport",
    "Rejected",
    "detect_format",
    "import_file",
    "import_source",
]
