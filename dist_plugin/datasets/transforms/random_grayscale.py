"""Random grayscale conversion of every frame of a clip."""
from typing import Dict

import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

# ITU-R 601-2 luma weights for RGB, as in torchvision's rgb_to_grayscale.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@TRANSFORMS.register_module()
class RandomGrayscale(BaseTransform):
    """Turn the whole clip grayscale (3 equal channels) with probability
    ``prob``; the same decision holds for every frame.

    Required keys: ``imgs`` (list of ``[H, W, 3]`` uint8 RGB frames).
    Modified keys: ``imgs``. Added keys: ``grayscale``.

    Args:
        prob (float): Probability of conversion. Defaults to 0.2.
    """

    def __init__(self, prob: float = 0.2) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob

    def transform(self, results: Dict) -> Dict:
        """Convert ``results['imgs']`` in place with probability ``prob``."""
        convert = np.random.rand() < self.prob
        results['grayscale'] = bool(convert)
        if convert:
            frames = []
            for img in results['imgs']:
                gray = img[..., :3].astype(np.float32) @ _LUMA
                gray = np.clip(np.round(gray), 0, 255).astype(img.dtype)
                frames.append(np.repeat(gray[..., None], 3, axis=-1))
            results['imgs'] = frames
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'
