"""What :class:`CLIPVideoBackbone` returns: a small, named structure."""
from dataclasses import dataclass
from typing import Optional, Tuple

from torch import Tensor


@dataclass(frozen=True)
class CLIPVideoFeatures:
    """Per-block CLIP features of the frames a video backbone encoded.

    ``B`` is the number of clips, ``Tc`` the frames that went through CLIP
    (``num_frames``), ``N`` the patches per frame, ``D`` the CLIP width and
    ``E`` the CLIP embedding size. Frame ``t`` of clip ``b`` is row
    ``b * Tc + t`` of every ``[B*Tc, ...]`` tensor.

    Attributes:
        layer_tokens (tuple[Tensor]): Output of each returned block,
            ``[B*Tc, 1+N, D]`` (CLS first, then the patches row-major, before
            ``ln_post``), in the backbone's ``out_indices`` order.
        layer_ids (tuple[int]): The non-negative block index of each entry of
            ``layer_tokens``.
        frame_embeddings (Tensor, optional): ``ln_post(CLS of the last
            block) @ proj``, ``[B, Tc, E]``; None when the backbone was built
            with ``image_head=False``.
        inputs (Tensor): The dense input clip ``[B, 3, T, H, W]`` as given.
        batch_size (int): ``B``.
        num_frames (int): ``Tc``.
        grid_size (tuple[int, int]): Patch grid ``(h, w)``, ``N = h * w``.
        layer_qk (tuple[tuple[Tensor, Tensor]], optional): Per returned block,
            ``(q, k)`` of that block's own self-attention:
            ``ln_1(block input)`` through the first two thirds of
            ``in_proj`` (with bias, not scaled), each
            ``[B*Tc, 1+N, heads, D // heads]``. None unless the backbone was
            built with ``return_qk=True``.
    """

    layer_tokens: Tuple[Tensor, ...]
    layer_ids: Tuple[int, ...]
    frame_embeddings: Optional[Tensor]
    inputs: Tensor
    batch_size: int
    num_frames: int
    grid_size: Tuple[int, int]
    layer_qk: Optional[Tuple[Tuple[Tensor, Tensor], ...]] = None

    def __post_init__(self) -> None:
        if len(self.layer_tokens) != len(self.layer_ids):
            raise ValueError(
                f'{len(self.layer_tokens)} layer_tokens for '
                f'{len(self.layer_ids)} layer_ids')
        if self.layer_qk is not None and \
                len(self.layer_qk) != len(self.layer_ids):
            raise ValueError(f'{len(self.layer_qk)} layer_qk entries for '
                             f'{len(self.layer_ids)} layer_ids')

    def _position(self, block: int) -> int:
        if block not in self.layer_ids:
            raise KeyError(
                f'CLIP block {block} was not returned by the backbone (it '
                f'returned blocks {list(self.layer_ids)}); add it to the '
                f"backbone's out_indices.")
        return self.layer_ids.index(block)

    def tokens_of(self, block: int) -> Tensor:
        """Output tokens ``[B*Tc, 1+N, D]`` of CLIP block ``block``."""
        return self.layer_tokens[self._position(block)]

    def qk_of(self, block: int) -> Tuple[Tensor, Tensor]:
        """``(q, k)`` ``[B*Tc, 1+N, heads, head_dim]`` of block ``block``."""
        if self.layer_qk is None:
            raise ValueError('The backbone did not return q and k; build it '
                             'with return_qk=True.')
        return self.layer_qk[self._position(block)]

    def require_frame_embeddings(self) -> Tensor:
        """``frame_embeddings`` ``[B, Tc, E]``, or a clear error when the
        backbone was built without CLIP's image head."""
        if self.frame_embeddings is None:
            raise ValueError(
                'This neck reads the CLIP frame embeddings, but the backbone '
                'was built with image_head=False (no ln_post/proj); set '
                'image_head=True in the backbone config.')
        return self.frame_embeddings
