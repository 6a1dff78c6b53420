"""markerless.viz."""
