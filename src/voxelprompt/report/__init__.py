"""Writers of results: JSON and CSV tables, mask pictures (PNG) and HTML reports (all atomic)."""

from voxelprompt.report.figures import mask_views
from voxelprompt.report.html import write_html_report
from voxelprompt.report.tables import write_json, write_table

__all__ = ["mask_views", "write_html_report", "write_json", "write_table"]
