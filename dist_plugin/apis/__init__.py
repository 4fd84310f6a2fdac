"""High-level helpers: checkpoint loading, inference and zero-shot lists."""
from .checkpoint import convert_loaded_checkpoint, load_dist_checkpoint
from .inference import (build_test_pipeline, config_class_names,
                        draw_prediction, init_dist_recognizer, list_videos,
                        model_class_names, predict_video, prepare_config,
                        sample_frames)
from .runner import build_runner
from .zeroshot import (K400_TO_K600_RENAMES, filter_annotations,
                       humanize_class_name, kinetics600_new_classes,
                       write_zeroshot_class_lists, zeroshot_class_file,
                       zeroshot_class_lists)

__all__ = [
    'convert_loaded_checkpoint', 'load_dist_checkpoint',
    'build_test_pipeline', 'config_class_names', 'draw_prediction',
    'init_dist_recognizer', 'list_videos', 'model_class_names',
    'predict_video', 'prepare_config', 'sample_frames', 'build_runner',
    'K400_TO_K600_RENAMES', 'filter_annotations', 'humanize_class_name',
    'kinetics600_new_classes', 'write_zeroshot_class_lists',
    'zeroshot_class_file', 'zeroshot_class_lists'
]
