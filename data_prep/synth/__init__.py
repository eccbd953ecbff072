"""Synthetic captioned corpus from music21's bundled scores (`strata data synth`); entry point: corpus.build_corpus.

Kept import-free so that loading SynthConfig (via the profile) stays fast.
"""
