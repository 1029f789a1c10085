"""The command-line interface; each subcommand module has `register(subparsers)`."""
