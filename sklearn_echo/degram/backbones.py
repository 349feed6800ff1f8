"""Backbones taking a ``(batch, in_channels, freq, time)`` map: a small CNN and ResNet-18.

Both are plain torch (no torchvision), fully convolutional up to a global
average pool, so they accept any number of frequency rows and frames, and
expose ``forward_features`` (the pooled embedding) and a linear ``head``.
"""

from __future__ import annotations

from torch import nn

__all__ = ["SmallCNN", "BasicBlock", "ResNet18", "BACKBONES", "make_backbone"]


class SmallCNN(nn.Module):
    """Four 3x3 conv-BN-ReLU stages (16, 32, 64, 128 channels), max-pooled, then global average.

    About 100 k parameters: trains in seconds per epoch on a CPU core for
    one-second windows at 64 bands.

    Parameters
    ----------
    in_channels : int, default=1
        Channels of the input map (2 after a ``"concat"`` TF-DE block).
    n_classes : int, default=2
        Outputs of the linear head.
    width : int, default=16
        Channels of the first stage; later stages double it.
    dropout : float, default=0.1
        Dropout before the linear head.

    Attributes
    ----------
    features : torch.nn.Sequential
        The four convolution stages.
    embedding_dim : int
        Width of `forward_features`: ``8 * width``.
    head : torch.nn.Linear
        ``embedding_dim -> n_classes``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.degram import SmallCNN
    >>> net = SmallCNN(n_classes=9)
    >>> net(torch.randn(2, 1, 64, 101)).shape
    torch.Size([2, 9])
    >>> net.forward_features(torch.randn(2, 1, 64, 101)).shape
    torch.Size([2, 128])
    """

    def __init__(self, in_channels=1, n_classes=2, width=16, dropout=0.1):
        super().__init__()
        layers = []
        channels = in_channels
        for i in range(4):
            out = width * 2**i
            layers += [
                nn.Conv2d(channels, out, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
            ]
            if i < 3:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            channels = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.embedding_dim = channels
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels, n_classes)

    def forward_features(self, x):
        """Pooled embedding ``(batch, embedding_dim)`` of maps ``(batch, in_channels, freq, time)``."""
        return self.pool(self.features(x)).flatten(1)

    def forward(self, x):
        """Logits ``(batch, n_classes)`` of maps ``(batch, in_channels, freq, time)``."""
        return self.head(self.dropout(self.forward_features(x)))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convolutions with a residual connection.

    ``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``; the shortcut is a
    strided 1x1 convolution with batch norm when the stride or the number of
    channels changes, else the identity.

    Parameters
    ----------
    in_planes : int
        Input channels.
    planes : int
        Output channels.
    stride : int, default=1
        Stride of the first convolution (2 halves both map dimensions).

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.degram import BasicBlock
    >>> BasicBlock(16, 32, stride=2)(torch.randn(2, 16, 20, 25)).shape
    torch.Size([2, 32, 10, 13])
    """

    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x):
        """Map ``(batch, in_planes, h, w)`` to ``(batch, planes, ceil(h / stride), ceil(w / stride))``."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet-18 (He et al., 2016) with an ``in_channels`` stem, as in the DEGramNet release.

    7x7/2 stem, 3x3/2 max-pool, four stages of two basic blocks
    (64, 128, 256, 512 channels), global average pool, linear head
    (about 11 M parameters).

    Parameters
    ----------
    in_channels : int, default=1
        Channels of the input map (2 after a ``"concat"`` TF-DE block).
    n_classes : int, default=2
        Outputs of the linear head.

    Attributes
    ----------
    embedding_dim : int
        Width of `forward_features` (512).
    head : torch.nn.Linear
        ``512 -> n_classes``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.degram import ResNet18
    >>> net = ResNet18(n_classes=10)
    >>> net(torch.randn(2, 1, 64, 101)).shape
    torch.Size([2, 10])
    """

    def __init__(self, in_channels=1, n_classes=2):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        stages = []
        in_planes = 64
        for i, planes in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            stages.append(
                nn.Sequential(BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes))
            )
            in_planes = planes
        self.layers = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.embedding_dim = 512
        self.head = nn.Linear(512, n_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x):
        """Pooled embedding ``(batch, 512)`` of maps ``(batch, in_channels, freq, time)``."""
        return self.pool(self.layers(self.stem(x))).flatten(1)

    def forward(self, x):
        """Logits ``(batch, n_classes)`` of maps ``(batch, in_channels, freq, time)``."""
        return self.head(self.forward_features(x))


BACKBONES = {"small_cnn": SmallCNN, "resnet18": ResNet18}
"""Backbone classes by the name `make_backbone` and ``DEGramClassifier(backbone=...)`` take."""


def make_backbone(name, in_channels=1, n_classes=2):
    """Build the backbone called ``name`` (``"small_cnn"`` or ``"resnet18"``).

    Parameters
    ----------
    name : {"small_cnn", "resnet18"}
        Key of `BACKBONES`.
    in_channels : int, default=1
        Channels of the input map.
    n_classes : int, default=2
        Outputs of the linear head.

    Returns
    -------
    SmallCNN or ResNet18
        A new, randomly initialised backbone with default settings otherwise.

    Examples
    --------
    >>> from sklearn_echo.degram import make_backbone
    >>> make_backbone("resnet18", n_classes=3).embedding_dim
    512
    """
    if name not in BACKBONES:
        raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {name!r}")
    return BACKBONES[name](in_channels=in_channels, n_classes=n_classes)
