"""The labelling web app: ``label(config)`` serves a project's frames in the browser (see ``server``).

``store`` holds the app's versioned view of the label files; ``static/`` is the page (plain
HTML/JS/CSS, no build step).
"""
