"""A plain linear classifier over the video embedding."""
from typing import Dict, Optional, Tuple, Union

from mmaction.models.heads import BaseHead
from mmaction.registry import MODELS
from mmengine.model.weight_init import normal_init
from torch import Tensor, nn


@MODELS.register_module()
class DiSTLinearHead(BaseHead):
    """Dropout + linear layer on the (frame-averaged) video embedding.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Embedding size.
        dropout_ratio (float): Dropout before the classifier. Defaults to 0.
        init_std (float): Std of the weight init. Defaults to 0.02.
        average_clips (str, optional): Test-time view averaging.
            Defaults to ``'prob'``.
        **kwargs: Other :class:`BaseHead` arguments (``loss_cls``,
            ``label_smooth_eps``, ``topk``, ``init_cfg``).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 dropout_ratio: float = 0.,
                 init_std: float = 0.02,
                 average_clips: Optional[str] = 'prob',
                 **kwargs) -> None:
        super().__init__(
            num_classes, in_channels, average_clips=average_clips, **kwargs)
        self.init_std = init_std
        self.dropout = nn.Dropout(dropout_ratio)
        self.fc_cls = nn.Linear(in_channels, num_classes)

    def init_weights(self) -> None:
        """Normal-initialized classifier."""
        normal_init(self.fc_cls, std=self.init_std)

    def forward(self, x: Union[Tensor, Tuple[Tensor, ...]],
                **kwargs) -> Tensor:
        """``[B, C]`` (or a tuple whose first item is) -> ``[B, K]``."""
        if isinstance(x, (tuple, list)):
            x = x[0]
        return self.fc_cls(self.dropout(x))
