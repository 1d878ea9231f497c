"""What a program runs against: the images by role, the engines, the matcher, and its answer."""

from __future__ import annotations

from dataclasses import dataclass, field

from voxelprompt.concepts import ConceptMatcher, default_matcher
from voxelprompt.engines import Engine, Router, available_engines
from voxelprompt.errors import VoxelPromptError
from voxelprompt.program.values import Answer, Image, Region
from voxelprompt.volume import Volume

ROLE_ALIASES = {"t1w": "t1", "mprage": "t1", "t2w": "t2", "ct": "ct", "baseline": "visit1", "followup": "visit2",
                "follow-up": "visit2", "before": "visit1", "after": "visit2", "first": "visit1", "second": "visit2"}


@dataclass
class ProgramContext:
    """Images (in the order given, the first is the default), engines, and what the program produced.

    Attributes:
        images: Role -> image.
        engines: Engines to route concepts to, best first (a ``labels`` engine first when the user
            gave a label map).
        regions: Every region a step produced, in order.
        answer: What ``answer()`` recorded.
    """

    images: dict[str, Image]
    engines: list[Engine] = field(default_factory=available_engines)
    matcher: ConceptMatcher = field(default_factory=default_matcher)
    regions: list[Region] = field(default_factory=list)
    answer: Answer | None = None

    @property
    def router(self) -> Router:
        return Router(self.engines)

    def image(self, role: str | None = None) -> Image:
        if not self.images:
            raise VoxelPromptError("no image was given", "pass at least one image")
        if role is None:
            return next(iter(self.images.values()))
        key = role.lower().strip()
        key = ROLE_ALIASES.get(key, key)
        if key in self.images:
            return self.images[key]
        raise VoxelPromptError(f"no image has the role '{role}'",
                               f"the roles given are: {', '.join(self.images)}")


def assign_roles(paths_and_volumes: list[tuple[str | None, Volume]]) -> dict[str, Image]:
    """Roles for images given as ``[ROLE=]PATH``: explicit roles kept, others named image1, image2 ..."""
    images: dict[str, Image] = {}
    for k, (role, volume) in enumerate(paths_and_volumes, start=1):
        name = (role or "").lower().strip() or f"image{k}"
        name = ROLE_ALIASES.get(name, name)
        if name in images:
            raise VoxelPromptError(f"the role '{name}' is given twice", "give each image its own role")
        images[name] = Image(name, volume)
    return images
