"""The key network: fully convolutional over the strip, so one set of weights serves every key and keyboard.

Input (batch, N_CHANNELS, 32, width): background and window differences from ``bridge.features``. Three
2-D convolutions shrink the height to 4 rows (and the width by ``OUTPUT_STRIDE``), one collapses the height,
and dilated 1-D convolutions along the keyboard add the context of neighbouring keys and fingers. Output
(batch, 3, width / OUTPUT_STRIDE): onset, key-down and velocity per strip column, read at the key centres.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from bridge.features import N_CHANNELS, OUTPUT_STRIDE, STRIP_SPEC

OUTPUTS = ("onset", "frame", "velocity")


@dataclass(frozen=True)
class NetConfig:
    widths: tuple[int, int, int, int] = (16, 32, 32, 48)
    context_layers: int = 2

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _conv2d(c_in: int, c_out: int, kernel: tuple[int, int], stride: tuple[int, int]) -> nn.Sequential:
    padding = (kernel[0] // 2, kernel[1] // 2)
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class KeyNet(nn.Module):
    def __init__(self, config: NetConfig | None = None) -> None:
        super().__init__()
        self.config = config or NetConfig()
        w1, w2, w3, w4 = self.config.widths
        assert OUTPUT_STRIDE == 2 and STRIP_SPEC.height == 32
        self.image = nn.Sequential(
            _conv2d(N_CHANNELS, w1, (3, 3), (2, 1)),  # 32 -> 16 rows
            _conv2d(w1, w2, (3, 3), (2, 2)),  # 16 -> 8 rows, width / 2
            _conv2d(w2, w3, (3, 3), (2, 1)),  # 8 -> 4 rows
            nn.Conv2d(w3, w4, (4, 1), bias=False),  # 4 -> 1 row
            nn.BatchNorm2d(w4),
            nn.ReLU(inplace=True),
        )
        context: list[nn.Module] = []
        for layer in range(self.config.context_layers):
            dilation = 2**layer
            context += [nn.Conv1d(w4, w4, 5, padding=2 * dilation, dilation=dilation, bias=False),
                        nn.BatchNorm1d(w4), nn.ReLU(inplace=True)]
        self.context = nn.Sequential(*context)
        self.head = nn.Conv1d(w4, len(OUTPUTS), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, 3, width / 2)."""
        features = self.image(x).squeeze(2)
        return self.head(features + self.context(features))  # type: ignore[no-any-return]


class ExportedKeyNet(nn.Module):
    """What goes into the ONNX file: probabilities instead of logits."""

    def __init__(self, net: KeyNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))


def sample_keys(columns: torch.Tensor, centres_px: torch.Tensor) -> torch.Tensor:
    """Columns (batch, c, w_out) read at strip x (batch, k) by linear interpolation -> (batch, c, k).

    The same rule as ``bridge.features.sample_columns``.
    """
    position = ((centres_px - OUTPUT_STRIDE / 2) / OUTPUT_STRIDE).clamp(0, columns.shape[-1] - 1)
    left = position.floor().long()
    right = (left + 1).clamp(max=columns.shape[-1] - 1)
    weight = (position - left).unsqueeze(1)
    gather_left = columns.gather(2, left.unsqueeze(1).expand(-1, columns.shape[1], -1))
    gather_right = columns.gather(2, right.unsqueeze(1).expand(-1, columns.shape[1], -1))
    return gather_left * (1 - weight) + gather_right * weight
