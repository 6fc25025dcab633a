"""Files written whole or not at all, and private files that stay private (on POSIX by mode, on Windows by
ACL)."""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from pathlib import Path

# Windows: well-known SIDs (learn.microsoft.com/windows-server/identity/ad-ds/manage/understand-security-identifiers)
# given to icacls in its numeric form, a leading "*" (learn.microsoft.com/windows-server/administration/
# windows-commands/icacls), so that nothing depends on the language of the account names.
SYSTEM_SID = "S-1-5-18"
ADMINISTRATORS_SID = "S-1-5-32-544"
BROAD_SIDS = {"S-1-1-0": "Everyone", "S-1-5-11": "Authenticated Users", "S-1-5-32-545": "Users"}
ICACLS_TIMEOUT = 30


def _is_windows() -> bool:
    return os.name == "nt"


def _icacls(*args: str) -> str:
    result = subprocess.run(["icacls", *args], capture_output=True, text=True, timeout=ICACLS_TIMEOUT,
                            check=False)
    if result.returncode != 0:
        raise OSError(f"icacls {args[0]}: {(result.stderr or result.stdout).strip()}")
    return result.stdout


def current_user_sid() -> str:
    # `whoami /user /fo csv /nh` prints "DOMAIN\user","S-1-5-21-…".
    out = subprocess.run(["whoami", "/user", "/fo", "csv", "/nh"], capture_output=True, text=True,
                         timeout=ICACLS_TIMEOUT, check=True).stdout
    return out.strip().rsplit(",", 1)[-1].strip().strip('"')


def restrict_to_owner(path: Path) -> None:
    """Windows' 0600: inheritance removed, full control for this user, SYSTEM and Administrators only."""
    _icacls(str(path), "/inheritance:r", "/grant:r", f"*{current_user_sid()}:F", f"*{SYSTEM_SID}:F",
            f"*{ADMINISTRATORS_SID}:F")


def private_file_problem(path: Path) -> str | None:
    """Why others could read or change ``path``, or None. POSIX: any group/other mode bit; Windows: an
    inherited entry or one for Everyone, Authenticated Users or Users in its ACL."""
    if not _is_windows():
        mode = stat.S_IMODE(path.stat().st_mode)
        return f"other users can read or change it (mode {mode:04o})" if mode & 0o077 else None
    listing = _icacls(str(path))
    if "(I)" in listing:
        return "its ACL inherits entries from the folder, so other users may read it"
    for sid, name in BROAD_SIDS.items():
        # /findsid lists the file when its ACL mentions the SID, and prints nothing of it otherwise.
        if str(path) in _icacls(str(path), "/findsid", f"*{sid}"):
            return f"its ACL lets {name} in"
    return None


def private_file_fix(path: Path) -> str:
    if _is_windows():
        return f'icacls "{path}" /inheritance:r /grant:r "%USERNAME%:F"'
    return f"chmod 600 {path}"


def write_atomic(path: Path, text: str, mode: int = 0o600, owner: tuple[int, int] | None = None) -> None:
    """Write ``text`` to a temporary file beside ``path`` with ``mode`` (and on POSIX ``owner``, a uid and a
    gid) from the first byte (no window where others can read it), flush it to disk, then rename it over
    ``path``: readers see the old file or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if _is_windows():
            if not mode & 0o077:
                restrict_to_owner(Path(tmp))  # before the first byte; a rename keeps the ACL
        else:
            if owner is not None:
                os.fchown(fd, *owner)
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_private(path: Path, text: str) -> None:
    """`write_atomic` with mode 0600: for files holding secrets."""
    write_atomic(path, text, 0o600)


def replace_keeping_mode(path: Path, text: str) -> None:
    """`write_atomic` over an existing file, keeping its mode and (on POSIX) its owner and group: a read-only
    ``ost-config.php`` stays read-only and its owner's."""
    info = path.stat()
    owner = None if _is_windows() else (info.st_uid, info.st_gid)
    write_atomic(path, text, stat.S_IMODE(info.st_mode), owner)
