"""The live window of ``edgecls run``: frames shown with Tk, keys read back as actions.

OpenCV's headless build (the base install, so that a device without X libraries imports it)
has no window of its own, and its windowed build cannot share an environment with it. Tk
comes with Python itself (Debian and Raspberry Pi OS: ``apt install python3-tk``), so a
desktop still gets a window and no second package owns ``cv2``.
"""

from __future__ import annotations

import collections
import importlib.util
import os
import sys
import time

import numpy as np

from edgecls.errors import EdgeclsError, first_line

ACTIONS = {"q": "quit", "Q": "quit", "Escape": "quit", "s": "snapshot", "space": "pause"}


def available() -> bool:
    """True when a window can open: a display (on Linux) and Python's tkinter."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    return importlib.util.find_spec("_tkinter") is not None  # Tk's C part: absent without python3-tk


def ppm(bgr: np.ndarray) -> bytes:
    """A BGR frame as binary PPM, the picture format Tk reads without any other library.

    >>> ppm(np.array([[[0, 0, 255]]], np.uint8))
    b'P6 1 1 255 \\xff\\x00\\x00'
    """
    h, w = bgr.shape[:2]
    return b"P6 %d %d 255 " % (w, h) + np.ascontiguousarray(bgr[..., ::-1]).tobytes()


class Window:
    """One Tk window named ``title``; ``show`` a frame, then ``action`` for what the user typed."""

    def __init__(self, title: str = "edgecls"):
        try:
            import tkinter

            self._tk = tkinter
            self.root = tkinter.Tk()
        except ImportError as exc:
            raise EdgeclsError("no window: this Python has no tkinter (apt install python3-tk), "
                               "or use --headless") from exc
        except tkinter.TclError as exc:
            raise EdgeclsError(f"cannot open a window ({first_line(exc, 120)}); use --headless") from exc
        self.root.title(title)
        self.label = tkinter.Label(self.root, borderwidth=0)
        self.label.pack()
        self.keys: collections.deque = collections.deque()
        self.root.bind("<Key>", lambda event: self.keys.append(event.keysym))
        self.root.protocol("WM_DELETE_WINDOW", lambda: self.keys.append("Escape"))
        self.photo = None

    def show(self, bgr: np.ndarray) -> None:
        self.photo = self._tk.PhotoImage(data=ppm(bgr), format="PPM")
        self.label.configure(image=self.photo)
        self.root.update()

    def action(self, wait_ms: int = 1) -> str | None:
        """The next action typed ("quit", "snapshot" or "pause"), waiting up to ``wait_ms`` for one."""
        deadline = time.perf_counter() + wait_ms / 1000
        while True:
            self.root.update()
            while self.keys:
                action = ACTIONS.get(self.keys.popleft())
                if action:
                    return action
            if time.perf_counter() >= deadline:
                return None
            time.sleep(0.005)

    def close(self) -> None:
        self.root.destroy()
