# Kinetics-400 for STAN with 16 frames: the u8 pipelines with only the
# sampling length changed.
_base_ = ['./kinetics400_stan-u8.py']

clip_len = 16
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
