"""design_model_monitoring: drift and performance checks sized by statistics, Prometheus rules, SageMaker Model
Monitor requests and a plain-scipy drift job. Imports only common/. The retraining trigger names the pipeline
tool (design_ml_pipeline) by its event, never imports it.
"""
