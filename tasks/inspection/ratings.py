"""H2: a standard's share of cases judged sufficient, its Wilson interval and its rating.

Pure functions over plain data (no database). A standard is rated by its lowest key question
(the bands and the rule are data: `models/data/inspection.yaml`). A quarter holds few cases, so
each share carries its Wilson score interval, and a standard whose interval crosses a band edge
says which other rating it could be.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from statistics import NormalDist

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models.errors import DataFileError
from models.settings import DATA_DIR

INSPECTION_FILE = DATA_DIR / "inspection.yaml"


class BandSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    rating: str = Field(min_length=1, max_length=40)
    from_: float = Field(alias="from", ge=0, le=1)


class RatingsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str = "lowest key question"
    bands: list[BandSpec] = Field(min_length=2)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    source: str = Field(min_length=1)
    confirmed: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> RatingsSpec:
        edges = [b.from_ for b in self.bands]
        if edges != sorted(edges, reverse=True) or len(set(edges)) != len(edges):
            raise ValueError("'bands' must run from the highest 'from' to the lowest, each once")
        if edges[-1] != 0:
            raise ValueError("the last band must start 'from: 0', so every share has a rating")
        if self.rule != "lowest key question":
            raise ValueError("'rule' can only be 'lowest key question'")
        return self

    @property
    def z(self) -> float:
        return NormalDist().inv_cdf(0.5 + self.confidence / 2)

    def band(self, share: Fraction | float) -> str:
        """The rating a share earns: the first band whose `from` it reaches (edges inclusive)."""
        exact = share if isinstance(share, Fraction) else Fraction(share)
        for b in self.bands:
            if exact >= Fraction(str(b.from_)):
                return b.rating
        return self.bands[-1].rating  # unreachable: the last band starts at 0

    @property
    def ratings(self) -> list[str]:
        return [b.rating for b in self.bands]


class MockSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(default=20, ge=1, le=500)
    minimum_out_of_court: int = Field(default=3, ge=0)
    minimum_custody: int = Field(default=2, ge=0)


class InspectionFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ratings: RatingsSpec
    mock_inspection: MockSpec = MockSpec()


def load_inspection(path: Path = INSPECTION_FILE) -> InspectionFile:
    """The bands and the mock inspection's sizes, or a DataFileError naming the field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return InspectionFile.model_validate(data)
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read it: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise DataFileError(f"{path.name}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        raise DataFileError.invalid(path.name, exc) from None


def wilson(sufficient: int, judged: int, z: float) -> tuple[float, float]:
    """The Wilson score interval of `sufficient` out of `judged` (0 < judged)."""
    if judged <= 0 or not 0 <= sufficient <= judged:
        raise ValueError(f"no interval for {sufficient} of {judged}")
    p = sufficient / judged
    z2 = z * z
    centre = (p + z2 / (2 * judged)) / (1 + z2 / judged)
    half = z / (1 + z2 / judged) * math.sqrt(p * (1 - p) / judged + z2 / (4 * judged * judged))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class KeyShare:
    """One key question: how many cases were judged on it and how many sufficient."""

    code: str
    text: str
    sufficient: int
    judged: int

    @property
    def share(self) -> Fraction | None:
        return Fraction(self.sufficient, self.judged) if self.judged else None


@dataclass
class StandardRating:
    standard: str  # "2.1"
    title: str  # "Assessment"
    keys: list[KeyShare]
    cases: int  # audited cases judged on at least one key question
    share: float | None = None  # the lowest key question's share
    low: float | None = None
    high: float | None = None
    rating: str | None = None
    could_be: list[str] = field(default_factory=list)  # other ratings the interval allows

    @property
    def phrase(self) -> str:
        """'Good', or 'Good, but could be Requires improvement' when the interval crosses an edge."""
        if self.rating is None:
            return "Not rated: no case judged"
        if not self.could_be:
            return self.rating
        others = self.could_be
        words = others[0] if len(others) == 1 else f"{', '.join(others[:-1])} or {others[-1]}"
        return f"{self.rating}, but could be {words}"


def rate(
    standard: str, title: str, keys: list[KeyShare], cases: int, spec: RatingsSpec
) -> StandardRating:
    """H2: the standard's rating is the band of its lowest key question's share. Its interval
    runs from the lowest of the key questions' lower Wilson bounds to the lowest of their upper
    bounds (where the lowest true share can plausibly lie); every band that interval touches
    other than the rating's own is a rating it could be."""
    result = StandardRating(standard, title, keys, cases)
    judged = [k for k in keys if k.judged]
    if not judged:
        return result
    lowest = min(judged, key=lambda k: (k.share, k.code))
    intervals = [wilson(k.sufficient, k.judged, spec.z) for k in judged]
    result.share = float(Fraction(lowest.sufficient, lowest.judged))
    result.low = min(lo for lo, _ in intervals)
    result.high = min(hi for _, hi in intervals)
    result.rating = spec.band(Fraction(lowest.sufficient, lowest.judged))
    order = spec.ratings
    reach = range(order.index(spec.band(result.high)), order.index(spec.band(result.low)) + 1)
    result.could_be = [order[i] for i in reach if order[i] != result.rating]
    return result
