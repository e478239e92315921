"""The MCP surface: tools, resources and prompts over stdio and streamable HTTP, and the ml-expert command line."""
