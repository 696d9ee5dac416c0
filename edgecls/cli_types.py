"""click parameter types for edgecls' options: every bound lives in the option's type.

A bad value is a usage error (exit 2) that names the option, before any work starts:
``Error: Invalid value for '--lr': 0.0 is not in the range 0<x<=10.``

>>> Ratios().convert("0.64,0.16,0.2", None, None)
(0.64, 0.16, 0.2)
>>> Shape().convert("28x28x1", None, None)
(28, 28, 1)
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import click


class Finite(click.FloatRange):
    """A FloatRange that also refuses nan and inf (which compare False with every bound)."""

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


class Ratios(click.ParamType):
    """``train,val,test`` fractions: three finite numbers >= 0 that sum to 1, train > 0."""

    name = "TRAIN,VAL,TEST"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            ratios = tuple(float(v) for v in str(value).split(","))
        except ValueError:
            self.fail(f"{value!r} is not three numbers like 0.64,0.16,0.2.", param, ctx)
        if len(ratios) != 3 or not all(math.isfinite(r) and r >= 0 for r in ratios):
            self.fail(f"{value!r} must be three non-negative numbers like 0.64,0.16,0.2.", param, ctx)
        if ratios[0] <= 0 or abs(sum(ratios) - 1) > 1e-6:
            self.fail(f"{value!r}: the fractions must sum to 1 with a train fraction above 0.", param, ctx)
        return ratios


class Floats(click.ParamType):
    """One or three finite numbers, comma-separated (a per-channel mean or std), e.g. 123.7,116.3,103.5.

    ``positive`` refuses zero and negatives (a standard deviation divides).
    """

    name = "N[,N,N]"

    def __init__(self, positive: bool = False):
        self.positive = positive

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            numbers = tuple(float(v) for v in str(value).split(","))
        except ValueError:
            numbers = ()
        if len(numbers) not in (1, 3) or not all(math.isfinite(n) and (n > 0 or not self.positive) for n in numbers):
            kind = "positive numbers" if self.positive else "numbers"
            self.fail(f"{value!r} must be one or three {kind}, comma-separated.", param, ctx)
        return numbers


class Shape(click.ParamType):
    """``HxWxC`` with C 1 or 3, e.g. 28x28x1."""

    name = "HxWxC"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            shape = tuple(int(v) for v in str(value).lower().split("x"))
        except ValueError:
            shape = ()
        if len(shape) != 3 or min(shape[:2]) < 8 or max(shape[:2]) > 4096 or shape[2] not in (1, 3):
            self.fail(f"{value!r} must look like 28x28x1 (sides 8..4096, channels 1 or 3).", param, ctx)
        return shape


class Choices(click.ParamType):
    """A comma-separated subset of ``choices``."""

    name = "LIST"

    def __init__(self, choices):
        self.choices = list(choices)

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        items = [v.strip() for v in str(value).split(",") if v.strip()]
        unknown = [v for v in items if v not in self.choices]
        if unknown or not items:
            self.fail(f"unknown format(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(self.choices)}.",
                      param, ctx)
        return items


class Names(click.ParamType):
    """Comma-separated class names, e.g. Sneaker,Sandal."""

    name = "NAME,..."

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        names = [v.strip() for v in str(value).split(",") if v.strip()]
        if not names:
            self.fail(f"{value!r}: give at least one class name.", param, ctx)
        return names


class AugmentSpec(click.ParamType):
    """``none`` or ``NAME=VALUE`` pairs (flip, rotate, shift, zoom, brightness, noise), each within its bound."""

    name = "none|NAME=VALUE,..."

    def convert(self, value, param, ctx):
        if isinstance(value, dict):
            return value
        from edgecls.toolkit.augment import parse_spec

        try:
            return parse_spec(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class OutputFile(click.Path):
    """A file to create: its folder must exist and be writable, and its suffix be one of ``suffixes``."""

    def __init__(self, suffixes: tuple[str, ...] | None = None):
        super().__init__(dir_okay=False, writable=True)
        self.suffixes = suffixes

    def convert(self, value, param, ctx):
        if value == "-":
            return value
        path = Path(super().convert(value, param, ctx))
        folder = path.parent
        if not folder.is_dir():
            self.fail(f"folder {str(folder)!r} does not exist.", param, ctx)
        if not os.access(folder, os.W_OK):
            self.fail(f"folder {str(folder)!r} is not writable.", param, ctx)
        if self.suffixes and path.suffix.lower() not in self.suffixes:
            self.fail(f"{str(path)!r} must end in {' or '.join(self.suffixes)}.", param, ctx)
        if path.is_symlink():
            self.fail(f"{str(path)!r} is a link; edgecls does not write through links.", param, ctx)
        return str(path)


class Checked(click.ParamType):
    """A value ``check`` accepts; the EdgeclsError it raises becomes the option's usage error."""

    def __init__(self, name: str, check):
        self.name, self.check = name, check

    def convert(self, value, param, ctx):
        from edgecls.errors import EdgeclsError

        try:
            return self.check(value)
        except EdgeclsError as exc:
            self.fail(str(exc), param, ctx)


def _dataset(spec: str) -> str:
    from edgecls.toolkit.data import check_spec  # imported when --data is given: other commands start without it

    return check_spec(spec)


def _model(name: str) -> str:
    from edgecls.toolkit.models import check_model_name

    return check_model_name(name)


EXISTING_FILE = click.Path(exists=True, dir_okay=False)
EXISTING_DIR = click.Path(exists=True, file_okay=False)
EXISTING = click.Path(exists=True)
OUT_DIR = click.Path(file_okay=False)
POSITIVE = click.IntRange(min=1)
IMAGE_SIZE = click.IntRange(8, 4096)
SEED = click.IntRange(0, 2**32 - 1)
FRACTION = Finite(0.0, 1.0)
AUGMENT = AugmentSpec()
DATASET = Checked("NAME|PATH", _dataset)  # checked before Keras loads, which takes seconds
MODEL = Checked("NAME", _model)
