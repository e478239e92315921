"""GET a JSON document with a size cap and no redirects; failures come back as text, never as exceptions."""

from __future__ import annotations

import json
from typing import Any

import httpx

MAX_BYTES = 1_000_000


async def get_json(client: httpx.AsyncClient, url: str, **kwargs: Any) -> tuple[Any | None, str | None, int | None]:
    """(decoded body, error, HTTP status). The body is None unless the status is 2xx and the body is JSON."""
    try:
        async with client.stream("GET", url, **kwargs) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    return None, f"GET {url}: body over {MAX_BYTES} bytes", response.status_code
            if not response.is_success:
                return None, f"GET {url}: HTTP {response.status_code}", response.status_code
            try:
                return json.loads(body), None, response.status_code
            except ValueError:
                return None, f"GET {url}: not JSON", response.status_code
    except httpx.HTTPError as err:
        return None, f"GET {url}: {type(err).__name__}: {str(err)[:200]}", None
