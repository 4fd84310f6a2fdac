"""Metrics registered in mmaction2's ``METRICS``."""
from .robust_acc_metric import RobustAccMetric

__all__ = ['RobustAccMetric']
