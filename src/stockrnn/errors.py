"""The exception types whose message is shown to the user as is (no traceback), and the exit status
of a stopped command."""

INTERRUPTED = 130  # the shell's status for a command ended by Ctrl-C (128 + SIGINT)


class StockrnnError(Exception):
    """A problem with the user's data, config or files; the message names it and what was expected."""


class NotEnoughRows(StockrnnError):
    """A date range holds too few rows for its windows: a panel drops such a series (with a
    warning) where a run of one series stops."""


class TrainingDiverged(StockrnnError):
    """The loss became NaN or infinite: the run stops rather than train on meaningless weights."""
