"""Generated secrets: random passwords and an osTicket-style API key, always Pulumi secrets."""

from __future__ import annotations

from collections.abc import Callable

import pulumi
import pulumi_random as random
from pydantic import SecretStr

# Characters that survive PowerShell, PHP and MySQL quoting unchanged.
PASSWORD_SPECIALS = "-_"


def random_password(name: str, parent: pulumi.Resource, length: int = 24) -> pulumi.Output[str]:
    password = random.RandomPassword(
        name,
        length=length,
        special=True,
        override_special=PASSWORD_SPECIALS,
        min_lower=2,
        min_upper=2,
        min_numeric=2,
        min_special=1,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return pulumi.Output.secret(password.result)


def random_api_key(name: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """32 upper-case hex characters, like the keys osTicket generates; kept secret in state too."""
    key = random.RandomPassword(
        name,
        length=32,
        lower=False,
        upper=False,
        numeric=True,
        special=True,
        override_special="ABCDEF",
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return pulumi.Output.secret(key.result)


def secret_or_random(
    given: SecretStr | None,
    name: str,
    parent: pulumi.Resource,
    make: Callable[[str, pulumi.Resource], pulumi.Output[str]] = random_password,
) -> pulumi.Output[str]:
    if given is not None:
        return pulumi.Output.secret(given.get_secret_value())
    return make(name, parent)
