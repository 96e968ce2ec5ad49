"""Exceptions raised for bad input. All derive from PolymlpLabError (a ValueError)."""


class PolymlpLabError(ValueError):
    """Base class of every user-facing error of polymlp-lab."""


class FileContentError(PolymlpLabError):
    """Something in a file is wrong; the message starts with where: file, line, key.

    Attributes: ``path`` (file), ``line`` (1-based line number or None), ``key`` (or None).
    """

    unnamed = "<file>"  # what the message says when no path is known

    def __init__(self, message, *, path=None, line=None, key=None):
        where = str(path) if path is not None else self.unnamed
        if line is not None:
            where += f", line {line}"
        if key is not None:
            where += f", key '{key}'"
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.key = path, line, key


class PotentialFileError(FileContentError):
    """A potential file is unreadable, truncated, inconsistent or has unknown keys."""

    unnamed = "<potential>"


class UnknownElementError(PolymlpLabError):
    """The structure holds an element that the potential does not describe."""

    def __init__(self, element, known):
        super().__init__(
            f"element '{element}' is not in the potential (it knows {', '.join(known)})"
        )
        self.element, self.known = element, tuple(known)


class InvalidStructureError(PolymlpLabError):
    """The structure cannot be evaluated: no atoms, NaN/inf positions, singular cell."""


class AtomsTooCloseError(InvalidStructureError):
    """Two atoms are closer than the minimum distance; ``pair`` names them."""

    def __init__(self, message, *, pair, distance):
        super().__init__(message)
        self.pair, self.distance = pair, distance


class OutputDirectoryError(PolymlpLabError):
    """An output directory is an existing file, cannot be created or is not writable;
    ``path`` names it. Raised before any work starts."""

    def __init__(self, message, *, path):
        super().__init__(message)
        self.path = path


class NonFiniteResultError(PolymlpLabError):
    """An evaluation gave a NaN or infinite energy, force or stress (e.g. an overflowing
    coefficient); ``paths`` names the potential files (empty when in memory), ``quantity``
    what was non-finite."""

    def __init__(self, message, *, paths=(), quantity=None):
        super().__init__(message)
        self.paths, self.quantity = tuple(paths), quantity
