# Zero-shot DiST ViT-B/16 (trained on Kinetics-400) on HMDB51 split 1:
# 51 classes, names in plain words (dist_plugin/label_maps/
# hmdb51_zeroshot_names.txt, same order as mmaction's hmdb51 label map).
# Data as prepared by mmaction's tools/data/hmdb51 scripts.
_base_ = ['./_zeroshot_dist_vit-b16_k400.py']

num_classes = 51
class_names = 'hmdb51_zeroshot'  # built-in list of dist_plugin
data_root = 'data/hmdb51/videos'
ann_file_test = 'data/hmdb51/hmdb51_val_split_1_videos.txt'

model = dict(cls_head=dict(num_classes=num_classes, class_names=class_names))

test_dataloader = dict(
    dataset=dict(
        ann_file=ann_file_test,
        data_prefix=dict(video=data_root),
        num_classes=num_classes))
