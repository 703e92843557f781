"""One searched hyperparameter of a search-space file (``search:``), as an Optuna distribution."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import model_validator

from selfsup.specs import StrictModel


class Dimension(StrictModel):
    """One searched hyperparameter, as an Optuna distribution."""

    type: Literal["categorical", "int", "float"]
    choices: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "Dimension":
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("categorical dimension needs a non-empty 'choices' list")
            if self.low is not None or self.high is not None or self.log or self.step is not None:
                raise ValueError("categorical dimension takes 'choices', not low/high/log/step")
            repeats = [c for i, c in enumerate(self.choices) if c in self.choices[:i]]
            if repeats:
                raise ValueError(
                    f"categorical choices repeat {repeats[0]!r}; expected each choice once (a repeat "
                    f"weighs it twice in TPE and runs it twice in a grid)"
                )
            return self
        if self.choices is not None:
            raise ValueError(f"{self.type} dimension takes low/high, not 'choices'")
        if self.low is None or self.high is None:
            raise ValueError(f"{self.type} dimension needs both 'low' and 'high'")
        if not self.low < self.high:
            raise ValueError(f"low must be < high (got low={self.low}, high={self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0 (got low={self.low})")
        if self.log and self.step is not None:
            raise ValueError("'step' cannot be combined with log=true")
        if self.step is not None and not self.step > 0:
            raise ValueError(f"step must be > 0 (got step={self.step:g})")
        if self.type == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError(f"int dimension needs integer bounds (got {self.low}, {self.high})")
        if self.type == "int" and self.step is not None and self.step != int(self.step):
            raise ValueError(f"int dimension needs an integer step (got step={self.step:g})")
        return self

    def optuna_distribution(self):
        import optuna.distributions as od

        if self.type == "categorical":
            return od.CategoricalDistribution(self.choices)
        if self.type == "int":
            return od.IntDistribution(int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return od.FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def suggest(self, trial, name: str) -> Any:
        """The value an Optuna trial draws for ``name`` from this dimension, defined by run (a dimension asked for
        only when the trial's method has it: ``SweepSpec.suggest``)."""
        if self.type == "categorical":
            return trial.suggest_categorical(name, self.choices)
        if self.type == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)

    def describe(self) -> str:
        if self.type == "categorical":
            return f"categorical {self.choices}"
        scale = "log " if self.log else ""
        return f"{scale}{self.type} [{self.low:g}, {self.high:g}]" + (f" step {self.step:g}" if self.step else "")

    def grid_values(self) -> list[Any]:
        """Every value a grid search tries: the choices, or the range in steps (an int range's step defaults
        to 1); ValueError for a continuous range, which has no grid."""
        if self.type == "categorical":
            return list(self.choices)
        if self.type == "int" and not self.log:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None or self.log:
            raise ValueError(
                f"a grid needs a finite set of values, but {self.describe()} is continuous; give it "
                f"choices (type: categorical) or a step"
            )
        count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        return [round(self.low + i * self.step, 12) for i in range(count)]

    def drawable_extremes(self) -> list[Any]:
        """The extremes this dimension can draw: ``extremes()`` (every choice, or low and high), with a stepped
        range's top lowered to its grid's top (Optuna draws 20-85 step 20 as 20, 40, 60 or 80)."""
        values = list(self.extremes())
        if self.type != "categorical" and self.step is not None:
            values = [values[0], self.grid_values()[-1]]
        return values

    def extremes(self) -> list[Any]:
        if self.type == "categorical":
            return list(self.choices)
        if self.type == "int":
            return [int(self.low), int(self.high)]
        return [self.low, self.high]
