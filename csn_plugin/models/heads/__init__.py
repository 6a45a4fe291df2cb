from .fixed_pool_i3d_head import FixedPoolI3DHead, WindowAvgPool3d

__all__ = ['FixedPoolI3DHead', 'WindowAvgPool3d']
