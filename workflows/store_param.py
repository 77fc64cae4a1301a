"""The click parameter type of a result store's place: a local path, or an object-storage URL.

    @click.option("--out", type=STORE)      # "out.zarr" -> Path("out.zarr"); "s3://b/p/x.zarr" -> an ObjectLocation

A local path stays a ``pathlib.Path`` (the commands' file handling is unchanged); a URL (``s3://``, ``gs://``,
``az://``, and the other schemes obstore knows) becomes a ``synsweep.sweeps.location.ObjectLocation``, checked
here (obstore installed, a URL it understands) so a wrong one is refused before anything runs. Both have
``exists()``, ``name`` and ``str()``; the store functions take either. Credentials are never part of the value:
they come from the environment (``synsweep.sweeps.location``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


class StoreLocation(click.ParamType):
    name = "store"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        from synsweep.sweeps.location import LocationError, is_url, location

        if not value.strip():
            self.fail("is empty (an unset shell variable?); give the store's path, e.g. result.zarr", param, ctx)
        if not is_url(value) or value.startswith("file://"):
            return Path(value.removeprefix("file://"))
        loc = location(value)
        try:
            loc.store  # noqa: B018  (builds the obstore store: the scheme and the extra are checked now)
        except LocationError as exc:
            self.fail(str(exc), param, ctx)
        return loc


STORE = StoreLocation()
