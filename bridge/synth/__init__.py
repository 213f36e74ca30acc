"""Synthetic piano performance videos with exact labels (see docs/synth.md)."""

from bridge.synth.render import RenderConfig, render_frames, render_to_files, true_geometry, write_ground_truth_midi
from bridge.synth.style import STYLE_NAMES, StyleParams, sample_style

__all__ = ["STYLE_NAMES", "RenderConfig", "StyleParams", "render_frames", "render_to_files", "sample_style",
           "true_geometry", "write_ground_truth_midi"]
