"""markerless.threed."""
