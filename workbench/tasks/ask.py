from __future__ import annotations

from pydantic import BaseModel

from .base import Task


class Answer(BaseModel):
    answer: str


TASK = Task(
    name="ask",
    title="Ask anything",
    description="A free question about the image; the answer is free text.",
    prompt="{question}",
    schema=Answer,
    free_text=True,
    examples={"question": "Describe this image in one sentence."},
)
