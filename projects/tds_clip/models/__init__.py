from .sme_adapter import SMEAdapter
from .side_patch_stem import SidePatchStem
from .td_adapter import TDAdapter
from .tdsclip_head import TDSCLIPHead
from .tdsclip_side_block import TDSCLIPSideBlock
from .tdsclip_side_neck import TDSCLIPSideNeck

__all__ = [
    'SMEAdapter', 'SidePatchStem', 'TDAdapter', 'TDSCLIPHead',
    'TDSCLIPSideBlock', 'TDSCLIPSideNeck'
]
