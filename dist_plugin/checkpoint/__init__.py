from .convert import (convert_official_state_dict, is_official_layout,
                      unwrap_official_checkpoint)
from .convert_tdsclip import (convert_official_tdsclip_state_dict,
                              is_official_tdsclip_layout,
                              tdsclip_official_to_model_cfg)
from .official_config import official_clip_arch, official_to_model_cfg
from .official_methods import (OFFICIAL_CONVERTERS,
                               convert_official_checkpoint,
                               detect_official_method)

__all__ = [
    'convert_official_state_dict', 'is_official_layout',
    'unwrap_official_checkpoint', 'official_clip_arch', 'official_to_model_cfg',
    'convert_official_tdsclip_state_dict', 'is_official_tdsclip_layout',
    'tdsclip_official_to_model_cfg', 'OFFICIAL_CONVERTERS',
    'convert_official_checkpoint', 'detect_official_method'
]
