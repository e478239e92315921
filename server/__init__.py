"""The MCP surface: tools, resources and prompts over stdio and streamable HTTP, and the ml-expert command line."""

import os
from importlib import metadata

# Argument errors reach an assistant as text it pays for: keep pydantic's messages without the docs URL line.
# pydantic-core reads this when it first renders an error, so it is set before any tool runs.
os.environ.setdefault("PYDANTIC_ERRORS_INCLUDE_URL", "0")

try:  # the one source of the version: pyproject.toml, via the installed package's metadata
    __version__ = metadata.version("ml-expert-mcp")
except metadata.PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0+unknown"
