"""markerless.labelling: everything before training that touches labels.

Frames to label (:mod:`.frames`), label checks (:mod:`.check_labels`), the active-learning loop:
outlier frames with machine labels as suggestions (:mod:`.outliers`, :mod:`.machine_labels`) and the
next iteration (:mod:`.merge`). The labelling app itself is :mod:`markerless.app`.
"""
