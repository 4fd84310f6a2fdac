"""Head of TDS-CLIP: BatchNorm, mean over space-time, linear classifier."""
from typing import Optional

from mmaction.models.heads import BaseHead
from mmaction.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class TDSCLIPHead(BaseHead):
    """``fc(dropout(mean_{t,h,w} BN3d(x)))`` on the side volume.

    The official model classifies with this linear layer only: its CLIP text
    tower is never loaded (see the project README).

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Side width ``Ds``.
        dropout_ratio (float): Dropout before ``fc`` (``drop_fc``).
            Defaults to 0.
        average_clips (str, optional): Test-time view averaging; the official
            test averages softmax scores. Defaults to ``'prob'``.
        **kwargs: Other :class:`BaseHead` arguments (``loss_cls``,
            ``label_smooth_eps``, ``topk``, ``init_cfg``).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 dropout_ratio: float = 0.,
                 average_clips: Optional[str] = 'prob',
                 **kwargs) -> None:
        super().__init__(
            num_classes, in_channels, average_clips=average_clips, **kwargs)
        self.norm = nn.BatchNorm3d(in_channels)
        self.dropout = nn.Dropout(dropout_ratio)
        self.fc = nn.Linear(in_channels, num_classes)

    def init_weights(self) -> None:
        """Keep PyTorch's default init, as the official ``nn.Linear``."""

    def pool(self, x: Tensor) -> Tensor:
        """Video feature ``[B, Ds]`` of the side volume
        ``[B, Ds, T, h, w]``."""
        if x.dim() != 5:
            raise ValueError(f'TDSCLIPHead expects the side volume [B, Ds, '
                             f'T, h, w], got shape {tuple(x.shape)}')
        return self.norm(x).mean(dim=(2, 3, 4))

    def forward(self, x: Tensor, **kwargs) -> Tensor:
        """``[B, Ds, T, h, w]`` -> class scores ``[B, K]``."""
        return self.fc(self.dropout(self.pool(x)))
