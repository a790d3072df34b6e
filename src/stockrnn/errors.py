"""The one exception type for bad input or config: its message is shown to the user as is."""


class StockrnnError(Exception):
    """A problem with the user's data, config or files; the message names it and what was expected."""
