"""The store: metadata database + artifact store + the evidence log on top of them."""

from taxiway.store.artifacts import ArtifactStore
from taxiway.store.evidence import Evidence, EvidenceLog
from taxiway.store.store import Store
from taxiway.store.uris import StoreLocation, resolve_store_location

__all__ = ["ArtifactStore", "Evidence", "EvidenceLog", "Store", "StoreLocation", "resolve_store_location"]
