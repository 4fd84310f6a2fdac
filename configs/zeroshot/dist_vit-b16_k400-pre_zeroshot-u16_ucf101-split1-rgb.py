# Zero-shot DiST ViT-B/16 (trained on Kinetics-400) on UCF101 split 1:
# 101 classes, names in plain words (dist_plugin/label_maps/
# ucf101_zeroshot_names.txt, same order as mmaction's ucf101 label map).
# Data as prepared by mmaction's tools/data/ucf101 scripts.
_base_ = ['./_zeroshot_dist_vit-b16_k400.py']

num_classes = 101
class_names = 'ucf101_zeroshot'  # built-in list of dist_plugin
data_root = 'data/ucf101/videos'
ann_file_test = 'data/ucf101/ucf101_val_split_1_videos.txt'

model = dict(cls_head=dict(num_classes=num_classes, class_names=class_names))

test_dataloader = dict(
    dataset=dict(
        ann_file=ann_file_test,
        data_prefix=dict(video=data_root),
        num_classes=num_classes))
