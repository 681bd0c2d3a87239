"""The options that send a runtime command to devices over SSH (--device, --devices, --device-timeout), shared
by bench and verify."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click


@dataclass(frozen=True)
class DeviceChoice:
    names: tuple[str, ...]
    devices_file: Path | None
    timeout: float

    def resolve(self):
        from edgeaudio.devices.config import resolve_devices

        return resolve_devices(list(self.names), self.devices_file)


def device_options(command):
    """Adds --device/--devices/--device-timeout to `command` (apply it first, nearest the function), which
    receives them as one `devices` argument (a DeviceChoice; no names: run here)."""
    import functools

    from edgeaudio.devices.config import DEFAULT_TIMEOUT

    @functools.wraps(command)
    def with_devices(*args, device_names, devices_file, device_timeout, **kwargs):
        return command(*args, devices=DeviceChoice(tuple(device_names), devices_file, device_timeout), **kwargs)

    options = [
        click.option("--device", "device_names", multiple=True,
                     help="Run on this device over SSH: ssh://user@host[:port], an ~/.ssh/config host alias, or a name "
                          "in --devices FILE (`all`: every one). Repeatable; devices run in parallel."),
        click.option("--devices", "devices_file", type=click.Path(path_type=Path), default=None,
                     help="A TOML devices file ([devices.NAME] host, port, user, identity, known_hosts, edgeaudio)."),
        click.option("--device-timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT,
                     show_default=True, metavar="SECONDS",
                     help="Give up on a device after this many seconds (its row says so; the others go on)."),
    ]
    for option in reversed(options):
        with_devices = option(with_devices)
    return with_devices
