"""Serving: TF Serving plans and artifacts, and the latency/queueing model that SageMaker endpoints also use.
Depends on common only.
"""
