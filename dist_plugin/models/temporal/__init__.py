from .dist_temporal_encoder import DiSTTemporalEncoder

__all__ = ['DiSTTemporalEncoder']
