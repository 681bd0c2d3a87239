"""What a device is and what state it is in, read over SSH with POSIX shell and the kernel's own files, so that
a device without edgeaudio still tells what it is.

Static: board (/proc/device-tree/model), CPU, cores, governor, free memory, OS, architecture; from the device's
edgeaudio: its version, Python and TFLite interpreter. Dynamic, before and after each run: every sysfs thermal
zone's temperature and, on a Raspberry Pi, `vcgencmd get_throttled`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# key=value lines; a missing file or tool leaves its value empty.
STATIC = r"""
echo "arch=$(uname -m)"
echo "board=$(tr -d '\000' < /proc/device-tree/model 2>/dev/null)"
cpu=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
[ -n "$cpu" ] || cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
echo "cpu=$cpu"
echo "cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)"
echo "governor=$(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null)"
echo "mem_available_mb=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)"
echo "os=$( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") )"
"""

STATE = r"""
for zone in /sys/class/thermal/thermal_zone*; do
  [ -r "$zone/temp" ] && echo "temp.$(cat "$zone/type" 2>/dev/null || basename "$zone")=$(cat "$zone/temp")"
done
command -v vcgencmd >/dev/null 2>&1 && echo "throttled=$(vcgencmd get_throttled 2>/dev/null | sed 's/^throttled=//')"
echo "clock_khz=$(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq 2>/dev/null)"
"""

# The device's edgeaudio: is it there, which version, under which Python and interpreter. $EA is set first.
RUNTIME = r"""
if ! command -v "$EA" >/dev/null 2>&1; then echo "edgeaudio="; exit 0; fi
echo "edgeaudio=$("$EA" --version 2>/dev/null | sed 's/.*version //')"
py=$(head -n 1 "$(command -v "$EA")" | sed 's/^#! *//')
$py -c 'import platform, importlib.metadata as m
print("python=" + platform.python_version())
for d in ("ai-edge-litert", "tflite-runtime"):
    try:
        print("interpreter=%s %s" % (d, m.version(d))); break
    except m.PackageNotFoundError:
        pass' 2>/dev/null
"""


def parse(text: str) -> dict[str, str]:
    """key=value lines -> dict (later lines win; empty values dropped)."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and value.strip():
            out[key.strip()] = value.strip()
    return out


@dataclass
class DeviceState:
    """Temperatures (C, per thermal zone) and the firmware's throttle flags (Raspberry Pi), at one moment."""

    temperatures_c: dict[str, float] = field(default_factory=dict)
    throttled: str | None = None  # vcgencmd get_throttled: 0x0 is clean; bits 0-3 now, 16-19 since boot
    clock_mhz: float | None = None

    @classmethod
    def from_text(cls, text: str) -> "DeviceState":
        raw = parse(text)
        temps = {}
        for key, value in raw.items():
            if key.startswith("temp.") and value.lstrip("-").isdigit():
                temps[key[5:]] = round(int(value) / 1000, 1)
        clock = raw.get("clock_khz")
        return cls(temps, raw.get("throttled"), round(int(clock) / 1000, 1) if clock and clock.isdigit() else None)

    @property
    def hottest_c(self) -> float | None:
        return max(self.temperatures_c.values()) if self.temperatures_c else None

    @property
    def throttling(self) -> bool | None:
        """Under-voltage, frequency capping, throttling or soft temperature limit active now (bits 0-3)."""
        if self.throttled is None:
            return None
        try:
            return bool(int(self.throttled, 16) & 0xF)
        except ValueError:
            return None


@dataclass
class DeviceFacts:
    arch: str | None = None
    board: str | None = None
    cpu: str | None = None
    cores: int | None = None
    governor: str | None = None
    mem_available_mb: int | None = None
    os: str | None = None
    edgeaudio: str | None = None
    python: str | None = None
    interpreter: str | None = None
    before: DeviceState | None = None
    after: DeviceState | None = None

    @classmethod
    def from_text(cls, static: str, runtime: str) -> "DeviceFacts":
        raw = {**parse(static), **parse(runtime)}

        def number(key):
            value = raw.get(key)
            return int(value) if value and value.isdigit() else None

        return cls(raw.get("arch"), raw.get("board"), raw.get("cpu"), number("cores"), raw.get("governor"),
                   number("mem_available_mb"), raw.get("os"), raw.get("edgeaudio"), raw.get("python"), raw.get("interpreter"))

    @property
    def throttled_during(self) -> bool | None:
        """Did the firmware throttle while we ran: throttling now after, or its since-boot bits newly set."""
        if self.before is None or self.after is None or self.after.throttled is None:
            return None
        try:
            before, after = int(self.before.throttled or "0", 16), int(self.after.throttled, 16)
        except ValueError:
            return None
        return bool(after & 0xF) or bool((after & ~before) & 0xF0000)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["throttled_during"] = self.throttled_during
        return out
