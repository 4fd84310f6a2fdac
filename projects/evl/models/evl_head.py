"""EVL's classification head: LayerNorm, dropout, linear."""
from typing import Optional, Tuple, Union

from mmaction.models.heads import BaseHead
from mmaction.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class EVLHead(BaseHead):
    """LayerNorm -> Dropout -> Linear on the decoder query.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Query width ``D``.
        dropout_ratio (float): Dropout before the classifier.
            Defaults to 0.5.
        average_clips (str, optional): Test-time view averaging; the
            official evaluation averages softmax scores. Defaults to
            ``'prob'``.
        **kwargs: Other :class:`BaseHead` arguments (``loss_cls``,
            ``label_smooth_eps``, ``topk``, ``init_cfg``).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 dropout_ratio: float = 0.5,
                 average_clips: Optional[str] = 'prob',
                 **kwargs) -> None:
        super().__init__(
            num_classes, in_channels, average_clips=average_clips, **kwargs)
        # Official names: proj.0 (norm), proj.1 (dropout), proj.2 (fc_cls).
        self.norm = nn.LayerNorm(in_channels)
        self.dropout = nn.Dropout(dropout_ratio)
        self.fc_cls = nn.Linear(in_channels, num_classes)

    def init_weights(self) -> None:
        """PyTorch's default LayerNorm and Linear initialisation, as in the
        official model."""
        self.norm.reset_parameters()
        self.fc_cls.reset_parameters()

    def forward(self, x: Union[Tensor, Tuple[Tensor, ...]],
                **kwargs) -> Tensor:
        """``[B, D]`` -> ``[B, K]``."""
        return self.fc_cls(self.dropout(self.norm(x)))
