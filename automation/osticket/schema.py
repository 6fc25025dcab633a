"""osTicket's own tables, as ostops reads and writes them (osTicket 1.18; ../shared/OSTICKET_FACTS.md): table
names with the instance's prefix, the meaning of each ``flags`` bit, the ticket states and the event names.

Every SQL statement ostops sends names its tables through `Tables` and its bits through the constants here, so
that what osTicket's schema means is written down once."""

from __future__ import annotations


class Tables:
    """Table names with the instance's prefix: ``t.ticket`` → ``ost_ticket``."""

    def __init__(self, prefix: str) -> None:
        if not prefix.replace("_", "").isalnum():
            raise ValueError(f"unsafe table prefix {prefix!r}")
        self.prefix = prefix

    def __getattr__(self, name: str) -> str:
        if name.startswith("__"):
            raise AttributeError(name)
        return f"`{self.prefix}{name}`"


# ``flags`` bits (include/class.sla.php, class.dept.php, class.team.php, class.topic.php of osTicket 1.18.1).
SLA_ACTIVE, SLA_ESCALATE, SLA_NOALERTS, SLA_TRANSIENT = 0x1, 0x2, 0x4, 0x8
DEPT_ACTIVE, DEPT_ARCHIVED = 0x4, 0x8
DEPT_ASSIGN_MEMBERS_ONLY, DEPT_DISABLE_AUTO_CLAIM, DEPT_ASSIGN_PRIMARY_ONLY = 0x1, 0x2, 0x10
DEPT_DISABLE_REOPEN_AUTO_ASSIGN = 0x20
TEAM_ENABLED, TEAM_NOALERTS = 0x1, 0x2
TOPIC_ACTIVE, TOPIC_ARCHIVED = 0x2, 0x4
ENTRY_SYSTEM = 0x80  # thread_entry.flags: a system note, posted by neither an agent nor a user (class.thread.php)
ALERTS = 0x1  # team_member.flags and staff_dept_access.flags: the agent gets the alerts

# ``ticket_status.state``: Resolved and Closed are both "closed" (they set ``ticket.closed``).
STATE_OPEN, STATE_CLOSED = "open", "closed"

# ``event.name`` values the scenarios expect and the report reads.
EVENT_CREATED, EVENT_CLOSED, EVENT_REOPENED, EVENT_ASSIGNED = "created", "closed", "reopened", "assigned"
EVENT_TRANSFERRED, EVENT_OVERDUE, EVENT_EDITED = "transferred", "overdue", "edited"

# ``config`` rows: osTicket's own settings are namespace 'core'; the database's schema signature is its key
# 'schema_signature' (include/class.osticket.php getDBSignature), which the release's upgrader aims at
# include/upgrader/streams/core.sig (OSTICKET_FACTS.md §10).
CONFIG_CORE, SCHEMA_SIGNATURE_KEY, HELPDESK_URL_KEY = "core", "schema_signature", "helpdesk_url"
SCHEMA_SIGNATURE_FILE = "include/upgrader/streams/core.sig"  # in a release's web root
CONFIG_FILE = "include/ost-config.php"  # in the web root: DB credentials, SECRET_SALT, TABLE_PREFIX
# The filesystem storage plugin (osTicket's plugins repository, storage-fs) keeps attachments under the folder
# its instance's config key 'uploadpath' names, instead of in file_chunk.
UPLOAD_PATH_KEY = "uploadpath"
# ``config.schema_signature`` (namespace core) → the releases whose installer writes it: the MD5 in the release's
# include/upgrader/streams/core.sig (read from osTicket-v1.17.5.zip and osTicket-v1.18.1.zip). The web files
# carry no exact version (bootstrap.php's THIS_VERSION is MAJOR_VERSION.'-git'), so the schema names the release.
SCHEMA_RELEASES = {
    "83a22ba22b1a6a624fcb1da03882ac1b": ("1.17.5",),
    "5fb92bef17f3b603659e024c01cc7a59": ("1.18.1",),
}

# The run field: where a ticket keeps the ostops run (and the scenario's ticket key) that opened it, out of the
# subject. A text field of the Ticket Details form (``form.type`` 'T'), found by its ``name``. Its value lands in
# ``form_entry_values`` and, under a column of that name, in ``ticket__cdata`` (osTicket's
# ``DynamicForm::updateDynamicDataView`` writes that column on every answer; the table's columns are the form's
# named fields, include/class.dynamic_forms.php of 1.18.1). ``form_field.flags`` bits (``DynamicFormField``):
FIELD_ENABLED = 0x00001
FIELD_CLIENT_VIEW, FIELD_CLIENT_EDIT, FIELD_CLIENT_REQUIRED = 0x00100, 0x00200, 0x00400
FIELD_AGENT_VIEW, FIELD_AGENT_EDIT, FIELD_AGENT_REQUIRED = 0x01000, 0x02000, 0x04000
FIELD_MASK_NAME = 0x40000  # the admin panel may not rename it (osTicket's own fields carry it)
# Enabled with neither view bit: osTicket lists it as "Hidden" (``getVisibilityDescription``): the Support Center
# never renders it and the staff panel neither shows nor edits it (``isVisibleToStaff``/``isEditableToStaff``
# need FIELD_AGENT_VIEW/EDIT, and a staff edit saves only editable answers, so it keeps the value). The ticket
# API still sets it by name (include/api.tickets.php ``getRequestStructure`` takes every Ticket Details field's
# name; ``Ticket::create`` parses it for the api origin).
RUN_FIELD_FLAGS = FIELD_ENABLED | FIELD_MASK_NAME
TICKET_FORM_TYPE = "T"
RUN_FIELD_NAME, RUN_FIELD_LABEL, RUN_FIELD_TYPE = "ostops_run", "ostops run", "text"
RUN_FIELD_CONFIGURATION = '{"size":40,"length":120}'
RUN_FIELD_HINT = "Set by ostops: the run and the scenario's ticket key that opened this ticket"
FORM_ENTRY_TICKET = "T"  # form_entry.object_type of a ticket's answers
CDATA_COLUMN_TYPE = "mediumtext"  # what osTicket's CREATE TABLE ... AS crosstab gives a text field in 1.18.1

# The names a fresh osTicket 1.18.1 install holds before any seed: the installer's fixtures in
# include/i18n/en_US/{department,sla,team,help_topic,ticket_status,priority}.yaml of osTicket-v1.18.1.zip
# (OSTICKET_FACTS.md §2), and the admin `ostops local up` and `instance add` name by default. A scenario may use
# them without a seed defining them; `ostops validate` checks names offline against these and the seed file's.
FRESH_INSTALL_NAMES: dict[str, tuple[str, ...]] = {
    "agents": ("ostadmin",),
    "teams": ("Level I Support",),
    "slas": ("Default SLA",),
    "departments": ("Support", "Sales", "Maintenance"),
    "topics": ("General Inquiry", "Feedback", "Report a Problem", "Access Issue"),
    "statuses": ("Open", "Resolved", "Closed", "Archived", "Deleted"),
    "priorities": ("Low", "Normal", "High", "Emergency"),
}
