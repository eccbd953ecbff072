"""Leaf package shared by data_prep and stages: atomic checkpoint files, the LR schedule, the time budget and the
resumable training loop. It imports only torch and the standard library."""
