"""PyTorch definitions of the networks in gotrain/model, with the same
module names, so that state_dict and TorchScript files load by name in both
directions. Used by the interop and parity tests and by scripts/reference."""

import torch
import torch.nn as nn


class DepthwiseSeparableConv(nn.Module):
    def __init__(self, cin, cout, stride=1, dilation=1):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, stride=stride, padding=dilation,
                                   dilation=dilation, groups=cin)
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class SeedNet(nn.Module):
    """The seed project's CustomCNN (82,474 parameters)."""

    def __init__(self, dropout=0.05):
        super().__init__()
        self.c1 = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            DepthwiseSeparableConv(16, 32), nn.BatchNorm2d(32), nn.ReLU())
        self.c2 = nn.Sequential(
            DepthwiseSeparableConv(32, 48), nn.BatchNorm2d(48), nn.ReLU(),
            nn.Conv2d(48, 48, 3, stride=2, padding=1), nn.BatchNorm2d(48), nn.ReLU())
        self.c3 = nn.Sequential(
            DepthwiseSeparableConv(48, 64), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=2, dilation=2), nn.BatchNorm2d(64), nn.ReLU())
        self.c4 = nn.Sequential(
            DepthwiseSeparableConv(64, 96, stride=2), nn.BatchNorm2d(96), nn.ReLU(),
            nn.Conv2d(96, 96, 1), nn.BatchNorm2d(96), nn.ReLU())
        self.gap = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Dropout(dropout))
        self.fc = nn.Linear(96, 10)

    def forward(self, x):
        x = self.gap(self.c4(self.c3(self.c2(self.c1(x)))))
        return self.fc(x.flatten(1))


class SepNet(nn.Module):
    """gotrain's default network: every seed rule met, receptive field 49."""

    def __init__(self, dropout=0.05):
        super().__init__()
        self.c1 = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            DepthwiseSeparableConv(32, 32), nn.BatchNorm2d(32), nn.ReLU())
        self.c2 = nn.Sequential(
            DepthwiseSeparableConv(32, 48), nn.BatchNorm2d(48), nn.ReLU(),
            nn.Conv2d(48, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU())
        self.c3 = nn.Sequential(
            DepthwiseSeparableConv(64, 64), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=2, dilation=2), nn.BatchNorm2d(64), nn.ReLU())
        self.c4 = nn.Sequential(
            DepthwiseSeparableConv(64, 176, stride=2), nn.BatchNorm2d(176), nn.ReLU(),
            DepthwiseSeparableConv(176, 176), nn.BatchNorm2d(176), nn.ReLU(),
            DepthwiseSeparableConv(176, 176), nn.BatchNorm2d(176), nn.ReLU(),
            DepthwiseSeparableConv(176, 176), nn.BatchNorm2d(176), nn.ReLU())
        self.gap = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Dropout(dropout))
        self.fc = nn.Linear(176, 10)

    def forward(self, x):
        x = self.gap(self.c4(self.c3(self.c2(self.c1(x)))))
        return self.fc(x.flatten(1))


class Residual(nn.Module):
    """x + body(x)."""

    def __init__(self, *layers):
        super().__init__()
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.body(x)


class SepRes(nn.Module):
    """SepNet with residual connections around its same-width layers."""

    def __init__(self, dropout=0.05):
        super().__init__()
        self.c1 = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            Residual(DepthwiseSeparableConv(32, 32), nn.BatchNorm2d(32), nn.ReLU()))
        self.c2 = nn.Sequential(
            DepthwiseSeparableConv(32, 48), nn.BatchNorm2d(48), nn.ReLU(),
            nn.Conv2d(48, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU())
        self.c3 = nn.Sequential(
            Residual(DepthwiseSeparableConv(64, 64), nn.BatchNorm2d(64), nn.ReLU()),
            Residual(nn.Conv2d(64, 64, 3, padding=2, dilation=2), nn.BatchNorm2d(64), nn.ReLU()))
        self.c4 = nn.Sequential(
            DepthwiseSeparableConv(64, 176, stride=2), nn.BatchNorm2d(176), nn.ReLU(),
            *[Residual(DepthwiseSeparableConv(176, 176), nn.BatchNorm2d(176), nn.ReLU())
              for _ in range(3)])
        self.gap = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Dropout(dropout))
        self.fc = nn.Linear(176, 10)

    def forward(self, x):
        x = self.gap(self.c4(self.c3(self.c2(self.c1(x)))))
        return self.fc(x.flatten(1))


NETWORKS = {"seed": SeedNet, "sepnet": SepNet, "sepres": SepRes}


def split_decay(net):
    """The parameters of net, as (name, parameter) pairs in named_parameters
    order, split into those weight decay applies to and those it does not:
    every BatchNorm parameter and every bias goes to the second list (the
    common recipe; gotrain's nn.SplitDecay applies the same rule)."""
    exempt = set()
    for m in net.modules():
        for name, p in m.named_parameters(recurse=False):
            if isinstance(m, nn.modules.batchnorm._BatchNorm) or name == "bias":
                exempt.add(p)
    decay, no_decay = [], []
    for name, p in net.named_parameters():
        (no_decay if p in exempt else decay).append((name, p))
    return decay, no_decay


def decay_param_groups(net, weight_decay):
    """torch.optim parameter groups for split_decay's two lists: the first
    with weight_decay, the second without (gotrain's optim.WeightDecayGroups)."""
    decay, no_decay = split_decay(net)
    return [{"params": [p for _, p in decay], "weight_decay": weight_decay},
            {"params": [p for _, p in no_decay], "weight_decay": 0.0}]
