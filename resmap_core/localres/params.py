"""Every choice of a local-resolution run (:class:`Params`), its checks and its JSON form."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from resmap_core.defaults import ESTIMATORS, FDR_MODES, number, text
from resmap_core.errors import InputError
from resmap_core.localres.basis import KERNELS

DEFAULT_KERNEL = text("kernel")
DEFAULT_ESTIMATOR = text("estimator")


@dataclass(frozen=True)
class Params:
    """Every choice of a local-resolution run. Lengths in Å.

    Each field is set by the option of ``resmap local`` / ``resmap prepare`` named in the
    messages of :meth:`check` (``min_res_A`` by ``--min-res``, ``fdr_mode`` by ``--fdr-mode``, …).
    """

    p_value: float = 0.05
    min_res_A: float | None = None
    max_res_A: float | None = None
    step_res_A: float = 1.0
    kernel: str = DEFAULT_KERNEL
    prewhiten: bool = True
    lowpass_check: bool = True
    fdr_mode: str = "per-wavelength"
    outside: float = 100.0
    estimator: str = DEFAULT_ESTIMATOR
    band_width: float = number("band_width")
    band_window: float = number("band_window")

    def check(self) -> None:
        """Refuse impossible values with an :class:`InputError`."""
        for name, value in (
            ("--min-res", self.min_res_A),
            ("--max-res", self.max_res_A),
            ("--step-res", self.step_res_A),
        ):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise InputError(f"{name} must be a finite length > 0 Å, got {value}.")
        if not 0.0 < self.p_value < 1.0:
            raise InputError(f"--p-value must lie in (0, 1), got {self.p_value}.")
        if not self.step_res_A > 0:
            raise InputError(f"--step-res must be > 0 Å, got {self.step_res_A}.")
        if self.kernel not in KERNELS:
            raise InputError(f"--kernel must be one of {', '.join(KERNELS)}, got {self.kernel!r}.")
        if self.estimator not in ESTIMATORS:
            raise InputError(f"--estimator must be one of {', '.join(ESTIMATORS)}.")
        for name, value, low, high in (
            ("--band-width", self.band_width, 0.05, 0.35),
            ("--band-window", self.band_window, 0.25, 1.5),
        ):
            if not low <= value <= high:
                raise InputError(f"{name} must lie in [{low}, {high}], got {value}.")
        if self.fdr_mode not in FDR_MODES:
            raise InputError(f"--fdr-mode must be one of {', '.join(FDR_MODES)}.")
        if (
            self.min_res_A is not None
            and self.max_res_A is not None
            and self.max_res_A < self.min_res_A
        ):
            raise InputError(
                f"--max-res ({self.max_res_A} Å) is below --min-res ({self.min_res_A} Å)."
            )

    def record(self) -> dict:
        """JSON form (NaN outside value written as the string 'nan')."""
        rec = asdict(self)
        if math.isnan(self.outside):
            rec["outside"] = "nan"
        return rec

    def estimator_record(self) -> dict:
        """Which estimator ran and its constants (LOCAL.json's ``estimator``)."""
        if self.estimator == "band":
            return {"name": "band", "band_width": self.band_width, "band_window": self.band_window}
        return {"name": self.estimator, "kernel": self.kernel}

    @classmethod
    def from_record(cls, rec: dict) -> Params:
        """Inverse of :meth:`record`."""
        values = dict(rec)
        values["outside"] = float(values["outside"])
        return cls(**values)
