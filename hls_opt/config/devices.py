"""FPGA parts and their resources: the typed :class:`Device`, the table, :func:`parse_device`.

Counts are per device, in :class:`~hls_opt.cost.vector.ResourceVector`'s units: ``dsp`` DSP slices
(AMD DSP48E1/E2; Intel variable-precision DSP blocks), ``bram`` 18 Kb block RAMs (AMD: twice the
36 Kb RAMB36 count the tables give; Intel: 20 Kb M20K blocks), ``ff`` flip-flops (Intel: ALM
registers), ``lut`` LUTs (AMD: CLB LUTs; Intel: ALMs).  Sources, per family, in the comments.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hls_opt.errors import ConfigError


@dataclass(frozen=True)
class Device:
    """One FPGA part: its base name (``xcvu9p``), vendor and resource counts."""

    name: str
    vendor: str
    family: str
    dsp: int
    bram: int
    ff: int
    lut: int

    def available(self) -> dict[str, int]:
        """``{field: count}`` for the ResourceVector fields the device has a count for."""
        return {"dsp": self.dsp, "bram": self.bram, "ff": self.ff, "lut": self.lut}


DEVICES: dict[str, Device] = {
    d.name: d
    for d in (
        # AMD Virtex UltraScale+ product table (DS890 "UltraScale Architecture and Product Data Sheet:
        # Overview", Table: Virtex UltraScale+ FPGA Feature Summary): VU9P 6,840 DSP, 2,160 RAMB36,
        # 1,182,240 CLB LUTs, 2,364,480 CLB flip-flops; VU13P 12,288 DSP, 2,688 RAMB36, 1,728,000
        # LUTs, 3,456,000 FFs.  xcvu13p is hls4ml's default Vivado/Vitis part (vivado_backend.py).
        Device("xcvu9p", "AMD", "Virtex UltraScale+", dsp=6840, bram=2 * 2160, ff=2364480, lut=1182240),
        Device("xcvu13p", "AMD", "Virtex UltraScale+", dsp=12288, bram=2 * 2688, ff=3456000, lut=1728000),
        # DS890, Kintex UltraScale FPGA Feature Summary: KU115 5,520 DSP, 2,160 RAMB36, 663,360 LUTs,
        # 1,326,720 FFs (hls4ml's Catapult default part, catapult_backend.py).
        Device("xcku115", "AMD", "Kintex UltraScale", dsp=5520, bram=2 * 2160, ff=1326720, lut=663360),
        # DS891 "Zynq UltraScale+ MPSoC Data Sheet: Overview", ZU9EG: 2,520 DSP, 912 RAMB36,
        # 274,080 LUTs, 548,160 FFs.
        Device("xczu9eg", "AMD", "Zynq UltraScale+", dsp=2520, bram=2 * 912, ff=548160, lut=274080),
        # DS190 "Zynq-7000 SoC Data Sheet: Overview", Z-7020: 220 DSP48E1, 140 RAMB36, 53,200 LUTs,
        # 106,400 FFs.
        Device("xc7z020", "AMD", "Zynq-7000", dsp=220, bram=2 * 140, ff=106400, lut=53200),
        # Intel Stratix 10 GX/SX product table ("Intel Stratix 10 GX/SX Device Overview", GX 2800):
        # 933,120 ALMs, 3,732,480 ALM registers, 11,721 M20K, 5,760 variable-precision DSP blocks.
        Device("1sg280", "Intel", "Stratix 10 GX", dsp=5760, bram=11721, ff=3732480, lut=933120),
        # Intel Agilex 7 F-Series product table ("Agilex 7 FPGAs and SoCs Device Overview", AGF 014):
        # 487,200 ALMs, 1,948,800 ALM registers, 7,110 M20K, 4,510 DSP blocks (AGFA014/AGFB014 differ in
        # transceivers only).
        Device("agfa014", "Intel", "Agilex 7 F-Series", dsp=4510, bram=7110, ff=1948800, lut=487200),
        Device("agfb014", "Intel", "Agilex 7 F-Series", dsp=4510, bram=7110, ff=1948800, lut=487200),
    )
}

#: Family names hls4ml uses as a default ``Part`` (oneapi_backend.py 'Agilex7', quartus_backend.py
#: 'Arria10'): they do not fix a resource count, so they name no device.
FAMILIES = {"agilex7": "agfb014", "agilex": "agfb014", "stratix10": "1sg280", "arria10": None}


def _normalise(name: str) -> str:
    return re.sub(r"\s+", "", name).lower()


def parse_device(name: str | Device, *, key: str = "--device") -> Device:
    """The :class:`Device` a part name means: hls4ml's ``Part`` spelling (``xcvu9p-flga2104-2L-e``,
    ``xc7z020clg400-1``, ``AGFB014R24A2E2V``, ``1SG280LU2F50E2VG``) or the base name (``xcvu9p``),
    any letter case.  The longest base name the part starts with wins.  Unknown parts and family
    names raise ConfigError naming ``key`` and the closest known part."""
    if isinstance(name, Device):
        return name
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{key}: expected a part name, got {name!r}")
    text = _normalise(name)
    base = text.split("-")[0]
    matches = [k for k in DEVICES if base.startswith(k)]
    if matches:
        return DEVICES[max(matches, key=len)]
    if base in FAMILIES:
        hint = FAMILIES[base]
        example = f"; e.g. {hint}" if hint else ""
        raise ConfigError(
            f"{key}: '{name}' names a device family, not a part; its resources depend on the part "
            f"(known: {', '.join(DEVICES)}{example})"
        )
    closest = difflib.get_close_matches(base, list(DEVICES), n=1, cutoff=0.0)
    raise ConfigError(
        f"{key}: unknown part '{name}' (closest known: {closest[0]}; known: {', '.join(DEVICES)})"
    )


def device_from_config(config: Any) -> Device | None:
    """The device an hls4ml config's ``Part`` names, or None when it has none or an unknown one
    (hls4ml fills ``Part`` with a default; an unknown part there is not the user's error)."""
    if not isinstance(config, Mapping) or not config.get("Part"):
        return None
    try:
        return parse_device(str(config["Part"]), key="Part")
    except ConfigError:
        return None


def device_fraction(used: Mapping[str, Any], device: Device) -> dict[str, dict[str, float | int]]:
    """Per field the device has: ``{"used", "available", "fraction"}`` (``used / available``)."""
    out: dict[str, dict[str, float | int]] = {}
    for field, available in device.available().items():
        amount = int(used.get(field, 0) or 0)
        out[field] = {"used": amount, "available": available, "fraction": amount / available}
    return out


__all__ = ["DEVICES", "Device", "device_fraction", "device_from_config", "parse_device"]
