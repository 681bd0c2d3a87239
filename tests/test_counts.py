"""`edgeaudio info` reproduces the official parameter and MAC counts of AudioRepInceptionNeXt."""

from __future__ import annotations

import json

from edgeaudio.cli import main
from edgeaudio.pipeline.info import info_for_arch


def _forms(info):
    return {f.form: f.counts for f in info.forms}


def test_vggsound_training_form_counts_match_the_official_figures():
    forms = _forms(info_for_arch("audiorepinceptionnext", num_classes=(309,), frames=512, mels=128))
    assert forms["training"].params == 11_834_869
    assert round(forms["training"].macs / 1e9, 2) == 2.58  # 2.579 conv + linear
    assert round(forms["training"].fvcore_total / 1e9, 3) == 2.625  # with BN at 2 per element, as fvcore
    assert forms["inference"].params == 11_691_381  # the official deploy form
    assert round(forms["inference"].macs / 1e9, 3) == 2.528
    assert round(forms["inference"].fvcore_total / 1e9, 3) == 2.553


def test_the_folded_form_has_no_batchnorm_work_and_the_same_conv_macs():
    forms = _forms(info_for_arch("audiorepinceptionnext", preset="vggsound"))
    assert forms["folded"].macs == forms["inference"].macs
    assert forms["folded"].batchnorm_ops == 0
    assert forms["folded"].params < forms["inference"].params


def test_epic_sounds_preset_counts_its_smaller_input():
    forms = _forms(info_for_arch("audiorepinceptionnext", preset="epic-sounds"))
    assert forms["training"].macs < 2.2e9  # 416 frames instead of 512
    assert round(forms["inference"].fvcore_total / 1e9, 2) == 2.07  # the official EPIC-Sounds deploy figure
    assert round(forms["inference"].params / 1e6, 2) == 11.56


def test_info_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "info.json"
    code = main(["info", "--arch", "audiorepinceptionnext", "--classes", "309", "--frames", "512", "--mels", "128", "--json", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "11,834,869" in text and "2.579 G" in text and "2.625 G" in text and "11,691,381" in text
    data = json.loads(out.read_text())
    assert data["forms"][0]["params"] == 11_834_869 and data["input"]["shape"] == [1, 1, 512, 128]
