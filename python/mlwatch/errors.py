"""Failures the CLI reports as one clear line and exit code 1 (anything else is a bug and shows a traceback)."""


class MlwatchError(RuntimeError):
    """Base class of every expected failure."""


class ConfigError(MlwatchError, ValueError):
    """The configuration is unusable; raised before any work starts."""


class LoadError(MlwatchError):
    """A source file is missing, unreadable or does not fit the logical schema."""


class TrainingError(MlwatchError):
    """The training data does not allow the configured model to be trained."""


class WarehouseError(MlwatchError):
    """The warehouse cannot be reached or holds something unexpected."""


class DbtError(MlwatchError):
    """A dbt command failed; the message carries the end of its output."""


class UsageError(MlwatchError, ValueError):
    """A command-line argument is unusable, e.g. a --date that is no production day."""
