# Baseline for the demo: the same frozen CLIP and pipeline with DiST's
# temporal stream and integration branch removed (frame embeddings averaged
# over time + a linear classifier). The demo classes differ only in motion,
# so this stays near chance.
_base_ = ['./dist_tiny_demo.py']

model = dict(neck=dict(_delete_=True, type='FrozenCLIPPoolNeck'))

# Only the linear head trains here; a larger step size gives it every chance.
optim_wrapper = dict(optimizer=dict(lr=5e-3))
