"""One base error for everything the user can fix; each message says what went wrong and what to do.

The CLI prints ``str(error)`` on one line to stderr and exits 2. Anything that is not a
``VmbError`` is a bug and keeps its traceback.
"""

from __future__ import annotations


class VmbError(Exception):
    """Base class: a problem the user can fix. The message must say how."""


class InputFileError(VmbError):
    """A file given by the user is missing, empty, corrupt or of the wrong kind."""


class MidiFileError(InputFileError):
    """A MIDI file cannot be read or written."""


class VideoError(InputFileError):
    """A video cannot be opened or decoded."""


class PresetError(VmbError):
    """A TOML preset is malformed or names something unknown."""


class CalibrationError(VmbError):
    """No keyboard was found, or a calibration file is invalid."""


class ModelError(VmbError):
    """The key model is missing, does not match its card, or cannot run."""


class DeviceError(VmbError):
    """A MIDI port, OSC peer, camera or audio device cannot be opened or went away."""


class PluginError(VmbError):
    """A VST3 plugin or SoundFont cannot be found, loaded or rendered."""


class SystemDependencyError(VmbError):
    """A system package (FluidSynth, ffmpeg, JACK, ...) is missing."""
