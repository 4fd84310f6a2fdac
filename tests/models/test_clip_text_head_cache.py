"""CLIPTextHead's cached class embeddings: float32 under any autocast, and
recomputed when new weights are loaded."""
import pytest
import torch
from helpers.tiny_models import TINY_CLIP

from dist_plugin.models.heads import CLIPTextHead

NAMES = ['playing guitar', 'riding a bike', 'juggling balls']


def _head(seed: int = 0) -> CLIPTextHead:
    torch.manual_seed(seed)
    head = CLIPTextHead(
        num_classes=len(NAMES),
        in_channels=TINY_CLIP['embed_dim'],
        arch=TINY_CLIP,
        class_names=NAMES)
    with torch.no_grad():  # spread the random init so bf16 rounding shows
        for param in head.clip.parameters():
            param.add_(torch.randn_like(param) * 0.2)
    return head


def _fp32_reference(head: CLIPTextHead) -> torch.Tensor:
    """The embeddings computed from scratch in float32, no autocast."""
    with torch.no_grad():
        feats = head.clip.encode_text(head._tokens[:, 0])
    return feats / feats.norm(dim=-1, keepdim=True)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_embeddings_cached_under_autocast_are_float32_values(dtype):
    """Under ``--amp`` the first forward runs inside autocast; the cache it
    fills is reused by float32 validation and testing, so it must hold the
    float32 values (a bf16 text tower is off by ~0.6 %)."""
    head = _head()
    reference = _fp32_reference(head)
    with torch.autocast('cpu', dtype=dtype):
        cached = head.text_features()
        logits = head(torch.randn(2, TINY_CLIP['embed_dim']))
    assert logits.dtype == dtype  # the head itself does run under autocast
    assert cached.dtype == torch.float32
    assert torch.equal(cached, reference)
    # the cache is what float32 evaluation then uses
    assert head.text_features() is cached
    # a fresh head (what tools/test.py builds) gives the same embeddings
    fresh = _head()
    assert torch.equal(fresh.text_features(), cached)


def test_loading_new_weights_recomputes_the_cached_embeddings():
    head = _head(seed=0)
    before = head.text_features().clone()  # fills the cache
    other = _head(seed=1)
    expected = other.text_features()
    assert not torch.allclose(before, expected)
    head.load_state_dict(other.state_dict())
    assert torch.equal(head.text_features(), expected)


def test_loading_through_a_recognizer_recomputes_the_embeddings():
    """The same through a parent module (what Runner.load_checkpoint does)."""
    parent = torch.nn.Module()
    parent.cls_head = _head(seed=0)
    parent.cls_head.text_features()
    donor = torch.nn.Module()
    donor.cls_head = _head(seed=2)
    parent.load_state_dict(donor.state_dict())
    assert torch.equal(parent.cls_head.text_features(),
                       donor.cls_head.text_features())
