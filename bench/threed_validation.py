"""Validation figures of the 3D module (issue 6): real stereo checkerboard, DANNCE 6-camera mouse, synthetic rigs.

Usage::

    python bench/threed_validation.py            # everything (about a minute on a quiet machine)
    python bench/threed_validation.py --quick    # fewer synthetic rigs
    python bench/threed_validation.py --ransac   # RANSAC time, memory and accuracy at 3, 8 and 31 cameras,
                                                 # before (every camera pair, kept here) and after

Real data is read from ``../shared/data`` (or ``$MARKERLESS_SHARED_DATA``); missing sets are skipped.
"""

from __future__ import annotations

import argparse
import functools
import glob
import itertools
import os
import time
import tracemalloc
from pathlib import Path

import numpy as np

from markerless.synthetic.cameras import compare_rigs, make_multicamera_scene, rig_alignment
from markerless.threed.boards import Board, align_detections, detect_board
from markerless.threed.calibration import calibrate_cameras
from markerless.threed.calibration_io import read_dannce_mat
from markerless.threed.cameras import CameraGroup
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
            assert scene.board_images is not None
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


def _legacy_ransac(points2d: np.ndarray, group: CameraGroup, threshold: float) -> np.ndarray:
    """The RANSAC of markerless before issue 16 (every camera pair for every point, all at once), for comparison."""
    n_cams = len(group)
    flat = points2d.reshape(n_cams, -1, 2)
    valid = np.isfinite(flat).all(axis=-1)
    weights = valid.astype(np.float64)
    normalized = group.undistort_points(flat)
    extr = np.stack([c.extrinsics for c in group.cameras])
    scale = float(np.mean(np.linalg.norm(extr[:, :, 3], axis=1))) or 1.0
    p = extr.copy()
    p[:, :, 3] /= scale
    xy = np.nan_to_num(normalized)
    row_x = xy[..., 0:1] * p[:, None, 2, :] - p[:, None, 0, :]
    row_y = xy[..., 1:2] * p[:, None, 2, :] - p[:, None, 1, :]
    normal = row_x[..., :, None] * row_x[..., None, :] + row_y[..., :, None] * row_y[..., None, :]

    def solve(w: np.ndarray) -> np.ndarray:
        m = np.einsum("cn,cnij->nij", w**2, normal)
        b_mat, rhs = m[:, :3, :3], -m[:, :3, 3]
        cof = np.cross(b_mat[:, [1, 2, 0]], b_mat[:, [2, 0, 1]])
        det = np.einsum("ni,ni->n", b_mat[:, 0], cof[:, 0])
        with np.errstate(divide="ignore", invalid="ignore"):
            pts = np.einsum("nij,nj->ni", cof, rhs) / det[:, None] * scale
        pts[(w > 0).sum(axis=0) < 2] = np.nan
        return pts

    observed = np.where(valid[..., None], flat, np.nan)
    best_count = np.full(flat.shape[1], -1)
    best_err = np.full(flat.shape[1], np.inf)
    best_inliers = valid.copy()
    for pair in itertools.combinations(range(n_cams), 2):
        mask = np.zeros(n_cams, dtype=bool)
        mask[list(pair)] = True
        cand = solve(weights * mask[:, None])
        err = np.linalg.norm(group.project(cand) - observed, axis=-1)
        inl = valid & (err < threshold)
        count = inl.sum(axis=0)
        mean_err = np.where(count > 0, np.where(inl, err, 0).sum(axis=0) / np.maximum(count, 1), np.inf)
        better = (count > best_count) | ((count == best_count) & (mean_err < best_err))
        best_count = np.where(better, count, best_count)
        best_err = np.where(better, mean_err, best_err)
        best_inliers[:, better] = inl[:, better]
    pts = solve(weights * best_inliers)
    pts[best_inliers.sum(axis=0) < 2] = np.nan
    return pts.reshape(*points2d.shape[1:-1], 3)


def ransac_scaling(repeats: int) -> None:
    """Time (median of ``repeats``), peak memory and accuracy of RANSAC per 1000 points at 3, 8 and 31 cameras."""
    print(
        "RANSAC (threshold 10 px) on 1000 points (100 frames x 10 keypoints), cameras on an arc at ~1 m, 1 px noise, "
        f"10 % of views moved 30-200 px; median of {repeats} runs; memory = tracemalloc peak:"
    )
    for n_cams in (3, 8, 31):
        scene = make_multicamera_scene(n_cams, n_animal_frames=100, n_keypoints=10, render=False, seed=40 + n_cams)
        rng = np.random.default_rng(n_cams)
        pts = scene.animal2d + rng.normal(0, 1.0, scene.animal2d.shape)
        bad = rng.random(pts.shape[:-1]) < 0.1
        pts[bad] += rng.uniform(30, 200, (bad.sum(), 2)) * rng.choice([-1, 1], (bad.sum(), 2))
        n_points = scene.animal3d[..., 0].size
        group = scene.cameras
        runs: dict[str, functools.partial[np.ndarray]] = {
            "before (every pair)": functools.partial(_legacy_ransac, pts, group, 10.0),
            "after": functools.partial(triangulate, pts, group, ransac_threshold=10.0),
            "plain DLT (no RANSAC)": functools.partial(triangulate, pts, group),
        }
        for label, run in runs.items():
            times, cpu = [], []
            for _ in range(repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                out = run()
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            tracemalloc.start()
            run()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            err = np.linalg.norm(out - scene.animal3d, axis=-1)
            print(
                f"  {n_cams:2d} cameras, {label:22s}: {1000 * np.median(times) * 1000 / n_points:7.1f} ms "
                f"({1000 * np.median(cpu) * 1000 / n_points:7.1f} ms CPU) and "
                f"{peak / n_points / 1000:6.1f} kB per point; 3D error median "
                f"{np.nanmedian(err):.2f} mm, 95th {np.nanpercentile(err, 95):.2f} mm, {np.isnan(err).mean():.1%} NaN"
            )


def ransac_memory(n_frames: int = 2000) -> None:
    """Peak memory of RANSAC at 31 cameras on many points: bounded by the chunk size beyond input and output."""
    scene = make_multicamera_scene(31, n_animal_frames=n_frames, n_keypoints=10, render=False, seed=71)
    pts = scene.animal2d + np.random.default_rng(0).normal(0, 1.0, scene.animal2d.shape)
    n_points = scene.animal3d[..., 0].size
    for full_output in (False, True):
        tracemalloc.start()
        t0 = time.perf_counter()
        triangulate(pts, scene.cameras, ransac_threshold=10.0, full_output=full_output)
        dt = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(
            f"  31 cameras, {n_points} points, after{', full output' if full_output else ''}: peak "
            f"{peak / 1e6:.0f} MB ({peak / n_points / 1000:.2f} kB per point; the 2D input is "
            f"{pts.nbytes / n_points / 1000:.2f} kB per point), {dt * 1000 / n_points * 1000:.1f} ms per 1000 points "
            "(under tracemalloc)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="synthetic rigs of 2 and 3 cameras only")
    parser.add_argument("--ransac", action="store_true", help="only the RANSAC scaling benchmark (3, 8, 31 cameras)")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats of --ransac (the median is shown)")
    args = parser.parse_args()
    start = time.perf_counter()
    if args.ransac:
        ransac_scaling(args.repeats)
        ransac_memory()
        print(f"total {time.perf_counter() - start:.0f} s")
        return
    stereo_checkerboard()
    dannce()
    synthetic_triangulation()
    throughput(1000 if args.quick else 10000)
    synthetic_calibration([2, 3] if args.quick else [2, 3, 4, 5, 6])
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
