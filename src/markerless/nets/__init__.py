"""markerless.nets."""
