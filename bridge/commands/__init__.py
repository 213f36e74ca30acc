"""Subcommands of ``vmb``, in the order ``vmb --help`` lists them (one module each)."""

COMMAND_MODULES: tuple[str, ...] = (
    "transcribe",
    "calibrate",
    "live",
    "service",
    "recover",
    "landmarks",
    "foley",
    "render",
    "plugins",
    "synth",
    "dataset",
    "eval",
    "convert",
)
