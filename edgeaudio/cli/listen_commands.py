"""Commands for audio that arrives as a stream, and for models made elsewhere: listen, describe."""

from __future__ import annotations

from pathlib import Path

import click

from edgeaudio.cli import cli


def _window_line(record) -> str:
    from edgeaudio.pipeline.listen import Event

    if isinstance(record, Event):
        if record.event == "onset":
            return f"{record.time_s:9.2f} s  onset   {record.label} {record.score:.2f}"
        return (f"{record.time_s:9.2f} s  offset  {record.label} (on {record.onset_s:.2f}-{record.time_s:.2f} s, "
                f"peak {record.peak:.2f})")
    labels = ", ".join(f"{s.label} {s.score:.2f}" for s in record.top)
    return f"{record.start_s:9.2f} s  {labels}  [{record.compute_ms:.1f} ms]"


def render_listen_summary(s) -> str:
    speed = f"; {1 / s.real_time_factor:.0f}x faster than real time" if s.real_time_factor > 0 else ""
    lines = [f"{s.source}: {s.ended} after {s.audio_seconds:.1f} s of audio ({s.wall_seconds:.1f} s wall): "
             f"{s.windows} window(s) of {s.window_s:.3g} s every {s.hop_s:.3g} s" + (f", {s.events} event(s)" if s.events else ""),
             f"compute {s.compute_seconds:.2f} s, real-time factor {s.real_time_factor:.4f}{speed}; per window "
             f"p50 {s.compute_ms_p50:.1f} ms, max {s.compute_ms_max:.1f} ms"]
    if s.live or s.dropped:
        lines.append(f"dropped {s.dropped} window(s) the model could not keep up with"
                     + (f"; the audio device lost {s.overflows} block(s)" if s.overflows else ""))
    return "\n".join(lines)


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("source")
@click.option("--raw", is_flag=True, help="SOURCE - is headerless PCM (give --rate, --channels, --format).")
@click.option("--rate", type=int, default=None, help="With --raw: the sample rate in Hz.")
@click.option("--channels", type=click.IntRange(1, 64), default=1, show_default=True, help="With --raw: interleaved channels.")
@click.option("--format", "sample_format", type=click.Choice(["s16", "s32", "f32"]), default="s16", show_default=True,
              help="With --raw: little-endian sample format.")
@click.option("--realtime", is_flag=True, help="Read a file at its own pace, as if it were being recorded.")
@click.option("--hop", type=float, default=None, help="Seconds between window starts (default: the model's own hop).")
@click.option("--top-k", type=click.IntRange(1, 100), default=3, show_default=True)
@click.option("--threshold", type=float, default=None,
              help="Report events instead of windows: a label's onset when its smoothed score reaches this.")
@click.option("--hysteresis", type=float, default=0.1, show_default=True,
              help="With --threshold: an event ends when the smoothed score falls below threshold - hysteresis.")
@click.option("--smooth", type=click.IntRange(1, 1000), default=3, show_default=True,
              help="With --threshold: windows the score is averaged over.")
@click.option("--max-lag", type=click.FloatRange(0, None), default=2.0, show_default=True,
              help="Seconds a live source may run ahead of the model before windows are dropped (and counted).")
@click.option("--threads", type=int, default=None, help="Interpreter threads.")
@click.option("--json", "json_out", default=None,
              help="Write one JSON line per window (or event) as it happens, then a summary line.")
@click.option("--quiet", is_flag=True, help="No line per window on stdout (the summary still goes to stderr).")
def listen(model, source, raw, rate, channels, sample_format, realtime, hop, top_k, threshold, hysteresis, smooth,
           max_lag, threads, json_out, quiet):
    """Run MODEL on the audio of SOURCE window by window, as it arrives.

    SOURCE is - (a WAV stream on stdin, e.g. `arecord -f S16_LE -r 16000 -c 1 -t wav | edgeaudio listen m.tflite -`;
    headerless PCM with --raw), a file (as fast as it decodes, or paced with --realtime), or mic / mic:DEVICE
    (needs pip install 'edgeaudio[mic]'). Windows and front end are predict's. Ctrl-C or SIGTERM stops it with a
    summary: windows, audio seconds, real-time factor, windows dropped because the model fell behind.
    """
    import contextlib
    import os
    import signal
    import sys
    import threading

    from edgeaudio.audio.stream import open_source
    from edgeaudio.errors import InputError
    from edgeaudio.pipeline.listen import ListenOptions, listen as run, with_window_hop
    from edgeaudio.pipeline.predict import Predictor
    from edgeaudio.streams import FollowedJsonLines

    if raw and rate is None:
        raise InputError("--raw needs --rate (the sample rate of the PCM on stdin)")
    predictor = Predictor(model, threads)
    predictor.frontend = with_window_hop(predictor.frontend, hop)
    options = ListenOptions(top_k, threshold, hysteresis, smooth, max_lag)
    blocks = open_source(source, predictor.frontend.sample_rate, raw=(rate, channels, sample_format) if raw else None,
                         realtime=realtime)
    stop = threading.Event()

    def stopping(signum, frame) -> None:  # finish the window in hand, write its line whole, then summarise
        stop.set()

    on_main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, stopping) for s in (signal.SIGINT, signal.SIGTERM)} if on_main else {}
    try:
        with contextlib.ExitStack() as outputs:
            jsonl = outputs.enter_context(FollowedJsonLines(json_out)) if json_out else None
            stdout_gone: list[bool] = []

            def emit(record) -> None:
                if jsonl:
                    jsonl.write(record.to_dict())
                if not quiet and not stdout_gone:
                    try:
                        click.echo(_window_line(record))
                    except BrokenPipeError:  # stdout's reader left (`| head`): stop as if asked to
                        stdout_gone.append(True)
                        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
                        stop.set()

            summary = run(predictor, blocks, options, emit, lambda m: click.echo(f"note: {m}", err=True), stop)
            if jsonl:
                jsonl.write({"summary": summary.to_dict()})
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    click.echo(render_listen_summary(summary), err=True)


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--input", "input_kind", type=click.Choice(["waveform", "logmel"]), required=True,
              help="What the model takes: raw samples, or log-mel spectrograms (then --preset says which).")
@click.option("--rate", type=int, default=None, help="Sample rate in Hz (required for waveform input).")
@click.option("--window", type=float, default=None, help="Seconds of audio per window (read from a fixed input).")
@click.option("--hop", type=float, default=None, help="Seconds between window starts (default: back to back).")
@click.option("--preset", default=None, help="With --input logmel: the front end that makes its spectrograms.")
@click.option("--labels", "labels_file", type=click.Path(path_type=Path), default=None,
              help="Class names, one per line, in output order.")
@click.option("--outputs", type=click.Choice(["probabilities", "softmax-logits", "sigmoid-logits"]),
              default="probabilities", show_default=True, help="What the first output holds.")
@click.option("--json", "json_out", default=None, help="Also write the manifest here.")
def describe(model, input_kind, rate, window, hop, preset, labels_file, outputs, json_out):
    """Write the manifest predict, eval, listen and bench --audio need for a MODEL (.tflite, .onnx) that no
    edgeaudio export made: its inputs and outputs are read from the file, the rest is given here.

    Example: edgeaudio describe birds.tflite --input waveform --rate 48000 --window 3 --labels birds.txt
    """
    from edgeaudio.cli import save_json
    from edgeaudio.pipeline.describe import DescribeOptions, describe_model

    labels = None
    if labels_file is not None:
        from edgeaudio.datasets.labelled import read_class_names

        labels = read_class_names(labels_file)
    manifest, written = describe_model(model, DescribeOptions(input_kind, rate, window, hop, preset, labels, outputs))
    fe = manifest.frontend
    hop_s = fe["window_hop_frames"] * fe["hop_length"] / fe["sample_rate"]
    click.echo(f"{Path(model).name}: {manifest.format} {manifest.precision}, input {manifest.inputs[0].shape} "
               f"({input_kind}), {manifest.outputs[0].shape[-1]} classes ({outputs}); windows of "
               f"{fe['clip_seconds']:g} s every {hop_s:g} s at {fe['sample_rate']} Hz")
    click.echo(f"wrote {written}", err=True)
    save_json(json_out, manifest.to_dict())
