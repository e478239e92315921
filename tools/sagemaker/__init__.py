"""SageMaker: training jobs and endpoints. One-way dependencies: training (the layout search and memory model sizes
jobs) and serving (the latency model sizes endpoints).
"""
