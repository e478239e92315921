"""Deterministic planners, one subpackage per domain: pydantic request in, pydantic plan out; no MCP, no I/O.

Dependencies between domains go one way only and are named in each package's docstring; what several share
lives in `common`.
"""
