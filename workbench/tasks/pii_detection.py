from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .base import Task

KINDS = ("name", "address", "email", "phone", "government_id", "payment_card", "date_of_birth", "face",
         "license_plate", "signature", "other")
PIIKind = Literal["name", "address", "email", "phone", "government_id", "payment_card", "date_of_birth", "face",
                  "license_plate", "signature", "other"]
_KIND_VARIANTS = {"phone_number": "phone", "telephone": "phone", "e-mail": "email", "email_address": "email",
                  "id": "government_id", "id_number": "government_id", "passport": "government_id",
                  "ssn": "government_id", "credit_card": "payment_card", "card_number": "payment_card",
                  "dob": "date_of_birth", "birth_date": "date_of_birth", "full_name": "name", "person": "face",
                  "plate": "license_plate", "home_address": "address"}


class PIIItem(BaseModel):
    kind: PIIKind
    evidence: str = Field("", description="what was seen, partly masked, e.g. 'j***@example.com'")


class PIIDetection(BaseModel):
    contains_pii: bool
    found: list[PIIItem] = Field(default_factory=list)
    unsure: bool = False


def _normalize(data: dict) -> dict:
    for item in data.get("found") or []:
        if isinstance(item, dict) and isinstance(item.get("kind"), str):
            kind = item["kind"].strip().lower().replace(" ", "_")
            kind = _KIND_VARIANTS.get(kind, kind)
            item["kind"] = kind if kind in KINDS else "other"
    return data


def _check(out: PIIDetection) -> str | None:
    if out.found and not out.contains_pii:
        return f"{len(out.found)} items found but contains_pii is false"
    return None


def _reads(out: dict) -> str:
    kinds = sorted({item.get("kind", "?") for item in out.get("found") or []})
    return ("PII: " + ", ".join(kinds)) if out.get("contains_pii") else "no PII found"


TASK = Task(
    name="pii_detection",
    title="PII detection",
    description="Finds personal data in photos and scans: names, addresses, IDs, cards, faces, plates…",
    prompt=(
        "Find personal data (PII) visible in this image. Kinds: " + ", ".join(KINDS) + ".\n"
        "Answer with JSON only, no other text:\n"
        '{"contains_pii": true or false, "found": [{"kind": "email", "evidence": "what you saw"}], "unsure": false}\n'
        "Use an empty list when there is none. Set unsure to true if the image is too unclear to tell."
    ),
    schema=PIIDetection,
    label_field="contains_pii",
    labels=("false", "true"),
    positive="true",
    verdict_format=_reads,
    normalize=_normalize,
    check=_check,
    decision={"contains_pii": {"type": "noul", "instructions": "Does this image show personal data (PII), such as: "
                                                               + ", ".join(KINDS) + "?"}},
)
