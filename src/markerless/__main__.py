"""``python -m markerless`` runs the command line."""

import sys

from markerless.cli import main

sys.exit(main())
