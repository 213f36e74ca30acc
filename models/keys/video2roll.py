"""Audeo's Video2Roll as a reference for speed: a ResNet-18 over 5 stacked grey frames, 88 key outputs.

Published layer sizes (ResNet-18: 64-128-256-512 channels, two basic blocks per stage), 5 input channels,
the keyboard cropped to 100 x 900 pixels; Audeo's extra attention modules are left out, which only makes this
reference faster than the original.
"""

from __future__ import annotations

import torch
from torch import nn

INPUT_SHAPE = (5, 100, 900)


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.skip(x))  # type: ignore[no-any-return]


class Video2Roll(nn.Module):
    def __init__(self, n_keys: int = 88) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(INPUT_SHAPE[0], 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                                   nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
        c_in = 64
        for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)]
            c_in = c_out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(512, n_keys)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(self.features(x)))
