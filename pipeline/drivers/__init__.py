"""Training and eval drivers, one module per component: each takes a run and explicit settings, does the work and
returns what a command prints, so every command stays flags -> one call -> print."""
