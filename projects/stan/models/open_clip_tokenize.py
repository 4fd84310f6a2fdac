"""Caption tokenizer for video-text retrieval (open_clip's CLIP BPE)."""
from typing import Dict

import open_clip
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform


@TRANSFORMS.register_module()
class OpenCLIPTokenize(BaseTransform):
    """Tokenize ``results['text']`` with CLIP's BPE, cut to ``max_tokens``.

    The drop-in for mmaction's ``CLIPTokenize`` (which needs OpenAI's
    ``clip`` package). Captions longer than ``max_tokens`` are truncated and
    end with the end-of-text token, as in the official STAN code (32 tokens
    for MSR-VTT). The text tower pads the ids to its own context length.

    Args:
        max_tokens (int): Token length. Defaults to 32.
    """

    def __init__(self, max_tokens: int = 32) -> None:
        if max_tokens < 2:
            raise ValueError(f'max_tokens must be >= 2, got {max_tokens}')
        self.max_tokens = max_tokens
        self.tokenizer = open_clip.SimpleTokenizer(context_length=max_tokens)

    def transform(self, results: Dict) -> Dict:
        text = results.get('text')
        if not isinstance(text, str):
            raise ValueError(f'OpenCLIPTokenize needs a caption string in '
                             f"results['text'], got {type(text).__name__} "
                             f"(file {results.get('filename')}).")
        results['text'] = self.tokenizer([text])[0]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(max_tokens={self.max_tokens})'
