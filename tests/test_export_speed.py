"""The export's speed-ups change no number: float64 depthwise convolutions by shifted multiply-adds are PyTorch's
own to the last bit, the reference's side-by-side runs give what one-after-another runs give, and the SavedModel
edgeaudio writes from onnx2tf's Keras model converts to the .tflite file onnx2tf's own save gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgeaudio.pipeline.reference import as_float64, depthwise64, measure_reference
from edgeaudio.pipeline.torch_pool import ModelRun, run_pooled


@pytest.mark.parametrize("kernel, stride, padding, dilation", [
    ((21, 1), 1, (10, 0), 1), ((1, 11), 1, (0, 5), 1), ((3, 3), 2, 1, 1), ((5, 3), (2, 1), (2, 0), (1, 2)), ((3, 1), 1, 0, 1),
])
def test_float64_depthwise_is_pytorchs_own_convolution_to_the_last_bit(kernel, stride, padding, dilation):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 8, 20, 17, generator=generator, dtype=torch.float64)
    weight = torch.randn(8, 1, *kernel, generator=generator, dtype=torch.float64)
    bias = torch.randn(8, generator=generator, dtype=torch.float64)
    for b in (bias, None):
        expected = F.conv2d(x, weight, b, stride, padding, dilation, groups=8)
        assert torch.equal(depthwise64(x, weight, b, stride, padding, dilation, groups=8), expected)


def test_other_convolutions_are_left_to_pytorch():
    x = torch.zeros(1, 8, 6, 6, dtype=torch.float64)
    assert depthwise64(x, torch.zeros(8, 8, 1, 1, dtype=torch.float64)) is None  # dense
    assert depthwise64(x, torch.zeros(8, 2, 3, 3, dtype=torch.float64), groups=4) is None  # grouped, not depthwise
    assert depthwise64(x.float(), torch.zeros(8, 1, 3, 3), groups=8) is None  # float32: PyTorch's oneDNN is fast
    assert depthwise64(x, torch.zeros(8, 1, 3, 3, dtype=torch.float64), padding="same", groups=8) is None


def _small_model(seed: int = 0):
    from edgeaudio.models import get_spec

    spec = get_spec("audiorepinceptionnext")
    torch.manual_seed(seed)
    config = spec.config(num_classes=(5,), frames=64, mels=32, width=8, depths=(1, 1, 1, 1), dropout=0.0)
    return spec.build(config).eval()


def test_the_float64_copy_and_its_fold_compute_what_plain_float64_computes(tmp_path):
    import copy

    from edgeaudio.fold import fold_model
    from edgeaudio.pipeline.torch_run import run_model

    model = _small_model()
    x = np.random.default_rng(0).standard_normal((4, 1, 64, 32))
    plain = copy.deepcopy(model).double().eval()
    fast = as_float64(model)
    for a, b in ((plain, fast), (fold_model(plain), fold_model(fast))):
        expected, got = run_model(a, x, "probs"), run_model(b, x, "probs")
        assert np.array_equal(expected["probabilities"], got["probabilities"])
    assert next(model.parameters()).dtype == torch.float32  # the original is left as it is


def test_the_pool_returns_each_runs_outputs_in_order_and_restores_the_thread_count():
    threads = torch.get_num_threads()
    x = np.arange(14, dtype=np.float32).reshape(7, 2)
    seen = set()

    def twice(t):
        seen.add(torch.get_num_threads())
        return t * 2, t.sum(1)

    outs = run_pooled([ModelRun(twice, x, batch=3), ModelRun(lambda t: -t, x[:0]), ModelRun(lambda t: t + 1, x, batch=2)], workers=2)
    assert np.array_equal(outs[0][0], x * 2) and np.array_equal(outs[0][1], x.sum(1))
    assert outs[1] == [] and np.array_equal(outs[2][0], x + 1)
    assert seen == {1}  # one intra-op thread a worker
    assert torch.get_num_threads() == threads


def test_a_failing_run_raises_on_the_callers_thread():
    def broken(_t):
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"):
        run_pooled([ModelRun(lambda t: t, np.zeros((8, 2), np.float32)), ModelRun(broken, np.zeros((4, 2), np.float32))], workers=2)


def test_a_stopped_pool_takes_no_batch_after_the_stop_and_says_so():
    import threading

    from edgeaudio.pipeline.torch_pool import Stopped

    stop, calls = threading.Event(), []

    def forward(x):
        calls.append(len(x))
        stop.set()  # set while the first batches are being computed
        return x * 2

    with pytest.raises(Stopped, match="stopped after"):
        run_pooled([ModelRun(forward, np.zeros((40, 3), np.float32))], workers=2, stop=stop)
    assert 1 <= len(calls) <= 2  # at most the batch each worker was already computing
    assert run_pooled([ModelRun(lambda x: x * 2, np.ones((4, 3), np.float32))], workers=2, stop=threading.Event())[0][0].sum() == 24


def test_the_reference_is_the_same_on_any_number_of_workers():
    model = _small_model(1).set_output("probs").train()
    x = np.random.default_rng(1).standard_normal((21, 1, 64, 32)).astype(np.float32)
    threads = torch.get_num_threads()
    together = measure_reference(model, x, "logits")
    torch.set_num_threads(1)  # one worker: every batch in turn on this thread
    try:
        alone = measure_reference(model, x, "logits")
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(together.exact["logits"], alone.exact["logits"])
    assert len(together.draws) == len(alone.draws) == 4
    for a, b in zip(together.draws, alone.draws):
        assert np.array_equal(a["logits"], b["logits"])
    assert not np.array_equal(together.draws[0]["logits"], together.draws[1]["logits"])  # a jittered draw is another draw
    assert model.output == "probs" and model.training  # left as it was


def test_the_saved_model_converts_to_the_tflite_file_onnx2tfs_own_save_gives(tmp_path):
    """Same ops and the same outputs (two heads: verb, 3 classes, and noun, 7). The converter lists a graph's outputs
    by tensor name (noun first) either way; our SavedModel's signature keeps the model's order (output_0, output_1),
    which the runtime reads, so ours come verb first."""
    import shutil

    import onnx2tf

    from edgeaudio.exporters.to_tflite import convert_saved_model, onnx_to_saved_model
    from edgeaudio.quiet import captured_fds
    from edgeaudio.runtime.tflite import TFLiteModel

    class TwoHeads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
            self.verb, self.noun = torch.nn.Linear(4, 3), torch.nn.Linear(4, 7)

        def forward(self, x):
            pooled = torch.relu(self.conv(x)).mean(dim=(2, 3))
            return self.verb(pooled), self.noun(pooled)

    torch.manual_seed(0)
    x = torch.randn(1, 1, 16, 8)
    torch.onnx.export(TwoHeads().eval(), (x,), str(tmp_path / "two.onnx"), dynamo=True, input_names=["logmel"],
                      output_names=["verb_logits", "noun_logits"])
    ours = convert_saved_model(onnx_to_saved_model(tmp_path / "two.onnx", tmp_path), "fp32")
    shutil.copyfile(tmp_path / "two.onnx", tmp_path / "copy.onnx")
    with captured_fds():
        onnx2tf.convert(input_onnx_file_path=str(tmp_path / "copy.onnx"), output_folder_path=str(tmp_path / "theirs"),
                        non_verbose=True, not_use_onnxsim=True, not_use_opname_auto_generate=True)
    theirs = convert_saved_model(tmp_path / "theirs", "fp32")
    (tmp_path / "ours.tflite").write_bytes(ours)
    (tmp_path / "theirs.tflite").write_bytes(theirs)
    a, b = TFLiteModel(tmp_path / "ours.tflite"), TFLiteModel(tmp_path / "theirs.tflite")
    assert a.ops() == b.ops()
    assert [int(d["shape"][-1]) for d in a.outputs] == [3, 7]
    assert sorted(int(d["shape"][-1]) for d in b.outputs) == [3, 7]
    sample = x.numpy().transpose(0, 2, 3, 1)
    theirs = {o.shape[-1]: o for o in b.run(sample)}
    for got in a.run(sample):
        assert np.array_equal(got, theirs[got.shape[-1]])


def test_the_export_judges_every_file_as_measuring_the_gate_first_would(tmp_path):
    """The gate is measured in a thread of its own while the files are written; every figure of the chain is what
    the gate measured alone, then each written file judged against it, gives."""
    from edgeaudio.pipeline.export import ExportOptions, _Stages, export_checkpoint
    from edgeaudio.pipeline.export_gate import measure_gate
    from edgeaudio.pipeline.export_source import prepare_source
    from edgeaudio.runtime.runner import Runner
    from tests.official_reference import hard_checkpoint

    checkpoint = hard_checkpoint(tmp_path / "hard.pyth", "small", 0)
    options = ExportOptions(target="tflite", precision="int8", calib_method="minmax", allow_mismatch=True)
    messages = []
    result = export_checkpoint(checkpoint, tmp_path / "out", options, progress=messages.append)
    stages = _Stages(lambda _m: None)
    source = prepare_source(checkpoint, options, stages)
    gate = measure_gate(source, options, stages)
    for model in result.models:
        step = {"onnx": "ONNX Runtime", "tflite": f"TFLite {model.precision}"}[model.format]
        gate.judge(step, model.precision, Runner(model.path).run(source.data.held_out))
    assert [s.step for s in result.chain] == ["fold, float64", "PyTorch folded", "ONNX Runtime", "TFLite fp32", "TFLite int8"]
    assert [s.to_dict() for s in result.chain] == [s.to_dict() for s in gate.chain]
    assert dict(result.stages)["waiting for the gate"] >= 0
    assert any(m.startswith("running the original in float64 and float32, its fold in float64") for m in messages)
    verdicts = [m.split(":")[0].strip() for m in messages if m.startswith("  ")]
    assert verdicts == [s.step for s in result.chain]  # announced once each, in the chain's order


def test_a_message_that_comes_while_a_converter_is_captured_is_held_until_the_capture_ends():
    import threading

    from edgeaudio.pipeline.export import _Stages
    from edgeaudio.quiet import captured_fds

    messages = []
    stages = _Stages(messages.append)

    def converter():
        with captured_fds():
            other = threading.Thread(target=stages.progress, args=("  fold, float64: pass",))
            other.start()
            other.join()
            assert messages == ["converting"]  # held: a printing callback would write it into the capture
        return "file"

    assert stages.run("convert", "converting", converter) == "file"
    assert messages == ["converting", "  fold, float64: pass"]


def test_the_int8_file_made_in_a_process_of_its_own_is_the_converters_own_file(tmp_path):
    """convert_apart keeps the calibration's native calls off this process's Python lock; the file is the same to
    the byte, and a refusal comes back as the same ExportError."""
    from edgeaudio.exporters import ExportError
    from edgeaudio.exporters.to_tflite import Apart, convert_apart, convert_saved_model, onnx_to_saved_model

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1)).eval()
    torch.onnx.export(model, (torch.zeros(1, 1, 16, 8),), str(tmp_path / "m.onnx"), dynamo=True, input_names=["logmel"],
                      output_names=["probabilities"])
    saved = onnx_to_saved_model(tmp_path / "m.onnx", tmp_path)
    calibration = np.random.default_rng(0).standard_normal((12, 16, 8, 1)).astype(np.float32)
    here = convert_saved_model(saved, "int8", calibration)
    assert convert_apart(saved, "int8", calibration) == here
    with pytest.raises(ExportError, match="int8 conversion needs calibration data"):
        convert_apart(saved, "int8", None)
    with Apart() as apart:  # started ahead, as an export starts it: one process for every call
        assert convert_apart(saved, "int8", calibration, apart=apart) == here
        with pytest.raises(ExportError, match="int8 conversion needs calibration data"):
            convert_apart(saved, "int8", None, apart=apart)
        assert convert_apart(saved, "int8", calibration, apart=apart) == here  # a refusal leaves it serving
        apart._process.kill()
        apart._process.wait()
        with pytest.raises(ExportError, match="the TFLite int8 conversion's process failed"):
            convert_apart(saved, "int8", calibration, apart=apart)


def test_an_exports_own_process_never_imports_tensorflow(tmp_path):
    """Every TFLite conversion of an export runs in the process it starts (to_tflite.Apart): importing TensorFlow
    and onnx2tf's graph building keep Python's lock, which stalled the gate's PyTorch threads when they ran in
    the export's own process. That process imports what the export's process imports, whatever its cwd holds."""
    import subprocess
    import sys

    from tests.official_reference import hard_checkpoint

    checkpoint = hard_checkpoint(tmp_path / "hard.pyth", "small", 0)
    code = ("import sys\n"
            "from edgeaudio.pipeline.export import ExportOptions, export_checkpoint\n"
            "options = ExportOptions(target='tflite', precision='int8', calib_method='minmax', allow_mismatch=True, float_layers=())\n"
            f"result = export_checkpoint({str(checkpoint)!r}, {str(tmp_path / 'out')!r}, options)\n"
            "print([m.format + ' ' + m.precision for m in result.models], [m for m in ('tensorflow', 'onnx2tf') if m in sys.modules])\n")
    decoy = tmp_path / "cwd" / "edgeaudio"  # a package in the cwd the conversions' process must not import
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the decoy in the cwd was imported')\n")
    done = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=600, cwd=decoy.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "['onnx fp32', 'tflite fp32', 'tflite int8'] []"
