"""Deterministic optimizer modules: pydantic request in, pydantic plan out. No MCP, no I/O, no clock."""
