# The DiST model users type first: ViT-B/16, 8+16 frames, Kinetics-400.
_base_ = [
    './dist/dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_kinetics400-rgb.py'
]
