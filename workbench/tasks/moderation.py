from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .base import Task

# OpenAI omni-moderation's image categories, plus the ones image moderators are asked about most.
CATEGORIES = ("sexual", "sexual/minors", "violence", "violence/graphic", "self-harm", "hate_symbols", "weapons",
              "drugs")
# What each category means, for score mode's one yes/no question per category.
SHOWS = {"sexual": "sexual content or nudity", "sexual/minors": "sexual content involving minors",
         "violence": "violence", "violence/graphic": "graphic violence or gore", "self-harm": "self-harm",
         "hate_symbols": "hate symbols", "weapons": "weapons", "drugs": "drugs or drug use"}


class ModerationCategories(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    sexual: bool = False
    sexual_minors: bool = Field(False, alias="sexual/minors")
    violence: bool = False
    violence_graphic: bool = Field(False, alias="violence/graphic")
    self_harm: bool = Field(False, alias="self-harm")
    hate_symbols: bool = False
    weapons: bool = False
    drugs: bool = False


class Moderation(BaseModel):
    flagged: bool
    categories: ModerationCategories = Field(default_factory=ModerationCategories)
    reason: str = ""
    unsure: bool = False  # escape hatch: the model cannot tell from this image


def _normalize(data: dict) -> dict:
    cats = data.get("categories")
    if isinstance(cats, list):  # ["violence", "weapons"] instead of an object
        data["categories"] = {str(c).strip().lower().replace(" ", "_"): True for c in cats}
    elif isinstance(cats, dict):
        data["categories"] = {str(k).strip().lower().replace(" ", "_"): v for k, v in cats.items()}
    return data


def _check(out: Moderation) -> str | None:
    on = [name for name, value in out.categories.model_dump(by_alias=True).items() if value]
    if on and not out.flagged:
        return f"categories {', '.join(on)} are true but flagged is false"
    return None


def _reads(out: dict) -> str:
    cats = [k for k, v in (out.get("categories") or {}).items() if v]
    return ("flagged: " + ", ".join(cats)) if out.get("flagged") else "not flagged"


TASK = Task(
    name="moderation",
    title="Content moderation",
    description="Is the image safe to publish? Flags it and names the policy categories it breaks.",
    prompt=(
        "You are an image content moderator. Decide whether this image breaks any of these policy categories: "
        + ", ".join(CATEGORIES) + ".\n"
        "Answer with JSON only, no other text:\n"
        '{"flagged": true or false, "categories": {"sexual": false, "sexual/minors": false, "violence": false, '
        '"violence/graphic": false, "self-harm": false, "hate_symbols": false, "weapons": false, "drugs": false}, '
        '"reason": "one short sentence", "unsure": false}\n'
        "Set flagged to true if any category is true. Set unsure to true if you cannot tell."
    ),
    schema=Moderation,
    label_field="flagged",
    labels=("false", "true"),
    positive="true",
    verdict_format=_reads,
    normalize=_normalize,
    check=_check,
    decision={
        "flagged": {"type": "noul", "instructions": "You are an image content moderator. Does this image break any of "
                                                    "these policy categories: " + ", ".join(CATEGORIES) + "?"},
        **{f"categories.{c}": {"type": "noul", "instructions": f"Does this image show {SHOWS[c]}?"}
           for c in CATEGORIES},
    },
)
