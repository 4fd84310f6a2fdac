from .convert import (convert_official_state_dict, is_official_layout,
                      unwrap_official_checkpoint)
from .official_config import official_clip_arch, official_to_model_cfg

__all__ = [
    'convert_official_state_dict', 'is_official_layout',
    'unwrap_official_checkpoint', 'official_clip_arch', 'official_to_model_cfg'
]
