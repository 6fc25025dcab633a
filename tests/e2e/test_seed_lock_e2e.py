"""Issue 19 item 7: seeds of one help desk run one at a time (a MariaDB advisory lock). Four `ostops seed` of one
new file at once: one applies it, the others find it applied; no driver error, no exit 1. A seed that cannot get
the lock in time names the connection holding it."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from automation.osticket.db import connect
from automation.seeding.apply import lock_name
from tests.helpers.osticket import ostops, query

pytestmark = pytest.mark.e2e


def new_seed(tmp_path: Path) -> tuple[Path, str]:
    tag = uuid.uuid4().hex[:6]
    sla = f'Sev "Ω" & Co {tag}'
    seed = {"version": 1,
            "slas": [{"name": sla, "grace_hours": 6, "notes": "Pumps «4B» & <ICU>"}],
            "departments": [{"name": f"R&D — Équipe «Nord» {tag}"},
                            {"name": "Night shift", "parent": f"R&D — Équipe «Nord» {tag}", "sla": sla}],
            "teams": [{"name": f"Nord «Night» & Day {tag}", "notes": "L'équipe de nuit"}],
            "help_topics": [{"name": f"Pumps & «drug library» {tag}", "department": f"R&D — Équipe «Nord» {tag}"}]}
    path = tmp_path / "nord.yaml"
    path.write_text(yaml.safe_dump(seed, allow_unicode=True), encoding="utf-8")
    return path, sla


def test_four_concurrent_seeds_of_one_new_file_have_one_winner(osticket: Any, tmp_path: Path) -> None:
    path, sla = new_seed(tmp_path)
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: ostops(osticket, "seed", str(path)), range(4)))
    print(f"\nfour concurrent seeds of one new file: {time.monotonic() - started:.2f} s in all")
    outputs = [r.stdout + r.stderr for r in results]
    assert [r.returncode for r in results] == [0, 0, 0, 0], outputs
    assert not any("Duplicate entry" in o or "Traceback" in o or "Error" in o for o in outputs), outputs
    applied = [o for o in outputs if "applied: 5 created, 0 updated, 0 unchanged" in o]
    already = [o for o in outputs if "already applied: nothing to change, 5 unchanged" in o]
    assert len(applied) == 1 and len(already) == 3, outputs
    assert len(query(osticket, "SELECT id FROM ost_sla WHERE name = %s", [sla])) == 1


def test_a_seed_that_cannot_get_the_lock_names_its_holder(osticket: Any, tmp_path: Path) -> None:
    path, sla = new_seed(tmp_path)
    conn = connect(osticket.instance)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, 0) AS got, CONNECTION_ID() AS id", [lock_name(osticket.instance)])
            held = cur.fetchone()
        assert held["got"] == 1
        result = ostops(osticket, "seed", str(path), "--lock-wait", "1")
    finally:
        conn.close()
    err = " ".join(result.stderr.split())
    assert result.returncode == 4, result.stdout + result.stderr
    assert (f"another seed of this help desk holds the seed lock '{lock_name(osticket.instance)}' (MariaDB "
            f"connection {held['id']}: ") in err
    assert f"did not finish within 1 s; nothing was written; wait for it to finish (or end that connection: KILL " \
           f"{held['id']}) and seed again" in err
    assert "Traceback" not in result.stderr
    assert not query(osticket, "SELECT id FROM ost_sla WHERE name = %s", [sla])
    # the lock went with the connection: the seed goes through now
    assert ostops(osticket, "seed", str(path)).returncode == 0
    assert len(query(osticket, "SELECT id FROM ost_sla WHERE name = %s", [sla])) == 1
