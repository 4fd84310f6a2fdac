"""Recognizer3D whose STAN neck shares the backbone's CLIP tower."""
from typing import Dict, Optional

from mmaction.models.recognizers import Recognizer3D
from mmaction.registry import MODELS


@MODELS.register_module()
class STANRecognizer(Recognizer3D):
    """mmaction's ``Recognizer3D`` plus one step: the STAN neck is bound to
    the backbone (it reuses CLIP's class embedding, position table,
    ``ln_post`` and ``proj``, and copies CLIP's last K layers into its
    intra-frame blocks). Everything else (losses, multi-view testing) is
    ``Recognizer3D``'s.

    Args:
        backbone (dict): A ``CLIPVideoBackbone`` config
            (``frame_sampling='all'``).
        neck (dict): A ``STANNeck`` config.
        cls_head (dict, optional): Usually ``CLIPTextHead``.
        train_cfg (dict, optional): As in ``Recognizer3D``.
        test_cfg (dict, optional): As in ``Recognizer3D``.
        data_preprocessor (dict, optional): As in ``Recognizer3D``.
    """

    def __init__(self,
                 backbone: Dict,
                 neck: Dict,
                 cls_head: Optional[Dict] = None,
                 train_cfg: Optional[Dict] = None,
                 test_cfg: Optional[Dict] = None,
                 data_preprocessor: Optional[Dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            cls_head=cls_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor)
        if not hasattr(self.neck, 'bind_backbone'):
            raise TypeError(f'STANRecognizer needs a STANNeck, got '
                            f'{type(self.neck).__name__}.')
        self.neck.bind_backbone(self.backbone)
