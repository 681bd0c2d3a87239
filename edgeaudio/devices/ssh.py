"""The SSH transport, on asyncssh.

Why asyncssh (over Fabric/paramiko): every device is driven concurrently from one event loop with a timeout
per device (asyncio.wait_for), without a thread per board; it checks host keys against known_hosts itself
(an unknown or changed key is refused, never added), reads ~/.ssh/config (Host aliases, HostName, Port, User,
IdentityFile, UserKnownHostsFile), uses the agent, and carries SFTP for the uploads. It is pure Python on top
of `cryptography`, which has wheels for a workstation and for aarch64.
"""

from __future__ import annotations

import shlex
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from edgeaudio.devices.config import Device
from edgeaudio.errors import EdgeAudioError


class DeviceError(EdgeAudioError):
    """A device could not be used (unreachable, refused, no edgeaudio there, its run failed): its row says why."""


def _asyncssh():
    import warnings

    try:
        with warnings.catch_warnings():  # asyncssh still names DSA types, which cryptography warns about on import
            warnings.simplefilter("ignore")
            import asyncssh
    except ImportError:
        raise EdgeAudioError("--device needs asyncssh: pip install 'edgeaudio[devices]'") from None
    return asyncssh


def require_ssh_library() -> None:
    """EdgeAudioError with the install line when asyncssh is missing (before any device is tried)."""
    _asyncssh()


def ssh_error() -> type:
    """asyncssh's base error class (what a broken connection or a failed SFTP call raises)."""
    return _asyncssh().Error


def keyscan_hint(device: Device, known_hosts: str) -> str:
    port = f"-p {device.port} " if device.port else ""
    return f"ssh-keyscan {port}{device.host} >> {known_hosts} (then compare the fingerprint with the device's own)"


def _host_key_problem(device: Device) -> str:
    """Why the host key was refused: no entry for the host (unknown) or entries with other keys (changed)."""
    asyncssh = _asyncssh()
    path = device.known_hosts or str(Path("~/.ssh/known_hosts").expanduser())
    host = f"[{device.host}]:{device.port}" if device.port and device.port != 22 else device.host
    try:
        trusted = asyncssh.read_known_hosts(path).match(device.host, "", device.port or 22)[0]
    except (OSError, ValueError):
        trusted = []
    state = "has CHANGED (another key is recorded for it: check the device before replacing the line)" if trusted \
        else "is unknown"
    return f"host key of {host} {state} in {path}; to trust it: {keyscan_hint(device, path)}"


@dataclass
class Completed:
    exit_status: int
    stdout: str
    stderr: str


class Session:
    """One SSH connection to a device: commands, and files up and down over SFTP."""

    def __init__(self, device: Device, connection, sftp):
        self.device, self.connection, self.sftp = device, connection, sftp

    async def run(self, command: str) -> Completed:
        result = await self.connection.run(command, check=False)
        status = result.exit_status if result.exit_status is not None else -1  # None: ended by a signal
        return Completed(status, str(result.stdout or ""), str(result.stderr or ""))

    async def exists(self, remote: str) -> bool:
        return await self.sftp.exists(remote)

    async def put(self, local: Path, remote: str) -> None:
        await self.sftp.put(str(local), remote)

    async def makedirs(self, remote: str) -> None:
        await self.sftp.makedirs(remote, exist_ok=True)

    async def rename(self, old: str, new: str) -> None:
        await self.sftp.rename(old, new)

    async def read_text(self, remote: str) -> str:
        async with self.sftp.open(remote, "r") as f:
            return await f.read()


@asynccontextmanager
async def session(device: Device):
    """A Session to `device`, or DeviceError with one line: host key refused, authentication refused,
    unreachable. Host keys are checked against known_hosts (the device's own file, else ~/.ssh/known_hosts and
    the ssh config's); keys come from the device's identity, the agent and the ssh config. Never a password."""
    asyncssh = _asyncssh()
    options = {"password": None, "kbdint_auth": False}  # keys only: a password prompt would hang a parallel run
    if device.port:
        options["port"] = device.port
    if device.user:
        options["username"] = device.user
    if device.identity:
        options["client_keys"] = [device.identity]
    if device.known_hosts:
        options["known_hosts"] = device.known_hosts
    try:
        connection = await asyncssh.connect(device.host, **options)
    except asyncssh.HostKeyNotVerifiable:
        raise DeviceError(_host_key_problem(device)) from None
    except asyncssh.PermissionDenied:
        raise DeviceError(f"{device.address} refused our keys; add one to the device's ~/.ssh/authorized_keys "
                          "(ssh-copy-id) or name it with identity = in the devices file") from None
    except asyncssh.Error as exc:
        raise DeviceError(f"cannot reach {device.address}: {exc.reason or exc}") from None
    except OSError as exc:
        raise DeviceError(f"cannot reach {device.address}: {exc.strerror or exc}") from None
    try:
        async with connection.start_sftp_client() as sftp:
            yield Session(device, connection, sftp)
    finally:
        connection.close()


def quote(*words: str) -> str:
    return " ".join(shlex.quote(w) for w in words)
