"""Subcommands of ``vmb``, in the order ``vmb --help`` lists them (one module each)."""

COMMAND_MODULES: tuple[str, ...] = (
    "convert",
    "eval",
    "synth",
    "render",
    "plugins",
)
