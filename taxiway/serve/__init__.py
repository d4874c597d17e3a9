"""The prediction service: one batch path behind the native, MLflow and Open Inference protocols."""
