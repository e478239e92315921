"""The Kubeflow Pipelines v2 DSL program design_ml_pipeline emits (placeholders: @@NAME@@).

Components use the standard library only (plus mlflow/boto3 imported inside the branch that needs them), so the
same code runs with KFP's local SubprocessRunner on a CSV and on a cluster. Two gates: data validation (schema +
statistics thresholds) guards feature engineering and training; evaluation against the champion guards
registration and deployment.
"""

KFP_PROGRAM = r'''"""@@TITLE@@: Kubeflow Pipelines v2 (kfp 2.17). Compile: kfp dsl compile --py pipeline.py --output pipeline.yaml"""
from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

BASE_IMAGE = "python:3.11-slim"


@dsl.component(base_image=BASE_IMAGE)
def ingest(source_uri: str, dataset: Output[Dataset]):
    """Copy the source CSV (local path, https, or s3:// / gs:// via fsspec) into the pipeline's artifact store."""
    import shutil
    import urllib.request
    if source_uri.startswith(("s3://", "gs://")):
        import fsspec
        with fsspec.open(source_uri, "rb") as src, open(dataset.path, "wb") as dst:
            shutil.copyfileobj(src, dst)
    elif source_uri.startswith("https://"):
        with urllib.request.urlopen(source_uri, timeout=60) as src, open(dataset.path, "wb") as dst:
            shutil.copyfileobj(src, dst)
    else:
        shutil.copyfile(source_uri, dataset.path)


@dsl.component(base_image=BASE_IMAGE)
def validate_data(dataset: Input[Dataset], label_column: str, expected_columns: str, min_rows: int,
                  max_missing_fraction: float, min_minority_fraction: float,
                  stats: Output[Metrics]) -> bool:
    """Schema (expected columns, numeric values) and statistics (rows, missing values, label balance) gate."""
    import csv
    with open(dataset.path, newline="") as f:
        rows = list(csv.DictReader(f))
    problems = []
    columns = list(rows[0].keys()) if rows else []
    for name in [c for c in expected_columns.split(",") if c]:
        if name not in columns:
            problems.append(f"schema: column {name} missing")
    if label_column not in columns:
        problems.append(f"schema: label column {label_column} missing")
    if len(rows) < min_rows:
        problems.append(f"statistics: {len(rows)} rows < {min_rows}")
    for name in columns:
        values = [r[name] for r in rows]
        missing = sum(1 for v in values if v in ("", "NA", "nan", None)) / max(1, len(values))
        stats.log_metric(f"missing_fraction.{name}", missing)
        if missing > max_missing_fraction:
            problems.append(f"statistics: {name} missing {missing:.3f} > {max_missing_fraction}")
        for v in values:
            if v not in ("", "NA", "nan", None):
                try:
                    float(v)
                except ValueError:
                    problems.append(f"schema: {name} has non-numeric value {v[:20]!r}")
                    break
    labels = [r.get(label_column) for r in rows if r.get(label_column) not in ("", None)]
    if labels:
        minority = min(labels.count(v) for v in set(labels)) / len(labels)
        stats.log_metric("minority_fraction", minority)
        if len(set(labels)) < 2 or minority < min_minority_fraction:
            problems.append(f"statistics: minority class {minority:.3f} < {min_minority_fraction}")
    stats.log_metric("rows", len(rows))
    stats.metadata["report"] = "; ".join(problems) or "ok"
    print("data validation:", stats.metadata["report"])
    return not problems


@dsl.component(base_image=BASE_IMAGE)
def engineer_features(dataset: Input[Dataset], label_column: str, train: Output[Dataset], test: Output[Dataset]):
    """Standardise numeric features (train statistics only) and split 80/20 deterministically."""
    import csv
    import json
    with open(dataset.path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if all(v not in ("", "NA", "nan") for v in r.values())]
    features = [c for c in rows[0] if c != label_column]
    split = int(len(rows) * 0.8)
    train_rows, test_rows = rows[:split], rows[split:]
    mean = {c: sum(float(r[c]) for r in train_rows) / len(train_rows) for c in features}
    std = {c: (sum((float(r[c]) - mean[c]) ** 2 for r in train_rows) / len(train_rows)) ** 0.5 or 1.0 for c in features}
    for rows_out, artifact in ((train_rows, train), (test_rows, test)):
        data = [[(float(r[c]) - mean[c]) / std[c] for c in features] + [float(r[label_column])] for r in rows_out]
        with open(artifact.path, "w") as f:
            json.dump({"features": features, "rows": data, "mean": mean, "std": std}, f)


@dsl.component(base_image=BASE_IMAGE)
def train_model(train: Input[Dataset], epochs: int, learning_rate: float, model: Output[Model]):
    """Baseline trainer (logistic regression, standard library): replace the body with your training code."""
    import json
    import math
    with open(train.path) as f:
        data = json.load(f)
    width = len(data["features"])
    weights, bias = [0.0] * width, 0.0
    for _ in range(epochs):
        for *x, y in data["rows"]:
            z = sum(w * v for w, v in zip(weights, x)) + bias
            p = 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))
            weights = [w - learning_rate * (p - y) * v for w, v in zip(weights, x)]
            bias -= learning_rate * (p - y)
    with open(model.path, "w") as f:
        json.dump({"weights": weights, "bias": bias, "features": data["features"]}, f)
    model.metadata["framework"] = "@@FRAMEWORK@@"


@dsl.component(base_image=BASE_IMAGE)
def champion_metric(tracking_uri: str, model_name: str, alias: str, metric: str, fallback: float) -> float:
    """The registered champion's metric from MLflow (alias lookup); `fallback` when there is no registry or champion."""
    if not tracking_uri:
        return fallback
    import mlflow
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    try:
        version = client.get_model_version_by_alias(model_name, alias)
    except mlflow.exceptions.MlflowException:
        return fallback
    run = client.get_run(version.run_id)
    return float(run.data.metrics.get(metric, fallback))


@dsl.component(base_image=BASE_IMAGE)
def evaluate(model: Input[Model], test: Input[Dataset], champion: float, min_metric: float, min_improvement: float,
             metrics: Output[Metrics]) -> bool:
    """@@METRIC@@ on the held-out split; blessed when >= min_metric and >= champion + min_improvement."""
    import json
    import math
    with open(model.path) as f:
        m = json.load(f)
    with open(test.path) as f:
        rows = json.load(f)["rows"]
    correct = 0
    for *x, y in rows:
        z = sum(w * v for w, v in zip(m["weights"], x)) + m["bias"]
        correct += int((1 / (1 + math.exp(-max(-30.0, min(30.0, z)))) >= 0.5) == (y >= 0.5))
    value = correct / max(1, len(rows))
    blessed = value >= min_metric and value >= champion + min_improvement
    metrics.log_metric("@@METRIC@@", value)
    metrics.log_metric("champion_@@METRIC@@", champion)
    print(f"evaluation: @@METRIC@@={value:.4f} champion={champion:.4f} blessed={blessed}")
    return blessed


@dsl.component(base_image=BASE_IMAGE)
def register_model(model: Input[Model], evaluation: Input[Metrics], tracking_uri: str, model_name: str, alias: str,
                   registration: Output[Dataset]):
    """Register the blessed model in MLflow and move the alias to it (a record only when no tracking URI)."""
    import json
    metric = float(evaluation.metadata["@@METRIC@@"])
    record = {"model_name": model_name, "alias": alias, "@@METRIC@@": metric, "source": model.uri}
    if tracking_uri:
        import mlflow
        mlflow.set_tracking_uri(tracking_uri)
        with mlflow.start_run() as run:
            mlflow.log_metric("@@METRIC@@", metric)
            mlflow.log_artifact(model.path, artifact_path="model")
        version = mlflow.register_model(f"runs:/{run.info.run_id}/model", model_name)
        mlflow.MlflowClient().set_registered_model_alias(model_name, alias, version.version)
        record["version"] = version.version
    with open(registration.path, "w") as f:
        json.dump(record, f)


@dsl.component(base_image=BASE_IMAGE)
def deploy_model(registration: Input[Dataset], target: str, endpoint: str, deployment: Output[Dataset]):
    """Roll the registered version out to @@TARGET@@ (manifest/request written; applied by the CD job)."""
    import json
    with open(registration.path) as f:
        record = json.load(f)
    plan = {"target": target, "endpoint": endpoint, "model": record}
    with open(deployment.path, "w") as f:
        json.dump(plan, f)


@dsl.pipeline(name="@@NAME@@", description="@@TITLE@@")
def pipeline(source_uri: str = "@@SOURCE@@", label_column: str = "@@LABEL@@",
             expected_columns: str = "@@COLUMNS@@", min_rows: int = @@MIN_ROWS@@,
             max_missing_fraction: float = @@MAX_MISSING@@, min_minority_fraction: float = @@MIN_MINORITY@@,
             epochs: int = @@EPOCHS@@, learning_rate: float = 0.1, min_metric: float = @@MIN_METRIC@@,
             min_improvement: float = @@MIN_IMPROVEMENT@@, champion_fallback: float = 0.0,
             tracking_uri: str = "@@TRACKING_URI@@", model_name: str = "@@MODEL_NAME@@",
             alias: str = "@@ALIAS@@", endpoint: str = "@@ENDPOINT@@"):
    data = ingest(source_uri=source_uri)
    check = validate_data(dataset=data.outputs["dataset"], label_column=label_column,
                          expected_columns=expected_columns, min_rows=min_rows,
                          max_missing_fraction=max_missing_fraction, min_minority_fraction=min_minority_fraction)
    with dsl.If(check.outputs["Output"] == True, name="data-validation-gate"):  # noqa: E712 (KFP condition)
        features = engineer_features(dataset=data.outputs["dataset"], label_column=label_column)
        trained = train_model(train=features.outputs["train"], epochs=epochs, learning_rate=learning_rate)
@@RESOURCES@@
        champ = champion_metric(tracking_uri=tracking_uri, model_name=model_name, alias=alias,
                                metric="@@METRIC@@", fallback=champion_fallback)
        evaluation = evaluate(model=trained.outputs["model"], test=features.outputs["test"],
                              champion=champ.output, min_metric=min_metric, min_improvement=min_improvement)
        with dsl.If(evaluation.outputs["Output"] == True, name="blessing-gate"):  # noqa: E712
            registered = register_model(model=trained.outputs["model"], evaluation=evaluation.outputs["metrics"],
                                        tracking_uri=tracking_uri, model_name=model_name, alias=alias)
            deploy_model(registration=registered.outputs["registration"], target="@@TARGET@@", endpoint=endpoint)


if __name__ == "__main__":
    from kfp import compiler
    compiler.Compiler().compile(pipeline, "pipeline.yaml")
'''
