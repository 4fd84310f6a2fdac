# Something-Something V2 with 64 dense frames per clip (CLIP sees 32): the u16
# pipelines with only the sampling length changed.
_base_ = ['./sthv2_dist-u16.py']

clip_len = 64
train_pipeline = [
    dict(step, clip_len=clip_len) if step.type == 'UniformSample' else step
    for step in _base_.train_pipeline
]
val_pipeline = [
    dict(step, clip_len=clip_len) if step.type == 'UniformSample' else step
    for step in _base_.val_pipeline
]
test_pipeline = [
    dict(step, clip_len=clip_len) if step.type == 'UniformSample' else step
    for step in _base_.test_pipeline
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
