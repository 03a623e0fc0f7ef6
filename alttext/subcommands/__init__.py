"""One module per subcommand, each with ``run(args) -> exit code``. ``alttext.cli`` builds the
parser and imports a command's module only when that command runs: ``alttext check`` loads
nothing of the describe pipeline."""
