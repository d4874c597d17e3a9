"""The model registry: blessings left by validation, numbered model versions and their aliases."""

from taxiway.registry.blessing import Blessing, GateResult, get_blessing, latest_blessing, save_blessing
from taxiway.registry.versions import (
    ALIAS,
    AliasChange,
    ModelVersion,
    NotBlessedError,
    alias_history,
    get_version,
    list_versions,
    load_model_version,
    move_alias,
    register,
    set_alias,
)

__all__ = [
    "ALIAS",
    "AliasChange",
    "Blessing",
    "GateResult",
    "ModelVersion",
    "NotBlessedError",
    "alias_history",
    "get_blessing",
    "get_version",
    "latest_blessing",
    "list_versions",
    "load_model_version",
    "move_alias",
    "register",
    "save_blessing",
    "set_alias",
]
