"""File import: PIE's JSON format and CRM CSV exports, into the store through the unit of work.

The CLI and API call ``import_file``; ``ImportReport`` is what they print or return.
"""

from pie.importing.report import EntityCounts, ImportReport, Rejected
from pie.importing.service import FORMATS, detect_format, import_file

__all__ = ["FORMATS", "EntityCounts", "ImportReport", "Rejected", "detect_format", "import_file"]
