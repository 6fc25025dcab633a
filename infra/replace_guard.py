"""``VmReplaceGuard``: refuse a ``pulumi up`` that would replace the help-desk VM unless ``ostops:allowVmReplace``.

The guard is a small dynamic resource whose inputs are the config values that replace the VM (its location,
image, admin name, computer name and security type: the VM's create-only properties, ``VM_REPLACE_ON_CHANGES``
in infra/vm.py). Pulumi keeps the inputs of the last successful deployment in the stack's state and hands them
to the provider's ``check`` as ``olds`` next to the program's ``news``: that comparison is exact (no second
stack, no stack reference to itself), happens in ``pulumi preview`` as well as ``pulumi up``, and a failed
check fails the deployment with the reasons, one per changed key ("CheckFailure represents a single failure
in the results of a call to ResourceProvider.check", ``pulumi.dynamic``).

The VM ``depends_on`` the guard, so the VM is registered only once the guard's check has passed: a refused
change leaves the VM (and its OS disk) untouched. The data disk survives a replacement either way
(``deleteOption: Detach`` and ``protect``); the guard keeps the help desk from going down, and its OS disk from
being deleted, by accident.

``pulumi up --replace <vm urn>`` changes no input and so passes the guard: it is an explicit request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi import dynamic

GUARD_RESOURCE_MODULE = "ostops"
GUARD_RESOURCE_NAME = "VmReplaceGuard"
ALLOW_KEY = "allowVmReplace"


class VmReplaceGuardProvider(dynamic.ResourceProvider):
    """Compares the watched values with those of the last deployment; state only, nothing in Azure."""

    @staticmethod
    def problems(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[tuple[str, str]]:
        watched_old = olds.get("watched")
        watched_new = news.get("watched")
        if not isinstance(watched_old, Mapping) or not isinstance(watched_new, Mapping):
            return []  # first deployment (or a stack from before the guard): nothing to compare
        if news.get(ALLOW_KEY) is True:
            return []
        vm = str(news.get("vm") or "the help-desk VM")
        found = []
        for key in sorted(watched_new):
            before, after = watched_old.get(key), watched_new.get(key)
            if key in watched_old and before != after:
                found.append(
                    (
                        key,
                        (f"ostops:{key} {before!r} -> {after!r} replaces {vm} (its OS disk is deleted; the data "
                        "disk is detached and re-attached to the new VM, whose bootstrap keeps the existing "
                        f"data). To go ahead: `pulumi config set ostops:{ALLOW_KEY} true && pulumi up`, then set "
                        "it back to false; or undo the change"),
                    )
                )
        return found

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        failures = [dynamic.CheckFailure(f"watched.{key}", reason) for key, reason in self.problems(_olds, news)]
        return dynamic.CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        return dynamic.CreateResult(id_="vm-replace-guard", outs=props)

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> dynamic.DiffResult:
        keys = ("watched", ALLOW_KEY, "vm")
        return dynamic.DiffResult(changes=any(_olds.get(k) != _news.get(k) for k in keys), replaces=[])

    def update(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(outs=_news)


class VmReplaceGuard(dynamic.Resource, module=GUARD_RESOURCE_MODULE, name=GUARD_RESOURCE_NAME):
    """Holds the values that replace the VM; its check refuses a change to them unless allowed."""

    watched: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        name: str,
        watched: Mapping[str, str],
        allow_replace: bool,
        vm: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"watched": dict(watched), ALLOW_KEY: allow_replace, "vm": vm}
        super().__init__(VmReplaceGuardProvider(), name, props, opts)
