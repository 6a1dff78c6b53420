"""Identities over time: frame-to-frame tracking, tracklet stitching, tracking metrics."""
