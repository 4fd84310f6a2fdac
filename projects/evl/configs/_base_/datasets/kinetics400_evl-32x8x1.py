# Kinetics-400 videos for EVL: 32 frames with a fixed stride of 8, as the
# official EVL 32x8 models: the 16x16 pipelines (3 crops x 1 centre clip at
# test) with only the sampling changed.
_base_ = ['./kinetics400_evl-16x16x1.py']

clip_len = 32
frame_interval = 8
train_pipeline = [
    dict(step, clip_len=clip_len, frame_interval=frame_interval)
    if step.type == 'SampleFrames' else step
    for step in _base_.train_pipeline
]
val_pipeline = [
    dict(step, clip_len=clip_len, frame_interval=frame_interval)
    if step.type == 'SampleFrames' else step
    for step in _base_.val_pipeline
]
test_pipeline = [
    dict(step, clip_len=clip_len, frame_interval=frame_interval)
    if step.type == 'SampleFrames' else step
    for step in _base_.test_pipeline
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
