"""The claim registry: every numbered result of the sources, with checks that can fail.

A *claim* is one statement of a source (a theorem, lemma, corollary, assumption, ...) under a
stable id such as ``cheng.lemma1``. It carries the sources that state it, numbered as each seed
prints it ("000 Lemma 1; 001 Lemma 1"), its statement in LaTeX, an optional erratum, and one or
more *checks*.

A check is a property test ``fn(candidate)`` that raises :class:`CheckFailed` (an
``AssertionError``) when the candidate does not have the property. It is registered with two
candidates pushed through the *same* function (STYLE §13-§14):

* ``subject``: the formula or object under test;
* ``control``: a deliberately wrong variant (flipped sign, dropped term, wrong exponent, an
  attack that returns zero). The control must fail, or the check does not count.

A check with ``refutes=True`` is a refutation of a printed form: its subject is the formula as
the source prints it, and it *passes* when the property test finds a counterexample. Its control
is the corrected form, which the same property test must not refute. An experiment check that
refutes a *reported trend* in the book's small-scale run, where the source's own scale may
behave otherwise, also says ``reproduction=True``: the claim is then "not reproduced", a finding
about the run, not an erratum of the source.

Claim status is computed by :mod:`advproof.ledger`, never typed.

Claims are declared per source in a :class:`ClaimSet` (one per module of
:mod:`advproof.symbolic`); :func:`load_registry` assembles a fresh :class:`Registry` from them,
so a throw-away registry (a test's, with a deliberately wrong claim) never leaks into the real one.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

CheckKind = Literal["symbolic", "numeric", "experiment", "artifact", "step"]
CHECK_KINDS: tuple[str, ...] = ("symbolic", "numeric", "experiment", "artifact", "step")
StatementKind = Literal[
    "theorem", "lemma", "corollary", "proposition", "definition", "assumption", "algorithm",
    "conjecture", "remark",
]
STATEMENT_KINDS: tuple[str, ...] = (
    "theorem", "lemma", "corollary", "proposition", "definition", "assumption", "algorithm",
    "conjecture", "remark",
)
# <source>.<kind><number>[.step<k>]: lower case, dots of the printed number written as "_".
CLAIM_ID = re.compile(r"^[a-z][a-z0-9]*\.[a-z][a-z0-9_]*$")

#: The claim sets that make up the book, one module per source.
CLAIM_MODULES: tuple[str, ...] = ("advproof.symbolic.cheng", "advproof.symbolic.cheng_dynamics",
                                  "advproof.symbolic.lyu_zhu",
                                  "advproof.symbolic.lyu_zhu_chain",
                                  "advproof.symbolic.lyu_zhu_appendix", "advproof.symbolic.liu",
                                  "advproof.symbolic.liu_capacity",
                                  "advproof.symbolic.liu_connectivity",
                                  "advproof.symbolic.cheng_training",
                                  "advproof.symbolic.cheng_practice",
                                  "advproof.symbolic.cheng_influence",
                                  "advproof.symbolic.thesis_basics",
                                  "advproof.symbolic.thesis_overfit",
                                  "advproof.symbolic.thesis_difficulty",
                                  "advproof.symbolic.thesis_reweight",
                                  "advproof.symbolic.thesis_co",
                                  "advproof.symbolic.thesis_curves",
                                  "advproof.symbolic.thesis_subsets",
                                  "advproof.symbolic.thesis_verify",
                                  "advproof.symbolic.thesis_efficient",
                                  "advproof.symbolic.thesis_subnet",
                                  "advproof.symbolic.thesis_tables",
                                  "advproof.symbolic.thesis_tables4",
                                  "advproof.symbolic.thesis_tables5")


class CheckFailed(AssertionError):
    """Raised by a property test when its candidate does not have the property."""


class RegistryError(ValueError):
    """A malformed claim or check (bad id, missing control, duplicate, erratum without evidence)."""


@dataclass(frozen=True)
class Erratum:
    """What a source prints, why it is wrong, and the form the book checks instead.

    ``printed`` and ``corrected`` are LaTeX; ``problem`` is one short paragraph that names the
    counterexample. The evidence is the claim's ``refutes=True`` check, run by the ledger.
    """

    printed: str
    problem: str
    corrected: str


@dataclass(frozen=True)
class Check:
    """One property test of a claim, with its negative control.

    ``tolerance`` is the stated tolerance of a numeric check (``None`` for exact checks);
    ``control_label`` says in words what is wrong with the control.
    """

    claim_id: str
    name: str
    kind: str
    fn: Callable[[Any], Any]
    subject: Any
    control: Any
    control_label: str
    refutes: bool = False
    tolerance: float | None = None
    doc: str = ""
    title: str = ""
    uses: tuple[str, ...] = ()
    reproduction: bool = False

    @property
    def step_key(self) -> str | None:
        """``<claim>.step<k>`` for a proof step (its glue key in the book), else ``None``."""
        if self.kind != "step":
            return None
        return f"{self.claim_id}.{self.name.split('_', 1)[0]}"


def _slug(title: str, limit: int = 32) -> str:
    """The first words of ``title`` as ``snake_case``, at most ``limit`` characters."""
    words, out = re.findall(r"[a-z0-9]+", title.lower()), ""
    for word in words:
        if out and len(out) + 1 + len(word) > limit:
            break
        out = f"{out}_{word}" if out else word[:limit]
    return out


@dataclass
class Claim:
    """A statement of a source with its checks. See the module docstring."""

    id: str
    title: str
    sources: tuple[str, ...]
    statement: str
    kind: str = "theorem"
    erratum: Erratum | None = None
    uses: tuple[str, ...] = ()
    checks: list[Check] = field(default_factory=list)

    def check(
        self,
        *,
        kind: CheckKind,
        subject: Any,
        control: Any,
        control_label: str,
        refutes: bool = False,
        tolerance: float | None = None,
        name: str | None = None,
        title: str = "",
        uses: Sequence[str] = (),
        reproduction: bool = False,
    ) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
        """Register the decorated property test ``fn(candidate)`` as a check of this claim
        (``reproduction``: see the module docstring)."""
        if kind not in CHECK_KINDS:
            raise RegistryError(f"{self.id}: check kind {kind!r} is not one of {CHECK_KINDS}")
        if control is None or not control_label:
            raise RegistryError(f"{self.id}: every check needs a control and a control_label")
        if reproduction and not (refutes and kind == "experiment"):
            raise RegistryError(f"{self.id}: reproduction=True marks an experiment check with "
                                "refutes=True (a reported trend the run does not show)")

        def register(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
            check_name = name or fn.__name__
            if any(c.name == check_name for c in self.checks):
                raise RegistryError(f"{self.id}: duplicate check name {check_name!r}")
            doc = (fn.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
            self.checks.append(Check(
                claim_id=self.id, name=check_name, kind=kind, fn=fn, subject=subject,
                control=control, control_label=control_label, refutes=refutes,
                tolerance=tolerance, doc=doc, title=title or doc, uses=tuple(uses),
                reproduction=reproduction,
            ))
            return fn

        return register

    def step(
        self,
        number: int | str,
        title: str,
        *,
        subject: Any,
        control: Any,
        control_label: str,
        refutes: bool = False,
        numeric: bool = False,
        tolerance: float | None = None,
        uses: Sequence[str] = (),
    ) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
        """Register a proof step: a check of kind ``step`` named ``step<number>_<slug>``.

        ``number`` is the step's place in the proof (``2`` or ``"2a"``); a printed step that is
        wrong is registered with ``refutes=True`` (its subject the printed form, its control the
        repaired one). A step sympy cannot do is a numeric property test on random instances:
        pass ``numeric=True`` and the name says so (``step3_numeric_...``).
        """
        if not re.fullmatch(r"\d+[a-z]?", str(number)):
            raise RegistryError(f"{self.id}: step number {number!r} must look like 2 or 2a")
        slug = ("numeric_" if numeric else "") + _slug(title)
        return self.check(kind="step", subject=subject, control=control,
                          control_label=control_label, refutes=refutes, tolerance=tolerance,
                          name=f"step{number}_{slug}", title=title, uses=uses)

    @property
    def steps(self) -> list[Check]:
        """The proof steps, in registration order."""
        return [c for c in self.checks if c.kind == "step"]

    def all_uses(self) -> tuple[str, ...]:
        """What the statement and its proof steps use, without repeats, in order."""
        seen = dict.fromkeys(self.uses)
        for check in self.checks:
            seen.update(dict.fromkeys(check.uses))
        return tuple(seen)


class ClaimSet:
    """The claims of one source, declared at module level in ``advproof.symbolic.<source>``."""

    def __init__(self, prefix: str) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9]*", prefix):
            raise RegistryError(f"claim-set prefix {prefix!r} must be lower-case letters/digits")
        self.prefix = prefix
        self._claims: dict[str, Claim] = {}

    def claim(
        self,
        claim_id: str,
        *,
        title: str,
        sources: Sequence[str],
        statement: str,
        kind: StatementKind = "theorem",
        erratum: Erratum | None = None,
        uses: Sequence[str] = (),
    ) -> Claim:
        """Declare a claim; returns it so checks can be attached with ``@claim.check(...)``."""
        if not CLAIM_ID.match(claim_id) or not claim_id.startswith(self.prefix + "."):
            raise RegistryError(
                f"claim id {claim_id!r} must look like '{self.prefix}.lemma1' "
                "(lower case, the printed number with '_' for dots)"
            )
        if claim_id in self._claims:
            raise RegistryError(f"duplicate claim id {claim_id!r}")
        if kind not in STATEMENT_KINDS:
            raise RegistryError(f"{claim_id}: statement kind {kind!r} not in {STATEMENT_KINDS}")
        if not sources:
            raise RegistryError(f"{claim_id}: a claim needs at least one source reference")
        claim = Claim(claim_id, title, tuple(sources), statement.strip(), kind, erratum,
                      tuple(uses))
        self._claims[claim_id] = claim
        return claim

    def __iter__(self) -> Iterator[Claim]:
        return iter(self._claims.values())


class Registry:
    """All claims of the book, assembled from claim sets; validated on assembly."""

    def __init__(self, claim_sets: Iterable[ClaimSet] = ()) -> None:
        self._claims: dict[str, Claim] = {}
        #: results kept by ``ledger.verify(..., cache=True)``: (claim id, kinds) -> ClaimResult
        self.results: dict[tuple, Any] = {}
        for claim_set in claim_sets:
            self.add(claim_set)

    def add(self, claim_set: ClaimSet) -> None:
        """Add every claim of ``claim_set``; raises on a duplicate id."""
        for claim in claim_set:
            if claim.id in self._claims:
                raise RegistryError(f"claim {claim.id!r} is declared twice")
            self._claims[claim.id] = claim

    def validate(self) -> None:
        """Raise :class:`RegistryError` for dangling ``uses`` or an erratum without evidence."""
        for claim in self:
            for dep in claim.all_uses():
                if dep not in self._claims:
                    raise RegistryError(f"{claim.id} uses unknown claim {dep!r}")
                if dep == claim.id:
                    raise RegistryError(f"{claim.id} uses itself")
            if claim.erratum is not None and not any(c.refutes for c in claim.checks):
                raise RegistryError(
                    f"{claim.id} has an erratum but no refutes=True check to evidence it"
                )
            if claim.erratum is None and any(c.refutes for c in claim.checks):
                raise RegistryError(f"{claim.id} refutes a printed form but states no erratum")

        cycle = self.find_cycle()
        if cycle:
            raise RegistryError("dependency cycle: " + " -> ".join(cycle))

    def edges(self) -> list[tuple[str, str]]:
        """Dependency edges ``(used, user)`` from statements and proof steps."""
        return [(dep, claim.id) for claim in self for dep in claim.all_uses()]

    def find_cycle(self) -> list[str]:
        """A dependency cycle as a list of ids (first id repeated at the end), or ``[]``."""
        state: dict[str, int] = {}  # 1 on the stack, 2 done

        def visit(node: str, path: list[str]) -> list[str]:
            state[node] = 1
            for dep in self._claims[node].all_uses() if node in self._claims else ():
                if state.get(dep) == 1:
                    return path[path.index(dep):] + [dep] if dep in path else [node, dep]
                if dep not in state:
                    found = visit(dep, path + [dep])
                    if found:
                        return found
            state[node] = 2
            return []

        for node in self._claims:
            if node not in state:
                found = visit(node, [node])
                if found:
                    return found
        return []

    def closure(self, claim_id: str) -> list[str]:
        """Every claim that ``claim_id`` rests on, transitively (without itself)."""
        out: dict[str, None] = {}
        stack = list(self.get(claim_id).all_uses())
        while stack:
            dep = stack.pop()
            if dep not in out:
                out[dep] = None
                stack.extend(self.get(dep).all_uses())
        return list(out)

    def ids(self) -> list[str]:
        """Claim ids in declaration order."""
        return list(self._claims)

    def get(self, claim_id: str) -> Claim:
        """The claim with this id; ``KeyError`` names the close matches."""
        try:
            return self._claims[claim_id]
        except KeyError:
            close = [i for i in self._claims if i.split(".")[0] == claim_id.split(".")[0]]
            raise KeyError(f"no claim {claim_id!r}; claims of that source: {close}") from None

    def select(self, only: str | None = None) -> list[Claim]:
        """Claims whose id matches the glob ``only`` (all when ``None``)."""
        return [c for c in self if only is None or fnmatch.fnmatchcase(c.id, only)]

    def __iter__(self) -> Iterator[Claim]:
        return iter(self._claims.values())

    def __len__(self) -> int:
        return len(self._claims)


def _import_file(path: Path) -> Any:
    """Import a Python file as a throw-away module (used for plugin claim sets)."""
    if not path.is_file():
        raise FileNotFoundError(f"claim plugin {path} does not exist")
    spec = importlib.util.spec_from_file_location(f"advproof_plugin_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise RegistryError(f"cannot import claim plugin {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_registry(
    modules: Sequence[str] = CLAIM_MODULES, plugins: Sequence[str | Path] = ()
) -> Registry:
    """A fresh registry of the book's claims, plus the ``CLAIMS`` of any plugin files.

    Plugins let a test (or a reader) register a throw-away claim, e.g. a deliberately broken
    formula, and see it fail in ``advproof verify`` and on the ledger page.
    """
    sets = [importlib.import_module(name).CLAIMS for name in modules]
    for plugin in plugins:
        module = _import_file(Path(plugin))
        if not isinstance(getattr(module, "CLAIMS", None), ClaimSet):
            raise RegistryError(f"claim plugin {plugin} defines no CLAIMS = ClaimSet(...)")
        sets.append(module.CLAIMS)
    registry = Registry(sets)
    registry.validate()
    return registry
