from .open_clip_tokenize import OpenCLIPTokenize
from .param_group_lr_hook import ParamGroupLrHook
from .stan_cross_frame_attention import STANCrossFrameAttention
from .stan_cross_frame_conv import STANCrossFrameConv
from .stan_intra_frame_block import STANIntraFrameBlock
from .stan_neck import STANNeck
from .stan_optim_constructor import STANOptimWrapperConstructor
from .stan_recognizer import STANRecognizer
from .stan_similarity import STANSimilarity

__all__ = [
    'STANCrossFrameAttention', 'STANCrossFrameConv', 'STANIntraFrameBlock',
    'STANNeck', 'STANRecognizer', 'STANOptimWrapperConstructor',
    'ParamGroupLrHook', 'OpenCLIPTokenize', 'STANSimilarity'
]
