"""The one error type a tool raises for input it cannot plan for; the server turns it into an MCP isError result."""


class PlanInputError(ValueError):
    """Bad input, named by its field path and the accepted values."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")
