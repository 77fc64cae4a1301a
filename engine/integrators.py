"""Explicit Runge-Kutta methods as data: a Butcher tableau (c, A, b) and its order.

One stepping routine (``synsweep.engine.kernel.emit``) turns any tableau into the stage loop of a kernel:

    k_j = f(t + c_j dt, y + dt sum_{l<j} a_jl k_l),    y_{n+1} = y_n + dt sum_j b_j k_j
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction as Fr


@dataclass(frozen=True)
class Tableau:
    name: str
    order: int
    c: tuple[Fr, ...]
    a: tuple[tuple[Fr, ...], ...]  # a[j] has j entries: a_j0 .. a_j(j-1)
    b: tuple[Fr, ...]
    description: str

    @property
    def stages(self) -> int:
        return len(self.b)

    def check(self) -> None:
        """Consistency conditions: sum_l a_jl = c_j, sum_j b_j = 1."""
        assert len(self.a) == len(self.c) == len(self.b)
        for j, row in enumerate(self.a):
            assert len(row) == j and sum(row, Fr(0)) == self.c[j], (self.name, j)
        assert sum(self.b, Fr(0)) == 1, self.name


EULER = Tableau("euler", 1, (Fr(0),), ((),), (Fr(1),), "forward Euler, 1st order")

RK4 = Tableau(
    "rk4", 4,
    (Fr(0), Fr(1, 2), Fr(1, 2), Fr(1)),
    ((), (Fr(1, 2),), (Fr(0), Fr(1, 2)), (Fr(0), Fr(0), Fr(1))),
    (Fr(1, 6), Fr(1, 3), Fr(1, 3), Fr(1, 6)),
    "classic Runge-Kutta, 4th order",
)

RK6 = Tableau(
    "rk6", 5,
    (Fr(0), Fr(1, 5), Fr(3, 10), Fr(3, 5), Fr(9, 10), Fr(1)),
    (
        (),
        (Fr(1, 5),),
        (Fr(3, 40), Fr(9, 40)),
        (Fr(3, 10), Fr(-9, 10), Fr(6, 5)),
        (Fr(3, 40), Fr(27, 40), Fr(-3, 5), Fr(3, 4)),
        (Fr(107, 162), Fr(5, 2), Fr(-140, 27), Fr(35, 9), Fr(-70, 81)),
    ),
    (Fr(8, 81), Fr(0), Fr(25, 63), Fr(25, 108), Fr(25, 81), Fr(-1, 28)),
    "Neun's 'RungeKutta6': 6 stages, 5th order (the name counts stages, not order)",
)

INTEGRATORS: dict[str, Tableau] = {t.name: t for t in (EULER, RK4, RK6)}
for _t in INTEGRATORS.values():
    _t.check()
