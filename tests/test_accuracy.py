"""Accuracy metrics against hand-worked cases and against their definitions; intervals that cover what they claim."""

from __future__ import annotations

import numpy as np
import pytest

from edgeaudio import accuracy
from edgeaudio.datasets.labelled import LabelledSet, match_labels, split_field


def test_average_precision_of_a_worked_example_with_a_tie():
    # scores 0.9 (pos), 0.8 (neg), 0.8 (pos), 0.3 (neg), 0.1 (pos): thresholds 0.9 -> P 1/1, R 1/3; 0.8 (the tie taken
    # together) -> P 2/3, R 2/3; 0.1 -> P 3/5, R 3/3. AP = 1/3 * 1 + 1/3 * 2/3 + 1/3 * 3/5.
    scores = np.array([0.9, 0.8, 0.8, 0.3, 0.1])
    positive = np.array([True, False, True, False, True])
    expected = (1 + 2 / 3 + 3 / 5) / 3
    assert accuracy.average_precision(scores, positive)[0] == pytest.approx(expected)
    # weights are repeated clips: weighting a clip twice is the same as listing it twice
    twice = accuracy.average_precision(np.r_[scores, 0.9], np.r_[positive, True])[0]
    assert accuracy.average_precision(scores, positive, np.array([[2, 1, 1, 1, 1.0]]))[0] == pytest.approx(twice)


def test_balanced_accuracy_is_the_mean_recall_of_the_classes_present():
    truth = np.array([0, 0, 0, 0, 1, 1, 3])  # class 2 has no clip: it does not count
    predicted = np.array([0, 0, 0, 1, 1, 0, 3])
    assert accuracy.balanced_accuracy(predicted, truth, 4)[0] == pytest.approx((3 / 4 + 1 / 2 + 1) / 3)
    assert accuracy.per_class_recall(predicted, truth, 4) == [0.75, 0.5, None, 1.0]
    matrix = accuracy.confusion_matrix(predicted, truth, 4)
    assert matrix.sum() == 7 and matrix[0, 0] == 3 and matrix[1, 0] == 1


def test_the_95_percent_interval_covers_the_true_accuracy_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = 0
    trials = 100
    for _ in range(trials):
        truth = rng.integers(0, 4, 120)
        right = rng.random(120) < 0.7  # a model that is right 70% of the time
        scores = rng.random((120, 4))
        scores[np.arange(120), truth] += np.where(right, 2.0, -2.0)
        estimate = accuracy.single_label(scores, truth, draws=400).top1
        covered += estimate.low <= 0.7 <= estimate.high
    assert 85 <= covered <= 100  # 95% nominal; the binomial spread over 100 trials is about +-4


def test_a_paired_comparison_counts_lost_and_gained_clips_and_tests_them_exactly():
    truth = np.zeros(40, dtype=int)
    reference = np.tile([[1.0, 0.0]], (40, 1))  # right on every clip
    model = reference.copy()
    model[:6] = [0.0, 1.0]  # wrong on six
    ref, mod = accuracy.single_label(reference, truth, 200), accuracy.single_label(model, truth, 200)
    versus = accuracy.compare_single_label(ref, mod)
    assert (versus.lost, versus.gained) == (6, 0)
    assert versus.p_worse == pytest.approx(0.5**6)
    assert versus.drop == pytest.approx(6 / 40) and versus.low > 0


def test_identical_multi_label_models_drop_nothing_and_are_not_called_worse():
    rng = np.random.default_rng(1)
    positives = rng.random((200, 6)) < 0.2
    scores = rng.random((200, 6)) + positives
    a = accuracy.multi_label(scores, positives, 200)
    versus = accuracy.compare_multi_label(a, accuracy.multi_label(scores.copy(), positives, 200))
    assert versus.drop == 0 and versus.p_worse == 1.0
    assert 0.5 < a.mean_ap.value <= 1 and a.mean_ap.low <= a.mean_ap.value <= a.mean_ap.high


def test_label_fields_split_only_when_the_whole_field_is_no_label():
    known = {"Child speech, kid speaking", "Music", "Guitar"}
    assert split_field("Child speech, kid speaking", known) == ["Child speech, kid speaking"]
    assert split_field("Music,Guitar", known) == ["Music", "Guitar"]
    assert split_field("Music;Guitar", known) == ["Music", "Guitar"]
    data = LabelledSet("set.csv", "table", ["a.wav", "b.wav"], ["music|guitar", "Child_speech_kid_speaking"], [2, 3])
    labels = ["Child speech, kid speaking", "Music", "Guitar"]
    assert match_labels(data, labels, multi_label=True) == [[1, 2], [0]]
    from edgeaudio.errors import InputError

    with pytest.raises(InputError, match="row 2 gives 2 labels"):
        match_labels(data, labels, multi_label=False)
