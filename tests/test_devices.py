"""bench and verify on devices over SSH. The devices are real OpenSSH servers (Debian's /usr/sbin/sshd) on
127.0.0.1 with throw-away keys and a config of their own, whose logins see a runtime-only edgeaudio
(.venv-device, base dependencies only, made by `make device-env`); one sees no edgeaudio at all, and one
"device" accepts TCP and never answers (a hung board)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgeaudio.cli import main
from edgeaudio.errors import InputError

SSHD = Path("/usr/sbin/sshd")
DEVICE_VENV = Path(__file__).resolve().parents[1] / ".venv-device"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@dataclass
class Sshd:
    name: str
    port: int
    host_key: str  # "ssh-ed25519 AAAA..." (public)
    root: Path
    process: subprocess.Popen

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {' '.join(self.host_key.split()[:2])}\n"


def start_sshd(root: Path, name: str, path_env: str, user_key_pub: str) -> Sshd:
    """An sshd of its own on 127.0.0.1: its own host key, authorized keys, config; sessions get PATH=`path_env`
    and XDG_CACHE_HOME under `root` (the device's edgeaudio cache), so no system file is touched."""
    root.mkdir(parents=True)
    host_key = _keygen(root / "host_key")
    (root / "authorized_keys").write_text(user_key_pub + "\n")
    port = _free_port()
    (root / "sshd_config").write_text("\n".join([
        "ListenAddress 127.0.0.1", f"Port {port}", f"HostKey {root / 'host_key'}",
        f"AuthorizedKeysFile {root / 'authorized_keys'}", "UsePAM no", "StrictModes no", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password", "Subsystem sftp internal-sftp",
        f"PidFile {root / 'sshd.pid'}", f"SetEnv PATH={path_env} XDG_CACHE_HOME={root / 'cache'}", "LogLevel ERROR", ""]))
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation folder
    log = (root / "sshd.log").open("w")
    process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(root / "sshd_config")], stderr=log, stdout=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return Sshd(name, port, host_key, root, process)
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"sshd did not start: {(root / 'sshd.log').read_text()}")


@dataclass
class Fleet:
    good: Sshd  # edgeaudio (runtime only) on its login PATH
    bare: Sshd  # no edgeaudio
    hung: int  # a port that accepts TCP and never says a word
    identity: Path
    known_hosts: Path
    root: Path

    def devices_file(self, path: Path, known_hosts: Path | None = None, hung: bool = False) -> Path:
        entries = [("pi-a", self.good.port), ("pi-b", self.bare.port)] + ([("pi-hung", self.hung)] if hung else [])
        path.write_text("".join(
            f'[devices.{name}]\nhost = "127.0.0.1"\nport = {port}\nuser = "{_user()}"\nidentity = "{self.identity}"\n'
            f'known_hosts = "{known_hosts or self.known_hosts}"\n\n' for name, port in entries))
        return path


def _user() -> str:
    import getpass

    return getpass.getuser()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    assert SSHD.exists(), "the devices tests need OpenSSH's sshd: make tools (apt-get install openssh-server)"
    assert (DEVICE_VENV / "bin/edgeaudio").exists(), "the devices tests need the runtime-only .venv-device: make device-env"
    root = tmp_path_factory.mktemp("fleet")
    user_pub = _keygen(root / "id_ed25519")
    good = start_sshd(root / "pi-a", "pi-a", f"{DEVICE_VENV / 'bin'}:/usr/bin:/bin", user_pub)
    bare = start_sshd(root / "pi-b", "pi-b", "/usr/bin:/bin", user_pub)
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)  # the kernel completes the handshake; nobody ever reads or writes
    known_hosts = root / "known_hosts"
    known_hosts.write_text(good.known_hosts_line() + bare.known_hosts_line())
    try:
        yield Fleet(good, bare, hung.getsockname()[1], root / "id_ed25519", known_hosts, root)
    finally:
        hung.close()
        for server in (good, bare):
            server.process.terminate()
            server.process.wait(timeout=10)


def _model_copy(exported, folder: Path) -> Path:
    """The shared int8 model with its manifest and expected outputs, copied so a test may change them."""
    source = exported[0] / "int8" / "events_int8.tflite"
    folder.mkdir()
    for path in source.parent.iterdir():
        if path.name.startswith("events_int8.tflite") or path.name.endswith(".expected.npz"):
            shutil.copy(path, folder / path.name)
    return folder / source.name


def test_bench_on_every_device_gives_rows_with_facts_an_error_row_for_the_device_without_edgeaudio_and_a_second_run_uploads_nothing(
        fleet, exported, tmp_path, capsys):
    model = _model_copy(exported, tmp_path / "m")
    devices = fleet.devices_file(tmp_path / "devices.toml")
    out = tmp_path / "b.json"
    code = main(["bench", str(model), "--devices", str(devices), "--device", "all", "--threads", "1", "--runs", "3",
                 "--warmup", "1", "--json", str(out), "--csv", str(tmp_path / "b.csv"), "--plot", str(tmp_path / "b.png")])
    printed = capsys.readouterr().out
    assert code == 1  # some devices gave results, not all
    report = json.loads(out.read_text())
    rows = {r["device"]: r for r in report["rows"]}
    good, bare = rows["pi-a"], rows["pi-b"]
    assert good["status"] == "ok" and good["p50_ms"] > 0 and good["threads"] == 1 and good["precision"] == "int8"
    assert good["model"] == str(model) and good["backend"].startswith("ai-edge-litert")
    assert good["cores"] == os.cpu_count() and good["mem_available_mb"] > 0 and good["os"]
    assert good["python"] == subprocess.run([str(DEVICE_VENV / "bin/python"), "-c", "import platform; print(platform.python_version())"],
                                            capture_output=True, text=True).stdout.strip()
    assert good["interpreter"].startswith("ai-edge-litert ") and good["device_edgeaudio"] == "0.1.0"
    assert good["uploaded_bytes"] == sum(p.stat().st_size for p in model.parent.iterdir())
    assert bare["status"] == "error" and "no edgeaudio" in bare["error"] and "pip install 'edgeaudio==" in bare["error"]
    assert bare["cores"] == os.cpu_count()  # a device without edgeaudio still says what it is
    assert "pi-a" in printed and "error: no edgeaudio" in printed
    import csv

    csv_rows = list(csv.DictReader((tmp_path / "b.csv").open()))
    assert [r["device"] for r in csv_rows] == ["pi-a", "pi-b"] and "no edgeaudio" in csv_rows[1]["error"]
    assert float(csv_rows[0]["p50_ms"]) == good["p50_ms"] and csv_rows[0]["board"] == (good["board"] or "")
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"

    # Again, on the good device alone, sustained: the cached model is reused and latency comes back over time.
    code = main(["bench", str(model), "--devices", str(devices), "--device", "pi-a", "--threads", "1", "--runs", "2",
                 "--warmup", "1", "--sustained", "1.5", "--json", str(out)])
    assert code == 0
    (run,) = json.loads(out.read_text())["devices"]
    assert run["uploaded_bytes"] == 0
    (row,) = run["result"]["rows"]
    assert len(row["timeline"]) >= 2 and all(w["p50_ms"] > 0 for w in row["timeline"])
    assert row["timeline"][-1]["t_s"] >= 1.0
    assert "sustained events_int8.tflite on pi-a" in capsys.readouterr().out


def test_bench_audio_on_a_device_times_audio_in_to_labels_out_there(fleet, exported, trained, tmp_path, capsys):
    model = _model_copy(exported, tmp_path / "m")
    clip = sorted(trained.audio_dir.glob("*.wav"))[0]
    devices = fleet.devices_file(tmp_path / "devices.toml")
    code = main(["bench", str(model), "--audio", str(clip), "--devices", str(devices), "--device", "pi-a", "--threads", "1",
                 "--runs", "3", "--warmup", "1", "--json", str(tmp_path / "a.json")])
    assert code == 0
    (row,) = json.loads((tmp_path / "a.json").read_text())["rows"]
    assert row["model"] == str(model) and row["threads"] == 1 and row["windows"] >= 1
    assert [s["stage"] for s in row["stages"]] == ["decode", "resample", "front end", "model", "post-processing"]
    assert 0 < row["real_time_factor"] < 10
    assert "real-time factor" in capsys.readouterr().out


def test_verify_on_a_device_passes_the_exported_model_and_fails_a_tampered_copy(fleet, exported, tmp_path, capsys):
    model = _model_copy(exported, tmp_path / "m")
    devices = fleet.devices_file(tmp_path / "devices.toml")
    assert main(["verify", str(model), "--devices", str(devices), "--device", "pi-a", "--json", str(tmp_path / "v.json")]) == 0
    (row,) = json.loads((tmp_path / "v.json").read_text())["rows"]
    assert row["status"] == "PASS" and row["backend"].startswith("ai-edge-litert")
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01  # one weight bit: the file the manifest describes is no longer this one
    model.write_bytes(bytes(data))
    assert main(["verify", str(model), "--devices", str(devices), "--device", "pi-a", "--json", str(tmp_path / "v.json")]) == 1
    (row,) = json.loads((tmp_path / "v.json").read_text())["rows"]
    assert row["status"] == "FAIL" and "sha256 differs" in row["failures"]
    assert "FAIL" in capsys.readouterr().out


def test_an_unknown_or_changed_host_key_is_refused_with_the_host_and_the_keyscan_fix(fleet, exported, tmp_path, capsys):
    model = _model_copy(exported, tmp_path / "m")
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    devices = fleet.devices_file(tmp_path / "devices.toml", known_hosts=empty)
    assert main(["verify", str(model), "--devices", str(devices), "--device", "pi-a"]) == 2
    printed = capsys.readouterr()
    expected = f"host key of [127.0.0.1]:{fleet.good.port} is unknown in {empty}; to trust it: ssh-keyscan -p {fleet.good.port} 127.0.0.1 >> {empty}"
    assert expected in printed.out
    assert "none of the 1 device(s) gave results" in printed.err
    wrong = tmp_path / "wrong_known_hosts"
    other = _keygen(tmp_path / "other_host_key")
    wrong.write_text(f"[127.0.0.1]:{fleet.good.port} {' '.join(other.split()[:2])}\n")
    devices = fleet.devices_file(tmp_path / "devices.toml", known_hosts=wrong)
    assert main(["verify", str(model), "--devices", str(devices), "--device", "pi-a"]) == 2
    assert f"host key of [127.0.0.1]:{fleet.good.port} has CHANGED" in capsys.readouterr().out


def test_a_device_that_hangs_times_out_while_the_other_finishes(fleet, exported, tmp_path):
    model = _model_copy(exported, tmp_path / "m")
    devices = fleet.devices_file(tmp_path / "devices.toml", hung=True)
    start = time.monotonic()
    code = main(["verify", str(model), "--devices", str(devices), "--device", "pi-a", "--device", "pi-hung",
                 "--device-timeout", "4", "--json", str(tmp_path / "v.json")])
    assert code == 1 and time.monotonic() - start < 30
    rows = {r["device"]: r for r in json.loads((tmp_path / "v.json").read_text())["rows"]}
    assert rows["pi-a"]["status"] == "PASS"
    assert rows["pi-hung"]["status"] == "error" and rows["pi-hung"]["error"] == "timed out after 4 s (--device-timeout)"


def test_an_ssh_url_and_an_ssh_config_alias_reach_the_device_with_keys_and_known_hosts_from_home(
        fleet, exported, tmp_path, monkeypatch):
    model = _model_copy(exported, tmp_path / "m")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(fleet.identity, home / ".ssh/id_ed25519")
    shutil.copy(fleet.known_hosts, home / ".ssh/known_hosts")
    (home / ".ssh/config").write_text(f"Host bench-pi\n  HostName 127.0.0.1\n  Port {fleet.good.port}\n  User {_user()}\n")
    monkeypatch.setenv("HOME", str(home))  # Python's SSH clients read ~/.ssh from $HOME
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    out = tmp_path / "v.json"
    assert main(["verify", str(model), "--device", "bench-pi", "--device", f"ssh://{_user()}@127.0.0.1:{fleet.good.port}",
                 "--json", str(out)]) == 0
    devices = json.loads(out.read_text())["devices"]
    assert [(d["device"], d["ok"], d["result"]["passed"]) for d in devices] == [
        ("bench-pi", True, True), (f"ssh://{_user()}@127.0.0.1:{fleet.good.port}", True, True)]


def test_devices_files_and_names_are_checked_before_any_connection(tmp_path):
    from edgeaudio.devices.config import parse_ssh_url, read_devices_file, resolve_devices
    from edgeaudio.devices.remote import compatible

    good = tmp_path / "d.toml"
    good.write_text('[devices.pi5]\nhost = "pi5.local"\nport = 2222\nuser = "pi"\nidentity = "keys/id"\n')
    (pi5,) = resolve_devices(["all"], good)
    assert (pi5.host, pi5.port, pi5.user, pi5.identity) == ("pi5.local", 2222, "pi", str(tmp_path / "keys/id"))
    assert [d.name for d in resolve_devices(["pi5", "pi5", "my-alias"], good)] == ["pi5", "my-alias"]
    url = parse_ssh_url("ssh://pi@pi4.lab:2200")  # parsed only: nothing connects
    assert (url.user, url.host, url.port) == ("pi", "pi4.lab", 2200)
    for text, problem in [('[devices.x]\nport = 22\n', "devices.x has no host"),
                          ('[devices.x]\nhost = "h"\npassword = "p"\n', "unknown key(s) password"),
                          ('[devices.x]\nhost = "h"\nport = "22"\n', "devices.x.port must be a whole number, got '22'"),
                          ("[devices\n", "not a readable TOML")]:
        good.write_text(text)
        with pytest.raises(InputError, match=re.escape(problem)) as error:
            read_devices_file(good)
        assert str(good) in str(error.value)
    with pytest.raises(InputError, match="no password"):
        parse_ssh_url("ssh://pi:secret@host")
    with pytest.raises(InputError, match="needs --devices FILE"):
        resolve_devices(["all"])
    assert compatible("0.1.3", "0.1.0") and not compatible("0.2.0", "0.1.0") and not compatible("1.1.0", "0.1.0")


def test_bench_settings_cross_to_a_device_as_the_options_that_mean_them():
    from edgeaudio.cli.runtime_commands import bench
    from edgeaudio.pipeline.bench import BenchSettings

    settings = BenchSettings(threads=(1, 2), batches=(1, 4), runs=7, warmup=2, duration=3.0, in_process=True,
                             frontend="vggsound", timeline=True, profile=True)
    params = bench.make_context("bench", ["m.tflite", *settings.command_line()]).params
    assert (params["threads"], params["batches"], params["runs"], params["warmup"]) == ("1,2", "1,4", 7, 2)
    assert (params["sustained"], params["duration"], params["in_process"], params["profile"], params["frontend"]) == (
        3.0, None, True, True, "vggsound")
    plain = bench.make_context("bench", ["m.tflite", *BenchSettings(duration=2.5).command_line()]).params
    assert (plain["duration"], plain["sustained"], plain["threads"], plain["profile"]) == (2.5, None, None, False)
