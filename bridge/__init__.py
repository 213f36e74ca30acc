"""Video MIDI Bridge: performance video or a live camera to MIDI, OSC and audio stems."""

__version__ = "0.1.0"
