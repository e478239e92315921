"""Training: model architectures, memory and step-time models, the layout search, and the PyTorch/TensorFlow plans
with their launch artifacts. Depends on common only.
"""
