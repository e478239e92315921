"""The MCP surface: tools, resources and prompts over stdio and streamable HTTP, and the ml-expert command line."""

import os

# Argument errors reach an assistant as text it pays for: keep pydantic's messages without the docs URL line.
# pydantic-core reads this when it first renders an error, so it is set before any tool runs.
os.environ.setdefault("PYDANTIC_ERRORS_INCLUDE_URL", "0")
