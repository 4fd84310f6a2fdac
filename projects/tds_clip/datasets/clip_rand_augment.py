"""RandAugment (timm's implementation) applied identically to every frame of
a clip."""
import random
from typing import Dict, Optional, Sequence

import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform
from PIL import Image

# CLIP's mean in 0..255, the fill of geometric ops (as the official code).
CLIP_MEAN_255 = (122.771, 116.746, 104.094)


@TRANSFORMS.register_module()
class ClipRandAugment(BaseTransform):
    """RandAugment with the same ops and magnitudes for all frames.

    Wraps ``timm.data.auto_augment.rand_augment_transform``; the random
    draws of the first frame are replayed for the others, so a clip stays a
    coherent video.

    Required keys: ``imgs`` (list of ``[H, W, 3]`` uint8 RGB frames).
    Modified keys: ``imgs``.

    Args:
        config_str (str): timm RandAugment string. Defaults to
            ``'rand-m7-n4-mstd0.5-inc1'`` (the official TDS-CLIP setting).
        translate_const (int, optional): Maximum translation in pixels.
            Defaults to None (timm's default, 250 * 0.45).
        fill (Sequence[float]): Fill colour of geometric ops (0..255).
            Defaults to CLIP's mean.
    """

    def __init__(self,
                 config_str: str = 'rand-m7-n4-mstd0.5-inc1',
                 translate_const: Optional[int] = None,
                 fill: Sequence[float] = CLIP_MEAN_255) -> None:
        from timm.data.auto_augment import rand_augment_transform
        hparams: Dict = dict(img_mean=tuple(int(round(v)) for v in fill))
        if translate_const is not None:
            hparams['translate_const'] = int(translate_const)
        self.config_str = config_str
        self.augment = rand_augment_transform(config_str, hparams)

    def transform(self, results: Dict) -> Dict:
        """Augment ``results['imgs']`` with one draw of ops."""
        py_state = random.getstate()
        np_state = np.random.get_state()
        out = []
        for frame in results['imgs']:
            random.setstate(py_state)
            np.random.set_state(np_state)
            out.append(np.asarray(self.augment(Image.fromarray(frame))))
        results['imgs'] = out
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(config_str={self.config_str!r})'
