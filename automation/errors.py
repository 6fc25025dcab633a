"""One exception tree for everything ostops raises on purpose.

The CLI maps it to exit codes in one place (``automation.cli``):
``UsageError`` subclasses (bad input: files, flags, config) exit 2; every other
``OsTicketError`` (the remote side or the environment failed) exits 1.
"""

from __future__ import annotations


class OsTicketError(Exception):
    """Base of every error ostops raises on purpose."""

    exit_code = 1


class UsageError(OsTicketError):
    """The input is wrong: a file, a field, a flag. Nothing was written."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration or instance file is missing or invalid."""


class SourceError(UsageError):
    """No usable osTicket source could be found."""


class SeedError(UsageError):
    """A seed file is invalid; ``problems`` lists every problem found."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class ScenarioError(UsageError):
    """A scenario file is invalid or names something that does not exist; ``problems`` lists them all."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class EnvironmentProblem(OsTicketError):
    """Something on this machine is missing or in the way (a package, a busy port)."""


class LocalInstanceError(OsTicketError):
    """The local osTicket could not be started, installed or stopped."""


class ApiError(OsTicketError):
    """osTicket's HTTP API answered with an error status."""

    def __init__(self, status: int, body: str, url: str = "") -> None:
        self.status = status
        self.body = body.strip()
        self.url = url
        where = f" from {url}" if url else ""
        if status == 0:  # no HTTP answer at all: the body says why
            super().__init__(f"no answer{where}: {self.body}")
        else:
            super().__init__(f"osTicket answered HTTP {status}{where}: {self.body or '(empty body)'}")


class AuthError(OsTicketError):
    """A login or API key was refused."""


class CsrfError(OsTicketError):
    """osTicket refused a staff-panel request for its CSRF token."""


class StepError(OsTicketError):
    """A staff-panel or requester action was refused by osTicket."""


class ScenarioStepFailed(OsTicketError):
    """A scenario step failed on the remote side; says where, and what the earlier steps did."""

    def __init__(self, message: str, done: list[str] | None = None) -> None:
        super().__init__(message)
        self.done = done or []
        self.result: object | None = None  # the runner's partial RunResult, when it has one


class VerificationError(OsTicketError):
    """What osTicket's database shows differs from what was expected."""

    def __init__(self, message: str, mismatches: list[str] | None = None) -> None:
        super().__init__(message)
        self.mismatches = mismatches or []


class LoadError(OsTicketError):
    """Requests of a load run failed on osTicket's side, or verification could not finish."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class EvidenceUnavailable(UsageError):
    """``--evidence`` cannot work here (no Chromium, no Playwright, a folder that cannot be written): said
    before the run starts."""


class EvidenceError(OsTicketError):
    """The browser could not capture a page of the run's evidence, or the write-up could not be written."""
