"""What a reproduced figure holds: its plot, the published numbers it is compared with and how
close it comes (:class:`Comparison`), the yes/no claims of the paper it tests, and the gaps it
cannot close."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..files import atomic_path, check_output_dir, jsonable, write_text_atomic


@dataclass(frozen=True)
class Comparison:
    """One number of ours against a published one.

    quantity : what is compared (e.g. "E_f TiAl (L1_0), MLP"); value, reference : ours and
    the published value, in ``unit``; tolerance : the largest |value − reference| counted as
    agreement, in ``unit``; source : the citation of ``reference``; why : why that tolerance
    (the published scatter, the potential's own error, the cell size ...); asserted : False
    for a row shown for contrast (a peer potential's number), which may disagree.
    """

    quantity: str
    value: float
    reference: float
    tolerance: float
    unit: str
    source: str
    why: str = ""
    asserted: bool = True

    @property
    def difference(self) -> float:
        """value − reference, in ``unit``."""
        return float(self.value) - float(self.reference)

    @property
    def agrees(self) -> bool:
        """|value − reference| within ``tolerance`` (False for a non-finite value)."""
        return math.isfinite(self.difference) and abs(self.difference) <= self.tolerance

    def as_dict(self) -> dict:
        return jsonable({"quantity": self.quantity, "value": self.value,
                         "reference": self.reference, "difference": self.difference,
                         "tolerance": self.tolerance, "unit": self.unit, "agrees": self.agrees,
                         "source": self.source, "why": self.why,
                         "asserted": self.asserted})


@dataclass
class FigureResult:
    """A reproduced figure of Seko and Wakai's paper.

    number, title : which figure; figure : the matplotlib Figure; comparisons : Comparison
    rows against published numbers; checks : {claim of the paper: held here}; gaps : what
    the lab cannot match here and why, in words; expected_misses : quantities of asserted
    comparisons the figure knows it misses (each explained in ``gaps``): shown as "GAP", not
    counted against ``holds``, flagged by ``closed_gaps`` once they agree; settings : the run's
    sizes (``scale_up`` ...); data : the numbers drawn (JSON-ready); seconds : wall time.
    """

    number: int
    title: str
    figure: object = field(repr=False)
    comparisons: tuple = ()
    checks: dict = field(default_factory=dict)
    gaps: tuple = ()
    expected_misses: tuple = ()
    settings: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict, repr=False)
    seconds: float = float("nan")

    @property
    def disagreements(self) -> list:
        """Asserted comparisons outside their tolerance, known misses included."""
        return [c for c in self.comparisons if c.asserted and not c.agrees]

    @property
    def closed_gaps(self) -> list:
        """Known misses that agree now (their gap text wants updating)."""
        return [c for c in self.comparisons if c.quantity in self.expected_misses and c.agrees]

    @property
    def holds(self) -> bool:
        """Every asserted comparison agrees but the known misses, and every check holds."""
        unexpected = [c for c in self.disagreements if c.quantity not in self.expected_misses]
        return not unexpected and all(self.checks.values())

    def as_dict(self) -> dict:
        """Everything but the Figure, JSON-ready."""
        return jsonable({"figure": self.number, "title": self.title,
                         "comparisons": [c.as_dict() for c in self.comparisons],
                         "checks": dict(self.checks), "gaps": list(self.gaps),
                         "expected_misses": list(self.expected_misses), "holds": self.holds,
                         "settings": dict(self.settings), "data": self.data,
                         "seconds": self.seconds})

    def table(self) -> str:
        """The comparisons and checks as plain text, one line each ("off": a contrast row
        outside the tolerance, "GAP": a known miss, "OFF": an unexpected one)."""
        lines = [f"Figure {self.number}: {self.title}"]
        for c in self.comparisons:
            mark = "ok " if c.agrees else "off" if not c.asserted else (
                "GAP" if c.quantity in self.expected_misses else "OFF")
            lines.append(f"  {mark} {c.quantity}: {c.value:.4g} vs "
                         f"{c.reference:.4g} {c.unit} (±{c.tolerance:g}; {c.source})")
        for claim, held in self.checks.items():
            lines.append(f"  {'ok ' if held else 'NO '} {claim}")
        lines += [f"  gap: {gap}" for gap in self.gaps]
        return "\n".join(lines)

    def save(self, out) -> list:
        """Write ``figure<N>.png`` (150 dpi) and ``figure<N>.json`` into the folder ``out``;
        returns their paths."""
        out = check_output_dir(out)
        out.mkdir(parents=True, exist_ok=True)
        png = Path(out) / f"figure{self.number}.png"
        with atomic_path(png) as temporary:
            self.figure.savefig(temporary, dpi=150, format="png")
        record = write_text_atomic(Path(out) / f"figure{self.number}.json",
                                   json.dumps(self.as_dict(), indent=1, allow_nan=False))
        return [png, record]
