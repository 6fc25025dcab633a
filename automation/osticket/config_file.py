"""osTicket's ``include/ost-config.php``: its settings are PHP constants, ``define('NAME','value');``.

osTicket's installer writes each value between single quotes as given (setup/inc/class.installer.php replaces
``%CONFIG-DBPASS`` and the others in ost-sampleconfig.php's ``define('DBPASS','%CONFIG-DBPASS');``), and
bootstrap.php reads them as constants (``db_connect($host, DBUSER, DBPASS, …)``). In a PHP single-quoted
string only ``\\'`` and ``\\\\`` are escapes (php.net, "Strings": single quoted); every other character,
a backslash before anything else included, stands for itself."""

from __future__ import annotations

import re

from automation.errors import ConfigError


def _define(name: str) -> re.Pattern[str]:
    return re.compile(r"""define\(\s*(['"])""" + re.escape(name) + r"""\1\s*,\s*'((?:[^'\\]|\\.)*)'\s*\)\s*;""",
                      re.DOTALL)


def php_unquote(body: str) -> str:
    return re.sub(r"\\([\\'])", r"\1", body)


def php_quote(value: str) -> str:
    """``value`` as the inside of a PHP single-quoted string."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def read_define(text: str, name: str, where: str = "ost-config.php") -> str:
    """The value of ``define('NAME', '…');`` in ``text``; exactly one must be there."""
    found = _define(name).findall(text)
    if len(found) != 1:
        raise ConfigError(f"{where}: expected one define('{name}', '…'); found {len(found)}")
    return php_unquote(found[0][1])


def replace_define(text: str, name: str, value: str, where: str = "ost-config.php") -> str:
    """``text`` with the value of ``define('NAME', '…');`` replaced, every other byte kept."""
    read_define(text, name, where)
    match = _define(name).search(text)
    assert match is not None
    return text[:match.start(2)] + php_quote(value) + text[match.end(2):]
