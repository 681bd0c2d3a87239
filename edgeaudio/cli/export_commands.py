"""Commands about exported models: export (and, beside it, verify)."""

from __future__ import annotations

from pathlib import Path

import click

from edgeaudio.artifacts import CALIB_METHODS
from edgeaudio.cli import Progress, cli, save_json, warn
from edgeaudio.cli.device_options import device_options
from edgeaudio.cli.render import render_chain, table
from edgeaudio.cli.reports import report_option, save_report


def render_models(models) -> str:
    rows = [(Path(m.path).name, m.format, m.precision, f"{m.size_bytes / 1e6:.2f}") for m in models]
    return table(["file", "format", "precision", "MB"], rows, [False, False, False, True])


@cli.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--target", type=click.Choice(["onnx", "tflite", "executorch"]), default="onnx", show_default=True)
@click.option("--int8", "int8", is_flag=True, help="int8: full integer TFLite (int8 weights, activations, input and output), or "
              "for --target onnx ONNX Runtime's static QDQ, for --target executorch PT2E with the XNNPACK quantizer "
              "(int8 weights per channel, int8 activations, float ends).")
@click.option("--fp16", "fp16", is_flag=True, help="float16 weights TFLite.")
@click.option("--calib", default=None, help="int8 calibration data: a folder of audio files, a .npy of (N,1,T,F) spectrograms, or 'synthetic' (the default: generated audio through the model's front end, or generated log-mels).")
@click.option("--calib-method", type=click.Choice(CALIB_METHODS), default="auto", show_default=True,
              help="How int8 activation ranges come from the calibration data: min and max (minmax), the 99.99th "
                   "percentiles (percentile), the least 8-bit error (mse; TFLite), PT2E's histogram observer "
                   "(histogram; ExecuTorch); auto makes the file with min-max and, when its gate fails, tries the "
                   "target's other methods on calibration samples apart from the held-out ones and keeps the best. "
                   "A method a target does not honour is refused before any work.")
@click.option("--float-layers", default="auto", show_default=True,
              help="Layers an int8 file keeps in float, by PyTorch module (as verify --per-layer names them), comma-separated; "
                   "auto: when no calibration method passes the gate, the layers that lose the most, fewest first, within "
                   "--max-float-macs; none: never.")
@click.option("--max-float-macs", type=float, default=0.10, show_default=True,
              help="The share of the model's multiply-accumulates --float-layers auto may keep in float.")
@click.option("--equalize", is_flag=True, help="Cross-layer equalization of the folded model before export (data-free, "
              "exact; AIMET's first step before int8).")
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path), default=None, help="Output folder (default: beside the checkpoint, NAME_export/).")
@click.option("--logits", is_flag=True, help="Export pre-softmax logits instead of the official probabilities.")
@click.option("--dynamic-batch", is_flag=True, help="ONNX with a dynamic batch axis.")
@click.option("--no-fold", is_flag=True, help="Export the unfolded model (for comparison).")
@click.option("--allow-mismatch", is_flag=True, help="Write the models even if a parity gate fails.")
@click.option("--frontend", default=None, help="Front-end preset the model was trained with (for audio calibration and the manifest).")
@click.option("--name", default=None, help="Base name of the exported files (default: the checkpoint's).")
@click.option("--labels", "labels_file", type=click.Path(path_type=Path), default=None, help="Text file of class names, one per line, in output order.")
@click.option("--float-factor", type=float, default=None, help="Float gates at this many times the original's own float32 noise floor (default 4; recorded in the manifest when set).")
@click.option("--eval", "eval_data", default=None, help="Labelled clips (a folder per class, or a CSV) to evaluate every written file "
              "on against the checkpoint; the manifests record each file's accuracy.")
@click.option("--max-drop", type=float, default=None, help="With --eval: fail (exit 1, nothing written) when a file loses more than "
              "this many points of top-1 (or mAP) against the checkpoint and the paired test says the loss is real.")
@click.option("--json", "json_out", default=None, help="Also write the export report as JSON to this file (a failed export too).")
@click.option("--junit", "junit_out", default=None, help="Write JUnit XML, one test case per step and output (a failed export too).")
@report_option("HTML report of the export: parity chain, calibration tries, sizes (a failed export too) "
               "[default: OUT/NAME.report.html].")
def export(checkpoint, int8, fp16, out_dir, no_fold, labels_file, json_out, junit_out, report_out, **fields):
    """Fold CHECKPOINT, export it to ONNX, TFLite (fp32, fp16, full int8) or ExecuTorch, and gate every step on parity.

    Exit 1, leaving no model, if a step breaks its parity bounds, or with --eval and --max-drop its accuracy gate
    (unless --allow-mismatch); --json, --junit and the HTML report are written either way.
    """
    from edgeaudio.datasets.labelled import read_class_names
    from edgeaudio.pipeline.export import ExportFailed, ExportOptions, export_checkpoint

    if int8 and fp16:
        raise click.UsageError("--int8 and --fp16 exclude each other")
    # every other option is an ExportOptions field of the same name
    options = ExportOptions(precision="int8" if int8 else "fp16" if fp16 else "fp32", fold=not no_fold,
                            labels=read_class_names(labels_file) if labels_file is not None else None, **fields)
    result = export_checkpoint(checkpoint, out_dir, options, progress=Progress())
    for message in result.warnings:
        warn(message)
    click.echo(render_export(result))
    save_json(json_out, result.to_dict())
    if junit_out:
        from edgeaudio.junit import write_junit

        write_junit(junit_out, "edgeaudio.export", result.chain)
    save_report(report_out or Path(result.out_dir) / f"{options.name or checkpoint.stem}.report.html", "export", result.to_dict())
    if result.failure:
        raise ExportFailed(result)


def render_export(result) -> str:
    """The export's report: what was found, the data, the parity chain, the evaluation, the files and stages."""
    data = result.data
    lines = [f"found: {result.found}",
             f"data: {data['source']} ({data['kind']}): {data['calibration_samples']} calibration, {data['held_out_samples']} held-out samples",
             render_chain(result.chain)]
    lines += render_int8_choices(result.plan)
    if result.evaluation is not None:
        from edgeaudio.cli.eval_commands import render_eval

        lines.append(render_eval(result.evaluation))
    if result.models:
        lines.append(render_models(result.models))
    lines.append("stage seconds: " + ", ".join(f"{name} {sec:.1f}" for name, sec in result.stages))
    lines.append("PASS" if result.passed else "FAIL: nothing written" if result.failure else "MISMATCH (written because of --allow-mismatch)")
    return "\n".join(lines)


def render_int8_choices(plan: list[dict]) -> list[str]:
    """One table per int8 file that tried calibration methods or layers kept float: what each try measured on
    calibration samples apart from the held-out ones, and what was kept."""
    out = []
    for step in plan:
        search = step.get("float_layer_search")
        rows = [(t["method"], "-", f"{t['cosine']:.4f}", f"{100 * t['agreement']:.1f}%", "pass" if t["passed"] else "FAIL")
                for t in step.get("tries") or []]
        rows += [(step.get("calib_method_used") or "-", f"{'+'.join(t['layers'])} ({100 * t['macs_share']:.2f}% of MACs)",
                  f"{t['cosine']:.4f}", f"{100 * t['agreement']:.1f}%", "pass" if t["passed"] else "FAIL")
                 for t in (search or {}).get("tries") or []]
        if not rows and not step.get("float_layers"):
            continue
        kept = ", ".join(step.get("float_layers") or []) or "none"
        why = f" ({search['why']})" if search and search.get("why") else ""
        out.append(f"{step['name']}: ranges {step.get('calib_method_used')}, layers kept float: {kept}{why}")
        if rows:
            out.append(table(["ranges", "float layers", "cosine", "top-1", "verdict"], rows, [False, False, True, True, False]))
    return out


def render_layers(layers, limit: int = 15) -> str:
    ranked = sorted(layers, key=lambda layer: layer.sqnr_db)[:limit]
    rows = [
        (
            rank + 1,
            layer.op_index,
            layer.op,
            f"{layer.sqnr_db:.1f}",
            "-" if layer.drop_db is None else f"{layer.drop_db:+.1f}",
            "x".join(map(str, layer.shape)),
            layer.module or "-",
            layer.tensor if len(layer.tensor) <= 40 else "..." + layer.tensor[-37:],
        )
        for rank, layer in enumerate(ranked)
    ]
    head = f"int8 layers ranked by SQNR against the fp32 model (worst {len(ranked)} of {len(layers)}; drop = dB lost in this op)"
    return head + "\n" + table(["rank", "op#", "op", "SQNR dB", "drop", "shape", "PyTorch module", "TFLite tensor"], rows,
                                [True, True, False, True, True, False, False, False])


def render_input_rounding(rounding) -> str:
    """The fp32 twin fed only the int8 model's rounded inputs, against itself, under the int8 gate: when it fails,
    the model alone is too sensitive to its input for an 8-bit input, whatever the converter does."""
    text = "input rounding alone (the fp32 twin on inputs rounded to the int8 model's input grid):\n" + render_chain([rounding])
    if not rounding.passed:
        text += ("\nthe float model fails the int8 gate from its input rounding alone: no conversion setting can meet it; "
                 "train it to be robust to its input (input noise, mixup, quantisation-aware training) or wider")
    return text


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--reference", type=click.Path(path_type=Path), default=None, help="Checkpoint to compare against (needs PyTorch); default: the outputs recorded at export.")
@click.option("--data", type=click.Path(path_type=Path), default=None, help="A .npy of (N,1,T,F) spectrograms to check on (with --reference).")
@click.option("--per-layer", is_flag=True, help="int8: rank the layers by quantisation error against the fp32 twin.")
@click.option("--threads", type=int, default=None, help="Interpreter threads.")
@click.option("--json", "json_out", default=None, help="Write every metric as JSON to this file.")
@click.option("--junit", "junit_out", default=None, help="Write JUnit XML (one test case per output) to this file.")
@device_options
@report_option()
def verify(model, reference, data, per_layer, threads, json_out, junit_out, devices, report_out):
    """Re-run MODEL's parity check: exit 0 pass, 1 parity fail, 2 bad input.

    Works with the runtime-only install (numpy and a TFLite interpreter) when no --reference is given. With
    --device, each device's own edgeaudio and interpreter run it there (exit 1 if any fails or is unreachable).
    """
    from edgeaudio.pipeline.verify import verify_model

    if devices.names:
        if reference is not None or data is not None or per_layer or junit_out or report_out:
            raise click.UsageError("--device verifies against the outputs recorded at export: no --reference, --data, "
                                   "--per-layer, --junit or --report")
        from edgeaudio.cli.device_commands import verify_on_devices

        return verify_on_devices(devices, model, threads, json_out, Progress())

    result = verify_model(model, reference, data, per_layer, threads)
    for message in result.warnings:
        warn(message)
    click.echo(f"{Path(result.model).name}: {result.format} {result.precision} on {result.backend}, vs {result.reference}")
    if result.calibration is not None:
        click.echo(f"calibration: {result.calibration}")
    click.echo(render_chain([result.check]))
    if result.per_layer is not None:
        click.echo(render_layers(result.per_layer))
    if result.input_rounding is not None:
        click.echo(render_input_rounding(result.input_rounding))
    click.echo("PASS" if result.passed else "FAIL: " + "; ".join(result.check.failures))
    save_json(json_out, result.to_dict())
    save_report(report_out, "verify", result.to_dict())
    if junit_out:
        from edgeaudio.junit import write_junit

        write_junit(junit_out, "edgeaudio.verify", [result.check])
    if not result.passed:
        raise click.exceptions.Exit(1)
