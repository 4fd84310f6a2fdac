from .convert import (convert_official_state_dict, is_official_layout,
                      unwrap_official_checkpoint)
from .convert_tdsclip import (convert_official_tdsclip_state_dict,
                              is_official_tdsclip_layout,
                              tdsclip_official_to_model_cfg)
from .evl_convert import convert_evl_state_dict, is_evl_layout
from .official import (OFFICIAL_FORMATS, check_converted_fits,
                       convert_official_checkpoint, detect_official_method)
from .official_config import official_clip_arch, official_to_model_cfg

__all__ = [
    'convert_official_state_dict', 'is_official_layout',
    'unwrap_official_checkpoint', 'official_clip_arch',
    'official_to_model_cfg', 'convert_evl_state_dict', 'is_evl_layout',
    'OFFICIAL_FORMATS', 'check_converted_fits', 'convert_official_checkpoint',
    'detect_official_method', 'convert_official_tdsclip_state_dict',
    'is_official_tdsclip_layout', 'tdsclip_official_to_model_cfg'
]
