"""markerless.inference."""
