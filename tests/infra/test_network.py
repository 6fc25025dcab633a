"""The inbound rule builder, checked as pure data."""

from __future__ import annotations

import pytest

from infra.network import DENY_ALL_PRIORITY, InboundRule, inbound_rules

pytestmark = pytest.mark.infra

ADMIN = "203.0.113.0/28"
AUTOMATION = "192.0.2.50/32"


def allowed(rules: list[InboundRule]) -> dict[str, str]:
    return {rule.port: rule.source for rule in rules if rule.access == "Allow"}


def test_web_is_open_rdp_is_admin_only_and_mysql_is_closed_by_default() -> None:
    assert allowed(inbound_rules(ADMIN, AUTOMATION, enable_db_access=False)) == {
        "80": "*",
        "443": "*",
        "3389": ADMIN,
    }


def test_mysql_opens_only_to_the_automation_address_when_enabled() -> None:
    assert allowed(inbound_rules(ADMIN, AUTOMATION, enable_db_access=True)) == {
        "80": "*",
        "443": "*",
        "3389": ADMIN,
        "3306": AUTOMATION,
    }


@pytest.mark.parametrize("db", [False, True])
def test_everything_else_is_denied_last(db: bool) -> None:
    rules = inbound_rules(ADMIN, AUTOMATION, enable_db_access=db)
    last = rules[-1]
    assert (last.access, last.port, last.source, last.protocol) == ("Deny", "*", "*", "*")
    assert last.priority == DENY_ALL_PRIORITY == max(rule.priority for rule in rules)
    assert all(rule.access == "Allow" for rule in rules[:-1])


@pytest.mark.parametrize("db", [False, True])
def test_priorities_and_names_are_unique_and_only_tcp_is_allowed(db: bool) -> None:
    rules = inbound_rules(ADMIN, AUTOMATION, enable_db_access=db)
    assert len({rule.priority for rule in rules}) == len(rules)
    assert len({rule.name for rule in rules}) == len(rules)
    assert all(rule.protocol == "Tcp" for rule in rules if rule.access == "Allow")
    assert all(100 <= rule.priority <= 4096 for rule in rules)


def test_rdp_is_closed_without_an_admin_source() -> None:
    """issue 20 §9: RDP is closed by default; only web (and MySQL when asked) come in."""
    assert allowed(inbound_rules(None, AUTOMATION, enable_db_access=False)) == {"80": "*", "443": "*"}
    assert allowed(inbound_rules(None, AUTOMATION, enable_db_access=True)) == {
        "80": "*",
        "443": "*",
        "3306": AUTOMATION,
    }
