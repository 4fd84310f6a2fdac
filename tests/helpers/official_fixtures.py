"""Inputs of the official DiST golden fixtures in mmaction's layout."""
import torch


def case_video(case: dict) -> torch.Tensor:
    """The fixture's frames ``[B*T, 3, H, W]`` (batch-major) as a clip
    batch ``[B, 3, T, H, W]``."""
    cfg = case['config']
    images = case['images']
    frames = cfg['DATA']['NUM_INPUT_FRAMES']
    video = images.view(cfg['batch_size'], frames, *images.shape[1:])
    return video.permute(0, 2, 1, 3, 4)
