"""Fixtures shared by the whole suite, as plugins from ``tests/fixtures``.

Real data lives in ``../shared/data`` beside the project root; tests reach it through
``tests.fixtures.data.shared_path`` (skipping with a clear reason when it is absent).
"""

pytest_plugins = [
    "tests.fixtures.data",
    "tests.fixtures.videos",
    "tests.fixtures.projects",
]
