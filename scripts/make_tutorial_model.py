"""Train the Fashion-MNIST tutorial CNN the way the notebooks do, outside edgecls, and save it as .h5.

    python scripts/make_tutorial_model.py my_cnn.h5 labels.txt [epochs, default 8]

Pixels divided by 255, one-hot labels, Conv + BatchNorm + Dropout, softmax, `model.save("my_cnn.h5")`:
a stand-in for the model a user brings from a notebook (the README's "Export a model you trained
elsewhere"). Trains on the embedded sample in a few seconds.
"""

import sys

import keras
import numpy as np

from edgecls.toolkit.data import load_dataset

if __name__ == "__main__":
    model_path, labels_path = sys.argv[1], sys.argv[2]
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    ds = load_dataset("fashion-mnist-mini")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D(), keras.layers.Dropout(0.25),
        keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D(), keras.layers.Dropout(0.25),
        keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"), keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    x = ds.x_train.astype(np.float32) / 255.0
    model.fit(x, keras.utils.to_categorical(ds.y_train, 10), epochs=epochs, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(ds.x_test.astype(np.float32) / 255.0, keras.utils.to_categorical(ds.y_test, 10),
                                 verbose=0)
    model.save(model_path)
    with open(labels_path, "w", encoding="utf-8") as f:
        f.write("\n".join(ds.class_names) + "\n")
    print(f"wrote {model_path} ({accuracy:.1%} on the {len(ds.y_test)} test images, pixels / 255) and {labels_path}")
