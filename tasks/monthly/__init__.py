"""The monthly outputs of Q1: the case-level data set (T2) and the exception report (T3)."""
