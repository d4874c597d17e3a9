"""Log the benchmark's fitted model with ``mlflow.sklearn`` (run by benchmarks/serving.py in the MLflow venv).

Usage: ``benchmarks/.venvs/mlflow/bin/python benchmarks/serving_mlflow_model.py MODEL.pkl ROW.json DIR``

Logs the pickled estimator into a SQLite tracking store in DIR (artifacts in DIR/artifacts), in MLflow's
default format (skops), with a signature inferred from the request row and
``pyfunc_predict_fn="predict_proba"``, so that the scoring server answers the same class probabilities as
the other servers. Prints one JSON line: the model URI and the tracking URI
that ``mlflow models serve`` needs.

Not imported by taxiway or its tests: it needs ``mlflow``, which is not installed in the project's venv.
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

TREE_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"


def main() -> None:
    model_path, row_path, folder = (Path(arg) for arg in sys.argv[1:4])
    folder.mkdir(parents=True, exist_ok=True)
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature

    tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.create_experiment(
        "serving-benchmark", artifact_location=(folder / "artifacts").as_uri()
    )
    with model_path.open("rb") as file:
        model = pickle.load(file)  # our own file (benchmarks/serving.py)
    row = json.loads(row_path.read_text())
    frame = pd.DataFrame([row])[list(model.feature_names_in_)]
    signature = infer_signature(frame, model.predict_proba(frame))
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            pyfunc_predict_fn="predict_proba",
            # MLflow's default format (skops) refuses the trees' node arrays unless told to trust them
            skops_trusted_types=[TREE_PREDICTOR],
        )
    print(
        json.dumps({"model_uri": info.model_uri, "tracking_uri": tracking_uri, "mlflow": mlflow.__version__})
    )


if __name__ == "__main__":
    main()
