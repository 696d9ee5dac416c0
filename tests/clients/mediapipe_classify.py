"""Run inside MediaPipe's own virtual environment: classify images with MediaPipe Tasks' ImageClassifier.

    python mediapipe_classify.py MODEL.tflite IMAGES.npy IMAGE|VIDEO   -> JSON on stdout

IMAGES.npy holds (N, H, W, 3) uint8 RGB images. Prints the top-1 index and category name that
MediaPipe reads from the model's own metadata, for every image.
"""

import json
import sys

import mediapipe as mp
import numpy as np
from mediapipe.tasks import python as tasks
from mediapipe.tasks.python import vision

if __name__ == "__main__":
    model, images, mode = sys.argv[1], np.load(sys.argv[2]), sys.argv[3]
    running_mode = {"IMAGE": vision.RunningMode.IMAGE, "VIDEO": vision.RunningMode.VIDEO}[mode]
    options = vision.ImageClassifierOptions(base_options=tasks.BaseOptions(model_asset_path=model), max_results=1,
                                            running_mode=running_mode)
    classifier = vision.ImageClassifier.create_from_options(options)
    answers = []
    for i, image in enumerate(images):
        frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
        result = classifier.classify(frame) if mode == "IMAGE" else classifier.classify_for_video(frame, i * 33)
        best = result.classifications[0].categories[0]
        answers.append([best.index, best.category_name])
    classifier.close()
    print(json.dumps({"mediapipe": mp.__version__, "answers": answers}))
