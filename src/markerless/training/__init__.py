"""markerless.training."""
