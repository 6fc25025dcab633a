"""One exception tree for everything ostops raises on purpose.

The CLI maps it to exit codes in one place (``automation.cli.EXIT_CODES`` and ``automation.cli.exit_code_for``),
so that a pipeline can tell "the help desk is wrong" (1) from "the help desk is down" (4):

    OsTicketError                 base of every error ostops raises on purpose (exit 1: an expectation not met)
    ├── UsageError                bad input: a file, a field, a flag; nothing was written (exit 2)
    │   ├── ConfigError           a configuration, instance or output file is missing or invalid
    │   │   └── YamlFileError     a YAML file cannot be read or parsed (``problems``)
    │   ├── SourceError           no usable osTicket source
    │   ├── SeedError             a seed file is invalid (``problems``)
    │   ├── ScenarioError         a scenario file is invalid or names what does not exist (``problems``)
    │   └── EvidenceUnavailable   ``--evidence`` cannot work here
    ├── EnvironmentFailure        osTicket or the environment failed, not the help desk's answers (exit 4)
    │   ├── EnvironmentProblem    something on this machine is missing or in the way (a tool, a busy port)
    │   ├── LocalInstanceError    the local osTicket could not be started, installed or stopped
    │   ├── DatabaseError         osTicket's database unreachable, or a statement refused
    │   │   └── DatabaseNotAnswering  it accepted the connection but did not answer in time (frozen, overloaded)
    │   ├── OsTicketUnavailable   the staff panel or the Support Center gave no answer, or HTTP 5xx
    │   ├── EvidenceError         the browser could not capture the run's evidence
    │   ├── HashChangedError      a download no longer matches its pinned SHA-256
    │   ├── UnreachableError      ``manifest check --online``: some URLs did not answer
    │   ├── BackupError           a backup cannot be made (a part unreadable, osTicket's schema unknown)
    │   ├── DownloadError         (automation.manifest) a download failed or did not verify
    │   ├── PublisherError        (automation.manifest) a publisher's checksum list or digest cannot be read
    │   └── DigestMismatchError   (automation.local.source) a release differs from its publisher's digest
    ├── ApiError                  osTicket's HTTP API answered an error status: 4xx is osTicket's own refusal
    │                             (exit 1); no answer (status 0) or 5xx is osTicket down (exit 4)
    ├── AuthError                 a login or API key was refused (the help desk's answer: exit 1)
    ├── CsrfError                 a staff-panel request refused for its CSRF token
    ├── StepError                 osTicket refused a staff-panel or requester action, with its own message
    ├── ScenarioStepFailed        a scenario step failed; says where, and what was done before; exit 4 when
    │                             its cause (``__cause__``) is an EnvironmentFailure or an unavailable API
    ├── VerificationError         the database differs from what was expected (``problems``)
    ├── LoadError                 requests of a load run failed (``problems``)
    ├── BackupRejected            a backup file cannot be decrypted or does not match its manifest: nothing restored
    ├── RotationError             a secret's rotation failed midway and was undone (``problems``: what was rolled back)
    ├── UpgradeError              an upgrade step failed and was rolled back; says which, and whether the rollback held
    └── RestoreError              a restore did not prove itself (counts, runs, logins): the re-verification of
                                  the runs recorded before it failed, names what differs

    Interrupted                   SIGINT or SIGTERM stopped the command (exit 130 / 143); a BaseException like
                                  KeyboardInterrupt, so that no ``except OsTicketError`` takes it for a failure
"""

from __future__ import annotations

import signal


class OsTicketError(Exception):
    """Base of every error ostops raises on purpose. ``problems``: the details, one line each, printed under
    the message (every problem of a file at once, every mismatch of a run)."""

    exit_code = 1

    def __init__(self, message: str = "", problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = list(problems or [])
        self.result: object | None = None  # what a run had done when this stopped it (a RunResult)


class UsageError(OsTicketError):
    """The input is wrong: a file, a field, a flag. Nothing was written."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration, instance or output file is missing or invalid."""


class YamlFileError(ConfigError):
    """The file cannot be read or is not valid YAML; ``problems`` lists every problem found (at least one)."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message, problems or [message])
        self.message = message


class SourceError(UsageError):
    """No usable osTicket source could be found."""


class SeedError(UsageError):
    """A seed file is invalid; ``problems`` lists every problem found."""


class ScenarioError(UsageError):
    """A scenario file is invalid or names something that does not exist; ``problems`` lists them all."""


class EvidenceUnavailable(UsageError):
    """``--evidence`` cannot work here (no Chromium, no Playwright, a folder that cannot be written): said
    before the run starts."""


class EnvironmentFailure(OsTicketError):
    """osTicket or the environment failed (unreachable, HTTP 5xx, database down, a tool missing): not an
    answer of the help desk. A pipeline may retry these."""

    exit_code = 4


class EnvironmentProblem(EnvironmentFailure):
    """Something on this machine is missing or in the way (a package, a busy port)."""


class LocalInstanceError(EnvironmentFailure):
    """The local osTicket could not be started, installed or stopped."""


class DatabaseError(EnvironmentFailure):
    """osTicket's database could not be reached or refused a statement."""


class DatabaseNotAnswering(DatabaseError):
    """osTicket's database accepted the connection but did not answer within the timeout (a frozen or
    overloaded server): asking again at once would wait as long again."""


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

    @property
    def unavailable(self) -> bool:
        """No answer, or a server error: osTicket is down rather than refusing."""
        return self.status == 0 or self.status >= 500


class OsTicketUnavailable(EnvironmentFailure):
    """The staff panel or the Support Center gave no answer, or answered HTTP 5xx."""


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


class VerificationError(OsTicketError):
    """What osTicket's database shows differs from what was expected; ``problems`` names each difference."""

    @property
    def mismatches(self) -> list[str]:
        return self.problems


class LoadError(OsTicketError):
    """Requests of a load run failed on osTicket's side, or verification could not finish."""


class EvidenceError(EnvironmentFailure):
    """The browser could not capture a page of the run's evidence, or the write-up could not be written."""


class HashChangedError(EnvironmentFailure):
    """A download no longer matches the SHA-256 pinned in the manifest."""


class UnreachableError(EnvironmentFailure):
    """``manifest check --online``: some URLs did not answer."""


class RotationError(OsTicketError):
    """A secret's rotation failed midway; ``problems`` says which steps were rolled back (and any that could
    not be), so that config, files and osTicket are known to agree again."""


class BackupRejected(OsTicketError):
    """A backup file cannot be decrypted (a wrong passphrase or identity, a flipped byte) or does not match its
    manifest (``problems`` names each part); nothing was restored from it. Exit 1: the file is not what it
    claims, which is an answer, not an outage."""


class BackupError(EnvironmentFailure):
    """A backup could not be made: a part cannot be read, osTicket's schema is unknown, a run's record is
    missing (``problems`` names each); nothing was written."""


class RestoreError(OsTicketError):
    """A restored help desk did not prove itself: row counts, recorded runs, staff login, API key or portal
    differ from the backup's (``problems``)."""


class UpgradeError(OsTicketError):
    """An upgrade step failed (``step`` names it); the message says whether the rollback brought the old help
    desk back."""

    def __init__(self, step: str, message: str, problems: list[str] | None = None) -> None:
        super().__init__(f"upgrade failed at step '{step}': {message}", problems)
        self.step = step


class Interrupted(BaseException):
    """SIGINT (Ctrl-C) or SIGTERM (a CI job's timeout, ``docker stop``) stopped the command. ``signum``: which;
    ``result``: what the run had done, when it had started (the runner's partial RunResult)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.name}")
        self.result: object | None = None


def is_environment_failure(exc: BaseException) -> bool:
    """osTicket or the environment failed (exit 4), not the help desk's answers (1). A failed step is judged by
    its cause: osTicket's own refusal is an expectation not met, no answer or HTTP 5xx is osTicket down."""
    if isinstance(exc, EnvironmentFailure):
        return True
    if isinstance(exc, ApiError):
        return exc.unavailable
    if isinstance(exc, ScenarioStepFailed) and exc.__cause__ is not None:
        return is_environment_failure(exc.__cause__)
    return False
