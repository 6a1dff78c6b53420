"""The markerless test suite (a package, so that its helpers import as ``tests.fixtures...``)."""
