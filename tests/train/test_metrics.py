"""Retrieval metrics against hand-computed rankings: ties, five captions per image, median rank."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from sonovis.train.metrics import format_metrics_table, retrieval_metrics


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def scores_as_embeddings(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Speech rows = score rows and images = one-hot, so ``speech @ image.T`` is exactly ``scores`` [N, M]."""
    return scores.clone(), torch.eye(scores.shape[1])


def test_speech_to_image_ties_are_counted_against_the_model() -> None:
    scores = torch.tensor(
        [
            [0.9, 0.1, 0.0],  # own image 0 is best: rank 1
            [0.5, 0.5, 0.2],  # own image 1 ties with image 0: the tie ranks above it, rank 2
            [0.3, 0.2, 0.1],  # own image 2 is below two images: rank 3
            [0.4, 0.4, 0.4],  # own image 0 ties with everything: rank 3
        ]
    )
    speech, images = scores_as_embeddings(scores)
    metrics = retrieval_metrics(speech, images, torch.tensor([0, 1, 2, 0]))["s2i"]
    assert metrics["r1"] == pytest.approx(25.0)
    assert metrics["r5"] == pytest.approx(100.0)
    assert metrics["medr"] == 2.5  # ranks 1, 2, 3, 3


def test_a_collapsed_model_scores_nothing() -> None:
    constant = torch.ones(30, 4) / 2
    metrics = retrieval_metrics(constant, torch.ones(6, 4) / 2, torch.arange(6).repeat_interleave(5))
    assert metrics["s2i"]["r5"] == 0.0 and metrics["s2i"]["medr"] == 6.0
    assert metrics["i2s"]["r10"] == 0.0 and metrics["i2s"]["medr"] == 26.0


def test_image_to_speech_counts_the_best_of_five_captions() -> None:
    """12 images x 5 utterances; image j's best own utterance is placed at a chosen rank."""
    wanted = [1, 2, 5, 6, 10, 11, 1, 3, 20, 1, 4, 7]
    num_images, per_image = len(wanted), 5
    image_of_speech = torch.arange(num_images).repeat_interleave(per_image)
    scores = torch.zeros(num_images * per_image, num_images)
    for image, rank in enumerate(wanted):
        own = (image_of_speech == image).nonzero().squeeze(1)
        others = (image_of_speech != image).nonzero().squeeze(1)
        scores[own, image] = 0.1
        scores[own[2], image] = 0.5  # the best own caption is not the first one
        scores[others[: rank - 1], image] = 0.9  # exactly rank-1 others above it
        scores[others[rank - 1], image] = 0.4  # just below the best own: must not cost a rank
    speech, images = scores_as_embeddings(scores)
    metrics = retrieval_metrics(speech, images, image_of_speech)["i2s"]
    assert metrics["r1"] == pytest.approx(100 * 3 / 12)
    assert metrics["r5"] == pytest.approx(100 * 7 / 12)  # ranks 1, 2, 5, 1, 3, 1, 4
    assert metrics["r10"] == pytest.approx(100 * 10 / 12)  # plus 6, 10 and 7
    assert metrics["medr"] == 4.5  # sorted ranks ... 4, 5 ... : mean of the two middle ones


def test_median_rank_of_an_odd_count_is_the_middle_rank() -> None:
    scores = torch.tensor([[0.1, 0.9, 0.8], [0.2, 0.5, 0.3], [0.9, 0.6, 0.7]])
    speech, images = scores_as_embeddings(scores)
    metrics = retrieval_metrics(speech, images, torch.tensor([0, 1, 2]))["s2i"]  # ranks 3, 1, 2
    assert metrics["medr"] == 2.0
    assert metrics["r1"] == pytest.approx(100 / 3)
    assert metrics["r5"] == pytest.approx(100.0)


def test_perfect_embeddings_give_full_recall_both_ways() -> None:
    generator = torch.Generator().manual_seed(0)
    images = torch.nn.functional.normalize(torch.randn(20, 8, generator=generator), dim=1)
    image_of_speech = torch.arange(20).repeat_interleave(5)
    metrics = retrieval_metrics(images[image_of_speech], images, image_of_speech)
    for direction in ("s2i", "i2s"):
        assert metrics[direction] == {"r1": 100.0, "r5": 100.0, "r10": 100.0, "medr": 1.0}


def test_chunked_ranking_matches_a_direct_loop() -> None:
    generator = torch.Generator().manual_seed(1)
    speech, images = torch.randn(50, 6, generator=generator), torch.randn(13, 6, generator=generator)
    image_of_speech = torch.randint(0, 13, (50,), generator=generator)
    scores = speech @ images.T
    s2i = [1 + int((scores[i] > scores[i, image_of_speech[i]]).sum()) for i in range(50)]
    i2s = []
    for j in sorted(set(image_of_speech.tolist())):
        best_own = scores[image_of_speech == j, j].max()
        i2s.append(1 + int((scores[:, j] > best_own).sum()))
    for chunk in (1, 7, 1024):
        metrics = retrieval_metrics(speech, images, image_of_speech, chunk=chunk)
        assert metrics["s2i"]["r5"] == pytest.approx(100 * sum(r <= 5 for r in s2i) / len(s2i))
        assert metrics["s2i"]["medr"] == float(torch.tensor(s2i, dtype=torch.float64).median())
        assert metrics["i2s"]["r1"] == pytest.approx(100 * sum(r <= 1 for r in i2s) / len(i2s))
        assert metrics["i2s"]["r10"] == pytest.approx(100 * sum(r <= 10 for r in i2s) / len(i2s))


def test_bad_inputs_are_refused() -> None:
    speech, images = torch.randn(4, 3), torch.randn(2, 3)
    with pytest.raises(ValueError, match="index"):
        retrieval_metrics(speech, images, torch.tensor([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="non-finite"):
        retrieval_metrics(torch.full((4, 3), float("nan")), images, torch.tensor([0, 1, 1, 0]))


def test_table_lists_both_directions() -> None:
    scores = torch.tensor([[0.9, 0.1], [0.8, 0.3]])
    speech, images = scores_as_embeddings(scores)
    table = format_metrics_table(retrieval_metrics(speech, images, torch.tensor([0, 1])))
    lines = table.splitlines()
    assert len(lines) == 3
    assert lines[0].split() == ["direction", "R@1", "R@5", "R@10", "medr"]
    assert lines[1].split() == ["speech->image", "50.0", "100.0", "100.0", "1.5"]
    assert lines[2].split() == ["image->speech", "100.0", "100.0", "100.0", "1.0"]


def test_a_read_only_split_array_scores_like_a_tensor_and_stays_untouched() -> None:
    """A loaded split's ``image_of_utterance`` is a read-only view of Arrow memory: scored as it is."""
    speech, images = torch.randn(12, 4), torch.randn(3, 4)
    image_of = np.repeat(np.arange(3, dtype=np.int64), 4)
    image_of.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns when it wraps a non-writable array
        from_array = retrieval_metrics(speech, images, image_of)
    assert from_array == retrieval_metrics(speech, images, torch.from_numpy(image_of.copy()))
    assert image_of.tolist() == np.repeat(np.arange(3), 4).tolist()
