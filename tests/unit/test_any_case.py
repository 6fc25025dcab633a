"""Enumerations accept any case in seeds and scenarios and keep one spelling; the JSON Schemas agree."""

from __future__ import annotations

import json
import re

from automation.scenarios.models import Scenario
from automation.schemas import generate
from automation.seeding.models import SeedFile

TICKET = {"key": "t1", "requester": {"name": "Zoë", "email": "zoe@example.com"}, "subject": "Printer & <scanner>",
          "message": "Ça ne marche pas"}


def test_scenario_enumerations_in_any_case_are_kept_in_one_spelling() -> None:
    scenario = Scenario.model_validate({"name": "n", "tickets": [{
        **TICKET, "channel": "Portal", "priority": "high",
        "steps": [{"as": "jane.doe", "do": "set_status", "status": "RESOLVED"},
                  {"as": "requester", "do": "reply", "text": "merci", "via": "EMAIL"}],
        "expect": {"priority": "HIGH", "status": "resolved", "entries_at_least": {"Response": 1}}}]})
    ticket = scenario.tickets[0]
    assert (ticket.channel, ticket.priority, ticket.expect.priority) == ("portal", "High", "High")
    assert ticket.steps[0].status == "Resolved" and ticket.steps[1].via == "email"  # type: ignore[union-attr]
    assert ticket.expect.status == "Resolved" and ticket.expect.entries_at_least == {"response": 1}


def test_seed_priorities_in_any_case_are_osticket_s_names() -> None:
    seed = SeedFile.model_validate({"settings": {"default_priority": "normal"},
                                    "help_topics": [{"name": "Topic One", "priority": "high"}]})
    assert seed.settings is not None and seed.settings.default_priority == "Normal"
    assert seed.help_topics[0].priority == "High"


def test_the_schemas_accept_any_case_for_the_same_values() -> None:
    scenario = json.loads(generate("scenario.schema.json"))
    seed = json.loads(generate("seed.schema.json"))
    topic = seed["$defs"]["HelpTopic"]["properties"]["priority"]["anyOf"][0]
    pattern = re.compile(topic["pattern"])
    assert pattern.match("high") and pattern.match("HIGH") and pattern.match("Emergency")
    assert not pattern.match("urgent") and not pattern.match("highest")
    assert topic["examples"] == ["Low", "Normal", "High", "Emergency"]
    status = scenario["$defs"]["SetStatus"]["properties"]["status"]
    assert re.compile(status["pattern"]).match("closed") and status["examples"] == ["Open", "Resolved", "Closed"]
