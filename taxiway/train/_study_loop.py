"""A tuning worker's loop: ask the shared study for a trial, run it with a heartbeat, tell the result, until
the study has as many finished trials as it was asked for.

Every worker (this process, `taxiway train --workers K`'s helpers, `taxiway tune-worker` on other machines)
runs the same loop, so the study — not any one process — decides when tuning is done:

- The study keeps a **target**: the number of finished trials it should reach. Each `taxiway train --tune N`
  raises it by N (two at once raise it by 2N), under the study lock.
- A worker takes a new trial only while finished + running + waiting trials fall short of the target, and
  decides and creates the trial under the study lock, so K workers never overshoot it.
- A trial records a **heartbeat** every few seconds (Optuna's `RDBStorage` heartbeat). A worker killed with
  ``kill -9`` stops beating; once its trial is ``grace`` seconds silent, a waiting worker marks it failed
  (its taxiway run too) and Optuna's `RetryHeartbeatStaleTrialCallback` enqueues a copy with the same
  parameters, which the next free worker runs. Finished trials are in the database already: nothing
  finished is lost.
- A trial that failed because its model failed counts as finished (retrying would fail again); a trial
  failed for silence counts only once its retries are used up.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taxiway.train._trial import ERROR_ATTR, RUN_ID_ATTR, TrialFailed

if TYPE_CHECKING:
    import optuna

    from taxiway.store import Store

TARGET_ATTR = "taxiway_target_trials"  # study user attribute: finished trials the study should reach
WORKER_ATTR = "taxiway_worker"  # trial user attribute: host:pid of the process that ran it
# Trial system attribute Optuna's RetryHeartbeatStaleTrialCallback sets on a retry: the number of the trial
# it retries (tests/train/test_tune.py holds it equal to what Optuna's retried_trial_number reads).
RETRY_OF_ATTR = "failed_trial"
# A live worker writes a heartbeat every HEARTBEAT_S; one silent for GRACE_FACTOR beats is taken for dead.
# 10 s keeps the writes negligible beside a trial (one row update), and a dead worker's trial is retried
# within ~30 s.
HEARTBEAT_S = 10.0
GRACE_FACTOR = 3
MAX_RETRIES = 2  # a trial whose worker died is run again at most this often
WAIT_POLL_S = 0.5  # how often an idle worker looks for silent trials while others finish theirs


@dataclass(frozen=True)
class StudyProgress:
    """Where a study stands against its target."""

    finished: int  # complete, pruned, failed by its model, or failed for silence with no retry left
    running: int
    waiting: int  # enqueued, e.g. the retry of a trial whose worker died
    target: int

    @property
    def is_done(self) -> bool:
        return self.finished >= self.target

    @property
    def has_room(self) -> bool:
        """Whether one more trial is needed beyond those already running or waiting."""
        return self.waiting > 0 or self.finished + self.running < self.target


def study_progress(study: optuna.Study) -> StudyProgress:
    """Count the study's trials against its target (0 when it has none).

    Runs under the study lock before every trial, so it stays cheap as the study grows: one pass counting
    states, and the retries looked up only when some trial failed. (Optuna's
    ``RetryHeartbeatStaleTrialCallback.retried_trial_number`` reads the same attribute, but as an
    experimental function it issues a warning per call: over 10,000 trials, 0.2 s before every trial.)
    """
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    count = Counter(t.state for t in trials)
    finished = count[TrialState.COMPLETE] + count[TrialState.PRUNED]
    failed = [t for t in trials if t.state == TrialState.FAIL] if count[TrialState.FAIL] else []
    if failed:
        retried = {t.system_attrs[RETRY_OF_ATTR] for t in trials if RETRY_OF_ATTR in t.system_attrs}
        finished += sum(1 for t in failed if ERROR_ATTR in t.user_attrs or t.number not in retried)
    return StudyProgress(
        finished=finished,
        running=count[TrialState.RUNNING],
        waiting=count[TrialState.WAITING],
        target=int(study.user_attrs.get(TARGET_ATTR, 0)),
    )


def raise_target(study: optuna.Study, n_trials: int) -> int:
    """Ask the study for ``n_trials`` more finished trials; call under the study lock. Returns the target."""
    progress = study_progress(study)
    target = max(progress.target, progress.finished) + n_trials
    study.set_user_attr(TARGET_ATTR, target)
    return target


def heartbeat_storage(
    url: str, engine_kwargs: dict[str, Any], store: Store, *, heartbeat_s: float
) -> optuna.storages.RDBStorage:
    """Optuna's storage with heartbeats on, retrying a silent trial and marking its taxiway run failed."""
    import optuna

    with _experimental_features():
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)

    def failed_for_silence(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        run_id = trial.user_attrs.get(RUN_ID_ATTR)
        if run_id is not None:
            _end_silent_run(store, str(run_id), trial.user_attrs.get(WORKER_ATTR))
        retry(study, trial)

    with _experimental_features():
        storage: optuna.storages.RDBStorage = optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=max(1, round(heartbeat_s)),
            grace_period=max(2, round(heartbeat_s * GRACE_FACTOR)),
            heartbeat_stale_trial_callback=failed_for_silence,
        )
    return storage


@contextmanager
def _experimental_features() -> Iterator[None]:
    """Optuna marks heartbeats and their retry experimental (since 2.8); taxiway relies on them knowingly."""
    import warnings

    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        yield


def work_until_target(
    study: optuna.Study,
    objective: Callable[[Any], float],
    lock: Callable[[], AbstractContextManager[None]],
) -> None:
    """Run trials of ``study`` until it reaches its target; ``lock`` is the study lock shared by all workers.

    Raises:
        TaxiwayError: the objective's (bad search space, bad model code): the trial is told failed first.
    """
    import optuna

    worker = f"{socket.gethostname()}:{os.getpid()}"
    while True:
        with lock():
            progress = study_progress(study)
            if progress.is_done:
                return
            trial = _ask(study) if progress.has_room else None
            if trial is not None:
                trial.set_user_attr(WORKER_ATTR, worker)
        if trial is None:  # the last trials run elsewhere: wait for them, or for their workers' silence
            with _experimental_features():
                optuna.storages.fail_stale_trials(study)
            time.sleep(WAIT_POLL_S)
            continue
        with _beating(study, trial):
            _run_trial(study, trial, objective)


def _ask(study: optuna.Study) -> optuna.Trial:
    import warnings

    with warnings.catch_warnings():
        # Optuna warns that heartbeats are meant for Study.optimize, which beats for its trials; this
        # loop beats for the trials it asks for itself (_beating).
        warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used", UserWarning)
        return study.ask()


def _run_trial(study: optuna.Study, trial: optuna.Trial, objective: Callable[[Any], float]) -> None:
    from optuna import TrialPruned
    from optuna.trial import TrialState

    try:
        value = objective(trial)
    except TrialPruned:
        study.tell(trial, state=TrialState.PRUNED)
    except TrialFailed:
        study.tell(trial, state=TrialState.FAIL)
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)
        raise
    else:
        study.tell(trial, value)


@contextmanager
def _beating(study: optuna.Study, trial: optuna.Trial) -> Iterator[None]:
    """Record the trial's heartbeat now and every interval until the block ends."""
    # The study's storage: Optuna wraps the RDBStorage it was given in a cache that passes heartbeats on,
    # and keeps no public handle on either.
    storage: Any = study._storage
    interval = storage.get_heartbeat_interval() if hasattr(storage, "get_heartbeat_interval") else None
    trial_id = trial._trial_id
    if interval is None:
        yield
        return
    storage.record_heartbeat(trial_id)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            storage.record_heartbeat(trial_id)

    thread = threading.Thread(target=beat, name=f"heartbeat-trial-{trial.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _end_silent_run(store: Store, run_id: str, worker: object) -> None:
    from taxiway.errors import NotFoundError
    from taxiway.train.runs import get_run
    from taxiway.train.tracking import ActiveRun

    try:
        if get_run(store, run_id).status != "running":  # it ended before its worker fell silent
            return
    except NotFoundError:
        return
    who = f"worker {worker}" if worker else "its worker"
    ActiveRun(run_id, store).end(
        "failed", error=f"{who} stopped sending heartbeats (killed?); the trial was retried by another worker"
    )
