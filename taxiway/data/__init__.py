"""Data: dataset versions stored by content hash, read from CSV or Parquet, with an inferred schema."""

from taxiway.data.profile import ColumnSchema, Kind, Schema, profile_frame
from taxiway.data.reading import DataFormat, FileKind, detect_kind, read_table
from taxiway.data.versions import (
    AddProgress,
    AddResult,
    DatasetVersion,
    add_dataset,
    get_dataset,
    latest_dataset,
    list_datasets,
    load_dataset,
)

__all__ = [
    "AddProgress",
    "AddResult",
    "ColumnSchema",
    "DataFormat",
    "DatasetVersion",
    "FileKind",
    "Kind",
    "Schema",
    "add_dataset",
    "detect_kind",
    "get_dataset",
    "latest_dataset",
    "list_datasets",
    "load_dataset",
    "profile_frame",
    "read_table",
]
