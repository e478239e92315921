"""Frameworks: knowledge-base search and framework recommendation. Depends on common and the knowledge data only."""
