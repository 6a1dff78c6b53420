"""Which camera a file belongs to: camera names are matched as whole words of file names."""

from __future__ import annotations

import re

from markerless.errors import ConfigError


def _token(camera: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(camera)}(?![A-Za-z0-9])")


def match_camera(name: str, camera_names: list[str]) -> str | None:
    """The camera named in ``name`` as a whole token (between the ends of ``name`` or characters other than
    letters and digits: ``trial_cam1.h5`` names ``cam1``, ``cam10.h5`` and ``midday.h5`` name neither ``cam1``
    nor ``mid``); None when no camera is named.

    Raises:
        ConfigError: ``name`` names several cameras (a camera whose name is part of another named one,
            ``cam1`` in ``cam1_top``, does not count).
    """
    spans = {c: m.span() for c in camera_names if (m := _token(c).search(name))}
    found = [
        c
        for c, (a, b) in spans.items()
        if not any(o != c and o2 - o1 > b - a and o1 <= a and b <= o2 for o, (o1, o2) in spans.items())
    ]
    if len(found) > 1:
        raise ConfigError(
            f"{name} names several cameras {found}; rename it so that it names one camera (as a word, e.g. trial1_{found[0]})."
        )
    return found[0] if found else None


def without_camera(name: str, camera: str) -> str:
    """``name`` with the camera's token removed (and the separators left around it merged)."""
    stem = _token(camera).sub("", name, count=1)
    return re.sub(r"[-_. ]{2,}", lambda m: m.group(0)[0], stem).strip("-_. ")


__all__ = ["match_camera", "without_camera"]
