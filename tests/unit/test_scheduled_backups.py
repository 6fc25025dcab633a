"""Issue 21: the last scheduled backup as `ostops instance status` judges it (automation/scheduled_backups.py),
and `from-stack` carrying the stack's backup container into the instance file."""

from __future__ import annotations

import datetime as dt
import json

import pymysql
import pytest

from automation import health, scheduled_backups
from automation.errors import ConfigError, DatabaseError
from automation.instance import Instance
from automation.scheduled_backups import Attempt, age, size, verdict
from automation.stack import instance_from_outputs
from tests.unit.test_stack_outputs import OUTPUTS

NOW = dt.datetime(2026, 12, 6, 14, 0, 0)
BLOB = "osticket-20261206T023000Z.age"


def ok_at(hours_ago: float, blob: str = BLOB, size_bytes: int | None = 66_300_000) -> Attempt:
    finished = NOW - dt.timedelta(hours=hours_ago)
    return Attempt(finished - dt.timedelta(seconds=9), finished, True, blob, size_bytes, "ok")


def failed_at(hours_ago: float, message: str) -> Attempt:
    finished = NOW - dt.timedelta(hours=hours_ago)
    return Attempt(finished - dt.timedelta(seconds=3), finished, False, None, None, message)


def test_a_recent_success_is_healthy_and_says_when_how_big_and_which_blob() -> None:
    success = ok_at(11.5)
    healthy, line = verdict(success, success, None, NOW, None)
    assert healthy
    assert line == f"last backup: 2026-12-06 02:30:00 UTC (11 h 30 min ago), 66.3 MB, {BLOB}"


def test_the_edge_of_staleness_is_26_hours() -> None:
    assert verdict(ok_at(25.9), ok_at(25.9), None, NOW, None)[0] is True
    healthy, line = verdict(ok_at(26.1), ok_at(26.1), None, NOW, None)
    assert not healthy
    assert line.startswith("last backup: 2026-12-05 11:54:00 UTC (1 d 2 h ago)")
    assert "older than 26 h" in line


def test_a_failed_last_attempt_is_unhealthy_with_the_task_s_own_message() -> None:
    message = "Upload to https://acct.blob.core.windows.net/osticket-backups: 403 AuthorizationFailure — «nœud» 拒否"
    failure = failed_at(1, message)
    healthy, line = verdict(failure, ok_at(25), None, NOW, None)
    assert not healthy
    assert line.startswith("last attempt failed at 2026-12-06 13:00:00 UTC (1 h 0 min ago): " + message)
    assert f"last backup: 2026-12-05 13:00:00 UTC (1 d 1 h ago), 66.3 MB, {BLOB}" in line


def test_a_failure_followed_by_a_success_is_healthy() -> None:
    # The newest finished attempt is the success: the older failure no longer counts.
    assert verdict(ok_at(2), ok_at(2), None, NOW, None)[0] is True


def test_a_failure_with_no_success_ever_says_so() -> None:
    healthy, line = verdict(failed_at(3, "mariadb-dump: Got error 1045"), None, None, NOW, None)
    assert not healthy and line.endswith("mariadb-dump: Got error 1045; no backup has succeeded yet")
    blank = verdict(failed_at(3, "  "), None, None, NOW, None)[1]
    assert "the task recorded no message" in blank


def test_no_backup_yet_is_reported_clearly_and_healthy_within_a_day_of_set_up() -> None:
    healthy, line = verdict(None, None, None, NOW, NOW - dt.timedelta(hours=3))
    assert healthy
    assert line == "no backup recorded yet (set up 2026-12-06 11:00:00 UTC): the first runs at the next scheduled time"


def test_no_backup_long_after_set_up_is_unhealthy() -> None:
    healthy, line = verdict(None, None, None, NOW, NOW - dt.timedelta(hours=50))
    assert not healthy
    assert line.startswith("no backup recorded in the 2 d 2 h since scheduled backups were set up")


def test_a_running_backup_is_mentioned_without_changing_the_verdict() -> None:
    running = Attempt(NOW - dt.timedelta(minutes=4), None, False, None, None, None)
    healthy, line = verdict(ok_at(24), ok_at(24), running, NOW, None)
    assert healthy and line.endswith("; a backup has been running since 2026-12-06 13:56:00 UTC")


@pytest.mark.parametrize(("seconds", "text"), [(-30, "0 min ago"), (59, "0 min ago"), (3600 * 5 + 60 * 7, "5 h 7 min ago"),
                                               (86400 * 3 + 3600, "3 d 1 h ago")])
def test_age(seconds: int, text: str) -> None:
    assert age(NOW - dt.timedelta(seconds=seconds), NOW) == text


@pytest.mark.parametrize(("count", "text"), [(None, "size not recorded"), (512, "512 bytes"), (1500, "1.5 kB"),
                                             (66_300_000, "66.3 MB"), (2_500_000_000, "2.5 GB"),
                                             (4_000_000_000_000, "4000.0 GB")])
def test_size(count: int | None, text: str) -> None:
    assert size(count) == text


def _db_error(code: int, text: str) -> DatabaseError:
    try:
        try:
            raise pymysql.err.ProgrammingError(code, text)
        except pymysql.MySQLError as exc:
            raise DatabaseError(f"osTicket's database refused a statement: {text}") from exc
    except DatabaseError as wrapped:
        return wrapped


def test_a_missing_table_reads_as_not_set_up() -> None:
    line = scheduled_backups.problem(_db_error(1146, "Table 'ostops_ops.backup_log' doesn't exist"), "osticket")
    assert line.startswith("scheduled backups not set up: ostops_ops.backup_log does not exist")


def test_a_refused_table_names_the_user_and_the_grant() -> None:
    line = scheduled_backups.problem(
        _db_error(1142, "SELECT command denied to user 'osticket'@'localhost' for table `ostops_ops`.`backup_log`"),
        "osticket")
    assert line.startswith("scheduled backups not set up, or osticket may not read ostops_ops.backup_log")
    assert "SELECT command denied" in line and "grants SELECT" in line


def _instance(**changes: object) -> Instance:
    return instance_from_outputs(json.dumps({**OUTPUTS, **changes}), "outputs.json")


def test_only_azure_instances_and_files_naming_a_container_are_held_to_scheduled_backups() -> None:
    azure = _instance()
    assert health.schedules_backups(azure)
    local_like = azure.model_copy(update={"kind": "local"})
    assert not health.schedules_backups(local_like)
    scheduled = local_like.model_copy(update={"backup_container_url": "https://a.blob.core.windows.net/osticket-backups"})
    assert health.schedules_backups(scheduled)


def test_from_stack_copies_the_container_url_and_older_stacks_have_none() -> None:
    url = "https://ostopsbkabc123def4.blob.core.windows.net/osticket-backups"
    assert _instance(backupContainerUrl=url).backup_container_url == url
    assert _instance().backup_container_url is None


@pytest.mark.parametrize("bad", ["https://a.blob.core.windows.net/osticket-backups?sv=1&sig=SECRETSIG",
                                 "http://a.blob.core.windows.net/osticket-backups", "", 42])
def test_from_stack_refuses_a_container_url_with_a_credential_without_echoing_it(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"outputs\.json: stack output backupContainerUrl") as caught:
        _instance(backupContainerUrl=bad)
    assert "SECRETSIG" not in str(caught.value)
