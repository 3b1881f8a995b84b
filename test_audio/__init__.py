"""Ground-truth audio for tests and demos: a corpus synthesized with espeak-ng (see generate.py)."""
