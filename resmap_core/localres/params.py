"""Every choice of a local-resolution run (:class:`Params`), its checks and its JSON form."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from resmap_core.defaults import FDR_MODES, text
from resmap_core.errors import InputError
from resmap_core.localres.basis import KERNELS

DEFAULT_KERNEL = text("kernel")


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

    @classmethod
    def from_record(cls, rec: dict) -> Params:
        """Inverse of :meth:`record`."""
        values = dict(rec)
        values["outside"] = float(values["outside"])
        return cls(**values)
