"""Validation figures of the 3D module (issue 6): real stereo checkerboard, DANNCE 6-camera mouse, synthetic rigs.

Usage::

    python bench/threed_validation.py            # everything (about a minute on a quiet machine)
    python bench/threed_validation.py --quick    # fewer synthetic rigs

Real data is read from ``../shared/data`` (or ``$MARKERLESS_SHARED_DATA``); missing sets are skipped.
"""

from __future__ import annotations

import argparse
import glob
import os
import time
from pathlib import Path

import numpy as np

from markerless.synthetic.cameras import compare_rigs, make_multicamera_scene, rig_alignment
from markerless.threed.boards import Board, align_detections, detect_board
from markerless.threed.calibration import calibrate_cameras
from markerless.threed.calibration_io import read_dannce_mat
from markerless.threed.triangulation import triangulate

DATA = Path(os.environ.get("MARKERLESS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def stereo_checkerboard() -> None:
    import scipy.io

    folder = DATA / "stereo-checkerboard"
    if not folder.exists():
        print(f"stereo-checkerboard: skipped ({folder} missing)")
        return
    board = Board("checkerboard", rows=6, cols=9, square_size=30.0)  # 30 mm squares (dX in the .mat files)
    dets = [detect_board(sorted(glob.glob(str(folder / f"{c}*.jpg"))), board, camera=c) for c in ("left", "right")]
    _, corners = align_detections(dets)
    print("stereo-checkerboard (9x6 inner corners, 14 image pairs), vs Caltech toolbox fc/cc:")
    for i, cam in enumerate(("left", "right")):
        ref = scipy.io.loadmat(folder / f"Calib_Results_{cam}.mat", squeeze_me=True)
        group = calibrate_cameras(corners[i : i + 1], board, [dets[i].size], [cam])
        k = group[0].matrix
        ours = np.array([k[0, 0], k[1, 1], k[0, 2], k[1, 2]])
        theirs = np.concatenate([ref["fc"], ref["cc"]])
        rel = 100 * (ours / theirs - 1)
        print(
            f"  {cam:5s} fc=({ours[0]:.1f}, {ours[1]:.1f}) ref ({theirs[0]:.1f}, {theirs[1]:.1f})  "
            f"cc=({ours[2]:.1f}, {ours[3]:.1f}) ref ({theirs[2]:.1f}, {theirs[3]:.1f})  "
            f"diff % fx {rel[0]:+.2f} fy {rel[1]:+.2f} cx {rel[2]:+.2f} cy {rel[3]:+.2f}  "
            f"rms {group.metadata['error']:.3f} px"
        )
    t0 = time.perf_counter()
    pair = calibrate_cameras(corners, board, [d.size for d in dets], ["left", "right"])
    baseline = np.linalg.norm(pair[1].center - pair[0].center)
    errs = ", ".join(f"{n} {e:.3f}" for n, e in zip(pair.names, pair.metadata["camera_errors"]))
    print(
        f"  stereo pair: baseline {baseline:.1f} mm; reprojection error (px) {errs}; {time.perf_counter() - t0:.1f} s"
    )


def dannce() -> None:
    import scipy.io

    for session in ("markerless_mouse_1", "markerless_mouse_2"):
        path = DATA / "dannce-markerless-mouse" / session / "label3d_dannce.mat"
        if not path.exists():
            print(f"dannce: skipped ({path} missing)")
            return
        group = read_dannce_mat(path)
        labels = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)["labelData"]
        pts2d = np.stack([lab.data_2d.reshape(-1, 22, 2) for lab in labels])
        truth = labels[0].data_3d.reshape(-1, 22, 3)
        t0 = time.perf_counter()
        result = triangulate(pts2d, group, full_output=True)
        dt = time.perf_counter() - t0
        err = np.linalg.norm(result.points3d - truth, axis=-1)
        proj = np.linalg.norm(group.project(truth) - pts2d, axis=-1)
        noisy = pts2d + np.random.default_rng(0).normal(0, 1.0, pts2d.shape)
        err_noisy = np.linalg.norm(triangulate(noisy, group, ransac_threshold=8.0) - truth, axis=-1)
        print(
            f"dannce {session}: {len(truth)} frames x 22 keypoints, 6 cameras: triangulated 2D labels vs 3D labels "
            f"median {np.nanmedian(err):.2e} mm, 95th {np.nanpercentile(err, 95):.2e} mm, max {np.nanmax(err):.2e} mm "
            f"({np.isfinite(err).sum()} points, {dt * 1000:.0f} ms); projected 3D labels vs 2D labels median "
            f"{np.nanmedian(proj):.2e} px, max {np.nanmax(proj):.2e} px; with 1 px noise added to the 2D labels "
            f"(RANSAC 8 px): median {np.nanmedian(err_noisy):.3f} mm, 95th {np.nanpercentile(err_noisy, 95):.3f} mm"
        )


def synthetic_calibration(n_cameras: list[int]) -> None:
    print(
        "synthetic rigs (cameras on an arc at ~1 m, 640x480, rendered boards, 12 board frames; errors after "
        "aligning the world frames): max rotation error, max camera position error, mean reprojection error, "
        "median 3D error of an animal triangulated with the estimate"
    )
    for board in (Board("checkerboard", 6, 9, 40.0), Board("charuco", 7, 10, 40.0)):
        for n in n_cameras:
            t0 = time.perf_counter()
            scene = make_multicamera_scene(n, board, n_board_frames=12, seed=100 + n)
            t1 = time.perf_counter()
            corners = np.stack([[board.detect(im) for im in cam] for cam in scene.board_images])
            group = calibrate_cameras(corners, board, [c.size for c in scene.cameras], scene.cameras.names)
            t2 = time.perf_counter()
            ang, pos = compare_rigs(group, scene.cameras)
            r, t = rig_alignment(group, scene.cameras)
            err3d = np.linalg.norm(triangulate(scene.animal2d, group) - (scene.animal3d @ r.T + t), axis=-1)
            print(
                f"  {board.kind:12s} N={n}: rotation {ang.max():.3f} deg, position {pos.max():.2f} mm, "
                f"reprojection {group.metadata['error']:.3f} px, animal 3D {np.median(err3d):.2f} mm "
                f"(render {t1 - t0:.1f} s, detect+calibrate {t2 - t1:.1f} s)"
            )


def synthetic_triangulation() -> None:
    scene = make_multicamera_scene(4, n_animal_frames=200, n_keypoints=10, n_individuals=2, render=False, seed=1)
    rng = np.random.default_rng(0)
    print("triangulation with the true 4-camera rig, 200 frames x 2 animals x 10 keypoints: 3D error vs 2D noise")
    for sigma in (0.0, 0.5, 1.0, 2.0, 4.0, 8.0):
        noisy = scene.animal2d + rng.normal(0, sigma, scene.animal2d.shape)
        t0 = time.perf_counter()
        err = np.linalg.norm(triangulate(noisy, scene.cameras) - scene.animal3d, axis=-1)
        dt = time.perf_counter() - t0
        print(
            f"  sigma {sigma:4.1f} px: median {np.median(err):6.3f} mm, 95th {np.percentile(err, 95):6.3f} mm "
            f"({dt * 1000:.0f} ms for {err.size} points)"
        )
    noisy = scene.animal2d + rng.normal(0, 1.0, scene.animal2d.shape)
    noisy[1] += 40.0  # one camera off by 57 px
    plain = np.linalg.norm(triangulate(noisy, scene.cameras) - scene.animal3d, axis=-1)
    t0 = time.perf_counter()
    robust = triangulate(noisy, scene.cameras, ransac_threshold=10.0, full_output=True)
    dt = time.perf_counter() - t0
    err = np.linalg.norm(robust.points3d - scene.animal3d, axis=-1)
    print(
        f"  camera 2 corrupted (+40 px), 1 px noise: plain DLT median {np.median(plain):.2f} mm; RANSAC (10 px) "
        f"median {np.median(err):.3f} mm, corrupted view dropped for {100 * (1 - robust.used[1].mean()):.1f} % "
        f"of points ({dt * 1000:.0f} ms)"
    )


def throughput(n_frames: int) -> None:
    scene = make_multicamera_scene(6, n_animal_frames=n_frames, n_keypoints=20, render=False, seed=2)
    noisy = scene.animal2d + np.random.default_rng(0).normal(0, 1.0, scene.animal2d.shape)
    n_points = scene.animal3d.shape[0] * scene.animal3d.shape[1] * scene.animal3d.shape[2]
    for threshold in (None, 10.0):
        t0 = time.perf_counter()
        triangulate(noisy, scene.cameras, ransac_threshold=threshold)
        dt = time.perf_counter() - t0
        label = "plain DLT" if threshold is None else "RANSAC over 15 camera pairs"
        print(
            f"throughput, 6 cameras, {n_points} points ({n_frames} frames x 20 keypoints), {label}: {dt:.2f} s "
            f"({n_points / dt / 1000:.0f} k points/s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="synthetic rigs of 2 and 3 cameras only")
    args = parser.parse_args()
    start = time.perf_counter()
    stereo_checkerboard()
    dannce()
    synthetic_triangulation()
    throughput(1000 if args.quick else 10000)
    synthetic_calibration([2, 3] if args.quick else [2, 3, 4, 5, 6])
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
