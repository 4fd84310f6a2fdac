# Zero-shot DiST ViT-B/16 (trained on Kinetics-400) on the 221 Kinetics-600
# classes that Kinetics-400 lacks (dist_plugin/label_maps/
# kinetics600_new_classes.txt: K600 minus K400, K400 classes renamed in K600
# counted as seen). Build the annotation list from mmaction's K600 val list:
#   python tools/zeroshot_classifier.py filter \
#       data/kinetics600/kinetics600_val_list_videos.txt \
#       data/kinetics600/kinetics600_new_classes_val_list_videos.txt
_base_ = ['./_zeroshot_dist_vit-b16_k400.py']

num_classes = 221
class_names = 'kinetics600_new'  # built-in list of dist_plugin
data_root = 'data/kinetics600/videos_val'
ann_file_test = 'data/kinetics600/kinetics600_new_classes_val_list_videos.txt'

model = dict(cls_head=dict(num_classes=num_classes, class_names=class_names))

test_dataloader = dict(
    dataset=dict(
        ann_file=ann_file_test,
        data_prefix=dict(video=data_root),
        num_classes=num_classes))
