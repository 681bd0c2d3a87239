"""Commands that run on a device with the runtime-only install: predict."""

from __future__ import annotations

from pathlib import Path

import click

from edgeaudio.cli import cli
from edgeaudio.cli.render import table


def render_predictions(predictions) -> str:
    rows = []
    for p in predictions:
        rows.append((Path(p.file).name, "clip", ", ".join(f"{s.label} {s.score:.2f}" for s in p.top)))
        for start, top in p.windows:
            rows.append(("", f"{start:.2f}s", ", ".join(f"{s.label} {s.score:.2f}" for s in top)))
    return table(["clip", "window", "top labels (score)"], rows)


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("clips", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--top-k", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--threads", type=int, default=None, help="Interpreter threads.")
@click.option("--json", "json_out", default=None, help="Also write the predictions as JSON to this file.")
def predict(model, clips, top_k, threads, json_out):
    """Top labels of each WAV CLIP (and each window of a long clip) from an exported MODEL (.tflite or .onnx).

    The front end and labels come from the model's manifest.
    """
    from edgeaudio.pipeline.predict import predict_clips

    predictions = predict_clips(model, list(clips), top_k, threads)
    click.echo(render_predictions(predictions))
    if json_out:
        from edgeaudio.atomic import write_json

        write_json(json_out, {"model": str(model), "clips": [p.to_dict() for p in predictions]})
