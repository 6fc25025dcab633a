"""The ostops PolicyPack for ``pulumi preview --policy-pack infra/policy``.

Constructing ``PolicyPack`` starts the policy server and blocks, so this runs only as the pack's program;
the rules themselves live in ``predicates.py`` and are tested without it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyPack,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

# The pack runs from infra/policy; make the repository importable even without the editable install.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from infra.policy.predicates import ADVISORY, POLICIES, Predicate

PACK_NAME = "ostops-azure"


def as_validation(predicate: Predicate) -> ResourceValidation:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in predicate(args.resource_type, args.props):
            report_violation(message, None)

    return validate


def build_policies() -> list[Policy]:
    return [
        ResourceValidationPolicy(
            name=name,
            description=description,
            validate=as_validation(predicate),
            enforcement_level=EnforcementLevel.ADVISORY if name in ADVISORY else EnforcementLevel.MANDATORY,
        )
        for name, (description, predicate) in POLICIES.items()
    ]


if __name__ == "__main__":
    PolicyPack(name=PACK_NAME, policies=build_policies(), enforcement_level=EnforcementLevel.MANDATORY)
