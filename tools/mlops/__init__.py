"""MLOps: the MLflow platform design, its artifacts and the check of a running server. Depends on common only."""
