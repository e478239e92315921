"""Patterns for the strings several domains accept from a caller (URLs); Kubernetes names live in common.k8s."""

URL_PATTERN = r"^https?://[^\s/?#]+(/[^\s?#]*)?$"  # http(s) base URL: a host, an optional path, no query
