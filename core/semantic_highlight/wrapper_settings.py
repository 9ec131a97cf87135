"""Checks of the settings the LangChain and LlamaIndex wrappers take, before pydantic sees them.

pydantic alone would coerce ``top_k="3"`` to 3, accept ``top_k=True`` as 1, and (with the frameworks'
defaults) ignore a misspelled name. Both wrappers run :func:`check_wrapper_settings` as a "before"
validator, so they share one rule: an unknown name or a value of the wrong type raises ``TypeError``
naming the field (with the closest known name for a typo), a wrong value raises ``ValueError``.
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Collection, Mapping
from typing import Any

from .annotations import AnnotateOptions

__all__ = ["check_wrapper_settings"]

_NONE = type(None)
_TYPES: dict[str, tuple[type, ...]] = {
    "mode": (str,),
    "on_empty": (str, _NONE),
    "metadata_key": (str,),
    "model": (str, os.PathLike, _NONE),
    "device": (str, _NONE),
    "dtype": (str, _NONE),
    "replace_score": (bool, _NONE),
    "keep_retrieval_score": (bool,),
    "drop_empty": (bool, _NONE),
}
"""Expected types of the wrapper fields that :class:`AnnotateOptions` does not check itself."""


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join("None" if t is _NONE else t.__name__ for t in types)


def check_wrapper_settings(owner: str, data: Any, known: Collection[str]) -> Any:
    """Check the keyword arguments ``data`` given to the wrapper class ``owner``; return ``data`` unchanged.

    Unknown names and wrong types raise ``TypeError``, wrong values ``ValueError`` (through
    :class:`AnnotateOptions`, the same checks as at call time). ``drop_empty`` gives a ``FutureWarning``:
    ``on_empty`` replaces it.
    """
    if not isinstance(data, Mapping):
        return data
    unknown = [name for name in data if name not in known]
    if unknown:
        name = str(unknown[0])
        close = difflib.get_close_matches(name, [str(k) for k in known], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(f"{owner} got an unexpected setting {name!r}{hint}")
    for name, types in _TYPES.items():
        if name in data and not isinstance(data[name], types):
            raise TypeError(f"{owner}: {name} must be {_type_names(types)}, got {type(data[name]).__name__}")
    if data.get("metadata_key") == "":
        raise ValueError(f"{owner}: metadata_key must not be empty")
    if data.get("drop_empty") is not None:
        warnings.warn(
            f"{owner}: drop_empty is deprecated, use on_empty='drop' (drop_empty=True) or "
            "on_empty='keep_original' (drop_empty=False)",
            FutureWarning,
            stacklevel=4,
        )
    option_names = AnnotateOptions.__dataclass_fields__
    AnnotateOptions(**{k: v for k, v in data.items() if k in option_names})  # raises naming the field
    return data
