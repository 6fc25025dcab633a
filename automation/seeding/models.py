"""The seed file format: the single source of truth (the JSON Schema in seed/schema/ is generated from here).

Every optional field left out of a file (``None``) is *not managed*: an existing row keeps its value and a
new row gets osTicket's own default. Natural keys: SLA, team and help topic by name, department by
(name, parent), agent by username, end user by email, API key by IP address.
Departments are referenced by their path: ``"IT Support"`` or ``"IT Support / Online Banking"``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PrivateAttr,
    StrictBool,
    StrictInt,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from automation.choices import Priority

DEPT_SEPARATOR = " / "
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_ENV = r"^[A-Za-z_][A-Za-z0-9_]*$"
_PHONE = re.compile(r"^\+?[0-9 ().\-]{4,32}(\s*(x|ext\.?)\s*[0-9]{1,6})?$", re.IGNORECASE)

# osTicket's password policy (osTicketPasswordPolicy::onSet in include/class.auth.php): 6 to 128 bytes (strlen).
PASSWORD_BYTES = (6, 128)
TEXT_BYTES = 65535  # a MySQL TEXT column holds 65,535 bytes (not characters)


@dataclass(frozen=True)
class Column:
    """A string osTicket stores in ``column`` (``table.column`` of setup/inc/streams/core/install-mysql.sql):
    VARCHAR(size) holds ``size`` characters, TEXT (size None) holds 65,535 bytes of UTF-8. The tables are
    ``DEFAULT CHARSET=utf8`` (MySQL's 3-byte utf8mb3): a character beyond U+FFFF (an emoji) cannot be stored at
    all. Either is a load error naming the file, line and field, not a failed transaction."""

    column: str
    size: int | None = None  # None: TEXT

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        # TEXT: 65,535 characters is the most any text could fit (the loader also counts its UTF-8 bytes)
        json_schema["maxLength"] = TEXT_BYTES if self.size is None else self.size
        return json_schema

    def check(self, value: str) -> str:
        beyond = next((char for char in value if ord(char) > 0xFFFF), None)
        if beyond is not None:
            raise ValueError(f"{beyond!r} (U+{ord(beyond):04X}) cannot be stored: osTicket's tables use MySQL's 3-byte "
                             f"utf8 (utf8mb3, {self.column}), which has no characters beyond U+FFFF such as emoji; "
                             "remove it")
        if self.size is not None and len(value) > self.size:
            raise ValueError(f"{len(value):,} characters is too long: osTicket stores it in {self.column} "
                             f"(VARCHAR({self.size})), at most {self.size} characters; shorten it")
        if self.size is None and (size := len(value.encode("utf-8"))) > TEXT_BYTES:
            raise ValueError(f"{size:,} bytes (UTF-8, {len(value):,} characters) is too long: osTicket stores it "
                             f"in {self.column} (TEXT), at most {TEXT_BYTES:,} bytes; shorten it")
        return value


def _not_bool(value: Any) -> Any:
    """YAML ``true``/``false`` where a number is expected is a mistake, not 1 or 0."""
    if isinstance(value, bool):
        raise ValueError(f"expected the number 1, not {str(value).lower()}")  # noqa: TRY004 (pydantic wants ValueError)
    return value


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

    verify_email_addrs: StrictBool | None = Field(None, description="Verify e-mail addresses (MX) on ticket creation.")
    status_check_email_verification: StrictBool | None = Field(
        None, description="Client Quick Access: 'Require email verification on \"Check Ticket Status\" page' "
                          "(osTicket's default: on). Off, a requester opens her ticket in the Support Center "
                          "with her e-mail and the ticket number; on, she is mailed an access link instead.")
    new_ticket_autoresponse: StrictBool | None = Field(
        None, description="Autoresponder: 'New Ticket' (ticket_autoresponder; osTicket's install: off). On, the "
                          "requester is mailed 'Support Ticket Opened [#number]' for every new ticket (a "
                          "department's own 'New Ticket' auto-response, on by default, must allow it too).")
    default_sla: str | None = Field(None, description="Default SLA, by name.")
    default_department: str | None = Field(None, description="Default department, by path.")
    default_schedule: str | None = Field(None, description="Default business-hours schedule, by name (e.g. '24/7').")
    default_priority: Priority | None = Field(None, description="Default ticket priority: Low, Normal, High or "
                                              "Emergency (any case).")


class Sla(_Model):
    name: Annotated[str, Column("sla.name", 64)] = Field(min_length=1)
    grace_hours: StrictInt = Field(description="Grace period in hours (1..8760).")
    schedule: str | None = Field(None, description="Schedule by name ('24/7' = wall-clock hours); null = department's "
                                                   "or the system default schedule.")
    active: StrictBool | None = None
    escalate: StrictBool | None = Field(None, description="Priority escalation.")
    transient: StrictBool | None = Field(None, description="Transient: a transfer may override it.")
    no_alerts: StrictBool | None = Field(None, description="Disable overdue alerts.")
    notes: Annotated[str, Column("sla.notes")] | None = None

    @field_validator("grace_hours", mode="before")
    @classmethod
    def _whole_hours(cls, value: Any) -> Any:
        """``24`` or ``24.0`` hours; ``true`` is not 1 hour and ``"24"`` is not a number (the field is strict)."""
        if isinstance(value, bool):
            raise ValueError(  # noqa: TRY004 (pydantic reports ValueError, not TypeError)
                f"the grace period is a whole number of hours (1 to 8760), not {str(value).lower()}")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    @field_validator("grace_hours")
    @classmethod
    def _grace(cls, value: int) -> int:
        if value < 1 or value > 8760:
            raise ValueError(f"an SLA needs a grace period of 1 to 8760 hours, not {value}")
        return value


class Department(_Model):
    name: Annotated[str, Column("department.name", 128)] = Field(min_length=1)
    parent: str | None = Field(None, description="Parent department by path; null = top level.")
    sla: str | None = None
    schedule: str | None = None
    manager: str | None = Field(None, description="Manager: an agent's username.")
    public: StrictBool | None = None
    active: StrictBool | None = None

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
    alerts: StrictBool = True


class Agent(_Model):
    username: Annotated[str, Column("staff.username", 32)] = Field(min_length=3, pattern=r"^[A-Za-z0-9._@-]+$")
    first_name: Annotated[str, Column("staff.firstname", 32)] = Field(min_length=1)
    last_name: Annotated[str, Column("staff.lastname", 32)] = Field(min_length=1)
    email: Annotated[str, Column("staff.email", 255)] = Field(pattern=_EMAIL)
    department: str = Field(description="Primary department by path.")
    role: str = Field(description="Role in the primary department, by name.")
    access: list[DeptAccess] | None = Field(None, description="Extended department access (the complete list).")
    teams: list[str] | None = Field(None, description="Team memberships (the complete list), by team name.")
    admin: StrictBool | None = None
    active: StrictBool | None = None
    on_vacation: StrictBool | None = None
    assigned_only: StrictBool | None = None
    permissions: list[AgentPermission] | None = Field(None, description="Agent-level permissions.")
    password_env: str | None = Field(
        None, pattern=_ENV,
        description="Environment variable holding the password (6 to 128 bytes, osTicket's password policy); "
                    "when unset, the password stored in the credentials file (0600) next to the instance file "
                    "is used, or one is generated there.")

    @field_validator("password_env")
    @classmethod
    def _password(cls, name: str | None) -> str | None:
        """The password the variable holds now must pass osTicket's policy (checked at load time, never shown)."""
        password = os.environ.get(name) if name else None
        if password:  # unset or empty: the credentials file's password, or a generated one, is used
            size, (least, most) = len(password.encode("utf-8")), PASSWORD_BYTES
            if not least <= size <= most:
                raise ValueError(f"the password in ${name} is {size} byte{'s' if size != 1 else ''} long; osTicket's "
                                 f"password policy needs {least} to {most} bytes: set a "
                                 f"{'longer' if size < least else 'shorter'} one")
        return name


class Team(_Model):
    name: Annotated[str, Column("team.name", 125)] = Field(min_length=1)
    lead: str | None = Field(None, description="Team lead: an agent's username.")
    members: list[str] | None = Field(None, description="Members by username (the complete list, together with "
                                                        "agents that name this team).")
    enabled: StrictBool | None = None
    alerts: StrictBool | None = Field(None, description="Assignment alerts to the team.")
    notes: Annotated[str, Column("team.notes")] | None = None


class HelpTopic(_Model):
    name: Annotated[str, Column("help_topic.topic", 128)] = Field(min_length=5)
    parent: str | None = None
    department: str | None = None
    sla: str | None = None
    priority: Priority | None = Field(None, description="Low, Normal, High or Emergency (any case).")
    public: StrictBool | None = None
    active: StrictBool | None = None
    notes: Annotated[str, Column("help_topic.notes")] | None = None


class ApiKey(_Model):
    ip: Annotated[str, Column("api_key.ipaddr", 64)] = Field(
        description="The one client IP address allowed to use the key.")
    active: StrictBool | None = None
    can_create_tickets: StrictBool | None = None
    can_exec_cron: StrictBool | None = None
    notes: Annotated[str, Column("api_key.notes")] | None = None
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
    name: Annotated[str, Column("user.name", 128)] = Field(min_length=1)
    email: Annotated[str, Column("user_email.address", 255)] = Field(pattern=_EMAIL)
    phone: Annotated[str, Column("form_entry_values.value")] | None = Field(
        None, description="The Contact Information form's phone number.")
    organization: Annotated[str, Column("organization.name", 128)] | None = Field(
        None, description="Organization by name; created when missing.")

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

    version: Annotated[Literal[1], BeforeValidator(_not_bool)] = 1
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

    def is_empty(self) -> bool:
        """Nothing to seed: no entity, and no setting with a value."""
        settings = self.settings.model_dump(exclude_none=True) if self.settings is not None else {}
        return not settings and not any((self.slas, self.departments, self.agents, self.teams, self.help_topics,
                                         self.api_keys, self.users))

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
