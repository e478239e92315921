"""Pipelines: Kubeflow Trainer jobs and model-lifecycle pipelines (KFP v2, TFX, SageMaker Pipelines, GitHub
Actions). One-way dependency: training (the layout search in training.strategy sizes every job; only its public
entry points select_distribution_strategy / best_layout and the training.inputs models are used).
"""
