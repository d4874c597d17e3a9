"""The model registry on every backend: blessed-only registration, numbering under concurrency, aliases
with history, and loading that refuses a tampered artifact."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from taxiway import registry
from taxiway.errors import ArtifactCorruptError, NotFoundError, TaxiwayError
from taxiway.registry.blessing import GateResult, save_blessing
from taxiway.store import Store
from taxiway.train.packaging import save_model
from taxiway.train.tracking import start_run

X = np.array([[0.0], [1.0], [2.0], [3.0]])
Y = np.array([0, 0, 1, 1])


def _run(store: Store, *, blessed: bool | None, seed: int = 0) -> str:
    """A finished run with a packaged model; ``blessed``: a passing or failing blessing, or none (None)."""
    saved = save_model(LogisticRegression(C=1.0 + seed).fit(X, Y))
    with start_run(f"model-{seed}", store=store) as run:
        run.set_model(run.log_bytes(saved.name, saved.data))
        run.set_tags({"model_format": saved.format, "trusted_types": saved.trusted_types})
        run.set_lineage({"dataset_id": "d" * 64, "seed": seed})
    if blessed is not None:
        gates = [
            GateResult("beats_baseline", "pass" if blessed else "fail", 0.1, 0.01, "x"),
            GateResult("latency_p99", "pass", 1.0, 100.0, "y"),
        ]
        with store.write_session() as session, session.begin():
            save_blessing(session, run.id, gates, test_metrics={}, evaluation={})
    return run.id


def test_only_blessed_runs_are_registered_unless_forced_with_a_reason(store: Store) -> None:
    never, failed = _run(store, blessed=None, seed=1), _run(store, blessed=False, seed=2)
    with pytest.raises(registry.NotBlessedError, match="is not blessed: it was never validated") as caught:
        registry.register(store, never)
    assert caught.value.exit_code == 1 and "taxiway validate" in caught.value.hint
    with pytest.raises(registry.NotBlessedError, match="gates failed: beats_baseline"):
        registry.register(store, failed)
    with pytest.raises(TaxiwayError, match="--force needs --reason") as bad_input:
        registry.register(store, failed, force=True, reason="  ")
    assert bad_input.value.exit_code == 2
    assert registry.list_versions(store) == []

    version, is_new = registry.register(store, failed, force=True, reason="hotfix: gate known to be wrong")
    assert is_new and version.name == "v1" and version.forced and not version.is_blessed
    assert version.reason == "hotfix: gate known to be wrong" and version.blessing_id is not None


def test_versions_count_up_and_a_run_is_registered_once(store: Store) -> None:
    first, second = _run(store, blessed=True, seed=1), _run(store, blessed=True, seed=2)
    v1, new1 = registry.register(store, first)
    v2, new2 = registry.register(store, second[:8])  # a unique prefix is enough
    again, new_again = registry.register(store, first)
    assert (v1.name, v2.name, again.name) == ("v1", "v2", "v1") and (new1, new2, new_again) == (
        True,
        True,
        False,
    )
    assert not v2.forced and v2.blessing_id is not None and v2.lineage["seed"] == 2
    assert v2.lineage["run_id"] == second and v2.model_format == "skops"
    assert [v.name for v in registry.list_versions(store)] == ["v2", "v1"]
    assert registry.get_version(store, "2").run_id == second == registry.get_version(store, "v2").run_id


def test_concurrent_registrations_never_share_a_version_number(store: Store) -> None:
    runs = [_run(store, blessed=True, seed=seed) for seed in range(6)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(runs) + 2)

    def register(run_id: str) -> None:
        try:
            start.wait()
            registry.register(store, run_id)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    # Every run once, and the first run a second time: it must keep one version.
    threads = [threading.Thread(target=register, args=(run_id,)) for run_id in [*runs, runs[0], runs[1]]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    versions = registry.list_versions(store)
    assert sorted(v.version for v in versions) == list(range(1, 7))
    assert sorted(v.run_id for v in versions) == sorted(runs)


def test_aliases_move_between_versions_and_keep_their_history(store: Store) -> None:
    v1, _ = registry.register(store, _run(store, blessed=True, seed=1), alias="production")
    v2, _ = registry.register(store, _run(store, blessed=True, seed=2))
    assert registry.get_version(store, "production").version == 1 and v1.aliases == ("production",)
    change = registry.set_alias(store, "production", "v2", reason="v2 beats v1 in the canary")
    assert (change.previous_version, change.version) == (1, 2)
    registry.set_alias(store, "candidate", "production")  # an alias may name another alias's version
    registry.set_alias(store, "production", "1", reason="rollback")
    assert registry.get_version(store, "production").version == 1
    history = registry.alias_history(store, "production")
    assert [(h.previous_version, h.version, h.reason) for h in history] == [
        (2, 1, "rollback"),
        (1, 2, "v2 beats v1 in the canary"),
        (None, 1, None),
    ]
    assert {v.name: v.aliases for v in registry.list_versions(store)} == {
        "v2": ("candidate",),
        "v1": ("production",),
    }
    assert v2.version == 2
    with pytest.raises(TaxiwayError, match="alias 'v7' is not a valid name"):
        registry.set_alias(store, "v7", "1")
    with pytest.raises(TaxiwayError, match="alias 'Prod uction' is not a valid name"):
        registry.set_alias(store, "Prod uction", "1")
    with pytest.raises(NotFoundError, match="no model version v9"):
        registry.set_alias(store, "staging", "v9")
    for huge in ("v3000000000", "v99999999999999999999"):  # past the 32-bit column, past 64 bits
        with pytest.raises(NotFoundError, match=f"no model version {huge}"):
            registry.get_version(store, huge)
    with pytest.raises(NotFoundError, match="no model version or alias 'staging'"):
        registry.get_version(store, "staging")


def test_loading_a_version_verifies_its_artifact(store: Store) -> None:
    version, _ = registry.register(store, _run(store, blessed=True), alias="production")
    model = registry.load_model_version(store, "production")
    assert model.predict(X).tolist() == Y.tolist()
    target = Path(store.artifacts.path_of(version.artifact))
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte changed behind taxiway's back
    target.write_bytes(bytes(data))
    with pytest.raises(ArtifactCorruptError, match="was changed after it was written"):
        registry.load_model_version(store, "v1")


def test_a_run_without_a_model_cannot_be_registered(store: Store) -> None:
    with start_run("no-model", store=store) as run:
        run.log_metric("loss", 0.1)
    with pytest.raises(TaxiwayError, match="stored no packaged model"):
        registry.register(store, run.id, force=True, reason="try")
