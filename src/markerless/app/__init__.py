"""markerless.app."""
