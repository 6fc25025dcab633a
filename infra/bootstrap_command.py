"""The managed Run Command that installs osTicket on the help-desk VM with ``infra/bootstrap/bootstrap.ps1``.

The script text is the Run Command's ``source.script`` and the manifest and shared installer travel as
parameters, so any change to them changes the resource and ``pulumi up`` runs the bootstrap again. Secrets
go only in ``protected_parameters``, each value a Pulumi secret. ``PLAIN_PARAMETERS`` and
``PROTECTED_PARAMETERS`` are the one list of names the script's ``param()`` block must match.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
from pulumi_azure_native import compute

from automation.errors import ConfigError
from automation.manifest import MANIFEST_PATH

REPO_ROOT = Path(__file__).resolve().parents[1]
BOOTSTRAP_SCRIPT_PATH = REPO_ROOT / "infra" / "bootstrap" / "bootstrap.ps1"
INSTALLER_PATH = REPO_ROOT / "automation" / "local" / "installer.php"

PLAIN_PARAMETERS: tuple[str, ...] = (
    "OsTicketVersion",
    "SiteHostName",
    "HelpdeskName",
    "AdminUsername",
    "AdminEmail",
    "AutomationSourceIp",
    "EnableDbAccess",
    "ManifestBase64",
    "InstallerBase64",
)
PROTECTED_PARAMETERS: tuple[str, ...] = ("AdminPassword", "DbRootPassword", "DbAppPassword", "ApiKey")
FILE_PARAMETERS = ("ManifestBase64", "InstallerBase64")

RUN_COMMAND_NAME = "ostops-bootstrap"
DIGEST_TAG = "bootstrap-sha256"
# Downloading PHP, MariaDB and osTicket and running the installer on a B-series VM can take a while.
BOOTSTRAP_TIMEOUT_SECONDS = 3600


@dataclass(frozen=True)
class BootstrapFiles:
    """What the VM needs from this repository, read once at program time."""

    script: str
    manifest_base64: str
    installer_base64: str

    @property
    def digest(self) -> str:
        """Short hash of everything shipped to the VM; tagged on the Run Command to show what ran."""
        sha = hashlib.sha256()
        for part in (self.script, self.manifest_base64, self.installer_base64):
            sha.update(part.encode("utf-8"))
            sha.update(b"\0")
        return sha.hexdigest()[:12]


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found; the Azure bootstrap needs it") from None


def read_bootstrap_files(
    script_path: Path | None = None,
    manifest_path: Path | None = None,
    installer_path: Path | None = None,
) -> BootstrapFiles:
    """Read the script, manifest and installer (by default from this checkout) at program time."""
    script = _read(script_path or BOOTSTRAP_SCRIPT_PATH, "bootstrap script").decode("utf-8-sig")
    manifest = _read(manifest_path or MANIFEST_PATH, "download manifest")
    installer = _read(installer_path or INSTALLER_PATH, "shared PHP installer")
    return BootstrapFiles(
        script=script,
        manifest_base64=base64.b64encode(manifest).decode("ascii"),
        installer_base64=base64.b64encode(installer).decode("ascii"),
    )


def _in_order(names: tuple[str, ...], values: Mapping[str, pulumi.Input[str]], kind: str) -> list[str]:
    if set(values) != set(names):
        missing = sorted(set(names) - set(values))
        extra = sorted(set(values) - set(names))
        raise ValueError(f"{kind} parameters do not match the script: missing {missing}, unexpected {extra}")
    return list(names)


def plain_parameter_args(
    values: Mapping[str, pulumi.Input[str]], files: BootstrapFiles
) -> list[compute.RunCommandInputParameterArgs]:
    """``values`` holds every plain parameter except the two file ones, which come from ``files``."""
    everything = {
        **values,
        "ManifestBase64": files.manifest_base64,
        "InstallerBase64": files.installer_base64,
    }
    return [
        compute.RunCommandInputParameterArgs(name=name, value=everything[name])
        for name in _in_order(PLAIN_PARAMETERS, everything, "plain")
    ]


def protected_parameter_args(
    values: Mapping[str, pulumi.Input[str]],
) -> list[compute.RunCommandInputParameterArgs]:
    return [
        compute.RunCommandInputParameterArgs(name=name, value=pulumi.Output.secret(values[name]))
        for name in _in_order(PROTECTED_PARAMETERS, values, "protected")
    ]


def create_bootstrap_command(
    name: str,
    *,
    resource_group_name: pulumi.Input[str],
    vm_name: pulumi.Input[str],
    location: pulumi.Input[str],
    files: BootstrapFiles,
    plain: Mapping[str, pulumi.Input[str]],
    protected: Mapping[str, pulumi.Input[str]],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> compute.VirtualMachineRunCommandByVirtualMachine:
    return compute.VirtualMachineRunCommandByVirtualMachine(
        name,
        resource_group_name=resource_group_name,
        vm_name=vm_name,
        location=location,
        run_command_name=RUN_COMMAND_NAME,
        source=compute.VirtualMachineRunCommandScriptSourceArgs(script=files.script),
        parameters=plain_parameter_args(plain, files),
        protected_parameters=protected_parameter_args(protected),
        async_execution=False,
        treat_failure_as_deployment_failure=True,
        timeout_in_seconds=BOOTSTRAP_TIMEOUT_SECONDS,
        tags={**tags, DIGEST_TAG: files.digest},
        opts=opts,
    )
