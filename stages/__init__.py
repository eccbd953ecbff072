"""Stage transformers: one decoder-only model, three token layouts, sampling and the DeepSpeed trainer.

A stage sees token tensors only; it imports neither `pipeline` nor `data_prep`.
"""
