"""One module per `strata` subcommand. Each defines `register(subparsers)`.

Modules import heavy libraries (torch, fairseq2, ...) inside their run functions only,
so `strata --help` stays fast.
"""
