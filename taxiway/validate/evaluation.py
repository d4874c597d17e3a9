"""Everything `taxiway validate` measures about one run, gathered into one record the gates then judge.

The run's packaged model is loaded as serving would load it and predicts the validation rows afresh: the
evaluation is of the artifact that would ship, not of the object that training held in memory. The
held-out test split is predicted here, once, and only recorded: nothing chooses between models on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from threadpoolctl import threadpool_limits

from taxiway.data.improvement import improvement_inputs
from taxiway.data.split import SplitFrames
from taxiway.measure.calibration import Calibration, calibration
from taxiway.measure.metrics import Task
from taxiway.measure.stability import Stability, check_outputs
from taxiway.project import Project
from taxiway.registry.blessing import jsonable
from taxiway.store.checks import Check
from taxiway.train.runs import Run
from taxiway.validate.contention import HOST_REFERENCE_FILE
from taxiway.validate.feature_cost import FeatureCosts, feature_cost
from taxiway.validate.feature_value import FeatureValue
from taxiway.validate.inclusion import InclusionGap, inclusion_gaps
from taxiway.validate.plausibility import HeldOutGap, StateOfTheArt, held_out_gap, state_of_the_art
from taxiway.validate.reference import (
    BaselineComparison,
    Reference,
    compare_with_baseline,
    production_reference,
)
from taxiway.validate.run_context import (
    RunContext,
    check_stability,
    feature_values,
    load_context,
    outputs,
    score_test_split,
    staleness,
)
from taxiway.validate.serving import Artifact, ServingMeasurement, ServingProbe, start_serving_probe
from taxiway.validate.slices import SliceMetric, slice_metrics
from taxiway.validate.staleness import StalenessImpact

Progress = Callable[[str], None]

__all__ = ["Evaluation", "evaluate_run", "start_probe"]


@dataclass(frozen=True)
class Evaluation:
    """One run, measured: quality against the baseline and production, slices, groups, calibration,
    stability, serving, staleness and the features' value and cost. ``notes`` say what was left out, why.
    """

    run_id: str
    run_name: str
    task: Task
    metric: str
    threshold: float | None
    valid_rows: int
    valid_value: float | None
    is_finite: bool  # the validation predictions hold no NaN / infinity, so quality could be measured
    baseline: BaselineComparison | None
    reference: str | None  # the model slices are compared with, e.g. "v3 (production)"
    slices: tuple[SliceMetric, ...]
    inclusion: tuple[InclusionGap, ...]
    calibration: Calibration | None
    stability: Stability
    serving: ServingMeasurement
    staleness: StalenessImpact | None
    feature_values: tuple[FeatureValue, ...]
    feature_costs: FeatureCosts
    test: dict[str, Any]
    notes: tuple[str, ...]
    # problem.smallest_improvement, or (unanswered) the smallest gain this split's dev set can detect
    smallest_improvement: float = 0.0
    smallest_improvement_derived: bool = False
    state_of_the_art: StateOfTheArt | None = None
    state_of_the_art_note: str = ""  # why there is none
    test_gap: HeldOutGap | None = None

    def to_json(self) -> dict[str, Any]:
        """Everything but the test results (kept apart, in the blessing's ``test_metrics``)."""
        document = jsonable(self)
        document.pop("test")
        document["slices"] = [{**jsonable(s), "drop": jsonable(s.drop)} for s in self.slices]
        document["inclusion"] = [{**jsonable(g), "gap": jsonable(g.gap)} for g in self.inclusion]
        document["serving"]["throughput_rps"] = jsonable(self.serving.throughput_rps)
        document["feature_values"] = [{**jsonable(f), "helps": f.helps} for f in self.feature_values]
        if self.test_gap is not None:
            document["test_gap"] |= {
                "error_ratio": jsonable(self.test_gap.error_ratio),
                "z": jsonable(self.test_gap.z),
            }
        return dict(document)


def evaluate_run(
    project: Project,
    run: Run,
    *,
    progress: Progress | None = None,
    ctx: RunContext | None = None,
    probe: ServingProbe | None = None,
) -> Evaluation:
    """Measure ``run``'s packaged model on its split's validation and test rows.

    A caller that loaded the context, or started the serving probe (:func:`start_probe`), passes them in;
    a probe passed in is the caller's to close.

    Raises:
        TaxiwayError: the run did not finish or has no packaged model or split, or a fresh process cannot
            load the model.
        DataError: the charter names slice or protected columns the data does not have.
    """
    say = progress or (lambda _: None)
    say("loading the split and the packaged model")
    ctx = ctx or load_context(project, run)  # a caller that loaded it already passes it in
    if probe is not None:
        return _evaluate(project, run, ctx, probe, say)
    # The serving probe runs in its own process from the start: it times CPU, so the work below does not
    # change its figures, and on two cores its seconds overlap the evaluation's.
    started = start_probe(project, run, ctx.frames, ctx.features)
    try:
        return _evaluate(project, run, ctx, started, say)
    finally:
        started.close()


def start_probe(
    project: Project,
    run: Run,
    frames: SplitFrames,
    features: list[str],
    *,
    hand_over: bool = False,
    others: dict[str, Artifact] | None = None,
) -> ServingProbe:
    """Start the fresh serving process that measures ``run``'s packaged model on the first validation rows
    (training rows when there are none); see :func:`taxiway.validate.serving.start_serving_probe`."""
    rows = frames.valid if len(frames.valid) else frames.train
    classifies = project.charter.problem.task == "classification"
    return start_serving_probe(
        project.store.artifacts.get_bytes(str(run.model_artifact)),
        model_format=str(run.tags.get("model_format", "skops")),
        trusted_types=list(run.tags.get("trusted_types", [])),
        rows=rows[features],
        method="predict_proba" if classifies else "predict",
        threads=project.charter.train.threads,
        root=project.root,
        hand_over=hand_over,
        others=others,
        reference_file=project.root / HOST_REFERENCE_FILE,
    )


def _evaluate(project: Project, run: Run, ctx: RunContext, probe: ServingProbe, say: Progress) -> Evaluation:
    charter, settings, seed = project.charter, project.charter.validation, project.charter.train.seed
    valid_rows = ctx.frames.valid
    notes: list[str] = []
    baseline: BaselineComparison | None = None
    reference: Reference | None = None
    slices: list[SliceMetric] = []
    groups: list[InclusionGap] = []
    values: list[FeatureValue] = []
    calibrated: Calibration | None = None
    tested: dict[str, Any] = {"rows": len(ctx.frames.test), "error": "not measured"}
    gap: HeldOutGap | None = None
    with threadpool_limits(charter.train.threads):
        say("predicting validation and test rows, checking the outputs")
        valid, test = ctx.predict(valid_rows), ctx.predict(ctx.frames.test)
        is_finite = check_outputs(outputs(valid), source="valid").non_finite == 0
        if not is_finite:
            notes.append("the validation predictions hold NaN or infinity: their quality cannot be measured")
        else:
            say("comparing with the best baseline (paired bootstrap)")
            baseline, base = compare_with_baseline(
                project.store,
                run,
                valid,
                ctx.metric,
                costs=ctx.costs,
                resamples=settings.bootstrap_resamples,
                significance=settings.significance,
                seed=seed,
                notes=notes,
            )
            say("slices, inclusion and calibration")
            reference = _slice_reference(ctx, base, notes)
            slices = slice_metrics(
                valid,
                {c: valid_rows[c] for c in charter.data.slice_columns},
                ctx.metric,
                costs=ctx.costs,
                threshold=ctx.threshold,
                reference=reference.predictions if reference is not None else None,
                reference_threshold=reference.threshold if reference is not None else None,
                resamples=settings.bootstrap_resamples,
                seed=seed,
            )
            groups = inclusion_gaps(
                valid,
                {c: valid_rows[c] for c in charter.data.protected_columns},
                ctx.metric,
                costs=ctx.costs,
                threshold=ctx.threshold,
                min_rows=settings.min_slice_rows,
            )
            calibrated = calibration(valid) if ctx.task == "classification" else None
            say("scoring the held-out test split")
            tested = score_test_split(ctx, test)
            if "error" not in tested:
                gap = held_out_gap(
                    valid,
                    test,
                    ctx.metric,
                    costs=ctx.costs,
                    threshold=ctx.threshold,
                    resamples=settings.bootstrap_resamples,
                    seed=seed,
                )
            say("measuring feature value (permutation importance)")
            values = feature_values(ctx, seed)
        say("measuring feature cost")
        costs_found = feature_cost(ctx.model, valid_rows[ctx.features], predict=ctx.method)
        say("measuring staleness impact")
        impact = staleness(ctx, notes)
    say("the smallest improvement that matters and the state of the art")
    smallest, derived = _smallest_improvement(ctx)
    sota, sota_note = state_of_the_art(charter, ctx.metric)
    say("measuring latency, memory and throughput in a fresh process")
    serving = probe.result()
    with threadpool_limits(charter.train.threads):
        # the rows the probe predicted one at a time, as a server does, are checked with the rest
        single = serving.single_outputs if len(valid_rows) and serving.single_outputs else None
        stability = check_stability(ctx, valid, test, single)
    return Evaluation(
        run_id=run.id,
        run_name=run.name,
        task=ctx.task,
        metric=ctx.metric,
        threshold=ctx.threshold,
        valid_rows=len(valid_rows),
        valid_value=ctx.value(valid, ctx.threshold) if is_finite else None,
        is_finite=is_finite,
        baseline=baseline,
        reference=reference.label if reference is not None else None,
        slices=tuple(slices),
        inclusion=tuple(groups),
        calibration=calibrated,
        stability=stability,
        serving=serving,
        staleness=impact,
        feature_values=tuple(values),
        feature_costs=costs_found,
        test=tested,
        notes=tuple(notes),
        smallest_improvement=smallest,
        smallest_improvement_derived=derived,
        state_of_the_art=sota,
        state_of_the_art_note=sota_note,
        test_gap=gap,
    )


def _smallest_improvement(ctx: RunContext) -> tuple[float, bool]:
    """The charter's smallest improvement, else the one derived from the dev set: the value `taxiway train`
    recorded for the same inputs, or (another split, a changed charter) derived again."""
    charter = ctx.project.charter
    if charter.problem.smallest_improvement is not None:
        return charter.problem.smallest_improvement, False
    settings = {"target": ctx.target, "task": ctx.task, "key_column": charter.data.key_column}
    inputs = improvement_inputs(str(ctx.run.split_id), settings, charter, seed=charter.split.seed)
    trained = ctx.project.store.evidence.latest([Check.TRAIN_BASELINES]).get(Check.TRAIN_BASELINES)
    if trained is not None and trained.details.get("smallest_improvement_inputs") == inputs:
        return float(trained.details["smallest_improvement"]), True
    from taxiway.data.power import smallest_improvement  # fits a baseline: only when nothing recorded fits

    return smallest_improvement(ctx.frames, settings, charter, seed=charter.split.seed)


def _slice_reference(ctx: RunContext, base: Reference | None, notes: list[str]) -> Reference | None:
    """Slices are compared with the production model when there is one that can score the rows."""
    if not ctx.project.charter.data.slice_columns:
        return base
    rows = ctx.frames.valid
    production, why = production_reference(
        ctx.project.store,
        rows[ctx.features],
        rows[ctx.target],
        ctx.task,
        root=ctx.project.root,
        exclude=ctx.run.id,
    )
    if production is not None:
        return production
    notes.append(f"slices compared with the best baseline: {why}")
    return base
