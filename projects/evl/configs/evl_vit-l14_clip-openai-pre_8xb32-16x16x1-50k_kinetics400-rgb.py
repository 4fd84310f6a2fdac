# EVL ViT-L/14, 16 frames x stride 16, Kinetics-400.
# Official (re-run, OpenGVLab/efficient-video-recognition README): 86.9 top-1 /
# 97.4 top-5, 3 crops x 1 clip.
_base_ = [
    './_base_/models/evl_vit-l14.py',
    './_base_/datasets/kinetics400_evl-16x16x1.py',
    './_base_/evl_runtime.py'
]

model = dict(neck=dict(num_frames=16), cls_head=dict(num_classes=400))

# The official run splits each GPU's 32 clips into 2 steps of 16
# (batch_split=2): 16 clips per step, gradients accumulated over 2
# steps, so 8 x 16 x 2 = 256 clips per update as in every row. The
# loop counts steps, so the schedule has 2 x 50,000 of them.
accumulative_counts = 2
max_iters = 50000 * accumulative_counts
train_dataloader = dict(batch_size=16)
train_cfg = dict(max_iters=max_iters, val_interval=5000 * accumulative_counts)
optim_wrapper = dict(accumulative_counts=accumulative_counts)
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_iters,
        eta_min=0.,
        by_epoch=False,
        begin=0,
        end=max_iters)
]
default_hooks = dict(checkpoint=dict(interval=5000 * accumulative_counts))
# mmengine scales the lr by GPUs x batch_size (without the accumulation).
auto_scale_lr = dict(base_batch_size=256 // accumulative_counts)
