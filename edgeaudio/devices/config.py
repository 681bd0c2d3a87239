"""Which device a name means: `ssh://user@host[:port]`, a name in a devices file (TOML), or a host alias the
user's ~/.ssh/config knows (as `ssh NAME` would take it).

A devices file:

    [devices.pi5]
    host = "pi5.local"
    port = 22                                   # optional
    user = "pi"                                 # optional
    identity = "~/.ssh/id_ed25519"              # optional; otherwise the agent and ssh config
    known_hosts = "~/.ssh/known_hosts"          # optional
    edgeaudio = "/home/pi/.venv/bin/edgeaudio"  # optional; otherwise `edgeaudio` on the login PATH
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from edgeaudio.errors import InputError

ALL = "all"
DEFAULT_TIMEOUT = 900.0  # seconds a device may take for one command before its row says it timed out
_KEYS = {"host": str, "port": int, "user": str, "identity": str, "known_hosts": str, "edgeaudio": str}
_KINDS = {str: "a string", int: "a whole number"}


@dataclass(frozen=True)
class Device:
    """One device to reach over SSH. Unset fields fall to the user's ssh config and defaults (port 22, the login
    user, keys from the agent and ~/.ssh, ~/.ssh/known_hosts, `edgeaudio` on the login PATH)."""

    name: str
    host: str
    port: int | None = None
    user: str | None = None
    identity: str | None = None
    known_hosts: str | None = None
    edgeaudio: str = "edgeaudio"

    @property
    def address(self) -> str:
        """user@host:port as far as known, for messages and rows."""
        return f"{self.user + '@' if self.user else ''}{self.host}{':' + str(self.port) if self.port else ''}"

    def to_dict(self) -> dict:
        return asdict(self)


def read_devices_file(path: str | os.PathLike) -> dict[str, Device]:
    """The [devices.NAME] tables of a TOML file; InputError naming the file and the entry that is wrong."""
    path = Path(path)
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise InputError("reading a devices file needs Python 3.11 or newer (tomllib)", path) from None
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise InputError("no such devices file", path) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"is not a readable TOML devices file: {exc}", path) from None
    tables = data.get("devices")
    if not isinstance(tables, dict) or not tables:
        raise InputError("has no [devices.NAME] tables", path)
    devices = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise InputError(f"devices.{name} is not a table", path)
        unknown = sorted(set(table) - set(_KEYS))
        if unknown:
            raise InputError(f"devices.{name}: unknown key(s) {', '.join(unknown)}; known: {', '.join(_KEYS)}", path)
        if "host" not in table:
            raise InputError(f"devices.{name} has no host", path)
        for key, value in table.items():
            if not isinstance(value, _KEYS[key]) or isinstance(value, bool):
                raise InputError(f"devices.{name}.{key} must be {_KINDS[_KEYS[key]]}, got {value!r}", path)
        paths = {k: _expanded(table[k], path) for k in ("identity", "known_hosts") if k in table}
        devices[name] = Device(name=name, **{**table, **paths})
    return devices


def _expanded(value: str, devices_file: Path) -> str:
    """~ expanded; a relative path is relative to the devices file's folder (as ssh_config's are not, but a
    devices file kept beside its keys is the common case)."""
    expanded = Path(value).expanduser()
    return str(expanded if expanded.is_absolute() else (devices_file.parent / expanded).resolve())


def parse_ssh_url(url: str) -> Device:
    """ssh://[user@]host[:port] -> Device named by the URL."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "ssh" or not parts.hostname or port == -1 or parts.path not in ("", "/") or parts.password:
        raise InputError(f"--device {url}: expected ssh://[user@]host[:port] (no password: keys come from the agent, "
                         "the ssh config or a devices file)")
    return Device(name=url, host=parts.hostname, port=port, user=unquote(parts.username) if parts.username else None)


def resolve_devices(names: list[str], devices_file: str | os.PathLike | None = None) -> list[Device]:
    """The devices `names` mean, in order and without repeats: ssh:// URLs, names in `devices_file` (`all` is
    every one), and otherwise ssh config host aliases (the name is the host; ~/.ssh/config applies)."""
    known = read_devices_file(devices_file) if devices_file is not None else {}
    chosen: dict[str, Device] = {}
    for name in names:
        if name == ALL:
            if devices_file is None:
                raise InputError("--device all needs --devices FILE (all is every device in that file)")
            chosen.update({d.name: d for d in known.values()})
        elif name.startswith("ssh:"):
            device = parse_ssh_url(name)
            chosen[device.name] = device
        elif name in known:
            chosen[name] = known[name]
        elif not name or any(c in name for c in " /@:"):
            raise InputError(f"--device {name!r}: not a devices-file name, an ssh config alias or ssh://user@host:port")
        else:
            chosen[name] = Device(name=name, host=name)  # an ssh config alias, or a plain host name as ssh takes it
    return list(chosen.values())
