"""Running edgeaudio on devices: check the device's own edgeaudio, upload what the run needs once per content
hash, run the command there, fetch its JSON back; all devices at once, one run per device, each with a timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

from edgeaudio import __version__
from edgeaudio.devices.config import Device
from edgeaudio.devices.facts import RUNTIME, STATE, STATIC, DeviceFacts, DeviceState
from edgeaudio.devices.ssh import DeviceError, Session, quote, require_ssh_library, session, ssh_error
from edgeaudio.hashing import file_sha256

CACHE_ROOT = '"${XDG_CACHE_HOME:-$HOME/.cache}/edgeaudio"'  # on the device, as its login shell expands it
INSTALL = f"python3 -m pip install 'edgeaudio=={__version__}'"


def compatible(remote: str, local: str = __version__) -> bool:
    """Whether results of a device's edgeaudio `remote` are ones this `local` one reads: the same release line
    (major.minor), which keeps the bench and verify JSON schemas and the command-line options."""
    return remote.split(".")[:2] == local.split(".")[:2]


@dataclass
class DeviceRun:
    """What one device did: its facts, the JSON its own edgeaudio wrote, or the one-line error that stopped it."""

    device: Device
    facts: DeviceFacts | None = None
    result: dict | None = None
    exit_status: int | None = None
    error: str | None = None
    uploaded_bytes: int = 0
    seconds: float = 0.0
    command: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None

    def to_dict(self) -> dict:
        return {"device": self.device.name, "address": self.device.address, "ok": self.ok, "error": self.error,
                "exit_status": self.exit_status, "uploaded_bytes": self.uploaded_bytes, "seconds": round(self.seconds, 2),
                "command": self.command, "facts": None if self.facts is None else self.facts.to_dict(), "result": self.result}


def program(path: str) -> str:
    """The device's edgeaudio as a shell word: quoted, with a leading ~/ left to the device's $HOME."""
    return f'"$HOME"/{quote(path[2:])}' if path.startswith("~/") else quote(path)


def bundle_of(model: Path) -> list[Path]:
    """The files a device needs to run `model`: itself, its manifest, and its recorded expected outputs."""
    from edgeaudio.runtime.manifest import manifest_path, read_manifest

    files = [model]
    if manifest_path(model).exists():
        files.append(manifest_path(model))
        expected = read_manifest(model).expected_file
        if expected and model.with_name(expected).exists():
            files.append(model.with_name(expected))
    return files


def bundle_key(files: list[Path]) -> str:
    """The cache folder's name: a hash over each file's name and content hash (a changed byte is a new folder)."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()[:32]


class Remote:
    """A device's session with its cache folder and edgeaudio resolved; counts what it uploads."""

    def __init__(self, ssh: Session, run: DeviceRun, cache: str):
        self.ssh, self.run, self.cache = ssh, run, cache

    async def upload(self, files: list[Path]) -> str:
        """The device folder holding `files`, uploaded only if no folder of that content hash is there yet
        (written under a temporary name and renamed, so an interrupted upload is never taken as complete)."""
        folder = f"{self.cache}/models/{bundle_key(files)}"
        if await self.ssh.exists(folder):
            return folder
        partial = f"{folder}.partial-{uuid.uuid4().hex[:8]}"
        await self.ssh.makedirs(partial)
        for path in files:
            await self.ssh.put(path, f"{partial}/{path.name}")
            self.run.uploaded_bytes += path.stat().st_size
        try:
            await self.ssh.rename(partial, folder)
        except ssh_error():  # another run finished the same upload first: its folder is as good
            if not await self.ssh.exists(folder):
                raise
            await self.ssh.run(quote("rm", "-rf", partial))
        return folder

    async def state(self) -> DeviceState:
        return DeviceState.from_text((await self.ssh.run(STATE)).stdout)

    async def edgeaudio(self, args: list[str], ok_statuses: tuple[int, ...] = (0,)) -> dict:
        """Run `edgeaudio ARGS --json FILE` on the device and return the JSON it wrote; DeviceError with its last
        error line when it exits otherwise than `ok_statuses` or writes nothing."""
        out = f"{self.cache}/runs/{uuid.uuid4().hex}.json"
        await self.ssh.makedirs(f"{self.cache}/runs")
        command = f"{program(self.run.device.edgeaudio)} {quote(*args, '--json', out)}"
        self.run.command = quote("edgeaudio", *args)
        done = await self.ssh.run(f"TF_CPP_MIN_LOG_LEVEL=3 {command} > /dev/null")
        self.run.exit_status = done.exit_status
        if done.exit_status not in ok_statuses or not await self.ssh.exists(out):
            last = next((line for line in reversed(done.stderr.splitlines()) if line.strip()), f"exit status {done.exit_status}")
            raise DeviceError(f"edgeaudio {args[0]} failed there (exit {done.exit_status}): {last.replace('edgeaudio: error: ', '')}")
        try:
            return json.loads(await self.ssh.read_text(out))
        except ValueError as exc:
            raise DeviceError(f"edgeaudio {args[0]} there wrote JSON this one cannot read: {exc}") from None
        finally:
            await self.ssh.run(quote("rm", "-f", out))


Job = Callable[[Remote], Awaitable[dict]]


async def _on_device(device: Device, job: Job, run: DeviceRun) -> None:
    async with session(device) as ssh:
        static = await ssh.run(STATIC)
        runtime = await ssh.run(f"EA={program(device.edgeaudio)}\n{RUNTIME}")
        run.facts = DeviceFacts.from_text(static.stdout, runtime.stdout)
        if not run.facts.edgeaudio:
            where = "on its login PATH" if "/" not in device.edgeaudio else f"at {device.edgeaudio}"
            raise DeviceError(f"no edgeaudio {where} on {device.address}; install the runtime there: {INSTALL} "
                              "(or give its path as edgeaudio = in the devices file)")
        if not compatible(run.facts.edgeaudio):
            raise DeviceError(f"edgeaudio {run.facts.edgeaudio} on {device.address} writes results this edgeaudio "
                              f"{__version__} cannot read; upgrade it there: {INSTALL}")
        cache = (await ssh.run(f"printf %s {CACHE_ROOT}")).stdout.strip()
        remote = Remote(ssh, run, cache)
        run.facts.before = await remote.state()
        try:
            run.result = await job(remote)
        finally:
            run.facts.after = await remote.state()


def run_on_devices(devices: list[Device], job: Job, timeout: float,
                   progress: Callable[[str], None] = lambda _m: None) -> list[DeviceRun]:
    """`job` on every device at once (one run per device), each cut off after `timeout` seconds; a device that
    fails gets its error in its DeviceRun and the others go on."""

    async def one(device: Device) -> DeviceRun:
        run = DeviceRun(device)
        start = time.monotonic()
        try:
            await asyncio.wait_for(_on_device(device, job, run), timeout)
        except asyncio.TimeoutError:  # the builtin TimeoutError from 3.11 on; its own class on 3.10
            run.error = f"timed out after {timeout:g} s (--device-timeout)"
        except DeviceError as exc:
            run.error = str(exc)
        except (OSError, ssh_error()) as exc:  # the link broke mid-run (a reboot, a dropped network)
            run.error = f"connection to {device.address} lost: {getattr(exc, 'reason', None) or exc}"
        run.seconds = time.monotonic() - start
        progress(f"{device.name}: " + ("done" if run.ok else run.error) + f" ({run.seconds:.1f} s)")
        return run

    async def every() -> list[DeviceRun]:
        return list(await asyncio.gather(*(one(d) for d in devices)))

    require_ssh_library()

    return asyncio.run(every())
