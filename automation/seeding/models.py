"""The seed file format: the single source of truth (the JSON Schema in seed/schema/ is generated from here).

Every optional field left out of a file (``None``) is *not managed*: an existing row keeps its value and a
new row gets osTicket's own default. Natural keys: SLA, team and help topic by name, department by
(name, parent), agent by username, end user by email, API key by IP address.
Departments are referenced by their path: ``"IT Support"`` or ``"IT Support / Online Banking"``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

DEPT_SEPARATOR = " / "
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_ENV = r"^[A-Za-z_][A-Za-z0-9_]*$"
_PHONE = re.compile(r"^\+?[0-9 ().\-]{4,32}(\s*(x|ext\.?)\s*[0-9]{1,6})?$", re.IGNORECASE)

AgentPermission = Literal[
    "user.create", "user.edit", "user.delete", "user.manage", "user.dir",
    "org.create", "org.edit", "org.delete",
    "faq.manage", "emails.banlist", "visibility.agents", "visibility.departments",
    "stats.agents", "search.all",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Settings(_Model):
    """A small allow-list of osTicket system settings (ost_config, namespace core)."""

    verify_email_addrs: bool | None = Field(None, description="Verify e-mail addresses (MX) on ticket creation.")
    default_sla: str | None = Field(None, description="Default SLA, by name.")
    default_department: str | None = Field(None, description="Default department, by path.")
    default_schedule: str | None = Field(None, description="Default business-hours schedule, by name (e.g. '24/7').")
    default_priority: str | None = Field(None, description="Default ticket priority: low, normal, high, emergency.")


class Sla(_Model):
    name: str = Field(min_length=1, max_length=64)
    grace_hours: int = Field(description="Grace period in hours (1..8760).")
    schedule: str | None = Field(None, description="Schedule by name ('24/7' = wall-clock hours); null = department's "
                                                   "or the system default schedule.")
    active: bool | None = None
    escalate: bool | None = Field(None, description="Priority escalation.")
    transient: bool | None = Field(None, description="Transient: a transfer may override it.")
    no_alerts: bool | None = Field(None, description="Disable overdue alerts.")
    notes: str | None = None

    @field_validator("grace_hours")
    @classmethod
    def _grace(cls, value: int) -> int:
        if value < 1 or value > 8760:
            raise ValueError(f"an SLA needs a grace period of 1 to 8760 hours, not {value}")
        return value


class Department(_Model):
    name: str = Field(min_length=1, max_length=128)
    parent: str | None = Field(None, description="Parent department by path; null = top level.")
    sla: str | None = None
    schedule: str | None = None
    manager: str | None = Field(None, description="Manager: an agent's username.")
    public: bool | None = None
    active: bool | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if DEPT_SEPARATOR.strip() in value:
            raise ValueError(f"a department name cannot contain '{DEPT_SEPARATOR.strip()}'")
        return value

    @property
    def key(self) -> str:
        return f"{self.parent}{DEPT_SEPARATOR}{self.name}" if self.parent else self.name


class DeptAccess(_Model):
    department: str
    role: str = Field(description="Role by name, e.g. 'All Access'.")
    alerts: bool = True


class Agent(_Model):
    username: str = Field(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9._@-]+$")
    first_name: str = Field(min_length=1, max_length=32)
    last_name: str = Field(min_length=1, max_length=32)
    email: str = Field(pattern=_EMAIL, max_length=255)
    department: str = Field(description="Primary department by path.")
    role: str = Field(description="Role in the primary department, by name.")
    access: list[DeptAccess] | None = Field(None, description="Extended department access (the complete list).")
    teams: list[str] | None = Field(None, description="Team memberships (the complete list), by team name.")
    admin: bool | None = None
    active: bool | None = None
    on_vacation: bool | None = None
    assigned_only: bool | None = None
    permissions: list[AgentPermission] | None = Field(None, description="Agent-level permissions.")
    password_env: str | None = Field(
        None, pattern=_ENV,
        description="Environment variable holding the password; when unset, the password stored in the "
                    "credentials file (0600) next to the instance file is used, or one is generated there.")


class Team(_Model):
    name: str = Field(min_length=1, max_length=125)
    lead: str | None = Field(None, description="Team lead: an agent's username.")
    members: list[str] | None = Field(None, description="Members by username (the complete list, together with "
                                                        "agents that name this team).")
    enabled: bool | None = None
    alerts: bool | None = Field(None, description="Assignment alerts to the team.")
    notes: str | None = None


class HelpTopic(_Model):
    name: str = Field(min_length=5, max_length=128)
    parent: str | None = None
    department: str | None = None
    sla: str | None = None
    priority: str | None = Field(None, description="low, normal, high or emergency.")
    public: bool | None = None
    active: bool | None = None
    notes: str | None = None


class ApiKey(_Model):
    ip: str = Field(description="The one client IP address allowed to use the key.")
    active: bool | None = None
    can_create_tickets: bool | None = None
    can_exec_cron: bool | None = None
    notes: str | None = None
    key_env: str | None = Field(
        None, pattern=_ENV,
        description="Environment variable holding the key; when unset an existing key is kept, a new one generated.")

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError(f"{value!r} is not one IP address") from None


class EndUser(_Model):
    name: str = Field(min_length=1, max_length=128)
    email: str = Field(pattern=_EMAIL, max_length=255)
    phone: str | None = None
    organization: str | None = Field(None, description="Organization by name; created when missing.")

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None and not _PHONE.match(value):
            raise ValueError(f"{value!r} is not a phone number")
        return value


class SeedFile(_Model):
    """Root of a seed file."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True,
                              json_schema_extra={"title": "ostops seed file"})

    version: Literal[1] = 1
    settings: Settings | None = None
    slas: list[Sla] = Field(default_factory=list)
    departments: list[Department] = Field(default_factory=list)
    agents: list[Agent] = Field(default_factory=list)
    teams: list[Team] = Field(default_factory=list)
    help_topics: list[HelpTopic] = Field(default_factory=list)
    api_keys: list[ApiKey] = Field(default_factory=list)
    users: list[EndUser] = Field(default_factory=list)

    _source: str = PrivateAttr(default="<seed>")
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    def where(self, path: str) -> str:
        """``file:line path`` for an error message (the nearest known line)."""
        probe = path
        while probe:
            if probe in self._lines:
                return f"{self._source}:{self._lines[probe]} {path}"
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return f"{self._source} {path}"

    def locate(self, source: str, lines: dict[str, int]) -> None:
        self._source = source
        self._lines = lines
