"""Commands about PyTorch models: info, fold, demo."""

from __future__ import annotations

from pathlib import Path

import click

from edgeaudio.cli import Progress, cli, save_json, warn
from edgeaudio.cli.render import giga, render_chain, table, thousands
from edgeaudio.errors import ConfigError


def _classes(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        return tuple(int(v) for v in value.split(","))
    except ValueError:
        raise ConfigError(f"--classes takes counts like 309 or 97,300, got {value!r}") from None


def _overrides(frames: int | None, mels: int | None) -> dict:
    return {k: v for k, v in (("frames", frames), ("mels", mels)) if v is not None}


def render_info(info) -> str:
    lines = [f"{info.title}" + (f"  <- {info.source}" if info.source else "  (from config, no checkpoint)")]
    if info.found:
        lines.append(f"found: {info.found}")
    shape = "x".join(map(str, info.input_shape))
    lines.append(f"input: {shape} float32, {info.input_layout}")
    heads = " + ".join(map(str, info.classes))
    lines.append(f"classes: {heads}" + (" (verb + noun heads)" if len(info.classes) == 2 else ""))
    lines.append("")
    rows = [
        (
            ("* " if f.in_file else "  ") + f.label,
            thousands(f.counts.params),
            giga(f.counts.macs),
            giga(f.counts.fvcore_total),
        )
        for f in info.forms
    ]
    lines.append(table(["form", "params", "MACs conv+linear", "fvcore total"], rows, [False, True, True, True]))
    if any(f.in_file for f in info.forms):
        lines.append("* the form the checkpoint holds")
    lines.append(f"counted at batch 1. {info.counting_rule}")
    return "\n".join(lines)


def render_fold(result) -> str:
    """A fold's two checks and its one-sentence verdict."""
    from edgeaudio.pipeline.fold import fold_verdict

    samples = result.chain[0].samples
    return f"parity on {samples} log-mel-shaped inputs\n{render_chain(result.chain)}\n{fold_verdict(result.chain)}"


@cli.command()
@click.argument("checkpoint", required=False, type=click.Path(dir_okay=True, path_type=Path))
@click.option("--arch", default=None, help="Architecture to describe without a checkpoint (e.g. audiorepinceptionnext).")
@click.option("--preset", default=None, help="Dataset preset: vggsound, epic-sounds, epic-kitchens, speechcommands, nsynth, urbansound8k.")
@click.option("--classes", default=None, help="Class count, or verb,noun counts for two heads.")
@click.option("--frames", type=int, default=None, help="Input time frames (T).")
@click.option("--mels", type=int, default=None, help="Input mel bins (F).")
@click.option("--width", type=int, default=None, help="Stem and first-stage channels (64 officially).")
@click.option("--json", "json_out", default=None, help="Also write the report as JSON to this file.")
def info(checkpoint, arch, preset, classes, frames, mels, width, json_out):
    """Parameters and MACs of each form (training, official deploy, folded), the input spec and classes.

    Give a CHECKPOINT, or --arch with a config (e.g. --arch audiorepinceptionnext --classes 309 --frames 512
    --mels 128).
    """
    from edgeaudio.pipeline.info import info_for_arch, info_for_checkpoint

    if checkpoint is not None:
        report = info_for_checkpoint(checkpoint, overrides=_overrides(frames, mels))
    elif arch is not None:
        report = info_for_arch(arch, preset, num_classes=_classes(classes), frames=frames, mels=mels, width=width)
    else:
        raise click.UsageError("give a CHECKPOINT or --arch")
    for message in report.warnings:
        warn(message)
    click.echo(render_info(report))
    save_json(json_out, report.to_dict())


@cli.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Deploy checkpoint to write (default: CHECKPOINT's name + .deploy.pt).")
@click.option("--samples", type=click.IntRange(1, 512), default=8, show_default=True, help="Inputs the parity check runs.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--frames", type=int, default=None, help="Input time frames, when the checkpoint does not say.")
@click.option("--mels", type=int, default=None, help="Input mel bins, when the checkpoint does not say.")
@click.option("--float-factor", type=click.FloatRange(min=1.0), default=None, help="Float gate: this many times the original's own float32 noise floor (default 4; recorded when set).")
@click.option("--json", "json_out", default=None, help="Also write the fold report as JSON to this file.")
def fold(checkpoint, output, samples, seed, frames, mels, float_factor, json_out):
    """Fold CHECKPOINT's branches, batch norms and identities into single convs; prove parity; write it.

    Exit 1, writing nothing, if the folded model's outputs break the parity bounds.
    """
    from edgeaudio.pipeline.fold import fold_checkpoint

    progress = Progress()
    if output is None:
        output = checkpoint.with_name(checkpoint.stem + ".deploy.pt")
    progress(f"loading {checkpoint}, folding, checking parity")
    from edgeaudio.pipeline.gates import FLOOR_FACTOR

    result = fold_checkpoint(checkpoint, output, samples=samples, seed=seed, overrides=_overrides(frames, mels),
                             factor=FLOOR_FACTOR if float_factor is None else float_factor)
    for message in result.warnings:
        warn(message)
    click.echo(f"found: {result.found}")
    click.echo(render_fold(result))
    save_json(json_out, result.to_dict())
    if result.failure:
        from edgeaudio.errors import ParityError

        raise ParityError(result.failure + "; nothing written")
    click.echo(f"params {thousands(result.params_before)} -> {thousands(result.params_after)}; wrote {result.output}")


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"), show_default=True, help="Folder for everything the demo makes.")
@click.option("--epochs", type=click.IntRange(1, 200), default=30, show_default=True, help="Training epochs.")
@click.option("--json", "json_out", default=None, help="Also write the demo report as JSON to this file.")
def demo(out_dir, epochs, json_out):
    """The whole job on an embedded default: synthetic audio, a small trained AudioRepInceptionNeXt saved in
    the official format, folded, exported to TFLite fp32 and int8 with calibration from audio, verified,
    measured, and asked to label a few clips."""
    from edgeaudio.cli.runtime_commands import render_predictions
    from edgeaudio.pipeline.demo import run_demo

    result = run_demo(out_dir, progress=Progress(), epochs=epochs)
    click.echo(render_info(result.info))
    click.echo("")
    click.echo(render_fold(result.fold))
    click.echo("")
    click.echo(render_chain(result.export.chain))
    click.echo("")
    click.echo(render_predictions(result.predictions))
    click.echo("")
    rows = [
        (r.model, f"{r.size_mb:.2f}", f"{r.accuracy:.1%}", f"{r.agreement:.1%}", f"{r.latency_ms:.2f}")
        for r in result.summary
    ]
    click.echo(f"summary: {result.test_clips} held-out test clips, trained {result.train_seconds:.0f} s; latency = median of 30 runs, batch 1")
    click.echo(table(["model", "MB", "accuracy", "agrees with PyTorch", "latency ms"], rows, [False, True, True, True, True]))
    click.echo(f"int8 verify from its manifest alone: {'PASS' if result.verify.passed else 'FAIL'}; files in {out_dir}")
    save_json(json_out, result.to_dict())
