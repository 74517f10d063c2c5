"""
The errors every devstack-salt module raises and every state catches, by class.

All derive from Salt's ``CommandExecutionError``, so ``salt-call`` prints the message (never a
traceback) and a state that lets one through still fails cleanly. A message never holds a
secret: the code that raises masks values before it builds one.
"""

from __future__ import annotations

from salt.exceptions import CommandExecutionError


class DevstackSaltError(CommandExecutionError):
    """Base class of this project's errors."""


class ArgumentError(DevstackSaltError):
    """An argument a caller gave a published function is wrong (its type or value); the message
    names the argument and what it must be. Raised before anything is read or changed."""


class PillarError(DevstackSaltError):
    """Invalid pillar: ``errors`` lists every problem, each naming its pillar path. Raised before
    anything on the host changed."""

    #: The first line of the message; each role's subclass names its pillar.
    headline = "invalid pillar (nothing was changed):"
    #: What precedes each problem on its own line.
    bullet = "- "

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("\n".join([self.headline] + [self.bullet + error for error in self.errors]))


class LocalConfError(PillarError):
    """Invalid local.conf input (the ``devstack`` pillar, or a local.conf to import)."""

    headline = "invalid local.conf input:"


class ParseError(LocalConfError):
    """A local.conf that the model cannot represent; the message names the line."""


class DatabasePillarError(PillarError):
    """Invalid ``database`` pillar."""

    headline = "invalid database pillar:"
    bullet = "  "


class BrokerError(PillarError):
    """Invalid ``broker`` pillar."""

    headline = "invalid broker pillar (nothing was changed):"


class MonitoringError(PillarError):
    """Invalid ``monitoring`` pillar."""

    headline = "invalid monitoring pillar:"


class ServiceDown(DevstackSaltError):
    """A service the role manages does not answer (not installed or not started yet). Under
    ``test=True`` on a fresh host this means "cannot be predicted yet", not a failure."""


class DatabaseDown(ServiceDown):
    """MariaDB does not answer on its socket."""


class BrokerDown(ServiceDown):
    """RabbitMQ does not answer its CLI."""


class GraphiteWebError(DevstackSaltError):
    """Graphite's web application refused a request or answered something that is not its API,
    or its saved dashboards could not be read; the message says which."""


class GraphiteWebDown(GraphiteWebError, ServiceDown):
    """Graphite's web application does not answer (not started yet, restarting, or stopped)."""


class CommandFailed(DevstackSaltError):
    """A command this project ran failed; the message holds its masked output."""

