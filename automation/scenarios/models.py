"""Scenario files: tickets, the steps people take on them, and what osTicket must show afterwards.

The JSON Schema in ``seed/schema/scenario.schema.json`` is generated from these models."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from automation.choices import AnyCase, Priority

REQUESTER = "requester"
SYSTEM = "system"  # osTicket's own thread entries: no agent and no user posted them
Channel = Annotated[Literal["api", "portal", "email"], AnyCase()]
StatusName = Annotated[Literal["Open", "Resolved", "Closed"], AnyCase()]
PriorityName = Priority


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Requester(Strict):
    name: str = Field(min_length=1)
    email: EmailStr
    phone: str | None = None


STEP_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"  # no space, no dot: never one of the names `case_names` builds


class StepBase(Strict):
    actor: str = Field(alias="as", min_length=1, description="An agent's username, or 'requester'.")
    id: str | None = Field(default=None, pattern=STEP_ID, max_length=100, description=(
        "The step's test name in JUnit and JSON, '<ticket key> / <id>', unique within its ticket: it stays the same "
        "however the steps around it change (letters, digits, '-' and '_'). Without it: '<ticket key> / <as> <do>', "
        "then ' #2', ' #3'... for the later steps of the same as and do in that ticket."))


class AssignAgent(StepBase):
    do: Literal["assign_agent"]
    agent: str
    comment: str = ""


class AssignTeam(StepBase):
    do: Literal["assign_team"]
    team: str
    comment: str = ""


class Transfer(StepBase):
    do: Literal["transfer"]
    department: str
    comment: str = ""


class ChangeSla(StepBase):
    do: Literal["change_sla"]
    sla: str
    comment: str = ""


class ChangePriority(StepBase):
    do: Literal["change_priority"]
    priority: PriorityName
    comment: str = ""


def _attachments() -> Any:
    return Field(default_factory=list, description="Files to attach, relative to the scenario file (each at most "
                 "osTicket's default maximum file size, 1 MiB).")


class Note(StepBase):
    do: Literal["note"]
    text: str = Field(min_length=1)
    title: str = ""
    attachments: list[str] = _attachments()


class Reply(StepBase):
    """An agent's reply in the staff panel, or the requester's e-mail reply threaded onto the ticket."""

    do: Literal["reply"]
    text: str = Field(min_length=1)
    via: Annotated[Literal["portal", "email"], AnyCase()] | None = Field(
        default=None, description="The requester's way to reply: the Support Center (default for portal tickets) or "
                                  "e-mail (default otherwise).")
    attachments: list[str] = _attachments()


class SetStatus(StepBase):
    do: Literal["set_status"]
    status: StatusName
    comment: str = ""


class AddCollaborator(StepBase):
    """An agent adds a collaborator (CC) to the ticket in the staff panel; a new e-mail becomes a new user."""

    do: Literal["add_collaborator"]
    email: EmailStr
    name: str | None = Field(default=None, min_length=1, description="For a new user; defaults to the e-mail's "
                             "local part.")


class RunCron(StepBase):
    do: Literal["cron"]


class CheckStatus(StepBase):
    """The requester opens the ticket in the Support Center with her e-mail and the ticket number."""

    do: Literal["check_status"]
    expect_status: StatusName | None = Field(default=None, description="The status the requester must see.")


class Advance(StepBase):
    """Rehearsal time machine: the ticket's clock moves into the past by the amount, then osTicket's cron runs."""

    # The loader refuses any other `as:` with its own words (`channels.channel_problems`); the schema says the same.
    actor: str = Field(default=REQUESTER, alias="as", min_length=1, json_schema_extra={"const": REQUESTER},
                       description="Only 'requester', the default: time passes for everyone.")
    do: Literal["advance"]
    hours: float = Field(default=0, ge=0, le=24 * 366)
    minutes: float = Field(default=0, ge=0, le=60 * 24 * 366)

    @model_validator(mode="after")
    def _some_time(self) -> Advance:
        if self.hours == 0 and self.minutes == 0:
            raise ValueError("advance needs hours: or minutes: greater than 0")
        return self

    @property
    def seconds(self) -> int:
        return round(self.hours * 3600 + self.minutes * 60)


Step = Annotated[
    AssignAgent | AssignTeam | Transfer | ChangeSla | ChangePriority | Note | Reply | SetStatus | RunCron
    | CheckStatus | Advance | AddCollaborator,
    Field(discriminator="do"),
]
AGENT_ONLY = {"assign_agent", "assign_team", "transfer", "change_sla", "change_priority", "note", "set_status",
              "add_collaborator"}
REQUESTER_ONLY = {"check_status", "advance"}

EntryType = Annotated[Literal["message", "response", "note"], AnyCase()]


class EntryExpect(Strict):
    type: EntryType
    by: str | None = Field(default=None, description="Agent username, 'requester', or 'system' (osTicket's own "
                           "notes: no agent, no user).")
    title: str | None = Field(default=None, min_length=1, description="The entry's title, exactly.")
    text_contains: str | None = Field(default=None, min_length=1, description="Part of the entry's text "
                                      "(whitespace runs count as one space).")


class AttachmentsExpect(Strict):
    count: int | None = Field(default=None, ge=0, description="Files attached to the ticket's thread, in all.")
    names: list[str] = Field(default_factory=list, description="File names that must be attached (each at least "
                             "once).")


class MailExpect(Strict):
    """Mail osTicket sent about the ticket (its number in the subject or body), as the local SMTP server caught it."""

    to: EmailStr = Field(description="A recipient of the message.")
    subject_contains: str | None = Field(default=None, min_length=1, description="Case-insensitive.")
    body_contains: str | None = Field(default=None, min_length=1, description="Case-insensitive, in the body's "
                                      "text (HTML reduced to text, whitespace runs as one space).")
    count: int | None = Field(default=None, ge=0, description="Exactly this many such messages (default: at "
                              "least one).")


class Expect(Strict):
    status: StatusName | None = None
    sla: str | None = None
    department: str | None = None
    agent: str | None = Field(default=None, description="Assigned agent's username; 'none' for unassigned.")
    team: str | None = Field(default=None, description="Assigned team; 'none' for no team.")
    priority: PriorityName | None = None
    overdue: bool | None = None
    sla_met: bool | None = Field(default=None, description="Resolved or closed before the due time.")
    entries_at_least: dict[EntryType, int] = Field(default_factory=dict)
    entries_in_order: list[EntryExpect] = Field(default_factory=list)
    entries: list[EntryExpect] = Field(default_factory=list, description="Entries that must be in the thread, in "
                                       "any order; each item matches a different entry.")
    collaborators: list[EmailStr] | None = Field(default=None, description="The ticket's collaborators (CC) by "
                                                 "e-mail, exactly ([] for none).")
    attachments: AttachmentsExpect | None = None
    events_in_order: list[str] = Field(default_factory=list, description="osTicket event names, e.g. created, "
                                       "edited, assigned, transferred, closed, reopened, overdue.")
    mail: list[MailExpect] = Field(default_factory=list, description="Messages osTicket sent about this ticket "
                                   "(local instances: `ostops local up` catches them).")


class TicketSpec(Strict):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="Short name of the ticket within the scenario.")
    requester: Requester
    channel: Channel = Field(default="api", description="How the ticket arrives: the ticket API (source API), the "
                             "Support Center's form (source Web) or an e-mail piped to osTicket (source Email).")
    fields: dict[str, str] = Field(default_factory=dict, description="Portal only: the help topic's form fields, "
                                   "by their field name.")
    topic: str | None = None
    priority: PriorityName | None = None
    subject: str = Field(min_length=1, max_length=200)
    message: str = Field(min_length=1)
    cc: list[EmailStr] = Field(default_factory=list, description="Collaborators at creation: the e-mail's Cc "
                               "(channel email; osTicket 1.18's ticket API and Support Center form take none).")
    attachments: list[str] = _attachments()
    steps: list[Step] = Field(default_factory=list)
    expect: Expect = Field(default_factory=Expect)


def case_names(ticket: TicketSpec) -> list[str]:
    """The ticket's test names, its creation's first, then each step's: ``<key> / requester create``, then
    ``<key> / <id>`` for a step with an id, else ``<key> / <as> <do>`` with `` #k`` when it is the k-th (k > 1)
    step of that ``as`` and ``do`` in the ticket (steps with an id counted too). So a step inserted, removed or
    moved elsewhere renames no other step, unless it has the same ``as`` and ``do`` and comes before it; giving a
    step an id renames none of the others."""
    names = [f"{ticket.key} / {REQUESTER} create"]
    seen: dict[tuple[str, str], int] = {}
    for step in ticket.steps:
        kind = (step.actor, step.do)
        seen[kind] = seen.get(kind, 0) + 1
        if step.id is not None:
            names.append(f"{ticket.key} / {step.id}")
        else:
            names.append(f"{ticket.key} / {step.actor} {step.do}" + (f" #{seen[kind]}" if seen[kind] > 1 else ""))
    return names


class Review(Strict):
    open_tickets: int | None = Field(default=0, ge=0, description="How many of the run's tickets may stay open.")


class Scenario(Strict):
    name: str
    description: str = ""
    seed: str | None = Field(default=None, description="Seed file this scenario needs, relative to this file.")
    tickets: list[TicketSpec] = Field(min_length=1)
    review: Review = Field(default_factory=Review)
    # Ticket keys are unique within a file: the loader checks it (`loader.duplicate_keys`), naming each duplicate's
    # line and the first one's, which a validator here could not.
