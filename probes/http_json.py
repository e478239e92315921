"""GET with a size cap and no redirects; failures come back as text, never as exceptions."""

from __future__ import annotations

import json
from typing import Any

import httpx

MAX_BYTES = 1_000_000


async def get_text(client: httpx.AsyncClient, url: str) -> tuple[int | None, str | None, str | None]:
    """(HTTP status, body text cut at MAX_BYTES, error). Status and text are None when no answer came."""
    try:
        async with client.stream("GET", url) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    return response.status_code, body[:MAX_BYTES].decode(errors="replace"), \
                        f"GET {url}: body over {MAX_BYTES} bytes"
            return response.status_code, body.decode(errors="replace"), None
    except httpx.HTTPError as err:
        return None, None, f"GET {url}: {type(err).__name__}: {str(err)[:200]}"


async def get_json(client: httpx.AsyncClient, url: str) -> tuple[Any | None, str | None, int | None]:
    """(decoded body, error, HTTP status). The body is None unless the status is 2xx and the body is JSON."""
    status, text, err = await get_text(client, url)
    if err is not None:
        return None, err, status
    assert status is not None and text is not None
    if not 200 <= status < 300:
        return None, f"GET {url}: HTTP {status}", status
    try:
        return json.loads(text), None, status
    except ValueError:
        return None, f"GET {url}: not JSON", status
