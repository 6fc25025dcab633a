"""The project's one list of pinned downloads (``infra/bootstrap/downloads.json``)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from automation.errors import ConfigError

MANIFEST_PATH = Path(__file__).resolve().parents[1] / "infra" / "bootstrap" / "downloads.json"
UNKNOWN = "unknown"


class Download(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1)
    url: str
    file: str = Field(min_length=1)
    sha256: str

    @field_validator("url")
    @classmethod
    def _https_only(cls, url: str) -> str:
        if not url.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return url

    @field_validator("sha256")
    @classmethod
    def _hash_or_unknown(cls, value: str) -> str:
        if value != UNKNOWN and (len(value) != 64 or any(c not in "0123456789abcdef" for c in value)):
            raise ValueError(f"must be 64 lower-case hex digits or {UNKNOWN!r}")
        return value

    @property
    def hash_known(self) -> bool:
        return self.sha256 != UNKNOWN


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    comment: str = Field(default="", alias="$comment")
    downloads: dict[str, Download]


def load_manifest(path: Path = MANIFEST_PATH) -> Manifest:
    try:
        return Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: download manifest not found") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from exc
