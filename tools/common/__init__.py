"""Shared by every domain: errors, bounded types, the strict model base, URL and Kubernetes name patterns,
Kubernetes manifest helpers, AWS request validation, the @tool mark, GPU lookup. Imports no domain package.
"""
