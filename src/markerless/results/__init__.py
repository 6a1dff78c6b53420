"""markerless.results: what happens to prediction files after analysis (filters, gap filling, smoothing)."""
