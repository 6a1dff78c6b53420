"""Unlabelled video in training: the recipe section, clips cut from videos and mapped back, the losses' setup,
and training runs with each loss on (columns in learning_stats.csv, resume, clear refusals)."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from markerless.errors import RecipeError, TrainingError, VideoError
from markerless.project.recipe import Recipe, UnlabelledSection
from markerless.project.shuffle import Shuffle
from markerless.synthetic import make_synthetic_project
from markerless.training.dataset import create_training_dataset
from markerless.training.loop import train
from markerless.training.unlabelled import ClipSampler, UnlabelledObjective
from tests.fixtures.projects import make_tiny_project, tiny_recipe

# --- the recipe section ---------------------------------------------------------------------------


def test_recipe_section_is_off_by_default_and_takes_flat_overrides() -> None:
    recipe = Recipe()
    assert not recipe.unlabelled.enabled
    changed = recipe.with_overrides(
        temporal_weight=0.5,
        temporal_epsilon=4,
        pca_weight=0.1,
        pca_epsilon=None,
        multiview_weight=0.2,
        multiview_epsilon=1.5,
        view_pairs=[["nose_top", "nose_bot"]],
        clip_frames=5,
        clips_per_step=2,
    )
    section = changed.unlabelled
    assert section.enabled and section.view_pairs == (("nose_top", "nose_bot"),) and section.clips_per_step == 2
    assert Recipe.from_dict(changed.to_dict()) == changed  # written and read back
    old = Recipe().to_dict()
    del old["unlabelled"]
    assert Recipe.from_dict(old).unlabelled == UnlabelledSection()  # files written before the section


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"temporal_weight": -1.0}, "unlabelled.temporal_weight"),
        ({"pca_epsilon": -2.0}, "unlabelled.pca_epsilon"),
        ({"clip_frames": 0}, "unlabelled.clip_frames"),
        ({"temporal_weight": 1.0, "clip_frames": 1}, "unlabelled.clip_frames"),
        ({"clips_per_step": 0}, "unlabelled.clips_per_step"),
        ({"every_steps": 0}, "unlabelled.every_steps"),
        ({"start_fraction": 1.0}, "unlabelled.start_fraction"),
        ({"start_fraction": -0.1}, "unlabelled.start_fraction"),
        ({"keypoint_window": 2}, "unlabelled.keypoint_window"),
        ({"view_pairs": [["nose_top"]]}, "unlabelled.view_pairs"),
        ({"view_pairs": [["a_top", "a_bot"], ["b_top", "b_bot", "b_side"]]}, "unlabelled.view_pairs"),
        ({"view_pairs": "nose_top"}, "unlabelled.view_pairs"),
    ],
)
def test_bad_recipe_values_name_the_key(changes: dict, key: str) -> None:
    with pytest.raises(RecipeError, match=key.replace(".", r"\.")):
        Recipe().with_overrides(**changes)


# --- clips ----------------------------------------------------------------------------------------

SQUARE = 6  # side of the bright square drawn in each frame


def _square_video(path: Path, centres: np.ndarray, size: tuple[int, int] = (200, 150)) -> Path:
    """An MJPG video of a white square on black at ``centres`` (T, 2) frame pixels."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25.0, size)
    for cx, cy in centres:
        frame = np.zeros((size[1], size[0], 3), dtype=np.uint8)
        x0, y0 = round(cx - (SQUARE - 1) / 2), round(cy - (SQUARE - 1) / 2)
        frame[y0 : y0 + SQUARE, x0 : x0 + SQUARE] = 255
        writer.write(frame)
    writer.release()
    return path


def _bright_centroids(images: torch.Tensor) -> torch.Tensor:
    """Intensity-weighted centroid ``(N, 2)`` of each image's bright pixels, in image pixels."""
    gray = images.mean(dim=1)
    gray = torch.where(gray > 60, gray, torch.zeros_like(gray))
    ys = torch.arange(gray.shape[1], dtype=torch.float32)[:, None]
    xs = torch.arange(gray.shape[2], dtype=torch.float32)[None, :]
    total = gray.sum(dim=(1, 2))
    return torch.stack([(gray * xs).sum(dim=(1, 2)) / total, (gray * ys).sum(dim=(1, 2)) / total], dim=-1)


@pytest.mark.parametrize(
    ("crop", "scale"),
    [((64, 64), 1.0), ((64, 48), 0.5), ((128, 96), 0.5)],  # crops around the animal; the whole frame fits the last
)
def test_clips_map_back_to_frame_pixels(tmp_path: Path, crop: tuple[int, int], scale: float) -> None:
    t = np.arange(60)
    centres = np.stack([50 + 2 * t, 30 + t], axis=1) + 0.5  # the squares are drawn exactly there
    video = _square_video(tmp_path / "square.avi", centres)
    sampler = ClipSampler([video], {(200, 150)}, crop, scale, clip_frames=5, clips_per_step=3, pcutoff=0.5)
    whole = sampler.fits_whole((200, 150))
    assert whole == (crop == (128, 96))
    asked: list[int] = []

    def locate(frames: list[np.ndarray]) -> np.ndarray:
        asked.append(len(frames))
        found = _bright_centroids(torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float())
        return np.concatenate([found.numpy(), np.ones((len(frames), 1))], axis=1)[:, None, :]

    clips = sampler.sample(np.random.default_rng(0), locate, torch.device("cpu"))
    assert clips.images.shape == (15, 3, crop[1], crop[0])
    assert asked == ([] if whole else [3])  # one locating pass per step, only when cropping
    in_crop = _bright_centroids(clips.images)[:, None, :]  # (N*T, 1, 2): one "keypoint" per frame
    back = clips.to_frame(in_crop)[:, :, 0]  # (N, T, 2)
    expected = np.stack([centres[s : s + 5] for _, s in clips.sources])
    assert np.abs(back.numpy() - expected).max() < 0.35
    sampler.close()


def test_a_video_of_another_size_is_named(tmp_path: Path) -> None:
    video = _square_video(tmp_path / "other.avi", np.full((10, 2), 40.5), size=(120, 90))
    with pytest.raises(VideoError, match=r"other\.avi has 120x90 frames, the labelled frames are 200x150"):
        ClipSampler([video], {(200, 150)}, (64, 64), 1.0, clip_frames=4, clips_per_step=1)
    with pytest.raises(TrainingError, match="has none"):
        ClipSampler([], {(200, 150)}, (64, 64), 1.0, clip_frames=4, clips_per_step=1)
    with pytest.raises(TrainingError, match="clip_frames"):
        ClipSampler([video], {(120, 90)}, (64, 64), 1.0, clip_frames=40, clips_per_step=1)


# --- the losses' setup ----------------------------------------------------------------------------

MIRRORED = ["nose_top", "paw_top", "nose_bot", "paw_bot"]


def _mirrored_labels(n: int, seed: int = 0) -> np.ndarray:
    """Poses (n, 4, 2) of two points seen from the top and, mirrored below, from the bottom."""
    rng = np.random.default_rng(seed)
    top = rng.uniform(20, 80, (n, 2, 2))
    bottom = top * np.array([1.0, -0.9]) + np.array([0.0, 200.0])
    return np.concatenate([top, bottom], axis=1)


def test_objective_finds_mirrored_pairs_and_computes_the_enabled_losses() -> None:
    settings = Recipe().with_overrides(pca_weight=0.5, multiview_weight=2.0, multiview_epsilon=0.0).unlabelled
    objective = UnlabelledObjective(settings, _mirrored_labels(40), MIRRORED, "train/markerless.yaml")
    assert objective.active and set(objective.epsilons) == {"temporal", "pca", "multiview"}
    good = torch.as_tensor(_mirrored_labels(6, seed=1), dtype=torch.float32).reshape(2, 3, 4, 2)
    losses = objective.losses(good)
    assert set(losses) == {"pca", "multiview"}  # temporal off
    assert float(losses["multiview"]) < 1e-3
    bad = good.clone()
    bad[:, :, 2, 0] += 30.0  # the bottom view's nose no longer matches the top view
    worse = objective.losses(bad)
    assert float(worse["multiview"]) > 1.0 and float(objective.total(worse)) > float(objective.total(losses))


def test_objective_refuses_missing_body_parts_and_missing_pairs() -> None:
    labels = _mirrored_labels(40)
    named = Recipe().with_overrides(multiview_weight=1.0, view_pairs=[["nose_top", "nose_botom"]]).unlabelled
    with pytest.raises(RecipeError, match=r"markerless\.yaml: 'unlabelled\.view_pairs': body part 'nose_botom'"):
        UnlabelledObjective(named, labels, MIRRORED, "train/markerless.yaml")
    unnamed = Recipe().with_overrides(multiview_weight=1.0).unlabelled
    with pytest.raises(RecipeError, match="no body parts end in _top/_bot"):
        UnlabelledObjective(unnamed, labels, ["a", "b", "c", "d"], "train/markerless.yaml")


def test_too_few_labelled_frames_turn_a_pca_loss_off_with_a_warning() -> None:
    settings = Recipe().with_overrides(pca_weight=1.0, multiview_weight=1.0).unlabelled
    labels = _mirrored_labels(5)  # 8 frames needed for 4 keypoints
    labels[1:, 2:] = np.nan  # ... and the bottom view labelled once: too few points for the multi-view fit
    with pytest.warns(UserWarning) as caught:
        objective = UnlabelledObjective(settings, labels, MIRRORED, "train/markerless.yaml")
    messages = [str(w.message) for w in caught]
    assert any("Pose PCA needs at least 8 frames" in m and "pca loss is off" in m for m in messages), messages
    assert any("Multi-view PCA needs" in m and "multiview loss is off" in m for m in messages), messages
    assert not objective.active


# --- training -------------------------------------------------------------------------------------


def _stats(sh: Shuffle) -> list[dict[str, str]]:
    with open(sh.train_dir / "learning_stats.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A single-animal synthetic project with its video (160x120, 60 frames, 24 labelled)."""
    return make_synthetic_project(tmp_path_factory.mktemp("synthetic"), n_frames=60, n_labelled=24, size=(160, 120))


@pytest.fixture
def project(synthetic: Path, tmp_path: Path) -> Path:
    """A fresh copy of the synthetic project with shuffle 1 and a tiny recipe."""
    root = Path(shutil.copytree(synthetic.parent, tmp_path / synthetic.parent.name))
    config = root / "config.yaml"
    create_training_dataset(config, shuffle=1, seed=0)
    tiny_recipe(config, eval_every_epochs=0, clip_frames=3)
    return config


@pytest.mark.slow
@pytest.mark.parametrize(
    ("changes", "on"),
    [
        ({"temporal_weight": 0.05, "crop_size": [64, 64]}, {"temporal"}),  # crops around the located animal
        ({"pca_weight": 0.05, "crop_size": [192, 160]}, {"pca"}),  # whole frames
        ({"multiview_weight": 0.05, "view_pairs": [["leftear", "rightear"]], "crop_size": [64, 64]}, {"multiview"}),
    ],
)
def test_each_loss_trains_and_has_its_column(project: Path, changes: dict, on: set[str]) -> None:
    tiny_recipe(project, eval_every_epochs=0, clip_frames=3, **changes)
    train(project, 1, epochs=2, device="cpu")
    rows = _stats(Shuffle(project, 1))
    assert len(rows) == 2
    for name in ("temporal", "pca", "multiview"):
        values = [float(r[f"{name}_loss"]) for r in rows]
        assert all(math.isfinite(v) and v >= 0 for v in values) if name in on else all(map(math.isnan, values))
    assert all(math.isfinite(float(r["loss"])) for r in rows)


@pytest.mark.slow
def test_clips_are_read_from_start_fraction_on_every_kth_step(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[int] = []
    sample = ClipSampler.sample

    def counted(self: ClipSampler, *args: object, **kwargs: object) -> object:
        read.append(1)
        return sample(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ClipSampler, "sample", counted)
    tiny_recipe(project, eval_every_epochs=0, clip_frames=3, temporal_weight=0.05, every_steps=2, start_fraction=0.5)
    train(project, 1, epochs=4, device="cpu")
    rows = _stats(Shuffle(project, 1))
    total = int(rows[-1]["step"])
    assert len(read) == sum(1 for step in range(total) if step / total >= 0.5 and step % 2 == 0) > 0
    temporal = [float(r["temporal_loss"]) for r in rows]
    assert math.isnan(temporal[0]) and math.isfinite(temporal[-1])  # off in the first half, logged once on


@pytest.mark.slow
def test_losses_off_read_no_video_and_a_resumed_run_keeps_its_losses(project: Path) -> None:
    sh = Shuffle(project, 1)
    for video in sh.project.videos:  # with every weight 0 no video is opened
        video.rename(video.with_suffix(".hidden"))
    train(project, 1, epochs=1, device="cpu")
    assert math.isnan(float(_stats(sh)[0]["pca_loss"]))
    for hidden in (sh.project.root / "videos").glob("*.hidden"):
        hidden.rename(hidden.with_suffix(".mp4"))
    tiny_recipe(project, eval_every_epochs=0, clip_frames=3, pca_weight=0.05, keep_snapshots=5)
    train(project, 1, epochs=2, device="cpu", resume=False)
    (sh.train_dir / "snapshot-002.pt").unlink()
    train(project, 1, device="cpu")  # resumes after epoch 1 with the stored recipe's loss
    rows = _stats(sh)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(math.isfinite(float(r["pca_loss"])) for r in rows)


@pytest.mark.slow
def test_a_video_of_another_size_stops_training_naming_it(project: Path) -> None:
    sh = Shuffle(project, 1)
    [video] = sh.project.videos
    _square_video(video.parent / "other.avi", np.full((10, 2), 40.5), size=(120, 90))
    tiny_recipe(project, eval_every_epochs=0, clip_frames=3, temporal_weight=0.1)
    with pytest.raises(VideoError, match=r"other\.avi has 120x90 frames, the labelled frames are 160x120"):
        train(project, 1, epochs=1, device="cpu")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*no skeleton")
def test_multi_animal_projects_refuse_the_losses(tmp_path: Path) -> None:
    config = make_tiny_project(tmp_path, multi_animal=True)
    create_training_dataset(config, shuffle=1, seed=0)
    tiny_recipe(config, temporal_weight=0.1)
    with pytest.raises(RecipeError, match="single-animal projects for now"):
        train(config, 1, epochs=1, device="cpu")
