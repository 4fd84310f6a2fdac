from .dist_integration_neck import DiSTIntegrationNeck
from .frozen_clip_pool_neck import FrozenCLIPPoolNeck

__all__ = ['DiSTIntegrationNeck', 'FrozenCLIPPoolNeck']
