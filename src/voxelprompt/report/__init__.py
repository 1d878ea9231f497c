"""Writers of results: JSON and CSV tables (atomic)."""

from voxelprompt.report.tables import write_json, write_table

__all__ = ["write_json", "write_table"]
