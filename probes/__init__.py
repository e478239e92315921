"""Open-world checks: read a running server over HTTP (httpx) and hand the answers to a pure judge in tools/."""
