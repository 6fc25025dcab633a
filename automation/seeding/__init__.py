"""Seed as code: the help desk's configuration in a reviewable YAML file, planned before it is applied."""

from automation.seeding.apply import apply_seed
from automation.seeding.loader import load_seed
from automation.seeding.plan import Plan, plan_seed

__all__ = ["Plan", "apply_seed", "load_seed", "plan_seed"]
