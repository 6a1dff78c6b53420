"""Readers and writers of external file formats, one module per format (symmetric read_*/write_*)."""
