"""numpy 2: ``ColorJitter.adjust_hue`` overflows on uint8 (item 3).

Upstream defect: mmaction2 1.2.0 ``mmaction/datasets/transforms/processing.py``
adds a Python ``int`` hue offset to the uint8 hue channel. Under numpy 2's
promotion rules (NEP 50, https://numpy.org/neps/nep-0050-scalar-promotion.html)
a negative offset raises ``OverflowError: Python integer -11 out of bounds for
uint8`` (about half of all random draws), and a positive one wraps at 256
before the modulo. No upstream fix is released (mmaction2 1.2.0 is the latest).

Fix (narrowest): replace the one static method on the registered
``ColorJitter`` class in place; the class, its registry entry and every other
method stay upstream's. The shift is done in int16 and wrapped modulo 180
(OpenCV's 8-bit hue range).
"""
import cv2
import numpy as np

#: OpenCV stores 8-bit hue as degrees / 2, i.e. in [0, 180).
OPENCV_HUE_RANGE = 180
#: Upstream converts the jitter factor to an offset with this scale; kept so
#: that the augmentation strength is unchanged.
HUE_OFFSET_SCALE = 255

#: Upstream's function, kept for tests and for reverting.
ORIGINAL_ADJUST_HUE = None


def adjust_hue(img: np.ndarray, factor: float) -> np.ndarray:
    """Rotate the hue of an RGB image.

    Args:
        img (np.ndarray): RGB image [H, W, 3], any numeric dtype in [0, 255].
        factor (float): Hue shift; the offset is ``int(factor * 255)`` in
            OpenCV hue units.

    Returns:
        np.ndarray: The shifted RGB image as float32 [H, W, 3].
    """
    rgb = np.clip(img, 0, 255).astype(np.uint8)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    offset = int(factor * HUE_OFFSET_SCALE)
    shifted = (hsv[..., 0].astype(np.int16) + offset) % OPENCV_HUE_RANGE
    hsv[..., 0] = shifted.astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)


def apply() -> bool:
    """Patch ``mmaction``'s ``ColorJitter.adjust_hue`` in place.

    Returns:
        bool: True when the fixed method is installed.
    """
    global ORIGINAL_ADJUST_HUE
    from mmaction.datasets.transforms.processing import ColorJitter
    current = ColorJitter.__dict__['adjust_hue']
    if getattr(current, '__func__', None) is adjust_hue:
        return True
    ORIGINAL_ADJUST_HUE = getattr(current, '__func__', current)
    ColorJitter.adjust_hue = staticmethod(adjust_hue)
    return True
