"""The desired deployment on every backend: each action and its refusals, generations that count every
change even under concurrent writers, rollback and roll forward, and the production alias following live."""

from __future__ import annotations

import threading

import pytest

from taxiway import registry
from taxiway.deploy import state
from taxiway.deploy.changes import deploy, promote, rollback, stop
from taxiway.deploy.state import DeploymentState, desired_state
from taxiway.errors import NotFoundError, TaxiwayError
from taxiway.store import Store
from taxiway.store.checks import Check
from tests.test_registry import _run


def register_versions(store: Store, *blessed: bool) -> list[str]:
    """Register one version per flag (v1, v2, ...); an unblessed one is forced with a reason."""
    names = []
    for seed, is_blessed in enumerate(blessed, start=1):
        run_id = _run(store, blessed=is_blessed, seed=seed)
        version, _ = registry.register(
            store, run_id, force=not is_blessed, reason=None if is_blessed else "demo"
        )
        names.append(version.name)
    return names


def roles(s: DeploymentState) -> tuple[int | None, int | None, int | None, int | None, float]:
    return s.live, s.previous_live, s.shadow, s.canary, s.canary_weight


def production(store: Store) -> str:
    return registry.get_version(store, "production").name


def test_nothing_is_deployed_at_first(store: Store) -> None:
    first = desired_state(store)
    assert first.generation == 0 and first.live is None and first.created_at is None
    assert state.deployment_history(store) == []


def test_live_deploys_count_generations_keep_the_previous_and_move_production(store: Store) -> None:
    register_versions(store, True, True)
    one = deploy(store, "v1", "live")
    assert (one.generation, one.action, roles(one)) == (1, "deploy-live", (1, None, None, None, 0.0))
    assert production(store) == "v1" and one.created_at is not None and not one.forced
    two = deploy(store, "2", "live", reason="better on every slice")
    assert (two.generation, roles(two), two.reason) == (2, (2, 1, None, None, 0.0), "better on every slice")
    assert production(store) == "v2" and desired_state(store) == two
    assert registry.alias_history(store, "production")[0].reason == "better on every slice"
    again = deploy(store, "production", "live")  # what is already live: nothing for the servers to do
    assert again == two
    assert [s.generation for s in state.deployment_history(store)] == [2, 1]
    assert [s.generation for s in state.deployment_history(store, limit=1)] == [2]


def test_live_and_canary_need_a_blessed_version_or_force_with_a_reason(store: Store) -> None:
    register_versions(store, True, False)
    deploy(store, "v1", "live")
    with pytest.raises(
        registry.NotBlessedError, match="v2 is not blessed .registered with --force: demo."
    ) as no:
        deploy(store, "v2", "live")
    assert no.value.exit_code == 1 and "--force --reason" in no.value.hint and "--as shadow" in no.value.hint
    with pytest.raises(registry.NotBlessedError, match="cannot go canary"):
        deploy(store, "v2", "canary", weight=0.1)
    with pytest.raises(TaxiwayError, match="--force needs --reason") as bad:
        deploy(store, "v2", "live", force=True, reason="  ")
    assert bad.value.exit_code == 2 and desired_state(store).generation == 1

    watched = deploy(store, "v2", "shadow")  # a shadow never answers users: any registered version
    assert roles(watched) == (1, None, 2, None, 0.0) and not watched.forced
    forced = deploy(store, "v2", "live", force=True, reason="hotfix: gate known to be wrong")
    assert roles(forced) == (2, 1, None, None, 0.0)  # the shadow of the same version is cleared
    assert forced.forced and forced.reason == "hotfix: gate known to be wrong" and production(store) == "v2"
    blessed_forced = deploy(store, "v1", "live", force=True, reason="no need")
    assert not blessed_forced.forced  # nothing was bypassed


def test_shadow_and_canary_need_something_live_and_another_version(store: Store) -> None:
    register_versions(store, True, True, True)
    with pytest.raises(TaxiwayError, match="nothing is live, so v2 cannot be the shadow") as nothing:
        deploy(store, "v2", "shadow")
    assert "taxiway deploy vN" in nothing.value.hint
    deploy(store, "v1", "live")
    with pytest.raises(TaxiwayError, match="v1 is already live, so it cannot also be the canary"):
        deploy(store, "v1", "canary", weight=0.2)
    with pytest.raises(NotFoundError, match="no model version v9"):
        deploy(store, "v9", "live")
    with pytest.raises(NotFoundError, match="no model version or alias 'staging'"):
        deploy(store, "staging", "shadow")
    with pytest.raises(TaxiwayError, match="role 'blue' is not a deployment role"):
        deploy(store, "v2", "blue")  # type: ignore[arg-type]
    assert desired_state(store).generation == 1


def test_a_canary_needs_a_weight_strictly_between_0_and_1_and_no_other_role_takes_one(store: Store) -> None:
    for weight in (0.0, 1.0, 1.5, -0.1, float("nan")):
        with pytest.raises(TaxiwayError, match="is not a share between 0 and 1") as caught:
            deploy(store, "v2", "canary", weight=weight)
        assert "--weight 0.1" in caught.value.hint
    with pytest.raises(TaxiwayError, match="a canary needs --weight"):
        deploy(store, "v2", "canary")
    for role in ("live", "shadow"):
        with pytest.raises(TaxiwayError, match=f"--weight only applies to a canary, not to {role}"):
            deploy(store, "v2", role, weight=0.1)  # type: ignore[arg-type]


def test_a_version_holds_one_role_and_a_live_deploy_keeps_other_candidates(store: Store) -> None:
    register_versions(store, True, True, True, True)
    deploy(store, "v1", "live")
    assert roles(deploy(store, "v2", "shadow")) == (1, None, 2, None, 0.0)
    moved = deploy(store, "v2", "canary", weight=0.1)  # the shadow becomes the canary
    assert (moved.action, roles(moved)) == ("deploy-canary", (1, None, None, 2, 0.1))
    reweighted = deploy(store, "v2", "canary", weight=0.25)
    assert reweighted.generation == moved.generation + 1 and reweighted.canary_weight == 0.25
    assert deploy(store, "v2", "canary", weight=0.25) == reweighted  # same weight: no change
    back = deploy(store, "v2", "shadow")
    assert roles(back) == (1, None, 2, None, 0.0)
    both = deploy(store, "v3", "canary", weight=0.1)
    assert roles(both) == (1, None, 2, 3, 0.1)
    live = deploy(store, "v4", "live")  # another version: shadow and canary stay
    assert roles(live) == (4, 1, 2, 3, 0.1)
    assert roles(deploy(store, "v3", "live")) == (3, 4, 2, None, 0.0)  # the canary's version went live


def test_promote_moves_the_candidate_live_and_refuses_to_guess(store: Store) -> None:
    register_versions(store, True, True, True, False)
    deploy(store, "v1", "live")
    with pytest.raises(TaxiwayError, match="no shadow or canary to promote") as none:
        promote(store)
    assert "--as shadow" in none.value.hint
    deploy(store, "v2", "shadow")
    deploy(store, "v3", "canary", weight=0.1)
    with pytest.raises(TaxiwayError, match=r"both a shadow \(v2\) and a canary \(v3\)") as both:
        promote(store)
    assert both.value.hint == "pass --from shadow or --from canary"
    promoted = promote(store, source="canary", reason="canary as good as live")
    assert (promoted.action, roles(promoted)) == ("promote", (3, 1, 2, None, 0.0))
    assert production(store) == "v3" and promoted.reason == "canary as good as live"
    with pytest.raises(TaxiwayError, match="there is no canary to promote"):
        promote(store, source="canary")
    assert roles(promote(store)) == (2, 3, None, None, 0.0)  # the only candidate left: the shadow
    assert production(store) == "v2"

    deploy(store, "v4", "shadow")  # unblessed: may watch, may not be promoted
    with pytest.raises(registry.NotBlessedError, match="the shadow v4 is not blessed") as unblessed:
        promote(store)
    assert "taxiway deploy v4 --force --reason" in unblessed.value.hint
    with pytest.raises(TaxiwayError, match="cannot promote from 'live'"):
        promote(store, source="live")  # type: ignore[arg-type]


def test_rollback_swaps_live_with_the_previous_and_twice_rolls_forward(store: Store) -> None:
    register_versions(store, True, True, True)
    with pytest.raises(TaxiwayError, match="nothing to roll back to: nothing was ever deployed"):
        rollback(store)
    deploy(store, "v1", "live")
    with pytest.raises(TaxiwayError, match="nothing to roll back to: v1 was live first") as first:
        rollback(store)
    assert "taxiway deploy vN" in first.value.hint
    deploy(store, "v2", "live")
    deploy(store, "v3", "shadow")
    back = rollback(store, reason="errors doubled")
    assert (back.action, roles(back), back.generation) == ("rollback", (1, 2, 3, None, 0.0), 4)
    assert production(store) == "v1"
    forward = rollback(store, reason="false alarm")
    assert roles(forward) == (2, 1, 3, None, 0.0) and production(store) == "v2"
    assert [(c.previous_version, c.version, c.reason) for c in registry.alias_history(store, "production")][
        :2
    ] == [(1, 2, "false alarm"), (2, 1, "errors doubled")]


def test_stop_clears_the_shadow_or_the_canary(store: Store) -> None:
    register_versions(store, True, True, True)
    deploy(store, "v1", "live")
    with pytest.raises(TaxiwayError, match="there is no shadow to stop"):
        stop(store, "shadow")
    deploy(store, "v2", "shadow")
    deploy(store, "v3", "canary", weight=0.3)
    stopped = stop(store, "canary", reason="confidence dropped")
    assert (stopped.action, roles(stopped), stopped.reason) == (
        "stop-canary",
        (1, None, 2, None, 0.0),
        "confidence dropped",
    )
    assert roles(stop(store, "shadow")) == (1, None, None, None, 0.0)
    assert production(store) == "v1"
    with pytest.raises(TaxiwayError, match="cannot undeploy 'live'"):
        stop(store, "live")  # type: ignore[arg-type]


def test_concurrent_changes_get_consecutive_generations_and_lose_nothing(store: Store) -> None:
    names = register_versions(store, *[True] * 6)
    deploy(store, "v1", "live")
    results: list[DeploymentState] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(names) - 1)

    def change(name: str) -> None:
        try:
            start.wait()
            results.append(deploy(store, name, "live", reason=f"race {name}"))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=change, args=(name,)) for name in names[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(s.generation for s in results) == [2, 3, 4, 5, 6]
    history = list(reversed(state.deployment_history(store)))
    # Each change built on the one before it: its previous_live is the live version it replaced.
    assert [s.previous_live for s in history[1:]] == [s.live for s in history[:-1]]
    assert sorted(s.live for s in history[1:] if s.live is not None) == [2, 3, 4, 5, 6]
    assert production(store) == f"v{history[-1].live}"


def test_a_deploy_in_a_ci_environment_proves_no_continuous_delivery(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CD is proven by the delivery loop's own run, not by a CI variable around a hand-typed deploy.
    register_versions(store, True, True, True)
    monkeypatch.setenv("CI", "true")
    deploy(store, "v1", "live")
    deploy(store, "v2", "live")
    assert store.evidence.latest([Check.DEPLOY_CD]) == {}
